"""Domain life cycle beyond create/destroy: `save`, `restore`, `suspend`,
`resume`, `dump-core`, `migrate`, `mem-max`, `mem-set`, `vcpu-set`,
`vcpu-list`, `vcpu-pin`, `sysrq`.

`suspend` is a managed save: the image goes to the host root
(`var/lib/xm-acm/suspended/<name>.save`, the save file format) and
`resume NAME` restores it with every check of `restore` (the label
translated under the policy active then); a refused resume keeps the image.

`restore` and `migrate` bring a domain to life on a host, so they make
every check of `create` there (the label translated under the policy
active then, each device's resource and backend sharing, the Chinese Wall
and STE create hooks), through the same decision and apply functions of
`xm_core.host.domains`, inside the target store's write lock.

`migrate` moves a domain between two host roots of this machine. Both
stores' write locks are held (taken in path order, so two migrations in
opposite directions cannot deadlock); the domain is created on the target
and destroyed on the source inside those two transactions, the target's
committed first. A domain is therefore never lost: a failure before the
target's commit changes nothing anywhere; a failing source commit is
compensated by removing the domain from the target again.

Kills. `save`, `suspend`, `resume` and `migrate` change a database and a
file (or two databases); the database commit is the one point where each
happens. An intent (xm_core.files.intents) written before that commit names
the domain incarnation (id, uuid, creation time) by which `settle` tells
afterwards whether the commit happened: a save's or suspend's image is
written to a temporary and renamed into place only after the commit (a run
killed before it leaves no file: its temporary is removed; one killed after
it is renamed forward); a resume removes its image only after the commit
(one killed before keeps the image, after it the image goes); a migrate
killed between the target's and the source's commits has its source copy
destroyed, so the domain is on one host only. `settle` runs before every
save, restore, suspend, resume and migrate (on both hosts of a migrate) and
before every command line (xm_core.cli.command_paths) when an intent is
there; it only acts on intents whose writer process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xm_core.errors import UsageError, XmError
from xm_core.files import intents
from xm_core.files.atomic import (
    check_target,
    exclusive_lock,
    put_in_place,
    temporary_name,
    write_temporary,
)
from xm_core.files.paths import HostPaths
from xm_core.files.savefile import (
    SavedDevice,
    SavedDomain,
    encode_save,
    read_save_file,
    write_core_file,
)
from xm_core.host import console
from xm_core.host.numbers import (
    BLKDEV_MAX,
    MAX_VIRT_CPUS,
    MEMORY_MAX_MIB,
    check_int,
)
from xm_core.host.store import (
    DOM0_ID,
    LOG,
    STATE_BLOCKED,
    STATE_PAUSED,
    STATE_RUNNING,
    DomainRecord,
    Store,
)

if TYPE_CHECKING:
    from xm_core.host.domains import CreateOutcome, DomainSpec
    from xm_core.host.model import Host

MAX_CPUS_ALL = 64  # `vcpu-pin DOM VCPU all` meant CPUs 0-63 in Xen


# ------------------------------------------------------------------ record helpers


def _set_config_and_uuid(
    store: Store, domid: int, config: dict[str, Any] | None = None, uuid: str | None = None
) -> None:
    """Columns `Store.update_domain` does not take (yet): the config a
    domain carries along (its VCPU affinity) and its uuid (kept across
    restore and migrate). Inside the caller's write transaction."""
    if config is not None:
        store.conn.execute(
            "UPDATE domains SET config = ? WHERE domid = ?",
            (json.dumps(config, sort_keys=True), domid),
        )
    if uuid is not None:
        store.conn.execute("UPDATE domains SET uuid = ? WHERE domid = ?", (uuid, domid))


def _log(store: Store, text: str) -> None:
    store.add_message(LOG, f"INFO {text}")


# ------------------------------------------------------------------ save / restore


def _saved_of(store: Store, dom: DomainRecord, host_root: str) -> SavedDomain:
    devices = []
    for d in store.devices(dom.domid):
        backend = store.find_domain(d.backend)
        devices.append(
            SavedDevice(
                d.kind,
                d.devid,
                d.frontend,
                d.resource,
                d.written,
                d.mode,
                backend.name if backend is not None else str(d.backend),
                dict(d.params),
            )
        )
    return SavedDomain(
        name=dom.name,
        uuid=dom.uuid,
        memory=dom.memory,
        maxmem=dom.maxmem,
        vcpus=dom.vcpus,
        state=dom.state,
        policy=dom.policy,
        label=dom.label,
        ssidref=dom.ssidref,
        config=dict(dom.config),
        devices=devices,
        saved_at=time.time(),
        saved_host=host_root,
        saved_policy=store.active_policy_name(),
    )


def _spec_of(saved: SavedDomain, where: str) -> DomainSpec:
    """What `create` would ask for, from a saved domain: its label (never
    its saved ssidref), sizes and devices (backends by name)."""
    from xm_core.host.devices import PlannedDevice
    from xm_core.host.domains import DomainSpec, check_name

    check_name(saved.name, where)
    for key, top in (
        ("memory", MEMORY_MAX_MIB),
        ("maxmem", MEMORY_MAX_MIB),
        ("vcpus", MAX_VIRT_CPUS),
    ):
        check_int(getattr(saved, key), key, 1, top, where)
    for d in saved.devices:
        check_int(d.devid, "devid", 0, BLKDEV_MAX, where)
    ssidref = None
    if saved.access is None:
        explicit = saved.config.get("ssidref")
        if isinstance(explicit, int) and not isinstance(explicit, bool):
            ssidref = explicit  # a domain created from `ssidref = N`, as its config said
    devices = [
        PlannedDevice(
            d.kind, d.devid, d.frontend, d.resource, d.written, d.mode, d.backend, dict(d.params)
        )
        for d in saved.devices
    ]
    return DomainSpec(
        saved.name,
        saved.memory,
        saved.maxmem,
        saved.vcpus,
        saved.access,
        ssidref,
        devices,
        dict(saved.config),
        where,
    )


def _incarnation(dom: DomainRecord) -> dict[str, Any]:
    """What tells this domain apart from any later one of the same id or
    uuid (a restore keeps the uuid, a new domain may get the id again)."""
    return {"domid": dom.domid, "uuid": dom.uuid, "created_at": dom.created_at}


def _present(store: Store, incarnation: Any) -> DomainRecord | None:
    """The domain of `incarnation` if it is on this host; None otherwise."""
    if not isinstance(incarnation, dict) or not isinstance(incarnation.get("domid"), int):
        return None
    dom = store.find_domain(incarnation["domid"])
    if (
        dom is not None
        and dom.uuid == incarnation.get("uuid")
        and dom.created_at == incarnation.get("created_at")
    ):
        return dom
    return None


def _save_into(
    host: Host, paths: HostPaths, dom: DomainRecord, target: Path, op: str
) -> tuple[Path, intents.Intent]:
    """Inside `host`'s write transaction: the save image of `dom` in a
    temporary beside `target`, and the intent naming it. The caller destroys
    the domain, commits, then puts the temporary in place (`_finish_save`)."""
    saved = _saved_of(host.store, dom, str(paths.root))
    check_target(target)  # a device or FIFO is refused before anything is recorded
    temp = temporary_name(target)
    intent = intents.record(
        paths.intents_dir,
        {"op": op, "domain": _incarnation(dom), "temp": str(temp), "target": str(target)},
    )
    try:
        write_temporary(target, temp, encode_save(saved), mode=0o600)
    except BaseException:
        intents.drop(intent)
        raise
    return temp, intent


def _abandon(temp: Path | None, intent: intents.Intent | None) -> None:
    """The transaction did not commit: what was prepared for after it goes."""
    if temp is not None:
        with contextlib.suppress(OSError):
            temp.unlink()
    if intent is not None:
        intents.drop(intent)


def save_domain(paths: HostPaths, ref: str, file: str) -> SavedDomain:
    """`xm save DOM FILE`: write the domain (label, sizes, devices) to FILE,
    then destroy it, as Xen's save stopped the domain. FILE appears only
    once the domain is gone (see the module's Kills)."""
    from xm_core.host.domains import destroy_in_transaction
    from xm_core.host.model import Host

    settle(paths)
    target = Path(file)
    temp: Path | None = None
    intent: intents.Intent | None = None
    with Host(paths) as host:
        try:
            with host.store.write():
                dom = host.store.domain(ref)
                if dom.domid == DOM0_ID:
                    raise XmError("Cannot save privileged domain Domain-0.")
                temp, intent = _save_into(host, paths, dom, target, "save")
                saved = _saved_of(host.store, dom, str(paths.root))
                # where a policy update finds the image to relabel it
                host.store.add_saved_image(os.path.abspath(target), dom.uuid, dom.name, time.time())
                destroy_in_transaction(host, dom, f"saved to {target}")
        except BaseException:
            _abandon(temp, intent)
            raise
    assert temp is not None and intent is not None
    with exclusive_lock(_images_lock(paths)):
        put_in_place(temp, target)
    intents.drop(intent)
    return saved


def _create_from(
    host: Host, spec: DomainSpec, saved: SavedDomain, verb: str
) -> tuple[CreateOutcome, bool]:
    """Inside `host`'s write transaction: decide as `create` does and, when
    permitted, create the domain with its devices and keep its uuid.
    Returns (outcome, permitted); a refusal is recorded in the host's
    messages like a refused create."""
    from xm_core.host.domains import apply_create, decide_create, record_refusal

    assert spec.name is not None
    if host.store.find_domain(spec.name) is not None:
        raise XmError(f"Domain '{spec.name}' already exists.")
    labels = host.resource_labels()
    outcome = decide_create(host, spec, spec.name, labels)
    if not outcome.permitted:
        record_refusal(host, outcome)
        return outcome, False
    apply_create(host, host.policy(), spec, outcome)
    assert outcome.domain is not None
    _set_config_and_uuid(host.store, outcome.domain.domid, uuid=saved.uuid)
    host.store.move_console(outcome.domain.uuid, saved.uuid)  # its lines follow the uuid
    outcome.domain.uuid = saved.uuid
    host.console(outcome.domain, console.domain_text(outcome.domain, verb))
    host.log(f"Domain {spec.name} {verb} (id {outcome.domain.domid})")
    return outcome, True


def restore_domain(paths: HostPaths, file: str, paused: bool = False) -> CreateOutcome:
    """`xm restore [-p] FILE`: the saved domain comes back (under a new id),
    checked against the policy active now like a create; `-p` leaves it paused."""
    saved = read_save_file(Path(file))
    return _restore_saved(paths, saved, file, f"restored from {file}", paused)


def _restore_saved(
    paths: HostPaths,
    saved: SavedDomain,
    where: str,
    verb: str,
    paused: bool,
    image: _Image | None = None,
) -> CreateOutcome:
    """A saved domain brought back, with every check of create; `image`
    (a managed save) is removed once the domain is back: after the commit,
    so that a run killed before it keeps the image (see the module's Kills)."""
    from xm_core.host.domains import refusal_error
    from xm_core.host.model import Host

    settle(paths)
    spec = _spec_of(saved, where)
    intent: intents.Intent | None = None
    with contextlib.ExitStack() as held, Host(paths) as host:
        try:
            with host.store.write():
                if image is not None:
                    held.enter_context(exclusive_lock(_images_lock(paths)))
                    image.check_unchanged(saved.name)
                outcome, permitted = _create_from(host, spec, saved, verb)
                if permitted and paused:
                    assert outcome.domain is not None
                    host.store.update_domain(outcome.domain.domid, state=STATE_PAUSED)
                    outcome.domain.state = STATE_PAUSED
                if permitted and image is not None:
                    assert outcome.domain is not None
                    arrived = host.store.domain(outcome.domain.domid)
                    intent = intents.record(
                        paths.intents_dir,
                        {"op": "resume", "domain": _incarnation(arrived), **image.facts()},
                    )
        except BaseException:
            _abandon(None, intent)
            raise
        if intent is not None:
            assert image is not None
            image.remove()
            intents.drop(intent)
        if not permitted:
            raise refusal_error(outcome, host.policy())
    return outcome


# ------------------------------------------------------------------ suspend / resume


def _file_part(name: str) -> str:
    """A domain name as one file name: a VM name may hold `/` (and `..`
    parts), which must never lead out of the folder."""
    from urllib.parse import quote

    return quote(name, safe="")


def _suspend_image(paths: HostPaths, name: str) -> Path:
    from xm_core.host.domains import check_name

    check_name(name)
    return paths.suspended_dir / f"{_file_part(name)}.save"


def _images_lock(paths: HostPaths) -> Path:
    """Suspends, resumes and their settling are serialized by this lock,
    taken inside the database's write lock (always in that order): a resume
    removing its image after its commit never removes a new image that a
    suspend of the resumed domain put at the same name. A save puts its
    image in place under it, and a policy update relabels images under it,
    so neither overwrites the other's newer file."""
    return paths.images_lock


@dataclass(frozen=True)
class _Image:
    """A suspended image as it was read: removed only if it is still that file."""

    path: Path
    dev: int
    ino: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> _Image:
        st = path.stat()
        return cls(path, st.st_dev, st.st_ino, st.st_mtime_ns)

    def facts(self) -> dict[str, Any]:
        return {"image": str(self.path), "dev": self.dev, "ino": self.ino, "mtime": self.mtime_ns}

    def check_unchanged(self, name: str) -> None:
        try:
            same = _Image.of(self.path) == self
        except FileNotFoundError:
            raise XmError(f"Domain '{name}' is not suspended.") from None
        if not same:
            raise XmError(
                f"The suspended image of domain '{name}' changed while it was read; "
                "nothing was changed (run again)"
            )

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def suspend_domain(paths: HostPaths, ref: str) -> SavedDomain:
    """`xm suspend DOM`: a save into the host root, kept by domain name. The
    image appears only once the domain is gone (see the module's Kills)."""
    from xm_core.host.domains import destroy_in_transaction
    from xm_core.host.model import Host

    settle(paths)
    temp: Path | None = None
    intent: intents.Intent | None = None
    with contextlib.ExitStack() as held, Host(paths) as host:
        try:
            with host.store.write():
                dom = host.store.domain(ref)
                if dom.domid == DOM0_ID:
                    raise XmError("Cannot suspend privileged domain Domain-0.")
                image = _suspend_image(paths, dom.name)
                held.enter_context(exclusive_lock(_images_lock(paths)))
                if image.exists():
                    raise XmError(f"Domain '{dom.name}' already has a suspended image.")
                image.parent.mkdir(parents=True, exist_ok=True)
                temp, intent = _save_into(host, paths, dom, image, "suspend")
                saved = _saved_of(host.store, dom, str(paths.root))
                destroy_in_transaction(host, dom, "suspended")
        except BaseException:
            _abandon(temp, intent)
            raise
        assert temp is not None and intent is not None
        put_in_place(temp, image)
        intents.drop(intent)
    return saved


def resume_domain(paths: HostPaths, name: str, paused: bool = False) -> CreateOutcome:
    """`xm resume [-p] NAME`: the suspended image comes back, its label
    checked against the policy active now, as `restore` checks it."""
    settle(paths)
    image = _suspend_image(paths, name)
    try:
        read = _Image.of(image)
    except FileNotFoundError:
        raise XmError(f"Domain '{name}' is not suspended.") from None
    saved = read_save_file(image)
    return _restore_saved(paths, saved, f"domain '{name}'", "resumed", paused, read)


# ------------------------------------------------------------------ dump-core


@dataclass
class CoreDump:
    name: str
    domid: int
    file: str
    crashed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "domid": self.domid,
            "file": self.file,
            "destroyed": self.crashed,
        }


def dump_core(
    paths: HostPaths, ref: str, file: str | None = None, live: bool = False, crash: bool = False
) -> CoreDump:
    """`xm dump-core [-L] [-C] DOM [FILE]`: the domain's recorded state to
    FILE, by default `<root>/var/xen/dump/<time>-<name>.<domid>.core` as
    Xen named it. Without -L the domain is paused during the dump (and
    unpaused after); -C destroys it afterwards."""
    from xm_core.host.domains import destroy_in_transaction
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        if dom.domid == DOM0_ID:
            raise XmError("Cannot dump core of privileged domain Domain-0.")
        if file is None:
            stamp = time.strftime("%Y-%m%d-%H%M.%S", time.localtime())
            target = paths.dump_dir / f"{stamp}-{_file_part(dom.name)}.{dom.domid}.core"
            target.parent.mkdir(parents=True, exist_ok=True)
        else:
            target = Path(file)
        saved = _saved_of(host.store, dom, str(paths.root))
        write_core_file(target, saved, dom.domid, live, crash)
        how = "live, " if live else ""
        _log(host.store, f"Core of domain {dom.name} (id {dom.domid}) dumped ({how}to {target})")
        if crash:
            destroy_in_transaction(host, dom, "destroyed after its core dump")
    return CoreDump(dom.name, dom.domid, str(target), crash)


# ------------------------------------------------------------------ migrate


@dataclass
class MigrateResult:
    name: str
    source_domid: int
    target_domid: int
    target: str
    live: bool
    resource: int | None = None  # the -r bandwidth limit, Mb/s

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source_domid": self.source_domid,
            "target_domid": self.target_domid,
            "target": self.target,
            "live": self.live,
            "resource": self.resource,
        }


def _target_paths(paths: HostPaths, host: str) -> HostPaths:
    root = Path(host)
    if not root.is_dir():
        raise XmError(f"Host '{host}' not found: no such host root directory")
    target = HostPaths(root)
    if root.resolve() == paths.root.resolve():
        raise XmError(f"Cannot migrate a domain to the host it runs on ('{host}').")
    return target


def migrate_domain(
    paths: HostPaths, ref: str, host: str, live: bool = False, resource: int | None = None
) -> MigrateResult:
    """`xm migrate DOM HOST [-l]`: HOST is another host root of this machine.
    Refused unless HOST runs the same policy (reference name) and the
    domain may start there (every check of create, against HOST's running
    domains and resource labels). The domain moves whole or not at all."""
    target_paths = _target_paths(paths, host)
    settle(paths)
    settle(target_paths)
    recorded: list[intents.Intent] = []
    try:
        return _migrate(paths, target_paths, ref, host, live, resource, recorded)
    finally:
        for intent in recorded:
            intents.drop(intent)


def _migrate(
    paths: HostPaths,
    target_paths: HostPaths,
    ref: str,
    host: str,
    live: bool,
    resource: int | None,
    recorded: list[intents.Intent],
) -> MigrateResult:
    """`migrate_domain` once both hosts are settled; the intents it records
    (one in each host root, the same name) go in `recorded`."""
    from xm_core.host.domains import destroy_in_transaction, refusal_error
    from xm_core.host.model import Host

    with Host(paths) as source, Host(target_paths) as target:
        # Open both stores before any lock, then lock them in path order.
        hosts = sorted((source, target), key=lambda h: str(h.store.path.resolve()))
        txns = {id(h): contextlib.ExitStack() for h in hosts}
        permitted = False
        try:
            for h in hosts:
                txns[id(h)].enter_context(h.store.write())
            dom = source.store.domain(ref)
            if dom.domid == DOM0_ID:
                raise XmError("Cannot migrate privileged domain Domain-0.")
            here, there = source.store.active_policy_name(), target.store.active_policy_name()
            if here != there:
                raise XmError(
                    f"Host '{host}' runs policy '{there}', this host runs '{here}': "
                    "a domain migrates only between hosts running the same policy."
                )
            saved = _saved_of(source.store, dom, str(paths.root))
            spec = _spec_of(saved, f"domain '{dom.name}'")
            kind = "live-migrated" if live else "migrated"
            if resource is not None:
                kind += f" (at most {resource} Mb/s)"
            outcome, permitted = _create_from(target, spec, saved, f"{kind} from {paths.root}")
            if permitted:
                assert outcome.domain is not None
                arrived = target.store.domain(outcome.domain.domid)
                destroy_in_transaction(source, dom, f"{kind} to {host}")
                facts = {
                    "op": "migrate",
                    "source": str(paths.root),
                    "target": str(target_paths.root),
                    "source_domain": _incarnation(dom),
                    "target_domain": _incarnation(arrived),
                }
                recorded.append(intents.record(paths.intents_dir, facts))
                name = recorded[0].path.name
                recorded.append(intents.record(target_paths.intents_dir, facts, name))
        except BaseException as exc:
            for h in reversed(hosts):
                with contextlib.suppress(BaseException):
                    txns[id(h)].__exit__(type(exc), exc, exc.__traceback__)
            raise
        # The target first: from here on the domain exists there.
        txns[id(target)].close()
        try:
            txns[id(source)].close()
        except BaseException:
            if permitted:
                _undo_arrival(target, outcome)
            raise
        if not permitted:
            raise refusal_error(outcome, target.policy())
        assert outcome.domain is not None
        return MigrateResult(dom.name, dom.domid, outcome.domain.domid, host, live, resource)


def _undo_arrival(target: Host, outcome: CreateOutcome) -> None:
    """The source could not let go of the domain: it stays there, and its
    copy on the target goes again."""
    from xm_core.host.domains import destroy_in_transaction

    assert outcome.domain is not None
    with target.store.write():
        arrived = target.store.find_domain(outcome.domain.domid)
        if arrived is not None and arrived.uuid == outcome.domain.uuid:
            destroy_in_transaction(target, arrived, "migration undone (the source kept the domain)")


# ------------------------------------------------------------------ settling what a kill left


def settle(paths: HostPaths) -> list[str]:
    """Finish or roll back what killed runs of save, suspend, resume and
    migrate left on this host (their intents, see the module's Kills); what
    was done, one line each (also in the host's log). Intents of runs still
    going are left alone."""
    if not intents.any_recorded(paths.intents_dir):
        return []
    from xm_core.host.model import Host

    done: list[str] = []
    for intent in intents.orphans(paths.intents_dir):
        facts = intent.facts
        if facts.get("op") == "migrate":
            line = _settle_migrate(paths, intent)
        else:
            with contextlib.ExitStack() as held, Host(paths) as host, host.store.write():
                if facts.get("op") in ("save", "suspend", "resume"):
                    held.enter_context(exclusive_lock(_images_lock(paths)))
                line = _settle_file(host.store, facts)
                if line:
                    host.log(line)
        intents.drop(intent)
        if line:
            done.append(line)
    return done


def _settle_file(store: Store, facts: dict[str, Any]) -> str:
    """Inside the host's write lock: one save, suspend or resume intent."""
    op = facts.get("op")
    if op in ("save", "suspend"):
        temp, target = Path(str(facts.get("temp"))), Path(str(facts.get("target")))
        if not temp.name.startswith(f".{target.name}.") or temp.parent != target.parent:
            return ""  # not a temporary of this target: nothing of ours to touch
        if _present(store, facts.get("domain")) is not None:
            temp.unlink(missing_ok=True)  # the domain stayed: the run never happened
            return f"A {op} killed before it committed was rolled back ({target} not written)"
        if not temp.exists():
            return ""
        if op == "suspend" and target.exists():
            target = target.with_name(f"{target.name}.recovered-{os.urandom(4).hex()}")
        put_in_place(temp, target)
        return f"A {op} killed after it committed was finished ({target} written)"
    if op == "resume":
        if _present(store, facts.get("domain")) is None:
            return ""  # the domain did not come back: the image stays
        image = Path(str(facts.get("image")))
        try:
            st = image.stat()
        except FileNotFoundError:
            return ""
        if (st.st_dev, st.st_ino, st.st_mtime_ns) == (
            facts.get("dev"),
            facts.get("ino"),
            facts.get("mtime"),
        ):
            image.unlink()
            return f"A resume killed after it committed was finished ({image} removed)"
    return ""


def _settle_migrate(paths: HostPaths, intent: intents.Intent) -> str:
    """A migrate killed between its two commits left the domain on both
    hosts: it arrived on the target, so its source copy goes. Either host
    may find the intent; both copies go."""
    from xm_core.host.domains import destroy_in_transaction
    from xm_core.host.model import Host

    facts = intent.facts
    roots = (Path(str(facts.get("source"))), Path(str(facts.get("target"))))
    if paths.root.resolve() not in {r.resolve() for r in roots} or not all(
        (r / paths.state_db.relative_to(paths.root)).is_file() for r in roots
    ):
        return ""
    source_paths, target_paths = HostPaths(roots[0]), HostPaths(roots[1])
    line = ""
    with Host(source_paths) as source, Host(target_paths) as target:
        hosts = sorted((source, target), key=lambda h: str(h.store.path.resolve()))
        with hosts[0].store.write(), hosts[1].store.write():
            left = _present(source.store, facts.get("source_domain"))
            if left is not None and _present(target.store, facts.get("target_domain")):
                destroy_in_transaction(
                    source, left, f"migrated to {roots[1]} (finished after a kill)"
                )
                line = (
                    f"A migration of domain {left.name} killed between its commits was "
                    f"finished (the copy on {roots[0]} destroyed)"
                )
                source.log(line)
    for root in roots:
        with contextlib.suppress(OSError):
            (HostPaths(root).intents_dir / intent.path.name).unlink()
    return line


# ------------------------------------------------------------------ memory


def set_max_memory(paths: HostPaths, ref: str, mib: int) -> DomainRecord:
    """`xm mem-max DOM MEM` (MEM in MiB, parsed by numbers.parse_memory):
    the domain's memory limit. As in Xen, a limit below the current
    allocation is accepted (the domain keeps what it has and cannot grow)."""
    from xm_core.host.memory import host_memory
    from xm_core.host.model import Host

    check_int(mib, "memory", 1, MEMORY_MAX_MIB)
    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        total = host_memory(host.store, paths).total
        if mib > total:
            raise XmError(
                f"Memory limit {mib} MiB of domain '{dom.name}' is above the host's "
                f"total memory ({total} MiB)."
            )
        host.store.update_domain(dom.domid, maxmem=mib)
        _log(host.store, f"Domain {dom.name} maxmem {dom.maxmem} -> {mib} MiB")
        dom.maxmem = mib
        return dom


def _grow(host: Host, dom: DomainRecord, more: int) -> None:
    """`more` MiB for `dom` out of the free memory: another domain's growth
    balloons Domain-0 down as a create does; Domain-0 takes only what is free."""
    from xm_core.host.memory import host_memory, make_room

    if dom.domid != DOM0_ID:
        make_room(host.store, host.paths, more)
        return
    free = host_memory(host.store, host.paths).free
    if free < more:
        raise XmError(f"I need {more * 1024} KiB but only have {free * 1024} KiB free.")


def set_memory(paths: HostPaths, ref: str, mib: int) -> DomainRecord:
    """`xm mem-set DOM MEM` (MiB): the balloon target; above the domain's
    maxmem is an error (its balloon cannot grow past it), and growing takes
    free memory (ballooning Domain-0 for another domain, as a create does)."""
    from xm_core.host.model import Host

    check_int(mib, "memory", 1, MEMORY_MAX_MIB)
    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        if mib > dom.maxmem:
            raise XmError(
                f"Memory target {mib} MiB is above the maximum of domain '{dom.name}' "
                f"({dom.maxmem} MiB); raise it with mem-max first."
            )
        if mib > dom.memory:
            _grow(host, dom, mib - dom.memory)
        host.store.update_domain(dom.domid, memory=mib)
        _log(host.store, f"Domain {dom.name} memory {dom.memory} -> {mib} MiB")
        dom.memory = mib
        return dom


# ------------------------------------------------------------------ VCPUs


def max_vcpus(dom: DomainRecord, nr_cpus: int) -> int:
    """The configured maximum: the config's `vcpus`; Domain-0 (no config)
    has one per host CPU; else the count it was created with."""
    configured = dom.config.get("vcpus")
    if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 1:
        return max(configured, dom.vcpus)
    if dom.domid == DOM0_ID:
        return max(nr_cpus, dom.vcpus)
    return max(dom.vcpus, 1)


@dataclass
class VcpuChange:
    domain: DomainRecord
    requested: int
    applied: bool  # False: ignored (below 1)


def set_vcpus(paths: HostPaths, ref: str, wanted: int) -> VcpuChange:
    """`xm vcpu-set DOM N`: the number of online VCPUs. Above the
    configured maximum is an error; 0 is ignored, as Xen ignored a count
    below 1 (a negative count is refused by numbers.parse_vcpu_count)."""
    from xm_core.host.model import Host

    check_int(wanted, "vcpus", 0, MAX_VIRT_CPUS)
    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        if wanted < 1:
            _log(host.store, f"vcpu-set {dom.name} {wanted} ignored (below 1)")
            return VcpuChange(dom, wanted, False)
        limit = max_vcpus(dom, host.store.host_facts().nr_cpus)
        if wanted > limit:
            raise XmError(
                "Cannot set vcpus greater than max vcpus on running domain",
                [f"  domain '{dom.name}' has at most {limit} VCPU(s)"],
            )
        host.store.update_domain(dom.domid, vcpus=wanted)
        _log(host.store, f"Domain {dom.name} VCPUs {dom.vcpus} -> {wanted}")
        dom.vcpus = wanted
        return VcpuChange(dom, wanted, True)


def parse_cpu_list(text: str, nr_cpus: int) -> list[int]:
    """Xen's cpu list: `0-2,5,^1` (ranges, single CPUs, `^n` removes n) or
    `all`; sorted. Every CPU must exist on this host."""
    text = text.strip()
    if text.lower() in ("all", "any", "any cpu"):
        return list(range(nr_cpus))
    cpus: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        m = re.fullmatch(r"(\^)?([0-9]{1,9})(?:-([0-9]{1,9}))?", item)
        if not m or (m.group(1) and m.group(3)):
            raise UsageError(f"Invalid CPU list '{text}': '{item}' is not n, n-m or ^n")
        first = int(m.group(2))
        last = int(m.group(3)) if m.group(3) else first
        if last < first:
            raise XmError(f"Invalid CPU list '{text}': range '{item}' runs backwards")
        if last >= nr_cpus:
            raise XmError(f"Invalid CPU list '{text}': this host has CPUs 0-{nr_cpus - 1}")
        if m.group(1):
            cpus.discard(first)
        else:
            cpus.update(range(first, last + 1))
    if not cpus:
        raise XmError(f"Invalid CPU list '{text}': no CPU left")
    return sorted(cpus)


def format_cpu_list(cpus: Sequence[int], nr_cpus: int) -> str:
    """Xen's display: `any cpu` when every CPU, else ranges (`0-2,5`)."""
    wanted = sorted(set(cpus))
    if len(wanted) >= nr_cpus and wanted == list(range(nr_cpus)):
        return "any cpu"
    parts = []
    start = prev = wanted[0]
    for c in [*wanted[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if c is not None:
            start = prev = c
    return ",".join(parts)


def vcpu_affinity(dom: DomainRecord, nr_cpus: int) -> list[list[int]]:
    """Each VCPU's CPUs, from the config's `cpus`: a string for every VCPU
    (Xen 3.0's form) or a list of one string per VCPU (what vcpu-pin
    keeps). A value that does not parse, or a CPU the host lacks, leaves
    the VCPU free to run anywhere."""
    count = max_vcpus(dom, nr_cpus)
    anywhere = list(range(nr_cpus))
    given = dom.config.get("cpus")
    per_vcpu: list[Any] = given if isinstance(given, list) else [given] * count
    result = []
    for n in range(count):
        spec = per_vcpu[n] if n < len(per_vcpu) else None
        try:
            result.append(parse_cpu_list(spec, nr_cpus) if isinstance(spec, str) else anywhere)
        except XmError:
            result.append(anywhere)
    return result


@dataclass
class VcpuInfo:
    name: str
    domid: int
    number: int
    cpu: int | None  # None when offline
    state: str  # Xen's three letters: r/-, b/-, then - (or `--p` offline)
    cpu_time: float
    affinity: list[int]
    affinity_text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "domid": self.domid,
            "vcpu": self.number,
            "cpu": self.cpu,
            "online": self.cpu is not None,
            "state": self.state,
            "cpu_time": self.cpu_time,
            "affinity": list(self.affinity),
        }


@dataclass
class VcpuList:
    vcpus: list[VcpuInfo]

    def as_dict(self) -> dict[str, Any]:
        return {"vcpus": [v.as_dict() for v in self.vcpus]}


def _vcpus_of(dom: DomainRecord, nr_cpus: int) -> list[VcpuInfo]:
    rows = []
    online = max(dom.vcpus, 1)
    for n, cpus in enumerate(vcpu_affinity(dom, nr_cpus)):
        text = format_cpu_list(cpus, nr_cpus)
        if n < dom.vcpus:
            state = {STATE_RUNNING: "r--", STATE_BLOCKED: "-b-"}.get(dom.state, "---")
            cpu = cpus[(dom.domid + n) % len(cpus)]
            rows.append(
                VcpuInfo(dom.name, dom.domid, n, cpu, state, dom.cpu_time / online, cpus, text)
            )
        else:
            rows.append(VcpuInfo(dom.name, dom.domid, n, None, "--p", 0.0, cpus, text))
    return rows


def list_vcpus(paths: HostPaths, refs: Sequence[str] = ()) -> VcpuList:
    """`xm vcpu-list [DOM...]`: every VCPU up to each domain's maximum."""
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.read():
        store = host.store
        nr_cpus = store.host_facts().nr_cpus
        records = [store.domain(r) for r in refs] if refs else store.domains()
        return VcpuList([v for dom in records for v in _vcpus_of(dom, nr_cpus)])


def pin_vcpu(paths: HostPaths, ref: str, vcpu: int | None, cpus: str) -> DomainRecord:
    """`xm vcpu-pin DOM VCPU CPUS`: VCPU is a number or None (`all`); CPUS a
    cpu list or `all`. Kept in the domain's config as `cpus` (one string per
    VCPU), so that it travels with save/restore and migrate."""
    from xm_core.host.model import Host

    with Host(paths) as host, host.store.write():
        store = host.store
        dom = store.domain(ref)
        nr_cpus = store.host_facts().nr_cpus
        limit = max_vcpus(dom, nr_cpus)
        if vcpu is None:
            targets = list(range(limit))
        else:
            number = check_int(vcpu, "vcpu", 0, MAX_VIRT_CPUS - 1)
            if number >= limit:
                raise XmError(f"Invalid VCPU {number}: domain '{dom.name}' has VCPUs 0-{limit - 1}")
            targets = [number]
        chosen = parse_cpu_list(cpus if cpus.lower() != "all" else "all", nr_cpus)
        affinity = vcpu_affinity(dom, nr_cpus)
        for n in targets:
            affinity[n] = chosen
        config = dict(dom.config)
        config["cpus"] = [",".join(str(c) for c in a) for a in affinity]
        _set_config_and_uuid(store, dom.domid, config=config)
        which = "all" if vcpu is None else str(vcpu)
        _log(store, f"Domain {dom.name} VCPU {which} pinned to {format_cpu_list(chosen, nr_cpus)}")
        dom.config = config
        return dom


# ------------------------------------------------------------------ sysrq


def send_sysrq(paths: HostPaths, ref: str, key: str) -> DomainRecord:
    """`xm sysrq DOM KEY`: hand one magic-SysRq key to the guest kernel. No
    guest kernel runs in the host model, so the key is recorded in the xm
    log and on the domain's console; the domain record does not change."""
    from xm_core.host.model import Host

    if len(key) != 1 or not key.isprintable() or key.isspace():
        raise UsageError(f"Invalid sysrq key '{key}': expected one printable character")
    with Host(paths) as host, host.store.write():
        dom = host.store.domain(ref)
        if dom.domid == DOM0_ID:
            raise XmError("Cannot send sysrq to privileged domain Domain-0.")
        _log(host.store, f"sysrq '{key}' sent to domain {dom.name} (id {dom.domid})")
        host.console(dom, console.sysrq_text(key))
        return dom
