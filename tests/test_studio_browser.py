"""The studio's main journeys in a real browser: Playwright driving Debian's
Chromium (`apt-get install chromium`). Skipped, with the reason, only when no
Chromium can be found. A screenshot of each journey's end is kept in
tests/artifacts/."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hosttools import loaded_host, xm_run
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str | None:
    for candidate in (os.environ.get("XM_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Server:
    def __init__(self, root: Path) -> None:
        import uvicorn

        from xm_core.web import allowed_hosts, free_port, studio_url
        from xm_core.web.app import StudioConfig, create_app

        self.paths = HostPaths(root)
        port = free_port("127.0.0.1")
        self.config = StudioConfig(self.paths, allowed_hosts("127.0.0.1", port))
        self.url = studio_url("127.0.0.1", port, self.config.token)
        self.base = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(self.config), host="127.0.0.1", port=port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the studio did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium found (/usr/bin/chromium; apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "root"
    loaded_host(root)
    server = Server(root)
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def test_organizations_rule_generate_and_the_conflict_in_the_graph(
    studio: Server, page: Any
) -> None:
    page.goto(studio.url)
    page.click("#nav-orgs")
    for org in ("A-Bank", "B-Bank", "AutoCorp"):
        page.fill("#org-name", org)
        page.click("#add-org")
        page.wait_for_selector(f'li[data-org="{org}"]')
    bank = page.locator('li[data-org="A-Bank"]')
    bank.locator(".dept-name").fill("Trading")
    bank.locator(".add-dept").click()
    page.wait_for_selector('li[data-dept="Trading"]')
    page.check('input.pick[value="A-Bank"]')
    page.check('input.pick[value="B-Bank"]')
    page.fill("#rule-name", "banks")
    page.click("#add-rule")
    page.wait_for_selector('li[data-rule="0"]')
    page.fill("#gen-name", "banks")
    page.click("#generate-btn")
    page.wait_for_selector("#graph[data-nodes]")
    edges = page.evaluate(
        "window.studioGraph.edges().map(e => [e.source().data('label'), e.target().data('label')])"
    )
    assert ["A-Bank", "B-Bank"] in edges and ["B-Bank", "A-Bank"] in edges
    assert all("AutoCorp" not in pair for pair in edges)
    page.evaluate("window.studioGraph.getElementById('dom:A-Bank').emit('tap')")
    assert "conflicts with B-Bank" in page.inner_text("#graph-selected")


def test_edit_the_example_mistake_fix_save_byte_identical(
    studio: Server, page: Any, tmp_path: Path
) -> None:
    page.goto(studio.url)
    page.select_option("#policy-select", EXAMPLE_POLICY)
    page.click("#open-btn")
    fun = page.locator('.label[data-label="dom_Fun"]')
    fun.locator(".cw-types").fill("cw_Nowhere")
    fun.locator(".cw-types").press("Enter")
    page.wait_for_selector('.label[data-label="dom_Fun"].has-error')
    finding = page.locator('.label[data-label="dom_Fun"] .finding.error').first.inner_text()
    assert "cw_Nowhere" in finding and "error ACM" in finding
    page.locator('.label[data-label="dom_Fun"] .cw-types').fill("cw_Distrusted")
    page.locator('.label[data-label="dom_Fun"] .cw-types').press("Enter")
    page.wait_for_selector(".has-error", state="detached")
    page.click('button[data-tab="save"]')
    page.click("#save-btn")
    page.wait_for_selector("#save-out[data-status='0']")
    files = studio.paths.policy_files(EXAMPLE_POLICY)
    # xm makepolicy of the original example, on a root of its own
    other = HostPaths(tmp_path / "other")
    other.seed_example()
    assert xm_run(other.root, "makepolicy", EXAMPLE_POLICY).code == 0
    theirs = other.policy_files(EXAMPLE_POLICY)
    assert Path(files.bin).read_bytes() == Path(theirs.bin).read_bytes()
    mine_map = Path(files.map).read_bytes().replace(str(studio.paths.root).encode(), b"ROOT")
    their_map = Path(theirs.map).read_bytes().replace(str(other.root).encode(), b"ROOT")
    assert mine_map == their_map
    # load, after the confirmation that shows the host impact
    page.click("#impact-btn")
    page.wait_for_selector("#load-confirm:not([hidden])")
    assert "would succeed" in page.inner_text("#impact-out")
    page.click("#load-btn")
    page.wait_for_selector("#load-out[data-status='0']")
    assert "policy 'example.chwall_ste.client_v1' loaded" in xm_run(studio.paths.root, "dmesg").out


def test_what_if_answers_equal_the_cli(studio: Server, page: Any) -> None:
    page.goto(studio.url)
    page.select_option("#policy-select", EXAMPLE_POLICY)
    page.click("#open-btn")
    page.wait_for_selector('.label[data-label="dom_Fun"]')
    page.click('button[data-tab="whatif"]')
    page.fill("#coexist-labels", "dom_HomeBanking dom_Fun")
    page.click("#coexist-btn")
    page.wait_for_selector("#coexist-out[data-status]")
    cli = xm_run(studio.paths.root, "acm", "coexist", EXAMPLE_POLICY, "dom_HomeBanking", "dom_Fun")
    assert page.inner_text("#coexist-out").strip() == cli.out.strip()
    page.fill("#flow-from", "dom_HomeBanking")
    page.fill("#flow-to", "dom_Fun")
    page.click("#flow-btn")
    page.wait_for_selector("#flow-out[data-status]")
    cli = xm_run(studio.paths.root, "acm", "flows", EXAMPLE_POLICY, "dom_HomeBanking", "dom_Fun")
    assert page.inner_text("#flow-out").strip() == cli.out.strip()
    config = page.eval_on_selector("#explain-config", "s => s.value")
    page.click("#explain-btn")
    page.wait_for_selector("#explain-out[data-status]")
    cli = xm_run(studio.paths.root, "acm", "explain", str(studio.paths.etc_xen / config))
    assert page.inner_text("#explain-out").strip() == (cli.out + cli.err).strip()
    page.click('button[data-tab="graph"]')
    page.wait_for_selector("#graph[data-nodes]")
    page.evaluate("window.studioGraph.getElementById('dom:dom_HomeBanking').emit('tap')")
    assert "dom_Fun" in page.inner_text("#graph-selected")
