"""What the export carried over, mapped approximately, or cannot express,
each with the ACM element's place (file:line) in the policy source."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from acm.analysis.loader import AnalysisPolicy
from acm.flask.naming import DOM0_TYPE, seclabel
from acm.flask.plan import FlaskPlan
from acm.source import PolicySource


class Carried(StrEnum):
    EXACT = "carried"
    APPROXIMATE = "approximate"
    NOT_EXPRESSIBLE = "not-expressible"


class ReportItem(NamedTuple):
    status: Carried
    element: str  # "VM label 'dom_Fun'"
    location: str  # "policy.xml:42", the file alone when lines are unknown
    flask: str  # what it became ("" when nothing)
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "element": self.element,
            "location": self.location,
            "flask": self.flask,
            "note": self.note,
        }


class SourceLines:
    """Lines of the ACM elements, when the policy was read from its XML."""

    def __init__(self, policy: AnalysisPolicy, source: PolicySource | None) -> None:
        self.file = source.file if source is not None else policy.origin
        self.vm: dict[str, int] = {}
        self.res: dict[str, int] = {}
        self.ste: dict[str, int] = {}
        self.cw: dict[str, int] = {}
        self.sets: list[int] = []
        self.bootstrap = 0
        if source is None:
            return
        for lab in source.vm_labels:
            self.vm.setdefault(lab.name.text, lab.name.line)
        for lab in source.res_labels:
            self.res.setdefault(lab.name.text, lab.name.line)
        if source.ste is not None:
            self.ste = {t.text: t.line for t in source.ste.types}
        if source.chwall is not None:
            self.cw = {t.text: t.line for t in source.chwall.types}
            self.sets = [c.line for c in source.chwall.conflict_sets]
        if source.bootstrap is not None:
            self.bootstrap = source.bootstrap.line

    def at(self, line: int) -> str:
        return f"{self.file}:{line}" if line else self.file


STOCK_NOTES = (
    (
        "Xen's stock module guest_features",
        "argo between domains",
        "guest_features.te allows every domain type to send to every other over Argo; "
        "ACM never knew Argo. Leave Argo off (Xen's default: no `argo` boot option) or "
        "remove that line from guest_features.te.",
    ),
    (
        "Xen's stock module xenstore",
        "xenstore_t",
        "the xenstore domain (when used) talks to every domain type, as Domain-0's "
        "xenstored did under ACM.",
    ),
)


def build_report(plan: FlaskPlan, lines: SourceLines) -> list[ReportItem]:
    policy = plan.policy
    items: list[ReportItem] = []
    add = items.append
    for t, name in enumerate(policy.ste_types):
        add(
            ReportItem(
                Carried.EXACT,
                f"STE type '{name}'",
                lines.at(lines.ste.get(name, 0)),
                plan.ste_attributes[t],
                "an attribute of the domain types holding it (and "
                f"{plan.ste_res_attributes[t]} of the resource types)",
            )
        )
    for t, name in enumerate(policy.chwall_types):
        add(
            ReportItem(
                Carried.EXACT,
                f"Chinese Wall type '{name}'",
                lines.at(lines.cw.get(name, 0)),
                plan.cw_attributes[t],
                "an attribute of the domain types holding it, for the neverallow rules",
            )
        )
    for c, members in enumerate(policy.conflict_sets):
        where = lines.at(lines.sets[c] if c < len(lines.sets) else 0)
        title = policy.conflict_set_title(c)
        names = ", ".join(policy.chwall_names(members))
        add(
            ReportItem(
                Carried.EXACT,
                f"conflict set {title} ({names})",
                where,
                "neverallow rules",
                "labels holding different types of the set never share event channels "
                "or grants; checkpolicy rejects any rule that would let them",
            )
        )
        add(
            ReportItem(
                Carried.APPROXIMATE,
                f"conflict set {title} at run time",
                where,
                "the Chinese Wall guard",
                "FLASK decisions keep no state of running domains: the guard, run before "
                "`xl create`, refuses a domain whose Chinese Wall types conflict with a "
                "running one, as ACM's create hook did; a domain started without the "
                "guard is not checked",
            )
        )
    for vm in plan.vms:
        lab = vm.label
        where = lines.at(lines.vm.get(lab.name, 0))
        element = f"VM label '{lab.name}'"
        if not vm.declared:
            add(
                ReportItem(
                    Carried.APPROXIMATE,
                    element,
                    where,
                    seclabel(vm.flask_type),
                    "domains without a label: ACM refused to create them under a Chinese "
                    "Wall or STE policy (SSID 0); xl starts a domain without seclabel as "
                    "domU_t, under Xen's stock domU.te rules: it talks with Domain-0 and "
                    "other domU_t domains, never with the policy's labels",
                )
            )
        elif not vm.startable:
            add(
                ReportItem(
                    Carried.EXACT,
                    element,
                    where,
                    seclabel(vm.flask_type),
                    f"declared without any right: it can never run under ACM ({vm.why_not})",
                )
            )
        else:
            cut = (
                f"; {len(vm.excluded_groups)} Chinese Wall group(s) it never runs with taken out"
                if vm.excluded_groups
                else ""
            )
            add(
                ReportItem(
                    Carried.EXACT,
                    element,
                    where,
                    seclabel(vm.flask_type),
                    "event channels and grants with the labels sharing an STE type"
                    f"{cut}; Domain-0 may create and manage it",
                )
            )
    boot = plan.bootstrap
    if boot is not None:
        add(
            ReportItem(
                Carried.APPROXIMATE,
                f"bootstrap label '{boot.label.name}' (Domain-0)",
                lines.at(lines.bootstrap),
                seclabel(DOM0_TYPE),
                f"Domain-0 runs as Xen's {DOM0_TYPE} and holds {boot.flask_type}'s "
                "attributes besides; Xen's own dom0.te gives it more (device and "
                "hypervisor administration) than ACM's label said",
            )
        )
    for res in plan.resources:
        where = lines.at(lines.res.get(res.label.name, 0))
        element = f"resource label '{res.label.name}'"
        add(
            ReportItem(
                Carried.EXACT,
                element + " on a PCI device",
                where,
                f"system_u:object_r:{res.flask_type}",
                "a resource type; label the device with it (`pcidevicecon` in the "
                "policy's device_contexts, or `flask-label-pci`); domains sharing an "
                "STE type may use it through the IOMMU",
            )
        )
        add(
            ReportItem(
                Carried.NOT_EXPRESSIBLE,
                element + " on a disk, file or vlan",
                where,
                "",
                "FLASK labels no disk, file or network: check in the toolstack instead "
                "(before `xl create`, the domain's label must share an STE type with "
                "each disk's and bridge's label, as `xm acm explain CONFIG` shows on the "
                "ACM host), and keep backend access in Domain-0's own permissions",
            )
        )
    for element, flask, note in STOCK_NOTES:
        add(ReportItem(Carried.NOT_EXPRESSIBLE, element, lines.file, flask, note))
    return items
