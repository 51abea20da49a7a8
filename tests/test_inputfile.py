"""The bounded reader (acm.inputfile) and the error-position index
(acm.source.ColumnIndex) that keep work on hostile input bounded."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acm.inputfile import InputFileError, read_input
from acm.source import ColumnIndex, line_offsets


def test_reads_up_to_the_limit_and_refuses_one_byte_more(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    assert read_input(path, 1000) == b"x" * 1000
    with pytest.raises(InputFileError, match="larger than the limit of 999 bytes"):
        read_input(path, 999)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc here")
def test_a_file_longer_than_its_size_says_is_still_bounded() -> None:
    """A regular file can hold more than fstat says (here /proc, whose files
    say 0 bytes; a file that grows after the check): the reader goes on in
    chunks, and still stops one byte past the limit."""
    status = Path("/proc/self/status")
    assert os.stat(status).st_size == 0
    text = read_input(status, 1 << 20)
    assert text.startswith(b"Name:") and text.endswith(b"\n") and len(text) > 100
    with pytest.raises(InputFileError, match="larger than the limit of 50 bytes"):
        read_input(status, 50)


def test_missing_and_unreadable_kinds_are_told_apart(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as missing:
        read_input(tmp_path / "nope", 10)
    assert missing.value.missing and missing.value.reason == "does not exist"
    with pytest.raises(InputFileError, match=r"not a regular file \(a folder\)") as folder:
        read_input(tmp_path, 10)
    assert not folder.value.missing
    os.mkfifo(tmp_path / "fifo")  # no writer: an ordinary open would block
    with pytest.raises(InputFileError, match=r"\(a FIFO\)"):
        read_input(tmp_path / "fifo", 10)
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(InputFileError, match=r"\(a character device\)"):
        read_input(tmp_path / "zero", 10)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        # a socket cannot even be opened (ENXIO): refused all the same
        with pytest.raises(InputFileError, match=r"cannot be read"):
            read_input(tmp_path / "sock", 10)


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_input(tmp_path / "link", 10) == b"data"


def _scan_column(
    text: bytes, offsets: list[int], line: int, tag: str, content: str | None, nth: int
) -> int:
    """The column lookup as it was before the index: a scan of the line per
    lookup (quadratic for many findings on one line). The oracle."""
    if line <= 0 or not tag or line > len(offsets):
        return 0
    start = offsets[line - 1]
    end = offsets[line] if line < len(offsets) else len(text)
    raw = text[start:end].decode("utf-8", "replace")
    pattern = re.compile(r"<(?:[\w.-]+:)?" + re.escape(tag) + r"[\s>/]")
    hits = []
    for m in pattern.finditer(raw):
        if content is not None:
            after = raw[m.end() :]
            if not after.startswith(content[:20]) and not content.startswith(
                after[:20].split("<")[0]
            ):
                continue
        hits.append(m.start())
    if not hits:
        first = pattern.search(raw)
        return first.start() + 1 if first else 1
    return hits[min(nth, len(hits) - 1)] + 1


_names = st.sampled_from(["a", "ab", "abc", "", "b", "a" * 25, "a" * 21 + "x", "é"])
_element = st.builds(
    lambda tag, name, close: f"<{tag}>{name}</{tag}>" if close else f"<{tag} />",
    st.sampled_from(["Type", "Name", "x:Type", "Types"]),
    _names,
    st.booleans(),
)


@given(
    st.lists(st.lists(_element, max_size=6).map("".join), min_size=1, max_size=4),
    st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from(["Type", "Name", "Types", ""]),
            st.none() | _names,
            st.integers(0, 6),
        ),
        max_size=12,
    ),
)
def test_the_index_gives_the_columns_the_scan_gave(
    lines: list[str], lookups: list[tuple[int, str, str | None, int]]
) -> None:
    text = "\n".join(lines).encode()
    offsets = line_offsets(text)
    index = ColumnIndex(text)
    for line, tag, content, nth in lookups:
        expected = _scan_column(text, offsets, line, tag, content, nth)
        assert index.column(line, tag, content, nth) == expected
