"""The studio's speed goals: first page load under 1 s; an edit's validation
round trip under 200 ms for the example policy and under 1.5 s for the
2,000-label policy of `gen_policy.py 200 50 1000 1000 20 4`.

    python bench/studio_bench.py [--rounds 7] [--big FILE]

A studio server runs in this process (uvicorn, a temporary host root with
the example and the large policy). Measured in Debian's Chromium through
Playwright, each round in a fresh browser context (empty cache):

* first load: from navigation to the policy opened and drawn (outline
  and findings; the XML view is drawn when its tab is opened) with the
  URL's token, the policy named on the
  command line as with `xm acm studio POLICY`;
* edit round trip in the page: a rename typed into a label's name field,
  from the change event to the new findings drawn (`edit()` of edit.js);
* edit round trip over HTTP alone: POST /api/edit (edit, compile, lint,
  outline) from a Python client, without the browser's drawing.

Medians are printed with the fastest and slowest round.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
GEN = Path("/work/shared/tools/gen_policy.py")
EXAMPLE = "example.chwall_ste.client_v1"
BIG = "big200"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def big_policy(given: str | None, folder: Path) -> Path:
    if given:
        return Path(given)
    out = folder / "big.xml"
    with out.open("wb") as f:
        subprocess.run(
            [sys.executable, str(GEN), "200", "50", "1000", "1000", "20", "4"], stdout=f, check=True
        )
    return out


def serve(root: Path, initial: str | None) -> tuple[Any, str, Any]:
    import uvicorn

    from xm_core.files.paths import HostPaths
    from xm_core.web import allowed_hosts, free_port, studio_url
    from xm_core.web.app import StudioConfig, create_app

    port = free_port("127.0.0.1")
    config = StudioConfig(HostPaths(root), allowed_hosts("127.0.0.1", port), initial=initial)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, studio_url("127.0.0.1", port, config.token), config


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:.0f} ms "
        f"(best {min(values) * 1000:.0f}, worst {max(values) * 1000:.0f}, n={len(values)})"
    )


def http_round_trips(url: str, config: Any, name: str, rounds: int) -> list[float]:
    base = url.split("/?")[0]
    headers = {
        "X-Studio-Token": config.token,
        "X-CSRF-Token": config.csrf,
        "Origin": base,
        "Content-Type": "application/json",
    }

    def post(path: str, doc: Any) -> Any:
        req = urllib.request.Request(f"{base}/api/{path}", json.dumps(doc).encode(), headers)
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())

    doc = post("open", {"name": name})
    label = next(
        lbl["name"]
        for lbl in doc["outline"]["labels"]
        if lbl["kind"] == "VM" and lbl["name"] != doc["outline"]["bootstrap"]
    )
    times = []
    xml = doc["xml"]
    for i in range(rounds):
        new = f"{label}_r{i}"
        started = time.perf_counter()
        answer = post(
            "edit",
            {
                "name": name,
                "xml": xml,
                "op": {"op": "rename_label", "kind": "VM", "old": label, "new": new},
            },
        )
        times.append(time.perf_counter() - started)
        xml, label = answer["xml"], new
    return times


def browser_rounds(browser: Any, url: str, rounds: int) -> tuple[list[float], list[float]]:
    loads, edits = [], []
    for i in range(rounds):
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.set_default_timeout(60_000)
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#outline .label", state="attached")
        page.wait_for_selector("#findings li", state="attached")
        loads.append(time.perf_counter() - started)
        took = page.evaluate(
            """async (i) => {
                const row = document.querySelectorAll('#labels-VM .label')[1];
                const old = row.dataset.label;
                const t = performance.now();
                await edit({op: 'rename_label', kind: 'VM', old, new: old + '_b' + i});
                return performance.now() - t;
            }""",
            i,
        )
        edits.append(took / 1000)
        context.close()
    return loads, edits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--big", help="the large policy (default: generated with gen_policy.py)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from xm_core.files.paths import HostPaths

    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
        root = Path(tmp) / "root"
        paths = HostPaths(root)
        paths.seed_example()
        shutil.copyfile(big_policy(args.big, Path(tmp)), paths.policy_files(BIG).xml)
        labels = Path(paths.policy_files(BIG).xml).read_bytes().count(b"<Name>")
        print(
            f"large policy: {BIG}, {labels} labels "
            f"({Path(paths.policy_files(BIG).xml).stat().st_size} bytes)"
        )
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            for name in (EXAMPLE, BIG):
                server, url, config = serve(root, name)
                loads, edits = browser_rounds(browser, url, args.rounds)
                https = http_round_trips(url, config, name, args.rounds * 3)
                print(f"{name}:")
                print(f"  first load, opened and drawn: {summary(loads)}")
                print(f"  edit round trip in the page:  {summary(edits)}")
                print(f"  edit round trip over HTTP:    {summary(https)}")
                server.should_exit = True
            browser.close()


if __name__ == "__main__":
    main()
