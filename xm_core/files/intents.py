"""Intents: what a change of host state spanning the database and files
still has to do to files once its database transaction commits.

`save`, `suspend`, `resume` and `migrate` change the host database and a
file (or a second database). Only one of them can be changed atomically,
so the database commit is the one point where the change happens, and an
intent, written (fsynced) before that commit, names the files and the
domain incarnation by which a later run can tell whether the commit
happened (the domain is gone, or there). A run killed anywhere is then
finished forward or rolled back by the next one (xm_core.host.lifecycle),
never left between.

An intent is `<host root>/var/lib/xm-acm/intents/<pid>.<random>.json`: its
writer's process id is in the name, so an intent whose writer is alive is
never touched (its run is still going), and one whose writer is gone is an
orphan to settle. This module only stores them; what they mean is the
host's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xm_core.files.atomic import atomic_write

MAX_INTENT_BYTES = 64 * 1024
_NAME = re.compile(r"(\d+)\.[0-9a-f]{8}\.json")
_TEMPORARY = re.compile(r"\.(\d+)\.[0-9a-f]{8}\.json\.[0-9a-f]{12}\.tmp")  # of atomic_write


@dataclass(frozen=True)
class Intent:
    path: Path
    facts: dict[str, Any]


def record(folder: Path, facts: dict[str, Any], name: str | None = None) -> Intent:
    """Write an intent atomically (whole or absent, fsynced); `name`: the
    name of its copy in another folder (a migrate records one in each host)."""
    folder.mkdir(parents=True, exist_ok=True)
    if name is None or _NAME.fullmatch(name) is None:
        name = f"{os.getpid()}.{os.urandom(4).hex()}.json"
    path = folder / name
    data = json.dumps(facts, sort_keys=True).encode("utf-8")
    try:
        atomic_write(path, data, mode=0o600)
    except FileNotFoundError:  # another run's `drop` removed the empty folder meanwhile
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data, mode=0o600)
    return Intent(path, facts)


def drop(intent: Intent) -> None:
    """Remove the intent, and its folder once empty (a run that was refused
    leaves the host root as it found it)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(intent.path)
    with contextlib.suppress(OSError):  # not empty: another run's intent is there
        os.rmdir(intent.path.parent)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def any_recorded(folder: Path) -> bool:
    """Whether `folder` holds an intent at all (one failed `listdir` when not)."""
    try:
        return any(
            _NAME.fullmatch(name) or _TEMPORARY.fullmatch(name) for name in os.listdir(folder)
        )
    except OSError:
        return False


def orphans(folder: Path) -> list[Intent]:
    """The intents whose writer is gone, oldest name first. One that cannot
    be read as an intent (damaged, or not ours) is removed: a writer writes
    it whole or not at all, so it names nothing to finish."""
    from acm.inputfile import InputFileError, read_input

    found: list[Intent] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        half = _TEMPORARY.fullmatch(name)
        if half is not None and not _alive(int(half.group(1))):
            with contextlib.suppress(OSError):  # an intent never written: it names nothing
                os.unlink(folder / name)
        match = _NAME.fullmatch(name)
        if match is None or _alive(int(match.group(1))):
            continue
        path = folder / name
        try:
            facts = json.loads(read_input(path, MAX_INTENT_BYTES))
        except (InputFileError, ValueError, RecursionError):
            facts = None
        if isinstance(facts, dict):
            found.append(Intent(path, facts))
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return found
