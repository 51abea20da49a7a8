"""Atomic file writes: a temporary file in the same folder, written in full,
fsynced, given the mode (and owner) of the file it replaces, then renamed
over it, and the folder fsynced. A failure at any point leaves the old file
as it was and no temporary behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

Chunk = bytes | bytearray | memoryview


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(path: Path, chunks: Iterable[Chunk], mode: int | None) -> Path:
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
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


def atomic_write_many(
    items: Sequence[tuple[Path, Chunk | Sequence[Chunk]]], mode: int | None = None
) -> None:
    """Write every file to its temporary first; only when all are complete and
    fsynced are they renamed into place, one right after the other. A failure
    before the renames changes none of the files."""
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in items:
            chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else data
            temps.append((_write_temp(path, chunks, mode), path))
        for tmp, path in temps:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for folder in {path.parent for _, path in temps}:
        _fsync_dir(folder)
