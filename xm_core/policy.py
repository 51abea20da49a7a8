"""Compiling policies into the host's policy tree (`xm makepolicy`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from acm.errors import Diagnostics, PolicyError
from xm_core.atomic import atomic_write_many
from xm_core.paths import HostPaths, PolicyFiles

if TYPE_CHECKING:
    from acm.model import PolicyMap


class MakePolicyResult(NamedTuple):
    files: PolicyFiles
    warnings: Diagnostics


def check_policy_dir(policy_dir: str | None) -> None:
    """A `-d` folder goes into the `.map` as given: a line break would break
    it, and a NUL cannot be opened. PolicyError (ACM005) for either."""
    if policy_dir is not None and any(c in policy_dir for c in "\n\r\0"):
        raise PolicyError.single(
            "ACM005",
            f"Invalid policy directory {policy_dir!r}: a line break or NUL cannot stand in "
            "the .map",
        )


def _map_text(pmap: PolicyMap, render: Callable[[PolicyMap], bytes]) -> Iterator[bytes]:
    """The `.map`, rendered when its writer first asks for it."""
    yield render(pmap)


def make_policy(paths: HostPaths, name: str, policy_dir: str | None = None) -> MakePolicyResult:
    """Compile `name` from the policy root (or `policy_dir`) into its `.map`
    and `.bin`. Every finding is collected; on any error (PolicyError) no
    output file is touched. The name is checked before anything is opened."""
    check_policy_dir(policy_dir)
    files = paths.policy_files(name, policy_dir)  # raises ACM005 on a bad name
    # Everything is imported before the compile: an import after it waits
    # for the allocator to sort out the freed parse tree (about 10 ms).
    from acm.binfmt import binary_chunks
    from acm.compiler import compile_file, gc_paused
    from acm.mapfile import render_map

    with gc_paused():
        compiled, findings = compile_file(files.xml)
        pmap = compiled.map._replace(policy_file=files.xml, binary_file=files.bin)
        # The `.bin` is made chunk by chunk and written in a thread of its own
        # while the `.map` is rendered (atomic_write_many).
        atomic_write_many(
            [
                (Path(files.map), _map_text(pmap, render_map)),
                (Path(files.bin), binary_chunks(compiled.binary)),
            ]
        )
        del compiled, pmap  # dropped while the collector still waits
    return MakePolicyResult(files, findings)


def make_policy_under(root: str | None, name: str, policy_dir: str | None) -> MakePolicyResult:
    """`xm makepolicy`: compile `name` into the policy tree of the host root
    chosen by `root` (the --root option, None when absent)."""
    from acm.names import check_policy_name
    from xm_core.paths import host_paths

    # Both are checked before the host root is resolved: a new per-user root
    # would otherwise be created and seeded for a command that is refused.
    check_policy_name(name)
    check_policy_dir(policy_dir)
    return make_policy(host_paths(root), name, policy_dir)
