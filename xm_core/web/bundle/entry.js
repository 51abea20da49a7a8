// The studio's one vendored script: what its pages use of CodeMirror 6,
// sigma.js and graphology, exposed as the global `XmVendor` (built by
// build.sh into ../static/vendor/xm-vendor.js; no CDN, works offline).
export { EditorState, StateEffect, StateField } from "@codemirror/state";
export { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from "@codemirror/view";
export { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
export { xml } from "@codemirror/lang-xml";
export { syntaxHighlighting, defaultHighlightStyle, foldGutter, foldKeymap, bracketMatching, indentOnInput } from "@codemirror/language";
export { linter, lintGutter, setDiagnostics, forceLinting, openLintPanel } from "@codemirror/lint";
export { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
export { default as Graph } from "graphology";
export { default as Sigma } from "sigma";
export { default as forceAtlas2 } from "graphology-layout-forceatlas2";
