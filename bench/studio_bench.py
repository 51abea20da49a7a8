"""The studio's speed in the browser, for the example policy and the
2,000-label policy of `gen_policy.py 200 50 1000 1000 20 4`. Goals (the
studio issue): first page under 1 s; an edit's findings under 300 ms after
typing stops; opening a graph never blocks the page more than 200 ms at a
time; the focused view of a label under 1 s.

    python bench/studio_bench.py [--rounds 5] [--big FILE]

A studio server runs in this process (uvicorn, a temporary host root with
the example and the large policy). Measured in Debian's Chromium through
Playwright (WebGL on SwiftShader), each round in a fresh browser context
(empty cache):

* first page: from navigation to the policy opened and drawn (the outline
  and the XML editor), with the URL's token, the policy named on the
  command line as with `xm acm studio POLICY`; and to its findings drawn
  (asked right after). Measured in the page's own clock (the first
  animation frame with them, counted from the navigation's start); the same
  two as the driver sees them (its round trips to the browser included) are
  printed too;
* typing: five characters typed into a label's name in the XML editor, 40 ms
  apart; from the last one to the new findings drawn (the pause the page
  waits for before it checks, 100 ms, included);
* an outline edit: a label renamed in the outline, from the change to the
  new findings drawn;
* graphs: the longest task that blocked the page (PerformanceObserver
  "longtask", 50 ms and more) from a click on the Graphs tab until the
  Chinese Wall graph (or its summary) is shown, and likewise for the STE
  sharing graph;
* focused view: a label searched in the graph tab, from Enter to the label
  and its neighbours drawn (and laid out);
* the edit over HTTP alone: POST /api/edit (the edit, its check where it
  touched the policy, the answer as what changed) from a Python client,
  without the browser, sent as the page sends it (what changed since the
  answer it holds, not the whole text);
* the elements in the first page once its findings are drawn, and the bytes
  of an edit's request and answer.

`--big FILE` measures another large policy (e.g. one of 20,000 labels),
`--only-big` skips the example.

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
GEN = REPO.parent / "shared" / "tools" / "gen_policy.py"  # shared/ beside the checkout
EXAMPLE = "example.chwall_ste.client_v1"
BIG = "big200"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
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
        body = json.dumps(doc).encode()
        REQUEST_SIZES[name] = len(body)
        req = urllib.request.Request(f"{base}/api/{path}", body, headers)
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())

    doc = post("open", {"name": name})
    label = next(
        lbl["name"]
        for lbl in doc["outline"]["labels"]
        if lbl["kind"] == "VM" and lbl["name"] != doc["outline"]["bootstrap"]
    )
    times = []
    xml, digest = doc["xml"], doc["digest"]
    for i in range(rounds):
        new = f"{label}_r{i}"
        started = time.perf_counter()
        cpu = time.process_time()  # the server runs in this process
        answer = post(
            "edit",
            {
                "name": name,
                # as the page sends it: what changed since the answer it holds
                "xml_change": {"from": 0, "to": 0, "insert": ""},
                "since": digest,
                "op": {"op": "rename_label", "kind": "VM", "old": label, "new": new},
            },
        )
        times.append(time.perf_counter() - started)
        HTTP_CPU.setdefault(name, []).append(time.process_time() - cpu)
        change = answer["xml_change"]
        xml = xml[: change["from"]] + change["insert"] + xml[change["to"] :]
        digest, label = answer["digest"], new
    ANSWER_SIZES[name] = len(json.dumps(answer))
    return times


ANSWER_SIZES: dict[str, int] = {}
REQUEST_SIZES: dict[str, int] = {}
HTTP_CPU: dict[str, list[float]] = {}


TYPE_AND_WAIT = """async () => {
    const v = studioEditor, d = v.state.doc;
    let line = 0;
    for (let i = d.lines; i > 0; i--) if (d.line(i).text.includes('<Name>')) { line = i; break; }
    const l = d.line(line);
    const at = l.from + l.text.indexOf('</Name>');
    const before = window.studioChecks || 0;
    for (let i = 0; i < 5; i++) {
        v.dispatch({changes: {from: at + i, insert: 'x'}, userEvent: 'input.type'});
        await new Promise((r) => setTimeout(r, 40));
    }
    const t = performance.now() - 40;
    while ((window.studioChecks || 0) === before) await new Promise((r) => setTimeout(r, 2));
    await new Promise(requestAnimationFrame);
    return performance.now() - t;
}"""

OUTLINE_EDIT = """async (i) => {
    const row = document.querySelectorAll('#labels-VM .label')[1];
    const old = row.dataset.label;
    const t = performance.now();
    await edit({op: 'rename_label', kind: 'VM', old, new: old + '_b' + i});
    await new Promise(requestAnimationFrame);
    return performance.now() - t;
}"""

# Installed before the page's own scripts: the first animation frame in which
# the outline and the XML editor are there, and the first in which the
# findings are, in the page's own clock (from the start of the navigation),
# so that the driver's round trips are not counted as the page's time.
MARK_DRAWN = """(() => {
    const frame = () => {
        const now = performance.now();
        if (window.benchDrawn === undefined && document.querySelector('#outline .label')
            && document.querySelector('#xml-editor .cm-line')) window.benchDrawn = now;
        if (window.benchChecked === undefined && window.studioChecks) window.benchChecked = now;
        if (window.benchChecked === undefined) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
})()"""

WATCH_LONG_TASKS = """() => {
    window.benchLongest = 0;
    new PerformanceObserver((list) => {
        for (const e of list.getEntries())
            window.benchLongest = Math.max(window.benchLongest, e.duration);
    }).observe({type: 'longtask'});
}"""


def browser_rounds(browser: Any, url: str, rounds: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {
        k: []
        for k in (
            "load", "checked", "load_driver", "checked_driver",
            "typing", "outline", "conflicts", "flows", "focus", "elements",
        )
    }  # fmt: skip
    for i in range(rounds):
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.add_init_script(MARK_DRAWN)
        page.set_default_timeout(120_000)
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#outline .label", state="attached")
        page.wait_for_selector("#xml-editor .cm-line", state="attached")
        page.evaluate("() => new Promise(requestAnimationFrame)")
        figures["load_driver"].append(time.perf_counter() - started)
        while not page.evaluate("window.studioChecks || 0"):
            page.wait_for_timeout(5)
        page.evaluate("() => new Promise(requestAnimationFrame)")
        figures["checked_driver"].append(time.perf_counter() - started)
        page.wait_for_function("window.benchChecked !== undefined")
        figures["load"].append(page.evaluate("window.benchDrawn") / 1000)
        figures["checked"].append(page.evaluate("window.benchChecked") / 1000)
        figures["elements"].append(page.evaluate("document.getElementsByTagName('*').length"))
        figures["typing"].append(page.evaluate(TYPE_AND_WAIT) / 1000)
        figures["outline"].append(page.evaluate(OUTLINE_EDIT, i) / 1000)
        page.evaluate(WATCH_LONG_TASKS)
        page.click('button[data-tab="graph"]')
        page.wait_for_selector("#graph[data-mode]", state="attached")
        page.wait_for_timeout(300)
        figures["conflicts"].append(page.evaluate("window.benchLongest") / 1000)
        page.evaluate("window.benchLongest = 0")
        page.check('input[name="gkind"][value="flows"]')
        page.wait_for_selector("#graph[data-mode]", state="attached")
        page.wait_for_timeout(300)
        figures["flows"].append(page.evaluate("window.benchLongest") / 1000)
        name = page.evaluate(
            "(i) => { const vms = state.outline.labels.filter(l => l.kind === 'VM');"
            " return vms[(3 + i) % vms.length].name; }",
            i,
        )
        page.fill("#graph-search", name)
        started = time.perf_counter()
        page.press("#graph-search", "Enter")
        page.wait_for_selector(f'#graph[data-focus="{name}"][data-laid-out]', state="attached")
        figures["focus"].append(time.perf_counter() - started)
        context.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big", help="the large policy (default: generated with gen_policy.py)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--only-big", action="store_true", help="skip the example policy")
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
            for name in (BIG,) if args.only_big else (EXAMPLE, BIG):
                server, url, config = serve(root, name)
                figures = browser_rounds(browser, url, args.rounds)
                https = http_round_trips(url, config, name, args.rounds * 3)
                print(f"{name}:")
                print(f"  first page, outline and XML drawn:   {summary(figures['load'])}")
                print(f"  first page, its findings drawn:      {summary(figures['checked'])}")
                driver = (summary(figures["load_driver"]), summary(figures["checked_driver"]))
                print(f"  the same two, seen by the driver:    {driver[0]}")
                print(f"                                       {driver[1]}")
                print(f"  typing stopped to findings drawn:    {summary(figures['typing'])}")
                print(f"  outline edit to findings drawn:      {summary(figures['outline'])}")
                print(f"  longest block, conflict graph shown: {summary(figures['conflicts'])}")
                print(f"  longest block, sharing graph shown:  {summary(figures['flows'])}")
                print(f"  focused view of a label:             {summary(figures['focus'])}")
                print(f"  edit round trip over HTTP:           {summary(https)}")
                print(f"  the same, CPU of this process:       {summary(HTTP_CPU[name])}")
                print(f"  an edit's answer: {ANSWER_SIZES[name]:,} bytes of JSON")
                print(f"  an edit's request: {REQUEST_SIZES[name]:,} bytes of JSON")
                elements = statistics.median(figures["elements"])
                print(f"  elements in the first page: {elements:,.0f}")
                server.should_exit = True
            browser.close()


if __name__ == "__main__":
    main()
