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
set each label bridges is worked out into a path for the message, and the
path costs what the classes it looks at hold, never the label count: the
masks' bits are read from one binary string each (an `&` with a one-bit
mask would cost the width of the mask for every finding), and a class is
asked whether it reaches the label through its STE types and the conflict
sets of its Chinese Wall types.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from acm.errors import Diagnostic
from acm.lint.checks.parts import set_title
from acm.lint.context import LintContext
from acm.lint.model import LintPolicy
from acm.source import ConflictSetSource

TypeSet = frozenset[str]


class Bridge(NamedTuple):
    """`via` lets `first` and `second` (label numbers of the policy's
    table) exchange data across `conflict_set`. (A record made once a
    finding: a tuple is made fastest.)"""

    via: int
    first: int
    first_type: str  # an STE type `first` shares with `via`
    second: int
    second_type: str
    conflict_set: ConflictSetSource
    set_number: int

    def message(self, policy: LintPolicy) -> str:
        names = policy.labels.names
        a, c, b = names[self.first], names[self.via], names[self.second]
        return (
            f"{policy.word(self.via)} '{c}' lets '{a}' and '{b}' exchange data although "
            f"{set_title(self.conflict_set, self.set_number)} keeps them from running "
            f"together: {a} -[{self.first_type}]- {c} -[{self.second_type}]- {b}"
        )


def _mask(indices: Iterable[int], size: int) -> int:
    bits = bytearray((size + 7) // 8)
    for i in indices:
        bits[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(bits, "little")


def _bits(mask: int) -> Iterator[int]:
    """The set bits of `mask`, lowest first: one pass over its binary digits
    (clearing bit after bit would copy an int as wide as the labels each time)."""
    digits = bin(mask)[:1:-1]  # lowest bit first, without "0b"
    at = digits.find("1")
    while at >= 0:
        yield at
        at = digits.find("1", at + 1)


@dataclass
class _Group:
    """The classes of one conflict set whose types in the set are the same."""

    classes: list[TypeSet]
    reach: int = 0
    # `reach` as bytes (a bit test on an int costs its width), made when
    # the group's first witness needs it
    reach_bytes: bytes | None = None
    # STE type -> the first member (in the order of `classes`, then of the
    # labels) that has it, made when the group's first witness needs it
    first_with: dict[int, tuple[int, int]] | None = None


# a bridge `run` found: (via, conflict set number, the set, its groups)
_Found = tuple[int, int, ConflictSetSource, list[_Group]]


class _Bridges:
    def __init__(self, policy: LintPolicy, exempt: frozenset[str]) -> None:
        assert policy.ste is not None and policy.chwall is not None
        self.policy = policy
        table = policy.labels
        self.size = len(table.names)
        # STE types are numbered in declaration order: the smallest number
        # shared is the first declared type, the one a witness names
        rank: dict[str, int] = {}
        self.type_names: list[str] = []
        for declared in policy.ste.types:
            if declared.text not in rank:
                rank[declared.text] = len(self.type_names)
                self.type_names.append(declared.text)
        cw_declared = frozenset(t.text for t in policy.chwall.types)
        number = rank.get
        unknown = frozenset([None])
        # each label's STE type numbers, each once (a tuple: a fifth of a
        # frozenset's memory, and sets are made of the few a witness reads)
        self.ste_of: list[tuple[int, ...]]
        if table.ste_numbers is not None:
            # the compiler's numbers: declaration order, every type declared once
            self.ste_of = table.ste_numbers
        else:
            self.ste_of = []
            for written in table.ste:
                numbers = frozenset(map(number, written))
                # a type the part does not declare (the compiler's finding) counts for nothing
                self.ste_of.append(tuple(numbers - unknown if None in numbers else numbers))  # type: ignore[arg-type]
        self.cw_of: list[TypeSet] = []
        for types in table.cw[: table.vm_count]:
            walls = frozenset(types)
            self.cw_of.append(walls if walls <= cw_declared else walls & cw_declared)
        self.cw_of += [frozenset()] * (self.size - table.vm_count)
        # the labels that have each STE type, as a bit string over the
        # labels: set here in one pass over the labels (a list of each
        # type's labels first, turned into bits later, walks them twice)
        width = (self.size + 7) // 8
        users = [bytearray(width) for _ in self.type_names]
        for i, row in enumerate(self.ste_of):
            at, bit = i >> 3, 1 << (i & 7)
            for t in row:
                users[t][at] |= bit
        self.users = users
        self.user_masks: dict[int, int] = {}  # as ints, made when a reach needs them
        # classes in order of their first member; VM labels without types form none
        self.members: dict[TypeSet, list[int]] = {}
        for i, cw in enumerate(self.cw_of):
            if cw:
                self.members.setdefault(cw, []).append(i)
        self.type_classes: dict[str, list[TypeSet]] = {}
        for cw in self.members:
            for wall in cw:
                self.type_classes.setdefault(wall, []).append(cw)
        self.conflicts: dict[TypeSet, int] = {}
        # the Chinese Wall types of each conflict set that walls classes apart
        self.walls: dict[str, list[frozenset[str]]] = {}
        self.reach_cache: dict[TypeSet, int] = {}
        self.class_types: dict[TypeSet, frozenset[int]] = {}  # STE types of a class's members
        boot = policy.bootstrap.text if policy.bootstrap is not None else None
        names = table.names
        # who may bridge: not trusted, not Domain-0, and a VM label must be able to start
        self.candidates = ((1 << self.size) - 1) & ~_mask(
            (
                i
                for i, name in enumerate(names)
                if name in exempt or (i < table.vm_count and (not self.cw_of[i] or name == boot))
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
            types = self.types_of_class(cw)
            found = 0
            for t in types:
                mask = self.user_masks.get(t)
                if mask is None:
                    mask = self.user_masks[t] = int.from_bytes(self.users[t], "little")
                found |= mask
            found &= ~self.conflicts.get(cw, 0)
            self.reach_cache[cw] = found
        return found

    def types_of_class(self, cw: TypeSet) -> frozenset[int]:
        found = self.class_types.get(cw)
        if found is None:
            found = self.class_types[cw] = frozenset().union(
                *(self.ste_of[i] for i in self.members[cw])
            )
        return found

    def walled(self, a: TypeSet, b: TypeSet) -> bool:
        """Whether classes `a` and `b` may not run together: a conflict set
        (of those with two groups or more) holds types of both, and their
        types in it differ. The same relation as `conflicts`, asked of one
        pair in the time of the sets their types are in."""
        if not a or not b:
            return False
        for t in a:
            for in_set in self.walls.get(t, ()):
                mine = a & in_set
                theirs = b & in_set
                if theirs and mine != theirs:
                    return True
        return False

    def run(self) -> list[_Found]:
        assert self.policy.chwall is not None
        walled: list[tuple[int, ConflictSetSource, list[_Group]]] = []
        for number, cs in enumerate(self.policy.chwall.conflict_sets):
            groups = self.groups(cs)
            if len(groups) < 2:
                continue
            walled.append((number, cs, groups))
            in_set = frozenset(t.text for t in cs.types)
            for t in in_set:
                self.walls.setdefault(t, []).append(in_set)
            masks = [
                _mask((i for cw in g.classes for i in self.members[cw]), self.size) for g in groups
            ]
            everyone = 0
            for m in masks:
                everyone |= m
            for g, m in zip(groups, masks, strict=True):
                for cw in g.classes:
                    self.conflicts[cw] = self.conflicts.get(cw, 0) | (everyone & ~m)
        bridges: list[_Found] = []
        found = 0
        for number, cs, groups in walled:
            if found == self.candidates:
                break  # every label that may bridge does (the sets left need no reach)
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
            bridges += [(via, number, cs, groups) for via in _bits(new)]
        bridges.sort(key=_via)
        return bridges

    def witness(self, via: int, number: int, cs: ConflictSetSource, groups: list[_Group]) -> Bridge:
        """The path of a bridge `run` found: the first two groups that reach
        `via`, and in each the first label that shares a type with it."""
        ends: list[tuple[int, int]] = []
        for g in groups:
            if g.reach_bytes is None:
                g.reach_bytes = g.reach.to_bytes((self.size + 7) // 8, "little")
            if not g.reach_bytes[via >> 3] >> (via & 7) & 1:
                continue
            ends.append(self.partner(via, g))
            if len(ends) == 2:
                break
        (a, ta), (b, tb) = ends
        names = self.type_names
        return Bridge(via, a, names[ta], b, names[tb], cs, number)

    def partner(self, via: int, group: _Group) -> tuple[int, int]:
        """The first label of `group` that `via` reaches, and the first
        declared type they share. A class reaches `via` when `via` may run
        with it and shares a type with a member: the members are looked at
        rather than the class's reach (as wide as the label count)."""
        mine = frozenset(self.ste_of[via])
        my_walls = self.cw_of[via]
        ste_of = self.ste_of
        # The first member sharing a type, by the group's index of types;
        # unless it is `via` itself or walled off from it, it is the answer
        # of the scan below (which costs what the group holds).
        if group.first_with is None:
            group.first_with = {}
            for position, cw in enumerate(group.classes):
                for i in self.members[cw]:
                    for t in ste_of[i]:
                        group.first_with.setdefault(t, (position, i))
        firsts = [group.first_with[t] for t in mine if t in group.first_with]
        if firsts:
            position, i = min(firsts)
            if i != via and not self.walled(group.classes[position], my_walls):
                return i, min(mine.intersection(ste_of[i]))
        for cw in group.classes:
            if self.types_of_class(cw).isdisjoint(mine) or self.walled(cw, my_walls):
                continue
            for i in self.members[cw]:
                if not mine.isdisjoint(ste_of[i]) and i != via:
                    return i, min(mine.intersection(ste_of[i]))
        raise AssertionError("a group in reach has a member that shares a type")


def _via(found: _Found) -> int:
    return found[0]


def _found(policy: LintPolicy, trusted: Iterable[str]) -> tuple[_Bridges, list[_Found]] | None:
    if policy.ste is None or policy.chwall is None or not policy.chwall.conflict_sets:
        return None
    bridges = _Bridges(policy, frozenset(trusted))
    return bridges, bridges.run()


def find_bridges(policy: LintPolicy, trusted: Iterable[str] = ()) -> list[Bridge]:
    """Every bridging label with one path each, in document order of the label."""
    found = _found(policy, trusted)
    if found is None:
        return []
    bridges, each = found
    return [bridges.witness(*f) for f in each]


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    found = _found(ctx.policy, ctx.trusted)
    if found is None:
        return
    bridges, each = found
    places = ctx.policy.labels_at([f[0] for f in each])
    for f, place in zip(each, places, strict=True):
        # the path is worked out when the message is read (see DeferredDiagnostic)
        yield ctx.deferred_finding("ACM030", partial(_message, bridges, f), place)


def _message(bridges: _Bridges, found: _Found) -> str:
    return bridges.witness(*found).message(bridges.policy)
