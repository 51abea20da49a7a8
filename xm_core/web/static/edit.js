"use strict";
// The policy editor. The XML text is the document: the outline's edits go to
// /api/edit (which returns the new XML), typing in the XML editor goes to
// /api/check after a pause; both answer with every compiler and lint
// finding, shown in the outline, in the findings list and in the editor.
const V = XmVendor;
const state = {
  name: "", xml: "", outline: null, findings: [],
  saved: null,        // the XML as saved (or opened); null for a policy never saved
  digest: null,       // the answer (findings, outline) the page holds, for /api/check's `since`
  digestXml: null,    // the text that answer is of: a check or an edit sends what changed since
  loadDigest: null,   // the compiled policy the load preview was made of
  checkSeq: 0,        // the newest check asked; older answers are dropped
  showAll: { VM: false, RES: false, STE: false, CHWALL: false },
  filter: { VM: "", RES: "" },
};
const LABEL_ROWS = 60;
const TYPE_ROWS = 150; // declared types drawn before "show all"
const GENERAL_SHOWN = 30; // findings shown above the outline; all are in the Findings tab // label rows drawn before "show all" (a policy may have thousands)
const CHECK_PAUSE = 100; // ms after the last key before the XML is checked
const $ = (id) => document.getElementById(id);

function setStatus(text) { $("status").textContent = text; }
function isDirty() { return state.saved === null ? state.xml !== "" : state.xml !== state.saved; }
function updateDirty() {
  const dirty = isDirty();
  $("dirty").hidden = !dirty;
  document.body.dataset.dirty = dirty ? "1" : "0";
  $("impact-btn").disabled = dirty || !state.name;
  $("setpolicy-btn").disabled = dirty || !state.name;
  $("load-note").textContent = dirty
    ? "The editor holds unsaved edits: save them first (a load uses the compiled policy on disk)."
    : "A load uses the compiled .bin and .map of the saved policy, exactly as previewed.";
  if (dirty) { $("load-confirm").hidden = true; state.loadDigest = null; }
}
// Unsaved edits are announced before they are lost.
function mayDiscard() {
  return !isDirty() || window.confirm("The editor holds unsaved edits to " + (state.name || "this policy") + ". Discard them?");
}
window.addEventListener("beforeunload", (e) => { if (isDirty()) { e.preventDefault(); e.returnValue = ""; } });

// ------------------------------------------------------------------ the XML editor
let applying = false; // a change the page made (not the user's typing)
let checkTimer = null;
let cursorTimer = null;
const editor = new V.EditorView({
  parent: $("xml-editor"),
  state: V.EditorState.create({
    doc: "",
    extensions: [
      V.lineNumbers(), V.highlightActiveLineGutter(), V.foldGutter(), V.lintGutter(),
      V.history(), V.drawSelection(), V.indentOnInput(), V.bracketMatching(),
      V.syntaxHighlighting(V.defaultHighlightStyle), V.highlightActiveLine(), V.highlightSelectionMatches(),
      V.xml(),
      V.keymap.of([...V.defaultKeymap, ...V.historyKeymap, ...V.searchKeymap, ...V.foldKeymap, V.indentWithTab]),
      V.EditorView.updateListener.of((u) => {
        if (u.docChanged && !applying) {
          state.xml = u.state.doc.toString();
          updateDirty();
          clearTimeout(checkTimer);
          checkTimer = setTimeout(checkXml, CHECK_PAUSE);
        }
        if (u.viewportChanged) {
          const doc = u.state.doc;
          const first = doc.lineAt(Math.min(u.view.viewport.from, doc.length)).number;
          const last = doc.lineAt(Math.min(u.view.viewport.to, doc.length)).number;
          const [a, b] = marked.split(":").map(Number);
          if (first < a + MARK_AROUND / 2 || last > b - MARK_AROUND / 2) setTimeout(showDiagnostics, 0);
        }
        if (u.selectionSet && !applying) {
          clearTimeout(cursorTimer);
          cursorTimer = setTimeout(() => showRowOfLine(u.state.doc.lineAt(u.state.selection.main.head).number), 80);
        }
      }),
    ],
  }),
});
window.studioEditor = editor;

// Replace the editor's text by `text`, changing only the part that differs
// (the cursor and the scroll position stay where they were).
function setEditorText(text) {
  const old = editor.state.doc.toString();
  if (old === text) return;
  let start = 0;
  const max = Math.min(old.length, text.length);
  while (start < max && old.charCodeAt(start) === text.charCodeAt(start)) start++;
  let oldEnd = old.length, newEnd = text.length;
  while (oldEnd > start && newEnd > start && old.charCodeAt(oldEnd - 1) === text.charCodeAt(newEnd - 1)) { oldEnd--; newEnd--; }
  applying = true;
  try { editor.dispatch({ changes: { from: start, to: oldEnd, insert: text.slice(start, newEnd) } }); } finally { applying = false; }
}

function positionOf(doc, line, column) {
  if (!line || line < 1) return { from: 0, to: Math.min(doc.length, doc.line(1).to) };
  const l = doc.line(Math.min(line, doc.lines));
  const from = Math.min(l.to, l.from + Math.max(0, (column || 1) - 1));
  // underline the word or tag that starts there (else the rest of the line)
  const rest = doc.sliceString(from, l.to);
  const m = /^(<\/?[\w:.-]*>?|[^\s<]+)/.exec(rest);
  const to = m && m[0].length ? from + m[0].length : l.to;
  return { from, to: Math.max(to, from) };
}

// The editor marks the findings of the lines in view (and some around
// them): a large policy has thousands, which CodeMirror would lay out all.
const MARK_AROUND = 80; // lines above and below the view
let marked = "", markedKey = null;
function showDiagnostics() {
  const doc = editor.state.doc;
  const view = editor.viewport;
  const first = doc.lineAt(Math.min(view.from, doc.length)).number - MARK_AROUND;
  const last = doc.lineAt(Math.min(view.to, doc.length)).number + MARK_AROUND;
  marked = `${first}:${last}`;
  const near = state.findings.filter((f) => (f.line || 1) >= first && (f.line || 1) <= last);
  const diagnostics = near.map((f) => {
    const { from, to } = positionOf(doc, f.line, f.column);
    return { from, to, severity: f.severity === "info" ? "info" : f.severity, message: `${f.code}: ${f.message}`, source: f.code };
  });
  // the same marks as before (an edit elsewhere): CodeMirror keeps them
  // where they were; dispatching them again costs a large document dearly
  const key = diagnostics.map((d) => `${d.from}:${d.to}:${d.severity}:${d.message}`).join("\n");
  if (key !== markedKey) {
    markedKey = key;
    editor.dispatch(V.setDiagnostics(editor.state, diagnostics));
  }
  $("xml-editor").dataset.diagnostics = String(diagnostics.length);
}

function goToLine(line, column) {
  if (!state.xml) return;
  showTab("xml");
  const { from, to } = positionOf(editor.state.doc, line, column);
  applying = true;
  try {
    editor.dispatch({ selection: { anchor: from, head: to }, effects: V.EditorView.scrollIntoView(from, { y: "center" }) });
  } finally { applying = false; }
  editor.focus();
}

// The text of a check or an edit, as the one change made to the text of the
// answer the page holds (a large policy's text is megabytes); whole when
// the server no longer holds that text (409) or offsets would not agree.
const ASTRAL = /[\uD800-\uDFFF]/;
function textBody(xml) {
  const base = state.digestXml;
  if (!state.digest || base === null) return { xml, since: state.digest };
  if (base === xml) return { since: state.digest, xml_change: { from: 0, to: 0, insert: "" } };
  if (ASTRAL.test(base) || ASTRAL.test(xml)) return { xml, since: state.digest };
  // the common start and end, found by halving (each step one native compare)
  const max = Math.min(base.length, xml.length);
  let low = 0, high = max;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (base.slice(low, mid) === xml.slice(low, mid)) low = mid; else high = mid - 1;
  }
  const start = low;
  low = 0; high = max - start;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (base.slice(base.length - mid, base.length - low) === xml.slice(xml.length - mid, xml.length - low)) low = mid; else high = mid - 1;
  }
  return { since: state.digest, xml_change: { from: start, to: base.length - low, insert: xml.slice(start, xml.length - low) } };
}
async function apiText(path, body, xml) {
  try { return await api(path, { ...body, ...textBody(xml) }); } catch (err) {
    if (err.status !== 409) throw err;
    return api(path, { ...body, xml, since: state.digest });
  }
}

// One check at a time: typing while one runs asks for one more when it is
// answered (the server answers in turn, so checks of older text would only
// queue up before the newest).
let checking = false, recheck = false;
async function checkXml() {
  if (checking) { recheck = true; state.checkSeq++; return; }
  checking = true;
  const seq = ++state.checkSeq;
  const xml = state.xml;
  const started = performance.now();
  try {
    const doc = await apiText("check", { name: state.name }, xml);
    if (seq !== state.checkSeq) return; // the user typed on: a newer check is coming
    if (!takeAnswer(doc, xml)) { recheck = true; return; }
    renderOutline(); renderFindings(); showDiagnostics();
    graphChanged();
    window.studioChecks = (window.studioChecks || 0) + 1; // for the benchmark
    setStatus(`checked (${Math.round(performance.now() - started)} ms)`);
  } catch (err) { if (seq === state.checkSeq) setStatus(err.message); } finally {
    checking = false;
    if (recheck) { recheck = false; checkXml(); }
  }
}

// ------------------------------------------------------------------ edits from the outline
function hideRefusal() { $("refusal").hidden = true; $("refusal").textContent = ""; }

async function edit(op) {
  const started = performance.now();
  clearTimeout(checkTimer);
  state.checkSeq++; // a check still running answers for the text before this edit
  try {
    const doc = await apiText("edit", { name: state.name, op }, state.xml);
    hideRefusal();
    apply(doc);
    setStatus(`edited (${Math.round(performance.now() - started)} ms)`);
    return true;
  } catch (err) {
    refused(err);
    return false;
  }
}

// A refused edit changes nothing: the outline is drawn again from the
// document (the input shows what the document holds) and the findings of
// the document stay; the refusal is shown on its own.
function refused(err) {
  const why = err.doc && err.doc.findings && err.doc.findings.length ? err.doc.findings.map((f) => `${f.code}: ${f.message}`).join("; ") : err.message;
  $("refusal").textContent = "Not done: " + why;
  $("refusal").hidden = false;
  setStatus("edit refused");
  renderOutline(); renderFindings();
}

const SEVERITY_RANK = { error: 3, warning: 2, info: 1 };
const findingKey = (f) => `${f.code}\u001f${f.line}\u001f${f.column}\u001f${f.message}`;
const findingOrder = (a, b) => (a.line - b.line) || (a.column - b.column) || (SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);

// An answer of /api/check or /api/edit: whole, or what changed since the
// answer the page holds (`since`, the digest it sent).
function takeAnswer(doc, xml) {
  // what changed since an answer the page no longer holds cannot be applied
  if (doc.since && doc.since !== state.digest && !(doc.findings && "outline" in doc)) { state.digest = null; state.digestXml = null; return false; }
  if (doc.findings) state.findings = doc.findings;
  else if (doc.findings_delta) {
    const delta = doc.findings_delta;
    const gone = new Map();
    for (const k of delta.removed) gone.set(k, (gone.get(k) || 0) + 1);
    const kept = state.findings.filter((f) => {
      const k = findingKey(f), n = gone.get(k);
      if (n) { gone.set(k, n - 1); return false; }
      return true;
    });
    // an edit that added or removed lines moves every finding below it
    const s = delta.shift;
    const moved = s && s.by ? kept.map((f) => (f.line > s.after ? { ...f, line: f.line + s.by } : f)) : kept;
    state.findings = moved.concat(delta.added).sort(findingOrder);
  }
  if ("outline" in doc) state.outline = doc.outline;
  else if (doc.outline_delta && state.outline) {
    const delta = doc.outline_delta;
    Object.assign(state.outline, delta.parts);
    for (const [i, row] of Object.entries(delta.labels)) state.outline.labels[+i] = row;
    if (delta.splice) {
      const labels = state.outline.labels, sp = delta.splice, s = delta.shift;
      if (s && s.by) {
        const moveGroup = (g) => ({ ...g, line: g.line + s.by });
        for (let i = sp.start + sp.delete; i < labels.length; i++) {
          const r = labels[i];
          labels[i] = { ...r, line: r.line + s.by, last_line: r.last_line + s.by, ste: r.ste.map(moveGroup), chwall: r.chwall.map(moveGroup) };
        }
      }
      labels.splice(sp.start, sp.delete, ...sp.insert);
    }
  }
  if (doc.digest) { state.digest = doc.digest; state.digestXml = xml; }
  if ("complete" in doc) showComplete(doc.complete);
  return true;
}

// A quick check (after an edit) looks again only where the edit touched the
// policy; "Check all" (and saving) runs every check on all of it.
function showComplete(complete) {
  state.complete = complete;
  $("check-all").hidden = complete;
  document.body.dataset.complete = complete ? "1" : "0";
}
async function checkAll() {
  clearTimeout(checkTimer);
  state.checkSeq++;
  const started = performance.now();
  setStatus("checking all…");
  try {
    const xml = state.xml;
    const doc = await apiText("check", { name: state.name, full: true }, xml);
    if (!takeAnswer(doc, xml)) { await checkXml(); return; }
    renderOutline(); renderFindings(); showDiagnostics();
    window.studioChecks = (window.studioChecks || 0) + 1;
    setStatus(`checked all (${Math.round(performance.now() - started)} ms)`);
  } catch (err) { setStatus(err.message); }
}

function apply(doc) {
  if (doc.xml_change) {
    const c = doc.xml_change;
    state.xml = state.xml.slice(0, c.from) + c.insert + state.xml.slice(c.to);
    applying = true;
    try { editor.dispatch({ changes: c }); } finally { applying = false; }
  } else if (doc.xml !== undefined) { state.xml = doc.xml; setEditorText(doc.xml); }
  if (doc.name !== undefined) { state.name = doc.name; $("policy-name").value = doc.name; }
  if (!takeAnswer(doc, state.xml)) { clearTimeout(checkTimer); checkTimer = setTimeout(checkXml, 0); }
  renderOutline(); renderFindings(); showDiagnostics();
  updateDirty();
  graphChanged();
}

// The document of a policy as opened (or created): it is the saved state.
function opened(doc, saved) {
  hideRefusal();
  state.showAll = { VM: false, RES: false, STE: false, CHWALL: false };
  state.filter = { VM: "", RES: "" };
  state.saved = saved ? doc.xml : null;
  state.digest = null;
  state.digestXml = null;
  state.findings = [];
  state.loadDigest = null;
  $("load-confirm").hidden = true;
  $("save-out").textContent = ""; $("load-out").textContent = ""; $("draft-btn").hidden = true;
  applying = true;
  try { editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: doc.xml || "" }, selection: { anchor: 0 } }); } finally { applying = false; }
  apply(doc);
  const select = $("policy-select");
  if ([...select.options].some((o) => o.value === state.name)) select.value = state.name;
  const notice = $("draft-notice");
  if (doc.draft && !doc.from_draft) {
    notice.replaceChildren(`A draft of ${state.name} was saved ${doc.draft.saved}. `,
      el("button", { id: "open-draft-btn", onclick: () => openPolicy({ name: state.name, draft: true }) }, "Open the draft"));
    notice.hidden = false;
  } else if (doc.from_draft) {
    notice.replaceChildren(`This is the draft of ${state.name}; Save compiles it and, when it compiles, replaces the policy.`);
    notice.hidden = false;
    state.saved = null; // the draft is not the policy
    updateDirty();
  } else notice.hidden = true;
}

// ------------------------------------------------------------------ findings
let lineOwner = []; // line -> the innermost outline row that spans it

function renderFindings() {
  renderFindingList();
  $("finding-count").textContent = `(${state.findings.length})`;
  document.querySelectorAll("#outline .el .finding").forEach((n) => n.remove());
  document.querySelectorAll("#outline .el").forEach((n) => n.classList.remove("has-error", "has-warning"));
  // Each line belongs to the innermost element spanning it: larger ranges are
  // assigned first, smaller ones overwrite them (a policy has thousands).
  const spans = [...document.querySelectorAll("#outline .el[data-line]")].map((n) => {
    const a = +n.dataset.line;
    return [a, +(n.dataset.end || a), n];
  }).filter((x) => x[0] > 0).sort((x, y) => (y[1] - y[0]) - (x[1] - x[0]));
  lineOwner = [];
  for (const [a, b, n] of spans) { for (let l = a; l <= b; l++) lineOwner[l] = n; }
  // a label row that is not drawn (filter, "show all") keeps its findings
  // in the list only; the rest of the document's go on top of the outline
  const inLabel = [];
  if (state.outline) for (const l of state.outline.labels) for (let i = l.line; i <= l.last_line; i++) inLabel[i] = true;
  const general = $("general-findings");
  let generalShown = 0, generalLeft = 0;
  for (const f of state.findings) {
    const best = lineOwner[f.line];
    if (best) {
      best.append(findingLink(f));
      best.classList.add(f.severity === "error" ? "has-error" : "has-warning");
    } else if (general && !inLabel[f.line]) {
      if (generalShown < GENERAL_SHOWN) { general.append(findingLink(f)); generalShown++; } else generalLeft++;
    }
  }
  if (generalLeft) general.append(el("p", { class: "note" }, `… and ${generalLeft} more in the Findings tab`));
}

// The list of all findings is drawn while its tab is shown (a large policy
// has thousands).
function renderFindingList() {
  const list = $("findings");
  if (!$("tab-findings").classList.contains("active")) { list.replaceChildren(); list.dataset.stale = "1"; return; }
  delete list.dataset.stale;
  list.replaceChildren(...state.findings.map((f) => el("li", {}, findingLink(f))));
}

function findingLink(f) {
  const node = findingNode(f);
  node.tabIndex = 0;
  node.title = "go to line " + (f.line || 1);
  const go = (e) => { e.stopPropagation(); goToLine(f.line, f.column); };
  node.addEventListener("click", go);
  node.addEventListener("keydown", (e) => { if (e.key === "Enter") go(e); });
  return node;
}

// The editor's cursor is on `line`: mark its outline row.
function showRowOfLine(line) {
  document.querySelectorAll("#outline .at-cursor").forEach((n) => n.classList.remove("at-cursor"));
  const row = lineOwner[line];
  if (row) { row.classList.add("at-cursor"); row.scrollIntoView({ block: "nearest" }); }
}

// ------------------------------------------------------------------ the outline
// Enter in a field commits it (the change event); Escape puts it back.
function revertOnEscape(e) {
  if (e.key === "Escape") { e.target.value = e.target.defaultValue; e.target.blur(); }
}
function nameInput(value, onchange, attrs) {
  return el("input", { value, size: Math.max(12, Math.min(40, value.length + 2)), ...attrs, onkeydown: revertOnEscape, onchange: (e) => onchange(e.target.value) });
}
function listInput(values, onchange, attrs) {
  return el("input", { value: values.join(" "), ...attrs, class: ((attrs && attrs.class) || "") + " list", onkeydown: revertOnEscape, onchange: (e) => onchange(e.target.value.split(/[\s,]+/).filter(Boolean)) });
}
function del(label, op) { return el("button", { class: "del", title: "delete " + label, "aria-label": "delete " + label, onclick: () => edit(op) }, "×"); }
// An "add" field: Enter or the button adds, and the field is emptied once added.
function adder(id, placeholder, make) {
  const input = el("input", { id, placeholder });
  const add = async () => { if (input.value.trim() && await edit(make(input.value.trim()))) input.value = ""; };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); add(); }
    if (e.key === "Escape") { input.value = ""; input.blur(); }
  });
  return el("span", { class: "adder" }, input, el("button", { id: id + "-btn", onclick: add }, "add"));
}
function rowClick(e) {
  if (e.target.closest("input, button, select, .finding")) return;
  const row = e.currentTarget;
  goToLine(+row.dataset.line, 1);
}

function renderOutline() {
  const o = state.outline;
  const box = $("outline");
  if (!o) {
    box.replaceChildren(el("p", { class: "note" }, "The document is not well-formed XML: fix it in the XML editor (the findings say where)."), el("div", { id: "general-findings" }));
    return;
  }
  const parts = [el("div", { id: "general-findings" })];
  const header = el("fieldset", { id: "header", class: "el", "data-line": o.header_line || null, "data-end": o.header_line || null }, el("legend", {}, "Header"));
  for (const field of ["PolicyName", "PolicyUrl", "Reference", "Date", "NameSpaceUrl"]) {
    const f = o.header[field] || { value: "", line: 0 };
    header.append(el("div", { class: "el", "data-line": f.line || null },
      el("label", {}, el("span", { class: "field" }, field), nameInput(f.value, (v) => edit({ op: "set_header", field, value: v }), { id: "header-" + field })),
      // Xen 3.4's lifecycle: the next version, which says what it replaces
      field === "PolicyName" ? el("button", { id: "bump-version", title: "next version: Version 1.0 (or minor + 1) and FromPolicy; label renames are then written as from=", onclick: () => edit({ op: "bump_version" }) }, "New version") : null));
  }
  const v = o.header.Version;
  const from = o.from_policy;
  header.append(el("div", { class: "el", id: "version-row", "data-line": (v && v.line) || null },
    el("span", { class: "field" }, "Version"),
    el("span", { id: "version" }, o.version === null ? "none (Xen 3.0.4 format)" : o.version),
    from ? el("span", { id: "from-policy", class: "note" }, ` updates ${from.name} ${from.version}`) : null));
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
      const types = el("div", { class: "types" });
      // a large policy declares thousands of types: the first are drawn
      const shownTypes = state.showAll[part] ? p.types : p.types.slice(0, TYPE_ROWS);
      for (const t of shownTypes) {
        types.append(el("span", { class: "el type", "data-line": t.line, onclick: rowClick },
          nameInput(t.name, (v) => edit({ op: "rename_type", part, old: t.name, new: v }), { "data-type": t.name }),
          del(t.name, { op: "delete_type", part, name: t.name })));
      }
      if (shownTypes.length < p.types.length) {
        types.append(el("button", { class: "show-all", id: "show-all-" + part, onclick: () => { state.showAll[part] = true; renderOutline(); renderFindings(); } }, `show all ${p.types.length}`));
      }
      fs.append(types, adder("add-type-" + part, "new type", (v) => ({ op: "add_type", part, name: v })),
        el("button", { class: "minor", onclick: () => edit({ op: "remove_part", part }) }, "remove part"));
    }
    parts.push(fs);
  }
  const sets = el("fieldset", { id: "conflict-sets" }, el("legend", {}, "Conflict sets"));
  for (const c of o.conflict_sets) {
    sets.append(el("div", { class: "el", "data-line": c.line, "data-end": c.line + c.types.length + 1, onclick: rowClick },
      nameInput(c.name || "", (v) => edit({ op: "set_conflict_set", index: c.index, name: v }), { placeholder: "name" }),
      listInput(c.types, (v) => edit({ op: "set_conflict_set", index: c.index, types: v }), { list: "cw-types-list" }),
      del("conflict set", { op: "delete_conflict_set", index: c.index })));
  }
  sets.append(adder("add-set", "new conflict set name", (v) => ({ op: "add_conflict_set", name: v, types: [] })));
  parts.push(sets);
  // the declared types, offered while typing a label's types (as xensec_gen's lists)
  typeList("ste-types-list", o.parts.STE ? o.parts.STE.types : []);
  typeList("cw-types-list", o.parts.CHWALL ? o.parts.CHWALL.types : []);
  for (const [kind, title] of [["VM", "VM labels"], ["RES", "Resource labels"]]) parts.push(labelSection(o, kind, title));
  box.replaceChildren(...parts);
}

// The declared types offered while typing a label's types: filled again
// only when they changed, all at once (a datalist updates its options on
// every single append, which costs seconds for thousands).
const typeListKeys = {};
function typeList(id, types) {
  const key = types.map((t) => t.name).join("\n");
  if (typeListKeys[id] === key) return;
  typeListKeys[id] = key;
  const options = document.createDocumentFragment();
  for (const t of types) options.append(el("option", { value: t.name }));
  $(id).replaceChildren(options);
}

function labelSection(o, kind, title) {
  const all = o.labels.filter((x) => x.kind === kind);
  const needle = state.filter[kind].toLowerCase();
  const matching = needle ? all.filter((l) => l.name.toLowerCase().includes(needle)) : all;
  const shown = state.showAll[kind] ? matching : matching.slice(0, LABEL_ROWS);
  const fs = el("fieldset", { id: "labels-" + kind }, el("legend", {}, `${title} (${all.length})`));
  if (all.length > 20) {
    const filter = el("input", { class: "label-filter", placeholder: "filter by name", value: state.filter[kind], "aria-label": "filter " + title });
    filter.addEventListener("input", () => {
      state.filter[kind] = filter.value;
      clearTimeout(filter.timer);
      filter.timer = setTimeout(() => { renderOutline(); renderFindings(); const f = document.querySelector(`#labels-${kind} .label-filter`); f.focus(); f.setSelectionRange(f.value.length, f.value.length); }, 150);
    });
    fs.append(filter);
  }
  for (const l of shown) {
    const row = el("div", { class: "el label", "data-line": l.line, "data-end": l.last_line, "data-label": l.name, onclick: rowClick },
      kind === "VM" ? el("input", { type: "radio", name: "bootstrap", title: "bootstrap label (Domain 0's)", checked: o.bootstrap === l.name ? true : null, onchange: () => edit({ op: "set_bootstrap", name: l.name }) }) : null,
      nameInput(l.name, (v) => edit({ op: "rename_label", kind, old: l.name, new: v }), { class: "label-name" }),
      l.from ? el("span", { class: "note renamed-from", title: "from=: its name in the policy this version updates" }, "was " + l.from) : null,
      del(l.name, { op: "delete_label", kind, name: l.name }),
      el("div", { class: "types-row" }, el("span", { class: "field" }, "STE"), listInput((l.ste[0] || { types: [] }).types, (v) => edit({ op: "set_label_types", kind, name: l.name, part: "STE", types: v }), { class: "ste-types", list: "ste-types-list" })));
    if (kind === "VM") {
      row.append(el("div", { class: "types-row" }, el("span", { class: "field" }, "CW"), listInput((l.chwall[0] || { types: [] }).types, (v) => edit({ op: "set_label_types", kind, name: l.name, part: "CHWALL", types: v }), { class: "cw-types", list: "cw-types-list" })));
    }
    fs.append(row);
  }
  if (shown.length < matching.length) {
    fs.append(el("button", { class: "show-all", onclick: () => { state.showAll[kind] = true; renderOutline(); renderFindings(); } }, `show all ${matching.length}`));
  }
  fs.append(adder("add-label-" + kind, "new label", (v) => ({ op: "add_label", kind, name: v })));
  return fs;
}

// ------------------------------------------------------------------ tabs, graphs, questions
function showTab(name) {
  document.querySelectorAll(".tabs button").forEach((n) => n.classList.toggle("active", n.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((n) => n.classList.toggle("active", n.id === "tab-" + name));
  if (name === "graph") showGraph();
  if (name === "findings" && $("findings").dataset.stale) renderFindingList();
  if (name === "xml") editor.requestMeasure();
}
function graphVisible() { return $("tab-graph").classList.contains("active"); }
// The graphs are fetched only when shown, and drawn again on an edit only when visible.
let graphStale = true;
function graphChanged() { graphStale = true; if (graphVisible()) showGraph(); }
const studioGraph = new StudioGraph({ graph: $("graph"), info: $("graph-info"), legend: $("graph-legend"), summary: $("graph-summary"), labels: $("graph-labels") });
window.studioGraph = studioGraph;
function graphKind() { return document.querySelector('input[name="gkind"]:checked').value; }
function showGraph() {
  if (!graphStale) return;
  graphStale = false;
  studioGraph.show({ name: state.name, xml: state.xml }, graphKind());
}
function focusSearched() { const name = $("graph-search").value.trim(); if (name) studioGraph.focus(name, false); }
$("graph-focus-btn").addEventListener("click", focusSearched);
$("graph-search").addEventListener("keydown", (e) => { if (e.key === "Enter") focusSearched(); });
$("graph-all-btn").addEventListener("click", () => { graphStale = true; showGraph(); });

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
  if (!mayDiscard()) return;
  // the outline and the XML first, the findings as soon as they are checked
  try {
    const doc = await api("open", { ...body, checked: false });
    opened(doc, true);
    setStatus("opened " + state.name + (body.draft ? " (draft)" : "") + (doc.pending ? ", checking…" : ""));
    if (doc.pending) await checkXml();
  } catch (err) { setStatus(err.message); }
}

async function refreshPolicies() {
  const info = await api("policies", {});
  showPolicies(info);
  return info;
}

function showPolicies(info) {
  $("policy-select").replaceChildren(...info.policies.map((p) => el("option", { value: p }, p)));
  if (info.policies.includes(state.name)) $("policy-select").value = state.name;
}

async function start() {
  // the policies, configs and the one to open first come with the page
  let info = JSON.parse($("studio-boot").textContent);
  if (info.policies) showPolicies(info); else info = await refreshPolicies();
  $("explain-config").replaceChildren(...info.configs.map((c) => el("option", { value: c }, c)));
  const draft = sessionStorage.getItem("studio-draft");
  if (draft) {
    sessionStorage.removeItem("studio-draft");
    const d = JSON.parse(draft);
    try { opened({ name: d.name, xml: d.xml, ...(await api("check", { name: d.name, xml: d.xml })) }, false); setStatus("generated " + d.name); } catch (err) { setStatus(err.message); }
  } else if (info.initial) {
    await openPolicy(info.policies.includes(info.initial) ? { name: info.initial } : { initial: true });
  }
  updateDirty();
}

// ------------------------------------------------------------------ save and load
async function save() {
  if (!state.name) { setStatus("give the policy a name first"); $("policy-name").focus(); return; }
  showTab("save");
  const xml = state.xml;
  try {
    const d = await api("save", { name: state.name, xml });
    const m = d.makepolicy;
    const head = d.saved ? `wrote ${d.written.join(", ")}\n` : "nothing was written: the policy does not compile\n";
    if (d.saved) {
      state.saved = xml;
      $("draft-notice").hidden = true;
      await refreshPolicies();
    }
    updateDirty();
    $("draft-btn").hidden = d.saved;
    $("save-out").textContent = `${head}$ xm makepolicy ${state.name}\n${m.stdout}${m.stderr}(exit status ${m.status})`;
    $("save-out").dataset.status = m.status;
    if (!state.complete && xml === state.xml) await checkAll(); // saving runs every check
    setStatus(d.saved ? "saved " + state.name : "not saved: it does not compile (save as draft?)");
  } catch (err) { $("save-out").textContent = err.doc && err.doc.findings ? err.doc.findings.map((f) => f.text).join("\n") : err.message; }
}

$("draft-btn").addEventListener("click", async () => {
  try {
    const d = await api("draft", { name: state.name, xml: state.xml });
    $("save-out").textContent += `\n\ndraft written to ${d.draft}; the compiled policy and its XML are unchanged.`;
    $("draft-btn").hidden = true;
    setStatus("draft saved");
  } catch (err) { $("save-out").textContent += "\n" + err.message; }
});

$("impact-btn").addEventListener("click", async () => {
  if (isDirty()) return;
  $("load-btn").disabled = true;
  state.loadDigest = null;
  try {
    const d = await api("impact", { name: state.name, keep_ssidrefs: $("keep-ssidrefs").checked });
    $("impact-out").textContent = d.impact ? d.impact.text.join("\n") : "No policy is active: loading it changes no running domain.";
    state.loadDigest = d.digest;
    $("load-btn").disabled = !d.loadable;
    $("load-btn").title = d.loadable ? "" : "the preview says the load would be refused";
  } catch (err) { $("impact-out").textContent = err.message; }
  $("load-confirm").hidden = false;
});
$("setpolicy-btn").addEventListener("click", async () => {
  const out = $("setpolicy-out");
  try {
    const r = (await api("update-preview", { name: state.name })).setpolicy;
    out.textContent = `$ xm setpolicy --dry-run ACM ${state.name}\n${r.stdout}${r.stderr}(exit status ${r.status})`;
    out.dataset.status = r.status;
  } catch (err) { out.textContent = err.message; out.dataset.status = "refused"; }
});
// another way of loading needs its own preview
$("keep-ssidrefs").addEventListener("change", () => { $("load-confirm").hidden = true; state.loadDigest = null; });
$("load-cancel").addEventListener("click", () => { $("load-confirm").hidden = true; state.loadDigest = null; });
$("load-btn").addEventListener("click", async () => {
  if (isDirty() || !state.loadDigest) return;
  $("load-confirm").hidden = true;
  try {
    const keep = $("keep-ssidrefs").checked;
    const d = await api("load", { name: state.name, confirm: true, digest: state.loadDigest, keep_ssidrefs: keep });
    const r = d.loadpolicy;
    $("load-out").textContent = `$ xm loadpolicy ${keep ? "--keep-ssidrefs " : ""}${state.name}\n${r.stdout}${r.stderr}(exit status ${r.status})`;
    $("load-out").dataset.status = r.status;
  } catch (err) { $("load-out").textContent = err.message; $("load-out").dataset.status = "refused"; }
  state.loadDigest = null;
});

// ------------------------------------------------------------------ wiring
document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
document.querySelectorAll('input[name="gkind"]').forEach((r) => r.addEventListener("change", () => { graphStale = true; showGraph(); }));
$("open-btn").addEventListener("click", () => openPolicy({ name: $("policy-select").value }));
$("new-btn").addEventListener("click", async () => {
  if (!mayDiscard()) return;
  const name = window.prompt("Name of the new policy (a dotted name, e.g. site.web_v1)", "my.policy");
  if (!name) return;
  try { opened(await api("new", { name }), false); setStatus("new policy " + name + " (not saved yet)"); } catch (err) { setStatus(err.message); }
});
$("policy-name").addEventListener("change", (e) => { state.name = e.target.value; state.saved = null; updateDirty(); });
$("download-btn").addEventListener("click", () => {
  const last = (state.name || "policy").split(".").pop();
  download(`${last}-security_policy.xml`, state.xml);
});
$("upload-input").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  if (!mayDiscard()) { e.target.value = ""; return; }
  try { opened(await api("upload", file, true, file.name), false); setStatus("uploaded " + file.name); } catch (err) { setStatus(err.message); }
});
$("save-btn").addEventListener("click", save);
$("check-all").addEventListener("click", checkAll);
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") { e.preventDefault(); save(); }
});
$("coexist-btn").addEventListener("click", () => ask("coexist", { name: state.name, xml: state.xml, labels: $("coexist-labels").value.split(/\s+/).filter(Boolean) }, $("coexist-out")));
$("flow-btn").addEventListener("click", () => ask("flows", { name: state.name, xml: state.xml, source: $("flow-from").value, target: $("flow-to").value }, $("flow-out")));
$("explain-btn").addEventListener("click", () => {
  const edited = $("explain-edited").checked;
  ask("explain", { config: $("explain-config").value, edited, name: state.name, xml: state.xml }, $("explain-out"));
});
$("flask-btn").addEventListener("click", async () => {
  const out = $("flask-out");
  out.replaceChildren(el("p", { class: "note" }, "exporting…"));
  try {
    const d = await api("flask", { name: state.name, xml: state.xml });
    const names = Object.keys(d.files);
    const shown = el("pre", { id: "flask-file" });
    const pick = (name) => {
      shown.textContent = d.files[name];
      shown.dataset.file = name;
      out.querySelectorAll(".flask-files button.show").forEach((b) => b.classList.toggle("active", b.dataset.file === name));
    };
    out.replaceChildren(
      el("ul", { class: "flask-files" }, ...names.map((n) => el("li", {},
        el("button", { class: "show", "data-file": n, onclick: () => pick(n) }, n), " ",
        el("button", { class: "minor", "aria-label": "download " + n, onclick: () => download(n, d.files[n]) }, "download")))),
      shown);
    pick(`${d.module_name}.te`);
  } catch (err) {
    out.replaceChildren(el("pre", { id: "flask-file", "data-status": "refused" }, err.doc && err.doc.findings && err.doc.findings.length ? err.doc.findings.map((f) => f.text).join("\n") : err.message));
  }
});
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
start();
