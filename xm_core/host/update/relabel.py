"""Labels of running domains and of their network interfaces, as Xen 3.4
managed them: `xm addlabel LABEL mgt DOMAIN`, `getlabel mgt`, `rmlabel
mgt`, and `vif-N` in place of `mgt`.

A running (or paused) domain, Domain-0 included, takes a new label only
when the engine finds the whole running set legal with it: no Chinese
Wall conflict with any other domain, every frontend/backend connection of
it (and, for Domain-0, of every domain it serves) sharing an STE type, and
every resource it has attached still accessible. Otherwise it is refused
with every reason, and nothing changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xm_core.errors import AcmError, UsageError, XmError
from xm_core.host.store import PolicyState
from xm_core.host.update.plan import ACM_POLICY_ID, VIF_LABEL, format_label

if TYPE_CHECKING:
    from acm.engine import Violation
    from xm_core.files.paths import HostPaths
    from xm_core.host.model import Host, LoadedPolicy
    from xm_core.host.store import DomainRecord


@dataclass(frozen=True)
class Relabelled:
    domid: int
    name: str
    policy: str
    old_label: str | None
    label: str
    old_ssidref: int
    ssidref: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "domid": self.domid,
            "name": self.name,
            "old_label": None
            if self.old_label is None
            else format_label(self.policy, self.old_label),
            "label": format_label(self.policy, self.label),
            "old_ssidref": self.old_ssidref,
            "ssidref": self.ssidref,
        }


def vif_index(kind: str) -> int | None:
    """N of `vif-N`; None for another kind; UsageError for a bad N."""
    if not kind.lower().startswith("vif-"):
        return None
    digits = kind[4:]
    if not digits.isdigit() or len(digits) > 4:
        raise UsageError("Bad VIF device index.")
    return int(digits)


def policy_argument(paths_policy: str | None, active: str) -> str:
    """The optional `[<policy type>:]<policy>` of a mgt/vif label: it must
    name the active policy (a running domain has no other)."""
    if paths_policy is None:
        return active
    parts = paths_policy.split(":")
    if len(parts) != 2:
        raise UsageError("Policy name in wrong format.")
    kind, name = parts
    if kind != ACM_POLICY_ID:
        raise XmError(f"Unsupported policytype '{kind}'.")
    if name != active:
        raise AcmError(
            f"An error occurred relabeling the domain: The policy has an invalid name. "
            f"('{name}' is not the active policy '{active}')"
        )
    return name


def _active(host: Host) -> LoadedPolicy:
    policy = host.policy()
    if policy is None:
        state, _ = host.policy_state()
        raise XmError(f"No policy is loaded (active policy: {state.value}).")
    return policy


def relabel_domain(
    paths: HostPaths, label: str, ref: str, policy_arg: str | None = None
) -> Relabelled:
    """`xm addlabel LABEL mgt DOMAIN [ACM:POLICY]`."""
    from acm.engine import RunningDomain
    from xm_core.host.model import Host

    with Host(paths) as host:
        labels = host.resource_labels()
        with host.store.write():
            store = host.store
            policy = _active(host)
            policy_argument(policy_arg, policy.name)
            dom = store.domain(ref)
            try:
                new_ref = host.dom_ssidref(policy, label)
            except XmError:
                raise AcmError(
                    "An error occurred relabeling the domain: The label is bad. "
                    f"(Label '{label}' not found in policy '{policy.name}'.)"
                ) from None
            running = [
                RunningDomain(d.domid, d.name, new_ref if d.domid == dom.domid else d.ssidref)
                for d in store.domains()
            ]
            connections, uses = host.attachments(policy, labels, store.devices())
            checked = policy.engine.revalidate(running, connections, uses)
            if checked.violations:
                raise _refusal(dom, label, checked.violations)
            assert checked.counters is not None
            store.update_domain(dom.domid, ssidref=new_ref, policy=policy.name, label=label)
            store.set_chwall_counters(checked.counters.running, checked.counters.aggregate)
            store.clear_ste_caches()  # decisions were cached under the old ssidref
            host.log(
                f"Domain {dom.name} (id {dom.domid}) relabeled: {dom.label or '(none)'} -> "
                f"{label} (ssidref 0x{dom.ssidref:08x} -> 0x{new_ref:08x})"
            )
            host.dmesg(f"acm_relabel_domain: domain {dom.domid} ssidref 0x{new_ref:08x}.")
    return Relabelled(dom.domid, dom.name, policy.name, dom.label, label, dom.ssidref, new_ref)


def _refusal(dom: DomainRecord, label: str, violations: list[Violation]) -> AcmError:
    from acm.engine import ViolationKind

    conflict = any(v.kind is ViolationKind.CHWALL for v in violations)
    reason = "VM label conflicts with another VM" if conflict else "Error accessing resource"
    return AcmError(
        f"An error occurred relabeling the domain: {reason}. "
        f"(Domain '{dom.name}' keeps label '{dom.label}'; label '{label}' would break "
        f"{len(violations)} rule(s).)",
        [f"  [{v.kind.value}] {v.message}" for v in violations],
    )


def domain_label(paths: HostPaths, ref: str) -> str:
    """`xm getlabel mgt DOMAIN`: `ACM:POLICY:LABEL`."""
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.read():
        dom = host.store.domain(ref)
        state, _ = host.policy_state()
        if state is not PolicyState.NAMED or not dom.label or not dom.policy:
            raise XmError("Domain not labeled")
        return format_label(dom.policy, dom.label)


def remove_running_label(paths: HostPaths, ref: str) -> None:
    """`xm rmlabel mgt DOMAIN`: a running domain keeps a label while a
    policy is enforced (Xen 3.4: the VM is in the wrong state)."""
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.read():
        dom = host.store.domain(ref)
        state, _ = host.policy_state()
        if state is not PolicyState.NAMED or not dom.label:
            raise XmError("Domain not labeled")
        raise AcmError(
            "An error occurred removing the label: Operation not permitted - the VM is in "
            f"the wrong state. (Domain '{dom.name}' runs under policy '{dom.policy}'; a "
            "running domain keeps a label. Use 'xm rmlabel dom' on its config.)"
        )


# ------------------------------------------------------------------ vif-N


def _vif(host: Host, dom: DomainRecord, index: int) -> Any:
    from xm_core.host.devices import VIF

    vifs = sorted(host.store.devices(dom.domid, VIF), key=lambda d: d.devid)
    if index >= len(vifs):
        raise UsageError("Bad VIF index.")
    return vifs[index]


def label_vif(
    paths: HostPaths, label: str, index: int, ref: str, policy_arg: str | None = None
) -> str:
    """`xm addlabel LABEL vif-N DOMAIN`: the domain's N-th network interface
    takes a resource label; the domain must be able to use it."""
    from acm.errors import PolicyError
    from acm.ssidref import label_to_ssidref
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.write():
        policy = _active(host)
        policy_argument(policy_arg, policy.name)
        dom = host.store.domain(ref)
        vif = _vif(host, dom, index)
        try:
            res_ref = label_to_ssidref(policy.map, label, "res")
        except PolicyError:
            raise AcmError(f"Could not label the VIF: Label '{label}' not found.") from None
        decision = policy.engine.check_resource(
            dom.ssidref, f"vif-{index}", label, policy.engine.ste_ssid(res_ref) or 0
        )
        if not decision.permitted:
            raise AcmError(
                f"Could not label the VIF: domain '{dom.name}' may not use label '{label}' "
                f"({decision.message})."
            )
        text = format_label(policy.name, label)
        params = dict(vif.params)
        params[VIF_LABEL] = text
        host.store.remove_device(vif.domid, vif.kind, vif.devid)
        host.store.add_device(dataclasses.replace(vif, params=params))
        host.log(f"Domain {dom.name} (id {dom.domid}) vif-{index} labeled {text}")
        return text


def vif_label(paths: HostPaths, index: int, ref: str) -> str:
    """`xm getlabel vif-N DOMAIN`: the interface's label, `` when it has none."""
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.read():
        dom = host.store.domain(ref)
        return str(_vif(host, dom, index).params.get(VIF_LABEL, ""))


def unlabel_vif(paths: HostPaths, index: int, ref: str) -> None:
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        vif = _vif(host, dom, index)
        if VIF_LABEL not in vif.params:
            raise XmError("VIF not labeled")
        params = {k: v for k, v in vif.params.items() if k != VIF_LABEL}
        host.store.remove_device(vif.domid, vif.kind, vif.devid)
        host.store.add_device(dataclasses.replace(vif, params=params))


__all__ = [
    "Relabelled",
    "domain_label",
    "label_vif",
    "relabel_domain",
    "remove_running_label",
    "unlabel_vif",
    "vif_index",
    "vif_label",
]
