"""`xm setpolicy ACM NAME`, `loadpolicy` of a versioned policy and
`xm resetpolicy`: the update of `plan.py` applied in one store transaction
or not at all, then the files of `pending.py`, then the boot entry.

Order, so that a kill at any point leaves the old or the new state whole:
compile (only the policy's own `.map`/`.bin` are written, atomically, as
`makepolicy` writes them), plan and commit in one SQLite transaction (the
active policy, every domain's label and ssidref, the Chinese Wall
counters, and the list of file changes still to make), write the resource
label file, configs and saved images, clear that list, and last make it the boot policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.errors import AcmError, UsageError, XmError
from xm_core.host.store import DOM0_ID, PolicyState
from xm_core.host.update.pending import PENDING, apply_changes, encode_changes
from xm_core.host.update.plan import RENAMED, NewPolicy, UpdatePlan, UpdateRefused, renames_of

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths
    from xm_core.host.model import Host
    from xm_core.host.update.lineage import Lineage

POLICY_TYPE = "ACM"  # the only policy type of `xm setpolicy`
XML_SUFFIX = "-security_policy.xml"


@dataclass
class SetPolicyResult:
    plan: UpdatePlan
    boot: bool = False  # made the boot policy
    boot_note: str = ""  # why not, when it was not
    problems: list[str] = field(default_factory=list)  # files that could not be changed

    def as_dict(self) -> dict[str, Any]:
        doc = self.plan.as_dict()
        doc.update({"set": True, "boot": self.boot, "boot_note": self.boot_note})
        doc["problems"] = list(self.problems)
        return doc


def check_policy_type(policy_type: str) -> None:
    if policy_type.upper() != POLICY_TYPE:
        raise UsageError(f"Unsupported policytype '{policy_type}'.")


def read_new_policy(paths: HostPaths, name: str, lineage: Lineage | None = None) -> NewPolicy:
    """The compiled `.bin`/`.map` of `name` from the policy tree, with the
    conflict sets' names and the policy's lineage."""
    from xm_core.host.model import conflict_set_names, read_compiled_policy
    from xm_core.host.update.lineage import read_lineage

    raw, binary, map_raw, pmap = read_compiled_policy(paths, name)
    set_names = conflict_set_names(paths, name, binary)
    if lineage is None:
        lineage = read_lineage(paths.policy_files(name).xml, binary.reference_name)
    return NewPolicy(name, raw, binary, map_raw, pmap, set_names, lineage)


def source_file(paths: HostPaths, name: str, cwd: Path | None = None) -> Path:
    """Where `setpolicy` reads NAME's XML: the current folder first, then
    the policy tree, as Xen 3.4 looked."""
    files = paths.policy_files(name).settled()  # the name is checked first
    here = (cwd or Path.cwd()) / (name.replace(".", "/") + XML_SUFFIX)
    if here.is_file():
        return here
    if Path(files.xml).is_file():
        return Path(files.xml)
    raise XmError(
        f"Could not read policy file from current directory or '{Path(files.xml).parent}'."
    )


def compile_in_memory(paths: HostPaths, name: str, cwd: Path | None = None) -> NewPolicy:
    """NAME compiled without writing anything (`setpolicy --dry-run`)."""
    from acm.binfmt import binary_bytes
    from acm.compiler import compile_file
    from acm.mapfile import render_map
    from xm_core.host.update.lineage import read_lineage

    xml = source_file(paths, name, cwd)
    files = paths.policy_files(name)
    compiled, _ = compile_file(str(xml))
    pmap = compiled.map._replace(policy_file=files.xml, binary_file=files.bin)
    binary = compiled.binary
    sets: list[str | None] = []
    if binary.chwall is not None and binary.chwall.conflict_sets:
        from acm.source import read_policy_source

        src = read_policy_source(str(xml))
        if src.chwall is not None:
            sets = [c.name for c in src.chwall.conflict_sets]
    lineage = read_lineage(str(xml), binary.reference_name)
    return NewPolicy(name, binary_bytes(binary), binary, render_map(pmap), pmap, sets, lineage)


def load_versioned(paths: HostPaths, name: str) -> UpdatePlan:
    """`xm loadpolicy NAME` of a versioned policy: the update path of
    `setpolicy` (its plan, its one transaction), without compiling and
    without touching the boot entry."""
    return update_host(paths, read_new_policy(paths, name))


def find_policy_source(paths: HostPaths, name: str, cwd: Path | None = None) -> None:
    """Xen 3.4 read `<name, dots as slashes>-security_policy.xml` from the
    current folder first, then from the policy folder. One in the current
    folder is copied into the policy tree (where xend kept its copy), so
    that it is compiled and labeled against like every other policy."""
    from acm.inputfile import MAX_TEXT_BYTES, InputFileError, read_input
    from xm_core.files.atomic import atomic_write

    files = paths.policy_files(name).settled()  # the name is checked first
    here = (cwd or Path.cwd()) / (name.replace(".", "/") + XML_SUFFIX)
    if here.is_file() and here.resolve() != Path(files.xml).resolve():
        try:
            data = read_input(here, MAX_TEXT_BYTES)
        except InputFileError as exc:
            raise XmError(f"Policy file '{here}' {exc.reason}") from None
        Path(files.xml).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(files.xml), data)
    elif not Path(files.xml).is_file():
        raise XmError(
            f"Could not read policy file from current directory or '{Path(files.xml).parent}'."
        )


def set_policy(
    paths: HostPaths,
    name: str,
    boot: bool = True,
    compile_first: bool = True,
    lineage: Lineage | None = None,
    cwd: Path | None = None,
) -> SetPolicyResult:
    """`xm setpolicy ACM NAME`: find, compile, check the update, load, make
    it the boot policy. UpdateRefused (every violation) or XmError, with
    nothing changed, when the update may not be made."""
    if compile_first:
        from xm_core.host.policy import make_policy

        find_policy_source(paths, name, cwd)
        make_policy(paths, name)
    new = read_new_policy(paths, name, lineage)
    result = SetPolicyResult(update_host(paths, new))
    if boot:
        from xm_core.host.bootpolicy import cfg_boot_policy

        try:
            cfg_boot_policy(paths, name)
        except XmError as exc:
            result.boot_note = exc.message
        else:
            result.boot = True
            mark_boot(paths, new.name)
    return result


def update_host(paths: HostPaths, new: NewPolicy) -> UpdatePlan:
    """Plan and apply `new` in one transaction, then its file changes."""
    from xm_core.host.model import Host
    from xm_core.host.update.plan import labeled_configs, plan_update

    configs = labeled_configs(paths)
    with Host(paths) as host:
        labels = host.resource_labels()
        with host.store.write():
            plan = plan_update(host, new, labels, configs)
            if plan.violations:
                raise UpdateRefused(plan)  # rolls the transaction back: nothing changed
            commit_plan(host, new, plan)
        finish_files(paths, host)
    return plan


def commit_plan(host: Host, new: NewPolicy, plan: UpdatePlan) -> None:
    """Everything of the update the store holds, inside the caller's transaction."""
    from xm_core.host.model import compact_policy

    store = host.store
    extra: dict[str, Any] = {"conflict_sets": new.set_names, "source": new.source}
    if new.lineage.version is not None:
        extra["version"] = new.lineage.version
    if new.lineage.from_policy is not None:
        extra["from_policy"] = list(new.lineage.from_policy)
    last_renames = renames_of(plan, new.lineage.vm_renames, host.policy() is not None)
    if last_renames is not None:
        extra[RENAMED] = last_renames
    changes = encode_changes(
        [(r.target, r.old, r.new) for r in plan.resources],
        [(c.target, c.old, c.new) for c in plan.configs],
        [(i.target, i.uuid, i.old, i.new, i.ssidref) for i in plan.images],
    )
    if changes["resources"] or changes["configs"] or plan.images:
        extra[PENDING] = changes
    store.forget_saved_images(plan.images_gone)
    store.set_active_policy(
        PolicyState.NAMED,
        new.name,
        new.raw,
        new.map_raw,
        extra,
        compact_policy(new.binary, new.map),
    )
    for d in plan.domains:
        if d.domid == DOM0_ID:
            store.update_domain(DOM0_ID, ssidref=d.new_ssidref, policy=new.name, label=d.new_label)
        elif (
            d.old_label is not None
            and d.new_label is not None
            and (
                d.new_label != d.old_label
                or d.new_ssidref != d.old_ssidref
                or d.old_policy != new.name
            )
        ):
            store.update_domain(d.domid, ssidref=d.new_ssidref, policy=new.name, label=d.new_label)
    if plan.vifs:
        import dataclasses

        from xm_core.host.update.plan import VIF_LABEL, format_label

        vifs = {(d.domid, d.devid): d for d in store.devices(kind="vif")}
        for change in plan.vifs:
            dev = vifs[(change.domid, change.devid)]
            params = {**dev.params, VIF_LABEL: format_label(*change.new)}
            store.remove_device(dev.domid, dev.kind, dev.devid)
            store.add_device(dataclasses.replace(dev, params=params))
    assert plan.counters is not None
    store.set_chwall_counters(plan.counters.running, plan.counters.aggregate)
    store.clear_ste_caches()
    version = f" version {new.lineage.version}" if new.lineage.version else ""
    renamed = [d for d in plan.domains if d.renamed]
    host.dmesg(f"acm_change_policy: policy '{new.name}'{version} set (was '{plan.old_name}').")
    for d in renamed:
        host.log(f"Domain {d.name} (id {d.domid}): label {d.old_label} -> {d.new_label}")
    host.log(f"setpolicy {new.name}{version} (was {plan.old_name}): {len(plan.domains)} domain(s)")


def finish_files(paths: HostPaths, host: Host) -> list[str]:
    """The pending file changes written, then cleared in the store."""
    store = host.store
    pending = store.active_extra().get(PENDING)
    if not pending:
        return []
    problems = apply_changes(paths, pending)
    with store.write():
        extra = store.active_extra()
        extra.pop(PENDING, None)
        store.set_active_extra(extra)
    return problems


def mark_boot(paths: HostPaths, name: str) -> None:
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.write():
        if host.store.active_policy_name() == name:
            extra = host.store.active_extra()
            extra["boot"] = True
            host.store.set_active_extra(extra)


# ------------------------------------------------------------------ resetpolicy


@dataclass
class ResetResult:
    previous: str
    invalidated: list[str]  # resources whose label now reads INV_ACM
    note: str  # Xen's "Old policy not found in bootloader file." or ""

    def as_dict(self) -> dict[str, Any]:
        return {"previous": self.previous, "invalidated": self.invalidated, "note": self.note}


RESET_REFUSED = "Could not reset the system's policy. Try to halt all guests."
NOT_IN_BOOTLOADER = "Old policy not found in bootloader file."


def reset_policy(paths: HostPaths) -> ResetResult:
    """`xm resetpolicy`: back to the DEFAULT policy, refused while any guest
    domain exists (Xen 3.4 could not remove the labels they hold). The
    resource labels of the old policy read `INV_ACM:...` afterwards;
    Domain-0 loses its label; the boot entry is left alone."""
    from xm_core.files.resources import invalid_policy
    from xm_core.host.model import Host

    with Host(paths) as host:
        labels = host.resource_labels()
        with host.store.write():
            store = host.store
            state, name = host.policy_state()
            if state is PolicyState.NULL:
                raise XmError("The ACM is not enabled on this host (policy state NULL).")
            guests = [d for d in store.domains() if d.domid != DOM0_ID]
            if guests:
                err = AcmError(RESET_REFUSED)
                err.details = [f"  domain '{d.name}' (id {d.domid}) runs" for d in guests]
                raise err
            previous = name if state is PolicyState.NAMED and name else state.value
            extra = store.active_extra()
            note = "" if state is not PolicyState.NAMED or extra.get("boot") else NOT_IN_BOOTLOADER
            changes = [
                (res, entry, (invalid_policy(entry[0]), entry[1]))
                for res, entry in sorted(labels.items())
                if state is PolicyState.NAMED and entry[0] == name
            ]
            new_extra: dict[str, Any] = {}
            if changes:
                new_extra[PENDING] = encode_changes(changes, [])
            store.set_active_policy(PolicyState.DEFAULT, extra=new_extra)
            store.update_domain(DOM0_ID, ssidref=0, policy=None, label=None)
            store.set_chwall_counters([], [])
            store.clear_ste_caches()
            host.dmesg("acm_change_policy: DEFAULT policy set.")
            host.log(f"resetpolicy (was {previous})")
        finish_files(paths, host)
    return ResetResult(previous, [c[0] for c in changes], note)
