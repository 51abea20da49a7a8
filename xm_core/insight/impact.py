"""What loading a policy would do to the host as it runs now
(`xm acm diff OLD NEW --host`).

No rule is re-implemented here: the host's state (the SQLite store,
copied with SQLite's online backup, a consistent snapshot) and its
resource label file are copied into a scratch host root in a temporary
folder, NEW is written there as a compiled policy, and the real
`loadpolicy` (`xm_core.host.model.load_policy`, enforcement.md section 5) runs
against the copy. Its refusal lists every running domain and device that
NEW would break; the user's host is only read.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.errors import XmError
from xm_core.files.paths import HostPaths

if TYPE_CHECKING:
    from acm.analysis.diff import PolicyDiff
    from acm.analysis.loader import AnalysisPolicy
    from acm.engine import Violation
    from xm_core.files.paths import PolicyFiles

SCRATCH_NAME = "xm_acm_impact.new"  # where NEW is put in the scratch root
DOMAIN_KINDS = ("chwall", "label", "ssid-range")  # violations of a domain itself


@dataclass(frozen=True)
class RunningDomainImpact:
    """A running domain and what NEW does to its label (`PolicyDiff.label`)."""

    domid: int
    name: str
    label: str | None
    status: str  # kept | changed | renumbered | removed | unlabeled
    broken: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "domid": self.domid,
            "name": self.name,
            "label": self.label,
            "label_status": self.status,
            "broken": self.broken,
        }


@dataclass
class HostImpact:
    root: str
    active: str  # the active policy's name, or DEFAULT / NULL
    new: str  # NEW's reference name
    old_is_active: bool | None  # None: no policy is loaded
    refusal: str  # why loadpolicy would refuse ("" when it would load)
    domains_checked: int = 0
    devices_checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    running: list[RunningDomainImpact] = field(default_factory=list)
    type_names: tuple[str, ...] = ()  # NEW's Chinese Wall type names (for violations)
    set_names: tuple[str, ...] = ()

    @property
    def loadable(self) -> bool:
        return not self.refusal

    @property
    def broken_domains(self) -> list[Violation]:
        return [v for v in self.violations if v.kind.value in DOMAIN_KINDS]

    @property
    def broken_devices(self) -> list[Violation]:
        return [v for v in self.violations if v.kind.value not in DOMAIN_KINDS]

    def format(self) -> list[str]:
        lines = [f"Host impact (host root {self.root}, active policy {self.active}):"]
        if self.old_is_active is False:
            lines.append("  note: OLD is not the policy the host has loaded")
        if self.loadable:
            lines.append(
                f"  'xm loadpolicy' of {self.new} would succeed: {self.domains_checked} "
                f"domain(s) and {self.devices_checked} device(s) re-checked, none breaks"
            )
        else:
            lines.append(f"  'xm loadpolicy' of {self.new} would be REFUSED: {self.refusal}")
        if self.broken_domains:
            lines.append("  Running domains it would break:")
            lines += [f"    {v.message}" for v in self.broken_domains]
        if self.broken_devices:
            lines.append("  Attached resources and device connections it would break:")
            lines += [f"    {v.message}" for v in self.broken_devices]
        changed = [r for r in self.running if r.status not in ("kept", "unlabeled")]
        if changed:
            lines.append("  Running domains whose label NEW changes:")
            for r in changed:
                mark = " (breaks)" if r.broken else ""
                lines.append(f"    {r.name} (id {r.domid}): {r.label} {r.status}{mark}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "active_policy": self.active,
            "new_policy": self.new,
            "old_is_active": self.old_is_active,
            "loadable": self.loadable,
            "refusal": self.refusal,
            "domains_checked": self.domains_checked,
            "devices_checked": self.devices_checked,
            "broken_domains": [self._violation(v) for v in self.broken_domains],
            "broken_devices": [self._violation(v) for v in self.broken_devices],
            "running": [r.as_dict() for r in self.running],
        }

    def _violation(self, v: Violation) -> dict[str, Any]:
        def type_name(t: int) -> str:
            return self.type_names[t] if t < len(self.type_names) else f"type {t:02x}"

        def set_name(c: int) -> str:
            return self.set_names[c] if c < len(self.set_names) else f"#{c}"

        return {
            "kind": v.kind.value,
            "domid": v.domid,
            "name": v.name,
            "message": v.message,
            "types": [type_name(t) for t in v.types],
            "conflict_sets": [set_name(c) for c in v.conflict_sets],
            "other": v.other or None,
        }


def host_impact(
    paths: HostPaths, diff: PolicyDiff, keep_ssidrefs: bool = False, source: bytes | None = None
) -> HostImpact:
    """Run `loadpolicy` of `diff.new` (`--keep-ssidrefs` when asked) against a
    copy of the host at `paths`. `source`: NEW's XML when it is not the file
    NEW was read from (the studio's edits, or a saved `.bin`'s policy): the
    update path of a versioned NEW reads its renames there."""
    from acm.errors import PolicyError
    from xm_core.host.model import Host, PolicyLoadRefused, load_policy
    from xm_core.host.update.plan import UpdateRefused

    new = diff.new
    with tempfile.TemporaryDirectory(prefix="xm-acm-impact-") as tmp:
        scratch = HostPaths(Path(tmp))
        files = _scratch_host(paths, scratch, new)
        if source is not None:
            Path(files.xml).write_bytes(source)
        elif new.origin.endswith(".xml") and Path(new.origin).is_file():
            shutil.copyfile(new.origin, files.xml)  # the conflict sets' names, for messages
        with Host(scratch) as host, host.store.read():
            state, _ = host.policy_state()
            active = host.policy()
            records = host.store.domains()
            devices = len(host.store.devices())
        impact = HostImpact(
            str(paths.root),
            active.name if active is not None else state.value,
            new.name,
            None if active is None else active.binary == diff.old.compiled.binary,
            "",
            len(records),
            devices,
            type_names=new.chwall_types,
            set_names=tuple(new.conflict_set_title(c) for c in range(len(new.conflict_sets))),
        )
        try:
            if new.compiled.binary.versioned:
                # a versioned NEW is set by the update path (version check, renames)
                from xm_core.host.update.apply import load_versioned

                load_versioned(scratch, SCRATCH_NAME)
            else:
                load_policy(scratch, SCRATCH_NAME, keep_ssidrefs)
        except PolicyLoadRefused as exc:
            impact.refusal = exc.message
            impact.violations = list(exc.result.violations)
        except UpdateRefused as exc:
            impact.refusal = exc.message
            impact.violations = list(exc.plan.violations)
        except (XmError, PolicyError) as exc:
            impact.refusal = exc.message
    broken = {v.domid for v in impact.violations}
    for rec in records:
        if not rec.label:
            label, status = None, "unlabeled"
        else:
            label = rec.label
            delta = diff.label(rec.label)
            status = "kept" if delta is None else delta.status
        impact.running.append(
            RunningDomainImpact(rec.domid, rec.name, label, status, rec.domid in broken)
        )
    return impact


def _scratch_host(paths: HostPaths, scratch: HostPaths, new: AnalysisPolicy) -> PolicyFiles:
    """`scratch`: a copy of the host at `paths` with `new` compiled into its
    policy tree as SCRATCH_NAME (not loaded)."""
    from acm.binfmt import binary_bytes
    from acm.mapfile import render_map
    from xm_core.files.atomic import atomic_write_many

    _copy_state(paths, scratch)
    files = scratch.policy_files(SCRATCH_NAME)
    pmap = new.compiled.map._replace(policy_file=files.xml, binary_file=files.bin)
    Path(files.bin).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_many(
        [
            (Path(files.bin), binary_bytes(new.compiled.binary)),
            (Path(files.map), render_map(pmap)),
        ]
    )
    return files


def explain_as_loaded(paths: HostPaths, new: AnalysisPolicy, config: str) -> tuple[Any, str]:
    """`xm acm explain CONFIG` as if `new` were loaded now (the studio's
    what-if on unsaved edits): on a scratch copy of the host, `new` loaded
    by `loadpolicy`, then the config explained there. (None, why) when
    that load itself would be refused."""
    from xm_core.host.model import PolicyLoadRefused, load_policy
    from xm_core.insight.explain import explain_config

    with tempfile.TemporaryDirectory(prefix="xm-acm-explain-") as tmp:
        scratch = HostPaths(Path(tmp))
        _scratch_host(paths, scratch, new)
        try:
            load_policy(scratch, SCRATCH_NAME)
        except (PolicyLoadRefused, XmError) as exc:
            return None, exc.message
        return explain_config(scratch, config), ""


def _copy_state(paths: HostPaths, scratch: HostPaths) -> None:
    """The host's store (a consistent snapshot) and resource label file into
    `scratch`. A host without a store is a new host: the scratch one starts
    fresh the same way."""
    from xm_core.host.store import open_store

    scratch.state_dir.mkdir(parents=True, exist_ok=True)
    if paths.state_db.exists():
        with open_store(paths) as store:
            target = sqlite3.connect(str(scratch.state_db))
            try:
                store.conn.backup(target)
            finally:
                target.close()
    if paths.resource_labels.exists():
        scratch.resource_labels.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(paths.resource_labels, scratch.resource_labels)


# ------------------------------------------------------------------ setpolicy --dry-run


@dataclass
class UpdateImpact:
    """`xm setpolicy --dry-run`: the update's own plan (`xm_core.host.update.
    plan`), decided against the host as it runs now, never applied."""

    plan: Any  # UpdatePlan | None: None when refused before the running state was read
    refusal: str = ""
    details: list[str] = field(default_factory=list)

    @property
    def would_set(self) -> bool:
        return not self.refusal


def update_impact(paths: HostPaths, name: str, cwd: Path | None = None) -> UpdateImpact:
    """What `xm setpolicy ACM NAME` would do: NAME compiled in memory, the
    update planned in a read transaction (the plan `setpolicy` applies),
    nothing written."""
    from xm_core.host.model import Host
    from xm_core.host.update.apply import compile_in_memory
    from xm_core.host.update.plan import UpdateRefused, labeled_configs, plan_update

    new = compile_in_memory(paths, name, cwd)
    configs = labeled_configs(paths)
    with Host(paths) as host:
        labels = host.resource_labels()
        with host.store.read():
            try:
                plan = plan_update(host, new, labels, configs)
            except XmError as exc:
                return UpdateImpact(None, exc.message, list(exc.details))
    if plan.violations:
        refused = UpdateRefused(plan)
        return UpdateImpact(plan, refused.message, list(refused.details))
    return UpdateImpact(plan)
