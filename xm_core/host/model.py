"""The host model: the state store plus the decision engine of the active
policy, and what concerns the policy as a whole (`loadpolicy`,
`dumppolicy`, `info`, `dmesg`, `log`).

A `Host` opens the store lazily. Everything that decides and then changes
state runs inside `host.store.write()`, and reads the active policy there
(`host.policy()`), so a decision is always made against the state it
changes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acm.inputfile import MAX_COMPILED_BYTES, InputFileError, read_input
from xm_core.errors import AcmError, XmError
from xm_core.files.atomic import shared_lock
from xm_core.files.paths import HostPaths
from xm_core.host.console import denied_text
from xm_core.host.store import (
    DMESG,
    DOM0_ID,
    LOG,
    DeviceRecord,
    DomainRecord,
    HostFacts,
    Message,
    PolicyState,
    SteStats,
    Store,
    StoreError,
    open_store,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from acm.engine import Connection, Engine, ResourceUse, Violation
    from acm.inputfile import InputPieces
    from acm.model import BinaryPolicy, PolicyCode, PolicyMap
    from xm_core.files.resources import ResourceLabels

XEN_VERSION = (3, 0, ".4-xm-acm")


@dataclass
class LoadedPolicy:
    """The active policy, decoded, with its engine."""

    name: str
    binary: BinaryPolicy
    map: PolicyMap
    engine: Engine
    generation: int


class Host:
    def __init__(self, paths: HostPaths, store: Store | None = None) -> None:
        self.paths = paths
        self._store = store
        self._policy: LoadedPolicy | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.paths)
            # an update a kill interrupted after its commit finishes its files first
            from xm_core.host.update.pending import finish_pending_update

            finish_pending_update(self.paths, self._store)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ the active policy

    def policy_state(self) -> tuple[PolicyState, str | None]:
        state, name, _ = self.store.policy_state()
        return state, name

    def policy(self) -> LoadedPolicy | None:
        """The active policy (None under DEFAULT or NULL); decoded once per
        policy generation."""
        state, name, generation = self.store.policy_state()
        if state is not PolicyState.NAMED:
            return None
        if self._policy is not None and self._policy.generation == generation:
            return self._policy
        from acm.engine import Engine, PolicyNames

        assert name is not None
        compact = self.store.active_compact()
        if compact is not None:
            binary, pmap = expand_policy(compact, str(self.store.path))
        else:
            decoded = self.store.active_compiled()
            assert decoded is not None
            binary, maybe_map = decoded
            if maybe_map is None:
                raise StoreError(f"Host state '{self.store.path}': the loaded policy has no .map")
            pmap = maybe_map
        extra = self.store.active_extra()
        names = PolicyNames.from_map(pmap, extra.get("conflict_sets", ()))
        self._policy = LoadedPolicy(name, binary, pmap, Engine(binary, names), generation)
        return self._policy

    def dom_ssidref(self, policy: LoadedPolicy, label: str) -> int:
        """The ssidref of a domain label; `Label '<L>' not found.` otherwise."""
        from acm.errors import PolicyError
        from acm.ssidref import label_to_ssidref

        try:
            return label_to_ssidref(policy.map, label, "dom")
        except PolicyError as exc:
            raise XmError(exc.diagnostics.errors[0].message) from None

    def label_of(self, policy: LoadedPolicy | None, ssidref: int) -> str | None:
        if policy is None:
            return None
        from acm.errors import PolicyError
        from acm.ssidref import ssidref_to_label

        try:
            return ssidref_to_label(policy.map, ssidref)
        except PolicyError:
            return None

    # ------------------------------------------------------------ resources

    def resource_labels(self) -> ResourceLabels:
        from xm_core.files.resources import read_resource_labels

        return read_resource_labels(self.paths.resource_labels)

    def resource_ste_ssid(
        self,
        policy: LoadedPolicy,
        labels: ResourceLabels,
        canonical: str,
        written: str | None = None,
    ) -> tuple[str | None, str | None, int]:
        """(label, label's policy, STE SSID under `policy`) of a resource.
        A resource labeled for another policy, or with a label the policy
        lacks, has the null SSID 0, as Xen took it."""
        entry = labels.get(canonical) or (labels.get(written) if written else None)
        if entry is None:
            return None, None, 0
        res_policy, label = entry
        if res_policy != policy.name:
            return label, res_policy, 0
        from acm.errors import PolicyError
        from acm.ssidref import label_to_ssidref

        try:
            ref = label_to_ssidref(policy.map, label, "res")
        except PolicyError:
            return label, res_policy, 0
        return label, res_policy, policy.engine.ste_ssid(ref) or 0

    def attachments(
        self, policy: LoadedPolicy, labels: ResourceLabels, devices: Sequence[DeviceRecord]
    ) -> tuple[list[Connection], list[ResourceUse]]:
        """What the engine re-checks of attached devices under `policy`
        (enforcement.md section 5): every frontend/backend connection, and
        every controlled resource in use with its STE SSID."""
        from acm.engine import Connection, ResourceUse

        connections = [Connection(d.domid, d.backend, f"{d.kind} {d.frontend}") for d in devices]
        uses = []
        for d in devices:
            if d.resource is None:
                continue
            label, _, ste_ssid = self.resource_ste_ssid(policy, labels, d.resource, d.written)
            if d.kind == "vif" and label is None:
                continue  # an unlabeled bridge is not a controlled resource
            uses.append(ResourceUse(d.domid, d.resource, label, ste_ssid))
        return connections, uses

    # ------------------------------------------------------------ messages

    def dmesg(self, text: str) -> None:
        self.store.add_message(DMESG, f"(XEN) {text}")

    def log(self, text: str, level: str = "INFO") -> None:
        self.store.add_message(LOG, f"{level} {text}")

    def console(self, dom: DomainRecord, text: str) -> None:
        """A line on the domain's console log (`xm console`), written by the
        host model where a guest kernel would have printed."""
        self.store.add_console_line(dom.uuid, dom.domid, text)


# ------------------------------------------------------------------ compact form


def compact_policy(binary: BinaryPolicy, pmap: PolicyMap) -> str:
    """The loaded policy's decisions and names as JSON: the type sets (not
    the mostly-zero matrices of the `.bin`) and the `.map`'s labels. Read
    back by `expand_policy` in a fraction of the time a large `.bin` takes
    to decode. A large `.bin` is not stored beside it (`stored_binary`):
    `loaded_binary_bytes` makes it again from this form."""
    import json
    from operator import itemgetter

    # Tuples are written as JSON arrays, and a label's kind (a str enum) as
    # its value: the records are handed to json as they are, without copies.
    name_and_kind = itemgetter(0, 1)

    def part_map(part: Any) -> Any:
        if part is None:
            return None
        return {"types": part.types, "labels": list(map(name_and_kind, part.labels))}

    doc = {
        "reference_name": binary.reference_name,
        "primary": binary.primary.name,
        "secondary": binary.secondary.name,
        "chwall": None
        if binary.chwall is None
        else {
            "max_types": binary.chwall.max_types,
            "ssids": binary.chwall.ssids,
            "conflict_sets": binary.chwall.conflict_sets,
        },
        "ste": None
        if binary.ste is None
        else {"max_types": binary.ste.max_types, "ssids": binary.ste.ssids},
        # a versioned policy's (Xen 3.4) XML version and hash; absent otherwise
        **(
            {"xml_version": list(binary.xml_version), "xml_hash": binary.xml_hash.hex()}
            if binary.xml_version is not None
            else {}
        ),
        "map": {
            "policy_file": pmap.policy_file,
            "binary_file": pmap.binary_file,
            "chwall": part_map(pmap.chwall),
            "ste": part_map(pmap.ste),
        },
    }
    return json.dumps(doc, separators=(",", ":"))


def expand_policy(text: str, where: str = "") -> tuple[BinaryPolicy, PolicyMap]:
    """`compact_policy` read back, checked as far as the engine relies on it
    (every type number in range); a damaged record is a StoreError."""
    import json

    from acm.model import (
        BinaryPolicy,
        ChwallPolicy,
        MapPart,
        PolicyCode,
        PolicyMap,
        SsidLabel,
        StePolicy,
    )
    from acm.source import LabelKind

    def rows(value: Any, max_types: int) -> tuple[tuple[int, ...], ...]:
        out = tuple(tuple(r) for r in value)
        for r in out:
            if any(not isinstance(t, int) or not 0 <= t < max_types for t in r):
                raise ValueError("type number out of range")
        return out

    try:
        doc = json.loads(text)
        chwall = ste = None
        if doc["chwall"] is not None:
            c = doc["chwall"]
            chwall = ChwallPolicy(
                int(c["max_types"]),
                rows(c["ssids"], c["max_types"]),
                rows(c["conflict_sets"], c["max_types"]),
            )
        if doc["ste"] is not None:
            s = doc["ste"]
            ste = StePolicy(int(s["max_types"]), rows(s["ssids"], s["max_types"]))
        binary = BinaryPolicy(
            str(doc["reference_name"]),
            PolicyCode[doc["primary"]],
            PolicyCode[doc["secondary"]],
            chwall,
            ste,
        )
        if "xml_version" in doc:
            major, minor = doc["xml_version"]
            binary = binary._replace(
                xml_version=(int(major), int(minor)), xml_hash=bytes.fromhex(doc["xml_hash"])
            )
        m = doc["map"]

        def part(code: PolicyCode, bin_part: Any) -> MapPart | None:
            data = m[code.name.lower()]
            if data is None:
                return None
            labels = tuple(
                SsidLabel(str(n), LabelKind(k), i) for i, (n, k) in enumerate(data["labels"])
            )
            if bin_part is None or len(labels) != bin_part.max_ssidrefs:
                raise ValueError("labels and SSIDs disagree")
            return MapPart(code, tuple(map(str, data["types"])), labels, bin_part.ssids)

        pmap = PolicyMap(
            binary.reference_name,
            str(m["policy_file"]),
            str(m["binary_file"]),
            binary.primary,
            binary.secondary,
            part(PolicyCode.CHWALL, chwall),
            part(PolicyCode.STE, ste),
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise StoreError(
            f"Host state '{where}': the loaded policy record is damaged ({exc}); "
            "it was left as it is"
        ) from None
    return binary, pmap


# ------------------------------------------------------------------ loadpolicy


@dataclass(frozen=True)
class Relabel:
    """A running domain that keeps its ssidref through a load with
    `keep_ssidrefs` and so reads as another label of the new policy (None:
    no one label owns both halves of the number there)."""

    domid: int
    name: str
    ssidref: int
    old: str | None
    new: str | None

    @property
    def reads_as(self) -> str:
        return f"label '{self.new}'" if self.new else "no label"

    def as_dict(self) -> dict[str, Any]:
        return {
            "domid": self.domid,
            "name": self.name,
            "ssidref": self.ssidref,
            "old_label": self.old,
            "new_label": self.new,
        }


@dataclass
class LoadResult:
    name: str  # the reference name now active
    previous: str  # the reference name (or DEFAULT) before
    update: bool  # the same policy again (an update)
    domains: int  # running domains re-checked
    violations: list[Violation] = field(default_factory=list)
    keep_ssidrefs: bool = False  # loaded as Xen 3.0.4 did (labels may change)
    relabeled: list[Relabel] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.name,
            "previous": self.previous,
            "update": self.update,
            "domains_checked": self.domains,
            "loaded": not self.violations,
            "keep_ssidrefs": self.keep_ssidrefs,
            "relabeled": [r.as_dict() for r in self.relabeled],
            "violations": [
                {
                    "kind": v.kind.value,
                    "domid": v.domid,
                    "name": v.name,
                    "message": v.message,
                }
                for v in self.violations
            ],
        }


class PolicyLoadRefused(AcmError):
    def __init__(self, message: str, result: LoadResult, details: list[str]) -> None:
        super().__init__(message, details)
        self.result = result


def _read_output(file: str, what: str, name: str) -> bytes:
    try:
        return read_input(file, MAX_COMPILED_BYTES)
    except InputFileError as exc:
        if not exc.missing:
            raise XmError(f"{what} '{file}' {exc.reason}") from None
        raise XmError(f"{what} '{file}' not found. Run 'xm makepolicy {name}' first.") from None


def read_compiled_policy(
    paths: HostPaths, name: str
) -> tuple[bytes, BinaryPolicy, bytes, PolicyMap]:
    """NAME's `.bin` and `.map` from the policy tree: their bytes, decoded
    (loadpolicy and the versioned update both read them here)."""
    raw, binary, map_raw, pmap = _read_compiled(paths, name, whole=True)
    assert raw is not None
    return raw, binary, map_raw, pmap


def _read_compiled(
    paths: HostPaths, name: str, whole: bool
) -> tuple[bytes | None, BinaryPolicy, bytes, PolicyMap]:
    """`read_compiled_policy`; unless `whole`, a `.bin` the store does not
    keep (see `stored_binary`) is read a piece at a time as it is checked,
    never held all at once, and its bytes are returned as None."""
    from acm.binfmt import decode_binary
    from acm.errors import PolicyError
    from acm.mapfile import parse_map

    files = paths.policy_files(name).settled()  # checks the dotted name first
    if not any(os.path.lexists(f) for f in (files.xml, files.bin, files.map)):
        raise XmError(
            f"Policy '{name}' not found: there is neither '{files.xml}' nor '{files.bin}'."
        )
    what = "Binary policy file"
    source: InputPieces | None = None
    try:
        with shared_lock(files.lock):  # no makepolicy renames between the two reads
            # (nor after them a change of the open .bin: makepolicy replaces files)
            source = None if whole else _open_output(files.bin)
            raw = _read_output(files.bin, what, name) if source is None else None
            map_raw = _read_output(files.map, "Policy map file", name)
        data: bytes | InputPieces
        if source is None:
            assert raw is not None
            data = raw
        else:
            data = source
        try:
            pmap = parse_map(map_raw, files.map)
        except PolicyError:
            decode_binary(data, files.bin)  # a damaged .bin is reported first (BIN001)
            raise
        # The .map's type sets spare decoding the .bin's SSID matrices cell by
        # cell when the .bin holds exactly their encoding; the .bin is checked
        # in full all the same (and decoded as always when it holds others).
        expected = {p.code: p.ssid_types for p in (pmap.chwall, pmap.ste) if p is not None}
        binary = decode_binary(data, files.bin, expected)
        if source is not None and keeps_any_binary(binary):
            raw = source[:]
    except InputFileError as exc:
        raise XmError(f"{what} '{files.bin}' {exc.reason}") from None
    finally:
        if source is not None:
            source.close()
    _check_map_matches(binary, pmap, files.map)
    return raw, binary, map_raw, pmap


def _open_output(file: str) -> InputPieces | None:
    """The compiled `file` opened to be read in pieces when it is larger
    than the store keeps inline; None for a smaller one (read it whole)."""
    from acm.inputfile import InputPieces

    try:
        pieces = InputPieces(file, MAX_COMPILED_BYTES)
    except InputFileError:
        return None  # read_input says what is wrong with it
    if len(pieces) <= INLINE_BINARY_BYTES:
        pieces.close()
        return None
    return pieces


def _check_map_matches(binary: BinaryPolicy, pmap: PolicyMap, file: str) -> None:
    """The `.map` must describe the `.bin` it came with."""
    from acm.model import CompiledPolicy

    problems = CompiledPolicy(binary, pmap).map_mismatches()
    if problems:
        raise XmError(
            f"Policy map file '{file}' does not belong to the binary policy: " + "; ".join(problems)
        )


MAX_SET_NAMES_BYTES = 64 << 20  # 65,535 sets of 65,535 type numbers would not fit: enough


def conflict_set_names(paths: HostPaths, name: str, binary: BinaryPolicy) -> list[str | None]:
    """The conflict sets' names from the side file makepolicy wrote, else
    from the policy's XML, when it is there and matches the binary; they
    serve explanations only."""
    if binary.chwall is None or not binary.chwall.conflict_sets:
        return []
    from acm.mapfile import parse_set_names

    # makepolicy writes them beside the .map; the side file must match the
    # binary's sets, else (another compiler, an older one) the XML is read
    try:
        side = read_input(str(paths.policy_files(name).set_names), MAX_SET_NAMES_BYTES)
    except InputFileError:
        side = None
    if side is not None:
        found = parse_set_names(side, binary.reference_name, binary.chwall.conflict_sets)
        if found is not None:
            return found
    try:
        from acm.source import conflict_set_names as names_in
        from acm.source import read_policy_document

        doc = read_policy_document(paths.policy_files(name).xml)
        src = doc.source_without_labels()
    except Exception:  # noqa: BLE001 - names are optional; the binary decides
        return []
    if src.policy_name.text != binary.reference_name or src.chwall is None:
        return []
    names = names_in(doc.root)  # a versioned policy's in the .bin's order (by name)
    if len(names) != len(binary.chwall.conflict_sets):
        return []
    return names


KEEP_SSIDREFS_FLAG = "--keep-ssidrefs"


def is_versioned_binary(paths: HostPaths, name: str) -> bool:
    """Whether NAME's compiled `.bin` is of Xen 3.4's layout (it starts with
    the magic), read from its first bytes only: `loadpolicy` of a 3.0.4
    policy pays nothing more."""
    import stat

    from acm.binfmt import is_versioned_header

    files = paths.policy_files(name).settled()
    try:  # non-blocking, regular files only: a FIFO must not hang us
        fd = os.open(files.bin, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False  # loadpolicy itself says what is wrong with the file
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, 4)
    except OSError:
        return False
    finally:
        os.close(fd)
    return is_versioned_header(head)


def load_policy(paths: HostPaths, name: str, keep_ssidrefs: bool = False) -> LoadResult:
    """`xm loadpolicy [--keep-ssidrefs] NAME`: load the compiled `.bin` (and
    its `.map`).

    Refused unless the active policy is DEFAULT or has the same reference
    name and the same parts; the running state is re-checked against the
    new policy first (enforcement.md section 5), every violation listed,
    and on refusal nothing changes. Running domains keep their ssidref
    numbers. By default a labeled running domain's label must keep its
    number too (else refused). With `keep_ssidrefs` (Xen 3.0.4's way) the
    domain takes whatever label the new policy gives its number and is
    re-checked under that reading; `LoadResult.relabeled` says who changed.
    On success the Chinese Wall counters are those of the walk
    (`Engine.chwall_walk`), in both modes.
    """
    from acm.engine import Engine, PolicyNames, RunningDomain

    raw, binary, map_raw, pmap = _read_compiled(paths, name, whole=False)
    new_name = binary.reference_name
    set_names = conflict_set_names(paths, name, binary)
    labels = Host(paths).resource_labels()  # read before the lock; checked below
    with Host(paths) as host, host.store.write():
        store = host.store
        state, active = host.policy_state()
        previous = active if state is PolicyState.NAMED and active else state.value
        if state is PolicyState.NULL:
            raise XmError("The ACM is not enabled on this host (policy state NULL).")
        if state is PolicyState.NAMED and active != new_name:
            raise XmError(f"Active policy '{active}' incompatible with new policy '{new_name}'")
        compact = compact_policy(binary, pmap)
        if state is PolicyState.NAMED:
            _check_same_parts(host, binary, new_name, compact)
        engine = Engine(binary, PolicyNames.from_map(pmap, set_names))
        new_policy = LoadedPolicy(new_name, binary, pmap, engine, -1)
        domains = store.domains()
        violations: list[Violation] = []
        relabeled: list[Relabel] = []
        running: list[RunningDomain] = []
        dom0_ref = engine.bootstrap_ssidref()
        for dom in domains:
            ref = dom0_ref if dom.domid == DOM0_ID else dom.ssidref
            running.append(RunningDomain(dom.domid, dom.name, ref))
            if dom.domid == DOM0_ID or not dom.label or dom.policy != new_name:
                continue
            moved = _label_moved(host, new_policy, dom.domid, dom.name, dom.label, ref)
            if moved is None:
                continue
            if keep_ssidrefs:
                now = host.label_of(new_policy, ref)
                relabeled.append(Relabel(dom.domid, dom.name, ref, dom.label, now))
            else:
                violations.append(moved)
        connections, uses = host.attachments(new_policy, labels, store.devices())
        checked = engine.revalidate(running, connections, uses)
        violations.extend(checked.violations)
        result = LoadResult(
            new_name,
            previous,
            previous == new_name,
            len(domains),
            violations,
            keep_ssidrefs,
            relabeled,
        )
        how = f" {KEEP_SSIDREFS_FLAG}" if keep_ssidrefs else ""
        if violations:
            store_messages = [
                "chwall_set_policy: New policy conflicts with running domains. Policy load aborted."
                if any(v.kind.value == "chwall" for v in violations)
                else "ste_set_policy: New policy conflicts with running domains. "
                "Policy load aborted.",
            ]
            for text in store_messages:
                host.dmesg(text)
            for v in violations:
                concerned = store.find_domain(v.domid)
                if concerned is not None:
                    refused = f"policy '{new_name}' not loaded: {v.message}"
                    host.console(concerned, denied_text(refused))
            host.log(f"loadpolicy{how} {new_name} refused: {len(violations)} violation(s)", "ERROR")
        else:
            assert checked.counters is not None
            store.set_active_policy(
                PolicyState.NAMED,
                new_name,
                b"" if raw is None else stored_binary(raw, binary),
                map_raw,
                {"conflict_sets": set_names, "source": name},
                compact,
            )
            boot_label = host.label_of(new_policy, dom0_ref)
            store.update_domain(DOM0_ID, ssidref=dom0_ref, policy=new_name, label=boot_label)
            for r in relabeled:
                store.update_domain(r.domid, label=r.new)
                host.log(
                    f"Domain {r.name} (id {r.domid}) keeps ssidref 0x{r.ssidref:08x}: "
                    f"label {r.old} -> {r.new or '(none)'}",
                    "WARNING",
                )
            store.set_chwall_counters(checked.counters.running, checked.counters.aggregate)
            store.clear_ste_caches()
            host.dmesg(f"acm_set_policy: policy '{new_name}' loaded.")
            host.log(f"loadpolicy{how} {new_name} (was {previous})")
    if violations:
        # with the flag a violation may concern a domain read as another label
        notes = [
            f"  note: domain '{r.name}' (id {r.domid}) keeps ssidref 0x{r.ssidref:08x}, which "
            f"reads as {r.reads_as} (was '{r.old}')"
            for r in relabeled
        ]
        raise PolicyLoadRefused(
            "New policy conflicts with running domains. Policy load aborted.",
            result,
            [f"  {v.message}" for v in violations] + notes,
        )
    return result


def _check_same_parts(
    host: Host, binary: BinaryPolicy, new_name: str, compact: str | None = None
) -> None:
    """Xen 3.0.4 fixed the policy type (primary and secondary part) with the
    first policy; an update with other parts was refused. Here it would
    also read the halves of the kept ssidrefs with other parts. (`compact`:
    the new policy's compact form.)"""
    new = (binary.primary, binary.secondary)
    old = _active_parts(host, compact, new)
    if old is None:
        return
    if old != new:
        raise XmError(
            f"New policy '{new_name}' has parts {new[0].name}/{new[1].name}, the active one "
            f"{old[0].name}/{old[1].name}: the policy type of a running host cannot change"
        )


def _active_parts(
    host: Host, new_compact: str | None, new_parts: tuple[PolicyCode, PolicyCode]
) -> tuple[PolicyCode, PolicyCode] | None:
    """The active policy's (primary, secondary) parts, read from its compact
    form rather than by decoding all of it (None: no policy). When that is
    `new_compact` (the compact form of the policy being loaded, whose parts
    are `new_parts`), it is not read at all."""
    import json

    from acm.model import PolicyCode

    compact = host.store.active_compact()
    if compact is not None:
        if new_compact is not None and compact == new_compact:  # the same policy again
            return new_parts
        try:
            doc = json.loads(compact)
            return PolicyCode[doc["primary"]], PolicyCode[doc["secondary"]]
        except (ValueError, KeyError, TypeError):
            pass  # damaged: the full read below reports it
    active = host.policy()
    if active is None:
        return None
    return active.binary.primary, active.binary.secondary


# A `.bin` up to this size is stored as it is; a larger one (a 20,000-label
# policy's is 90 MB, mostly zeros) is made again from the compact form when
# it is asked for, which the strict decoder guarantees gives the same bytes.
INLINE_BINARY_BYTES = 256 << 10


def stored_binary(raw: bytes, binary: BinaryPolicy) -> bytes:
    """What the store keeps of a loaded `.bin`: its bytes, or for a large one
    nothing (an empty value, see `loaded_binary_bytes`). A `.bin` without
    parts keeps its bytes whatever its size (Xen's little-endian field in
    it is not what the encoder writes), and so does a versioned one (Xen
    3.4's layout: kept as read until its reading back is shown exact)."""
    if len(raw) <= INLINE_BINARY_BYTES or keeps_any_binary(binary):
        return raw
    return b""


def keeps_any_binary(binary: BinaryPolicy) -> bool:
    """Whether the store keeps the bytes of `binary`'s `.bin` whatever its
    size (see `stored_binary`)."""
    from acm.model import PolicyCode

    return binary.primary is PolicyCode.NULL or binary.versioned


def loaded_binary_bytes(host: Host) -> bytes | None:
    """The `.bin` of the active policy as it was loaded (None: no policy)."""
    from acm.binfmt import binary_bytes

    loaded = host.store.active_binary()
    if loaded is None:
        return None
    if loaded[0]:
        return loaded[0]
    policy = host.policy()
    assert policy is not None
    return binary_bytes(policy.binary)


def _label_moved(
    host: Host, policy: LoadedPolicy, domid: int, name: str, label: str, ssidref: int
) -> Violation | None:
    """A running domain keeps its ssidref: without `keep_ssidrefs` its label
    must stay at the same SSIDs. The violation when it does not, saying what
    the flag would make of the domain; None when it does."""
    from acm.engine import Violation, ViolationKind
    from acm.errors import PolicyError
    from acm.ssidref import label_to_ssidref

    try:
        new_ref: int | None = label_to_ssidref(policy.map, label, "dom")
    except PolicyError:
        new_ref = None
    if new_ref == ssidref:
        return None
    taken = host.label_of(policy, ssidref)
    would = f" ({KEEP_SSIDREFS_FLAG} keeps 0x{ssidref:08x}, which reads as " + (
        f"label '{taken}')" if taken else "no label there)"
    )
    if new_ref is None:
        what = f"its label '{label}' is not in the new policy"
    else:
        what = (
            f"label '{label}' moved from ssidref 0x{ssidref:08x} to 0x{new_ref:08x}; "
            "running domains keep their ssidref"
        )
    return Violation(
        ViolationKind.LABEL, domid, name, f"domain '{name}' (id {domid}): {what}{would}"
    )


# ------------------------------------------------------------------ dumppolicy


@dataclass
class PolicyDump:
    """What `dumppolicy` shows: the active binary with live counters."""

    binary: BinaryPolicy
    running_types: list[int]
    conflict_aggregate: list[int]
    stats: SteStats


def dump_policy(paths: HostPaths) -> PolicyDump:
    with Host(paths) as host, host.store.read():
        policy = host.policy()
        if policy is None:
            raise XmError(
                f"No policy is loaded (active policy: {host.store.active_policy_name()})."
            )
        max_types = policy.binary.chwall.max_types if policy.binary.chwall else 0
        running, aggregate = host.store.chwall_counters(max_types)
        return PolicyDump(policy.binary, running, aggregate, host.store.ste_stats())


# ------------------------------------------------------------------ info, dmesg, log


@dataclass
class HostInfo:
    facts: list[tuple[str, str]]

    def as_dict(self) -> dict[str, str]:
        return dict(self.facts)


XEN_SCHEDULER = "credit"  # Xen 3.0.4's default scheduler
XEND_CONFIG_FORMAT = 3  # what Xen 3.0.4's xend reported
_PLATFORM = {  # (xen_caps architecture, platform_params) by machine
    "x86_64": ("x86_64", "virt_start=0xffff800000000000"),
    "amd64": ("x86_64", "virt_start=0xffff800000000000"),
    "i386": ("x86_32", "virt_start=0xfc000000"),
    "i686": ("x86_32", "virt_start=0xfc000000"),
    "ia64": ("ia64", "virt_start=0xf000000000000000"),
}


def _cpu_mhz() -> int:
    """This machine's clock (the model has no clock of its own); 0 when unknown."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.lower().startswith("cpu mhz"):
                    return int(float(line.split(":", 1)[1]))
    except (OSError, ValueError):
        pass
    return 0


def host_info(paths: HostPaths, how: str = "") -> HostInfo:
    """Every field of the man page's `xm info` sample, in its order, with
    the host model's values (CPUs and memory from the host record; the
    build fields describe xm-acm), then xm-acm's own fields."""
    with Host(paths) as host, host.store.read():
        store = host.store
        facts: HostFacts = store.host_facts()
        domains = store.domains()
        from xm_core.host.memory import host_memory

        memory = host_memory(store, paths)
        state, name = host.policy_state()
        import platform  # here: only `xm info` reads it

        uname = platform.uname()
        arch, platform_params = _PLATFORM.get(
            uname.machine.lower(), (uname.machine or "unknown", "virt_start=0x0")
        )
        created = time.localtime(facts.created_at)
        rows = [
            ("host", uname.node),
            ("release", uname.release),
            ("version", uname.version),
            ("machine", uname.machine),
            ("nr_cpus", str(facts.nr_cpus)),
            ("nr_nodes", "1"),
            ("sockets_per_node", str(facts.nr_cpus)),
            ("cores_per_socket", "1"),
            ("threads_per_core", "1"),
            ("cpu_mhz", str(_cpu_mhz())),
            ("hw_caps", ":".join(["00000000"] * 4)),  # no hardware: no CPUID features
            ("total_memory", str(memory.total)),
            ("free_memory", str(memory.free)),
            ("xen_major", str(XEN_VERSION[0])),
            ("xen_minor", str(XEN_VERSION[1])),
            ("xen_extra", XEN_VERSION[2]),
            ("xen_caps", f"xen-{XEN_VERSION[0]}.{XEN_VERSION[1]}-{arch}"),
            ("xen_scheduler", XEN_SCHEDULER),
            ("xen_pagesize", str(os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096)),
            ("platform_params", platform_params),
            ("xen_changeset", "unavailable"),  # what Xen printed for a build outside hg
            ("cc_compiler", f"Python {platform.python_version()} ({platform.python_compiler()})"),
            ("cc_compile_by", "xm-acm"),
            ("cc_compile_domain", "(none)"),
            ("cc_compile_date", time.strftime("%a %b %d %H:%M:%S %Z %Y", created)),
            ("xend_config_format", str(XEND_CONFIG_FORMAT)),
            ("xm_root", str(paths.root)),
        ]
        if how:
            rows.append(("xm_root_from", how))
        rows += [
            ("xm_state", str(store.path)),
            ("acm_policy_state", state.value),
            ("acm_policy", name if state is PolicyState.NAMED and name else state.value),
            ("nr_domains", str(len(domains))),
            ("host_created", time.strftime("%Y-%m-%d %H:%M:%S", created)),
        ]
        return HostInfo(rows)


def read_messages(paths: HostPaths, kind: str, clear: bool = False) -> list[Message]:
    with Host(paths) as host:
        if clear:
            with host.store.write():
                found = host.store.messages(kind)
                host.store.clear_messages(kind)
                return found
        return host.store.messages(kind)


def dmesg(paths: HostPaths, clear: bool = False) -> list[Message]:
    return read_messages(paths, DMESG, clear)


def xm_log(paths: HostPaths) -> list[Message]:
    return read_messages(paths, LOG)


__all__ = [
    "Host",
    "LoadedPolicy",
    "KEEP_SSIDREFS_FLAG",
    "LoadResult",
    "PolicyDump",
    "PolicyLoadRefused",
    "Relabel",
    "dmesg",
    "dump_policy",
    "host_info",
    "load_policy",
    "xm_log",
]
