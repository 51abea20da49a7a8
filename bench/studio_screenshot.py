"""The README screenshot of the studio (docs/studio.png): the example policy
opened on a loaded scratch host, the Chinese Wall graph with dom_HomeBanking
clicked, a lint warning shown at its label.

    python bench/studio_screenshot.py [OUTPUT.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.hosttools import loaded_host  # noqa: E402
from tests.test_studio_browser import CHROMIUM_ARGS, Server  # noqa: E402
from xm_core.files.paths import EXAMPLE_POLICY  # noqa: E402

STORAGE = '.label[data-label="dom_StorageDomain"]'


def main(output: str) -> None:
    with tempfile.TemporaryDirectory(prefix="studio-shot-") as tmp:
        loaded_host(Path(tmp) / "root")
        server = Server(Path(tmp) / "root")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1100, "height": 680})
                page.goto(server.url)
                page.select_option("#policy-select", EXAMPLE_POLICY)
                page.click("#open-btn")
                page.wait_for_selector(STORAGE)
                page.click('button[data-tab="graph"]')
                page.wait_for_selector("#graph[data-nodes]")
                page.evaluate(
                    "window.studioGraph.getElementById('dom:dom_HomeBanking').emit('tap')"
                )
                page.locator(STORAGE).evaluate("n => n.scrollIntoView({block: 'center'})")
                page.evaluate("document.querySelector('header .root').textContent = 'host root: /'")
                page.screenshot(path=output)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/studio.png")
