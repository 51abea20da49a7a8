"""What the studio's graph tab draws of a policy: its labels graph whole when
it is small, else its size (a summary) and focused views of one label and
its neighbours.

The graphs are `acm.analysis`'s own, kept for the last documents in a cache
bounded by their size. The Chinese Wall graph is kept as its networkx
labels graph, made undirected. The STE sharing graph is kept as the
analysis's bipartite graph of labels and types: its labels graph joins
every two holders of a type, 6.3 million edges at 20,000 labels (1.8 GB in
networkx, 30 s to build), where the bipartite graph has 160,000; a label's
neighbours are read from it when a view asks, in the labels graph's order.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import networkx as nx

from xm_core.errors import UsageError

FULL_NODES = 300  # above this many labels (or FULL_EDGES edges) a graph starts focused
FULL_EDGES = 5_000
FOCUS_EDGES = 1_500  # edges of a focused view, beyond those of the label in focus
# Nodes + edges the kept graphs may hold together in networkx (some 300
# bytes each: about 600 MB). The graphs of the document asked last are kept
# even beyond it.
GRAPH_BUDGET = 2_000_000


class LabelsGraph:
    """A labels graph as the graph tab reads it: the labels in order, each
    one's attributes, and each one's neighbours with what joins them (the
    STE types shared, or the conflict sets), in the order of networkx's
    labels graph (`acm.analysis.graphs.policy_graph(..., "labels")`)."""

    def __init__(self, graph: nx.Graph, labels: list[str], edge_count: int) -> None:
        self.graph = graph  # the networkx graph kept: its nodes include the labels
        self.labels = labels
        self.label_set = set(labels)
        self.edge_count = edge_count

    @property
    def size(self) -> int:
        """What it holds, in networkx nodes + edges (the cache's measure)."""
        return int(self.graph.number_of_nodes() + self.graph.number_of_edges())

    def joined(self, label: str) -> dict[str, list[str]]:
        raise NotImplementedError

    def node(self, label: str) -> dict[str, Any]:
        data = self.graph.nodes[label]
        return {
            "id": label,
            "name": data.get("name", label),
            "kind": data.get("kind", ""),
            "bootstrap": bool(data.get("bootstrap")),
        }

    def find(self, name: str) -> str | None:
        """The label of a name as a user gives it (`dom:`/`res:` keys first)."""
        for key in (f"dom:{name}", f"res:{name}"):
            if key in self.label_set:
                return key
        nodes = self.graph.nodes
        return next((n for n in self.labels if nodes[n].get("name") == name), None)

    def edges(self) -> Iterator[tuple[str, str, list[str]]]:
        """Each pair once, as networkx's `Graph.edges` lists them."""
        seen: set[str] = set()
        for label in self.labels:
            for other, joins in self.joined(label).items():
                if other not in seen:
                    yield label, other, joins
            seen.add(label)


class ConflictLabels(LabelsGraph):
    """The Chinese Wall labels graph, undirected: `via` lists the conflict
    sets and types of both directions."""

    def __init__(self, graph: nx.Graph) -> None:
        super().__init__(graph, list(graph), graph.number_of_edges())

    def joined(self, label: str) -> dict[str, list[str]]:
        return {other: data["via"] for other, data in self.graph[label].items()}


class SharingLabels(LabelsGraph):
    """The STE sharing graph, read from the bipartite graph of labels and
    types (`acm.analysis.flows.FlowGraph.graph`): two labels are joined by
    the types they both hold, in the policy's type order."""

    def __init__(self, bipartite: nx.Graph) -> None:
        nodes = bipartite.nodes
        types = [n for n, kind in nodes(data="kind") if kind == "type"]
        labels = [n for n, kind in nodes(data="kind") if kind != "type"]
        self.rank = {t: i for i, t in enumerate(types)}  # the labels graph joins in this order
        # each pair of holders of a type once: per label, its types' holders but itself
        adj = bipartite.adj
        edge_count = sum(
            len(set().union(*map(adj.__getitem__, adj[n]))) - 1 for n in labels if adj[n]
        )
        super().__init__(bipartite, labels, edge_count // 2)

    def joined(self, label: str) -> dict[str, list[str]]:
        graph = self.graph
        found: dict[str, list[str]] = {}
        for t in sorted(graph[label], key=self.rank.__getitem__):
            name = graph.nodes[t]["name"]
            for other in graph[t]:  # the holders in the policy's order
                if other != label:
                    found.setdefault(other, []).append(name)
        return found


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
            # emptied, not just dropped: a networkx graph is in reference
            # cycles (its cached views), which the collector frees only in a
            # full collection, long after a large graph should have made room
            gone.graph.clear()


_GRAPHS = GraphCache(GRAPH_BUDGET)


def studio_graph(xml: bytes, file: str, kind: str) -> LabelsGraph:
    """The labels graph of `kind` as the studio draws it, undirected (a
    Chinese Wall conflict goes both ways). Kept in `_GRAPHS`, so a focused
    view and its expansions do not compile again."""
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
        graph = ConflictLabels(_undirected(policy_graph(policy, kind, "labels").graph))
    _GRAPHS.put(key, graph)
    return graph


def _undirected(graph: nx.Graph) -> nx.Graph:
    """One edge a pair; `via` lists the conflict sets and types of both directions."""
    if not graph.is_directed():
        return graph
    undirected = nx.Graph()
    undirected.add_nodes_from(graph.nodes(data=True))
    for u, v, data in graph.edges(data=True):
        if undirected.has_edge(u, v):
            known = undirected[u][v]["via"]
            known.extend(x for x in data.get("via", []) if x not in known)
        else:
            undirected.add_edge(u, v, via=list(data.get("via", [])))
    return undirected


def _edge(source: str, target: str, joins: list[str]) -> dict[str, Any]:
    return {"source": source, "target": target, "types": joins or []}


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
            "edges": [_edge(u, v, joins) for u, v, joins in graph.edges()],
        }
    centre = graph.find(focus)
    if centre is None:
        raise UsageError(f"no label '{focus}' in the {kind} graph")
    around = graph.joined(centre)
    neighbours = sorted(around)
    keep = set(neighbours)
    edges = [_edge(centre, n, around[n]) for n in neighbours]
    partial = False
    for n in neighbours:
        for m, joins in graph.joined(n).items():
            if m in keep and n < m:
                if len(edges) - len(neighbours) >= FOCUS_EDGES:
                    partial = True
                    break
                edges.append(_edge(n, m, joins))
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
