"""Front end: the `xm` command line (click), its fast launcher and the demo.

The package itself imports nothing, so that `xm_core.cli.launch` can run
the plain `xm makepolicy` and `xm list` without loading click; the click
group is in `commands`. What the launcher and the click commands share
lives here, its imports inside the function.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not loaded for this
if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths


def command_paths(root: str | None, writes: bool) -> HostPaths:
    """The host paths a command runs on (`root`: the --root option, None
    when absent; a command that only reads never creates the root). What a
    killed save, suspend, resume or migrate left is settled first (one
    failed `listdir` when there is nothing), so that every command sees the
    host before or after such a run, never between."""
    import contextlib
    import os

    from xm_core import render
    from xm_core.errors import XmError
    from xm_core.files.paths import host_paths

    paths = host_paths(root, writes, render.new_root)
    try:
        left = os.listdir(paths.intents_dir)
    except OSError:
        left = []
    if left:
        from xm_core.host.lifecycle import settle

        with contextlib.suppress(XmError, OSError):  # the command itself reports it
            settle(paths)
    return paths
