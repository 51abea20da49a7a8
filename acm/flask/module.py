"""The FLASK module (`.te`) of a plan, written with Xen 4.13's macros
(`tools/flask/policy/modules/xen.if`): `declare_domain_common`,
`domain_self_comms`, `create_channel`, `create_domain`, `manage_domain`,
`use_device_iommu`; a domain type is declared with `declare_domain`'s own
statements (see `_domain` for the one difference). It is read by m4 after
`xen.if` and before `users`, as Xen's Makefile orders the sections, and
compiled by checkpolicy.

No ACM name appears in the text: names are the mangled identifiers only
(the mapping table gives them back), so no character of a label can reach
m4 or checkpolicy.
"""

from __future__ import annotations

from collections.abc import Iterator

from acm.flask.naming import ALL_DOMAINS, DOM0_TYPE
from acm.flask.plan import FlaskPlan, VmPlan

GRANT_PERMS = "{ map_read map_write copy unmap }"


def modules_conf_line(plan: FlaskPlan) -> str:
    return f"{plan.module} = on"


def _attributes(plan: FlaskPlan) -> Iterator[str]:
    yield f"attribute {ALL_DOMAINS};"
    names = [
        *plan.ste_attributes.values(),
        *plan.ste_res_attributes.values(),
        *plan.cw_attributes.values(),
        *plan.cw_channel_attributes.values(),
        *plan.group_attributes.values(),
        *plan.peer_attributes,
    ]
    if plan.all_ste is not None and plan.all_ste_res is not None:
        names += [plan.all_ste, plan.all_ste_res]
    for name in names:
        yield f"attribute {name};"


def _talks(source: str, channel: str, vm: VmPlan) -> Iterator[str]:
    """Event channels and grants from `source` to its peers; its resources."""
    for peers in vm.peers:
        yield f"create_channel({source}, {peers}, {channel})"
        yield f"allow {source} {peers}:grant {GRANT_PERMS};"
    if vm.resources:
        yield f"use_device_iommu({source}, {vm.resources})"


def _domain(vm: VmPlan) -> Iterator[str]:
    """A domain type, as Xen's `declare_domain` declares one, but with its
    channel transition toward its peers only: `declare_domain`'s transition
    toward every `domain_type` is expanded by checkpolicy into one entry per
    pair of domain types, which no policy of thousands of labels survives."""
    t = vm.flask_type
    yield f"type {', '.join((t, 'domain_type', *vm.attributes))};"
    yield f"type {t}_self, domain_type, domain_self_type;"
    yield f"type_transition {t} {t}:domain {t}_self;"
    yield f"type {', '.join((f'{t}_channel', 'event_type', *vm.channel_attributes))};"
    yield f"declare_domain_common({t}, {t}_self)"
    if not vm.startable:
        return
    if vm.peers:
        yield f"type_transition {t} {t}_self:event {t}_channel;"
        yield f"domain_self_comms({t})"
    for peers in vm.peers:
        yield f"type_transition {t} {peers}:event {t}_channel;"
    yield from _talks(t, f"{t}_channel", vm)
    yield f"create_domain({DOM0_TYPE}, {t})"
    yield f"manage_domain({DOM0_TYPE}, {t})"


def _never(plan: FlaskPlan) -> Iterator[str]:
    cw, ch = plan.cw_attributes, plan.cw_channel_attributes
    for rule in plan.never_rules:
        t = rule.first
        source = " ".join([cw[t], *(f"-{cw[u]}" for u in rule.others)])
        channels = " ".join([ch[t], *(f"-{ch[u]}" for u in rule.others)])
        target = " ".join([*(cw[u] for u in rule.others), f"-{cw[t]}"])
        yield f"neverallow {{ {source} }} {{ {target} }}:grant {GRANT_PERMS};"
        yield f"neverallow {{ {channels} }} {{ {target} }}:event bind;"


def module_lines(plan: FlaskPlan) -> Iterator[str]:
    yield f"# FLASK module {plan.module}: exported from an ACM policy by xm acm flask."
    yield "# The mapping table written beside it gives each ACM name its type."
    yield ""
    yield from _attributes(plan)
    yield f"role system_r types {ALL_DOMAINS};"
    for res in plan.resources:
        yield f"type {res.flask_type}, {', '.join(('resource_type', *res.attributes))};"
    yield ""
    yield "# VM labels: domain types, whom they talk to, what Domain-0 may do with them"
    for vm in plan.vms:
        if vm.declared:
            yield from _domain(vm)
    boot = plan.bootstrap
    if boot is not None and boot.startable:
        yield ""
        yield "# Domain-0 carries its ACM bootstrap label's rights besides its own"
        held = [a for a in boot.attributes if a != ALL_DOMAINS]
        if held:
            yield f"typeattribute {DOM0_TYPE} {', '.join(held)};"
        if boot.channel_attributes:
            yield f"typeattribute {DOM0_TYPE}_channel {', '.join(boot.channel_attributes)};"
        yield from _talks(DOM0_TYPE, f"{DOM0_TYPE}_channel", boot)
    if plan.never_rules:
        yield ""
        yield "# Chinese Wall: labels that never run together never communicate"
        yield from _never(plan)


def module_text(plan: FlaskPlan) -> str:
    return "\n".join(module_lines(plan)) + "\n"
