"""Helpers for the host tests: a root with the example policy compiled (and
loaded), labeled resources, and a CliRunner that types `xm` commands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from xm_core.cli.commands import xm
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths

HOST_DATA = Path(__file__).resolve().parent / "data" / "host"

RESOURCE_LABELS = {
    "phy:/dev/hda1": (EXAMPLE_POLICY, "res_LogicalDiskPartition1(hda1)"),
    "phy:/dev/hda2": (EXAMPLE_POLICY, "res_LogicalDiskPartition2(hda2)"),
    "phy:/dev/hda": (EXAMPLE_POLICY, "res_HardDrive(hda)"),
    "bridge:xenbr1": (EXAMPLE_POLICY, "res_EthernetCard"),
    "bridge:bankbr": (EXAMPLE_POLICY, "res_SecurityToken"),
}


@dataclass
class Run:
    result: Result

    @property
    def code(self) -> int:
        return self.result.exit_code

    @property
    def out(self) -> str:
        return self.result.stdout

    @property
    def err(self) -> str:
        return self.result.stderr

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def xm_run(root: Path, *args: str) -> Run:
    """Type `xm --root ROOT ARGS...`."""
    runner = CliRunner()
    result = runner.invoke(xm, ["--root", str(root), *args], catch_exceptions=False)
    return Run(result)


def compile_example(root: Path) -> HostPaths:
    from xm_core.host.policy import make_policy

    paths = HostPaths(root)
    paths.seed_example()
    make_policy(paths, EXAMPLE_POLICY)
    return paths


def label_resources(paths: HostPaths, labels: dict[str, tuple[str, str]] | None = None) -> None:
    from xm_core.files.atomic import atomic_write
    from xm_core.files.resources import render_resource_labels

    paths.resource_labels.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(paths.resource_labels, render_resource_labels(labels or RESOURCE_LABELS))


def loaded_host(root: Path) -> HostPaths:
    """A root with the example policy compiled and loaded, resources labeled,
    and the test configs under <root>/etc/xen."""
    from xm_core.host.model import load_policy

    paths = compile_example(root)
    load_policy(paths, EXAMPLE_POLICY)
    label_resources(paths)
    install_configs(paths)
    return paths


def install_configs(paths: HostPaths) -> None:
    paths.etc_xen.mkdir(parents=True, exist_ok=True)
    for cfg in HOST_DATA.glob("*.cfg"):
        (paths.etc_xen / cfg.stem).write_bytes(cfg.read_bytes())


def snapshot(paths: HostPaths) -> tuple[object, ...]:
    """Everything of the host state a failed command must leave alone."""
    from xm_core.host.store import open_store

    with open_store(paths) as store:
        policy = store.active_policy()
        return (
            [(d.domid, d.name, d.ssidref, d.state) for d in store.domains()],
            [(d.domid, d.kind, d.devid, d.backend) for d in store.devices()],
            store.chwall_counters(16),
            (policy.state, policy.name, policy.binary, policy.generation),
            [store.ste_cache(d.domid) for d in store.domains()],
        )


ACMHOST_SCHEMAS = Path(__file__).resolve().parent / "data" / "acmhost"


def check_schema(doc: Any, name: str) -> None:
    """The documented JSON shape (tests/data/acmhost/<name>.schema.json)."""
    import jsonschema

    schema = json.loads((ACMHOST_SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)


def wide_policy(labels: int, name: str = "wide") -> str:
    """A generated policy written one label a line (as large policies are),
    with `labels` VM and `labels` resource labels sharing STE types across
    Chinese Wall conflict sets (so most labels bridge one), and three labels
    apart: VM labels `wall_a` and `wall_b`, which a conflict set keeps from
    running together, and resource label `res_between`, which shares STE
    type `ste_a` with `wall_a` only: giving `wall_b` that type makes it a
    bridge (ACM030)."""
    ste = [f"ste_{i}" for i in range(max(4, labels // 8))]
    cw = [f"cw_{i}" for i in range(max(4, labels // 16))]
    types = "".join(f"<Type>{t}</Type>\n" for t in [*ste, "ste_a", "ste_b"])
    walls = "".join(f"<Type>{t}</Type>\n" for t in [*cw, "cw_boot", "cw_x", "cw_y"])
    sets = "".join(
        f'<Conflict name="set_{i}"><Type>{cw[i]}</Type><Type>{cw[i + 1]}</Type></Conflict>\n'
        for i in range(0, len(cw) - 1, 2)
    )

    def vm(label: str, stes: list[str], cws: list[str]) -> str:
        return (
            f"<VirtualMachineLabel><Name>{label}</Name><SimpleTypeEnforcementTypes>"
            + "".join(f"<Type>{t}</Type>" for t in stes)
            + "</SimpleTypeEnforcementTypes><ChineseWallTypes>"
            + "".join(f"<Type>{t}</Type>" for t in cws)
            + "</ChineseWallTypes></VirtualMachineLabel>\n"
        )

    def res(label: str, stes: list[str]) -> str:
        return (
            f"<ResourceLabel><Name>{label}</Name><SimpleTypeEnforcementTypes>"
            + "".join(f"<Type>{t}</Type>" for t in stes)
            + "</SimpleTypeEnforcementTypes></ResourceLabel>\n"
        )

    vms = vm("vm_boot", ste, ["cw_boot"])
    vms += "".join(
        vm(f"vm_{i}", [ste[i % len(ste)], ste[(i * 7 + 1) % len(ste)]], [cw[i % len(cw)]])
        for i in range(labels)
    )
    vms += vm("wall_a", ["ste_a"], ["cw_x"]) + vm("wall_b", ["ste_b"], ["cw_y"])
    ress = "".join(res(f"res_{i}", [ste[(i * 3) % len(ste)]]) for i in range(labels))
    ress += res("res_between", ["ste_a"])
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">\n'
        f"<PolicyHeader><PolicyName>{name}</PolicyName></PolicyHeader>\n"
        "<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>\n"
        f"{types}</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>\n"
        "<ChineseWall><ChineseWallTypes>\n"
        f"{walls}</ChineseWallTypes>\n<ConflictSets>\n"
        f'{sets}<Conflict name="walls"><Type>cw_x</Type><Type>cw_y</Type></Conflict>\n'
        "</ConflictSets></ChineseWall>\n"
        '<SecurityLabelTemplate><SubjectLabels bootstrap="vm_boot">\n'
        f"{vms}</SubjectLabels><ObjectLabels>\n{ress}</ObjectLabels></SecurityLabelTemplate>\n"
        "</SecurityPolicyDefinition>\n"
    )
