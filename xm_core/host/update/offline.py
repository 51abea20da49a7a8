"""What a policy update relabels besides the running state: the config file
each domain was started from, wherever it is kept, and saved domain images.

Xen 3.4 relabelled the domains xend managed, running or not, and left
every file it did not manage as it was: a config of `xm create` kept the
old label, and `xm save`'s image failed at `restore` ("Label ... not
found"). We go further where the host knows the file, and say so where it
does not:

- **Configs.** `create` records the config file a domain was started
  from (`Store.domain_configs`), so a running domain's config is
  relabeled where it is kept, as those under `<root>/etc/xen` are. A
  running domain whose label changes and whose config is not relabeled
  (none is known: it was restored, migrated in, created from `/dev/null`
  or before configs were recorded; or the file no longer carries its
  label) is named with the reason, for the administrator to relabel it
  (`rmlabel`, `addlabel`). A config never started is not known.
- **Saved images.** `suspend`'s managed images (in the host root) and the
  files `xm save` wrote (`Store.saved_images`) whose label the update
  renames take the new name (and the new ssidref, which `restore` never
  trusts anyway), so they restore under the new policy. One whose label
  the new policy removes is left as it is and named: it cannot be
  restored under the new policy, and is no reason to refuse the update (a
  saved domain does not run; Xen 3.4 did not refuse for one either). An
  image moved elsewhere is not found; `restore` then refuses its label.

The files are read here, inside the caller's store transaction; they are
changed after the update's commit through `pending` (only where a file
still holds the old label).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xm_core.errors import XmError

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths
    from xm_core.files.savefile import SavedDomain
    from xm_core.host.store import Store

MAX_IMAGES = 10_000  # saved images looked at by one update
SAVE_SUFFIX = ".save"  # the managed images of `suspend`


# ------------------------------------------------------------------ configs


def read_config_label(path: Path) -> tuple[tuple[str, str] | None, str]:
    """The literal label of a domain config, or None and why it has none
    we can use (unreadable, not a config we read safely, no label)."""
    from acm.inputfile import InputFileError
    from xm_core.files.config import config_text, declared_label, read_config_bytes

    try:
        label = declared_label(config_text(read_config_bytes(path), str(path)), str(path))
    except XmError as exc:
        return None, exc.message
    except InputFileError as exc:
        return None, f"Config file '{path}' {exc.reason}"
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"Config file '{path}' cannot be read ({type(exc).__name__})"
    if label is None:
        return None, f"Config file '{path}' carries no label"
    return label, ""


def started_from(store: Store) -> dict[int, Path]:
    """The config file each domain was created from, where one is known."""
    return {domid: Path(path) for domid, path in store.domain_configs().items()}


# ------------------------------------------------------------------ saved images


@dataclass(frozen=True)
class KnownImage:
    path: str
    saved: SavedDomain | None  # None when it could not be read
    problem: str


def known_images(paths: HostPaths, store: Store) -> tuple[list[KnownImage], list[str]]:
    """The managed images of `suspend` and the files `xm save` wrote, read;
    and the recorded paths that no longer hold a file (to forget)."""
    from xm_core.files.savefile import read_save_file

    found: dict[str, None] = {}  # in order, each file once
    try:
        with os.scandir(paths.suspended_dir) as listing:
            names = sorted(e.name for e in itertools.islice(listing, MAX_IMAGES))
    except OSError:
        names = []
    for name in names:
        path = os.path.abspath(paths.suspended_dir / name)
        if name.endswith(SAVE_SUFFIX) and os.path.isfile(path) and not os.path.islink(path):
            found[path] = None
    gone: list[str] = []
    for path in store.saved_images(MAX_IMAGES):
        if not os.path.lexists(path):
            gone.append(path)
        else:
            found.setdefault(os.path.abspath(path), None)
    images: list[KnownImage] = []
    for path in itertools.islice(found, MAX_IMAGES):
        if os.path.islink(path):  # writing would replace the link with a file
            images.append(KnownImage(path, None, f"Save file '{path}' is a symbolic link"))
            continue
        try:
            images.append(KnownImage(path, read_save_file(Path(path)), ""))
        except XmError as exc:
            images.append(KnownImage(path, None, exc.message))
    return images, gone


def relabel_image(
    path: Path, uuid: str, old: tuple[str, str], new: tuple[str, str], ssidref: int
) -> None:
    """The image's label `old` becomes `new`, written atomically; left as it
    is when it is no longer that domain's image with that label (saved
    again, replaced or moved meanwhile)."""
    from xm_core.files.savefile import read_save_file, write_save_file

    if not path.is_file():
        return
    saved = read_save_file(path)
    if saved.uuid != uuid or saved.access != old:
        return
    saved.policy, saved.label = new
    saved.ssidref = ssidref
    write_save_file(path, saved)
