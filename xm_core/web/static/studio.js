"use strict";
// Shared by the studio's pages: the API call (CSRF token, same origin) and the graph.
const CSRF = document.querySelector('meta[name="csrf-token"]').content;

async function api(path, body, raw, fileName) {
  const headers = { "X-CSRF-Token": CSRF };
  if (raw) { headers["X-File-Name"] = fileName || "upload"; } else { headers["Content-Type"] = "application/json"; }
  const resp = await fetch("/api/" + path, {
    method: "POST", headers, credentials: "same-origin", body: raw ? body : JSON.stringify(body || {}),
  });
  let doc;
  try { doc = await resp.json(); } catch (e) { doc = { error: resp.status + " " + resp.statusText }; }
  if (!resp.ok) { const err = new Error(doc.error || resp.statusText); err.doc = doc; throw err; }
  return doc;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) { if (c !== null && c !== undefined) node.append(c); }
  return node;
}

function findingNode(f) {
  const where = f.line ? `${f.line}:${f.column || 1}: ` : "";
  return el("span", { class: "finding " + f.severity, "data-code": f.code }, `${where}${f.severity} ${f.code}: ${f.message}`);
}

// Draw networkx node-link data of labels; a click shows the neighbours.
let cyGraph = null;
function drawGraph(container, data, kind, info) {
  const elements = [];
  for (const n of data.nodes) {
    elements.push({ data: { id: String(n.id), label: n.name || n.label || String(n.id) }, classes: (n.kind || "") + (n.bootstrap ? " bootstrap" : "") });
  }
  const directed = data.directed;
  data.edges.forEach((e, i) => {
    elements.push({ data: { id: "e" + i, source: String(e.source), target: String(e.target), types: (e.types || e.shared || e.reasons || []) } });
  });
  if (cyGraph) cyGraph.destroy();
  delete container.dataset.nodes;
  cyGraph = cytoscape({
    container, elements, wheelSensitivity: 0.3, maxZoom: 1.6,
    // a circle keeps every label readable on small policies; cose untangles
    // medium ones; a grid is all a large one can afford
    layout: data.nodes.length <= 40 ? { name: "circle", padding: 40, radius: Math.max(120, data.nodes.length * 22) }
      : elements.length > 400 ? { name: "grid" } : { name: "cose", animate: false },
    style: [
      { selector: "node", style: { label: "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 3, "background-color": "#607d8b", width: 14, height: 14 } },
      { selector: "node.res", style: { shape: "round-rectangle", "background-color": "#8d6e63" } },
      { selector: "node.bootstrap", style: { "border-width": 2, "border-color": "#263238" } },
      { selector: "edge", style: { width: 1.5, "line-color": kind === "conflicts" ? "#e53935" : "#43a047", "target-arrow-shape": directed ? "triangle" : "none", "target-arrow-color": "#e53935", "curve-style": "bezier" } },
      { selector: "node:selected", style: { "background-color": "#1e88e5" } },
    ],
  });
  cyGraph.on("tap", "node", (evt) => {
    const node = evt.target;
    const name = node.data("label");
    const out = [], inn = [];
    node.connectedEdges().forEach((e) => {
      const other = e.source().id() === node.id() ? e.target() : e.source();
      (e.source().id() === node.id() ? out : inn).push(other.data("label"));
    });
    info.replaceChildren();
    if (kind === "conflicts") {
      info.append(el("p", { id: "graph-selected" }, el("strong", {}, name), ": conflicts with ",
        [...new Set([...out, ...inn])].sort().join(", ") || "none"));
    } else {
      info.append(el("p", { id: "graph-selected" }, el("strong", {}, name), ": can share with ",
        [...new Set([...out, ...inn])].sort().join(", ") || "none"));
    }
  });
  window.studioGraph = cyGraph;
  container.dataset.nodes = String(cyGraph.nodes().length);
  return cyGraph;
}

function download(name, text) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/octet-stream" })), download: name });
  document.body.append(a); a.click(); a.remove();
}
