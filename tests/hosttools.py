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
