"""Each domain's console log (`xm console`).

No guest kernel runs in the host model, so the model itself writes the
console: the domain's creation, its devices, the SysRq keys it was sent, the
ACM denials that concern it, pause, reboot, shutdown and destroy. Lines are
kept in the host state (`console` table) under the domain's uuid, written in
the same transaction as the change they report, so a refused change leaves
no line claiming it happened. This module holds the texts and the readers;
the writers call `Host.console(dom, text)` where they act.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xm_core.errors import XmError

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths
    from xm_core.host.store import ConsoleLine, DeviceRecord, DomainRecord, Store

ACM_PREFIX = "ACM: "

# What a Linux guest prints for the usual magic SysRq keys ("SysRq : <action>").
SYSRQ_ACTIONS = {
    "b": "Resetting",
    "c": "Trigger a crash",
    "e": "Terminate All Tasks",
    "h": "HELP",
    "i": "Kill All Tasks",
    "k": "SAK",
    "m": "Show Memory",
    "o": "Power Off",
    "p": "Show Regs",
    "s": "Emergency Sync",
    "t": "Show State",
    "u": "Emergency Remount R/O",
}


# ------------------------------------------------------------------ texts


def created_text(dom: DomainRecord) -> str:
    label = f"label {dom.label} (policy {dom.policy})" if dom.label else "unlabeled"
    vcpus = f"{dom.vcpus} VCPU" + ("s" if dom.vcpus != 1 else "")
    return (
        f"Domain '{dom.name}' (id {dom.domid}) created: {dom.memory} MiB, {vcpus}, "
        f"{label}, ssidref 0x{dom.ssidref:08x}"
    )


def connected_text(dev: DeviceRecord, backend_name: str) -> str:
    if dev.kind == "vif":
        what = f"bridge {dev.params.get('bridge', 'xenbr0')}, mac {dev.params.get('mac', '?')}"
    else:
        what = f"{dev.resource or dev.written} ({dev.mode})"
    backend = f"backend '{backend_name}' (id {dev.backend})"
    return f"{dev.kind} {dev.frontend} connected: {what}, {backend}"


def disconnected_text(dev: DeviceRecord, why: str = "") -> str:
    return f"{dev.kind} {dev.frontend} disconnected" + (f": {why}" if why else "")


def denied_text(message: str) -> str:
    """An ACM denial concerning the domain."""
    return ACM_PREFIX + message


def sysrq_text(key: str) -> str:
    return f"SysRq : {SYSRQ_ACTIONS.get(key, f'key {key!r} (no action)')}"


def domain_text(dom: DomainRecord, why: str) -> str:
    return f"Domain '{dom.name}' (id {dom.domid}) {why}"


# ------------------------------------------------------------------ shared writers


def record_blocked_create(store: Store, name: str, blockers: dict[int, str]) -> None:
    """A create the Chinese Wall refused: every running domain that blocked
    it learns on its console (domid -> the conflicting type)."""
    for domid, type_name in sorted(blockers.items()):
        dom = store.find_domain(domid)
        if dom is not None:
            store.add_console_line(
                dom.uuid,
                dom.domid,
                denied_text(
                    f"Chinese Wall refused to start domain '{name}': its type '{type_name}' "
                    "conflicts with a type of this domain"
                ),
            )


# ------------------------------------------------------------------ readers


@dataclass
class ConsoleLog:
    """A domain's console lines (those after `after`)."""

    domain: DomainRecord
    lines: list[ConsoleLine]

    @property
    def last_seq(self) -> int:
        return self.lines[-1].seq if self.lines else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "domid": self.domain.domid,
            "name": self.domain.name,
            "uuid": self.domain.uuid,
            "lines": [console_line_dict(line) for line in self.lines],
        }


def console_line_dict(line: ConsoleLine) -> dict[str, Any]:
    return {"seq": line.seq, "time": line.at, "domid": line.domid, "text": line.text}


def read_console(paths: HostPaths, ref: str) -> ConsoleLog:
    """`xm console DOMAIN`: the domain's console log so far."""
    from xm_core.host.store import open_store

    with open_store(paths) as store, store.read():
        dom = store.domain(ref)
        if dom.domid == 0:
            raise XmError("Domain-0 has no console in the host model; see `xm dmesg`.")
        return ConsoleLog(dom, store.console_lines(dom.uuid))


class ConsoleFollower:
    """Polls one domain's console log for new lines, like `tail -f`. The
    domain is followed by its uuid, so a reboot (new id) or a rename keeps
    it; `poll` returns None for the domain once it is gone."""

    def __init__(self, paths: HostPaths, log: ConsoleLog) -> None:
        from xm_core.host.store import open_store

        self.store = open_store(paths)
        self.uuid = log.domain.uuid
        self.after = log.last_seq

    def poll(self) -> tuple[list[ConsoleLine], DomainRecord | None]:
        store = self.store
        with store.read():
            lines = store.console_lines(self.uuid, self.after)
            dom = store.domain_by_uuid(self.uuid)
        if lines:
            self.after = lines[-1].seq
        return lines, dom

    def close(self) -> None:
        self.store.close()
