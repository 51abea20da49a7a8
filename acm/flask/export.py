"""`export_flask`: everything `xm acm flask` writes for one policy, as
texts and records (the studio shows the same).

Files, all named after the module (`acm_<policy>`):
`<module>.te` (the module), `modules.conf` line `<module> = on`,
`<module>.mapping` (ACM name -> FLASK name, tab-separated),
`<module>-cw-guard` (the Chinese Wall guard) and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from acm.analysis.loader import AnalysisPolicy
from acm.errors import escape_controls
from acm.flask.guard import guard_file_name, guard_program
from acm.flask.module import module_text, modules_conf_line
from acm.flask.naming import DOM0_TYPE, seclabel
from acm.flask.plan import FlaskPlan, build_plan
from acm.flask.report import Carried, ReportItem, SourceLines, build_report
from acm.source import PolicySource


class MappedName(NamedTuple):
    """One row of the mapping table."""

    kind: str  # "vm", "res", "ste", "chwall", "domain-0"
    acm: str
    flask: str
    seclabel: str  # the `seclabel=` value for a VM label, "" otherwise

    def as_dict(self) -> dict[str, str]:
        return self._asdict()


@dataclass(frozen=True)
class FlaskExport:
    policy: str
    module_name: str
    module: str  # the .te text
    modules_conf: str  # its modules.conf line
    mapping: tuple[MappedName, ...]
    report: tuple[ReportItem, ...]
    guard: str  # the guard program's text
    guard_name: str
    plan: FlaskPlan

    @property
    def seclabels(self) -> dict[str, str]:
        """VM label name -> the `seclabel=` value xl reads."""
        return {m.acm: m.seclabel for m in self.mapping if m.kind == "vm"}

    def mapping_text(self) -> str:
        rows = ["# kind\tACM name\tFLASK name\tseclabel"]
        rows += [
            "\t".join((m.kind, escape_controls(m.acm), m.flask, m.seclabel)) for m in self.mapping
        ]
        return "\n".join(rows) + "\n"

    def files(self) -> dict[str, str]:
        """File name -> text of everything the export writes (the report aside)."""
        return {
            f"{self.module_name}.te": self.module,
            f"{self.module_name}.modules.conf": self.modules_conf + "\n",
            f"{self.module_name}.mapping": self.mapping_text(),
            self.guard_name: self.guard,
        }

    def counts(self) -> dict[str, int]:
        found = {c.value: 0 for c in Carried}
        for item in self.report:
            found[item.status.value] += 1
        return found

    def summary(self) -> str:
        n = self.counts()
        vms = sum(1 for m in self.mapping if m.kind == "vm")
        return (
            f"policy '{self.policy}': module {self.module_name}, {vms} domain types; "
            f"{n['carried']} carried, {n['approximate']} approximate, "
            f"{n['not-expressible']} not expressible"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "module": self.module_name,
            "modules_conf": self.modules_conf,
            "mapping": [m.as_dict() for m in self.mapping],
            "report": [r.as_dict() for r in self.report],
            "guard": self.guard_name,
            "counts": self.counts(),
        }


def _mapping(plan: FlaskPlan) -> list[MappedName]:
    rows = [
        MappedName("vm", vm.label.name, vm.flask_type, seclabel(vm.flask_type)) for vm in plan.vms
    ]
    if plan.bootstrap is not None:
        rows.append(
            MappedName("domain-0", plan.bootstrap.label.name, DOM0_TYPE, seclabel(DOM0_TYPE))
        )
    rows += [MappedName("res", r.label.name, r.flask_type, "") for r in plan.resources]
    policy = plan.policy
    rows += [
        MappedName("ste", n, plan.ste_attributes[t], "") for t, n in enumerate(policy.ste_types)
    ]
    rows += [
        MappedName("chwall", n, plan.cw_attributes[t], "")
        for t, n in enumerate(policy.chwall_types)
    ]
    return rows


def export_flask(policy: AnalysisPolicy, source: PolicySource | None = None) -> FlaskExport:
    """The FLASK export of `policy`: module text, modules.conf line, mapping
    table, report records (with lines when `source`, the parsed XML, is
    given) and the guard program's text. Pure: nothing is written."""
    plan = build_plan(policy)
    return FlaskExport(
        policy.name,
        plan.module,
        module_text(plan),
        modules_conf_line(plan),
        tuple(_mapping(plan)),
        tuple(build_report(plan, SourceLines(policy, source))),
        guard_program(plan),
        guard_file_name(plan),
        plan,
    )


def load_for_export(path: str | Path) -> tuple[AnalysisPolicy, PolicySource | None]:
    """A policy file (XML, or `.bin` with its `.map`) with its parsed source
    when it is XML, for the report's lines."""
    from acm.analysis.loader import load_policy_file

    policy = load_policy_file(path)
    source = None
    if Path(path).suffix not in (".bin", ".map"):
        from acm.source import read_policy_source

        source = read_policy_source(str(path))
    return policy, source
