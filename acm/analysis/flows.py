"""The STE flow graph: where data can travel.

Two labels share data when their STE type sets meet (enforcement.md
section 3): domains through event channels and grant tables, a domain and a
resource through access to it. Data goes further through any label in
between: a driver domain that serves two guests, a disk that one domain
writes and another reads. The Chinese Wall does not stop such flows (it
only keeps domains apart in time), so it plays no part here; labels that
no domain or resource can carry (see `loader`) are left out.

The graph is built once as a bipartite graph of labels and STE types
(edges = labels x types per label); the label-to-label graph, whose edge
count grows with the square of a type's holders, is made only for small
policies or when asked. The paths are searched on the bipartite graph's
adjacency (each label's types, each type's holders); the networkx graph
itself is made when a graph is exported: `xm acm flows` neither imports
networkx nor builds its graph of a few hundred thousand edges.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from acm.analysis.loader import AnalysisPolicy, Label, analysis_error

if TYPE_CHECKING:
    import networkx as nx

LABEL_EDGE_LIMIT = 20_000  # level "auto" draws labels up to this many label-label edges
MAX_EXPANSIONS = 1_000_000  # path search gives up (complete=False) past this many steps
DEFAULT_MAX_HOPS = 3
DEFAULT_LIMIT = 20
Level = Literal["auto", "labels", "types"]


def type_node(name: str) -> str:
    return "ste:" + name


@dataclass(frozen=True)
class FlowPath:
    """A path of labels; `types[i]` are the STE types shared by labels i and i+1."""

    labels: tuple[Label, ...]
    types: tuple[tuple[str, ...], ...]

    @property
    def hops(self) -> int:
        return len(self.types)


@dataclass
class FlowsResult:
    policy: AnalysisPolicy
    source: Label
    target: Label
    max_hops: int
    limit: int
    paths: list[FlowPath]
    shortest: int | None  # hops of the shortest path, even beyond max_hops; None: no path
    complete: bool  # every path of at most max_hops hops is listed

    def format(self) -> list[str]:
        show = self.policy.display
        head = f"Flows from {show(self.source)} to {show(self.target)}"
        if self.shortest is None:
            return [f"{head}: none. Their STE types are not connected through any label."]
        if not self.paths:
            return [
                f"{head}: none within {self.max_hops} hops; the shortest path has "
                f"{self.shortest} hops (raise --max-hops)."
            ]
        lines = [f"{head} (shortest first, at most {self.max_hops} hops):"]
        for n, path in enumerate(self.paths, 1):
            steps = [show(path.labels[0])]
            for label, types in zip(path.labels[1:], path.types, strict=True):
                steps.append(f"--[{', '.join(types)}]--> {show(label)}")
            lines.append(
                f"  {n}. ({path.hops} hop{'s' if path.hops > 1 else ''}) " + " ".join(steps)
            )
        if not self.complete:
            lines.append(f"  ... not every path is listed: the first {len(self.paths)} (--limit).")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.name,
            "from": self.source.name,
            "from_kind": _kind(self.source),
            "to": self.target.name,
            "to_kind": _kind(self.target),
            "max_hops": self.max_hops,
            "limit": self.limit,
            "shortest_hops": self.shortest,
            "complete": self.complete,
            "paths": [
                {
                    "hops": p.hops,
                    "labels": [lab.name for lab in p.labels],
                    "steps": [
                        {"from": a.name, "to": b.name, "types": list(ts)}
                        for a, b, ts in zip(p.labels[:-1], p.labels[1:], p.types, strict=True)
                    ],
                }
                for p in self.paths
            ],
        }


def _kind(label: Label) -> str:
    return "dom" if label.is_vm else "res"


@dataclass
class FlowGraph:
    """Labels and the STE types they hold: a bipartite graph, as the
    adjacency of each side (the networkx graph is made from it on first use)."""

    policy: AnalysisPolicy
    types_of: dict[str, list[str]]  # label key -> the `ste:<type>` nodes it holds
    holders: dict[str, list[str]]  # `ste:<type>` -> the label keys holding it, in policy order
    excluded: list[Label]
    order: dict[str, int] = field(default_factory=dict)  # label key -> position in the policy

    @cached_property
    def graph(self) -> nx.Graph:
        """The networkx graph: nodes are the label keys (attributes name,
        kind, ste_types, bootstrap) and `ste:<type>` (name, kind "type");
        an edge joins a label and each type it holds."""
        import networkx as nx

        policy = self.policy
        g = nx.Graph()
        g.add_nodes_from(
            (node, {"name": node[len("ste:") :], "kind": "type"}) for node in self.holders
        )
        for key, types in self.types_of.items():
            label = policy.label_by_key(key)
            g.add_node(
                key,
                name=label.name,
                kind=_kind(label),
                ste_types=policy.ste_names(label.ste),
                bootstrap=label.bootstrap,
            )
            g.add_edges_from((key, t) for t in types)
        return g

    # ---- queries

    def neighbours(self, key: str) -> dict[str, list[str]]:
        """label key -> the STE type nodes it shares with `key`."""
        found: dict[str, list[str]] = {}
        holders = self.holders
        for t in self.types_of[key]:
            for other in holders[t]:
                if other != key:
                    found.setdefault(other, []).append(t)
        return found

    def distances(self, target: str) -> dict[str, int]:
        """Hops from every label that reaches `target` (breadth-first over types)."""
        dist = {target: 0}
        seen_types: set[str] = set()
        queue = deque([target])
        while queue:
            key = queue.popleft()
            for t in self.types_of[key]:
                if t in seen_types:
                    continue
                seen_types.add(t)
                for other in self.holders[t]:
                    if other not in dist:
                        dist[other] = dist[key] + 1
                        queue.append(other)
        return dist

    def flows(
        self,
        source: Label,
        target: Label,
        max_hops: int = DEFAULT_MAX_HOPS,
        limit: int = DEFAULT_LIMIT,
    ) -> FlowsResult:
        """The simple paths from `source` to `target`, shortest first (then in the
        policy's label order), at most `max_hops` steps and `limit` paths."""
        for label in (source, target):
            if label.key not in self.order:
                raise analysis_error(
                    "ANA005", f"Label '{label.name}' takes part in no flow: {label.problem}"
                )
        if source.key == target.key:
            raise analysis_error("ANA005", "FROM and TO are the same label")
        dist = self.distances(target.key)
        shortest = dist.get(source.key)
        result = FlowsResult(self.policy, source, target, max_hops, limit, [], shortest, True)
        if shortest is None or shortest > max_hops:
            return result
        cache: dict[str, list[tuple[str, list[str]]]] = {}

        def ordered(key: str) -> list[tuple[str, list[str]]]:
            if key not in cache:
                cache[key] = sorted(self.neighbours(key).items(), key=lambda kv: self.order[kv[0]])
            return cache[key]

        budget = MAX_EXPANSIONS
        path = [source.key]
        shared: list[list[str]] = []
        on_path = {source.key}

        def walk(hops_left: int) -> bool:
            """Extend `path` by exactly `hops_left` steps to the target; False when done."""
            nonlocal budget
            for nxt, types in ordered(path[-1]):
                budget -= 1
                if budget < 0:
                    result.complete = False
                    return False
                if nxt in on_path or dist.get(nxt, hops_left + 1) > hops_left - 1:
                    continue
                if nxt == target.key:
                    if hops_left == 1:
                        result.paths.append(self._path(path + [nxt], shared + [types]))
                        if len(result.paths) > limit:  # one more than asked: not complete
                            return False
                    continue
                path.append(nxt)
                shared.append(types)
                on_path.add(nxt)
                go_on = walk(hops_left - 1)
                path.pop()
                shared.pop()
                on_path.discard(nxt)
                if not go_on:
                    return False
            return True

        for hops in range(shortest, max_hops + 1):
            if not walk(hops):
                break
        if len(result.paths) > limit:
            del result.paths[limit:]
            result.complete = False
        return result

    def _path(self, keys: list[str], types: list[list[str]]) -> FlowPath:
        labels = tuple(self.policy.label_by_key(k) for k in keys)
        names = tuple(tuple(t[len("ste:") :] for t in ts) for ts in types)
        return FlowPath(labels, names)

    # ---- export

    def label_edge_bound(self) -> int:
        """At most this many label-label edges (sum over types of holder pairs)."""
        return sum(len(keys) * (len(keys) - 1) // 2 for keys in self.holders.values())

    def label_graph(self) -> nx.Graph:
        """Labels joined when they share STE types (edge attribute `types`)."""
        import networkx as nx

        g = nx.Graph(policy=self.policy.name, kind="flows", level="labels")
        for n, data in self.graph.nodes(data=True):
            if data["kind"] != "type":
                g.add_node(n, **data)
        for t, data in self.graph.nodes(data=True):
            if data["kind"] != "type":
                continue
            holders = sorted(self.graph[t], key=self.order.__getitem__)
            for i, a in enumerate(holders):
                for b in holders[i + 1 :]:
                    if g.has_edge(a, b):
                        g.edges[a, b]["types"].append(data["name"])
                    else:
                        g.add_edge(a, b, types=[data["name"]])
        return g

    def type_graph(self) -> nx.Graph:
        """The bipartite graph itself (not a copy: it is large), described."""
        self.graph.graph.update(policy=self.policy.name, kind="flows", level="types")
        return self.graph

    def export(self, level: Level = "auto") -> nx.Graph:
        if level == "auto":
            level = "labels" if self.label_edge_bound() <= LABEL_EDGE_LIMIT else "types"
        graph = self.label_graph() if level == "labels" else self.type_graph()
        graph.graph["excluded"] = [
            {"name": lab.name, "kind": _kind(lab), "reason": lab.problem} for lab in self.excluded
        ]
        return graph


def build_flows(policy: AnalysisPolicy) -> FlowGraph:
    """The bipartite label/STE-type graph of the labels a domain or resource can carry."""
    if not policy.has_ste:
        raise analysis_error(
            "ANA004",
            f"policy '{policy.name}' has no Simple Type Enforcement part: it does not "
            "restrict sharing, so data can travel between any domains and resources",
        )
    nodes = [type_node(name) for name in policy.ste_types]
    holders: dict[str, list[str]] = {node: [] for node in nodes}
    types_of: dict[str, list[str]] = {}
    excluded: list[Label] = []
    order: dict[str, int] = {}
    for label in policy.labels:
        if not label.usable:
            excluded.append(label)
            continue
        key = label.key
        order[key] = len(order)
        types_of[key] = held = [nodes[t] for t in label.ste]
        for t in held:
            holders[t].append(key)
    return FlowGraph(policy, types_of, holders, excluded, order)


def find_flows(
    policy: AnalysisPolicy,
    source: str,
    target: str,
    max_hops: int = DEFAULT_MAX_HOPS,
    limit: int = DEFAULT_LIMIT,
) -> FlowsResult:
    """`xm acm flows`: the paths from label `source` to label `target` (names as
    a user writes them, `dom:`/`res:` prefixes allowed)."""
    graph = build_flows(policy)
    return graph.flows(policy.find(source), policy.find(target), max_hops, limit)
