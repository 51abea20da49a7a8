"""`xm acm audit`: the host's labels and state against the active policy.

Read-only. It reads one snapshot of the host state, the resource label
file and the domain configs in `<root>/etc/xen` (parsed, never executed),
and reports every inconsistency as a `Finding` (code, message, object):

- running domains whose label the policy no longer has, whose label is of
  another policy, whose ssidref is not the one the `.map` gives their
  label, or that run without a label under the policy;
- what the engine's re-validation of the running state (enforcement.md
  section 5, `Engine.revalidate`) refuses under the active policy: SSIDs
  out of range, Chinese Wall conflicts between running domains, device
  connections without a common STE type, attached resources the policy no
  longer allows; devices whose backend domain is gone;
- resource labels of another policy, or that the policy lacks;
- config files labeled for another policy or with labels the policy
  lacks, and config files that do not parse;
- Chinese Wall counters (`running_types`, `conflict_aggregate`) that differ
  from the ones the running domains imply (`Engine.recompute_counters`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acm.inputfile import InputFileError, read_input
from acm.ssidref import label_to_ssidref
from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.host.model import Host, LoadedPolicy
from xm_core.host.store import DOM0_ID, DeviceRecord, DomainRecord, StoreError

if TYPE_CHECKING:
    from xm_core.files.resources import ResourceLabels

CONFIG_DIRS = ("", "auto")  # <root>/etc/xen and Xen's auto-start folder
_NOT_CONFIGS = (".sxp", "~", ".lock", ".tmp", ".rpmsave", ".rpmnew", ".dpkg-old", ".dpkg-dist")

# code -> what it means (docs/acmhost.md has the same table)
CODES: dict[str, str] = {
    "AUD001": "a running domain's label is not in the active policy",
    "AUD002": "a running domain's ssidref is not the one the .map gives its label",
    "AUD003": "a running domain is labeled for another policy",
    "AUD004": "a running domain runs without a label under the active policy",
    "AUD005": "a running domain's ssidref is beyond the policy's SSIDs",
    "AUD006": "running domains conflict under the Chinese Wall",
    "AUD010": "a resource is labeled for another policy",
    "AUD011": "a resource's label is not in the active policy",
    "AUD012": "the resource label file cannot be read",
    "AUD013": "an attached resource is not allowed to its domain",
    "AUD014": "a device connects domains without a common STE type",
    "AUD015": "a device's backend domain does not exist",
    "AUD020": "a config file does not parse",
    "AUD021": "a config file is labeled for another policy",
    "AUD022": "a config file's label is not in the active policy",
    "AUD030": "a running_types counter differs from the running domains",
    "AUD031": "a conflict_aggregate counter differs from the running domains",
    "AUD032": "the Chinese Wall counters cannot be read",
}


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    object: str  # what it is about: "domain 'bank' (id 1)", "resource phy:/dev/hda1", ...

    @property
    def kind(self) -> str:
        return self.object.split(" ", 1)[0]

    def format(self) -> str:
        return f"{self.code} {self.object}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "kind": self.kind,
            "object": self.object,
            "message": self.message,
        }


@dataclass
class AuditReport:
    root: str
    policy: str  # the active policy's name, or DEFAULT / NULL
    findings: list[Finding] = field(default_factory=list)
    domains: int = 0
    devices: int = 0
    resources: int = 0
    configs: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def add(self, code: str, obj: str, message: str) -> None:
        self.findings.append(Finding(code, message, obj))

    def format(self) -> list[str]:
        lines = [
            f"Audit of host root {self.root} (active policy {self.policy}): "
            f"{self.domains} domain(s), {self.devices} device(s), "
            f"{self.resources} labeled resource(s), {self.configs} config file(s)"
        ]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f.format() for f in self.findings]
        count = len(self.findings)
        lines.append(
            "No inconsistencies found."
            if not count
            else f"{count} finding{'s' if count != 1 else ''}."
        )
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "policy": self.policy,
            "clean": self.clean,
            "checked": {
                "domains": self.domains,
                "devices": self.devices,
                "resources": self.resources,
                "configs": self.configs,
            },
            "notes": list(self.notes),
            "findings": [f.as_dict() for f in self.findings],
        }


def _dom(rec: DomainRecord) -> str:
    return f"domain '{rec.name}' (id {rec.domid})"


# ------------------------------------------------------------------ the audit


def audit_host(paths: HostPaths) -> AuditReport:
    """Every inconsistency between the host's labels and state and its active
    policy. Nothing is changed."""
    labels, label_problem = _read_labels(paths)
    with Host(paths) as host, host.store.read():
        state, _ = host.policy_state()
        policy = host.policy()
        report = AuditReport(str(paths.root), policy.name if policy else state.value)
        domains = host.store.domains()
        devices = host.store.devices()
        report.domains, report.devices = len(domains), len(devices)
        if policy is None:
            report.notes.append(
                f"no policy is loaded ({state.value}): labels are checked only for being "
                "there at all"
            )
            _unpoliced(report, domains)
        else:
            _domain_labels(host, policy, report, domains)
            _revalidation(host, policy, report, domains, devices, labels)
            _counters(host, policy, report, domains)
    by_id = {d.domid for d in domains}
    for dev in devices:
        if dev.backend not in by_id:
            report.add(
                "AUD015",
                f"device {dev.kind} {dev.frontend} of domain id {dev.domid}",
                f"its backend domain id {dev.backend} does not exist",
            )
    if label_problem:
        report.add("AUD012", f"file {paths.resource_labels}", label_problem)
    report.resources = len(labels)
    if policy is not None:
        _resource_labels(policy, report, labels)
    _configs(paths, policy, report)
    return report


def _read_labels(paths: HostPaths) -> tuple[ResourceLabels, str]:
    from xm_core.files.resources import read_resource_labels

    try:
        return read_resource_labels(paths.resource_labels), ""
    except XmError as exc:
        return {}, exc.message


def _unpoliced(report: AuditReport, domains: list[DomainRecord]) -> None:
    """No policy: nothing can carry a label of one."""
    for rec in domains:
        if rec.domid != DOM0_ID and (rec.label or rec.ssidref):
            report.add(
                "AUD003",
                _dom(rec),
                f"labeled {rec.label or f'ssidref 0x{rec.ssidref:08x}'}"
                f" ({rec.policy or 'no policy'}), but no policy is loaded",
            )


def _domain_labels(
    host: Host,
    policy: LoadedPolicy,
    report: AuditReport,
    domains: list[DomainRecord],
) -> None:
    from acm.errors import PolicyError

    engine = policy.engine
    for rec in domains:
        if rec.domid == DOM0_ID:
            expected = engine.bootstrap_ssidref()
            if rec.ssidref != expected:
                report.add(
                    "AUD002",
                    _dom(rec),
                    f"ssidref 0x{rec.ssidref:08x}, but Domain-0 runs with the bootstrap "
                    f"ssidref 0x{expected:08x}",
                )
            continue
        if not rec.label:
            if not engine.is_labeled(rec.ssidref):
                report.add(
                    "AUD004",
                    _dom(rec),
                    f"ssidref 0x{rec.ssidref:08x} has no label under {policy.name} "
                    "(started before the policy was loaded?): it is not confined",
                )
            continue
        if rec.policy and rec.policy != policy.name:
            report.add(
                "AUD003",
                _dom(rec),
                f"labeled {rec.label} of policy {rec.policy}, not of the active {policy.name}",
            )
            continue
        try:
            ref = label_to_ssidref(policy.map, rec.label, "dom")
        except PolicyError:
            report.add("AUD001", _dom(rec), f"label '{rec.label}' is not in {policy.name}")
            continue
        if ref != rec.ssidref:
            report.add(
                "AUD002",
                _dom(rec),
                f"runs with ssidref 0x{rec.ssidref:08x}, but the .map gives label "
                f"'{rec.label}' ssidref 0x{ref:08x}",
            )


def _revalidation(
    host: Host,
    policy: LoadedPolicy,
    report: AuditReport,
    domains: list[DomainRecord],
    devices: list[DeviceRecord],
    labels: ResourceLabels,
) -> None:
    """The engine's section-5 check of the running state, under the policy
    that is already active (what `loadpolicy` of it again would say)."""
    from acm.engine import RunningDomain, ViolationKind

    engine = policy.engine
    running = [RunningDomain(d.domid, d.name, d.ssidref) for d in domains]
    connections, uses = host.attachments(policy, labels, devices)
    codes = {
        ViolationKind.SSID_RANGE: "AUD005",
        ViolationKind.CHWALL: "AUD006",
        ViolationKind.SHARING: "AUD014",
        ViolationKind.RESOURCE: "AUD013",
        ViolationKind.LABEL: "AUD001",
    }
    for v in engine.revalidate(running, connections, uses).violations:
        prefix = f"domain '{v.name}' (id {v.domid}): "
        # the engine words it for a policy being loaded; here it is the active one
        message = v.message.removeprefix(prefix).replace("the new policy's", "the policy's")
        obj = f"domain '{v.name}' (id {v.domid})"
        if v.kind is ViolationKind.RESOURCE:
            obj = f"resource {v.other} of domain '{v.name}' (id {v.domid})"
        report.add(codes[v.kind], obj, message)


def _counters(
    host: Host, policy: LoadedPolicy, report: AuditReport, domains: list[DomainRecord]
) -> None:
    engine = policy.engine
    if engine.chwall is None:
        return
    max_types = engine.chwall.max_types
    try:
        running, aggregate = host.store.chwall_counters(max_types)
    except StoreError as exc:
        report.add("AUD032", "counters", exc.message)
        return
    expected = engine.recompute_counters(d.ssidref for d in domains)
    names = engine.names
    for t in range(max_types):
        name = names.chwall_type(t)
        if running[t] != expected.running[t]:
            report.add(
                "AUD030",
                f"counter running_types[{name}]",
                f"is {running[t]}, but the running domains give {expected.running[t]}",
            )
        if aggregate[t] != expected.aggregate[t]:
            report.add(
                "AUD031",
                f"counter conflict_aggregate[{name}]",
                f"is {aggregate[t]}, but the running domains give {expected.aggregate[t]}",
            )


def _resource_labels(policy: LoadedPolicy, report: AuditReport, labels: ResourceLabels) -> None:
    from acm.errors import PolicyError

    for resource in sorted(labels):
        res_policy, label = labels[resource]
        obj = f"resource {resource}"
        if res_policy != policy.name:
            report.add(
                "AUD010",
                obj,
                f"labeled {label} of policy {res_policy}, not of the active {policy.name}: "
                "no domain may use it",
            )
            continue
        try:
            label_to_ssidref(policy.map, label, "res")
        except PolicyError:
            report.add("AUD011", obj, f"label '{label}' is not in {policy.name}")


def config_files(paths: HostPaths) -> list[Path]:
    """The domain configs of a host: the regular files in `<root>/etc/xen` and
    `<root>/etc/xen/auto` (symlinks followed, each file once), without
    xend's `.sxp` files, hidden files and backup or lock files."""
    found: dict[Path, Path] = {}
    for sub in CONFIG_DIRS:
        folder = paths.etc_xen / sub if sub else paths.etc_xen
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith(".") or entry.name.endswith(_NOT_CONFIGS):
                continue
            if entry.is_file():
                found.setdefault(entry.resolve(), entry)
    return list(found.values())


def _configs(paths: HostPaths, policy: LoadedPolicy | None, report: AuditReport) -> None:
    from acm.errors import PolicyError
    from xm_core.files.config import MAX_CONFIG_BYTES, config_text, declared_label

    files = config_files(paths)
    report.configs = len(files)
    for path in files:
        obj = f"config {path}"
        try:
            data = read_input(path, MAX_CONFIG_BYTES)
            access = declared_label(config_text(data, str(path)), str(path))
        except InputFileError as exc:
            report.add("AUD020", obj, f"{exc.reason}; not read")
            continue
        except XmError as exc:
            report.add("AUD020", obj, _without_path(exc.message, str(path)))
            continue
        if access is None or policy is None:
            continue
        cfg_policy, label = access
        if cfg_policy != policy.name:
            report.add(
                "AUD021",
                obj,
                f"labeled {label} of policy {cfg_policy}, not of the active {policy.name}: "
                "xm create would refuse it",
            )
            continue
        try:
            label_to_ssidref(policy.map, label, "dom")
        except PolicyError:
            report.add("AUD022", obj, f"label '{label}' is not in {policy.name}")


def _without_path(message: str, path: str) -> str:
    """`<path>:3: syntax error: ...` -> `line 3: syntax error: ...` (the
    finding's object already names the file)."""
    if not message.startswith(path):
        return message
    rest = message[len(path) :].lstrip(":").lstrip()
    number, sep, tail = rest.partition(":")
    if sep and number.isdigit():
        return f"line {number}:{tail}"
    return rest
