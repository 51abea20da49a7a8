"""Compiling policies into the host's policy tree (`xm makepolicy`)."""

from __future__ import annotations

import dataclasses
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
    from acm.binfmt import encode_binary
    from acm.compiler import compile_policy
    from acm.mapfile import render_map
    from acm.source import read_policy_source

    source = read_policy_source(files.xml)
    compiled, findings = compile_policy(source)
    del source  # the source model of a large policy is not needed any more
    pmap = dataclasses.replace(compiled.map, policy_file=files.xml, binary_file=files.bin)
    atomic_write_many(
        [(Path(files.map), render_map(pmap)), (Path(files.bin), encode_binary(compiled.binary))]
    )
    return MakePolicyResult(files, findings)
