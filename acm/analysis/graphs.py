"""Export of the analysis graphs: networkx node-link JSON, Graphviz DOT, and
SVG through Graphviz's `dot` program when it is installed.

DOT is written here rather than through pydot/pygraphviz (neither is a
dependency); the only delicate part is quoting, done by `dot_id`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import networkx as nx

from acm.analysis.loader import AnalysisPolicy, analysis_error

GRAPH_FORMATS = ("json", "dot", "svg")
INDENT_EDGE_LIMIT = 20_000  # JSON of larger graphs is written without indentation


def node_link(graph: nx.Graph) -> dict[str, Any]:
    """networkx node-link data, with the edges under `edges` on every networkx 3."""
    try:
        data: dict[str, Any] = nx.node_link_data(graph, edges="edges")
    except TypeError:  # networkx < 3.4 has no `edges=` and calls them "links"
        data = nx.node_link_data(graph)
        data["edges"] = data.pop("links")
    return data


def dot_id(text: object) -> str:
    """A DOT double-quoted string: backslash, quote and line breaks escaped."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"')
    s = s.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return f'"{s}"'


def _attrs(attrs: dict[str, object]) -> str:
    if not attrs:
        return ""
    return " [" + ", ".join(f"{k}={dot_id(v)}" for k, v in attrs.items()) + "]"


def to_dot(
    graph: nx.Graph,
    name: str,
    node_attrs: dict[str, dict[str, object]] | None = None,
    edge_label: str | None = None,
    defaults: dict[str, dict[str, object]] | None = None,
) -> str:
    """A DOT document of `graph`. Each node is labelled with its `name`
    attribute (else its id) and gets the DOT attributes in `node_attrs[node]`;
    each edge gets its attribute `edge_label` (a list is joined) as its label."""
    directed = graph.is_directed()
    arrow = "->" if directed else "--"
    lines = [f"{'digraph' if directed else 'graph'} {dot_id(name)} {{"]
    for what, default in (defaults or {}).items():
        lines.append(f"  {what}{_attrs(default)};")
    extra = node_attrs or {}
    attrs: dict[str, object] = {}
    for node, data in graph.nodes(data=True):
        attrs = {"label": data.get("name", node)}
        attrs.update(extra.get(node, {}))
        lines.append(f"  {dot_id(node)}{_attrs(attrs)};")
    for u, v, data in graph.edges(data=True):
        attrs.clear()
        if edge_label and data.get(edge_label):
            value = data[edge_label]
            attrs["label"] = ", ".join(map(str, value)) if isinstance(value, list) else value
        lines.append(f"  {dot_id(u)} {arrow} {dot_id(v)}{_attrs(attrs)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graphviz_dot() -> str | None:
    """The path of Graphviz's `dot`, or None when it is not installed."""
    return shutil.which("dot")


def dot_to_svg(dot: str) -> bytes:
    """Lay out a DOT document as SVG with Graphviz; a clear error without it."""
    program = graphviz_dot()
    if program is None:
        raise analysis_error(
            "ANA010",
            "SVG needs Graphviz's 'dot' program, which is not installed "
            "(install the graphviz package, or use --format dot or --format json)",
        )
    proc = subprocess.run(
        [program, "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, check=False
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise analysis_error(
            "ANA011", f"Graphviz 'dot' failed: {detail[-1] if detail else proc.returncode}"
        )
    return proc.stdout


GRAPH_KINDS = ("conflicts", "flows")
GRAPH_LEVELS = ("auto", "labels", "groups", "types")


@dataclass
class GraphExport:
    """One analysis graph, ready to be written as JSON, DOT or SVG."""

    graph: nx.Graph
    title: str

    @property
    def level(self) -> str:
        return str(self.graph.graph.get("level", ""))

    def as_dict(self) -> dict[str, Any]:
        return node_link(self.graph)

    def dot(self) -> str:
        styles: dict[str, dict[str, object]] = {}
        for node, data in self.graph.nodes(data=True):
            style: dict[str, object] = {}
            if data.get("kind") == "res":
                style["shape"] = "box"
            elif data.get("kind") == "type":
                style.update(shape="diamond", style="dashed")
            if "size" in data:  # a group of labels
                style["label"] = f"{data['name']}\n{data['size']} label{'s' * (data['size'] != 1)}"
            if data.get("bootstrap"):
                style["peripheries"] = 2
            styles[node] = style
        edge = "via" if self.graph.graph.get("kind") == "conflicts" else "types"
        return to_dot(self.graph, self.title, styles, edge_label=edge)

    def format(self, fmt: str) -> bytes:
        if fmt == "json":
            # Indented while a person may read it; compact when large (4x faster).
            indent = 2 if self.graph.number_of_edges() <= INDENT_EDGE_LIMIT else None
            return (json.dumps(self.as_dict(), indent=indent) + "\n").encode("utf-8")
        if fmt == "svg":
            return dot_to_svg(self.dot())
        return self.dot().encode("utf-8")


def policy_graph(
    policy: AnalysisPolicy, kind: str = "conflicts", level: str = "auto"
) -> GraphExport:
    """The Chinese Wall graph (`conflicts`: labels or groups) or the STE flow
    graph (`flows`: labels or labels and types) of a policy."""
    if kind == "conflicts":
        from acm.analysis.conflicts import build_conflicts

        if level not in ("auto", "labels", "groups"):
            raise analysis_error("ANA006", f"the conflicts graph has no level '{level}'")
        graph = build_conflicts(policy).export(level)  # type: ignore[arg-type]
    elif kind == "flows":
        from acm.analysis.flows import build_flows

        if level not in ("auto", "labels", "types"):
            raise analysis_error("ANA006", f"the flows graph has no level '{level}'")
        graph = build_flows(policy).export(level)  # type: ignore[arg-type]
    else:
        raise analysis_error("ANA006", f"unknown graph kind '{kind}'")
    return GraphExport(graph, f"{policy.name} {kind}")
