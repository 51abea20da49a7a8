"""What the studio's graph tab draws of a policy: its labels graph whole when
it is small, else its size (a summary) and focused views of one label and
its neighbours.

The graphs are read from `acm.analysis`'s own, kept for the last documents
in a cache bounded by their size, in the forms the analyses build first:
the Chinese Wall relation over groups of labels with the same types, the
bipartite graph of labels and STE types. Their labels graphs are far larger
(at 20,000 labels the sharing graph has 6.3 million edges, 1.8 GB in
networkx and 30 s to build; the conflict graph 240,000 edges, 5 s), and a
view needs only a label's neighbours and what joins two labels: these are
read from the smaller forms when a view asks, in the order of the labels
graph the analysis exports, so that every view is the same.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from xm_core.errors import UsageError

if TYPE_CHECKING:
    import networkx as nx

    from acm.analysis.conflicts import ConflictGraph

FULL_NODES = 300  # above this many labels (or FULL_EDGES edges) a graph starts focused
FULL_EDGES = 5_000
FOCUS_EDGES = 1_500  # edges of a focused view, beyond those of the label in focus
# Nodes + edges the kept graphs may hold together, in the forms kept (some
# 300 bytes each: about 600 MB; at 20,000 labels a document's two graphs
# hold about 200,000). The graphs of the document asked last are kept even
# beyond it.
GRAPH_BUDGET = 2_000_000


class LabelsGraph:
    """A labels graph as the graph tab reads it: the labels in order, each
    one's attributes, each one's neighbours and what joins two of them (the
    STE types they share, or the conflict sets), all in the order of the
    networkx labels graph the analysis exports
    (`acm.analysis.graphs.policy_graph(..., "labels")`, made undirected),
    without building it."""

    def __init__(self, data: dict[str, dict[str, Any]], edge_count: int, size: int) -> None:
        self.data = data  # label key -> its attributes (name, kind, bootstrap), in order
        self.labels = list(data)
        self.edge_count = edge_count
        self.size = size  # what it holds, in nodes + edges (the cache's measure)

    def adjacent(self, label: str) -> list[str]:
        raise NotImplementedError

    def joins(self, label: str, other: str) -> list[str]:
        raise NotImplementedError

    def release(self) -> None:
        """Let go of what it holds at once (evicted from the cache)."""

    def node(self, label: str) -> dict[str, Any]:
        data = self.data[label]
        return {
            "id": label,
            "name": data.get("name", label),
            "kind": data.get("kind", ""),
            "bootstrap": bool(data.get("bootstrap")),
        }

    def find(self, name: str) -> str | None:
        """The label of a name as a user gives it (`dom:`/`res:` keys first)."""
        for key in (f"dom:{name}", f"res:{name}"):
            if key in self.data:
                return key
        return next((n for n, d in self.data.items() if d.get("name") == name), None)

    def edges(self) -> Iterator[tuple[str, str]]:
        """Each pair once, as networkx's `Graph.edges` lists them."""
        seen: set[str] = set()
        for label in self.labels:
            for other in self.adjacent(label):
                if other not in seen:
                    yield label, other
            seen.add(label)


class ConflictLabels(LabelsGraph):
    """The Chinese Wall graph over labels, undirected, read from the
    analysis's relation over groups of labels with the same types
    (`acm.analysis.conflicts.ConflictGraph`: a few hundred groups where the
    labels graph has hundreds of thousands of edges). Two labels are joined
    when either blocks the other; `via` lists the conflict sets and types of
    both directions, the first direction networkx's undirected copy met
    first."""

    def __init__(self, conflicts: ConflictGraph) -> None:
        self.conflicts = conflicts
        group_of = conflicts.group_of
        data = {
            lab.key: {"name": lab.name, "kind": "dom", "bootstrap": lab.bootstrap}
            for lab in conflicts.policy.vm_labels
            if lab.key in group_of
        }
        self.pos = {key: i for i, key in enumerate(data)}
        self.group_of = group_of
        self.members = [[lab.key for lab in g.labels] for g in conflicts.groups]
        self.blocked_by: list[list[int]] = [[] for _ in conflicts.groups]
        pairs = set()
        for a, blocked in enumerate(conflicts.blocks_of):
            for b in blocked:
                self.blocked_by[b].append(a)
                pairs.add((min(a, b), max(a, b)))
        sizes = [len(m) for m in self.members]
        edge_count = sum(sizes[a] * sizes[b] for a, b in pairs)
        self._via: dict[tuple[int, int], list[str]] = {}
        super().__init__(data, edge_count, len(data) + len(self.members) + 2 * len(pairs))

    def adjacent(self, label: str) -> list[str]:
        # networkx's undirected copy meets the edges source by source in the
        # labels' order: first the labels before this one that block it,
        # then those it blocks (as the analysis lists them), then the
        # labels after it that block it
        pos, group = self.pos, self.group_of[label]
        at = pos[label]
        blocks = self.conflicts.blocks_of[group]
        blockers = [key for g in self.blocked_by[group] for key in self.members[g]]
        found = dict.fromkeys(sorted((k for k in blockers if pos[k] < at), key=pos.__getitem__))
        for g in blocks:
            found.update(dict.fromkeys(k for k in self.members[g] if k not in found))
        later = sorted((k for k in blockers if pos[k] > at and k not in found), key=pos.__getitem__)
        found.update(dict.fromkeys(later))
        return list(found)

    def _reasons(self, a: int, b: int) -> list[str] | None:
        """What makes group `a`, running, block group `b` (None: it does not)."""
        if b not in self.conflicts.blocks_of[a]:
            return None
        if (a, b) not in self._via:
            describe = self.conflicts.describe
            self._via[a, b] = [describe(r) for r in self.conflicts.blocks_of[a][b]]
        return self._via[a, b]

    def joins(self, label: str, other: str) -> list[str]:
        a, b = self.group_of[label], self.group_of[other]
        first, second = self._reasons(a, b), self._reasons(b, a)
        if self.pos[label] > self.pos[other]:
            first, second = second, first
        if first is None:
            first, second = second, None
        known = list(first or ())
        for reason in second or ():
            if reason not in known:
                known.append(reason)
        return known


class SharingLabels(LabelsGraph):
    """The STE sharing graph, read from the bipartite graph of labels and
    types (`acm.analysis.flows.FlowGraph.graph`): two labels are joined by
    the types they both hold, in the policy's type order."""

    def __init__(self, bipartite: nx.Graph) -> None:
        self.graph = bipartite
        nodes = bipartite.nodes
        types = [n for n, kind in nodes(data="kind") if kind == "type"]
        data = {n: d for n, d in nodes(data=True) if d["kind"] != "type"}
        self.rank = {t: i for i, t in enumerate(types)}  # the labels graph joins in this order
        # each pair of holders of a type once: per label, its types' holders but itself
        adj = bipartite.adj
        edge_count = sum(
            len(set().union(*map(adj.__getitem__, adj[n]))) - 1 for n in data if adj[n]
        )
        size = bipartite.number_of_nodes() + bipartite.number_of_edges()
        super().__init__(data, edge_count // 2, size)

    def adjacent(self, label: str) -> list[str]:
        graph = self.graph
        found: dict[str, None] = {}
        for t in sorted(graph[label], key=self.rank.__getitem__):
            found.update(dict.fromkeys(graph[t]))  # the holders in the policy's order
        found.pop(label, None)
        return list(found)

    def joins(self, label: str, other: str) -> list[str]:
        graph = self.graph
        shared = sorted(graph[label].keys() & graph[other].keys(), key=self.rank.__getitem__)
        return [graph.nodes[t]["name"] for t in shared]

    def release(self) -> None:
        # emptied, not just dropped: a networkx graph is in reference cycles
        # (its cached views), which the collector frees only in a full
        # collection, long after a large graph should have made room
        self.graph.clear()


class GraphCache:
    """The graphs of the last documents, by (digest, kind), bounded by their
    size in nodes + edges rather than by their number: the least recently
    used graphs of other documents go first, and before a graph is built,
    room is made for one as large as the last of its kind (an edit changes
    a graph little), so that two generations of a huge graph are never held
    at once. The graphs of the document asked last are kept even over the
    budget: a focused view and its expansions need no new build."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.graphs: OrderedDict[tuple[str, str], LabelsGraph] = OrderedDict()
        self.last_size: dict[str, int] = {}  # kind -> size of its last graph built

    @property
    def size(self) -> int:
        return sum(graph.size for graph in self.graphs.values())

    def get(self, key: tuple[str, str]) -> LabelsGraph | None:
        graph = self.graphs.get(key)
        if graph is not None:
            self.graphs.move_to_end(key)
        return graph

    def make_room(self, key: tuple[str, str]) -> None:
        """Evict for a graph of `key` about to be built."""
        self._evict(key[0], self.last_size.get(key[1], 0))

    def put(self, key: tuple[str, str], graph: LabelsGraph) -> None:
        self.graphs[key] = graph
        self.graphs.move_to_end(key)
        self.last_size[key[1]] = graph.size
        self._evict(key[0], 0)

    def _evict(self, digest: str, wanted: int) -> None:
        total = self.size
        for key in [k for k in self.graphs if k[0] != digest]:  # least recently used first
            if total + wanted <= self.budget:
                break
            gone = self.graphs.pop(key)
            total -= gone.size
            gone.release()


_GRAPHS = GraphCache(GRAPH_BUDGET)


def studio_graph(xml: bytes, file: str, kind: str) -> LabelsGraph:
    """The labels graph of `kind` as the studio draws it, undirected (a
    Chinese Wall conflict goes both ways), read from the analysis's first
    form of it. Kept in `_GRAPHS`, so a focused view and its expansions do
    not compile again."""
    from acm.analysis.conflicts import build_conflicts
    from acm.analysis.graphs import GRAPH_KINDS, policy_graph
    from xm_core.web.services import analysis_policy

    if kind not in GRAPH_KINDS:
        raise UsageError(f"unknown graph kind {kind!r}")
    key = (hashlib.sha256(xml).hexdigest(), kind)
    cached = _GRAPHS.get(key)
    if cached is not None:
        return cached
    _GRAPHS.make_room(key)
    policy = analysis_policy(xml, file)
    graph: LabelsGraph
    if kind == "flows":
        graph = SharingLabels(policy_graph(policy, kind, "types").graph)
    else:
        graph = ConflictLabels(build_conflicts(policy))
    _GRAPHS.put(key, graph)
    return graph


def _edge(source: str, target: str, joins: list[str]) -> dict[str, Any]:
    return {"source": source, "target": target, "types": joins}


def graph_view(xml: bytes, file: str, kind: str, focus: str | None) -> dict[str, Any]:
    """What the graph tab draws: the whole graph when it is small; else, with
    no `focus`, only its size (the page shows a summary and a search); with
    `focus` (a label's name) that label, its neighbours and the edges among
    them (at most FOCUS_EDGES beyond the label's own)."""
    graph = studio_graph(xml, file, kind)
    size = {"total_nodes": len(graph.labels), "total_edges": graph.edge_count}
    if focus is None:
        if size["total_nodes"] > FULL_NODES or size["total_edges"] > FULL_EDGES:
            return {"mode": "summary", **size}
        return {
            "mode": "full",
            **size,
            "nodes": [graph.node(n) for n in graph.labels],
            "edges": [_edge(u, v, graph.joins(u, v)) for u, v in graph.edges()],
        }
    centre = graph.find(focus)
    if centre is None:
        raise UsageError(f"no label '{focus}' in the {kind} graph")
    neighbours = sorted(graph.adjacent(centre))
    keep = set(neighbours)
    edges = [_edge(centre, n, graph.joins(centre, n)) for n in neighbours]
    partial = False
    for n in neighbours:
        for m in graph.adjacent(n):
            if m in keep and n < m:
                if len(edges) - len(neighbours) >= FOCUS_EDGES:
                    partial = True
                    break
                edges.append(_edge(n, m, graph.joins(n, m)))
        if partial:
            break
    return {
        "mode": "focus",
        **size,
        "focus": centre,
        "partial": partial,
        "nodes": [graph.node(centre), *(graph.node(n) for n in neighbours)],
        "edges": edges,
    }
