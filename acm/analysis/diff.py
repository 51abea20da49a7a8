"""What changes between two versions of a policy (`xm acm diff OLD NEW`).

Compared on the compiled policies, by name: types (added, removed,
renumbered), labels (added, removed, their types changed, their SSIDs and
ssidref renumbered), conflict sets (which the binary keeps without names:
matched by content, then by the XML name when both were read from XML, then
by largest overlap), and what that does to the Chinese Wall: which labels
newly block, or no longer block, which.

Running domains keep their ssidref numbers across a policy load
(enforcement.md section 5), so `PolicyDiff.label()` answers, per label,
exactly what a host-impact check needs: is it gone, did its types change,
did its ssidref move. That check (against the domains running on a host)
is built on top of this diff, not inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from acm.analysis.conflicts import ConflictGraph, CwGroup, build_conflicts
from acm.analysis.loader import AnalysisPolicy, Label
from acm.model import PolicyCode
from acm.source import LabelKind
from acm.ssidref import make_ssidref

PARTS = (PolicyCode.CHWALL, PolicyCode.STE)


def ssidref_of(policy: AnalysisPolicy, label: Label) -> int | None:
    """The ssidref xm gives `label` under `policy` (None when it cannot)."""
    return _LabelReader(policy).ssidref(label)


class _LabelReader:
    """The type names of a label's entries and its ssidref, for each label of
    one policy, with what they look up found once (a diff reads each of tens
    of thousands of labels)."""

    def __init__(self, policy: AnalysisPolicy) -> None:
        binary, pmap = policy.compiled.binary, policy.compiled.map
        self.cw_rows = binary.chwall.ssids if binary.chwall else None
        self.ste_rows = binary.ste.ssids if binary.ste else None
        self.cw_names = policy.chwall_types
        self.ste_names = policy.ste_types
        self.halves = tuple(
            {PolicyCode.CHWALL: "chwall_ssid", PolicyCode.STE: "ste_ssid"}.get(code)
            for code in (pmap.primary, pmap.secondary)
        )

    def entries(self, label: Label, code: PolicyCode) -> tuple[tuple[str, ...], ...]:
        if code is PolicyCode.CHWALL:
            rows, names, ssids = self.cw_rows, self.cw_names, label.chwall_ssids
        else:
            rows, names, ssids = self.ste_rows, self.ste_names, label.ste_ssids
        if rows is None:
            return ()
        return tuple(tuple([names[t] for t in rows[s]]) for s in ssids)

    def ssidref(self, label: Label) -> int | None:
        if not label.usable:
            return None
        first, second = ((getattr(label, field) or 0) if field else 0 for field in self.halves)
        return make_ssidref(first, second)


@dataclass(frozen=True)
class TypeDelta:
    part: str  # "CHWALL" or "STE"
    name: str
    old: int | None  # type number in OLD (None: added)
    new: int | None  # type number in NEW (None: removed)

    @property
    def status(self) -> str:
        if self.old is None:
            return "added"
        return "removed" if self.new is None else "renumbered"


@dataclass(frozen=True)
class LabelDelta:
    name: str
    kind: LabelKind
    old: Label | None
    new: Label | None
    old_chwall: tuple[tuple[str, ...], ...]
    new_chwall: tuple[tuple[str, ...], ...]
    old_ste: tuple[tuple[str, ...], ...]
    new_ste: tuple[tuple[str, ...], ...]
    old_ssidref: int | None
    new_ssidref: int | None
    # A label NEW renames (`<Name from="old">`, versioned policies): its name in
    # OLD; `name` is its name in NEW.
    renamed_from: str | None = None

    @property
    def status(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        if self.renamed_from is not None:
            return "renamed"
        return "changed" if self.types_changed else "renumbered"

    @property
    def types_changed(self) -> bool:
        """Both policies have the label, with other types (by name) in some entry."""
        if self.old is None or self.new is None:
            return False
        return (self.old_chwall, self.old_ste) != (self.new_chwall, self.new_ste)

    @property
    def renumbered(self) -> bool:
        """Its SSIDs moved (a running domain carrying it would keep the old ssidref)."""
        if self.old is None or self.new is None:
            return False
        return (self.old.chwall_ssids, self.old.ste_ssids) != (
            self.new.chwall_ssids,
            self.new.ste_ssids,
        ) or self.old_ssidref != self.new_ssidref

    @property
    def kind_word(self) -> str:
        return "dom" if self.kind is LabelKind.VM else "res"


@dataclass(frozen=True)
class ConflictSetDelta:
    old_index: int | None
    new_index: int | None
    old_title: str | None
    new_title: str | None
    old_types: tuple[str, ...]
    new_types: tuple[str, ...]

    @property
    def status(self) -> str:
        if self.old_index is None:
            return "added"
        if self.new_index is None:
            return "removed"
        return "changed" if set(self.old_types) != set(self.new_types) else "moved"

    @property
    def title(self) -> str:
        return self.new_title or self.old_title or "?"


@dataclass(frozen=True)
class BlockDelta:
    """A Chinese Wall type set that, running, now blocks (or no longer blocks)
    another, with the labels holding each (in NEW when added, in OLD when removed)."""

    blocker_types: tuple[str, ...]
    blocked_types: tuple[str, ...]
    blockers: tuple[str, ...]
    blocked: tuple[str, ...]
    added: bool  # True: NEW blocks where OLD did not; False: the reverse


@dataclass
class PolicyDiff:
    old: AnalysisPolicy
    new: AnalysisPolicy
    header: list[tuple[str, str, str]]  # (field, old value, new value)
    types: list[TypeDelta]
    labels: list[LabelDelta]
    conflict_sets: list[ConflictSetDelta]
    blocking: list[BlockDelta]
    _labels: dict[tuple[str, LabelKind], LabelDelta] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._labels = {(d.name, d.kind): d for d in self.labels}

    @property
    def identical(self) -> bool:
        return not (self.header or self.types or self.labels or self.conflict_sets or self.blocking)

    def label(self, name: str, kind: LabelKind = LabelKind.VM) -> LabelDelta | None:
        """What happens to `name` (None: the same types at the same SSIDs in both)."""
        return self._labels.get((name, kind))

    def format(self) -> list[str]:
        lines = [
            f"--- {self.old.origin or self.old.name}",
            f"+++ {self.new.origin or self.new.name}",
        ]
        if self.identical:
            return [*lines, "No differences."]
        for what, old, new in self.header:
            lines.append(f"{what}: {old} -> {new}")
        if self.types:
            lines.append("Types:")
            for t in self.types:
                if t.status == "added":
                    lines.append(f"  + {t.part} {t.name}")
                elif t.status == "removed":
                    lines.append(f"  - {t.part} {t.name}")
                else:
                    lines.append(f"  ~ {t.part} {t.name}: number {t.old} -> {t.new}")
        if self.labels:
            lines.append("Labels:")
            lines += [_label_line(d) for d in self.labels]
        if self.conflict_sets:
            lines.append("Conflict sets:")
            lines += [_set_line(d) for d in self.conflict_sets]
        if self.blocking:
            lines.append("Chinese Wall blocking:")
            for b in self.blocking:
                verb = "now block" if b.added else "no longer block"
                verb += "s" if len(b.blockers) == 1 else ""
                lines.append(
                    f"  {'+' if b.added else '-'} {_few(b.blockers)} (running) {verb} "
                    f"{_few(b.blocked)}  [{'+'.join(b.blocker_types)} -> "
                    f"{'+'.join(b.blocked_types)}]"
                )
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": {"policy": self.old.name, "file": self.old.origin},
            "new": {"policy": self.new.name, "file": self.new.origin},
            "identical": self.identical,
            "header": [{"field": f, "old": o, "new": n} for f, o, n in self.header],
            "types": [
                {"part": t.part, "name": t.name, "status": t.status, "old": t.old, "new": t.new}
                for t in self.types
            ],
            "labels": [
                {
                    "name": d.name,
                    "kind": d.kind_word,
                    "status": d.status,
                    "types_changed": d.types_changed,
                    "renumbered": d.renumbered,
                    "renamed_from": d.renamed_from,
                    "old": _label_side(d.old, d.old_chwall, d.old_ste, d.old_ssidref),
                    "new": _label_side(d.new, d.new_chwall, d.new_ste, d.new_ssidref),
                }
                for d in self.labels
            ],
            "conflict_sets": [
                {
                    "status": c.status,
                    "old_index": c.old_index,
                    "new_index": c.new_index,
                    "old_name": c.old_title,
                    "new_name": c.new_title,
                    "old_types": list(c.old_types),
                    "new_types": list(c.new_types),
                }
                for c in self.conflict_sets
            ],
            "blocking": [
                {
                    "status": "added" if b.added else "removed",
                    "blocker_types": list(b.blocker_types),
                    "blocked_types": list(b.blocked_types),
                    "blockers": list(b.blockers),
                    "blocked": list(b.blocked),
                }
                for b in self.blocking
            ],
        }


def _label_side(
    label: Label | None,
    chwall: tuple[tuple[str, ...], ...],
    ste: tuple[tuple[str, ...], ...],
    ssidref: int | None,
) -> dict[str, Any] | None:
    if label is None:
        return None
    return {
        "chwall_ssids": list(label.chwall_ssids),
        "ste_ssids": list(label.ste_ssids),
        "chwall_types": [list(e) for e in chwall],
        "ste_types": [list(e) for e in ste],
        "ssidref": f"0x{ssidref:08x}" if ssidref is not None else None,
        "problem": label.problem,
    }


def _few(names: tuple[str, ...], shown: int = 5) -> str:
    """At most `shown` names in text output (the JSON has them all)."""
    if len(names) <= shown:
        return ", ".join(names)
    return ", ".join(names[:shown]) + f" and {len(names) - shown} more"


def _types_change(old: tuple[tuple[str, ...], ...], new: tuple[tuple[str, ...], ...]) -> str:
    """`+added -removed` for a label with one entry each side, else both lists."""
    if len(old) == len(new) == 1:
        gained = [f"+{t}" for t in new[0] if t not in old[0]]
        lost = [f"-{t}" for t in old[0] if t not in new[0]]
        return " ".join(gained + lost)
    return f"{_entries_text(old)} -> {_entries_text(new)}"


def _entries_text(entries: tuple[tuple[str, ...], ...]) -> str:
    if not entries:
        return "(none)"
    return " | ".join(", ".join(e) or "(no types)" for e in entries)


def _ssids_text(ssids: tuple[int, ...]) -> str:
    return ",".join(f"{s:x}" for s in ssids) or "-"


def _label_line(d: LabelDelta) -> str:
    head = f"{d.kind_word} {d.name}"
    if d.renamed_from is not None:
        head = f"{d.kind_word} {d.renamed_from} -> {d.name}"
    if d.status == "added":
        return f"  + {head}"
    if d.status == "removed":
        return f"  - {head}"
    assert d.old is not None and d.new is not None
    parts = ["renamed"] if d.renamed_from is not None else []
    if d.old_chwall != d.new_chwall:
        parts.append("CHWALL " + _types_change(d.old_chwall, d.new_chwall))
    if d.old_ste != d.new_ste:
        parts.append("STE " + _types_change(d.old_ste, d.new_ste))
    if d.renumbered:
        moved = []
        if d.old.chwall_ssids != d.new.chwall_ssids:
            old_ssids, new_ssids = _ssids_text(d.old.chwall_ssids), _ssids_text(d.new.chwall_ssids)
            moved.append(f"CHWALL SSID {old_ssids} -> {new_ssids}")
        if d.old.ste_ssids != d.new.ste_ssids:
            moved.append(
                f"STE SSID {_ssids_text(d.old.ste_ssids)} -> {_ssids_text(d.new.ste_ssids)}"
            )
        if d.old_ssidref != d.new_ssidref:
            moved.append(f"ssidref {_ref(d.old_ssidref)} -> {_ref(d.new_ssidref)}")
        parts.append("renumbered: " + ", ".join(moved))
    return f"  ~ {head}: " + "; ".join(parts)


def _ref(ssidref: int | None) -> str:
    return f"0x{ssidref:08x}" if ssidref is not None else "none"


def _set_line(c: ConflictSetDelta) -> str:
    if c.status == "added":
        return f"  + {c.title}: {', '.join(c.new_types)}"
    if c.status == "removed":
        return f"  - {c.title}: {', '.join(c.old_types)}"
    if c.status == "moved":
        return f"  ~ {c.title}: moved from position {c.old_index} to {c.new_index}"
    gained = [t for t in c.new_types if t not in c.old_types]
    lost = [t for t in c.old_types if t not in c.new_types]
    what = [f"+{t}" for t in gained] + [f"-{t}" for t in lost]
    title = c.title if c.old_title == c.new_title else f"{c.old_title} -> {c.new_title}"
    return f"  ~ {title}: {' '.join(what)}"


# ---------------------------------------------------------------- the comparison


def _header(old: AnalysisPolicy, new: AnalysisPolicy) -> list[tuple[str, str, str]]:
    found = []
    ob, nb = old.compiled.binary, new.compiled.binary
    if ob.reference_name != nb.reference_name:
        found.append(("policy name", ob.reference_name, nb.reference_name))
    if ob.primary != nb.primary:
        found.append(("primary policy", ob.primary.name, nb.primary.name))
    if ob.secondary != nb.secondary:
        found.append(("secondary policy", ob.secondary.name, nb.secondary.name))
    if ob.xml_version != nb.xml_version:
        found.append(("version", _version_text(ob.xml_version), _version_text(nb.xml_version)))
    return found


def _version_text(version: tuple[int, int] | None) -> str:
    return "none" if version is None else f"{version[0]}.{version[1]}"


def _types(old: AnalysisPolicy, new: AnalysisPolicy) -> list[TypeDelta]:
    found = []
    for part, o, n in (
        ("CHWALL", old.chwall_types, new.chwall_types),
        ("STE", old.ste_types, new.ste_types),
    ):
        onum = {t: i for i, t in enumerate(o)}
        nnum = {t: i for i, t in enumerate(n)}
        found += [TypeDelta(part, t, onum[t], nnum.get(t)) for t in o if nnum.get(t) != onum[t]]
        found += [TypeDelta(part, t, None, nnum[t]) for t in n if t not in onum]
    return found


def _labels(old: AnalysisPolicy, new: AnalysisPolicy) -> list[LabelDelta]:
    olds = {(lab.name, lab.kind): lab for lab in old.labels}
    news = {(lab.name, lab.kind): lab for lab in new.labels}
    # NEW's renames of OLD labels that NEW no longer has pair those labels
    # (a rename whose old name is still a label is refused by the compiler).
    renamed = {
        (previous, kind): name
        for (name, kind), previous in new.renamed_from.items()
        if (previous, kind) in olds and (previous, kind) not in news and (name, kind) in news
    }
    found = []
    read_old, read_new = _LabelReader(old), _LabelReader(new)
    chwall, ste = PolicyCode.CHWALL, PolicyCode.STE
    for key in list(olds) + [k for k in news if k not in olds]:
        if key in news and (new.renamed_from.get(key), key[1]) in renamed:
            continue  # listed with the old label it renames
        o = olds.get(key)
        new_key = (renamed[key], key[1]) if key in renamed else key
        n = news.get(new_key)
        delta = LabelDelta(
            key[0],
            key[1],
            o,
            n,
            read_old.entries(o, chwall) if o else (),
            read_new.entries(n, chwall) if n else (),
            read_old.entries(o, ste) if o else (),
            read_new.entries(n, ste) if n else (),
            read_old.ssidref(o) if o else None,
            read_new.ssidref(n) if n else None,
            key[0] if key in renamed else None,
        )
        if new_key != key:
            delta = replace(delta, name=new_key[0])
        if o is None or n is None or delta.types_changed or delta.renumbered or new_key != key:
            found.append(delta)
    return found


def _conflict_sets(old: AnalysisPolicy, new: AnalysisPolicy) -> list[ConflictSetDelta]:
    onames = [frozenset(old.chwall_names(s)) for s in old.conflict_sets]
    nnames = [frozenset(new.chwall_names(s)) for s in new.conflict_sets]
    left_old = list(range(len(onames)))
    left_new = list(range(len(nnames)))
    pairs: list[tuple[int, int]] = []

    def pair(match: Any) -> None:
        for i in list(left_old):
            for j in left_new:
                if match(i, j):
                    pairs.append((i, j))
                    left_old.remove(i)
                    left_new.remove(j)
                    break

    pair(lambda i, j: onames[i] == nnames[j] and i == j)
    pair(lambda i, j: onames[i] == nnames[j])
    pair(
        lambda i, j: (
            old.conflict_set_names[i] is not None
            and old.conflict_set_names[i] == new.conflict_set_names[j]
        )
    )
    overlaps = sorted(
        ((len(onames[i] & nnames[j]), i, j) for i in left_old for j in left_new),
        key=lambda x: (-x[0], x[1], x[2]),
    )
    for common, i, j in overlaps:
        if common and i in left_old and j in left_new:
            pairs.append((i, j))
            left_old.remove(i)
            left_new.remove(j)

    def ordered(policy: AnalysisPolicy, names: frozenset[str]) -> tuple[str, ...]:
        number = {t: k for k, t in enumerate(policy.chwall_types)}
        return tuple(sorted(names, key=number.__getitem__))

    found = []
    for i, j in sorted(pairs):
        if onames[i] == nnames[j] and i == j:
            continue
        found.append(
            ConflictSetDelta(
                i,
                j,
                old.conflict_set_title(i),
                new.conflict_set_title(j),
                ordered(old, onames[i]),
                ordered(new, nnames[j]),
            )
        )
    found += [
        ConflictSetDelta(i, None, old.conflict_set_title(i), None, ordered(old, onames[i]), ())
        for i in left_old
    ]
    found += [
        ConflictSetDelta(None, j, None, new.conflict_set_title(j), (), ordered(new, nnames[j]))
        for j in left_new
    ]
    return found


def _blocking(old_cg: ConflictGraph, new_cg: ConflictGraph) -> list[BlockDelta]:
    """Changes of the "running A blocks B" relation between the Chinese Wall type
    sets that startable labels hold under both policies. (A label that moves to
    another type set is listed among the label changes; its blocking follows
    from its new set.) Linear in the group edges, whatever the label count."""

    def sets(cg: ConflictGraph) -> dict[frozenset[str], CwGroup]:
        return {frozenset(cg.policy.chwall_names(g.types)): g for g in cg.groups}

    old_sets, new_sets = sets(old_cg), sets(new_cg)
    common = old_sets.keys() & new_sets.keys()

    def edges(
        cg: ConflictGraph, by: dict[frozenset[str], CwGroup]
    ) -> set[tuple[frozenset[str], frozenset[str]]]:
        name = {g.index: key for key, g in by.items()}
        found = set()
        for u, v in cg.edges():
            a, b = name[u], name[v]
            if a in common and b in common:
                found.add((a, b))
        return found

    old_edges, new_edges = edges(old_cg, old_sets), edges(new_cg, new_sets)
    found = []
    for added, pairs, cg, by in (
        (True, new_edges - old_edges, new_cg, new_sets),
        (False, old_edges - new_edges, old_cg, old_sets),
    ):
        for a, b in pairs:
            ga, gb = by[a], by[b]
            found.append(
                BlockDelta(
                    tuple(cg.policy.chwall_names(ga.types)),
                    tuple(cg.policy.chwall_names(gb.types)),
                    tuple(lab.name for lab in ga.labels),
                    tuple(lab.name for lab in gb.labels),
                    added,
                )
            )
    found.sort(key=lambda d: (not d.added, d.blockers, d.blocked))
    return found


def diff_policies(old: AnalysisPolicy, new: AnalysisPolicy) -> PolicyDiff:
    """Every difference between OLD and NEW that a policy author needs to see."""
    return PolicyDiff(
        old,
        new,
        _header(old, new),
        _types(old, new),
        _labels(old, new),
        _conflict_sets(old, new),
        _blocking(build_conflicts(old), build_conflicts(new)),
    )
