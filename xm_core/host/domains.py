"""Domains of the host model: create (with its ACM checks), destroy,
shutdown, reboot, pause, unpause, rename, domid, domname, list, uptime and
dry-run.

`create` works in two stages. Outside the lock the config is read (never
executed) and every device entry is parsed and made canonical; a config
error ends here and changes nothing. Then, inside one write transaction
(`BEGIN IMMEDIATE`), the label is resolved against the active policy,
every device is checked (resource and backend sharing), the Chinese Wall
and STE create hooks decide, and only when everything is permitted the
domain, its devices and the counters are written. Two racing creates of
conflicting domains serialise on the write lock: the second one sees the
first one's counters.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xm_core.errors import AcmError, UsageError, XmError
from xm_core.files.paths import HostPaths
from xm_core.host import console
from xm_core.host.model import Host, LoadedPolicy
from xm_core.host.numbers import MAX_VIRT_CPUS, MEMORY_MAX_MIB, check_int, is_integer
from xm_core.host.store import (
    DOM0_ID,
    STATE_PAUSED,
    STATE_RUNNING,
    DeviceRecord,
    DomainRecord,
    PolicyState,
    StoreError,
)

# The devices and memory modules (and the config reader they load) are
# imported by the functions that create domains: `xm list` needs none of them.
if TYPE_CHECKING:
    from acm.engine import CreateDecision
    from xm_core.files.config import DomainConfig
    from xm_core.host.devices import DeviceCheck, PlannedDevice

DEFAULT_MEMORY = 128  # MiB, as Xen's create.py
DEFAULT_VCPUS = 1
_NAME_OK = re.compile(r"[A-Za-z0-9_.:/+\-]+")


# ------------------------------------------------------------------ the config


@dataclass
class DomainSpec:
    """What a config asks for, checked, before anything is decided."""

    name: str | None
    memory: int
    maxmem: int
    vcpus: int
    access: tuple[str, str] | None  # (policy, label)
    ssidref: int | None  # an explicit `ssidref = N`
    devices: list[PlannedDevice]
    config: dict[str, Any]
    path: str


def _int_setting(
    cfg: DomainConfig, key: str, default: int, minimum: int = 1, maximum: int = MEMORY_MAX_MIB
) -> int:
    """An integer setting in [minimum, maximum]; a string of digits counts
    (Xen's xend int()ed what the config gave). ConfigValueError (exit 2)."""
    from xm_core.files.config import ConfigValueError

    value = cfg.get(key, default)
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 20:
        value = int(value)
    line = cfg.lines.get(key)
    where = f"{cfg.path}:{line[0]}" if line else f"{cfg.path}"
    given = "" if line else f" ({key}= on the command line)" if key in cfg.values else ""
    return check_int(value, key, minimum, maximum, where, given, ConfigValueError)


def check_name(name: Any, file: str = "", config: bool = False) -> str:
    """Xen's VM name rule (letters, digits and `_-.:/+`); a name of digits only
    is refused too, since `xm` takes digits as a domain id. `config`: the
    name comes from a domain config (the error says how to give one)."""
    where = f"{file}: " if file else ""
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)  # `name=12`: the number it reads as, refused below as an id
    if not isinstance(name, str) or not name:
        hint = ": set 'name' in the config or give name=..." if config else ""
        raise XmError(f"{where}Missing domain name{hint}")
    # A wrong name is a usage error (exit 2), as every malformed value is.
    if is_integer(name):
        raise UsageError(f"{where}Invalid VM name '{name}': a name of digits only reads as an id")
    if name.startswith("-"):
        raise UsageError(f"{where}Invalid VM name '{name}': a name cannot start with '-'")
    if not _NAME_OK.fullmatch(name) or len(name) > 64:
        raise UsageError(f"{where}Invalid VM name '{name}'")
    return name


def config_numbers(cfg: DomainConfig) -> tuple[int, int, int]:
    """memory, maxmem and vcpus of a config, each range-checked; other
    numeric settings the model does not use are range-checked too."""
    memory = _int_setting(cfg, "memory", DEFAULT_MEMORY)
    maxmem = _int_setting(cfg, "maxmem", memory)
    vcpus = _int_setting(cfg, "vcpus", DEFAULT_VCPUS, 1, MAX_VIRT_CPUS)
    if cfg.get("shadow_memory") is not None:
        _int_setting(cfg, "shadow_memory", 0, 0)
    if cfg.get("nics") is not None:
        _int_setting(cfg, "nics", 0, 0, 64)
    return memory, maxmem, vcpus


def domain_spec(cfg: DomainConfig, need_name: bool = True) -> DomainSpec:
    """Every value of a config checked: one clear error, nothing decided yet."""
    from xm_core.files.config import config_disks, config_label, config_vifs
    from xm_core.host.devices import VIF, plan_vbd, plan_vif

    name = cfg.get("name")
    if need_name or name is not None:
        name = check_name(name, cfg.path, config=True)
    memory, maxmem, vcpus = config_numbers(cfg)
    access = config_label(cfg)
    # Xen 3.0.4's create.py declared no `ssidref`: a config's `ssidref = N`
    # is a variable of the script, and the domain's label is access_control's.
    ssidref = None
    devices: list[PlannedDevice] = []
    for disk in config_disks(cfg):
        try:
            devices.append(plan_vbd(disk.resource, disk.frontend, disk.mode, 0, disk.written))
        except XmError as exc:
            raise _placed(exc, f"{cfg.path}: disk '{disk.written}'") from None
    for i, vif in enumerate(config_vifs(cfg)):
        try:
            devices.append(plan_vif(vif, i, ",".join(f"{k}={v}" for k, v in vif.items())))
        except XmError as exc:
            raise _placed(exc, f"{cfg.path}: vif {i}") from None
    seen: set[tuple[str, int | str]] = set()
    for dev in devices:
        if (dev.kind, dev.devid) in seen:
            raise XmError(f"{cfg.path}: device {dev.frontend} is given twice")
        seen.add((dev.kind, dev.devid))
        if dev.kind == VIF:
            if ("mac", dev.params["mac"]) in seen:
                raise XmError(f"{cfg.path}: MAC address {dev.params['mac']} is given twice")
            seen.add(("mac", dev.params["mac"]))
    return DomainSpec(
        name, memory, maxmem, vcpus, access, ssidref, devices, _jsonable(cfg), cfg.path
    )


def _placed(exc: XmError, where: str) -> XmError:
    """The error of one config entry, prefixed with where it is; a usage
    error (a malformed number or address) stays one (exit 2)."""
    kind = UsageError if isinstance(exc, UsageError) else XmError
    return kind(f"{where}: {exc.message}")


def _jsonable(cfg: DomainConfig) -> dict[str, Any]:
    """The config values as JSON can hold them (tuples become lists, other
    literals their repr), for the domain record."""
    try:
        doc: dict[str, Any] = json.loads(json.dumps(cfg.values, default=repr))
    except (ValueError, RecursionError):  # a 5,000-digit integer, a deep nest
        raise XmError(f"{cfg.path}: a value is too long or nested too deeply") from None
    return doc


# ------------------------------------------------------------------ the label


@dataclass
class LabelCheck:
    """`Checking domain:` of dry-run, and the first step of create."""

    permitted: bool
    ssidref: int
    label: str | None
    policy: str | None
    message: str = ""


def _renamed_hint(host: Host, policy: LoadedPolicy | None, pol: str, label: str) -> str:
    """Beside a label refused under the active policy: its new name, when
    the last policy update renamed it (the file was not relabeled by it)."""
    if policy is None:
        return ""
    from xm_core.host.update.plan import format_label, renamed_to

    new = renamed_to(host.store.active_extra(), pol, label)
    if new is None or new[0] != policy.name:
        return ""
    try:
        host.dom_ssidref(policy, new[1])  # it must still be a label of the policy
    except XmError:
        return ""
    return (
        f" (the last policy update renamed {format_label(pol, label)} to {format_label(*new)}; "
        "this config or saved image was not relabeled by it)"
    )


def resolve_label(
    host: Host, policy: LoadedPolicy | None, state: PolicyState, spec: DomainSpec
) -> LabelCheck:
    """The domain's ssidref under the active policy, or why it has none."""
    active = policy.name if policy is not None else state.value
    if spec.access is not None:
        pol, label = spec.access
        if state is PolicyState.NULL:
            return LabelCheck(False, 0, label, pol, "Security off, but domain labeled")
        if policy is None or pol != policy.name:
            return LabelCheck(
                False,
                0,
                label,
                pol,
                f"Security policy ({pol}) incompatible with enforced policy ({active})."
                + _renamed_hint(host, policy, pol, label),
            )
        try:
            ref = host.dom_ssidref(policy, label)
        except XmError as exc:
            return LabelCheck(
                False, 0, label, pol, exc.message + _renamed_hint(host, policy, pol, label)
            )
        if not policy.engine.is_labeled(ref):  # the null label
            return LabelCheck(False, ref, label, pol, "Domain not labeled")
        return LabelCheck(True, ref, label, pol)
    if spec.ssidref is not None:
        if policy is None:
            return LabelCheck(
                False, spec.ssidref, None, None, "Security ssidref specified but no policy active."
            )
        named = host.label_of(policy, spec.ssidref)
        if not policy.engine.is_labeled(spec.ssidref):
            return LabelCheck(False, spec.ssidref, named, None, "Domain not labeled")
        return LabelCheck(True, spec.ssidref, named, policy.name if named else None)
    if policy is not None:
        # Xen 3.4: an unlabeled domain runs as __UNLABELED__ where the policy has that label
        from xm_core.host.update.plan import UNLABELED

        try:
            ref = host.dom_ssidref(policy, UNLABELED)
        except XmError:
            return LabelCheck(False, 0, None, None, "Domain not labeled")
        return LabelCheck(True, ref, UNLABELED, policy.name)
    return LabelCheck(True, 0, None, None)


# ------------------------------------------------------------------ create


def all_permitted(
    label: LabelCheck, devices: Sequence[DeviceCheck], decision: CreateDecision | None
) -> bool:
    """A domain may start: its label, every device and the create hooks say yes."""
    return (
        label.permitted
        and all(d.permitted for d in devices)
        and (decision is None or decision.permitted)
    )


@dataclass
class CreateOutcome:
    """Everything create decided; `domain` is set when it was created."""

    name: str
    label: LabelCheck
    devices: list[DeviceCheck] = field(default_factory=list)
    decision: CreateDecision | None = None
    domain: DomainRecord | None = None
    attached: list[DeviceRecord] = field(default_factory=list)
    policy: str = "DEFAULT"

    @property
    def permitted(self) -> bool:
        return all_permitted(self.label, self.devices, self.decision)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.domain is not None,
            "domid": self.domain.domid if self.domain else None,
            "policy": self.policy,
            "ssidref": self.label.ssidref,
            "label": self.label.label,
            "label_check": {"permitted": self.label.permitted, "message": self.label.message},
            "devices": [d.as_dict() for d in self.devices],
            "create_check": decision_dict(self.decision),
        }


def decision_dict(decision: CreateDecision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "permitted": decision.permitted,
        "ssidref": decision.ssidref,
        "chwall_ssid": decision.chwall_ssid,
        "ste_ssid": decision.ste_ssid,
        "chwall_types": list(decision.chwall_types),
        "reasons": list(decision.reasons),
        "conflicts": [
            {
                "type": c.type,
                "aggregate": c.aggregate,
                "conflict_sets": list(c.conflict_sets),
                "blocking_types": list(c.blocking_types),
                "blockers": [{"domid": b.domid, "name": b.name} for b in c.blockers],
            }
            for c in decision.conflicts
        ],
    }


class CreateDenied(AcmError):
    def __init__(self, message: str, outcome: CreateOutcome, details: list[str]) -> None:
        super().__init__(message, details)
        self.outcome = outcome


def chwall_explanation(policy: LoadedPolicy, decision: CreateDecision) -> list[str]:
    """One line per blocked type: its conflict sets and the domains that block."""
    names = policy.engine.names
    lines = []
    for c in decision.conflicts:
        sets = ", ".join(
            f"{names.conflict_set(s)} {{"
            + ", ".join(names.chwall_type(t) for t in policy.binary.chwall.conflict_sets[s])  # type: ignore[union-attr]
            + "}"
            for s in c.conflict_sets
        )
        who = ", ".join(f"'{b.name}' (id {b.domid})" for b in c.blockers) or "(none found)"
        lines.append(
            f"type {names.chwall_type(c.type)} is in conflict set {sets}; "
            f"running domain(s) holding a conflicting type: {who}"
        )
    return lines


def _chwall_message(policy: LoadedPolicy, decision: CreateDecision) -> str:
    names = policy.engine.names
    first = decision.conflicts[0]
    who = ", ".join(f"'{b.name}' (id {b.domid})" for b in first.blockers)
    sets = ", ".join(names.conflict_set(s) for s in first.conflict_sets)
    return (
        f"Permission denied: Chinese Wall conflict in type '{names.chwall_type(first.type)}' "
        f"(conflict set {sets}) with running domain {who}"
    )


def decide_create(
    host: Host,
    spec: DomainSpec,
    name: str,
    labels: dict[str, tuple[str, str]],
) -> CreateOutcome:
    """Inside the write lock: every check, no change."""
    from xm_core.host.devices import check_device

    state, _ = host.policy_state()
    policy = host.policy()
    label = resolve_label(host, policy, state, spec)
    outcome = CreateOutcome(name, label, policy=policy.name if policy else state.value)
    if not label.permitted:
        return outcome
    outcome.devices = [
        check_device(host, policy, state, label.ssidref, dev, labels) for dev in spec.devices
    ]
    if policy is not None:
        engine = policy.engine
        types = engine.chwall_types(label.ssidref)
        counters = host.store.chwall_counters_of(types)
        decision = engine.check_create(label.ssidref, {t: a for t, (_, a) in counters.items()})
        if decision.conflicts:
            half = engine.chwall_half
            assert half is not None
            decision = engine.explain(
                decision, lambda ssids: host.store.domains_with_ssid(half, ssids)
            )
        outcome.decision = decision
    return outcome


def refusal_error(outcome: CreateOutcome, policy: LoadedPolicy | None) -> CreateDenied:
    details: list[str] = []
    if not outcome.label.permitted:
        return CreateDenied(outcome.label.message, outcome, details)
    decision = outcome.decision
    # In Xen's order: xm checked every resource of the config before the
    # hypervisor's create hook ran, so a device's refusal leads.
    messages = [dev.message for dev in outcome.devices if not dev.permitted]
    if decision is not None and not decision.permitted:
        assert policy is not None
        if decision.conflicts:
            messages.append(_chwall_message(policy, decision))
            details.extend("  " + line for line in chwall_explanation(policy, decision))
        else:
            messages.append(
                f"Permission denied: ssidref 0x{decision.ssidref:08x} is not valid under "
                f"policy '{policy.name}'"
            )
        details.extend("  " + r for r in decision.reasons)
    details = [f"  {m}" for m in messages[1:]] + details
    return CreateDenied(messages[0], outcome, details)


def create_domain(paths: HostPaths, config: str, overrides: Sequence[str] = ()) -> CreateOutcome:
    """`xm create CONFIG [name=value ...]`."""
    from xm_core.files.config import DEV_NULL, load_config

    cfg = load_config(paths, config, tuple(overrides))
    spec = domain_spec(cfg)
    assert spec.name is not None
    with Host(paths) as host:
        labels = host.resource_labels()
        with host.store.write():
            if host.store.find_domain(spec.name) is not None:
                raise XmError(f"Domain '{spec.name}' already exists.")
            outcome = decide_create(host, spec, spec.name, labels)
            policy = host.policy()
            if outcome.permitted:
                apply_create(host, policy, spec, outcome)
                assert outcome.domain is not None
                if cfg.path != DEV_NULL:  # where a policy update finds it to relabel
                    host.store.set_domain_config(outcome.domain.domid, os.path.abspath(cfg.path))
            else:
                record_refusal(host, outcome)
        if not outcome.permitted:
            raise refusal_error(outcome, policy)
    return outcome


def record_refusal(host: Host, outcome: CreateOutcome) -> None:
    """What the hypervisor printed for a create its hooks denied."""
    decision = outcome.decision
    if decision is not None and not decision.permitted:
        for reason in decision.reasons:
            host.dmesg(reason)
        policy = host.policy()
        if policy is not None:
            blockers = {
                b.domid: policy.engine.names.chwall_type(c.type)
                for c in decision.conflicts
                for b in c.blockers
            }
            console.record_blocked_create(host.store, outcome.name, blockers)
    host.log(f"create {outcome.name} refused", "ERROR")


def apply_create(
    host: Host, policy: LoadedPolicy | None, spec: DomainSpec, outcome: CreateOutcome
) -> None:
    from xm_core.host.devices import VBD, run_sharing_hooks, sharing_refusal
    from xm_core.host.memory import make_room

    store = host.store
    assert spec.name is not None
    if store.find_domain(spec.name) is not None:
        raise XmError(f"Domain '{spec.name}' already exists.")
    # What xend did once the ACM had said yes: make the memory free (by
    # ballooning Domain-0), then connect the disks under the block script's
    # sharing rules; either refusal changes nothing.
    make_room(store, host.paths, spec.memory)
    in_use: list[DeviceRecord | PlannedDevice] = list(store.devices(kind=VBD))
    for check in outcome.devices:
        refusal = sharing_refusal(check.device, in_use)
        if refusal is not None:
            raise XmError(refusal)
        in_use.append(check.device)
    label = outcome.label
    dom = store.add_domain(
        spec.name,
        label.ssidref,
        spec.memory,
        spec.vcpus,
        policy=label.policy,
        label=label.label,
        maxmem=spec.maxmem,
        config=spec.config,
    )
    if policy is not None:
        store.add_chwall_counters(policy.engine.create_deltas(dom.ssidref))
    host.console(dom, console.created_text(dom))
    for check in outcome.devices:
        assert check.backend is not None
        hooks = run_sharing_hooks(host, policy, dom, check.backend)
        if any(not h.permitted for h in hooks):  # cannot happen after a permitted check
            raise XmError(f"{check.device.display}: the STE hooks refused the connection")
        record = check.device.record(dom.domid, check.backend.domid)
        store.add_device(record)
        host.console(dom, console.connected_text(record, check.backend.name))
        outcome.attached.append(record)
    outcome.domain = dom
    where = f" (label {label.label})" if label.label else ""
    host.log(f"Started domain {dom.name} (id {dom.domid}){where}")


# ------------------------------------------------------------------ dry-run


@dataclass
class DryRunReport:
    name: str | None
    label: LabelCheck
    devices: list[DeviceCheck]
    decision: CreateDecision | None
    chwall_lines: list[str]
    policy: str

    @property
    def passed(self) -> bool:
        return all_permitted(self.label, self.devices, self.decision)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "policy": self.policy,
            "passed": self.passed,
            "domain": {
                "permitted": self.label.permitted,
                "label": self.label.label,
                "label_policy": self.label.policy,
                "ssidref": self.label.ssidref,
                "message": self.label.message,
            },
            "devices": [d.as_dict() for d in self.devices],
            "chinese_wall": decision_dict(self.decision),
            "chinese_wall_explanation": self.chwall_lines,
        }


def dry_run(paths: HostPaths, config: str, overrides: Sequence[str] = ()) -> DryRunReport:
    """`xm dry-run CONFIG`: every check of create, nothing changed (a read
    snapshot, no cache or statistics touched)."""
    from xm_core.files.config import load_config

    cfg = load_config(paths, config, tuple(overrides))
    spec = domain_spec(cfg, need_name=False)
    with Host(paths) as host:
        labels = host.resource_labels()
        with host.store.read():
            outcome = decide_create(host, spec, spec.name or "None", labels)
            policy = host.policy()
            lines: list[str] = []
            if policy is not None and outcome.decision is not None:
                lines = chwall_explanation(policy, outcome.decision)
    return DryRunReport(
        spec.name, outcome.label, outcome.devices, outcome.decision, lines, outcome.policy
    )


# ------------------------------------------------------------------ create -n


# Settings Xen 3.0.4's create.py copied into the domain's SXP as they were
# (`add_conf`: only when set and not empty), and those of an HVM image.
_VM_SETTINGS = ("shadow_memory", "restart", "on_poweroff", "on_reboot", "on_crash", "features")
_VM_SETTINGS_AFTER_VCPUS = ("vcpu_avail", "on_xend_start", "on_xend_stop")
_IMAGE_SETTINGS = (
    "device_model", "boot", "fda", "fdb", "localtime", "serial", "stdvga", "isa",
    "nographic", "soundhw", "vnc", "vncdisplay", "vncunused", "vncconsole", "vnclisten", "sdl",
    "display", "xauthority", "rtc_timeoffset", "usb", "usbdevice", "acpi", "apic", "pae",
    "keymap",
)  # fmt: skip


@dataclass
class ConfigPreview:
    """`xm create -n CONFIG`: the settings a config computes and the SXP
    Xen's create.py would have handed to xend; nothing is created."""

    path: str
    settings: dict[str, Any]
    sxp: list[Any]

    def as_dict(self) -> dict[str, Any]:
        """Keyed by the config's variable names, as Xen read them."""
        return dict(self.settings)


def preview_config(paths: HostPaths, config: str, overrides: Sequence[str] = ()) -> ConfigPreview:
    """Read and check the config as create does (numbers range-checked, the
    label's form, Xen's disk and vif forms), and build Xen's SXP."""
    from xm_core.files.config import config_label, config_vifs, load_config, xen_disk_fields

    cfg = load_config(paths, config, tuple(overrides))
    memory, maxmem, vcpus = config_numbers(cfg)
    settings = cfg.settings()
    # Xen named a domain without a name after its config file.
    name = check_name(settings.get("name", posixpath.basename(cfg.path)), cfg.path, config=True)
    sxp: list[Any] = ["vm", ["name", name], ["memory", memory]]
    if "maxmem" in settings:
        sxp.append(["maxmem", maxmem])
    sxp.extend([key, settings[key]] for key in _VM_SETTINGS if settings.get(key))
    sxp.append(["vcpus", vcpus])
    sxp.extend([key, settings[key]] for key in _VM_SETTINGS_AFTER_VCPUS if settings.get(key))
    for key in ("uuid", "cpu", "cpus", "cpu_cap", "cpu_weight"):
        if settings.get(key) is not None:
            sxp.append([key, settings[key]])
    for kind in ("blkif", "netif", "tpmif"):
        if settings.get(kind):
            sxp.append(["backend", [kind]])
    sxp.append(["image", _image_sxp(settings, vcpus)])
    for entry in _list_setting(settings.get("disk")):
        uname, dev, mode, backend = xen_disk_fields(entry, cfg.path)
        vbd: list[Any] = ["vbd", ["uname", uname], ["dev", dev], ["mode", mode]]
        if backend:
            vbd.append(["backend", backend])
        sxp.append(["device", vbd])
    for vif in config_vifs(cfg) if "vif" in settings else []:
        sxp.append(["device", ["vif", *([k, v] for k, v in vif.items())]])
    access = config_label(cfg)
    if access is not None:
        policy, label = access
        sxp.append(["security", ["access_control", ["policy", policy], ["label", label]]])
    return ConfigPreview(cfg.path, settings, sxp)


def _list_setting(value: Any) -> list[Any]:
    from xm_core.files.config import as_list

    return [] if value is None else as_list(value)


def _image_sxp(settings: dict[str, Any], vcpus: int) -> list[Any]:
    image: list[Any] = [settings.get("builder") or "linux"]
    if settings.get("kernel"):
        image.append(["kernel", posixpath.normpath(str(settings["kernel"]))])
    if settings.get("ramdisk"):
        image.append(["ramdisk", posixpath.normpath(str(settings["ramdisk"]))])
    if settings.get("root"):
        root = str(settings["root"])
        image.append(["root", root[len("root=") :] if root.startswith("root=") else root])
    if settings.get("extra"):
        image.append(["args", settings["extra"]])
    image.append(["vcpus", vcpus])
    image.extend([key, settings[key]] for key in _IMAGE_SETTINGS if settings.get(key))
    if image[0] == "hvm" and settings.get("vncpasswd") is not None:
        image.append(["vncpasswd", settings["vncpasswd"]])  # even empty, as Xen did
    return image


# ------------------------------------------------------------------ destroy and friends


def destroy_in_transaction(host: Host, dom: DomainRecord, why: str) -> None:
    """Remove a domain: counters back, its id out of every STE cache, its
    devices gone; devices it served as backend lose their connection."""
    store = host.store
    if dom.domid == DOM0_ID:
        raise XmError("Cannot destroy privileged domain Domain-0.")
    policy = host.policy()
    if policy is not None:
        deltas = policy.engine.create_deltas(dom.ssidref)
        try:
            store.add_chwall_counters({t: (-r, -a) for t, (r, a) in deltas.items()})
        except StoreError as exc:
            host.log(f"destroy {dom.name}: {exc.message}", "ERROR")
            raise
    for served in store.devices_backed_by(dom.domid):
        if served.domid != dom.domid:
            store.remove_device(served.domid, served.kind, served.devid)
            frontend = store.find_domain(served.domid)
            if frontend is not None:
                lost = f"its backend '{dom.name}' (id {dom.domid}) is gone"
                host.console(frontend, console.disconnected_text(served, lost))
            host.log(
                f"{served.kind} {served.frontend} of domain id {served.domid} lost its "
                f"backend {dom.name}",
                "WARNING",
            )
    store.remove_domain(dom.domid)
    store.forget_in_ste_caches(dom.domid)
    host.console(dom, console.domain_text(dom, why))
    host.log(f"Domain {dom.name} (id {dom.domid}) {why}")


def destroy_domain(paths: HostPaths, ref: str) -> DomainRecord:
    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        destroy_in_transaction(host, dom, "destroyed")
        return dom


def _targets(host: Host, refs: Sequence[str], all_domains: bool, verb: str) -> list[DomainRecord]:
    if all_domains:
        if refs:
            raise UsageError(f"{verb} -a takes no domain")
        return [d for d in host.store.domains() if d.domid != DOM0_ID]
    if len(refs) != 1:
        raise UsageError(f"{verb} needs one domain (or -a)")
    dom = host.store.domain(refs[0])
    if dom.domid == DOM0_ID:
        raise XmError(f"Cannot {verb} privileged domain Domain-0.")
    return [dom]


def shutdown_domains(
    paths: HostPaths, refs: Sequence[str], all_domains: bool = False
) -> list[DomainRecord]:
    """`xm shutdown [-a] [-w]`: the domain shuts down (immediately here, so
    `-w` has nothing to wait for) and is removed like `destroy`."""
    with Host(paths) as host, host.store.write():
        doms = _targets(host, refs, all_domains, "shut down")
        for dom in doms:
            destroy_in_transaction(host, dom, "shut down")
        return doms


def reboot_domains(
    paths: HostPaths, refs: Sequence[str], all_domains: bool = False
) -> list[DomainRecord]:
    """`xm reboot [-a] [-w]`: destroyed and created again under a new id, as
    Xen did, with the same ssidref and devices. The create hooks are
    replayed in the same transaction: the domain's own types were released
    just before; should they deny it all the same (a label holding two
    types of one conflict set, beside a domain that started after it), the
    reboot is refused and the domain keeps running."""
    rebooted: list[DomainRecord] = []
    with Host(paths) as host, host.store.write():
        store = host.store
        policy = host.policy()
        for dom in _targets(host, refs, all_domains, "reboot"):
            devices = store.devices(dom.domid)
            served = [d for d in store.devices_backed_by(dom.domid) if d.domid != dom.domid]
            if policy is not None:
                engine = policy.engine
                store.add_chwall_counters(
                    {t: (-r, -a) for t, (r, a) in engine.create_deltas(dom.ssidref).items()}
                )
                types = engine.chwall_types(dom.ssidref)
                agg = {t: a for t, (_, a) in store.chwall_counters_of(types).items()}
                decision = engine.check_create(dom.ssidref, agg)
                if not decision.permitted:
                    raise XmError(
                        f"Domain '{dom.name}' cannot be restarted: " + "; ".join(decision.reasons)
                    )
                store.add_chwall_counters(engine.create_deltas(dom.ssidref))
            store.remove_domain(dom.domid)
            store.forget_in_ste_caches(dom.domid)
            new = store.add_domain(
                dom.name,
                dom.ssidref,
                dom.memory,
                dom.vcpus,
                policy=dom.policy,
                label=dom.label,
                maxmem=dom.maxmem,
                config=dom.config,
                uuid=dom.uuid,
            )
            for d in devices:
                d.domid = new.domid
                d.backend = new.domid if d.backend == dom.domid else d.backend
                store.add_device(d)
            for d in served:
                store.remove_device(d.domid, d.kind, d.devid)
                d.backend = new.domid
                store.add_device(d)
            host.console(new, console.domain_text(dom, f"rebooted as id {new.domid}"))
            host.log(f"Domain {dom.name} rebooted (id {dom.domid} -> {new.domid})")
            rebooted.append(new)
    return rebooted


def set_paused(paths: HostPaths, ref: str, paused: bool) -> DomainRecord:
    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        if dom.domid == DOM0_ID:
            raise XmError(f"Cannot {'pause' if paused else 'unpause'} privileged domain Domain-0.")
        state = STATE_PAUSED if paused else STATE_RUNNING
        host.store.update_domain(dom.domid, state=state)
        host.log(f"Domain {dom.name} {'paused' if paused else 'unpaused'}")
        host.console(dom, console.domain_text(dom, "paused" if paused else "unpaused"))
        dom.state = state
        return dom


def rename_domain(paths: HostPaths, ref: str, new_name: str) -> DomainRecord:
    check_name(new_name)
    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        if dom.domid == DOM0_ID:
            raise XmError("Cannot rename privileged domain Domain-0.")
        other = host.store.find_domain(new_name)
        if other is not None and other.domid != dom.domid:
            raise XmError(f"VM name '{new_name}' already in use by domain {other.domid}")
        host.store.update_domain(dom.domid, name=new_name)
        host.log(f"Domain {dom.name} renamed to {new_name}")
        host.console(dom, console.domain_text(dom, f"renamed to '{new_name}'"))
        dom.name = new_name
        return dom


def find_domain(paths: HostPaths, ref: str) -> DomainRecord:
    """`domid` / `domname`."""
    with Host(paths) as host:
        return host.store.domain(ref)


# ------------------------------------------------------------------ list


@dataclass
class ListedDomain:
    record: DomainRecord
    label: str  # for `list --label`
    devices: list[DeviceRecord] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        from xm_core.host.devices import device_dict

        r = self.record
        return {
            "domid": r.domid,
            "name": r.name,
            "uuid": r.uuid,
            "memory": r.memory,
            "maxmem": r.maxmem,
            "vcpus": r.vcpus,
            "state": state_string(r),
            "cpu_time": r.cpu_time,
            "ssidref": r.ssidref,
            "label": self.label,
            "label_policy": r.policy,
            "up_time": max(time.time() - r.created_at, 0.0),
            "devices": [device_dict(d) for d in self.devices],
        }


@dataclass
class DomainList:
    policy: str
    domains: list[ListedDomain]

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "domains": [d.as_dict() for d in self.domains]}


def state_string(dom: DomainRecord) -> str:
    """Xen's six-character state from `rbpscd`."""
    from xm_core.host.store import DOMAIN_STATES

    return "".join(s[0] if s == dom.state else "-" for s in DOMAIN_STATES)


def list_domains(
    paths: HostPaths, refs: Sequence[str] = (), with_labels: bool = False, long: bool = False
) -> DomainList:
    """`xm list`: every domain (id order) or those named. Labels: the
    domain's label, else its ssidref's label, else `0x%08x`; `INACTIVE`
    without a policy, `DEFAULT` under the default policy."""
    with Host(paths) as host, host.store.read():
        store = host.store
        state, name = host.policy_state()
        records = store.domains()
        if refs:  # in id order, as the help says, each domain once
            named = {rec.domid: rec for rec in (store.domain(r) for r in refs)}
            records = [named[domid] for domid in sorted(named)]
        policy: LoadedPolicy | None = None  # decoded only for a domain without a label
        xen34 = False  # Xen 3.4's ACM:POLICY:LABEL
        if with_labels:
            from xm_core.host.update.status import xen34_labels

            xen34 = xen34_labels(store)
        if xen34:
            from xm_core.host.update.plan import format_label
        listed = []
        for rec in records:
            if state is PolicyState.NULL:
                label = "INACTIVE"
            elif state is PolicyState.DEFAULT:
                label = "DEFAULT"
            elif rec.label and xen34:
                label = format_label(rec.policy or name or "", rec.label)
            elif rec.label:
                label = rec.label
            else:
                policy = policy or host.policy()
                label = host.label_of(policy, rec.ssidref) or f"0x{rec.ssidref:08x}"
            devices = store.devices(rec.domid) if long else []
            listed.append(ListedDomain(rec, label, devices))
        active = name if state is PolicyState.NAMED and name else state.value
        return DomainList(active, listed)


@dataclass
class Uptime:
    name: str
    domid: int
    seconds: int


def uptimes(paths: HostPaths, refs: Sequence[str] = ()) -> list[Uptime]:
    with Host(paths) as host, host.store.read():
        store = host.store
        records = store.domains()
        if refs:  # in id order, as the help says, each domain once
            named = {rec.domid: rec for rec in (store.domain(r) for r in refs)}
            records = [named[domid] for domid in sorted(named)]
        booted = store.host_facts().booted_at
        now = time.time()
        return [
            Uptime(
                r.name,
                r.domid,
                int(round(now - (booted if r.domid == DOM0_ID else r.created_at))),
            )
            for r in records
        ]


__all__ = [
    "CreateDenied",
    "CreateOutcome",
    "DomainList",
    "DryRunReport",
    "create_domain",
    "destroy_domain",
    "dry_run",
    "list_domains",
    "reboot_domains",
    "rename_domain",
    "set_paused",
    "shutdown_domains",
    "uptimes",
]
