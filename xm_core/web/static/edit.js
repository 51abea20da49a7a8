"use strict";
// The policy editor: every edit goes to /api/edit, which returns the new XML
// with every compiler and lint finding; findings are shown at their element.
const state = { name: "", xml: "", outline: null, findings: [] };
const $ = (id) => document.getElementById(id);

function setStatus(text) { $("status").textContent = text; }

function showError(err) {
  setStatus(err.message);
  if (err.doc && err.doc.findings) { state.findings = err.doc.findings; renderFindings(); }
}

async function edit(op) {
  const started = performance.now();
  try {
    const doc = await api("edit", { name: state.name, xml: state.xml, op });
    apply(doc);
    setStatus(`edited (${Math.round(performance.now() - started)} ms)`);
  } catch (err) { showError(err); }
}

function apply(doc) {
  if (doc.xml !== undefined) state.xml = doc.xml;
  if (doc.name !== undefined) { state.name = doc.name; $("policy-name").value = doc.name; }
  state.outline = doc.outline;
  state.findings = doc.findings || [];
  render();
}

function render() { renderOutline(); renderFindings(); renderXml(); if ($("tab-graph").classList.contains("active")) loadGraph(); }

function renderFindings() {
  const list = $("findings");
  list.replaceChildren(...state.findings.map((f) => el("li", {}, findingNode(f))));
  $("finding-count").textContent = `(${state.findings.length})`;
  // findings at their element in the outline
  document.querySelectorAll("#outline .el .finding").forEach((n) => n.remove());
  document.querySelectorAll("#outline .el").forEach((n) => n.classList.remove("has-error", "has-warning"));
  // Each line belongs to the innermost element spanning it: larger ranges are
  // assigned first, smaller ones overwrite them (a policy has thousands).
  const spans = [...document.querySelectorAll("#outline .el[data-line]")].map((n) => {
    const a = +n.dataset.line;
    return [a, +(n.dataset.end || a), n];
  }).filter((x) => x[0] > 0).sort((x, y) => (y[1] - y[0]) - (x[1] - x[0]));
  const owner = [];
  for (const [a, b, n] of spans) { for (let l = a; l <= b; l++) owner[l] = n; }
  const general = $("general-findings");
  for (const f of state.findings) {
    const best = owner[f.line];
    const target = best || general;
    if (!target) continue;
    target.append(findingNode(f));
    if (best) best.classList.add(f.severity === "error" ? "has-error" : "has-warning");
  }
}

function renderXml() {
  // drawn when its tab is shown: a large policy has tens of thousands of lines
  if (!$("tab-xml").classList.contains("active")) { $("xml-lines").replaceChildren(); return; }
  const bad = new Set(state.findings.filter((f) => f.severity === "error").map((f) => f.line));
  $("xml-lines").replaceChildren(...state.xml.split("\n").map((line, i) =>
    el("li", { class: bad.has(i + 1) ? "bad" : null }, line)));
}

function nameInput(value, onchange, attrs) {
  return el("input", { value, size: Math.max(12, value.length + 2), ...attrs, onchange: (e) => onchange(e.target.value) });
}
function listInput(values, onchange, attrs) {
  return el("input", { value: values.join(" "), size: 40, ...attrs, onchange: (e) => onchange(e.target.value.split(/[\s,]+/).filter(Boolean)) });
}
function del(label, op) { return el("button", { title: "delete " + label, "aria-label": "delete " + label, onclick: () => edit(op) }, "×"); }
function adder(id, placeholder, make) {
  const input = el("input", { id, placeholder });
  return el("span", {}, input, el("button", { id: id + "-btn", onclick: () => { if (input.value) edit(make(input.value)); } }, "add"));
}

function renderOutline() {
  const o = state.outline;
  const box = $("outline");
  if (!o) { box.replaceChildren(el("p", {}, "The document is not well-formed XML: see the findings."), el("div", { id: "general-findings" })); return; }
  const parts = [];
  parts.push(el("div", { id: "general-findings" }));
  const header = el("fieldset", {}, el("legend", {}, "Header"));
  for (const field of ["PolicyName", "PolicyUrl", "Reference", "Date", "NameSpaceUrl"]) {
    const f = o.header[field] || { value: "", line: 0 };
    header.append(el("div", { class: "el", "data-line": f.line || null },
      el("label", {}, field + " ", nameInput(f.value, (v) => edit({ op: "set_header", field, value: v }), { id: "header-" + field }))));
  }
  parts.push(header);
  const prim = el("select", { id: "priority", onchange: (e) => edit({ op: "set_priority", part: e.target.value || null }) },
    el("option", { value: "" }, "(no priority attribute)"),
    ...["CHWALL", "STE"].filter((p) => o.parts[p]).map((p) => el("option", { value: p, selected: o.parts[p].priority ? true : null }, p)));
  parts.push(el("p", {}, "Primary (priority attribute; Chinese Wall is primary whenever present): ", prim));
  for (const [part, title] of [["STE", "Simple Type Enforcement types"], ["CHWALL", "Chinese Wall types"]]) {
    const p = o.parts[part];
    const fs = el("fieldset", { id: "part-" + part }, el("legend", {}, title));
    if (!p) {
      fs.append(adder("add-part-" + part, "first type", (v) => ({ op: "add_part", part, type: v })));
    } else {
      fs.classList.add("el"); fs.dataset.line = p.line;
      for (const t of p.types) {
        fs.append(el("div", { class: "el", "data-line": t.line },
          nameInput(t.name, (v) => edit({ op: "rename_type", part, old: t.name, new: v }), { "data-type": t.name }),
          del(t.name, { op: "delete_type", part, name: t.name })));
      }
      fs.append(adder("add-type-" + part, "new type", (v) => ({ op: "add_type", part, name: v })));
      fs.append(el("button", { onclick: () => edit({ op: "remove_part", part }) }, "remove part"));
    }
    parts.push(fs);
  }
  const sets = el("fieldset", { id: "conflict-sets" }, el("legend", {}, "Conflict sets"));
  for (const c of o.conflict_sets) {
    sets.append(el("div", { class: "el", "data-line": c.line, "data-end": c.line + c.types.length + 1 },
      nameInput(c.name || "", (v) => edit({ op: "set_conflict_set", index: c.index, name: v }), { placeholder: "name" }),
      listInput(c.types, (v) => edit({ op: "set_conflict_set", index: c.index, types: v })),
      del("conflict set", { op: "delete_conflict_set", index: c.index })));
  }
  sets.append(adder("add-set", "new conflict set name", (v) => ({ op: "add_conflict_set", name: v, types: [] })));
  parts.push(sets);
  for (const [kind, title] of [["VM", "VM labels"], ["RES", "Resource labels"]]) {
    const fs = el("fieldset", { id: "labels-" + kind }, el("legend", {}, title));
    for (const l of o.labels.filter((x) => x.kind === kind)) {
      const row = el("div", { class: "el label", "data-line": l.line, "data-end": l.last_line, "data-label": l.name },
        kind === "VM" ? el("input", { type: "radio", name: "bootstrap", title: "bootstrap label", checked: o.bootstrap === l.name ? true : null, onchange: () => edit({ op: "set_bootstrap", name: l.name }) }) : null,
        nameInput(l.name, (v) => edit({ op: "rename_label", kind, old: l.name, new: v }), { class: "label-name" }),
        del(l.name, { op: "delete_label", kind, name: l.name }),
        el("br"), "STE ", listInput((l.ste[0] || { types: [] }).types, (v) => edit({ op: "set_label_types", kind, name: l.name, part: "STE", types: v }), { class: "ste-types" }));
      if (kind === "VM") {
        row.append(el("br"), "CW ", listInput((l.chwall[0] || { types: [] }).types, (v) => edit({ op: "set_label_types", kind, name: l.name, part: "CHWALL", types: v }), { class: "cw-types" }));
      }
      fs.append(row);
    }
    fs.append(adder("add-label-" + kind, "new label", (v) => ({ op: "add_label", kind, name: v })));
    parts.push(fs);
  }
  box.replaceChildren(...parts);
}

async function loadGraph() {
  const kind = document.querySelector('input[name="gkind"]:checked').value;
  try {
    const doc = await api("graphs", { name: state.name, xml: state.xml });
    drawGraph($("graph"), doc[kind], kind, $("graph-info"));
  } catch (err) { $("graph-info").textContent = err.message; }
}

function showAnswer(node, doc) {
  node.textContent = doc.text ? doc.text.join("\n") : (doc.stdout || "") + (doc.stderr || "");
  node.dataset.status = doc.status;
}
async function ask(path, body, out) {
  try { showAnswer(out, await api(path, body)); } catch (err) {
    out.textContent = err.doc && err.doc.findings ? err.doc.findings.map((f) => f.text).join("\n") : err.message;
  }
}

async function openPolicy(body) {
  try { apply(await api("open", body)); setStatus("opened " + state.name); } catch (err) { showError(err); }
}

async function start() {
  const info = await api("policies", {});
  $("policy-select").replaceChildren(...info.policies.map((p) => el("option", { value: p }, p)));
  $("explain-config").replaceChildren(...info.configs.map((c) => el("option", { value: c }, c)));
  const draft = sessionStorage.getItem("studio-draft");
  if (draft) {
    sessionStorage.removeItem("studio-draft");
    const d = JSON.parse(draft);
    state.name = d.name; state.xml = d.xml; $("policy-name").value = d.name;
    try { apply(await api("check", { name: d.name, xml: d.xml })); setStatus("generated " + d.name); } catch (err) { showError(err); }
  } else if (info.initial) {
    await openPolicy(info.policies.includes(info.initial) ? { name: info.initial } : { initial: true });
  }
}

document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
  document.querySelectorAll(".tabs button, .tab").forEach((n) => n.classList.remove("active"));
  b.classList.add("active");
  $("tab-" + b.dataset.tab).classList.add("active");
  if (b.dataset.tab === "graph") loadGraph();
  if (b.dataset.tab === "xml") renderXml();
}));
document.querySelectorAll('input[name="gkind"]').forEach((r) => r.addEventListener("change", loadGraph));
$("open-btn").addEventListener("click", () => openPolicy({ name: $("policy-select").value }));
$("policy-name").addEventListener("change", (e) => { state.name = e.target.value; });
$("upload-input").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  try { apply(await api("upload", file, true, file.name)); setStatus("uploaded " + file.name); } catch (err) { showError(err); }
});
$("coexist-btn").addEventListener("click", () => ask("coexist", { name: state.name, xml: state.xml, labels: $("coexist-labels").value.split(/\s+/).filter(Boolean) }, $("coexist-out")));
$("flow-btn").addEventListener("click", () => ask("flows", { name: state.name, xml: state.xml, source: $("flow-from").value, target: $("flow-to").value }, $("flow-out")));
$("explain-btn").addEventListener("click", () => ask("explain", { config: $("explain-config").value }, $("explain-out")));
$("diff-btn").addEventListener("click", async () => {
  const out = $("diff-out");
  try {
    const d = await api("diff", { name: state.name, xml: state.xml });
    out.replaceChildren(
      el("h3", {}, "Against the saved policy"), el("pre", { id: "diff-saved" }, d.saved ? d.saved.join("\n") : "(not saved yet)"),
      el("h3", {}, "Against the active policy"), el("pre", { id: "diff-active" }, d.active ? d.active.join("\n") : "(no policy is active)"),
      el("h3", {}, "Loading it now would"), el("pre", { id: "diff-impact" }, d.impact ? d.impact.text.join("\n") : "-"));
  } catch (err) { out.textContent = err.message; }
});
$("save-btn").addEventListener("click", async () => {
  try {
    const d = await api("save", { name: state.name, xml: state.xml });
    const m = d.makepolicy;
    $("save-out").textContent = `wrote ${d.written}\n$ xm makepolicy ${state.name}\n${m.stdout}${m.stderr}(exit status ${m.status})`;
    $("save-out").dataset.status = m.status;
  } catch (err) { $("save-out").textContent = err.doc && err.doc.findings ? err.doc.findings.map((f) => f.text).join("\n") : err.message; }
});
$("impact-btn").addEventListener("click", async () => {
  try {
    const d = await api("impact", { name: state.name });
    $("impact-out").textContent = d.impact ? d.impact.text.join("\n") : "No policy is active: loading it changes no running domain.";
    $("load-confirm").hidden = false;
  } catch (err) { $("impact-out").textContent = err.message; $("load-confirm").hidden = false; }
});
$("load-cancel").addEventListener("click", () => { $("load-confirm").hidden = true; });
$("load-btn").addEventListener("click", async () => {
  $("load-confirm").hidden = true;
  try {
    const d = await api("load", { name: state.name, confirm: true });
    const r = d.loadpolicy;
    $("load-out").textContent = `$ xm loadpolicy ${state.name}\n${r.stdout}${r.stderr}(exit status ${r.status})`;
    $("load-out").dataset.status = r.status;
  } catch (err) { $("load-out").textContent = err.message; }
});
start();
