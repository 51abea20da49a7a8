"""The Chinese Wall graph: which VM label, once running, keeps which other
VM label from starting.

From enforcement.md section 2: a domain with Chinese Wall types T starts
only when no t in T has `conflict_aggregate[t] > 0`, and a running domain
with types A adds one to every u not in A of every conflict set that meets
A. So A (running) blocks B exactly when some conflict set C meets cw(A) and
holds a type of cw(B) that A lacks. The relation is order-aware (A may block
B but not B block A), never reflexive (two domains with the same label run
together), and a label whose own types share a set still starts.

Labels with the same Chinese Wall type set behave identically, so the graph
is built once over those groups (a generated policy with 10,000 labels and
one type each has about 500), and expanded to labels only when asked: over
labels the same relation can have tens of millions of edges.

The relation is kept as each group's successors (`blocks`); the networkx
graph over it is made on first use. `coexist` answers from the successors
alone: importing networkx takes longer than building the relation of
60,000 labels, and several times longer than the whole search.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from acm.analysis.loader import AnalysisPolicy, Label
from acm.model import TypeSet

if TYPE_CHECKING:
    import networkx as nx

# `graph` expands groups to labels (level "auto") up to this many label edges.
LABEL_EDGE_LIMIT = 20_000
Level = Literal["auto", "labels", "groups"]


@dataclass(frozen=True)
class BlockReason:
    """One reason why a running group blocks another: a conflict set that meets
    the blocker's types, and the blocked group's types in it that the blocker lacks."""

    conflict_set: int
    types: TypeSet


@dataclass(frozen=True)
class CwGroup:
    """VM labels that share one Chinese Wall type set."""

    index: int
    types: TypeSet
    labels: tuple[Label, ...]


@dataclass
class ConflictGraph:
    """The "A running blocks B" relation of a policy, over groups of labels."""

    policy: AnalysisPolicy
    groups: list[CwGroup]
    # group index -> the groups it blocks (in the order found), each with the reasons
    blocks_of: list[dict[int, tuple[BlockReason, ...]]]
    excluded: list[Label]  # VM labels that can never start for a reason of their own
    group_of: dict[str, int] = field(default_factory=dict)  # label key -> group index

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The relation as a networkx graph: nodes are group indexes, an edge
        A -> B (attribute `reasons`: tuple[BlockReason]) when A blocks B."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(range(len(self.groups)))
        graph.add_edges_from(
            (a, b, {"reasons": reasons})
            for a, blocked in enumerate(self.blocks_of)
            for b, reasons in blocked.items()
        )
        return graph

    # ---- queries

    def edges(self) -> Iterator[tuple[int, int]]:
        """Each (A, B) where group A blocks group B, in the graph's edge order."""
        for a, blocked in enumerate(self.blocks_of):
            for b in blocked:
                yield a, b

    def _edges_with_reasons(self) -> Iterator[tuple[int, int, tuple[BlockReason, ...]]]:
        for a, blocked in enumerate(self.blocks_of):
            for b, reasons in blocked.items():
                yield a, b, reasons

    def group(self, label: Label) -> CwGroup:
        return self.groups[self.group_of[label.key]]

    def blocks(self, a: Label, b: Label) -> bool:
        """Does a running domain labelled `a` keep `b` from starting?"""
        return self.group_of[b.key] in self.blocks_of[self.group_of[a.key]]

    def reasons(self, a: Label, b: Label) -> tuple[BlockReason, ...]:
        return self.blocks_of[self.group_of[a.key]].get(self.group_of[b.key], ())

    def blocked_by(self, a: Label) -> list[Label]:
        """The labels that a running `a` keeps from starting."""
        return [lab for g in self.blocks_of[self.group_of[a.key]] for lab in self.groups[g].labels]

    def blockers_of(self, b: Label) -> list[Label]:
        """The labels that, running, keep `b` from starting."""
        blocked = self.group_of[b.key]
        return [
            lab
            for g, blocks in enumerate(self.blocks_of)
            if blocked in blocks
            for lab in self.groups[g].labels
        ]

    def label_edge_count(self) -> int:
        """How many edges the graph has over labels (without building it)."""
        size = [len(g.labels) for g in self.groups]
        return sum(size[u] * size[v] for u, v in self.edges())

    def describe(self, reason: BlockReason) -> str:
        """`Protection1: cw_Distrusted`."""
        names = ", ".join(self.policy.chwall_names(reason.types))
        return f"{self.policy.conflict_set_title(reason.conflict_set)}: {names}"

    def group_id(self, group: CwGroup) -> str:
        return "cw:" + ("+".join(self.policy.chwall_names(group.types)) or "(none)")

    # ---- export

    def label_graph(self) -> nx.DiGraph:
        """The relation over labels: node `dom:<name>`, edge A -> B when A blocks B."""
        import networkx as nx

        g = nx.DiGraph(policy=self.policy.name, kind="conflicts", level="labels")
        for lab in self.policy.vm_labels:  # in the policy's order
            if lab.key in self.group_of:
                g.add_node(
                    lab.key,
                    name=lab.name,
                    kind="dom",
                    chwall_types=self.policy.chwall_names(lab.chwall),
                    group=self.group_id(self.group(lab)),
                    bootstrap=lab.bootstrap,
                )
        for u, v, reasons in self._edges_with_reasons():
            via = [self.describe(r) for r in reasons]
            for a in self.groups[u].labels:
                for b in self.groups[v].labels:
                    g.add_edge(a.key, b.key, via=via)
        return g

    def group_graph(self) -> nx.DiGraph:
        """The relation over groups: node `cw:<types>` with its labels."""
        import networkx as nx

        g = nx.DiGraph(policy=self.policy.name, kind="conflicts", level="groups")
        for group in self.groups:
            g.add_node(
                self.group_id(group),
                name=self.group_id(group),
                chwall_types=self.policy.chwall_names(group.types),
                labels=[lab.name for lab in group.labels],
                size=len(group.labels),
                bootstrap=any(lab.bootstrap for lab in group.labels),
            )
        for u, v, reasons in self._edges_with_reasons():
            g.add_edge(
                self.group_id(self.groups[u]),
                self.group_id(self.groups[v]),
                via=[self.describe(r) for r in reasons],
            )
        return g

    def export(self, level: Level = "auto") -> nx.DiGraph:
        if level == "auto":
            level = "labels" if self.label_edge_count() <= LABEL_EDGE_LIMIT else "groups"
        graph = self.label_graph() if level == "labels" else self.group_graph()
        graph.graph["excluded"] = [
            {"name": lab.name, "reason": lab.problem} for lab in self.excluded
        ]
        return graph

    def summary(self) -> dict[str, Any]:
        return {
            "labels": sum(len(g.labels) for g in self.groups),
            "groups": len(self.groups),
            "group_edges": sum(len(blocked) for blocked in self.blocks_of),
            "label_edges": self.label_edge_count(),
        }


def blocked_types(
    types: TypeSet, sets: tuple[TypeSet, ...], sets_of: dict[int, list[int]]
) -> dict[int, list[int]]:
    """type u -> the conflict sets through which a running `types` blocks u."""
    found: dict[int, list[int]] = defaultdict(list)
    mine = set(types)
    for c in sorted({c for t in types for c in sets_of.get(t, ())}):
        for u in sets[c]:
            if u not in mine:
                found[u].append(c)
    return found


def build_conflicts(policy: AnalysisPolicy) -> ConflictGraph:
    """Group the startable VM labels by Chinese Wall type set and join group A to
    group B when A, running, blocks B."""
    by_types: dict[TypeSet, list[Label]] = {}
    excluded: list[Label] = []
    for lab in policy.vm_labels:
        if not lab.usable:
            excluded.append(lab)
            continue
        by_types.setdefault(lab.chwall, []).append(lab)
    groups = [CwGroup(i, types, tuple(labs)) for i, (types, labs) in enumerate(by_types.items())]
    group_of = {lab.key: g.index for g in groups for lab in g.labels}
    blocks_of: list[dict[int, tuple[BlockReason, ...]]] = []

    sets = policy.conflict_sets
    sets_of: dict[int, list[int]] = defaultdict(list)  # type -> conflict sets holding it
    for c, members in enumerate(sets):
        for t in members:
            sets_of[t].append(c)
    holders: dict[int, list[int]] = defaultdict(list)  # type -> groups having it
    for g in groups:
        for t in g.types:
            holders[t].append(g.index)

    for a in groups:
        reasons: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        for u, via in blocked_types(a.types, sets, sets_of).items():
            for b in holders.get(u, ()):
                for c in via:
                    reasons[b][c].append(u)
        blocks_of.append(
            {
                b: tuple(BlockReason(c, tuple(sorted(ts))) for c, ts in sorted(per_set.items()))
                for b, per_set in reasons.items()
            }
        )
    return ConflictGraph(policy, groups, blocks_of, excluded, group_of)
