"""Atomic file writes: a temporary file in the same folder, written in full,
fsynced, given the mode (and owner) of the file it replaces, then renamed
over it, and the folder fsynced. A failure at any point leaves the old file
as it was and no temporary behind.

Several files that belong together (a `.map` and its `.bin`) are written as
one batch: all temporaries first (at the same time, see `_write_temps`),
then a small journal naming them, then the renames. A failure puts back
what was renamed; a kill between two renames leaves the journal, and
`finish_pending` (run by everything that reads such files) renames the rest
forward, so no reader sees a mixed pair.

Writers of one batch of files are serialized by `exclusive_lock` on a lock
file beside them (flock: the kernel releases it when the holder dies, so a
killed writer never leaves a stale lock). Under that lock `remove_leftovers`
deletes the temporaries a killed writer could not clean up.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

Chunk = bytes | bytearray | memoryview

# A large file asks the kernel to start writing it back every this many
# bytes, so that its data goes to disk while the rest is being made and the
# closing fsync has little left to wait for (a 90 MB `.bin`: 27 ms -> 2 ms).
WRITEBACK_BYTES = 8 << 20
WRITEBACK_ALIGN = 1 << 16  # a multiple of any page size
HANDOVER_SECONDS = 0.0001  # the GIL switch interval while files are written in threads


def temporary_name(path: Path) -> Path:
    """A name for a temporary of `path` (`.<name>.<random>.tmp`, beside it)."""
    return path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")


def _exclusive_name(
    folder: Path, stem: str, suffix: str, fixed: Path | None = None
) -> tuple[int, str]:
    """Create a new file `.<stem>.<random><suffix>` in `folder` (or `fixed`),
    mode 0600 (tempfile.mkstemp's job, without importing tempfile on every
    command)."""
    if fixed is not None:
        return os.open(fixed, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), str(fixed)
    for _ in range(100):
        name = os.path.join(folder, f".{stem}.{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _as_users(exc: OSError, path: Path) -> OSError:
    """The same failure, naming the file the user asked for rather than a
    temporary of ours (`.name.1a2b.tmp`), which the user never named."""
    if exc.filename is not None and str(exc.filename) == str(path):
        return exc
    # A write or fsync on a full disk fails without a file name: name it.
    named = type(exc)(exc.errno, exc.strerror or str(exc), str(path))
    return named


def _refuse_special(path: Path) -> None:
    """An existing target that is not a regular file (a device, a FIFO, a
    folder, or a symlink to one: `-o /dev/stdout`, `dump-core DOM /dev/null`)
    is refused: the rename would put a plain file in its place, and run as
    root that replaces the device node itself."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing (or unreachable): the write itself will say why
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        from acm.inputfile import file_kind

        raise OSError(errno.EINVAL, f"Not a regular file ({file_kind(mode)})", str(path))


def _start_writeback(fd: int, start: int, end: int) -> None:
    """Start writing bytes `start` to `end` of the file to disk without
    waiting (Linux does so for POSIX_FADV_DONTNEED, then drops the pages of
    that range already clean). Only the range written since the last call:
    asked for the whole file each time, the kernel walked every page written
    so far again (a 270 MB `.bin`: 29 calls, 0.12 s), and pages already on
    disk were dropped that loadpolicy reads right after."""
    if hasattr(os, "posix_fadvise") and end > start:
        os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_DONTNEED)


def _write_temp(
    path: Path, chunks: Iterable[Chunk], mode: int | None, fixed: Path | None = None
) -> Path:
    try:
        return _write_temp_named(path, chunks, mode, fixed)
    except OSError as exc:
        raise _as_users(exc, path) from None


def _write_temp_named(
    path: Path, chunks: Iterable[Chunk], mode: int | None, fixed: Path | None = None
) -> Path:
    folder = path.parent
    fd, tmp = _exclusive_name(folder, path.name, ".tmp", fixed)
    try:
        with os.fdopen(fd, "wb") as f:
            written = kicked = 0
            for chunk in chunks:
                f.write(chunk)
                written += len(chunk)
                if written - kicked >= WRITEBACK_BYTES:
                    f.flush()
                    # whole pages only: the last one may still be written to
                    end = written & ~(WRITEBACK_ALIGN - 1)
                    _start_writeback(f.fileno(), kicked, end)
                    kicked = end
            f.flush()
            os.fsync(f.fileno())
        try:
            st = path.stat()
        except FileNotFoundError:
            os.chmod(tmp, mode if mode is not None else 0o644)
        else:
            os.chmod(tmp, st.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):
                os.chown(tmp, st.st_uid, st.st_gid)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def check_target(path: Path) -> None:
    """Refuse a target that is not a regular file (see `_refuse_special`),
    before a caller records anything about writing it."""
    _refuse_special(path)


def write_temporary(path: Path, temp: Path, data: Chunk, mode: int | None = None) -> None:
    """The first half of `atomic_write`: `data` in the complete, fsynced
    temporary `temp` (named by `temporary_name(path)` beforehand, so that a
    caller can record the name first), which `put_in_place` renames over
    `path` later (a caller that must commit something else in between:
    xm_core.files.intents)."""
    _refuse_special(path)
    _write_temp(path, [data], mode, temp)


def put_in_place(temp: Path, path: Path) -> None:
    """The second half: the temporary renamed over `path`, the folder fsynced."""
    try:
        os.replace(temp, path)
    except OSError as exc:
        raise _as_users(exc, path) from None
    _fsync_dir(path.parent)


def atomic_write(path: str | Path, data: Chunk | Iterable[Chunk], mode: int | None = None) -> None:
    """Replace `path` with `data` (bytes or an iterable of byte chunks) atomically."""
    atomic_write_many([(Path(path), data)], mode)


def _keep_old(path: Path) -> Path | None:
    """A hard link to the file about to be replaced, to put it back if a later
    rename of the same batch fails; None when there is no old file."""
    if not path.exists():
        return None
    fd, name = _exclusive_name(path.parent, path.name, ".old")
    os.close(fd)
    os.unlink(name)
    try:
        os.link(path, name)
    except OSError:  # no hard links here: a copy does the same job
        import shutil

        shutil.copy2(path, name)
    return Path(name)


PENDING_SUFFIX = ".pending"


def _journal_path(first: Path) -> Path:
    return first.with_name(f".{first.name}{PENDING_SUFFIX}")


def _write_journal(journal: Path, temps: list[tuple[Path, Path]], olds: list[Path]) -> None:
    lines = [f"replace\t{tmp}\t{path}" for tmp, path in temps]
    lines += [f"drop\t{old}" for old in olds]
    fd, tmp = _exclusive_name(journal.parent, journal.name, ".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, journal)  # the journal is whole or absent, never partial
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(journal.parent)


_MAX_JOURNAL_BYTES = 64 * 1024
# Matched only when a journal is found (compiled then, by `re`'s own cache).
_TEMP_NAME = r"\.(.+)\.[0-9a-f]{12}(\.tmp|\.old)"


def _ours(temp: str, target: str | None, suffix: str) -> bool:
    """`temp` is a temporary of ours (`.<name>.<random><suffix>`), for
    `target` in the same folder when given."""
    match = re.fullmatch(_TEMP_NAME, os.path.basename(temp))
    if match is None or match.group(2) != suffix:
        return False
    if target is None:
        return True
    return os.path.dirname(temp) == os.path.dirname(target) and match.group(1) == (
        os.path.basename(target)
    )


def pending(first: Path) -> bool:
    """Whether a batch whose first file is `first` awaits `finish_pending`."""
    return os.path.lexists(_journal_path(first))


def finish_pending(first: Path) -> bool:
    """Complete a batch whose first file is `first` if a kill stopped it
    between its renames. Every temporary the journal names was complete and
    fsynced before the journal was written, so renaming the rest forward
    finishes the batch. True when there was one to finish."""
    from acm.inputfile import InputFileError, read_input

    journal = _journal_path(first)
    try:
        raw = read_input(journal, _MAX_JOURNAL_BYTES)
    except InputFileError as exc:
        if exc.missing:
            return False
        raise OSError(f"{exc.path}: {exc.reason}") from None
    folders = {journal.parent}
    for line in raw.decode("utf-8", "replace").splitlines():
        fields = line.split("\t")
        # Only what a batch of ours writes is acted on: a journal planted in a
        # checkout must not rename or delete anything else.
        if fields[0] == "replace" and len(fields) == 3 and _ours(fields[1], fields[2], ".tmp"):
            if os.path.exists(fields[1]):
                os.replace(fields[1], fields[2])
                folders.add(Path(fields[2]).parent)
        elif fields[0] == "drop" and len(fields) == 2 and _ours(fields[1], None, ".old"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(fields[1])
    os.unlink(journal)
    for folder in folders:
        _fsync_dir(folder)
    return True


def _write_temps(
    items: Sequence[tuple[Path, Chunk | Iterable[Chunk]]], mode: int | None, in_threads: bool
) -> list[tuple[Path, Path]]:
    """(temporary, path) of every item, written in full. The first is written
    in the calling thread; with `in_threads`, every other one in a thread of
    its own: writes and fsyncs release the GIL, so a large `.bin` goes to
    disk while the `.map` is being made (its chunks may be made as they are
    iterated). Without, one after the other (small files: starting threads
    costs more than it saves). On a failure every temporary written is
    removed and the first error raised."""
    results: list[Path | BaseException | None] = [None] * len(items)

    def write(index: int) -> None:
        path, data = items[index]
        chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else data
        try:
            results[index] = _write_temp(path, chunks, mode)
        except BaseException as exc:  # raised in the calling thread below
            results[index] = exc

    if len(items) == 1 or not in_threads:
        for index in range(len(items)):
            write(index)  # each one even after a failure, as the threads do
    else:
        import sys
        import threading  # not on the way of a single file

        others = [threading.Thread(target=write, args=(i,)) for i in range(1, len(items))]
        # A thread back from a write waits for the GIL until the running one
        # is made to let go (every 5 ms by default): hand over sooner meanwhile.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(HANDOVER_SECONDS)
        for thread in others:
            thread.start()
        try:
            write(0)
        finally:
            for thread in others:
                thread.join()
            sys.setswitchinterval(interval)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        for r in results:
            if isinstance(r, Path):
                with contextlib.suppress(OSError):
                    os.unlink(r)
        raise errors[0]
    written = []
    for tmp, (path, _) in zip(results, items, strict=True):
        assert isinstance(tmp, Path)
        written.append((tmp, path))
    return written


def atomic_write_many(
    items: Sequence[tuple[Path, Chunk | Iterable[Chunk]]],
    mode: int | None = None,
    in_threads: bool = True,
) -> None:
    """Write every file to its temporary first; only when all are complete and
    fsynced are they renamed into place, one right after the other. A failure
    before or during the renames changes none of the files: files already
    renamed get their old contents back (kept as hard links until the batch
    is done). A kill between the renames is finished by `finish_pending`.
    `in_threads`: the temporaries after the first are written in threads
    (for large files, see `_write_temps`)."""
    temps: list[tuple[Path, Path]] = []
    olds: list[tuple[Path, Path | None]] = []
    done: list[tuple[Path, Path | None]] = []
    journal: Path | None = None
    for path, _ in items:
        _refuse_special(path)
    if len(items) > 1:
        finish_pending(items[0][0])  # an earlier batch of these files comes first
    try:
        temps = _write_temps(items, mode, in_threads)
        if len(temps) > 1:
            olds = [(path, _keep_old(path)) for _, path in temps]
            journal = _journal_path(temps[0][1])
            _write_journal(journal, temps, [old for _, old in olds if old is not None])
        for (tmp, path), (_, old) in zip(temps, olds or [(p, None) for _, p in temps], strict=True):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _as_users(exc, path) from None
            done.append((path, old))
    except BaseException:
        for path, old in reversed(done):
            with contextlib.suppress(OSError):
                if old is not None:
                    os.replace(old, path)
                else:
                    os.unlink(path)
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    finally:
        if journal is not None:
            with contextlib.suppress(OSError):
                os.unlink(journal)
        for _, old in olds:
            if old is not None:
                with contextlib.suppress(OSError):
                    os.unlink(old)
    for folder in {path.parent for _, path in temps}:
        _fsync_dir(folder)


class LockBusy(Exception):
    """`exclusive_lock(..., wait=False)` found the lock held by another process."""


# How long a writer waits quietly before it says that it is waiting.
LOCK_PATIENCE_S = 1.0


def _open_lock(lock_path: Path) -> int:
    # O_NOFOLLOW: a symlink planted at the lock's name is not followed.
    return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)


def _is_the_file(fd: int, lock_path: Path) -> bool:
    """`fd` is still the file named `lock_path`: a holder that removed the
    lock file did so before another could lock it under that name."""
    try:
        named = os.stat(lock_path, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _flock(fd: int, how: int, wait: bool, patience: float, warn: Callable[[], None]) -> None:
    """flock `fd`: LockBusy when held and not `wait`; else wait, calling
    `warn` after `patience` seconds."""
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        if not wait:
            raise
    deadline = time.monotonic() + patience
    while True:
        time.sleep(0.02)
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                warn()
                fcntl.flock(fd, how)
                return


def _release(fd: int, lock_path: Path) -> None:
    """Unlock and close; the last holder removes the lock file (while it
    holds it exclusively), so no lock file stays behind in a policy tree.
    One that opened the old file meanwhile sees it is gone and locks anew."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass  # another holder: the last one removes it
    else:
        with contextlib.suppress(OSError):
            if _is_the_file(fd, lock_path):
                os.unlink(lock_path)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(
    lock_path: Path,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    patience: float = LOCK_PATIENCE_S,
) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path`, created when missing and
    removed by its last holder (a locker checks that the file it locked is
    still the one of that name, so two holders never lock different files).
    Held by another process: LockBusy when `wait` is False; otherwise wait,
    calling `on_wait` once after `patience` seconds."""
    warned: list[bool] = []

    def warn() -> None:
        if not warned and on_wait is not None:
            on_wait()
        warned.append(True)

    while True:
        fd = _open_lock(lock_path)
        try:
            _flock(fd, fcntl.LOCK_EX, wait, patience, warn)
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(str(lock_path)) from None
        except BaseException:
            os.close(fd)
            raise
        if _is_the_file(fd, lock_path):
            break
        os.close(fd)
    try:
        yield
    finally:
        _release(fd, lock_path)


@contextlib.contextmanager
def shared_lock(lock_path: Path) -> Iterator[None]:
    """A shared flock for readers of files written under `exclusive_lock`;
    no lock where the lock file can be neither opened nor created (a
    read-only root, where no writer can run either)."""
    while True:
        try:
            fd = _open_lock(lock_path)
        except OSError:
            try:
                fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                yield
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
        if _is_the_file(fd, lock_path):
            break
        os.close(fd)
    try:
        yield
    finally:
        _release(fd, lock_path)


def remove_leftovers(paths: Sequence[Path]) -> list[Path]:
    """Delete the temporaries (`.<name>.<random>.tmp`, `.old`, and those of
    the journal) that a killed writer of `paths` left behind. Call only
    under the writers' exclusive lock and after `finish_pending`: then no
    such file belongs to a live writer or an unfinished batch."""
    removed: list[Path] = []
    folders: dict[Path, set[str]] = {}  # folder -> the names whose temporaries go
    for path in paths:
        folders.setdefault(path.parent, set()).update((path.name, _journal_path(path).name))
    for folder, stems in folders.items():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if _temporary_of(name, stems):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(folder / name)
                    removed.append(folder / name)
    return removed


_HEX = frozenset("0123456789abcdef")


def _temporary_of(name: str, stems: set[str]) -> bool:
    """`name` is `.<stem>.<12 hex digits>.tmp` (or `.old`) for one of `stems`.
    (String tests, not a pattern: compiling one costs more than makepolicy's
    whole write of a small policy.)"""
    if not name.endswith((".tmp", ".old")) or len(name) < 19 or name[-17] != ".":
        return False
    return name[0] == "." and _HEX.issuperset(name[-16:-4]) and name[1:-17] in stems
