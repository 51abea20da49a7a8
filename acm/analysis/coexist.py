"""Which VM labels can run at the same time, and in which start order.

A set of domains can all be running when they can be started one after the
other with none of them blocked by one already running (`conflicts`): when
A blocks B, B has to start first. So the set can run exactly when the
"blocks" relation among its labels has no cycle, and a start order is a
topological order of it, reversed. Two domains with the same label never
block each other. Domain-0 always runs first with the bootstrap label, so a
label that it blocks can never start; so can a label without Chinese Wall
(or STE) types, or one `xm` cannot resolve (see `loader`).

Everything works on the groups of labels with one Chinese Wall type set, as
`conflicts` builds them. The maximal sets are unions of choices made in each
strongly connected part of the relation separately (every group outside a
cycle is in every maximal set); inside a part where blocking is mutual they
are the maximal independent sets (a Bron-Kerbosch search on the conflicts
themselves, lowest groups first, never on the dense complement graph),
elsewhere a bounded backtracking search finds them.

The maximal sets are found from the conflict graph's successor lists
alone, without networkx (see `conflicts`): its import would cost more than
the search; the strongly connected parts come from `strong_parts`, which
tests hold to networkx's answer. The check of named labels uses networkx.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice, product
from typing import Any

from acm.analysis.conflicts import ConflictGraph, build_conflicts
from acm.analysis.loader import AnalysisPolicy, Label

DEFAULT_LIMIT = 10
PER_PART_CAP = 1000  # maximal sets enumerated per cyclic part, to count them
SEARCH_BUDGET = 200_000  # backtracking steps per cyclic part with one-way blocking
GREEDY_ABOVE = 400  # a cyclic one-way part larger than this gets greedy sets only


@dataclass(frozen=True)
class NeverStarts:
    label: Label
    reason: str


@dataclass(frozen=True)
class Blocking:
    """`blocker`, running, keeps `blocked` from starting, through `via`."""

    blocker: Label
    blocked: Label
    via: tuple[str, ...]


def _never(cg: ConflictGraph) -> tuple[list[NeverStarts], set[int], int | None]:
    """Labels that can never start, the groups Domain-0 blocks, Domain-0's group."""
    policy = cg.policy
    never = [NeverStarts(lab, lab.problem or "") for lab in cg.excluded]
    boot = next((lab for lab in policy.vm_labels if lab.bootstrap and lab.usable), None)
    if boot is None:
        return never, set(), None
    boot_group = cg.group_of[boot.key]
    blocked = set(cg.blocks_of[boot_group])
    for g in sorted(blocked):
        for lab in cg.groups[g].labels:
            via = "; ".join(cg.describe(r) for r in cg.reasons(boot, lab))
            never.append(
                NeverStarts(lab, f"blocked by Domain-0, which runs with '{boot.name}' ({via})")
            )
    order = policy.vm_positions
    never.sort(key=lambda n: order[n.label.key])
    return never, blocked, boot_group


@dataclass
class CoexistSets:
    """The maximal sets of VM labels that can all run at the same time."""

    policy: AnalysisPolicy
    never: list[NeverStarts]
    always: list[Label]  # in every maximal set (Domain-0's label among them)
    sets: list[list[Label]]  # at most `limit` maximal sets, labels in policy order
    limit: int
    total: int | None  # how many maximal sets there are, when counted in full
    at_least: int  # a lower bound (equal to `total` when that is known)

    def format(self) -> list[str]:
        show = self.policy.display
        lines: list[str] = []
        if self.never:
            lines.append("Labels that can never start:")
            lines += [f"  {show(n.label)}: {n.reason}" for n in self.never]
        count = str(self.total) if self.total is not None else f"at least {self.at_least}"
        shown = (
            f", showing {len(self.sets)}" if len(self.sets) < (self.total or self.at_least) else ""
        )
        lines.append(f"Maximal sets of labels that can run at the same time: {count}{shown}")
        several = len(self.sets) > 1
        if self.always and several:
            lines.append("  in every set: " + ", ".join(show(lab) for lab in self.always))
        always = {lab.key for lab in self.always}
        show_all = self.policy.display_all
        for n, labels in enumerate(self.sets, 1):
            if several:
                rest = show_all(lab for lab in labels if lab.key not in always)
                lines.append(f"  set {n} adds: " + (", ".join(rest) or "nothing"))
            else:
                lines.append(f"  set {n}: " + ", ".join(show_all(labels)))
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.name,
            "bootstrap": self.policy.bootstrap,
            "never_start": [{"label": n.label.name, "reason": n.reason} for n in self.never],
            "in_every_set": [lab.name for lab in self.always],
            "total": self.total,
            "at_least": self.at_least,
            "limit": self.limit,
            "maximal_sets": [[lab.name for lab in labels] for labels in self.sets],
        }


@dataclass
class CoexistCheck:
    """Can these labels run together (beside Domain-0), and in which start order?"""

    policy: AnalysisPolicy
    labels: list[Label]  # as asked, without repeats
    never: list[NeverStarts]  # asked labels that can never start
    cycle: list[Blocking]  # when they cannot: labels that block each other around a cycle
    order: list[Label]  # when they can: a start order (Domain-0 is already running)

    @property
    def can(self) -> bool:
        return not self.never and not self.cycle

    def format(self) -> list[str]:
        show = self.policy.display
        names = ", ".join(show(lab) for lab in self.labels)
        if self.can:
            lines = [f"Yes: {names} can run at the same time."]
            lines.append("Start order: " + " -> ".join(show(lab) for lab in self.order))
            return lines
        lines = [f"No: {names} cannot all run at the same time."]
        lines += [f"  {show(n.label)} can never start: {n.reason}" for n in self.never]
        if self.cycle:
            lines.append("  Whichever starts first, one is blocked:")
            lines += [
                f"    {show(b.blocker)} (running) blocks {show(b.blocked)} ({'; '.join(b.via)})"
                for b in self.cycle
            ]
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.name,
            "labels": [lab.name for lab in self.labels],
            "can_run_together": self.can,
            "start_order": [lab.name for lab in self.order] if self.can else None,
            "never_start": [{"label": n.label.name, "reason": n.reason} for n in self.never],
            "cycle": [
                {"blocker": b.blocker.name, "blocked": b.blocked.name, "via": list(b.via)}
                for b in self.cycle
            ],
        }


# ---------------------------------------------------------------- checking a set


def check_together(cg: ConflictGraph, labels: Iterable[Label]) -> CoexistCheck:
    """Whether `labels` can all run beside Domain-0, with a start order or the reason."""
    import networkx as nx

    asked: list[Label] = []
    for lab in labels:
        if lab.key not in {a.key for a in asked}:
            asked.append(lab)
    never_all, blocked, boot_group = _never(cg)
    asked_keys = {lab.key for lab in asked}
    never = [n for n in never_all if n.label.key in asked_keys]
    if never:
        return CoexistCheck(cg.policy, asked, never, [], [])
    first: dict[int, int] = {}  # group -> position of its first asked label
    for i, lab in enumerate(asked):
        first.setdefault(cg.group_of[lab.key], i)
    sub = cg.graph.subgraph(g for g in first if g != boot_group)
    try:
        cycle_edges = nx.find_cycle(sub)
    except nx.NetworkXNoCycle:
        cycle_edges = []
    if cycle_edges:
        cycle = []
        for u, v in cycle_edges:
            a, b = asked[first[u]], asked[first[v]]
            cycle.append(Blocking(a, b, tuple(cg.describe(r) for r in cg.reasons(a, b))))
        return CoexistCheck(cg.policy, asked, [], cycle, [])
    # When A blocks B, B starts first: a topological order of the reversed relation.
    groups = list(
        nx.lexicographical_topological_sort(sub.reverse(copy=False), key=first.__getitem__)
    )
    if boot_group in first:
        groups.insert(0, boot_group)
    members: dict[int, list[Label]] = {}
    for lab in asked:
        members.setdefault(cg.group_of[lab.key], []).append(lab)
    order = [lab for g in groups for lab in members[g]]
    return CoexistCheck(cg.policy, asked, [], [], order)


# ---------------------------------------------------------------- maximal sets


def _closes_cycle(v: int, chosen: set[int], succ: dict[int, set[int]]) -> bool:
    """Would `chosen` + v hold a cycle (through v, `chosen` being acyclic)?"""
    stack = [u for u in succ[v] if u in chosen]
    seen = set(stack)
    while stack:
        u = stack.pop()
        if v in succ[u]:
            return True
        for w in succ[u]:
            if w in chosen and w not in seen:
                seen.add(w)
                stack.append(w)
    return False


def _one_way_part(succ: dict[int, set[int]]) -> tuple[Iterator[frozenset[int]], list[bool]]:
    """Maximal acyclic subsets of a strongly connected part (`succ`: each
    group's successors in it) where some blocking is one-way. The flag list
    gets True when the search stopped early."""
    nodes = sorted(succ)
    cut_short: list[bool] = []

    if len(nodes) > GREEDY_ABOVE:
        cut_short.append(True)

        def greedy() -> Iterator[frozenset[int]]:
            seen: set[frozenset[int]] = set()
            for start in range(len(nodes)):
                chosen: set[int] = set()
                for v in nodes[start:] + nodes[:start]:
                    if not _closes_cycle(v, chosen, succ):
                        chosen.add(v)
                found = frozenset(chosen)
                if found not in seen:
                    seen.add(found)
                    yield found

        return greedy(), cut_short

    chosen: set[int] = set()
    budget = [SEARCH_BUDGET]

    def search(i: int) -> Iterator[frozenset[int]]:
        budget[0] -= 1
        if budget[0] < 0:
            if not cut_short:
                cut_short.append(True)
            return
        if i == len(nodes):
            if all(_closes_cycle(v, chosen, succ) for v in nodes if v not in chosen):
                yield frozenset(chosen)
            return
        v = nodes[i]
        if _closes_cycle(v, chosen, succ):
            yield from search(i + 1)
            return
        chosen.add(v)
        yield from search(i + 1)
        chosen.discard(v)
        # Leaving v out only leads to a maximal set if v can still close a cycle.
        if _closes_cycle(v, chosen | set(nodes[i + 1 :]), succ):
            yield from search(i + 1)

    return search(0), cut_short


def _independent_sets(conflicts: dict[int, set[int]]) -> Iterator[frozenset[int]]:
    """The maximal independent sets of the graph `conflicts` (each group's
    conflicting groups, symmetric), lowest groups first: Bron-Kerbosch with
    a pivot, on the conflicts themselves. The cliques of the complement
    graph are the same sets, but the complement of a part where few groups
    conflict has nearly every pair as an edge: building it and searching it
    cost the square of the part's size.

    The pivot is the group, free or left out, with the fewest free groups
    among itself and the groups it conflicts with (the lowest on a tie).
    Those counts are kept in one list, updated as groups are chosen and left
    out and restored on the way back, so that the pivot is a `min` over the
    list rather than a count per group. Groups are positions in ascending
    order; free and left-out groups are bits of an integer. The search keeps
    its own stack: a maximal set can hold hundreds of groups, too deep for
    nested generators to hand each set up cheaply."""
    nodes = sorted(conflicts)
    where = {v: i for i, v in enumerate(nodes)}
    # each position's closed neighbourhood, as positions and as bits
    near = [sorted({i} | {where[u] for u in conflicts[v]}) for i, v in enumerate(nodes)]
    bits = [sum(1 << u for u in around) for around in near]
    gone = len(nodes) + 2  # above any count: the group is neither free nor left out
    count = [len(around) for around in near]  # every group free at the start

    def search() -> Iterator[frozenset[int]]:
        chosen: list[int] = []
        # per level: the groups to branch on, how many were begun, the
        # level's free and left-out groups, what the branch begun last changed
        frames: list[list[Any]] = []
        free, left_out = (1 << len(nodes)) - 1, 0
        while True:
            if not free:
                if not left_out:
                    yield frozenset(map(nodes.__getitem__, chosen))
            else:
                pivot = count.index(min(count))
                # branch only on the groups the pivot conflicts with (itself
                # included): a maximal set holds one of them
                branch = [v for v in near[pivot] if free >> v & 1]
                frames.append([branch, 0, free, left_out, None])
            while frames:
                frame = frames[-1]
                branch, begun, free, left_out, undo = frame
                if undo is not None:
                    out_free, out, saved = undo
                    chosen.pop()
                    for w in out_free:
                        for u in near[w]:
                            if count[u] != gone:
                                count[u] += 1
                    for w, c in zip(out, saved, strict=True):
                        count[w] = c
                    # the group branched on is left out from now on
                    v = branch[begun - 1]
                    for u in near[v]:
                        if count[u] != gone:
                            count[u] -= 1
                    free &= ~(1 << v)
                    left_out |= 1 << v
                    frame[2], frame[3], frame[4] = free, left_out, None
                if begun == len(branch):
                    for v in branch:
                        for u in near[v]:
                            if count[u] != gone:
                                count[u] += 1
                    frames.pop()
                    continue
                v = branch[begun]
                frame[1] = begun + 1
                taken = bits[v]
                out_free = [w for w in near[v] if free >> w & 1]
                out = [w for w in near[v] if count[w] != gone]
                saved = [count[w] for w in out]
                for w in out:
                    count[w] = gone
                # the groups still free or left out lose the free ones just taken out
                for w in out_free:
                    for u in near[w]:
                        if count[u] != gone:
                            count[u] -= 1
                frame[4] = (out_free, out, saved)
                chosen.append(v)
                free, left_out = free & ~taken, left_out & ~taken
                break
            else:
                return

    return search()


def _part_choices(succ: dict[int, set[int]]) -> tuple[list[frozenset[int]], bool]:
    """Up to PER_PART_CAP maximal acyclic subsets of one cyclic part (`succ`:
    each group's successors in it), and whether that is all of them."""
    mutual = all(u in succ[v] for u, near in succ.items() for v in near)
    cut_short: list[bool] = []
    if mutual:
        gen: Iterator[frozenset[int]] = _independent_sets(succ)
    else:
        gen, cut_short = _one_way_part(succ)
    found = list(islice(gen, PER_PART_CAP + 1))
    complete = len(found) <= PER_PART_CAP and not cut_short
    return found[:PER_PART_CAP], complete


def strong_parts(succ: dict[int, list[int]]) -> list[set[int]]:
    """The strongly connected components of the graph `succ` (each node's
    successors, every successor a node): Tarjan's algorithm, iterative (a
    part can be thousands of groups deep)."""
    index: dict[int, int] = {}  # order of discovery
    low: dict[int, int] = {}  # lowest index reachable through the DFS subtree
    stack: list[int] = []
    on_stack: set[int] = set()
    parts: list[set[int]] = []
    for root in succ:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        path = [(root, iter(succ[root]))]
        while path:
            v, todo = path[-1]
            for w in todo:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    path.append((w, iter(succ[w])))
                    break
                if w in on_stack and index[w] < low[v]:
                    low[v] = index[w]
            else:  # every successor of v done
                path.pop()
                if path and low[v] < low[path[-1][0]]:
                    low[path[-1][0]] = low[v]
                if low[v] == index[v]:
                    part = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        part.add(w)
                        if w == v:
                            break
                    parts.append(part)
    return parts


def maximal_sets(cg: ConflictGraph, limit: int = DEFAULT_LIMIT) -> CoexistSets:
    """The maximal sets of VM labels that can run together beside Domain-0, at
    most `limit` of them, with the labels that can never start."""
    never, blocked, boot_group = _never(cg)
    candidates = {g.index for g in cg.groups if g.index not in blocked and g.index != boot_group}
    runnable = {g: [h for h in cg.blocks_of[g] if h in candidates] for g in sorted(candidates)}
    fixed: set[int] = {boot_group} if boot_group is not None else set()
    parts: list[list[frozenset[int]]] = []
    complete = True
    for component in sorted(strong_parts(runnable), key=min):
        if len(component) == 1:
            fixed |= component
            continue
        choices, done = _part_choices({g: component.intersection(runnable[g]) for g in component})
        parts.append(choices)
        complete = complete and done
    count = 1
    for choices in parts:
        count *= len(choices)
    vms = cg.policy.vm_labels
    order = cg.policy.vm_positions
    # each group's labels as positions in the policy: a set's labels are then
    # put in policy order by sorting integers
    positions = [[order[lab.key] for lab in g.labels] for g in cg.groups]

    def labels_of(groups: Iterable[int]) -> list[Label]:
        return [vms[i] for i in sorted(chain.from_iterable(positions[g] for g in groups))]

    sets = [labels_of(fixed.union(*combo)) for combo in islice(product(*parts), max(limit, 0))]
    return CoexistSets(
        cg.policy,
        never,
        labels_of(fixed),
        sets,
        limit,
        count if complete else None,
        count,
    )


def coexist(
    policy: AnalysisPolicy, labels: list[str] | None = None, limit: int = DEFAULT_LIMIT
) -> CoexistSets | CoexistCheck:
    """`xm acm coexist`: the maximal sets, or the check of the labels named."""
    cg = build_conflicts(policy)
    if labels:
        from acm.source import LabelKind

        return check_together(cg, [policy.find(name, LabelKind.VM) for name in labels])
    return maximal_sets(cg, limit)
