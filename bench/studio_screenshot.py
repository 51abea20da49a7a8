"""The studio's screenshots in the README and docs/studio.md, one per page
and state, taken on a loaded scratch host in Debian's Chromium:

    python bench/studio_screenshot.py [FOLDER]     (default: docs/)

* studio.png: the editor at a laptop's size, the example opened, a finding
  underlined in the XML and shown at its label;
* studio-wide.png: the same on a wide screen, with the conflict graph;
* studio-graph.png: the STE sharing graph of the example;
* studio-focus.png: a policy of 321 labels: the summary and the focused view
  of one label;
* studio-save.png: a save refused (it does not compile) and the draft;
* studio-organizations.png: the organizations page, a rule and its graph;
* studio-help.png: the help panel.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import ViewportSize, sync_playwright  # noqa: E402

from tests.hosttools import loaded_host  # noqa: E402
from tests.test_studio_browser import CHROMIUM_ARGS, Server  # noqa: E402
from xm_core.files.paths import EXAMPLE_POLICY  # noqa: E402

LAPTOP: ViewportSize = {"width": 1366, "height": 768}
WIDE: ViewportSize = {"width": 1920, "height": 1080}


def _open(page: Any, url: str, name: str = EXAMPLE_POLICY) -> None:
    page.goto(url)
    page.select_option("#policy-select", name)
    page.click("#open-btn")
    page.wait_for_selector("#outline .label", state="attached")
    # the host root of a scratch folder would mean nothing to a reader
    page.evaluate("document.querySelector('header .root').textContent = 'host root: /'")


def _mistake(page: Any) -> None:
    fun = page.locator('.label[data-label="dom_Fun"] .cw-types')
    fun.fill("cw_Distrusted cw_Nowhere")
    fun.press("Enter")
    page.wait_for_selector('.label[data-label="dom_Fun"].has-error')


def _big_policy(server: Server) -> None:
    from xm_core.web import services

    orgs = [{"name": f"org{i}", "departments": ["ops", "dev"][: i % 3]} for i in range(320)]
    rules = [
        {"name": "banks", "types": [f"org{i}" for i in range(0, 120)]},
        {"name": "insurers", "types": [f"org{i}" for i in range(100, 200)]},
    ]
    made = services.generate({"version": 1, "organizations": orgs, "rules": rules}, "big", "d")
    Path(server.paths.policy_files("big").xml).write_text(made["xml"])


def main(folder: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="studio-shot-") as tmp:
        loaded_host(Path(tmp) / "root")
        server = Server(Path(tmp) / "root")
        _big_policy(server)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )

                def shot(name: str, viewport: ViewportSize, take: Any) -> None:
                    page = browser.new_page(viewport=viewport)
                    page.on("dialog", lambda d: d.accept())
                    take(page)
                    page.wait_for_timeout(300)
                    page.screenshot(path=str(folder / name))
                    page.close()
                    print(folder / name)

                def editor(page: Any) -> None:
                    _open(page, server.url)
                    _mistake(page)
                    page.locator(".label[data-label='dom_Fun']").evaluate(
                        "n => n.scrollIntoView({block: 'center'})"
                    )
                    page.click(".label[data-label='dom_Fun'] .finding")

                def wide(page: Any) -> None:
                    _open(page, server.url)
                    page.click('button[data-tab="graph"]')
                    page.wait_for_selector("#graph[data-laid-out]", state="attached")
                    page.evaluate("studioGraph.clickLabel('dom_HomeBanking')")

                def sharing(page: Any) -> None:
                    _open(page, server.url)
                    page.click('button[data-tab="graph"]')
                    page.check('input[name="gkind"][value="flows"]')
                    page.wait_for_selector("#graph[data-laid-out]", state="attached")
                    page.evaluate("studioGraph.clickLabel('dom_StorageDomain')")

                def focus(page: Any) -> None:
                    _open(page, server.url, "big")
                    page.click('button[data-tab="graph"]')
                    page.wait_for_selector('#graph[data-mode="summary"]')
                    page.fill("#graph-search", "org110")
                    page.press("#graph-search", "Enter")
                    page.wait_for_selector('#graph[data-focus="org110"]')

                def save(page: Any) -> None:
                    _open(page, server.url)
                    _mistake(page)
                    page.keyboard.press("Control+s")
                    page.wait_for_selector("#save-out[data-status='1']")
                    page.click("#draft-btn")
                    page.wait_for_selector("text=draft written to")
                    page.evaluate(
                        "const o = document.getElementById('save-out');"
                        "o.textContent = o.textContent.replaceAll(/\\/tmp\\/[^ ]*root/g, '')"
                    )

                def organizations(page: Any) -> None:
                    page.goto(server.url)
                    page.click("#nav-orgs")
                    for org in ("A-Bank", "B-Bank", "AutoCorp"):
                        page.fill("#org-name", org)
                        page.press("#org-name", "Enter")
                        page.wait_for_selector(f'li[data-org="{org}"]')
                    bank = page.locator('li[data-org="A-Bank"]')
                    bank.locator(".dept-name").fill("Trading")
                    bank.locator(".dept-name").press("Enter")
                    page.wait_for_selector('li[data-dept="Trading"]')
                    page.check('input.pick[value="A-Bank"]')
                    page.check('input.pick[value="B-Bank"]')
                    page.fill("#rule-name", "banks")
                    page.press("#rule-name", "Enter")
                    page.wait_for_selector('li[data-rule="0"]')
                    page.fill("#gen-name", "banks")
                    page.click("#generate-btn")
                    page.wait_for_selector("#graph[data-laid-out]", state="attached")
                    page.evaluate(
                        "document.querySelector('header .root').textContent = 'host root: /'"
                    )

                def help_panel(page: Any) -> None:
                    _open(page, server.url)
                    page.keyboard.press("F1")
                    page.wait_for_selector("#help:not([hidden])")

                shot("studio.png", LAPTOP, editor)
                shot("studio-wide.png", WIDE, wide)
                shot("studio-graph.png", LAPTOP, sharing)
                shot("studio-focus.png", LAPTOP, focus)
                shot("studio-save.png", LAPTOP, save)
                shot("studio-organizations.png", LAPTOP, organizations)
                shot("studio-help.png", LAPTOP, help_panel)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
