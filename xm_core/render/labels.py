"""Output of the label commands, in Xen's formats, and their `--json`.

JSON documents (stable keys):
- `labels`:    {"policy": P, "type": "dom"|"res"|"any", "labels": [names]}
- `getlabel`:  {"type": "dom"|"res", "target": config path or canonical
               resource, "policy": P, "label": L}
- `resources`: {"resources": [{"resource": R, "policy": P, "label": L}, ...]}
"""

from __future__ import annotations

from xm_core.host.labels import LabelList, LabelOf, ResourceList
from xm_core.render import emit_json, out, printable


def label_list(result: LabelList, as_json: bool = False) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    for name in result.labels:
        out(printable(name))


def label_of(result: LabelOf, as_json: bool = False) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    if result.xen34 and result.kind == "res":
        from xm_core.host.update.plan import format_label

        out(printable(format_label(result.policy, result.label)))
        return
    prefix = "policytype=ACM," if result.xen34 else ""
    out(f"{prefix}policy={printable(result.policy)},label={printable(result.label)}")


def resource_list(result: ResourceList, as_json: bool = False) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    for r in result.resources:
        out(printable(r.resource))
        out(f"    policy: {printable(r.policy)}")
        out(f"    label:  {printable(r.label)}")
