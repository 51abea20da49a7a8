"""The policy update decided, as Xen 3.4 decided it and better: nothing is
changed here.

`plan_update` runs inside the caller's store transaction and reads the
running state once: the version check (`FromPolicy` names the running
policy and version, the new version is greater), the `from=` renames
(each must name a label of the running policy), every domain's label
carried through the renames to its new ssidref (a removed label in use is
a violation), every resource label renamed, kept or invalidated
(`INV_ACM`, as Xen marked it), every domain config under `<root>/etc/xen`
(and each running domain's own config, wherever it is) and every saved
image that names a renamed label (`offline`), and the whole running set
re-checked by the engine (`Engine.revalidate`: Chinese Wall among the
running domains, every frontend/backend connection, every attached
resource). Where Xen stopped
at the first violation, every one is listed, each naming the domain, its
label and the rule broken.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.errors import AcmError, XmError
from xm_core.files.resources import invalid_policy
from xm_core.host.store import DOM0_ID, PolicyState
from xm_core.host.update.offline import known_images, read_config_label, started_from

if TYPE_CHECKING:
    from acm.engine import Violation
    from acm.model import BinaryPolicy, PolicyMap
    from xm_core.files.paths import HostPaths
    from xm_core.files.resources import ResourceLabels
    from xm_core.host.model import Host, LoadedPolicy
    from xm_core.host.update.lineage import Lineage

ACM_POLICY_ID = "ACM"  # the policy type in Xen 3.4's label strings
UNLABELED = "__UNLABELED__"  # Xen 3.4's label of unlabeled domains; never removed
MAX_CONFIG_SCAN = 10_000  # config files looked at under <root>/etc/xen


def format_label(policy: str, label: str) -> str:
    """Xen 3.4's label string: `ACM:POLICY:LABEL`; an invalidated resource
    label reads `INV_ACM:POLICY:LABEL`."""
    from xm_core.files.resources import INVALID_TYPE

    if policy.startswith(INVALID_TYPE + ":"):
        return f"{policy}:{label}"
    return f"{ACM_POLICY_ID}:{policy}:{label}"


@dataclass(frozen=True)
class NewPolicy:
    """A compiled policy about to be set, with its lineage."""

    source: str  # the name it was compiled from (dotted)
    raw: bytes  # the `.bin`
    binary: BinaryPolicy
    map_raw: bytes
    map: PolicyMap
    set_names: list[str | None]
    lineage: Lineage

    @property
    def name(self) -> str:
        return self.binary.reference_name


@dataclass(frozen=True)
class DomainChange:
    domid: int
    name: str
    state: str
    old_policy: str | None
    old_label: str | None
    new_label: str | None
    old_ssidref: int
    new_ssidref: int
    renamed: bool  # the label was renamed by `from=`

    @property
    def status(self) -> str:
        if self.old_label is None:
            return "unlabeled"
        if self.renamed:
            return "renamed"
        if self.new_label is None:
            return "removed"
        if self.old_ssidref != self.new_ssidref:
            return "renumbered"
        return "kept"

    def as_dict(self) -> dict[str, Any]:
        return {
            "domid": self.domid,
            "name": self.name,
            "old_label": self.old_label,
            "new_label": self.new_label,
            "old_ssidref": self.old_ssidref,
            "new_ssidref": self.new_ssidref,
            "status": self.status,
        }


@dataclass(frozen=True)
class LabelChange:
    """A resource label file entry, or a config's label, before and after."""

    target: str  # canonical resource, or config file path
    old: tuple[str, str]  # (policy, label)
    new: tuple[str, str]

    @property
    def status(self) -> str:
        if self.new[0] != self.old[0] and self.new[0] == invalid_policy(self.old[0]):
            return "invalidated"
        if self.new[1] != self.old[1]:
            return "renamed"
        return "policy renamed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "old": format_label(*self.old),
            "new": format_label(*self.new),
            "status": self.status,
        }


@dataclass(frozen=True)
class ImageChange:
    """A saved image's label, before and after (and the new ssidref)."""

    target: str  # the image file
    uuid: str  # its domain's uuid: the file is changed only while it is that image
    old: tuple[str, str]  # (policy, label)
    new: tuple[str, str]
    ssidref: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "old": format_label(*self.old),
            "new": format_label(*self.new),
        }


@dataclass(frozen=True)
class NotRelabeled:
    """A file the update does not carry to the new policy, and why."""

    target: str  # an image file, or a domain ("NAME (id N)")
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "why": self.why}


VIF_LABEL = "security_label"  # the vif parameter holding its label, as Xen 3.4 named it


@dataclass(frozen=True)
class VifChange:
    """The label of a domain's network interface (`vif-N`), before and after."""

    domid: int
    devid: int
    old: tuple[str, str]
    new: tuple[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "domid": self.domid,
            "devid": self.devid,
            "old": format_label(*self.old),
            "new": format_label(*self.new),
        }


def parse_label(text: str) -> tuple[str, str] | None:
    """(policy, label) of `ACM:POLICY:LABEL` (or `INV_ACM:...`); None otherwise."""
    from xm_core.files.resources import ACM_TYPE, INVALID_TYPE

    parts = text.split(":")
    if len(parts) != 3:
        return None
    if parts[0] == ACM_TYPE:
        return parts[1], parts[2]
    if parts[0] == INVALID_TYPE:
        return invalid_policy(parts[1]), parts[2]
    return None


@dataclass
class UpdatePlan:
    old_name: str  # the running policy's name, or DEFAULT
    old_version: str | None
    new_name: str
    new_version: str | None
    domains: list[DomainChange] = field(default_factory=list)
    resources: list[LabelChange] = field(default_factory=list)
    configs: list[LabelChange] = field(default_factory=list)
    vifs: list[VifChange] = field(default_factory=list)
    images: list[ImageChange] = field(default_factory=list)
    images_left: list[NotRelabeled] = field(default_factory=list)  # images not relabeled
    configs_left: list[NotRelabeled] = field(default_factory=list)  # domains whose config is not
    images_gone: list[str] = field(default_factory=list)  # recorded images no longer there
    violations: list[Violation] = field(default_factory=list)
    devices_checked: int = 0
    counters: Any = None  # the Chinese Wall counters after the update (no violation)

    @property
    def changed_domains(self) -> list[DomainChange]:
        return [d for d in self.domains if d.status not in ("kept", "unlabeled")]

    def as_dict(self) -> dict[str, Any]:
        return {
            "old_policy": self.old_name,
            "old_version": self.old_version,
            "new_policy": self.new_name,
            "new_version": self.new_version,
            "domains_checked": len(self.domains),
            "devices_checked": self.devices_checked,
            "domains": [d.as_dict() for d in self.domains],
            "resources": [r.as_dict() for r in self.resources],
            "configs": [c.as_dict() for c in self.configs],
            "vifs": [v.as_dict() for v in self.vifs],
            "images": [i.as_dict() for i in self.images],
            "images_not_relabeled": [i.as_dict() for i in self.images_left],
            "configs_not_relabeled": [c.as_dict() for c in self.configs_left],
            "violations": [
                {"kind": v.kind.value, "domid": v.domid, "name": v.name, "message": v.message}
                for v in self.violations
            ],
        }


class UpdateRefused(AcmError):
    """The update would break the running state: every violation, nothing changed."""

    def __init__(self, plan: UpdatePlan) -> None:
        n = len(plan.violations)
        super().__init__(
            f"Policy '{plan.new_name}' not set: {n} violation(s) of the running state; "
            "nothing was changed.",
            [f"  {v.message}" for v in plan.violations],
        )
        self.plan = plan


RENAMED = "renamed"  # the key, in the active policy's extra record, of the last update's renames


def renames_of(
    plan: UpdatePlan, vm_renames: dict[str, str], had_policy: bool
) -> dict[str, Any] | None:
    """What the update renamed (the policy, VM labels), kept with the new
    policy so that a config or image the update could not reach is refused
    with the new name beside Xen's error; None when it renamed nothing."""
    if not had_policy or (plan.old_name == plan.new_name and not vm_renames):
        return None
    return {
        "policy": plan.old_name,
        "to": plan.new_name,
        "labels": dict(sorted(vm_renames.items())),
    }


def renamed_to(extra: dict[str, Any], policy: str, label: str) -> tuple[str, str] | None:
    """(policy, label) that the last policy update made of `label` of
    `policy` (a `from=` rename, or its policy renamed); None when it did not
    rename it."""
    renamed = extra.get(RENAMED)
    if not isinstance(renamed, dict) or renamed.get("policy") != policy:
        return None
    labels = renamed.get("labels")
    new_label = labels.get(label, label) if isinstance(labels, dict) else label
    new_policy = renamed.get("to")
    if not isinstance(new_label, str) or not isinstance(new_policy, str):
        return None
    return None if (new_policy, new_label) == (policy, label) else (new_policy, new_label)


def check_lineage(active: LoadedPolicy | None, active_version: str | None, new: NewPolicy) -> None:
    """May `new` replace the running policy? Over DEFAULT anything may be
    set. A policy of Xen 3.0.4's format replaces only one of its own name
    and format, as `loadpolicy` does. Every other case is Xen 3.4's version
    check and `from=` check, as `acm.versioned.checks.check_update` makes
    it (FromPolicy names the running policy and its version, the new
    version is greater, every `from=` names a label of the running policy)."""
    from xm_core.host.update.lineage import check_update, running_info

    if active is None:
        return
    lin = new.lineage
    if not lin.versioned and active_version is None:
        if lin.vm_renames or lin.res_renames:
            raise XmError("A policy of Xen 3.0.4's format cannot rename labels (from=)")
        if active.name != new.name:
            raise XmError(
                f"Active policy '{active.name}' incompatible with new policy '{new.name}'"
            )
        return
    if lin.info is None:
        raise XmError(f"Policy '{new.name}': its source was not read; set it with setpolicy")
    check_update(running_info(active.binary, active.map, active_version), lin.info)


# ------------------------------------------------------------------ the plan


def plan_update(
    host: Host,
    new: NewPolicy,
    labels: ResourceLabels,
    configs: dict[Path, tuple[str, str]],
) -> UpdatePlan:
    """What setting `new` would do, decided against the state of the
    caller's transaction. XmError for a refusal before the running state
    is looked at (state, version, renames, parts); violations of the
    running state are collected in the plan."""
    from acm.engine import Engine, PolicyNames, RunningDomain
    from acm.errors import PolicyError
    from acm.ssidref import label_names, label_to_ssidref
    from xm_core.host.model import LoadedPolicy, _check_same_parts

    store = host.store
    state, _ = host.policy_state()
    if state is PolicyState.NULL:
        raise XmError("The ACM is not enabled on this host (policy state NULL).")
    active = host.policy()
    active_version = store.active_extra().get("version") if active is not None else None
    check_lineage(active, active_version, new)
    if active is not None:
        _check_same_parts(host, new.binary, new.name)
    engine = Engine(new.binary, PolicyNames.from_map(new.map, new.set_names))
    target = LoadedPolicy(new.name, new.binary, new.map, engine, -1)
    plan = UpdatePlan(
        active.name if active is not None else state.value,
        active_version,
        new.name,
        new.lineage.version,
    )
    new_vm = set(label_names(new.map, "dom"))
    vm_renames = new.lineage.vm_renames if active is not None else {}
    bootstrap_ref = engine.bootstrap_ssidref()
    bootstrap = host.label_of(target, bootstrap_ref)

    def dom_ref(label: str) -> int:
        try:
            return label_to_ssidref(new.map, label, "dom")
        except PolicyError:  # cannot happen for a label of label_names
            raise XmError(f"Label '{label}' not found.") from None

    running: list[RunningDomain] = []
    for dom in store.domains():
        of_active = active is not None and dom.policy == active.name and dom.label is not None
        of_new = active is None and dom.policy == new.name and dom.label is not None
        renamed = gone = False
        new_label: str | None = dom.label
        new_ref = dom.ssidref
        if dom.domid == DOM0_ID:
            if of_active and dom.label is not None:
                new_label = vm_renames.get(dom.label, dom.label)
                renamed = dom.label in vm_renames
            if new_label is None or new_label not in new_vm or not (of_active or active is None):
                new_label, renamed = bootstrap, False
            new_ref = dom_ref(new_label) if new_label is not None else bootstrap_ref
        elif of_active or of_new:
            assert dom.label is not None
            renamed = of_active and dom.label in vm_renames
            new_label = vm_renames.get(dom.label, dom.label) if of_active else dom.label
            if new_label in new_vm:
                new_ref = dom_ref(new_label)
            else:
                gone = dom.label != UNLABELED
                new_label = None
        change = DomainChange(
            dom.domid,
            dom.name,
            dom.state,
            dom.policy,
            dom.label,
            new_label,
            dom.ssidref,
            new_ref,
            renamed,
        )
        plan.domains.append(change)
        if not gone:  # a domain without a label under the new policy is not re-checked
            running.append(RunningDomain(dom.domid, dom.name, new_ref))
        else:
            assert dom.label is not None
            plan.violations.append(_removed_label(change, dom.label, new.name))

    # resources: renamed, kept (under the new policy's name) or invalidated
    new_res = set(label_names(new.map, "res"))
    res_renames = new.lineage.res_renames
    after = dict(labels)
    if active is not None:
        configs = _with_started_from(host, configs)
        for resource, (policy, label) in sorted(labels.items()):
            if policy != active.name:
                continue
            moved = _moved((policy, label), new.name, res_renames, new_res)
            if moved != (policy, label):
                plan.resources.append(LabelChange(resource, (policy, label), moved))
                after[resource] = moved
        for path, (policy, label) in sorted(configs.items()):
            if policy != active.name:
                continue
            if label in vm_renames:
                plan.configs.append(
                    LabelChange(str(path), (policy, label), (new.name, vm_renames[label]))
                )
            elif label in new_vm and policy != new.name:
                plan.configs.append(LabelChange(str(path), (policy, label), (new.name, label)))
        _plan_images(host, plan, active.name, vm_renames, new_vm, dom_ref)
        _configs_left(host, plan, configs)

    devices = store.devices()
    plan.devices_checked = len(devices)
    connections, uses = host.attachments(target, after, devices)
    if active is not None:  # the labels of network interfaces move as resource labels do
        from acm.engine import ResourceUse

        for dev in devices:
            old = parse_label(dev.params.get(VIF_LABEL, ""))
            if old is None or old[0] != active.name:
                continue
            moved = _moved(old, new.name, res_renames, new_res)
            if moved != old:
                plan.vifs.append(VifChange(dev.domid, dev.devid, old, moved))
            ste = 0
            if moved[0] == new.name:
                ste = engine.ste_ssid(label_to_ssidref(new.map, moved[1], "res")) or 0
            uses.append(ResourceUse(dev.domid, f"vif-{dev.devid}", moved[1], ste))
    checked = engine.revalidate(running, connections, uses)
    by_id = {d.domid: d for d in plan.domains}
    invalidated = {r.target: r for r in plan.resources if r.status == "invalidated"}
    for v in checked.violations:
        plan.violations.append(_with_label(v, by_id.get(v.domid), invalidated))
    plan.violations.sort(key=lambda v: (v.domid, v.kind.value, v.message))
    if not plan.violations:
        plan.counters = checked.counters
    return plan


def _with_started_from(
    host: Host, configs: dict[Path, tuple[str, str]]
) -> dict[Path, tuple[str, str]]:
    """`configs` and the labeled config each domain was started from, where
    it is kept outside `<root>/etc/xen` (each file once)."""
    known = {os.path.abspath(p) for p in configs}
    merged = dict(configs)
    for path in started_from(host.store).values():
        where = os.path.abspath(path)
        if where in known:
            continue
        known.add(where)
        label, _ = read_config_label(path)
        if label is not None:
            merged[path] = label
    return merged


def _configs_left(host: Host, plan: UpdatePlan, configs: dict[Path, tuple[str, str]]) -> None:
    """Each running domain whose label changes and whose config the update
    does not relabel, with the reason, for the administrator to do it."""
    relabeled = {os.path.abspath(c.target) for c in plan.configs}
    by_path = {os.path.abspath(p): label for p, label in configs.items()}
    recorded = started_from(host.store)
    for d in plan.domains:
        if d.domid == DOM0_ID or d.old_label is None or d.new_label is None:
            continue
        if (d.old_policy, d.old_label) == (plan.new_name, d.new_label):
            continue
        path = recorded.get(d.domid)
        who = f"{d.name} (id {d.domid})"
        if path is None:
            why = (
                "the host does not know the config it was started from (it was restored, "
                "migrated in, created from /dev/null or before the host recorded configs); "
                "relabel that config with rmlabel and addlabel unless it is listed above"
            )
        elif os.path.abspath(path) in relabeled:
            continue
        else:
            label = by_path.get(os.path.abspath(path))
            if label == (plan.new_name, d.new_label):
                continue
            if label is None:
                why = read_config_label(path)[1]
            else:
                why = f"its config '{path}' carries {format_label(*label)}, not the domain's label"
        plan.configs_left.append(NotRelabeled(who, why))


def _plan_images(
    host: Host,
    plan: UpdatePlan,
    running: str,
    renames: dict[str, str],
    new_vm: set[str],
    ssidref_of: Callable[[str], int],
) -> None:
    """Every saved image of the running policy: its label renamed (or the
    policy's name changed) is carried; a removed one is named, not changed."""
    images, plan.images_gone = known_images(host.paths, host.store)
    for image in images:
        if image.saved is None:
            plan.images_left.append(NotRelabeled(image.path, image.problem))
            continue
        access = image.saved.access
        if access is None or access[0] != running or access[1] == UNLABELED:
            continue
        label = renames.get(access[1], access[1])
        if label not in new_vm:
            plan.images_left.append(
                NotRelabeled(
                    image.path,
                    f"{format_label(*access)}: the label is removed by policy "
                    f"'{plan.new_name}'; the image cannot be restored under it",
                )
            )
        elif (plan.new_name, label) != access:
            plan.images.append(
                ImageChange(
                    image.path, image.saved.uuid, access, (plan.new_name, label), ssidref_of(label)
                )
            )


def _moved(
    old: tuple[str, str], new_name: str, renames: dict[str, str], new_labels: set[str]
) -> tuple[str, str]:
    """A resource label of the running policy under the new one: renamed
    (`from=`), kept under the new policy's name, or invalidated, as Xen 3.4
    moved it."""
    policy, label = old
    if label in renames:
        return new_name, renames[label]
    if label in new_labels:
        return new_name, label
    return invalid_policy(policy), label


def _removed_label(change: DomainChange, label: str, new_name: str) -> Violation:
    from acm.engine import Violation, ViolationKind

    return Violation(
        ViolationKind.LABEL,
        change.domid,
        change.name,
        f"[label] domain '{change.name}' (id {change.domid}, label '{label}'): the label is "
        f"removed by policy '{new_name}' while the domain runs ({change.state}); a running "
        "domain keeps a label",
    )


def _with_label(
    v: Violation, change: DomainChange | None, invalidated: dict[str, LabelChange]
) -> Violation:
    """The engine's violation, its domain named with the label it would
    carry under the new policy, and an invalidated resource said so."""
    import dataclasses

    message = v.message
    if change is not None:
        shown = change.new_label or change.old_label or "no label"
        head = f"domain '{v.name}' (id {v.domid}):"
        if message.startswith(head):
            message = f"domain '{v.name}' (id {v.domid}, label '{shown}'):" + message[len(head) :]
    gone = invalidated.get(v.other)
    if gone is not None:
        shown = format_label(*gone.new)
        message += f" (its label '{gone.old[1]}' is not in the new policy: {shown})"
    return dataclasses.replace(v, message=f"[{v.kind.value}] {message}")


# ------------------------------------------------------------------ configs


def labeled_configs(paths: HostPaths) -> dict[Path, tuple[str, str]]:
    """(policy, label) of every domain config under `<root>/etc/xen` (and its
    `auto/`) that carries a literal label; a file that is not a config we
    can read safely is skipped (it is not ours to change)."""
    from acm.inputfile import InputFileError
    from xm_core.files.config import config_text, declared_label, read_config_bytes

    found: dict[Path, tuple[str, str]] = {}
    seen = 0
    for folder in (paths.etc_xen, paths.etc_xen / "auto"):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_CONFIG_SCAN:
                return found
            if not entry.is_file(follow_symlinks=False):
                continue
            path = Path(entry.path)
            try:
                text = config_text(read_config_bytes(path), str(path))
                label = declared_label(text, str(path))
            except (XmError, InputFileError, OSError, ValueError, RecursionError):
                continue
            if label is not None:
                found[path] = label
    return found
