"""What every analysis reads: a compiled policy seen as labels, each with the
Chinese Wall and STE types that the hypervisor would enforce for a domain
(or resource) carrying it.

The types come from the binary matrices (what Xen enforces); the `.map`
gives only names, kinds and numbering. A label resolves to one SSID per
part the way `xm` resolves it (`acm.ssidref`): a VM label needs exactly
one entry in each part the policy has, a resource label exactly one STE
entry. Domain-0 runs with the bootstrap label at SSID 1 of each part
(ssidref 0x00010001) whatever else carries that name. A label that cannot
be resolved, or that can never start, keeps its reason in `problem` and is
left out of the graphs (the analyses list such labels separately).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from acm.errors import Location, PolicyError
from acm.model import CompiledPolicy, MapPart, TypeSet
from acm.source import LabelKind

BIN_SUFFIX = ".bin"
MAP_SUFFIX = ".map"


def analysis_error(code: str, message: str, file: str = "") -> PolicyError:
    """An analysis failure: one clear message (`Error: '<message>'` on the command line)."""
    return PolicyError.single(code, message, Location(file) if file else None)


class _LabelFields(NamedTuple):
    name: str
    kind: LabelKind  # VM or RES
    chwall_ssids: tuple[int, ...]  # every CHWALL entry with this name and kind
    ste_ssids: tuple[int, ...]  # every STE entry with this name and kind
    chwall_ssid: int | None  # the one xm would use; None when there is none or it is ambiguous
    ste_ssid: int | None
    chwall: TypeSet  # Chinese Wall types of `chwall_ssid` (empty without one)
    ste: TypeSet  # STE types of `ste_ssid`
    problem: str | None  # why no domain or resource can carry it
    bootstrap: bool
    key: str  # a unique id across kinds: `dom:<name>` or `res:<name>` (xm's `dom`/`res`)


def label_key(name: str, kind: LabelKind) -> str:
    return ("dom:" if kind is LabelKind.VM else "res:") + name


class Label(_LabelFields):
    """A label of the policy as a domain or resource would carry it. (A
    record, not a dataclass: a policy has tens of thousands of labels, each
    made without a Python-level `__init__`, its `key` read as a field.)"""

    __slots__ = ()

    def __new__(
        cls,
        name: str,
        kind: LabelKind,
        chwall_ssids: tuple[int, ...],
        ste_ssids: tuple[int, ...],
        chwall_ssid: int | None,
        ste_ssid: int | None,
        chwall: TypeSet,
        ste: TypeSet,
        problem: str | None = None,
        bootstrap: bool = False,
    ) -> Label:
        fields = (name, kind, chwall_ssids, ste_ssids, chwall_ssid, ste_ssid, chwall, ste)
        return tuple.__new__(cls, (*fields, problem, bootstrap, label_key(name, kind)))

    @property
    def is_vm(self) -> bool:
        return self.kind is LabelKind.VM

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass
class AnalysisPolicy:
    """A compiled policy and its labels, ready for the analyses."""

    compiled: CompiledPolicy
    labels: tuple[Label, ...]  # VM labels in SSID order, then resource labels
    bootstrap: str | None  # the name of Domain-0's label
    conflict_set_names: tuple[str | None, ...]  # from the XML when it was read; else None
    origin: str = ""  # the file it was read from
    # A versioned policy read from XML: its labels' renames, (kind, new name)
    # -> old name (`from=`); a compiled policy keeps none.
    renamed_from: dict[tuple[str, LabelKind], str] = field(default_factory=dict)

    # The indexes below are built on first use: each analysis asks for some
    # of them, none for all, and a large policy has tens of thousands of labels.

    @cached_property
    def _by_key(self) -> dict[str, Label]:
        return {label.key: label for label in self.labels}

    @cached_property
    def _shared_names(self) -> frozenset[str]:
        """The names that both a VM and a resource label carry (a name is
        unique within its kind)."""
        vms, resources = self._kinds
        return frozenset(label.name for label in vms) & {label.name for label in resources}

    @property
    def name(self) -> str:
        return self.compiled.binary.reference_name

    @property
    def version(self) -> tuple[int, int] | None:
        """The XML policy version of a versioned policy (Xen 3.4), else None."""
        return self.compiled.binary.xml_version

    @property
    def has_chwall(self) -> bool:
        return self.compiled.binary.chwall is not None

    @property
    def has_ste(self) -> bool:
        return self.compiled.binary.ste is not None

    @property
    def chwall_types(self) -> tuple[str, ...]:
        part = self.compiled.map.chwall
        return part.types if part else ()

    @property
    def ste_types(self) -> tuple[str, ...]:
        part = self.compiled.map.ste
        return part.types if part else ()

    @property
    def conflict_sets(self) -> tuple[TypeSet, ...]:
        cw = self.compiled.binary.chwall
        return cw.conflict_sets if cw else ()

    def conflict_set_title(self, index: int) -> str:
        """`'Protection1'` when the XML named it, else `#0` (the binary keeps no names)."""
        name = self.conflict_set_names[index] if index < len(self.conflict_set_names) else None
        return name if name is not None else f"#{index}"

    def chwall_names(self, types: TypeSet) -> list[str]:
        names = self.chwall_types
        return [names[t] for t in types]

    def ste_names(self, types: TypeSet) -> list[str]:
        names = self.ste_types
        return [names[t] for t in types]

    @property
    def vm_labels(self) -> list[Label]:
        return list(self._kinds[0])

    @property
    def res_labels(self) -> list[Label]:
        return list(self._kinds[1])

    @cached_property
    def _kinds(self) -> tuple[tuple[Label, ...], tuple[Label, ...]]:
        """The VM labels and the resource labels, told apart once."""
        vm = LabelKind.VM
        # `labels` holds the VM labels first: two slices, not a test per label
        split = bisect_left(self.labels, True, key=lambda label: label.kind is not vm)
        return self.labels[:split], self.labels[split:]

    @cached_property
    def vm_positions(self) -> dict[str, int]:
        """Each VM label's key -> its place in `vm_labels` (the policy's order)."""
        return {label.key: i for i, label in enumerate(self._kinds[0])}

    def label_by_key(self, key: str) -> Label:
        return self._by_key[key]

    def display(self, label: Label) -> str:
        """The name, prefixed with `dom:`/`res:` only when both kinds use it."""
        return label.key if label.name in self._shared_names else label.name

    def display_all(self, labels: Iterable[Label]) -> list[str]:
        """`display` of each label (one call for the thousands of a set)."""
        shared = self._shared_names
        if not shared:
            return [label.name for label in labels]
        return [label.key if label.name in shared else label.name for label in labels]

    def find(self, text: str, kind: LabelKind | None = None) -> Label:
        """The label a user means by `text` (a name, or `dom:NAME` / `res:NAME`).

        PolicyError `Label '<x>' not found.` (xm's message) or, when a VM and a
        resource label share the name, a request to say which."""
        by_key = self._by_key
        hits = [by_key[key] for key in ("dom:" + text, "res:" + text) if key in by_key]
        if not hits and text[:4] in ("dom:", "res:") and text in by_key:
            hits = [by_key[text]]
        if kind is not None:
            hits = [lab for lab in hits if lab.kind is kind]
        if not hits:
            raise analysis_error("ANA001", f"Label '{text}' not found.")
        if len(hits) > 1:
            raise analysis_error(
                "ANA001",
                f"Label '{text}' is both a VM and a resource label: write dom:{text} or res:{text}",
            )
        return hits[0]


_Entries = dict[str, list[int]]  # label name -> its SSIDs in a part, ascending


def _entries(part: MapPart | None) -> tuple[_Entries, _Entries]:
    """The SSIDs of each VM label name and of each resource label name in a
    part, names in the order of their first SSID."""
    vms: _Entries = {}
    resources: _Entries = {}
    if part is None:
        return vms, resources
    vm, res = LabelKind.VM, LabelKind.RES
    for name, kind, ssid in part.labels:
        table = vms if kind is vm else resources if kind is res else None
        if table is None or ssid == 0:
            continue  # the null label
        ssids = table.get(name)
        if ssids is None:
            table[name] = [ssid]
        else:
            ssids.append(ssid)
    return vms, resources


def _pick(
    ssids: list[int], part: str, what: str, fixed: int | None
) -> tuple[int | None, str | None]:
    """The SSID xm would use, or the reason there is none."""
    if fixed is not None:
        return fixed, None
    if not ssids:
        return None, f"has no {what} types, so it can never start under this policy"
    if len(ssids) > 1:
        listed = ", ".join(f"{s:x}" for s in ssids)
        return None, (
            f"has {len(ssids)} {part} SSIDs ({listed}): xm cannot give it to a domain "
            "(label not unique)"
        )
    return ssids[0], None


def _vm_order(ste: _Entries, chwall: _Entries) -> list[str]:
    """VM label names in about document order: by their first STE SSID (the
    STE list holds every VM label that can start under an STE policy), else
    by their first CHWALL SSID."""
    if not ste:
        return list(chwall)  # in the order of their first CHWALL SSID
    if chwall.keys() <= ste.keys():
        return list(ste)  # in the order of their first STE SSID

    # Labels only in the CHWALL list fall between the others by their CHWALL SSID.
    def position(name: str) -> tuple[int, int]:
        in_ste, in_cw = ste.get(name), chwall.get(name)
        return ((in_ste or in_cw or [0])[0], (in_cw or [0])[0])

    return sorted(ste.keys() | chwall.keys(), key=position)


_new_label = tuple.__new__  # a Label without the call of its __new__


def from_compiled(
    compiled: CompiledPolicy,
    conflict_set_names: tuple[str | None, ...] | None = None,
    origin: str = "",
) -> AnalysisPolicy:
    """The analysis view of a compiled policy (from the compiler or from `.bin` + `.map`)."""
    binary, pmap = compiled.binary, compiled.map
    cw_vm, cw_res = _entries(pmap.chwall)
    ste_vm, ste_res = _entries(pmap.ste)
    primary = pmap.part(pmap.primary)
    bootstrap = None
    if primary is not None and len(primary.labels) > 1:
        bootstrap = primary.labels[1].name

    def at_one(part: MapPart | None, name: str) -> int | None:
        """SSID 1 when it belongs to `name` (Domain-0's fixed ssidref 0x00010001)."""
        if part is None or len(part.labels) < 2 or part.labels[1].name != name:
            return None
        return 1

    cw_rows = binary.chwall.ssids if binary.chwall is not None else None
    ste_rows = binary.ste.ssids if binary.ste is not None else None
    labels: list[Label] = []
    add = labels.append
    for kind, names, cw_entries, ste_entries in (
        (LabelKind.VM, _vm_order(ste_vm, cw_vm), cw_vm, ste_vm),
        (LabelKind.RES, list(ste_res), cw_res, ste_res),
    ):
        is_vm = kind is LabelKind.VM
        prefix = label_key("", kind)
        no_ssids: list[int] = []
        for name in names:
            cw_ssids = cw_entries.get(name, no_ssids)
            ste_ssids = ste_entries.get(name, no_ssids)
            is_boot = is_vm and name == bootstrap
            # Most labels have exactly one entry in each part they need one in.
            if (
                not is_boot
                and (cw_rows is None or not is_vm or len(cw_ssids) == 1)
                and (ste_rows is None or len(ste_ssids) == 1)
            ):
                cw_ssid = cw_ssids[0] if cw_rows is not None and is_vm else None
                ste_ssid = ste_ssids[0] if ste_rows is not None else None
                add(
                    _new_label(
                        Label,
                        (
                            name,
                            kind,
                            tuple(cw_ssids),
                            tuple(ste_ssids),
                            cw_ssid,
                            ste_ssid,
                            cw_rows[cw_ssid] if cw_rows is not None and cw_ssid else (),
                            ste_rows[ste_ssid] if ste_rows is not None and ste_ssid else (),
                            None,
                            False,
                            prefix + name,  # label_key
                        ),
                    )
                )
                continue
            problems = []
            cw_ssid = ste_ssid = None
            if cw_rows is not None and is_vm:
                fixed = at_one(pmap.chwall, name) if is_boot else None
                cw_ssid, why = _pick(cw_ssids, "CHWALL", "Chinese Wall", fixed)
                problems += [why] if why else []
            if ste_rows is not None:
                fixed = at_one(pmap.ste, name) if is_boot else None
                ste_ssid, why = _pick(ste_ssids, "STE", "STE", fixed)
                if why and not is_vm:
                    why = why.replace("it can never start", "no resource can use it")
                problems += [why] if why else []
            add(
                Label(
                    name=name,
                    kind=kind,
                    chwall_ssids=tuple(cw_ssids),
                    ste_ssids=tuple(ste_ssids),
                    chwall_ssid=cw_ssid,
                    ste_ssid=ste_ssid,
                    chwall=cw_rows[cw_ssid] if cw_rows is not None and cw_ssid else (),
                    ste=ste_rows[ste_ssid] if ste_rows is not None and ste_ssid else (),
                    problem="; ".join(problems) if problems else None,
                    bootstrap=is_boot,
                )
            )
    sets = len(binary.chwall.conflict_sets) if binary.chwall else 0
    set_names = conflict_set_names if conflict_set_names is not None else (None,) * sets
    return AnalysisPolicy(compiled, tuple(labels), bootstrap, tuple(set_names), origin)


# ---------------------------------------------------------------- loading


def load_xml(path: str | Path, display: str | None = None) -> AnalysisPolicy:
    """Read, validate and compile an XML policy in memory (nothing is written).

    A policy whose `.bin` would be too large to write or load (ACM017 for
    makepolicy) is analysed all the same: no `.bin` is made here."""
    from acm.compiler import gc_paused, read_and_compile
    from acm.source import conflict_set_names

    # The labels are tens of thousands of records in no cycle: the cyclic
    # collector would only scan them again and again while they are made.
    with gc_paused():
        # the compiler's fast path, reading the tree while the schema validates it
        compiled, _warnings, doc = read_and_compile(str(path), display, size_limit=False)
        # conflict-set names (which the compiled policy does not keep) from the tree
        names = tuple(conflict_set_names(doc.root))
        if not doc.versioned:
            return from_compiled(compiled, names, display or str(path))
    # the renames of a versioned policy are in the XML alone
    policy = from_compiled(compiled, names, display or str(path))
    policy.renamed_from = {
        (label.name.text, label.kind): label.renamed_from.text
        for label in doc.source().labels
        if label.renamed_from is not None
    }
    return policy


def read_compiled(bin_path: str | Path, map_path: str | Path) -> CompiledPolicy:
    """A `.bin` and its `.map`, each checked, and checked to belong together."""
    from acm.binfmt import decode_binary
    from acm.mapfile import parse_map

    binary = decode_binary(read_file(bin_path), str(bin_path))
    pmap = parse_map(read_file(map_path), str(map_path))
    check_map_matches(CompiledPolicy(binary, pmap), str(map_path))
    return CompiledPolicy(binary, pmap)


def check_map_matches(compiled: CompiledPolicy, file: str = "") -> None:
    """PolicyError (ANA002) naming every disagreement between `.map` and `.bin`."""
    problems = compiled.map_mismatches()
    if problems:
        raise analysis_error(
            "ANA002", "the .map does not belong to the .bin: " + "; ".join(problems), file
        )


def load_binary(bin_path: str | Path, map_path: str | Path) -> AnalysisPolicy:
    return from_compiled(read_compiled(bin_path, map_path), None, str(bin_path))


def load_policy_file(path: str | Path) -> AnalysisPolicy:
    """An XML policy, or a `.bin` (or `.map`) with its partner beside it."""
    p = Path(path)
    if p.suffix in (BIN_SUFFIX, MAP_SUFFIX):
        bin_path, map_path = p.with_suffix(BIN_SUFFIX), p.with_suffix(MAP_SUFFIX)
        for needed in (bin_path, map_path):
            if not needed.exists():
                raise analysis_error(
                    "ANA003",
                    f"{needed} not found: a compiled policy is read as its .bin and .map together",
                    str(path),
                )
        return load_binary(bin_path, map_path)
    return load_xml(p, str(path))


def read_file(path: str | Path) -> bytes:
    """A file's bytes, or PolicyError ANA003 naming it."""
    from acm.inputfile import MAX_POLICY_BYTES, InputFileError, read_input

    try:
        return read_input(path, MAX_POLICY_BYTES)
    except InputFileError as exc:
        raise analysis_error("ANA003", f"cannot read {path}: {exc.reason}") from None


__all__ = [
    "AnalysisPolicy",
    "Label",
    "analysis_error",
    "check_map_matches",
    "from_compiled",
    "load_binary",
    "load_policy_file",
    "load_xml",
    "read_file",
    "read_compiled",
]
