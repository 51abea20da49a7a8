"""The main job on an embedded default, for the README: a fresh host root
seeded with the example policy, compiled, and what came out shown."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from acm.model import CompiledPolicy
from xm_core.paths import EXAMPLE_POLICY, HostPaths


@dataclass
class DemoStep:
    command: str
    output: list[str] = field(default_factory=list)


@dataclass
class DemoReport:
    root: Path
    steps: list[DemoStep]


def _compiled(paths: HostPaths, name: str) -> CompiledPolicy:
    from acm.binfmt import decode_binary
    from acm.mapfile import parse_map

    files = paths.policy_files(name)
    with open(files.bin, "rb") as f:
        binary = decode_binary(f.read(), files.bin)
    with open(files.map, "rb") as f:
        pmap = parse_map(f.read(), files.map)
    return CompiledPolicy(binary, pmap)


def run_demo(root: Path) -> DemoReport:
    from acm.ssidref import label_to_ssidref
    from xm_core.policy import make_policy

    paths = HostPaths(root)
    paths.seed_example()
    steps: list[DemoStep] = []

    make_policy(paths, EXAMPLE_POLICY)
    files = paths.policy_files(EXAMPLE_POLICY)
    step = DemoStep(f"xm makepolicy {EXAMPLE_POLICY}")
    for path in (files.map, files.bin):
        step.output.append(f"wrote {os.path.relpath(path, root)} ({os.path.getsize(path)} bytes)")
    steps.append(step)

    policy = _compiled(paths, EXAMPLE_POLICY)
    step = DemoStep("labels and their ssidrefs (from the .map)")
    pmap = policy.map
    step.output.append(
        f"policy {pmap.reference_name}: primary {pmap.primary.name}, "
        f"secondary {pmap.secondary.name}"
    )
    names = sorted({e.name for p in (pmap.chwall, pmap.ste) if p for e in p.labels[1:]})
    for name in names:
        kinds = [
            e.kind.value for p in (pmap.chwall, pmap.ste) if p for e in p.labels if e.name == name
        ]
        kind = "dom" if "VM" in kinds else "res"
        step.output.append(
            f"  {kind} {name:<34} ssidref 0x{label_to_ssidref(pmap, name, kind):08x}"
        )
    steps.append(step)
    return DemoReport(root, steps)
