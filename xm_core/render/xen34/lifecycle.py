"""Output of the versioned lifecycle commands (Xen 3.4): `setpolicy` (and
its `--dry-run`), `getpolicy`, `resetpolicy`, `addlabel/getlabel ... mgt`
and `vif-N`.

JSON documents (stable keys):
- `setpolicy`: UpdatePlan.as_dict() plus "set", "boot", "boot_note", "problems";
  `--dry-run`: UpdatePlan.as_dict() plus "set": false, "refusal"
- `getpolicy`: PolicyInfo.as_dict()
- `resetpolicy`: {"previous", "invalidated": [resources], "note"}
- `addlabel ... mgt`: Relabelled.as_dict()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xm_core.render import emit_json, out, printable

if TYPE_CHECKING:
    from xm_core.host.update.apply import ResetResult, SetPolicyResult
    from xm_core.host.update.plan import UpdatePlan
    from xm_core.host.update.relabel import Relabelled
    from xm_core.host.update.status import PolicyInfo

SUBSYSTEMS = "Supported security subsystems   : "


def getpolicy(info: PolicyInfo, as_json: bool = False) -> None:
    """Xen 3.4's `display_policy_info`, field for field."""
    if as_json:
        emit_json(info.as_dict())
        return
    if not info.loaded:
        out(f"{SUBSYSTEMS}None \n\n")
        out("No policy is installed.")
        return
    out(f"{SUBSYSTEMS}ACM \n\n")
    out(f"Policy name           : {printable(info.name)}")
    out("Policy type           : ACM")
    out(f"Version of XML policy : {printable(info.version)}")
    state = ["loaded"] + (["activated for boot"] if info.boot else [])
    out(f"Policy configuration  : {', '.join(state)}")
    if info.xml is not None:
        out(info.xml)


def setpolicy(result: SetPolicyResult, info: PolicyInfo, as_json: bool = False) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    out("Successfully set the new policy.")
    for line in plan_lines(result.plan, applied=True):
        out(line)
    getpolicy(info)
    if result.boot_note:
        out(f"Note: not activated for boot: {printable(result.boot_note)}")
    for problem in result.problems:
        out(f"Warning: {printable(problem)}")


def loaded_versioned(plan: UpdatePlan, as_json: bool = False) -> None:
    """`loadpolicy` of a versioned policy: what the update changed."""
    if as_json:
        doc = plan.as_dict()
        doc["loaded"] = True
        emit_json(doc)
        return
    version = f" version {plan.new_version}" if plan.new_version else ""
    out(f"Policy {printable(plan.new_name)}{version} loaded (was {printable(plan.old_name)}).")
    for line in plan_lines(plan, applied=True):
        out(line)


def plan_lines(plan: UpdatePlan, applied: bool) -> list[str]:
    """Each running domain and labeled resource the update changes."""
    lines: list[str] = []
    changed = plan.changed_domains
    if changed:
        lines.append(f"Running domains whose label {'changed' if applied else 'would change'}:")
        for d in changed:
            lines.append(
                f"  {printable(d.name)} (id {d.domid}): {printable(d.old_label or '')} -> "
                f"{printable(d.new_label or '(none)')} ({d.status}, ssidref "
                f"0x{d.old_ssidref:08x} -> 0x{d.new_ssidref:08x})"
            )
    if plan.resources:
        lines.append(f"Resource labels that {'changed' if applied else 'would change'}:")
        lines += [
            _moved(printable(r.target), r.as_dict(), f" ({r.status})") for r in plan.resources
        ]
    if plan.vifs:
        lines.append(f"Interface labels that {'changed' if applied else 'would change'}:")
        lines += [_moved(f"domain {v.domid} vif-{v.devid}", v.as_dict()) for v in plan.vifs]
    if plan.configs:
        lines.append(f"Domain configs {'relabeled' if applied else 'that would be relabeled'}:")
        lines += [_moved(printable(c.target), c.as_dict()) for c in plan.configs]
    if plan.configs_left:
        lines.append(
            f"Running domains whose config {'was' if applied else 'would be'} not relabeled:"
        )
        lines += [f"  {printable(c.target)}: {printable(c.why)}" for c in plan.configs_left]
    if plan.images:
        lines.append(f"Saved images {'relabeled' if applied else 'that would be relabeled'}:")
        lines += [_moved(printable(i.target), i.as_dict()) for i in plan.images]
    if plan.images_left:
        lines.append(f"Saved images {'' if applied else 'that would be '}left as they are:")
        lines += [f"  {printable(i.target)}: {printable(i.why)}" for i in plan.images_left]
    return lines


def _moved(where: str, shown: dict[str, Any], status: str = "") -> str:
    """One relabelled resource, interface or config: where, old -> new."""
    return f"  {where}: {printable(shown['old'])} -> {printable(shown['new'])}{status}"


def dry_run(plan: UpdatePlan | None, refusal: str, details: list[str], as_json: bool) -> None:
    """`setpolicy --dry-run`: what the update would do; nothing was changed."""
    if as_json:
        doc = plan.as_dict() if plan is not None else {}
        doc.update({"set": False, "refusal": refusal, "details": list(details)})
        emit_json(doc)
        return
    if plan is not None:
        version = f" version {plan.new_version}" if plan.new_version else ""
        old = f" version {plan.old_version}" if plan.old_version else ""
        out(
            f"Policy update {printable(plan.old_name)}{old} -> "
            f"{printable(plan.new_name)}{version} (dry run, nothing changed):"
        )
        out(f"  {len(plan.domains)} domain(s) and {plan.devices_checked} device(s) re-checked")
    if refusal:
        out(f"Would be REFUSED: {printable(refusal)}")
        for line in details:
            out(f"  {printable(line.strip())}")
    elif plan is not None:
        out("Would succeed: no running domain or resource breaks.")
    if plan is not None:
        for line in plan_lines(plan, applied=False):
            out(line)


def resetpolicy(result: ResetResult, as_json: bool = False) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    out("Successfully reset the system's policy.")
    if result.note:
        out(result.note)


def relabelled(result: Relabelled, as_json: bool = False) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    # Xen 3.4 printed this line with an extra line break
    out(
        f"Successfully set the label of domain '{printable(result.name)}' to "
        f"'{printable(result.label)}'.\n\n"
    )


def label_string(text: str) -> None:
    out(printable(text))
