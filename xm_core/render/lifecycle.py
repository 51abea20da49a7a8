"""Output of the life-cycle commands: `vcpu-list` in Xen's format, and the
`--json` documents.

JSON documents (stable keys):
- `vcpu-list`: {"vcpus": [{"name", "domid", "vcpu", "cpu" (null when
  offline), "online", "state", "cpu_time", "affinity": [cpus]}, ...]}
- `restore --json` / `resume --json` / `migrate --json`: {"name",
  "domid", ...} (see the result's `as_dict`).
- `suspend --json`: {"name", "suspended": true}.
- `dump-core --json`: {"name", "domid", "file", "destroyed"}.
"""

# Xen's own printf-style formats are kept verbatim: they are the contract.
# ruff: noqa: UP031

from __future__ import annotations

from typing import Any

from xm_core.host.lifecycle import MigrateResult, VcpuList
from xm_core.render import emit_json, out

VCPU_HEADER = "%-32s %3s %5s %5s %5s %9s %s" % (
    "Name",
    "ID",
    "VCPU",
    "CPU",
    "State",
    "Time(s)",
    "CPU Affinity",
)
VCPU_ROW = "%(name)-32s %(domid)3d %(number)5d %(c)5s %(s)5s %(cpu_time)7.1f  %(cpumap)s"


def vcpu_list(result: VcpuList, as_json: bool = False) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    out(VCPU_HEADER)
    for v in result.vcpus:
        out(
            VCPU_ROW
            % {
                "name": v.name,
                "domid": v.domid,
                "number": v.number,
                "c": "-" if v.cpu is None else str(v.cpu),
                "s": v.state,
                "cpu_time": v.cpu_time,
                "cpumap": v.affinity_text,
            }
        )


def restored(outcome: Any, as_json: bool = False) -> None:
    """Silent, as Xen's `xm restore`; `--json` gives create's document."""
    if as_json:
        emit_json(outcome.as_dict())


def migrated(result: MigrateResult, as_json: bool = False) -> None:
    """Silent, as Xen's `xm migrate`."""
    if as_json:
        emit_json(result.as_dict())


def suspended(saved: Any, as_json: bool = False) -> None:
    """Silent, as Xen's `xm suspend`."""
    if as_json:
        emit_json({"name": saved.name, "suspended": True})


def core_dumped(dump: Any, as_json: bool = False) -> None:
    """Xen's progress lines: `Dumping core of domain: <dom> ...` (and
    `Destroying domain: <dom> ...` after -C)."""
    if as_json:
        emit_json(dump.as_dict())
        return
    out(f"Dumping core of domain: {dump.name} ...")
    if dump.crashed:
        out(f"Destroying domain: {dump.name} ...")
