"""Split-driver devices: block (vbd) and network (vif) connections between a
frontend domain and a backend domain, with the ACM checks of
enforcement.md section 4.

An attach is permitted only when (1) the domain may use the resource (the
disk, or a *labeled* bridge) and (2) the domain and the backend domain
share an STE type. (1) is decided by `xm` before the hypervisor is asked,
as Xen's `res_security_check` did; (2) runs the hypervisor's STE hooks:
the frontend's event channel to the backend, then the backend's grant-table
mapping of the frontend's pages, each through the STE decision cache and
counted in the STE statistics.

Bridges: a vif's bridge is the resource `bridge:<name>` (default
`bridge:xenbr0`). It is checked like a disk when the resource label file
labels it; an unlabeled bridge is not a controlled resource (Xen 3.0.4 did
not label networks), so only the sharing check applies to it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xm_core.errors import AcmError, UsageError, XmError
from xm_core.files.config import BLOCK_MODES
from xm_core.files.paths import HostPaths
from xm_core.host import console
from xm_core.host.numbers import BLKDEV_MAX
from xm_core.host.store import (
    DeviceRecord,
    DomainRecord,
    DomainSteStats,
    PolicyState,
    SteStats,
)

if TYPE_CHECKING:
    from acm.engine import HookResult, ResourceDecision, ShareDecision
    from xm_core.files.resources import ResourceLabels
    from xm_core.host.model import Host, LoadedPolicy

VBD = "vbd"
VIF = "vif"
DEFAULT_BRIDGE = "xenbr0"
DEFAULT_VIF_SCRIPT = "vif-bridge"
XEN_MAC_PREFIX = "00:16:3e"
_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")
_VIF_KEYS = ("mac", "bridge", "ip", "script", "backend", "type", "vifname", "model", "rate")


# ------------------------------------------------------------------ names and numbers

_SCSI_MAJORS = (8, 65, 66, 67, 68, 69, 70, 71, 128, 129, 130, 131, 132, 133, 134, 135)
_IDE_MAJORS = (3, 22, 33, 34, 56, 57, 88, 89, 90, 91)


def blkdev_number(name: str) -> int | None:
    """The device number Xen gave a frontend name (`sdb1` -> 2065), as its
    blkdev_name_to_number did (without looking at this machine's /dev)."""
    n = name if name.startswith("/dev/") else "/dev/" + name
    m = re.fullmatch(r"/dev/sd([a-z])([1-9]|1[0-5])?", n)
    if m:
        disk = ord(m.group(1)) - ord("a")
        return _SCSI_MAJORS[disk // 16] * 256 + (disk % 16) * 16 + int(m.group(2) or 0)
    m = re.fullmatch(r"/dev/hd([a-t])([1-9]|[1-5][0-9]|6[0-3])?", n)
    if m:
        disk = ord(m.group(1)) - ord("a")
        return _IDE_MAJORS[disk // 2] * 256 + (disk % 2) * 64 + int(m.group(2) or 0)
    m = re.fullmatch(r"/dev/xvd([a-p])([1-9]|1[0-5])?", n)
    if m:
        return 202 * 256 + 16 * (ord(m.group(1)) - ord("a")) + int(m.group(2) or 0)
    if len(name) > 20:  # beyond every device number (and int()'s digit limit)
        return None
    if re.fullmatch(r"(0x)?[0-9a-fA-F]+", name) and not name.isdigit():
        return int(name, 16)
    if name.isdigit():
        return int(name)
    return None


def frontend_name(dev: str) -> tuple[str, str]:
    """(`sdb1`, `disk`) of a frontend as written (`/dev/sdb1`, `hdc:cdrom`)."""
    name, _, kind = dev.partition(":")
    name = name.removeprefix("/dev/")
    if kind not in ("", "disk", "cdrom"):
        raise XmError(f"Invalid device type '{kind}' in '{dev}'")
    return name, kind or "disk"


def random_mac(rng: random.Random | None = None) -> str:
    """A MAC with Xen's 00:16:3e prefix (the fourth byte below 0x80, as Xen's randomMAC)."""
    r = rng or random.SystemRandom()
    tail = (r.randint(0, 0x7F), r.randint(0, 0xFF), r.randint(0, 0xFF))
    return XEN_MAC_PREFIX + "".join(f":{b:02x}" for b in tail)


def check_ips(text: str) -> str:
    """A vif's `ip=`: one or more IPv4 addresses, separated by spaces, as
    Xen's vif scripts took them."""
    import ipaddress

    items = text.split()
    if not items:
        raise UsageError("Invalid IP address '': expected an IPv4 address such as 10.0.0.2")
    for item in items:
        try:
            ipaddress.IPv4Address(item)
        except ValueError:
            raise UsageError(
                f"Invalid IP address '{item}': expected an IPv4 address such as 10.0.0.2"
            ) from None
    return " ".join(items)


def mac_owner(devices: Sequence[DeviceRecord], mac: str) -> int | None:
    """The id of the domain whose vif has `mac`, if any."""
    wanted = mac.lower()
    for d in devices:
        if d.kind == VIF and d.params.get("mac", "").lower() == wanted:
            return d.domid
    return None


# ------------------------------------------------------------------ planned devices


@dataclass
class PlannedDevice:
    """A device to connect: what the store will hold, and what to check."""

    kind: str
    devid: int
    frontend: str
    resource: str | None  # canonical
    written: str  # as the user wrote it
    mode: str
    backend_ref: str | int  # the backend domain as named by the user (default Domain-0)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        return f"{self.kind} {self.frontend}"

    @property
    def written_resource(self) -> str:
        """The resource as the user wrote it (`phy:hda1`; a bridge as `bridge:<name>`)."""
        if self.kind == VBD:
            return self.params.get("uname", self.written)
        return self.resource or ""

    def record(self, domid: int, backend: int) -> DeviceRecord:
        return DeviceRecord(
            domid,
            self.kind,
            self.devid,
            backend,
            self.frontend,
            self.resource,
            self.written,
            self.mode,
            dict(self.params),
        )


def plan_vbd(
    resource: str, frontend: str, mode: str, backend: str | int = 0, written: str | None = None
) -> PlannedDevice:
    from xm_core.files.resources import canonical_resource

    if mode not in BLOCK_MODES:
        raise XmError(f"Invalid block device mode '{mode}': expected {', '.join(BLOCK_MODES)}")
    name, kind = frontend_name(frontend)
    number = blkdev_number(name)
    if number is None:
        raise XmError(f"Unable to find number for device ({frontend})")
    if number > BLKDEV_MAX:
        raise UsageError(
            f"Invalid device number {frontend}: expected at most {BLKDEV_MAX} (0x{BLKDEV_MAX:x})"
        )
    # `',hdc:cdrom,r'`: an HVM CD-ROM drive with no medium uses no resource.
    canonical = None if not resource and kind == "cdrom" else canonical_resource(resource)
    params = {"uname": resource, "dev": frontend, "type": kind}
    return PlannedDevice(VBD, number, name, canonical, written or resource, mode, backend, params)


def plan_vif(settings: dict[str, str], devid: int, written: str | None = None) -> PlannedDevice:
    unknown = sorted(set(settings) - set(_VIF_KEYS))
    if unknown:
        raise UsageError(
            f"Invalid vif setting '{unknown[0]}': expected one of {', '.join(_VIF_KEYS)}"
        )
    params = {k: v for k, v in settings.items() if k != "backend"}
    mac = params.get("mac") or random_mac()
    if not _MAC.fullmatch(mac):
        raise UsageError(f"Invalid MAC address '{mac}': expected six hex bytes, 00:16:3e:12:34:56")
    if int(mac[:2], 16) & 1:
        raise UsageError(f"Invalid MAC address '{mac}': a multicast address (odd first byte)")
    params["mac"] = mac.lower()
    if "ip" in params:
        params["ip"] = check_ips(params["ip"])
    params.setdefault("bridge", DEFAULT_BRIDGE)
    params.setdefault("script", DEFAULT_VIF_SCRIPT)
    if not re.fullmatch(r"[A-Za-z0-9_.:\-]+", params["bridge"]):
        raise XmError(f"Invalid bridge name '{params['bridge']}'")
    backend: str | int = settings.get("backend", "0") or "0"
    written = written or ",".join(f"{k}={v}" for k, v in settings.items())
    return PlannedDevice(
        VIF, devid, f"eth{devid}", f"bridge:{params['bridge']}", written, "", backend, params
    )


# ------------------------------------------------------------------ sharing


def sharing_mode(mode: str) -> str:
    """Xen's block script's reading of a mode: `r` (a read-only use), `w` (a
    read-write use) or `!` (no sharing check), by whether it holds `w`, `!`."""
    if "w" not in mode:
        return "r"
    return "!" if "!" in mode else "w"


def sharing_refusal(
    device: PlannedDevice, in_use: Sequence[DeviceRecord | PlannedDevice]
) -> str | None:
    """Why a block device may not be connected while `in_use` (every vbd of
    the host, and the disks of the same config before it) holds the same
    disk, as Xen's block script decided: a read-only use may share with
    read-only uses; a read-write use with no other use; `!` is not checked."""
    resource = device.resource
    if device.kind != VBD or resource is None:
        return None
    kind, _, path = resource.partition(":")
    if kind not in ("phy", "file"):
        return None
    mode = sharing_mode(device.mode)
    if mode == "!":
        return None
    for other in in_use:
        if other.kind != VBD or other.resource != resource:
            continue
        if mode == "w" or "w" in other.mode:
            what = f"Device {path}" if kind == "phy" else f"File {path}"
            how = "" if mode == "w" else "read-write "
            again = "now" if mode == "w" else "read-only now"
            return (
                f"Device {device.devid} (vbd) could not be connected. {what} is mounted "
                f"{how}in a guest domain, and so cannot be mounted {again}."
            )
    return None


# ------------------------------------------------------------------ checks


@dataclass
class DeviceCheck:
    """The two checks of one device against one domain (no state changed)."""

    device: PlannedDevice
    backend: DomainRecord | None
    resource: ResourceDecision | None  # None: nothing to check (no policy, unlabeled bridge)
    sharing: ShareDecision | None
    resource_label: str | None = None
    resource_policy: str | None = None
    error: str = ""  # a failure that is not an ACM decision (no backend, security off)

    @property
    def permitted(self) -> bool:
        if self.error:
            return False
        if self.resource is not None and not self.resource.permitted:
            return False
        return self.sharing is None or self.sharing.permitted

    @property
    def message(self) -> str:
        if self.error:
            return self.error
        if self.resource is not None and not self.resource.permitted:
            return self.resource.message
        if self.sharing is not None and not self.sharing.permitted:
            assert self.backend is not None
            return (
                f"Permission denied: {self.device.display} and its backend domain "
                f"'{self.backend.name}' share no STE type"
            )
        return ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device.kind,
            "frontend": self.device.frontend,
            "devid": self.device.devid,
            "resource": self.device.resource,
            "written": self.device.written,
            "backend": self.backend.name if self.backend else None,
            "permitted": self.permitted,
            "message": self.message,
            "resource_label": self.resource_label,
            "resource_policy": self.resource_policy,
            "resource_check": None
            if self.resource is None
            else {
                "permitted": self.resource.permitted,
                "common_types": list(self.resource.common_types),
            },
            "sharing_check": None
            if self.sharing is None
            else {
                "permitted": self.sharing.permitted,
                "common_types": list(self.sharing.common_types),
            },
        }


def check_device(
    host: Host,
    policy: LoadedPolicy | None,
    state: PolicyState,
    domain_ssidref: int,
    device: PlannedDevice,
    labels: ResourceLabels,
) -> DeviceCheck:
    """Section 4 for one device of a domain with `domain_ssidref`: the
    resource check and the sharing check with the backend (pure decisions:
    no cache, no statistics)."""
    backend = host.store.find_domain(device.backend_ref)
    if backend is None:
        return DeviceCheck(
            device, None, None, None, error=f"Backend domain '{device.backend_ref}' does not exist."
        )

    entry = None
    if device.resource is not None:
        entry = labels.get(device.resource) or labels.get(device.written)
    if policy is None:
        # The man page: labeled resources cannot be used while no policy is
        # enforced (NULL, and DEFAULT, the state before any loadpolicy).
        if entry is not None and device.kind == VBD:
            return DeviceCheck(
                device,
                backend,
                None,
                None,
                entry[1],
                entry[0],
                error=f"Security is off, but '{device.resource}' is labeled",
            )
        return DeviceCheck(device, backend, None, None, *(entry[::-1] if entry else (None, None)))
    engine = policy.engine
    resource_decision = None
    label = res_policy = None
    if device.resource is not None and (device.kind == VBD or entry is not None):
        label, res_policy, ste_ssid = host.resource_ste_ssid(
            policy, labels, device.resource, device.written
        )
        resource_decision = engine.check_resource(domain_ssidref, device.resource, label, ste_ssid)
    sharing = engine.check_share(domain_ssidref, backend.ssidref)
    return DeviceCheck(device, backend, resource_decision, sharing, label, res_policy)


def run_sharing_hooks(
    host: Host, policy: LoadedPolicy | None, frontend: DomainRecord, backend: DomainRecord
) -> list[HookResult]:
    """Set up the connection through the STE hooks, as the split drivers do:
    the frontend's event channel to the backend, then the backend's
    grant-table mapping of the frontend. Caches and statistics are updated
    (inside the caller's write transaction); stops at the first denial."""
    if policy is None or policy.engine.ste is None:
        return []
    from acm.engine import SharingHook

    engine = policy.engine
    store = host.store
    results = []
    steps = (
        (SharingHook.EVTCHN, frontend, backend),
        (SharingHook.GNTTAB, backend, frontend),
    )
    for hook, subject, obj in steps:
        result = engine.sharing_hook(
            hook, subject.ssidref, store.ste_cache(subject.domid), obj.domid, obj.ssidref
        )
        results.append(result)
        evtchn = hook is SharingHook.EVTCHN
        hit, evaluated = int(result.cache_hit), int(not result.cache_hit)
        denied = int(not result.permitted)
        store.add_ste_stats(
            SteStats(
                ec_eval=evaluated if evtchn else 0,
                ec_denied=denied if evtchn else 0,
                ec_cachehit=hit if evtchn else 0,
                gt_eval=0 if evtchn else evaluated,
                gt_denied=0 if evtchn else denied,
                gt_cachehit=0 if evtchn else hit,
            )
        )
        store.add_domain_ste_stats(subject.uuid, DomainSteStats(evaluated, denied, hit))
        if result.cache_full:
            host.dmesg(f"Cache of dom {subject.domid:x} is full!")
        if result.permitted and not result.cache_hit:
            store.set_ste_cache(subject.domid, result.cache)
        if not result.permitted:
            fn = "ste_pre_eventchannel_unbound" if evtchn else "ste_pre_grant_map_ref"
            host.dmesg(
                f"{fn}: dom{subject.domid:x}-->dom{obj.domid:x}: ACCESS DENIED "
                "(no common STE type)."
            )
            break
    return results


# ------------------------------------------------------------------ commands


class AttachDenied(AcmError):
    def __init__(self, message: str, check: DeviceCheck | None, details: list[str] | None = None):
        super().__init__(message, details)
        self.check = check
        # A failure that is no ACM decision (no backend domain) prints bare;
        # a labeled disk with security off is the ACM's (Xen's ACMError).
        self.acm = check is None or check.backend is not None


@dataclass
class AttachResult:
    domain: str
    device: DeviceRecord
    check: DeviceCheck

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "attached": True,
            **device_dict(self.device),
            "check": self.check.as_dict(),
        }


def device_dict(dev: DeviceRecord) -> dict[str, Any]:
    return {
        "kind": dev.kind,
        "devid": dev.devid,
        "frontend": dev.frontend,
        "backend": dev.backend,
        "resource": dev.resource,
        "written": dev.written,
        "mode": dev.mode,
        "params": dict(dev.params),
    }


def attach(host: Host, domain_ref: str, device: PlannedDevice) -> AttachResult:
    """Connect a device to a running domain, checked (section 4). A denial
    changes no domain and no device; the hooks' statistics and the ACM
    messages record it, as in Xen."""
    labels = host.resource_labels()
    failure: AttachDenied | None = None
    with host.store.write():
        store = host.store
        dom = store.domain(domain_ref)
        state, _ = host.policy_state()
        policy = host.policy()
        if device.kind == VIF and device.devid < 0:
            used = {d.devid for d in store.devices(dom.domid, VIF)}
            device.devid = next(i for i in range(len(used) + 1) if i not in used)
            device.frontend = f"eth{device.devid}"
        if device.kind == VIF:
            owner = mac_owner(store.devices(), device.params["mac"])
            if owner is not None:
                found = store.find_domain(owner)
                who = f"'{found.name}'" if found else f"id {owner}"
                raise XmError(f"MAC address {device.params['mac']} is already used by domain {who}")
        if any(d.devid == device.devid for d in store.devices(dom.domid, device.kind)):
            raise XmError(
                f"Device {device.frontend} ({device.devid}, {device.kind}) is already "
                f"connected to domain '{dom.name}'."
            )
        check = check_device(host, policy, state, dom.ssidref, device, labels)
        if check.error:
            raise AttachDenied(check.message, check)
        if check.resource is not None and not check.resource.permitted:
            failure = AttachDenied(check.message, check)  # only the console line is written
            host.console(dom, console.denied_text(f"{device.display} refused: {check.message}"))
        else:
            assert check.backend is not None
            # Once the ACM permits the resource, the block script's sharing
            # check runs in the backend, before the frontend connects.
            refusal = sharing_refusal(device, store.devices(kind=VBD))
            if refusal is not None:
                raise XmError(refusal)
            hooks = run_sharing_hooks(host, policy, dom, check.backend)
            if any(not h.permitted for h in hooks):
                host.log(f"{device.display} of domain {dom.name} denied: {check.message}", "ERROR")
                failure = AttachDenied(
                    check.message or "Permission denied: the STE hooks refused the connection",
                    check,
                )
                refused = f"{device.display} refused: {failure.message}"
                host.console(dom, console.denied_text(refused))
            else:
                record = device.record(dom.domid, check.backend.domid)
                store.add_device(record)
                host.console(dom, console.connected_text(record, check.backend.name))
                host.log(f"{device.display} ({device.written}) attached to domain {dom.name}")
    if failure is not None:
        raise failure
    return AttachResult(dom.name, record, check)


def block_attach(
    paths: HostPaths, domain: str, be_dev: str, fe_dev: str, mode: str, backend: str | None
) -> AttachResult:
    from xm_core.host.model import Host

    device = plan_vbd(be_dev, fe_dev, mode, backend if backend is not None else 0)
    with Host(paths) as host:
        return attach(host, domain, device)


def network_attach(paths: HostPaths, domain: str, settings: Sequence[str]) -> AttachResult:
    from xm_core.host.model import Host

    parsed: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"Invalid network setting '{item}': expected name=value")
        parsed[key.strip()] = value.strip()
    device = plan_vif(parsed, -1, " ".join(settings))
    with Host(paths) as host:
        return attach(host, domain, device)


def _find_device(devices: list[DeviceRecord], devid: str) -> DeviceRecord | None:
    for dev in devices:
        if devid in (str(dev.devid), dev.frontend, f"/dev/{dev.frontend}"):
            return dev
    number = blkdev_number(devid)
    return next((d for d in devices if number is not None and d.devid == number), None)


def detach(
    paths: HostPaths, domain: str, kind: str, devid: str, force: bool = False
) -> DeviceRecord:
    """`xm block-detach` / `network-detach [-f]`: the device goes at once in
    the model (no guest to wait for), so `-f` only shows in the log."""
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.write():
        dom = host.store.domain(domain)
        found = _find_device(host.store.devices(dom.domid, kind), devid)
        if found is None:
            raise XmError(f"Device {devid} not connected")
        host.store.remove_device(dom.domid, kind, found.devid)
        host.console(dom, console.disconnected_text(found))
        how = " (forced)" if force else ""
        host.log(f"{kind} {found.frontend} detached from domain {dom.name}{how}")
        return found


@dataclass
class DeviceList:
    domain: str
    kind: str
    devices: list[DeviceRecord]
    backends: dict[int, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "kind": self.kind,
            "devices": [
                {**device_dict(d), "backend_name": self.backends.get(d.backend)}
                for d in self.devices
            ],
        }


def list_devices(paths: HostPaths, domain: str, kind: str) -> DeviceList:
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.read():
        dom = host.store.domain(domain)
        devices = host.store.devices(dom.domid, kind)
        backends = {}
        for d in devices:
            be = host.store.find_domain(d.backend)
            backends[d.backend] = be.name if be else "?"
        return DeviceList(dom.name, kind, devices, backends)


# ------------------------------------------------------------------ virtual TPMs


@dataclass
class Vtpm:
    """One `vtpm = [...]` entry of a domain's config (`instance=N,backend=D`)."""

    index: int
    instance: str
    backend: int  # -1 when the named backend domain does not run
    settings: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "instance": self.instance,
            "backend": self.backend,
            "settings": dict(self.settings),
        }


@dataclass
class VtpmList:
    domain: str
    domid: int
    vtpms: list[Vtpm]

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "domid": self.domid,
            "vtpms": [v.as_dict() for v in self.vtpms],
        }


def list_vtpms(paths: HostPaths, domain: str) -> VtpmList:
    """`xm vtpm-list DOM`: the vTPM devices the domain's config asked for
    (its `vtpm` entries, `key=value` lists read as `vif` entries are). The
    model runs no TPM manager, so a vTPM is its config entry and backend."""
    from xm_core.files.config import parse_vif
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.read():
        dom = host.store.domain(domain)
        value = dom.config.get("vtpm", [])
        entries = value if isinstance(value, list) else [value]
        vtpms = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, str):
                raise XmError(f"Domain '{dom.name}': vtpm entry {i} is not a string")
            try:
                settings = parse_vif(entry)
            except XmError:
                raise XmError(f"Domain '{dom.name}': invalid vtpm entry {entry!r}") from None
            backend = host.store.find_domain(settings.get("backend", "0") or "0")
            vtpms.append(
                Vtpm(i, settings.get("instance", ""), backend.domid if backend else -1, settings)
            )
        return VtpmList(dom.name, dom.domid, vtpms)
