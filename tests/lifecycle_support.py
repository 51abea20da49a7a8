"""What the policy-update tests share: policies written from a small
description (labels, their types, conflict sets, renames, an optional
version), a host root, and a snapshot of everything an update may change
(the store's policy, domains and counters; the resource label file; the
domain configs)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from xm_core.files.paths import HostPaths

COLOURS = ("red", "green", "blue")


@dataclass
class PolicySpec:
    """A policy in one folder of the tree: every VM label has its own STE and
    Chinese Wall type; `res` labels one STE type each; SystemManagement
    (the bootstrap) holds every STE type."""

    name: str
    vm: list[str] = field(default_factory=lambda: list(COLOURS))
    res: list[str] = field(default_factory=lambda: list(COLOURS))
    conflicts: list[list[str]] = field(default_factory=lambda: [["red", "blue"]])
    version: str | None = None
    from_policy: tuple[str, str] | None = None
    vm_from: dict[str, str] = field(default_factory=dict)  # new name -> old name
    res_from: dict[str, str] = field(default_factory=dict)
    type_of: dict[str, str] = field(default_factory=dict)  # label -> type (default: itself)

    def t(self, label: str) -> str:
        return self.type_of.get(label, label)

    def xml(self) -> str:
        types = sorted({self.t(x) for x in self.vm} | {self.t(x) for x in self.res})
        ste_types = ["SystemManagement", *types]

        def ty(names: list[str]) -> str:
            return "".join(f"<Type>{n}</Type>" for n in names)

        header = f"<PolicyName>{self.name}</PolicyName>"
        if self.version is not None:
            header += f"<Version>{self.version}</Version>"
        if self.from_policy is not None:
            header += (
                f"<FromPolicy><PolicyName>{self.from_policy[0]}</PolicyName>"
                f"<Version>{self.from_policy[1]}</Version></FromPolicy>"
            )

        def name(label: str, renames: dict[str, str]) -> str:
            old = renames.get(label)
            return f'<Name from="{old}">{label}</Name>' if old else f"<Name>{label}</Name>"

        vms = "".join(
            f"<VirtualMachineLabel>{name(v, self.vm_from)}"
            f"<SimpleTypeEnforcementTypes>{ty([self.t(v)])}</SimpleTypeEnforcementTypes>"
            f"<ChineseWallTypes>{ty([self.t(v)])}</ChineseWallTypes></VirtualMachineLabel>"
            for v in self.vm
        )
        ress = "".join(
            f"<ResourceLabel>{name(r, self.res_from)}"
            f"<SimpleTypeEnforcementTypes>{ty([self.t(r)])}</SimpleTypeEnforcementTypes>"
            "</ResourceLabel>"
            for r in self.res
        )
        sets = "".join(
            f'<Conflict name="C{i}">{ty([self.t(x) for x in c])}</Conflict>'
            for i, c in enumerate(self.conflicts)
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<SecurityPolicyDefinition xmlns="http://www.ibm.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.ibm.com ../../security_policy.xsd">'
            f"<PolicyHeader>{header}</PolicyHeader>"
            f"<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>{ty(ste_types)}"
            "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>"
            '<ChineseWall priority="PrimaryPolicyComponent"><ChineseWallTypes>'
            f"{ty(ste_types)}</ChineseWallTypes>"
            + (f"<ConflictSets>{sets}</ConflictSets>" if sets else "")
            + "</ChineseWall>"
            '<SecurityLabelTemplate><SubjectLabels bootstrap="SystemManagement">'
            "<VirtualMachineLabel><Name>SystemManagement</Name>"
            f"<SimpleTypeEnforcementTypes>{ty(ste_types)}</SimpleTypeEnforcementTypes>"
            "<ChineseWallTypes><Type>SystemManagement</Type></ChineseWallTypes>"
            f"</VirtualMachineLabel>{vms}</SubjectLabels>"
            f"<ObjectLabels>{ress}</ObjectLabels></SecurityLabelTemplate>"
            "</SecurityPolicyDefinition>\n"
        )

    def write(self, paths: HostPaths) -> Path:
        xml = Path(paths.policy_files(self.name).xml)
        xml.parent.mkdir(parents=True, exist_ok=True)
        xml.write_text(self.xml())
        return xml


@dataclass(frozen=True)
class HostSnapshot:
    policy: tuple[object, ...]
    domains: tuple[tuple[object, ...], ...]
    counters: tuple[tuple[object, ...], ...]
    devices: tuple[tuple[object, ...], ...]
    resource_file: bytes | None
    configs: tuple[tuple[str, bytes], ...]


def snapshot(paths: HostPaths, with_generation: bool = True) -> HostSnapshot:
    """Everything an update may change, read straight from the files."""
    conn = sqlite3.connect(str(paths.state_db))
    try:
        cols = "state, name, binary, map, extra" + (", generation" if with_generation else "")
        policy = tuple(conn.execute(f"SELECT {cols} FROM policy").fetchone())
        domains = tuple(
            tuple(r)
            for r in conn.execute(
                "SELECT domid, name, ssidref, policy, label, state FROM domains ORDER BY domid"
            )
        )
        counters = tuple(tuple(r) for r in conn.execute("SELECT * FROM chwall_counters ORDER BY 1"))
        devices = tuple(tuple(r) for r in conn.execute("SELECT * FROM devices ORDER BY 1, 2, 3"))
    finally:
        conn.close()
    res = paths.resource_labels
    configs = tuple(
        (p.name, p.read_bytes()) for p in sorted(paths.etc_xen.glob("*.cfg")) if p.is_file()
    )
    return HostSnapshot(
        policy,
        domains,
        counters,
        devices,
        res.read_bytes() if res.exists() else None,
        configs,
    )


def write_config(paths: HostPaths, name: str, policy: str, label: str | None) -> Path:
    """A domain config under <root>/etc/xen, labeled as addlabel writes it."""
    from xm_core.files.config import access_control_line

    paths.etc_xen.mkdir(parents=True, exist_ok=True)
    path = paths.etc_xen / f"{name}.cfg"
    lines = [f'name = "{name}"', "memory = 32"]
    if label is not None:
        lines.append(access_control_line(policy, label))
    path.write_text("\n".join(lines) + "\n")
    return path
