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
    # WebGL (the graphs) on the CPU: SwiftShader, which newer Chromium uses
    # only when asked
    "--enable-unsafe-swiftshader",
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
    assert page.evaluate("studioGraph.undirected()")
    # one undirected edge for the conflict, named by its conflict set
    edges = page.evaluate("studioGraph.edgeList()")
    pairs = [sorted(e[:2]) for e in edges]
    assert pairs.count(["A-Bank", "B-Bank"]) == 1
    assert all("AutoCorp" not in pair for pair in pairs)
    assert "cannot run at the same time" in page.inner_text("#graph-legend")
    page.evaluate("studioGraph.clickLabel('A-Bank')")
    assert "conflicts with B-Bank (banks: A-Bank, B-Bank)" in page.inner_text("#graph-selected")


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
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-out[data-status='0']")
    assert page.get_attribute("body", "data-dirty") == "0"
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
    page.wait_for_selector("#load-btn:enabled")
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
    page.evaluate("studioGraph.clickLabel('dom_HomeBanking')")
    assert "dom_Fun" in page.inner_text("#graph-selected")
    page.check('input[name="gkind"][value="flows"]')
    page.wait_for_selector("#graph[data-nodes]")
    shared = page.evaluate("studioGraph.edgeList()")
    assert ["dom_SystemManagement", "dom_HomeBanking", ["ste_PersonalFinances"]] in shared
    assert "resource label" in page.inner_text("#graph-legend")


def open_example(page: Any, studio: Server) -> None:
    page.goto(studio.url)
    page.select_option("#policy-select", EXAMPLE_POLICY)
    page.click("#open-btn")
    page.wait_for_selector('.label[data-label="dom_Fun"]')


def test_a_save_that_does_not_compile_writes_nothing_and_offers_a_draft(
    studio: Server, page: Any
) -> None:
    open_example(page, studio)
    files = studio.paths.policy_files(EXAMPLE_POLICY)
    before = [Path(f).read_bytes() for f in (files.xml, files.map, files.bin)]
    fun = page.locator('.label[data-label="dom_Fun"] .cw-types')
    fun.fill("cw_Nowhere")
    fun.press("Enter")
    page.wait_for_selector('.label[data-label="dom_Fun"].has-error')
    assert page.get_attribute("body", "data-dirty") == "1"
    # Load is not offered while the editor holds unsaved edits
    page.click('button[data-tab="save"]')
    assert page.is_disabled("#impact-btn")
    page.click("#save-btn")
    page.wait_for_selector("#save-out[data-status='1']")
    assert "nothing was written" in page.inner_text("#save-out")
    assert [Path(f).read_bytes() for f in (files.xml, files.map, files.bin)] == before
    page.click("#draft-btn")
    page.wait_for_selector("text=draft written to")
    draft = Path(files.xml[: -len(".xml")] + ".draft.xml")
    assert "cw_Nowhere" in draft.read_text()
    assert [Path(f).read_bytes() for f in (files.xml, files.map, files.bin)] == before
    # opened again: the policy as saved, and the draft offered
    page.once("dialog", lambda d: d.accept())  # the unsaved edits are announced
    page.click("#open-btn")
    page.wait_for_selector("#open-draft-btn")
    assert page.locator(".has-error").count() == 0
    page.click("#open-draft-btn")
    page.wait_for_selector('.label[data-label="dom_Fun"].has-error')


def test_unsaved_edits_are_announced_and_kept_when_the_user_says_no(
    studio: Server, page: Any
) -> None:
    open_example(page, studio)
    page.fill("#header-Reference", "mine")
    page.press("#header-Reference", "Enter")
    page.wait_for_selector("#dirty:not([hidden])")
    messages: list[str] = []

    def dismiss(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("#open-btn")
    page.wait_for_timeout(200)
    assert messages and "unsaved edits" in messages[0]
    assert page.input_value("#header-Reference") == "mine"


def test_a_preview_that_refuses_the_load_disables_it(studio: Server, page: Any) -> None:
    """The load preview is of the compiled policy; a policy the host would
    refuse (another name than the active one) cannot be loaded from it."""
    open_example(page, studio)
    page.once("dialog", lambda d: d.accept("site.other"))
    page.click("#new-btn")
    page.wait_for_selector('.label[data-label="SystemManagement"]')
    assert page.input_value("#policy-name") == "site.other"
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-out[data-status='0']")
    assert Path(studio.paths.policy_files("site.other").bin).is_file()
    assert page.eval_on_selector("#policy-select", "s => s.value") == "site.other"
    page.click("#impact-btn")
    page.wait_for_selector("#load-confirm:not([hidden])")
    page.wait_for_timeout(300)
    assert page.is_disabled("#load-btn")


def test_download_gives_the_xml_in_the_editor(studio: Server, page: Any) -> None:
    open_example(page, studio)
    with page.expect_download() as info:
        page.click("#download-btn")
    download = info.value
    assert download.suggested_filename == "client_v1-security_policy.xml"
    text = Path(download.path()).read_text()
    assert text == Path(studio.paths.policy_files(EXAMPLE_POLICY).xml).read_text()


def test_a_refused_edit_reverts_its_input_and_keeps_the_findings(studio: Server, page: Any) -> None:
    open_example(page, studio)
    fun = page.locator('.label[data-label="dom_Fun"] .cw-types')
    fun.fill("cw_Nowhere")
    fun.press("Enter")
    page.wait_for_selector('.label[data-label="dom_Fun"].has-error')
    name = page.locator('.label[data-label="dom_HomeBanking"] .label-name')
    name.fill("dom_Fun")
    name.press("Enter")
    page.wait_for_selector("#refusal:not([hidden])")
    assert "EDIT001" in page.inner_text("#refusal")
    assert page.input_value('.label[data-label="dom_HomeBanking"] .label-name') == "dom_HomeBanking"
    assert (
        page.locator(".label-name").evaluate_all("ns => ns.map(n => n.value)").count("dom_Fun") == 1
    )
    assert "cw_Nowhere" in page.inner_text('.label[data-label="dom_Fun"]')


def test_enter_adds_and_empties_the_field_escape_puts_a_field_back(
    studio: Server, page: Any
) -> None:
    open_example(page, studio)
    page.fill("#add-type-STE", "ste_Printer")
    page.press("#add-type-STE", "Enter")
    page.wait_for_selector('input[data-type="ste_Printer"]')
    assert page.input_value("#add-type-STE") == ""
    page.fill("#header-Reference", "typo")
    page.press("#header-Reference", "Escape")
    assert page.input_value("#header-Reference") == ""
    assert "<Reference>" not in page.evaluate("studioEditor.state.doc.toString()")


REPLACE_LINE = """([n, text]) => { const l = studioEditor.state.doc.line(n);
    studioEditor.dispatch({changes: {from: l.from, to: l.to, insert: text}}); }"""


def test_the_xml_editor_checks_as_you_type_and_leads_to_findings(studio: Server, page: Any) -> None:
    open_example(page, studio)
    assert page.eval_on_selector("#policy-select", "s => s.value") == EXAMPLE_POLICY
    line = page.evaluate(
        """() => { const d = studioEditor.state.doc; for (let i = 1; i <= d.lines; i++)
            if (d.line(i).text.includes('<Name>dom_Fun</Name>')) return i; }"""
    )
    # break the document: not well-formed, shown in the editor, fixable there
    page.evaluate(REPLACE_LINE, [line, "<Name>dom_Fun</Nme>"])
    page.wait_for_selector("#outline >> text=not well-formed")
    page.wait_for_selector(".cm-lint-marker-error")
    assert page.get_attribute("body", "data-dirty") == "1"
    page.evaluate(REPLACE_LINE, [line, "<Name>dom_Fun2</Name>"])
    page.wait_for_selector('.label[data-label="dom_Fun2"]')
    # a finding leads to its line in the editor
    page.click('button[data-tab="findings"]')
    first = page.locator("#findings .finding").first
    first.click()
    assert page.is_visible("#xml-editor .cm-editor")
    cursor_line = page.evaluate(
        "studioEditor.state.doc.lineAt(studioEditor.state.selection.main.head).number"
    )
    assert f"{cursor_line}:" in first.inner_text()
    # and an outline row leads to its element
    page.click('.label[data-label="dom_HomeBanking"]', position={"x": 300, "y": 4})
    at = page.evaluate("studioEditor.state.doc.lineAt(studioEditor.state.selection.main.head).text")
    assert "VirtualMachineLabel" in at


def test_the_help_panel_opens_with_f1_and_names_every_code(studio: Server, page: Any) -> None:
    page.goto(studio.url)
    page.keyboard.press("F1")
    page.wait_for_selector("#help:not([hidden])")
    assert "ACM018" in page.inner_text("#help") and "conflict sets" in page.inner_text("#help")
    page.keyboard.press("Escape")
    page.wait_for_selector("#help", state="hidden")


def until(page: Any, expression: str, expected: Any, seconds: float = 10) -> None:
    """Wait until `expression` (evaluated in the page) equals `expected`
    (wait_for_function would evaluate a string, which the page's CSP forbids)."""
    deadline = time.monotonic() + seconds
    while (value := page.evaluate(expression)) != expected:
        assert time.monotonic() < deadline, f"{expression} is {value!r}, not {expected!r}"
        page.wait_for_timeout(50)


def add_orgs(page: Any, *names: str) -> None:
    for org in names:
        page.fill("#org-name", org)
        page.press("#org-name", "Enter")
        page.wait_for_selector(f'li[data-org="{org}"]')
        assert page.input_value("#org-name") == ""


def test_organizations_refusals_rules_members_several_deletes_and_save_as(
    studio: Server, page: Any
) -> None:
    page.goto(studio.url)
    page.click("#nav-orgs")
    add_orgs(page, "B-Bank", "A-Bank", "Car")
    # a dotted organization name is refused and the field shows the truth
    page.fill("#org-name", "A.Bank")
    page.press("#org-name", "Enter")
    page.wait_for_selector("#wl-refusal:not([hidden])")
    assert "WLD011" in page.inner_text("#wl-refusal")
    assert page.locator("li[data-org]").count() == 3
    page.check('input.pick[value="A-Bank"]')
    page.check('input.pick[value="B-Bank"]')
    page.fill("#rule-name", "banks")
    page.press("#rule-name", "Enter")
    page.wait_for_selector('li[data-rule="0"]')
    # the same rule again is refused
    page.click("#add-rule")
    page.wait_for_selector("#wl-refusal:not([hidden])")
    assert "WLD012" in page.inner_text("#wl-refusal")
    assert page.locator("li[data-rule]").count() == 1
    # members added to and removed from an existing rule
    page.uncheck('input.pick[value="A-Bank"]')
    page.uncheck('input.pick[value="B-Bank"]')
    page.check('input.pick[value="Car"]')
    page.click('li[data-rule="0"] .add-to-rule')
    page.wait_for_selector('li[data-rule="0"] .chip[data-type="Car"]')
    page.click('li[data-rule="0"] .chip[data-type="A-Bank"] button')
    page.wait_for_selector('li[data-rule="0"] .chip[data-type="A-Bank"]', state="detached")
    # a rule finding shows under the rules, not under the organizations
    page.click('li[data-rule="0"] .chip[data-type="Car"] button')
    page.wait_for_selector("#rule-findings .finding")
    assert page.locator("#org-findings li").count() == 0
    # sort, collapse, delete several at once
    page.click("#sort-orgs")
    orgs = "[...document.querySelectorAll('li[data-org]')].map(n => n.dataset.org).join()"
    until(page, orgs, "A-Bank,B-Bank,Car")
    page.click("#collapse-all")
    page.wait_for_selector("li[data-org].closed")
    page.click("#expand-all")
    page.check('input.pick[value="A-Bank"]')
    page.check('input.pick[value="Car"]')
    page.click("#delete-selected")
    until(page, orgs, "B-Bank")
    # Save As: TOML by the chosen name
    page.fill("#wl-filename", "banks.toml")
    with page.expect_download() as info:
        page.click("#wl-save")
    assert info.value.suggested_filename == "banks.toml"
    text = Path(info.value.path()).read_text()
    assert text.startswith("version = 1") and 'name = "B-Bank"' in text


def test_a_large_graph_starts_from_a_summary_and_a_focused_view_that_expands(
    studio: Server, page: Any
) -> None:
    """320 organizations, 200 of them in one rule: a Chinese Wall graph of
    321 labels is too large to draw whole."""
    from xm_core.web import services

    orgs = [{"name": f"org{i}", "departments": []} for i in range(320)]
    rules = [{"name": "wall", "types": [f"org{i}" for i in range(200)]}]
    made = services.generate({"version": 1, "organizations": orgs, "rules": rules}, "big", "d")
    Path(studio.paths.policy_files("big").xml).write_text(made["xml"])
    page.goto(studio.url)
    page.select_option("#policy-select", "big")
    page.click("#open-btn")
    page.wait_for_selector('#labels-VM .label[data-label="org0"]')
    # label rows beyond the first 60 wait behind "show all" and a filter
    assert page.locator("#labels-VM .label").count() == 60
    page.fill("#labels-VM .label-filter", "org31")
    page.wait_for_selector('#labels-VM .label[data-label="org319"]')
    page.click('button[data-tab="graph"]')
    page.wait_for_selector('#graph[data-mode="summary"]')
    assert "too many to draw at once" in page.inner_text("#graph-info")
    assert "wall" in page.inner_text("#summary-sets")
    assert page.get_attribute("#summary-matrix", "height") == "321"
    page.fill("#graph-search", "org5")
    page.press("#graph-search", "Enter")
    page.wait_for_selector('#graph[data-focus="org5"][data-laid-out]')
    names = page.evaluate("studioGraph.nodeNames()")
    assert len(names) == 200 and "org250" not in names  # org5 and the 199 others of its wall
    picked = page.locator("#summary-sets .pick-label").first
    name = picked.inner_text()
    picked.click()
    page.wait_for_selector(f'#graph[data-focus="{name}"][data-laid-out]')
    page.fill("#graph-search", "org250")
    page.press("#graph-search", "Enter")
    page.wait_for_selector('#graph[data-focus="org250"][data-laid-out]')
    assert page.evaluate("studioGraph.nodeNames()") == ["org250"]
    assert "conflicts with none" in page.inner_text("#graph-selected")
    # expand on click: a neighbour's own neighbours join the view
    page.fill("#graph-search", "org5")
    page.press("#graph-search", "Enter")
    page.wait_for_selector('#graph[data-focus="org5"]')
    page.evaluate("studioGraph.clickLabel('org7')")
    page.wait_for_selector('#graph[data-focus="org7"]')
    assert "org7" in page.inner_text("#graph-selected")


def test_export_to_flask_shows_and_downloads_the_module(studio: Server, page: Any) -> None:
    open_example(page, studio)
    page.click('button[data-tab="flask"]')
    page.click("#flask-btn")
    page.wait_for_selector('#flask-file[data-file$=".te"]')
    module = page.get_attribute("#flask-file", "data-file")
    assert "type acm_" in page.inner_text("#flask-file")
    with page.expect_download() as info:
        page.click(f'button[aria-label="download {module}"]')
    assert info.value.suggested_filename == module
    assert Path(info.value.path()).read_text().strip() == page.inner_text("#flask-file").strip()
    page.click(".flask-files button.show >> text=report.txt")
    assert "Carried over" in page.inner_text("#flask-file")


def test_keep_ssidrefs_is_previewed_and_loaded_as_asked(studio: Server, page: Any) -> None:
    """A running domain whose label moves: refused by default, loaded with
    --keep-ssidrefs, each as its own preview said."""
    assert xm_run(studio.paths.root, "create", str(studio.paths.etc_xen / "boinc")).code == 0
    open_example(page, studio)
    page.click('.label[data-label="dom_Fun"] button.del')
    page.wait_for_selector('.label[data-label="dom_Fun"]', state="detached")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-out[data-status='0']")
    page.click("#impact-btn")
    page.wait_for_selector("#load-confirm:not([hidden])")
    page.wait_for_selector("text=would be REFUSED")
    assert page.is_disabled("#load-btn")
    page.check("#keep-ssidrefs")
    assert page.is_hidden("#load-confirm")
    page.click("#impact-btn")
    page.wait_for_selector("#load-btn:enabled")
    assert "renumbered" in page.inner_text("#impact-out")
    page.click("#load-btn")
    page.wait_for_selector("#load-out[data-status='0']")
    assert "$ xm loadpolicy --keep-ssidrefs" in page.inner_text("#load-out")


def test_the_setpolicy_dry_run_of_the_saved_policy(studio: Server, page: Any) -> None:
    open_example(page, studio)
    page.click('button[data-tab="save"]')
    page.click("#setpolicy-btn")
    page.wait_for_selector("#setpolicy-out[data-status='0']")
    assert "dry run, nothing changed" in page.inner_text("#setpolicy-out")
    page.fill("#header-Reference", "changed")
    page.press("#header-Reference", "Enter")
    page.wait_for_selector("#dirty:not([hidden])")
    assert page.is_disabled("#setpolicy-btn")


def test_would_it_start_answers_for_the_edited_policy_when_asked(
    studio: Server, page: Any, tmp_path: Path
) -> None:
    open_example(page, studio)
    page.click('.label[data-label="dom_Fun"] button.del')
    page.wait_for_selector('.label[data-label="dom_Fun"]', state="detached")
    page.click('button[data-tab="whatif"]')
    page.select_option("#explain-config", "fun")
    page.click("#explain-btn")
    page.wait_for_selector("#explain-out[data-status]")
    host = xm_run(studio.paths.root, "acm", "explain", str(studio.paths.etc_xen / "fun"))
    assert page.inner_text("#explain-out").strip() == (host.out + host.err).strip()
    page.check("#explain-edited")
    page.evaluate("document.getElementById('explain-out').removeAttribute('data-status')")
    page.click("#explain-btn")
    page.wait_for_selector("#explain-out[data-status]")
    # the same answer as on a host where the edited policy was saved and loaded
    other = tmp_path / "other"
    loaded_host(other)
    edited = page.evaluate("state.xml")
    files = HostPaths(other).policy_files(EXAMPLE_POLICY)
    Path(files.xml).write_text(edited)
    assert xm_run(other, "makepolicy", EXAMPLE_POLICY).code == 0
    assert xm_run(other, "loadpolicy", EXAMPLE_POLICY).code == 0
    there = xm_run(other, "acm", "explain", str(studio.paths.etc_xen / "fun"))
    assert there.code == 1 and page.get_attribute("#explain-out", "data-status") == "1"
    mine = page.inner_text("#explain-out").strip()
    assert mine == (there.out + there.err).strip().replace(str(other), str(studio.paths.root))
    assert Path(studio.paths.policy_files(EXAMPLE_POLICY).xml).read_text() != edited


def test_a_new_version_writes_renames_as_from_and_setpolicy_reports_them(
    studio: Server, page: Any
) -> None:
    """Xen 3.4's lifecycle in the studio: version 1.0 of the example is set,
    then its next version renames a label; the dry run of `xm setpolicy`
    relabels the domain config that carried the old name."""
    open_example(page, studio)

    def xml() -> str:
        return str(page.evaluate("studioEditor.state.doc.toString()"))

    page.click("#bump-version")
    page.wait_for_selector("#version:text-is('1.0')")
    assert "<Version>1.0</Version>" in xml() and "<FromPolicy>" not in xml()
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-out[data-status='0']")
    # a 3.0.4 policy runs: Xen 3.4 puts a versioned one in its place only
    # after a reset to its DEFAULT policy (the command line's work)
    root = studio.paths.root
    assert xm_run(root, "resetpolicy").code == 0
    assert xm_run(root, "setpolicy", "ACM", EXAMPLE_POLICY).code == 0
    # the next version updates the running one; a rename is written as from=
    page.click("#bump-version")
    page.wait_for_selector("#version:text-is('1.1')")
    assert f"updates {EXAMPLE_POLICY} 1.0" in page.inner_text("#from-policy")
    name = page.locator('.label[data-label="dom_Fun"] .label-name')
    name.fill("dom_Play")
    name.press("Enter")
    page.wait_for_selector('.label[data-label="dom_Play"] .renamed-from:text-is("was dom_Fun")')
    text = xml()
    assert "<Version>1.1</Version>" in text
    assert f"<FromPolicy>\n      <PolicyName>{EXAMPLE_POLICY}</PolicyName>" in text
    assert "<Version>1.0</Version>\n    </FromPolicy>" in text
    assert '<Name from="dom_Fun">dom_Play</Name>' in text
    page.keyboard.press("Control+s")  # Save compiles first
    page.wait_for_selector("#save-out[data-status='0']")
    page.click('button[data-tab="save"]')
    page.click("#setpolicy-btn")
    page.wait_for_selector("#setpolicy-out[data-status='0']")
    report = page.inner_text("#setpolicy-out")
    assert f"{EXAMPLE_POLICY} version 1.0 -> {EXAMPLE_POLICY} version 1.1" in report
    assert f"{EXAMPLE_POLICY}:dom_Fun -> ACM:{EXAMPLE_POLICY}:dom_Play" in report


def test_an_edit_of_a_wide_policy_is_checked_where_it_touched_and_saving_checks_all(
    studio: Server, page: Any
) -> None:
    from tests.hosttools import wide_policy

    Path(studio.paths.policy_files("wide").xml).write_text(wide_policy(400))
    page.goto(studio.url)
    page.select_option("#policy-select", "wide")
    page.click("#open-btn")
    page.wait_for_selector('body[data-complete="1"]', state="attached")
    page.fill("#labels-VM .label-filter", "wall_b")
    row = page.locator('#labels-VM .label[data-label="wall_b"]')
    row.locator(".ste-types").fill("ste_b ste_a")
    row.locator(".ste-types").press("Enter")
    # the quick check: the edited label, and a way to check everything
    page.wait_for_selector("#check-all:not([hidden])")
    bridges = "state.findings.filter(f => f.message.includes(\"'res_between' lets\")).length"
    assert page.evaluate(bridges) == 0
    # saving runs every check: the bridge the edit made elsewhere is found
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-out[data-status='0']")
    page.wait_for_selector("#check-all", state="hidden")
    assert page.evaluate(bridges) == 1
    assert page.get_attribute("body", "data-complete") == "1"
