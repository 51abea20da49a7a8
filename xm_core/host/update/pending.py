"""The files an update changes besides the store, and finishing them after
a kill.

An update commits its store changes and, in the same SQLite transaction,
the list of label changes still to be made to files (the resource label
file, domain configs, saved images) as `pending` in the active policy's record. After
the commit those changes are written (each file atomically) and `pending`
is cleared in a second, small transaction. A kill before the commit leaves
the old state whole (SQLite rolls back; no file was touched); a kill after
it leaves `pending`, which the next command that opens the store finishes
(`finish_pending_update`) before it reads anything, so no command sees the
new policy beside old labels in the files.

Each change is applied only where the file still holds the old label: a
change made meanwhile by someone else is kept, and applying twice is
harmless.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.errors import XmError
from xm_core.host.update.offline import relabel_image

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths
    from xm_core.host.store import Store

PENDING = "pending"  # the key in the active policy's extra record


def encode_changes(
    resources: list[tuple[str, tuple[str, str], tuple[str, str]]],
    configs: list[tuple[str, tuple[str, str], tuple[str, str]]],
    images: Sequence[tuple[str, str, tuple[str, str], tuple[str, str], int]] = (),
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resources": [[t, list(old), list(new)] for t, old, new in resources],
        "configs": [[t, list(old), list(new)] for t, old, new in configs],
    }
    if images:  # (file, its domain's uuid, old label, new label, new ssidref)
        doc["images"] = [[t, u, list(old), list(new), ref] for t, u, old, new, ref in images]
    return doc


def apply_changes(paths: HostPaths, pending: dict[str, Any]) -> list[str]:
    """Write the pending label changes; the problems met (a config that can
    no longer be rewritten), which do not stop the others."""
    from xm_core.files.resources import locked_resource_labels

    problems: list[str] = []
    resources = [(str(t), tuple(o), tuple(n)) for t, o, n in pending.get("resources", [])]
    if resources:
        with locked_resource_labels(paths.resource_labels) as labels:
            for target, old, new in resources:
                if labels.get(target) == old:
                    labels[target] = (str(new[0]), str(new[1]))
    for target, old, new in pending.get("configs", []):
        try:
            relabel_config(Path(target), (str(old[0]), str(old[1])), (str(new[0]), str(new[1])))
        except XmError as exc:
            problems.append(exc.message)
    images = pending.get("images", [])
    if images:
        from xm_core.files.atomic import exclusive_lock

        with exclusive_lock(paths.images_lock):  # a save or suspend never overwritten
            for target, uuid, old, new, ssidref in images:
                try:
                    relabel_image(
                        Path(target),
                        str(uuid),
                        (str(old[0]), str(old[1])),
                        (str(new[0]), str(new[1])),
                        int(ssidref),
                    )
                except XmError as exc:
                    problems.append(exc.message)
    return problems


def relabel_config(path: Path, old: tuple[str, str], new: tuple[str, str]) -> None:
    """The config's label `old` becomes `new`: the old line commented out
    (as `rmlabel` does), the new one appended (as `addlabel` does); left as
    it is when it no longer holds `old`."""
    from xm_core.files.config import (
        append_access_control,
        comment_out_access_control,
        config_text,
        declared_label,
        rewrite_config,
    )

    def change(data: bytes) -> bytes:
        if declared_label(config_text(data, str(path)), str(path)) != old:
            return data
        new_data = append_access_control(comment_out_access_control(data, str(path)), *new)
        if declared_label(config_text(new_data, str(path)), str(path)) != new:
            raise XmError(f"Config file '{path}': the new label line would not read back")
        return new_data

    if path.is_file():
        rewrite_config(path, change)


def finish_pending_update(paths: HostPaths, store: Store) -> None:
    """Complete the file changes of an update a kill interrupted after its
    commit; nothing when there are none (one small read)."""
    if store.read_only:
        return
    try:
        extra = store.active_extra()
    except XmError:
        return  # a damaged record is reported by whoever reads it
    pending = extra.get(PENDING)
    if not pending:
        return
    with contextlib.suppress(XmError):
        apply_changes(paths, pending)
    with store.write():
        extra = store.active_extra()
        if extra.pop(PENDING, None) is not None:
            store.set_active_extra(extra)
