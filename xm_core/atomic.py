"""Atomic file writes: a temporary file in the same folder, written in full,
fsynced, given the mode (and owner) of the file it replaces, then renamed
over it, and the folder fsynced. A failure at any point leaves the old file
as it was and no temporary behind."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

Chunk = bytes | bytearray | memoryview


def _exclusive_name(folder: Path, stem: str, suffix: str) -> tuple[int, str]:
    """Create a new file `.<stem>.<random><suffix>` in `folder`, mode 0600
    (tempfile.mkstemp's job, without importing tempfile on every command)."""
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


def _write_temp(path: Path, chunks: Iterable[Chunk], mode: int | None) -> Path:
    folder = path.parent
    fd, tmp = _exclusive_name(folder, path.name, ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
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


def atomic_write(path: str | Path, data: Chunk | Sequence[Chunk], mode: int | None = None) -> None:
    """Replace `path` with `data` (bytes or a sequence of byte chunks) atomically."""
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


def atomic_write_many(
    items: Sequence[tuple[Path, Chunk | Sequence[Chunk]]], mode: int | None = None
) -> None:
    """Write every file to its temporary first; only when all are complete and
    fsynced are they renamed into place, one right after the other. A failure
    before or during the renames changes none of the files: files already
    renamed get their old contents back (kept as hard links until the batch
    is done)."""
    temps: list[tuple[Path, Path]] = []
    olds: list[tuple[Path, Path | None]] = []
    done: list[tuple[Path, Path | None]] = []
    try:
        for path, data in items:
            chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else data
            temps.append((_write_temp(path, chunks, mode), path))
        if len(temps) > 1:
            olds = [(path, _keep_old(path)) for _, path in temps]
        for (tmp, path), (_, old) in zip(temps, olds or [(p, None) for _, p in temps], strict=True):
            os.replace(tmp, path)
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
        for _, old in olds:
            if old is not None:
                with contextlib.suppress(OSError):
                    os.unlink(old)
    for folder in {path.parent for _, path in temps}:
        _fsync_dir(folder)
