"""`xm makepolicy` never leaves a partial or mixed `.map`/`.bin`: a failure
while writing (a full disk, a failed rename) or a compile error keeps the
old files byte for byte, with no temporary file left behind."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import acm.binfmt
import xm_core.files.atomic
from acm.errors import PolicyError
from tests.conftest import DATA, REPO
from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.host.policy import make_policy

NAME = "t.atomic"


@pytest.fixture
def compiled(tmp_path: Path) -> Iterator[tuple[HostPaths, Path, dict[str, bytes]]]:
    """A host with `t.atomic` compiled once (the old outputs), then its source
    changed so that a new compile would write different files."""
    paths = HostPaths(tmp_path)
    files = paths.policy_files(NAME)
    xml = Path(files.xml)
    xml.parent.mkdir(parents=True)
    shutil.copy(DATA / "compiler" / "valid.xml", xml)
    make_policy(paths, NAME)
    old = {files.map: Path(files.map).read_bytes(), files.bin: Path(files.bin).read_bytes()}
    old[str(files.set_names)] = files.set_names.read_bytes()  # the conflict sets' names
    xml.write_text(xml.read_text().replace("tests.valid", "tests.valid.changed"))
    yield paths, xml.parent, old


def _unchanged(folder: Path, old: dict[str, bytes]) -> None:
    for path, data in old.items():
        assert Path(path).read_bytes() == data, f"{path} changed"
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    # the writers' lock file stays (removing it would let two writers lock two
    # files), and so does the side file of the conflict sets' names
    assert set(leftovers) <= {".atomic.lock", ".atomic.sets"}, "a temporary file was left behind"


def _disk_full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_the_second_temporary_write_failing_changes_nothing(
    compiled: tuple[HostPaths, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, folder, old = compiled
    real = xm_core.files.atomic._write_temp
    calls = []

    def second_fails(*args: object, **kwargs: object) -> Path:
        calls.append(args)
        if len(calls) == 2:
            raise _disk_full()
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(xm_core.files.atomic, "_write_temp", second_fails)
    with pytest.raises(XmError, match=r"Cannot write '.*atomic\.map' and '.*atomic\.bin'"):
        make_policy(paths, NAME)
    assert len(calls) == 3  # the .map, the .bin and the conflict sets' names
    _unchanged(folder, old)


def test_a_full_disk_in_the_middle_of_the_bin_changes_nothing(
    compiled: tuple[HostPaths, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `.bin` is written chunk by chunk; the disk fills up after some of them."""
    paths, folder, old = compiled
    monkeypatch.setattr(acm.binfmt, "CHUNK_BYTES", 8)
    real = acm.binfmt._made
    made = []

    def fill_up(piece: acm.binfmt.Piece) -> bytes | bytearray:
        made.append(piece)
        if len(made) == 4:
            raise _disk_full()
        return real(piece)

    monkeypatch.setattr(acm.binfmt, "_made", fill_up)
    with pytest.raises(XmError, match=r"Cannot write '.*atomic\.map' and '.*atomic\.bin'"):
        make_policy(paths, NAME)
    assert len(made) == 4
    _unchanged(folder, old)


def test_the_first_rename_failing_changes_nothing(
    compiled: tuple[HostPaths, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, folder, old = compiled

    def refuse(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(XmError, match=r"Cannot write '.*atomic\.map' and '.*atomic\.bin'"):
        make_policy(paths, NAME)
    _unchanged(folder, old)


def test_the_second_rename_failing_changes_nothing(
    compiled: tuple[HostPaths, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, folder, old = compiled
    real = os.replace
    calls = []

    def second_fails(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(XmError, match=r"Cannot write '.*atomic\.map' and '.*atomic\.bin'"):
        make_policy(paths, NAME)
    _unchanged(folder, old)


def test_a_compile_error_leaves_the_outputs_untouched(
    compiled: tuple[HostPaths, Path, dict[str, bytes]],
) -> None:
    paths, folder, old = compiled
    shutil.copy(DATA / "compiler" / "several_defects.xml", folder / "atomic-security_policy.xml")
    stamps = {p: os.stat(p).st_mtime_ns for p in old}
    with pytest.raises(PolicyError):
        make_policy(paths, NAME)
    _unchanged(folder, old)
    assert {p: os.stat(p).st_mtime_ns for p in old} == stamps


def test_outputs_keep_their_mode(compiled: tuple[HostPaths, Path, dict[str, bytes]]) -> None:
    paths, folder, old = compiled
    for path in old:
        os.chmod(path, 0o640)
    make_policy(paths, NAME)
    assert {oct(os.stat(p).st_mode & 0o777) for p in old} == {"0o640"}


def _big_policy(labels: int) -> str:
    types = "".join(f"<Type>t{i}</Type>" for i in range(400))
    vms = "".join(
        f"<VirtualMachineLabel><Name>vm{i}</Name><SimpleTypeEnforcementTypes>"
        f"<Type>t{i % 400}</Type></SimpleTypeEnforcementTypes></VirtualMachineLabel>"
        for i in range(labels)
    )
    return (
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        "<PolicyHeader><PolicyName>big</PolicyName></PolicyHeader>"
        f"<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>{types}"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>"
        f'<SecurityLabelTemplate><SubjectLabels bootstrap="vm0">{vms}</SubjectLabels>'
        "</SecurityLabelTemplate></SecurityPolicyDefinition>"
    )


def _compile_at(root: Path, text: str) -> dict[str, bytes]:
    paths = HostPaths(root)
    files = paths.policy_files(NAME)
    Path(files.xml).parent.mkdir(parents=True, exist_ok=True)
    Path(files.xml).write_text(text)
    make_policy(paths, NAME)
    return {"map": Path(files.map).read_bytes(), "bin": Path(files.bin).read_bytes()}


@pytest.mark.slow
def test_a_kill_while_writing_leaves_each_file_whole(tmp_path: Path) -> None:
    """SIGKILL while the temporary files of a ~16 MB compile are being written
    (and once before): each output is always the whole old or the whole new file."""
    old_text = _big_policy(20000)
    new_text = old_text.replace(
        "<Name>vm1</Name><SimpleTypeEnforcementTypes><Type>t1<",
        "<Name>vm1_new</Name><SimpleTypeEnforcementTypes><Type>t2<",
    )
    root = tmp_path / "host"
    new = _compile_at(root, new_text)
    old = _compile_at(root, old_text)
    assert old != new
    files = HostPaths(root).policy_files(NAME)
    folder = Path(files.xml).parent
    Path(files.xml).write_text(new_text)
    code = (
        "from pathlib import Path\n"
        "from xm_core.files.paths import HostPaths\nfrom xm_core.host.policy import make_policy\n"
        f"make_policy(HostPaths(Path({str(root)!r})), {NAME!r})\n"
    )
    killed_while_writing = 0
    for extra in (None, 0.0, 0.002, 0.005, 0.01, 0.02):
        for kind, path in (("map", files.map), ("bin", files.bin)):
            Path(path).write_bytes(old[kind])
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
        if extra is None:
            time.sleep(0.01)  # before anything is written
        else:
            deadline = time.monotonic() + 60
            while proc.poll() is None and not list(folder.glob(".*.tmp")):
                assert time.monotonic() < deadline
                time.sleep(0.0005)
            time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        killed_while_writing += proc.wait() == -signal.SIGKILL and extra is not None
        for kind, path in (("map", files.map), ("bin", files.bin)):
            assert Path(path).read_bytes() in (old[kind], new[kind]), f"{path} is partial"
        # what reads the pair sees it whole: both old or both new
        HostPaths(root).policy_files(NAME).settled()
        pair = (Path(files.map).read_bytes(), Path(files.bin).read_bytes())
        assert pair in ((old["map"], old["bin"]), (new["map"], new["bin"]))
        for leftover in folder.glob(".*.tmp"):  # a kill cannot clean up; no harm done
            leftover.unlink()
    assert killed_while_writing >= 3


def test_a_kill_between_the_two_renames_is_finished_by_the_next_reader(
    compiled: tuple[HostPaths, Path, dict[str, bytes]],
) -> None:
    """The process dies right after the `.map` is renamed into place and
    before the `.bin` is: the journal lets the next reader finish the batch,
    so nobody sees the new `.map` beside the old `.bin`."""
    paths, folder, old = compiled
    files = paths.policy_files(NAME)
    code = (
        "import os\nfrom pathlib import Path\n"
        "from xm_core.files.paths import HostPaths\nfrom xm_core.host.policy import make_policy\n"
        "real = os.replace\n"
        "def dying(src, dst):\n"
        "    if str(dst).endswith('.bin'):\n"
        "        os._exit(9)  # a kill: no clean-up, no rollback\n"
        "    real(src, dst)\n"
        "os.replace = dying\n"
        f"make_policy(HostPaths(Path({str(paths.root)!r})), {NAME!r})\n"
    )
    died = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True)
    assert died.returncode == 9, died.stderr
    new_map = Path(files.map).read_bytes()
    assert new_map != old[files.map]  # the .map is new ...
    assert Path(files.bin).read_bytes() == old[files.bin]  # ... the .bin still old
    assert (folder / ".atomic.map.pending").exists()

    loaded = subprocess.run(
        [sys.executable, "-m", "xm_core", "--root", str(paths.root), "loadpolicy", NAME],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    # a reader of the pair finished the batch first: the pair it read belongs together
    assert "does not belong" not in loaded.stderr and "Traceback" not in loaded.stderr
    assert not (folder / ".atomic.map.pending").exists()
    finished = {p: Path(p).read_bytes() for p in (files.map, files.bin)}
    assert finished[files.map] == new_map
    make_policy(paths, NAME)  # a clean compile of the same source writes the same pair
    assert {p: Path(p).read_bytes() for p in (files.map, files.bin)} == finished
    leftovers = sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
    assert leftovers == [".atomic.sets"]  # the lock file goes with its last holder


def test_writeback_is_started_once_per_range_of_a_large_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a large file is written, writeback is started for the bytes
    written since the last start only, in page-aligned ranges that follow
    one another: asking for the whole file each time made the kernel walk
    every page written so far again (quadratic in the `.bin`'s size)."""
    if not hasattr(os, "posix_fadvise"):
        pytest.skip("no posix_fadvise on this system")
    calls: list[tuple[int, int]] = []
    real = os.posix_fadvise

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    chunk = bytes(range(256)) * 4093  # not a multiple of a page
    chunks = [chunk] * 40  # about 42 MB
    target = tmp_path / "large.bin"
    xm_core.files.atomic.atomic_write(target, chunks)
    assert target.read_bytes() == b"".join(chunks)
    assert len(calls) >= 4
    end = 0
    for offset, length in calls:
        assert offset == end and length > 0
        assert (offset + length) % xm_core.files.atomic.WRITEBACK_ALIGN == 0
        end = offset + length
    assert end <= len(chunk) * len(chunks)
