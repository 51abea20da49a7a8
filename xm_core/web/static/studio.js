"use strict";
// Shared by the studio's pages: the API call (CSRF token, same origin), elements, help.
const CSRF = document.querySelector('meta[name="csrf-token"]').content;

async function api(path, body, raw, fileName) {
  const headers = { "X-CSRF-Token": CSRF };
  if (raw) { headers["X-File-Name"] = fileName || "upload"; } else { headers["Content-Type"] = "application/json"; }
  const resp = await fetch("/api/" + path, {
    method: "POST", headers, credentials: "same-origin", body: raw ? body : JSON.stringify(body || {}),
  });
  let doc;
  try { doc = await resp.json(); } catch (e) { doc = { error: resp.status + " " + resp.statusText }; }
  if (!resp.ok) { const err = new Error(doc.error || resp.statusText); err.doc = doc; err.status = resp.status; throw err; }
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

function download(name, text) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/octet-stream" })), download: name });
  document.body.append(a); a.click(); a.remove();
}

// The help panel: the header's button, F1, Escape to close.
(() => {
  const help = document.getElementById("help");
  const toggle = (open) => { help.hidden = !open; if (open) help.focus(); };
  help.tabIndex = -1;
  document.getElementById("help-btn").addEventListener("click", () => toggle(help.hidden));
  document.getElementById("help-close").addEventListener("click", () => toggle(false));
  document.addEventListener("keydown", (e) => {
    if (e.key === "F1") { e.preventDefault(); toggle(true); }
    if (e.key === "Escape" && !help.hidden) toggle(false);
  });
})();
