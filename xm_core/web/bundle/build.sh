#!/bin/sh
# Rebuild the studio's vendored script from the versions pinned in
# package-lock.json (a developer's step, not the user's: the built file is
# committed and shipped as package data, so the studio needs no network):
#     cd xm_core/web/bundle && npm ci && sh build.sh
# It writes ../static/vendor/xm-vendor.js, the list of bundled packages with
# their versions and the bundle's sha256 (xm-vendor.VERSIONS, checked by a
# test) and their licences (xm-vendor.LICENSES).
set -eu
cd "$(dirname "$0")"
out=../static/vendor
./node_modules/.bin/esbuild entry.js --bundle --minify --format=iife \
  --global-name=XmVendor --target=es2020 --legal-comments=none \
  --outfile=$out/xm-vendor.js
node - <<'JS'
const fs = require("fs"), crypto = require("crypto");
const lock = require("./package-lock.json").packages;
const names = Object.keys(lock).filter((k) => k.startsWith("node_modules/") && !lock[k].dev).sort();
const digest = crypto.createHash("sha256").update(fs.readFileSync("../static/vendor/xm-vendor.js")).digest("hex");
const lines = names.map((k) => `${k.slice(13)} ${lock[k].version} ${lock[k].license || ""}`);
fs.writeFileSync("../static/vendor/xm-vendor.VERSIONS", `sha256 ${digest}  xm-vendor.js\n` + lines.join("\n") + "\n");
const licences = names.map((k) => {
  const dir = k;
  const file = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  return `==== ${k.slice(13)} ${lock[k].version}\n` + (file ? fs.readFileSync(`${dir}/${file}`, "utf8") : `(${lock[k].license})\n`);
});
fs.writeFileSync("../static/vendor/xm-vendor.LICENSES", licences.join("\n"));
JS
