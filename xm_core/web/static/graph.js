"use strict";
// The graphs of a policy, drawn with sigma.js (WebGL) over a graphology
// graph. Small graphs are drawn whole; a large one starts from a summary
// and a search, and shows a label with its neighbours (a click expands a
// neighbour). The layout runs in short steps between frames, so the page
// never waits for it.
const G_COLORS = { dom: "#546e7a", res: "#8d6e63", bootstrap: "#1565c0", focus: "#f57c00", conflicts: "#e53935", flows: "#43a047" };
const LEGENDS = {
  conflicts: [["line", G_COLORS.conflicts, "cannot run at the same time (a conflict set holds a type of each)"],
    ["dot", G_COLORS.dom, "VM label"], ["dot", G_COLORS.bootstrap, "bootstrap label"], ["dot", G_COLORS.focus, "label in focus"]],
  flows: [["line", G_COLORS.flows, "share an STE type (the edge names the shared types)"],
    ["dot", G_COLORS.dom, "VM label"], ["dot", G_COLORS.res, "resource label"], ["dot", G_COLORS.bootstrap, "bootstrap label"], ["dot", G_COLORS.focus, "label in focus"]],
};
const LIGHT = { conflicts: "#f4c7c6", flows: "#cfe8cf" };
const EDGE_LABELS_UP_TO = 150; // edges whose shared types are written on them

// A conflict edge's reasons ("set: type" of both directions), grouped by
// conflict set: "banks: A-Bank, B-Bank".
function edgeText(types) {
  const sets = new Map();
  for (const t of types) {
    const at = t.indexOf(": ");
    if (at < 0) { sets.set(t, sets.get(t) || []); continue; }
    const set = t.slice(0, at);
    if (!sets.has(set)) sets.set(set, []);
    sets.get(set).push(t.slice(at + 2));
  }
  return [...sets].map(([set, ts]) => (ts.length ? `${set}: ${ts.sort().join(", ")}` : set)).join("; ");
}
const NAMES_SHOWN = 30; // neighbours named under the graph

class StudioGraph {
  constructor(box) {
    this.box = box; // { graph, info, legend, summary, search, labels }
    this.sigma = null;
    this.graph = null;
    this.kind = "conflicts";
    this.doc = null;
    this.layoutRun = 0;
  }

  legend(kind) {
    this.box.legend.replaceChildren(...LEGENDS[kind].map(([shape, color, text]) =>
      el("span", { class: "legend-item" }, el("span", { class: "swatch " + shape, style: `background:${color}` }), text)));
  }

  // Show the graph of `kind` for the document `doc` ({name, xml}).
  async show(doc, kind) {
    this.doc = doc; this.kind = kind;
    this.legend(kind);
    this.clear();
    this.box.info.textContent = "";
    this.box.summary.replaceChildren();
    if (!doc.xml) return;
    const started = performance.now();
    let answer;
    try { answer = await api("graph", { ...doc, kind }); } catch (err) {
      this.box.info.textContent = "No graph: " + (err.doc && err.doc.findings && err.doc.findings.length ? err.doc.findings[0].text : err.message);
      return;
    }
    if (answer.mode === "full") {
      this.draw(answer, null);
      this.box.info.textContent = `${answer.total_nodes} labels, ${answer.total_edges} edges (${Math.round(performance.now() - started)} ms). Click a label for its neighbours.`;
    } else {
      this.box.info.textContent = `${answer.total_nodes} labels and ${answer.total_edges} edges: too many to draw at once. Search a label to see it with its neighbours, or pick one in the summary below.`;
      this.summary();
      this.box.graph.dataset.mode = "summary";
    }
  }

  async focus(name, merge) {
    const started = performance.now();
    let answer;
    try { answer = await api("graph", { ...this.doc, kind: this.kind, focus: name }); } catch (err) {
      this.box.info.textContent = err.message; return;
    }
    if (merge && this.graph && this.sigma) this.merge(answer, answer.focus); else this.draw(answer, answer.focus);
    this.box.graph.dataset.focus = name;
    const extra = answer.partial ? ` (edges among them cut at ${answer.edges.length})` : "";
    this.box.info.replaceChildren(el("p", { id: "graph-selected" }, el("strong", {}, name), " ",
      this.kind === "conflicts" ? "conflicts with " : "can share with ", this.neighbourNames(answer.focus),
      ` (${Math.round(performance.now() - started)} ms${extra}; click a neighbour to expand it)`));
  }

  neighbourNames(id) {
    if (!this.graph || !this.graph.hasNode(id)) return "none";
    const names = this.graph.neighbors(id).map((n) => {
      const via = this.graph.getEdgeAttribute(this.graph.edge(id, n), "label");
      return `${this.graph.getNodeAttribute(n, "name")} (${via})`;
    }).sort();
    if (!names.length) return "none";
    const more = names.length - NAMES_SHOWN;
    return names.slice(0, NAMES_SHOWN).join(", ") + (more > 0 ? ` … and ${more} more` : "");
  }

  clear() {
    this.layoutRun++;
    if (this.sigma) { this.sigma.kill(); this.sigma = null; }
    this.graph = null;
    for (const k of ["nodes", "focus", "mode", "laidOut"]) delete this.box.graph.dataset[k];
  }

  addNode(n, focusId) {
    if (this.graph.hasNode(n.id)) return;
    const i = this.graph.order;
    const angle = i * 2.399963; // golden angle: spread without overlap
    const r = 10 * Math.sqrt(i + 1);
    this.graph.addNode(n.id, {
      name: n.name, label: n.name, kind: n.kind, bootstrap: n.bootstrap, i,
      x: n.id === focusId ? 0 : r * Math.cos(angle), y: n.id === focusId ? 0 : r * Math.sin(angle),
      size: n.id === focusId ? 9 : 6,
      color: n.id === focusId ? G_COLORS.focus : n.bootstrap ? G_COLORS.bootstrap : G_COLORS[n.kind] || G_COLORS.dom,
    });
  }

  addEdge(e, focusId) {
    if (this.graph.hasEdge(e.source, e.target) || this.graph.hasEdge(e.target, e.source)) return;
    // in a focused view the label's own edges stand out from those among its neighbours
    const own = !focusId || e.source === focusId || e.target === focusId;
    this.graph.addUndirectedEdge(e.source, e.target, { types: e.types, label: edgeText(e.types), color: own ? G_COLORS[this.kind] : LIGHT[this.kind], size: own ? 1.5 : 0.5 });
  }

  draw(data, focusId) {
    this.clear();
    const run = this.layoutRun;
    this.graph = new XmVendor.Graph({ type: "undirected" });
    for (const n of data.nodes) this.addNode(n, focusId);
    for (const e of data.edges) this.addEdge(e, focusId);
    this.box.graph.dataset.mode = focusId ? "focus" : "full";
    if (focusId) {
      // a label and its neighbours: the neighbours on a circle around it
      this.ring(this.graph.neighbors(focusId), 0, 0, 100);
      this.attach(data);
    } else if (this.graph.order <= 40) {
      // a circle keeps every label of a small policy readable
      this.ring(this.graph.nodes(), 0, 0, 100);
      this.attach(data);
    } else {
      this.box.info.textContent = "laying out…";
      this.layout(run, () => this.attach(data));
    }
  }

  ring(ids, cx, cy, radius) {
    ids.forEach((id, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, ids.length);
      this.graph.mergeNodeAttributes(id, { x: cx + radius * Math.cos(a), y: cy + radius * Math.sin(a) });
    });
  }

  // The renderer comes last, once the positions are known: moving the
  // nodes of a drawn graph would draw it again at every step.
  attach(data) {
    this.sigma = new XmVendor.Sigma(this.graph, this.box.graph, {
      renderEdgeLabels: data.edges.length <= EDGE_LABELS_UP_TO,
      labelRenderedSizeThreshold: data.nodes.length > 200 ? 8 : 0,
      defaultEdgeType: "line",
      allowInvalidContainer: true,
    });
    this.sigma.on("clickNode", ({ node }) => this.clickNode(node));
    this.box.graph.dataset.nodes = String(this.graph.order);
    this.box.graph.dataset.laidOut = "1";
  }

  merge(data, around) {
    const known = new Set(this.graph.nodes());
    for (const n of data.nodes) this.addNode(n, null);
    for (const e of data.edges) this.addEdge(e, around);
    // the new neighbours on a small circle around the label that was expanded
    const fresh = data.nodes.map((n) => n.id).filter((id) => !known.has(id));
    if (around && this.graph.hasNode(around)) {
      const { x, y } = this.graph.getNodeAttributes(around);
      this.ring(fresh, x, y, 25 + 2 * Math.sqrt(fresh.length));
    }
    this.sigma.setSetting("renderEdgeLabels", this.graph.size <= EDGE_LABELS_UP_TO);
    this.box.graph.dataset.nodes = String(this.graph.order);
  }

  // ForceAtlas2 for a whole (small) graph, in slices of at most 30 ms with
  // the page free between them; `done` when it has run its iterations.
  layout(run, done) {
    const graph = this.graph;
    const settings = XmVendor.forceAtlas2.inferSettings(graph);
    let left = 100;
    const slice = () => {
      if (run !== this.layoutRun) return;
      const started = performance.now();
      while (left > 0 && performance.now() - started < 30) {
        XmVendor.forceAtlas2.assign(graph, { iterations: 1, settings });
        left--;
      }
      if (left > 0) setTimeout(slice, 0); else done();
    };
    setTimeout(slice, 0);
  }

  clickNode(id) {
    const name = this.graph.getNodeAttribute(id, "name");
    if (this.box.graph.dataset.mode === "focus") { this.focus(name, true); return; }
    this.box.info.replaceChildren(el("p", { id: "graph-selected" }, el("strong", {}, name), " ",
      this.kind === "conflicts" ? "conflicts with " : "can share with ", this.neighbourNames(id)));
  }

  // For tests and the keyboard: the same as a click on the label's node.
  clickLabel(name) {
    const id = this.graph && this.graph.findNode((n, a) => a.name === name);
    if (id) this.clickNode(id);
  }
  nodeNames() { return this.graph ? this.graph.mapNodes((n, a) => a.name) : []; }
  edgeList() { return this.graph ? this.graph.mapEdges((e, a, s, t) => [this.graph.getNodeAttribute(s, "name"), this.graph.getNodeAttribute(t, "name"), a.types]) : []; }
  undirected() { return this.graph ? this.graph.type === "undirected" : null; }

  // A large policy's summary, made from the outline the page holds: its
  // conflict sets as groups of labels, and a matrix of labels by types.
  summary() {
    const o = typeof state === "undefined" ? null : state.outline;
    if (!o) return;
    const out = [];
    const names = o.labels.map((l) => l.name);
    this.box.labels.replaceChildren(...[...new Set(names)].map((n) => el("option", { value: n })));
    const pick = (name) => el("a", { href: "#", class: "pick-label", onclick: (e) => { e.preventDefault(); this.focus(name, false); } }, name);
    if (this.kind === "conflicts") {
      const holders = new Map();
      for (const l of o.labels) for (const g of l.chwall) for (const t of g.types) { if (!holders.has(t)) holders.set(t, []); holders.get(t).push(l.name); }
      out.push(el("h3", {}, `Conflict sets (${o.conflict_sets.length}): labels that never run together`));
      const list = el("ul", { id: "summary-sets" });
      for (const c of o.conflict_sets) {
        const members = c.types.map((t) => [t, holders.get(t) || []]);
        list.append(el("li", {}, el("strong", {}, c.name || `set ${c.index + 1}`), ": ",
          ...members.flatMap(([t, ls]) => [el("span", { class: "chip" }, `${t}: ${ls.length} label${ls.length === 1 ? "" : "s"}`), " ",
            ...ls.slice(0, 5).flatMap((n) => [pick(n), " "]), ls.length > 5 ? `… ` : ""])));
      }
      out.push(list);
    }
    const part = this.kind === "conflicts" ? "chwall" : "ste";
    const types = (o.parts[this.kind === "conflicts" ? "CHWALL" : "STE"] || { types: [] }).types.map((t) => t.name);
    const rows = o.labels.filter((l) => l[part].length);
    out.push(el("h3", {}, `Labels by ${this.kind === "conflicts" ? "Chinese Wall" : "STE"} types: ${rows.length} × ${types.length} (click a row to focus on its label)`));
    const canvas = el("canvas", { id: "summary-matrix", width: Math.max(1, types.length), height: Math.max(1, rows.length) });
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(canvas.width, canvas.height);
    const col = new Map(types.map((t, i) => [t, i]));
    rows.forEach((l, r) => {
      for (const g of l[part]) for (const t of g.types) {
        const c = col.get(t);
        if (c === undefined) continue;
        const p = (r * canvas.width + c) * 4;
        img.data[p] = 38; img.data[p + 1] = 50; img.data[p + 2] = 56; img.data[p + 3] = 255;
      }
    });
    ctx.putImageData(img, 0, 0);
    canvas.title = "rows: labels; columns: types";
    canvas.addEventListener("click", (e) => {
      const r = Math.floor((e.offsetY / canvas.clientHeight) * rows.length);
      if (rows[r]) this.focus(rows[r].name, false);
    });
    out.push(canvas);
    this.box.summary.replaceChildren(...out);
  }
}
