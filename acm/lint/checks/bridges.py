"""ACM030: a label that carries data over a Chinese Wall.

Two VM labels A and B *may not run together* when a conflict set S holds a
Chinese Wall type of each and their types in S differ (then whichever
starts first keeps the other from starting; enforcement.md section 2).
A third label C *bridges* them when C shares an STE type with A and one
with B (so it may share with both, or, as a resource, be used by both),
C is not A or B, and, for a VM label, C may run with each of them and can
start at all (it has Chinese Wall types). The bootstrap label is trusted,
and so are labels named in the configuration's `trusted` list. Only one
hop is looked at: longer chains are the business of a flow analysis.

Nothing enumerates paths. Labels with one set of Chinese Wall types form a
class (the relation "may not run together" depends on that set only). For
each class P, `reach(P)` is the set of labels that share an STE type with a
member of P and do not conflict with P, kept as an int bit mask over the
labels. For each conflict set, its classes fall into groups by their types
in the set; a label bridges that set when it is in the reach of at least
two groups, found with two OR/AND passes over the masks. Only the first
set each label bridges is worked out into a path for the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from acm.errors import Diagnostic
from acm.lint.checks.parts import set_title
from acm.lint.context import LintContext, label_word
from acm.source import ConflictSetSource, LabelKind, LabelSource, PolicySource

TypeSet = frozenset[str]


@dataclass(frozen=True)
class Bridge:
    """`via` lets `first` and `second` exchange data across `conflict_set`."""

    via: LabelSource
    first: LabelSource
    first_type: str  # an STE type `first` shares with `via`
    second: LabelSource
    second_type: str
    conflict_set: ConflictSetSource
    set_number: int

    def message(self) -> str:
        a, c, b = self.first.name.text, self.via.name.text, self.second.name.text
        return (
            f"{label_word(self.via)} '{c}' lets '{a}' and '{b}' exchange data although "
            f"{set_title(self.conflict_set, self.set_number)} keeps them from running "
            f"together: {a} -[{self.first_type}]- {c} -[{self.second_type}]- {b}"
        )


def _mask(indices: Iterable[int], size: int) -> int:
    bits = bytearray((size + 7) // 8)
    for i in indices:
        bits[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(bits, "little")


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


@dataclass
class _Group:
    """The classes of one conflict set whose types in the set are the same."""

    classes: list[TypeSet]
    reach: int = 0


class _Bridges:
    def __init__(self, src: PolicySource, exempt: frozenset[str]) -> None:
        assert src.ste is not None and src.chwall is not None
        self.src = src
        self.labels = src.labels
        self.size = len(self.labels)
        self.type_rank: dict[str, int] = {}
        for declared in src.ste.types:
            self.type_rank.setdefault(declared.text, len(self.type_rank))
        cw_declared = {t.text for t in src.chwall.types}
        self.ste_of: list[TypeSet] = [
            frozenset(t.text for g in lab.ste_groups for t in g.types if t.text in self.type_rank)
            for lab in self.labels
        ]
        self.cw_of: list[TypeSet] = [
            frozenset(t.text for g in lab.chwall_groups for t in g.types if t.text in cw_declared)
            if lab.kind is LabelKind.VM
            else frozenset()
            for lab in self.labels
        ]
        users: dict[str, list[int]] = {}
        for i, types in enumerate(self.ste_of):
            for t in types:
                users.setdefault(t, []).append(i)
        self.users = {t: _mask(ids, self.size) for t, ids in users.items()}
        # classes in order of their first member; VM labels without types form none
        self.members: dict[TypeSet, list[int]] = {}
        for i, cw in enumerate(self.cw_of):
            if cw:
                self.members.setdefault(cw, []).append(i)
        self.type_classes: dict[str, list[TypeSet]] = {}
        for cw in self.members:
            for t in cw:
                self.type_classes.setdefault(t, []).append(cw)
        self.conflicts: dict[TypeSet, int] = {}
        self.reach_cache: dict[TypeSet, int] = {}
        boot = src.bootstrap.text if src.bootstrap is not None else None
        # who may bridge: not trusted, not Domain-0, and a VM label must be able to start
        self.candidates = ((1 << self.size) - 1) & ~_mask(
            (
                i
                for i, lab in enumerate(self.labels)
                if lab.name.text in exempt
                or (lab.kind is LabelKind.VM and (not self.cw_of[i] or lab.name.text == boot))
            ),
            self.size,
        )

    def groups(self, cs: ConflictSetSource) -> list[_Group]:
        in_set = {t.text for t in cs.types}
        seen: set[TypeSet] = set()
        for t in in_set:
            seen.update(self.type_classes.get(t, ()))
        by_sig: dict[TypeSet, _Group] = {}
        for cw in sorted(seen, key=lambda c: self.members[c][0]):
            by_sig.setdefault(cw & in_set, _Group([])).classes.append(cw)
        return list(by_sig.values())

    def reach(self, cw: TypeSet) -> int:
        """Labels that share an STE type with a member of `cw` and may run with it."""
        found = self.reach_cache.get(cw)
        if found is None:
            types: set[str] = set()
            for i in self.members[cw]:
                types.update(self.ste_of[i])
            found = 0
            for t in types:
                found |= self.users[t]
            found &= ~self.conflicts.get(cw, 0)
            self.reach_cache[cw] = found
        return found

    def run(self) -> list[Bridge]:
        assert self.src.chwall is not None
        walled: list[tuple[int, ConflictSetSource, list[_Group]]] = []
        for number, cs in enumerate(self.src.chwall.conflict_sets):
            groups = self.groups(cs)
            if len(groups) < 2:
                continue
            walled.append((number, cs, groups))
            masks = [
                _mask((i for cw in g.classes for i in self.members[cw]), self.size) for g in groups
            ]
            everyone = 0
            for m in masks:
                everyone |= m
            for g, m in zip(groups, masks, strict=True):
                for cw in g.classes:
                    self.conflicts[cw] = self.conflicts.get(cw, 0) | (everyone & ~m)
        bridges: list[Bridge] = []
        found = 0
        for number, cs, groups in walled:
            once = twice = 0
            for g in groups:
                g.reach = 0
                for cw in g.classes:
                    g.reach |= self.reach(cw)
                twice |= once & g.reach
                once |= g.reach
            new = twice & self.candidates & ~found
            if not new:
                continue
            found |= new
            for via in _bits(new):
                bridges.append(self.witness(via, number, cs, groups))
        return bridges

    def witness(self, via: int, number: int, cs: ConflictSetSource, groups: list[_Group]) -> Bridge:
        bit = 1 << via
        ends: list[tuple[int, str]] = []
        for g in groups:
            if not g.reach & bit:
                continue
            ends.append(self.partner(via, g))
            if len(ends) == 2:
                break
        (a, ta), (b, tb) = ends
        labels = self.labels
        return Bridge(labels[via], labels[a], ta, labels[b], tb, cs, number)

    def partner(self, via: int, group: _Group) -> tuple[int, str]:
        """The first label of `group` that `via` reaches, and the type they share."""
        bit = 1 << via
        for cw in group.classes:
            if not self.reach(cw) & bit:
                continue
            for i in self.members[cw]:
                shared = self.ste_of[i] & self.ste_of[via]
                if shared and i != via:
                    return i, min(shared, key=self.type_rank.__getitem__)
        raise AssertionError("a group in reach has a member that shares a type")


def find_bridges(src: PolicySource, trusted: Iterable[str] = ()) -> list[Bridge]:
    """Every bridging label with one path each, in document order of the label."""
    if src.ste is None or src.chwall is None or not src.chwall.conflict_sets:
        return []
    found = _Bridges(src, frozenset(trusted)).run()
    index = {id(lab): i for i, lab in enumerate(src.labels)}
    return sorted(found, key=lambda b: index[id(b.via)])


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    for bridge in find_bridges(ctx.src, ctx.trusted):
        yield ctx.finding("ACM030", bridge.message(), ctx.src.at(bridge.via.name))
