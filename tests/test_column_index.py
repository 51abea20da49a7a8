"""ColumnIndex answers a line with one start tag of the name without
indexing the line: the answer must be the one the full index gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from acm.source import ColumnIndex

PIECES = [
    "<Name>",
    "</Name>",
    "<x:Name>",
    "<NameX>",
    "<Name/>",
    "<Name ",
    "vm1",
    " ",
    "\t",
    "é",
    "<Type>",
]


class _FullIndex(ColumnIndex):
    def _only(self, line: int, tag: str) -> int:
        return 0


@given(
    st.lists(st.lists(st.sampled_from(PIECES), max_size=6), min_size=1, max_size=3),
    st.sampled_from(["Name", "Type", "NameX"]),
    st.one_of(st.none(), st.sampled_from(["", "vm1", "vm1<", "x"])),
    st.integers(0, 2),
)
def test_one_tag_on_a_line_gives_the_full_index_answer(
    lines: list[list[str]], tag: str, content: str | None, nth: int
) -> None:
    text = "\n".join("".join(line) for line in lines).encode()
    fast, full = ColumnIndex(text), _FullIndex(text)
    for number in range(1, len(lines) + 1):
        assert fast.column(number, tag, content, nth) == full.column(number, tag, content, nth)


def test_a_label_on_its_own_line() -> None:
    text = b"<a>\n  <VirtualMachineLabel><Name>vm1</Name></VirtualMachineLabel>\n"
    assert ColumnIndex(text).column(2, "Name", "vm1") == 24


@given(
    st.lists(st.lists(st.sampled_from(PIECES), max_size=6), min_size=1, max_size=4),
    st.sampled_from(["Name", "Type", "NameX"]),
    st.lists(st.integers(-1, 6), max_size=8),
)
def test_the_columns_of_many_lines_are_each_lines_own(
    lines: list[list[str]], tag: str, wanted: list[int]
) -> None:
    text = "\n".join("".join(line) for line in lines).encode()
    index = ColumnIndex(text)
    assert index.only_columns(wanted, tag) == [
        index._only(line, tag) if 0 < line <= len(index.offsets) else 0 for line in wanted
    ]
