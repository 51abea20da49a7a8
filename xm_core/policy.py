"""Compiling policies into the host's policy tree (`xm makepolicy`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from acm.errors import Diagnostics
from xm_core.atomic import atomic_write_many
from xm_core.paths import HostPaths, PolicyFiles


@dataclass
class MakePolicyResult:
    files: PolicyFiles
    warnings: Diagnostics


def make_policy(paths: HostPaths, name: str, policy_dir: str | None = None) -> MakePolicyResult:
    """Compile `name` from the policy root (or `policy_dir`) into its `.map`
    and `.bin`. Every finding is collected; on any error (PolicyError) no
    output file is touched. The name is checked before anything is opened."""
    files = paths.policy_files(name, policy_dir)  # raises ACM005 on a bad name
    from dataclasses import replace

    from acm.binfmt import binary_chunks
    from acm.compiler import compile_file
    from acm.mapfile import render_map

    compiled, findings = compile_file(files.xml)
    map_bytes = render_map(replace(compiled.map, policy_file=files.xml, binary_file=files.bin))
    # The `.bin` matrices are made chunk by chunk while they are written.
    atomic_write_many(
        [(Path(files.map), map_bytes), (Path(files.bin), binary_chunks(compiled.binary))]
    )
    return MakePolicyResult(files, findings)
