"""The studio's API and its security, without a browser (Starlette's TestClient)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.hosttools import loaded_host, xm_run
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths
from xm_core.web.app import StudioConfig, create_app

ORIGIN = "http://testserver"


class Studio:
    def __init__(self, root: Path, upload_limit: int = 1 << 20) -> None:
        self.paths = HostPaths(root)
        self.config = StudioConfig(self.paths, {"testserver"}, upload_limit=upload_limit)
        self.client = TestClient(create_app(self.config))

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "x-studio-token": self.config.token,
            "x-csrf-token": self.config.csrf,
            "origin": ORIGIN,
            **extra,
        }

    def post(self, path: str, doc: Any = None, **kw: Any) -> Any:
        return self.client.post(f"/api/{path}", json=doc or {}, headers=self.headers(), **kw)

    def ok(self, path: str, doc: Any = None) -> Any:
        resp = self.post(path, doc)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
def studio(tmp_path: Path) -> Studio:
    root = tmp_path / "root"
    loaded_host(root)
    return Studio(root)


def example(studio: Studio) -> dict[str, Any]:
    return studio.ok("open", {"name": EXAMPLE_POLICY})


def test_open_lists_and_checks_the_example(studio: Studio) -> None:
    assert EXAMPLE_POLICY in studio.ok("policies")["policies"]
    doc = example(studio)
    assert doc["errors"] == 0
    assert {f["code"] for f in doc["findings"]} >= {"ACM030"}
    names = [label["name"] for label in doc["outline"]["labels"]]
    assert "dom_HomeBanking" in names and doc["outline"]["bootstrap"] == "dom_SystemManagement"


def test_a_mistake_is_a_finding_at_its_element_and_the_fix_removes_it(studio: Studio) -> None:
    doc = example(studio)
    op = {
        "op": "set_label_types",
        "kind": "VM",
        "name": "dom_Fun",
        "part": "CHWALL",
        "types": ["cw_Nowhere"],
    }
    bad = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})
    errors = [f for f in bad["findings"] if f["severity"] == "error"]
    assert errors and all("cw_Nowhere" in f["message"] for f in errors)
    fun = next(lbl for lbl in bad["outline"]["labels"] if lbl["name"] == "dom_Fun")
    assert all(fun["line"] <= f["line"] <= fun["last_line"] for f in errors)
    fixed = studio.ok(
        "edit",
        {"name": EXAMPLE_POLICY, "xml": bad["xml"], "op": {**op, "types": ["cw_Distrusted"]}},
    )
    assert fixed["errors"] == 0


def test_rename_of_a_type_reaches_every_reference(studio: Studio) -> None:
    doc = example(studio)
    op = {"op": "rename_type", "part": "CHWALL", "old": "cw_Sensitive", "new": "cw_Secret"}
    new = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})
    assert new["errors"] == 0
    assert "<Type>cw_Sensitive</Type>" not in new["xml"]
    assert new["xml"].count("<Type>cw_Secret</Type>") == doc["xml"].count(
        "<Type>cw_Sensitive</Type>"
    )
    assert new["outline"]["conflict_sets"][0]["types"] == ["cw_Secret", "cw_Distrusted"]


def test_rename_of_the_bootstrap_label_moves_the_attribute(studio: Studio) -> None:
    doc = example(studio)
    op = {"op": "rename_label", "kind": "VM", "old": "dom_SystemManagement", "new": "dom_Zero"}
    new = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})
    assert new["outline"]["bootstrap"] == "dom_Zero" and new["errors"] == 0


def test_a_new_version_and_a_rename_in_it_through_the_edit_api(studio: Studio) -> None:
    xml = example(studio)["xml"]
    for _ in range(2):
        xml = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": xml, "op": {"op": "bump_version"}})[
            "xml"
        ]
    op = {"op": "rename_label", "kind": "RES", "old": "res_SecurityToken", "new": "res_Token"}
    new = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": xml, "op": op})
    assert new["errors"] == 0  # the versioned compiler takes it
    view = new["outline"]
    assert view["version"] == "1.1"
    assert (view["from_policy"]["name"], view["from_policy"]["version"]) == (EXAMPLE_POLICY, "1.0")
    renamed = next(lbl for lbl in view["labels"] if lbl["name"] == "res_Token")
    assert renamed["from"] == "res_SecurityToken"


def test_an_impossible_edit_is_refused_with_its_code(studio: Studio) -> None:
    doc = example(studio)
    resp = studio.post(
        "edit", {"xml": doc["xml"], "op": {"op": "delete_label", "kind": "VM", "name": "dom_None"}}
    )
    assert resp.status_code == 422 and resp.json()["findings"][0]["code"] == "EDIT001"


def test_what_if_answers_are_the_cli_answers(studio: Studio) -> None:
    doc = example(studio)
    xml = doc["xml"]
    co = studio.ok("coexist", {"xml": xml, "labels": ["dom_HomeBanking", "dom_Fun"]})
    cli = xm_run(studio.paths.root, "acm", "coexist", EXAMPLE_POLICY, "dom_HomeBanking", "dom_Fun")
    assert co["text"] == cli.lines and co["status"] == cli.code == 1
    fl = studio.ok("flows", {"xml": xml, "source": "dom_HomeBanking", "target": "dom_Fun"})
    cli = xm_run(studio.paths.root, "acm", "flows", EXAMPLE_POLICY, "dom_HomeBanking", "dom_Fun")
    assert fl["text"] == cli.lines
    configs = studio.ok("policies")["configs"]
    assert configs
    for config in configs[:3]:
        ex = studio.ok("explain", {"config": config})
        cli = xm_run(studio.paths.root, "acm", "explain", str(studio.paths.etc_xen / config))
        assert (ex["stdout"], ex["stderr"], ex["status"]) == (cli.out, cli.err, cli.code)


def test_graphs_are_the_cli_graphs(studio: Studio) -> None:
    import json

    doc = example(studio)
    graphs = studio.ok("graphs", {"xml": doc["xml"]})
    for kind in ("conflicts", "flows"):
        cli = xm_run(
            studio.paths.root,
            "acm",
            "graph",
            EXAMPLE_POLICY,
            "--kind",
            kind,
            "--level",
            "labels",
            "--json",
        )
        assert graphs[kind] == json.loads(cli.out)


def test_save_compiles_like_makepolicy_and_load_reports_like_loadpolicy(
    studio: Studio, tmp_path: Path
) -> None:
    doc = example(studio)
    files = studio.paths.policy_files(EXAMPLE_POLICY)
    before = Path(files.bin).read_bytes(), Path(files.map).read_bytes()
    op = {"op": "set_header", "field": "Reference", "value": "studio"}
    edited = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})
    saved = studio.ok("save", {"name": EXAMPLE_POLICY, "xml": edited["xml"]})
    assert saved["makepolicy"]["status"] == 0 and saved["saved"]
    assert saved["written"] == [files.xml, files.map, files.bin]
    assert Path(files.xml).read_text() == edited["xml"]
    assert (Path(files.bin).read_bytes(), Path(files.map).read_bytes()) == before
    cli = xm_run(studio.paths.root, "makepolicy", EXAMPLE_POLICY)
    assert (saved["makepolicy"]["stdout"], saved["makepolicy"]["stderr"]) == (cli.out, cli.err)
    digest = studio.ok("impact", {"name": EXAMPLE_POLICY})["digest"]
    no_confirmation = {"name": EXAMPLE_POLICY, "digest": digest}
    assert studio.post("load", no_confirmation).status_code == 400
    loaded = studio.ok("load", {**no_confirmation, "confirm": True})["loadpolicy"]
    cli = xm_run(studio.paths.root, "loadpolicy", EXAMPLE_POLICY)
    assert (loaded["stdout"], loaded["stderr"], loaded["status"]) == (cli.out, cli.err, cli.code)


def test_a_failed_compile_reports_what_makepolicy_reports(studio: Studio) -> None:
    doc = example(studio)
    bad = doc["xml"].replace(
        "<Type>cw_Sensitive</Type></ChineseWallTypes>", "<Type>cw_Nowhere</Type></ChineseWallTypes>"
    )
    files = studio.paths.policy_files(EXAMPLE_POLICY)
    before = [Path(f).read_bytes() for f in (files.xml, files.map, files.bin)]
    saved = studio.ok("save", {"name": EXAMPLE_POLICY, "xml": bad})
    assert not saved["saved"] and saved["written"] == []
    # nothing was written: the .xml still is the source of the .bin beside it
    assert [Path(f).read_bytes() for f in (files.xml, files.map, files.bin)] == before
    Path(files.xml).write_text(bad)
    cli = xm_run(studio.paths.root, "makepolicy", EXAMPLE_POLICY)
    assert saved["makepolicy"]["status"] == cli.code == 1
    assert saved["makepolicy"]["stderr"] == cli.err and "cw_Nowhere" in cli.err


def test_a_draft_never_replaces_the_compiled_policy_and_opens_again(studio: Studio) -> None:
    doc = example(studio)
    assert doc["draft"] is None
    files = studio.paths.policy_files(EXAMPLE_POLICY)
    before = [Path(f).read_bytes() for f in (files.xml, files.map, files.bin)]
    unfinished = doc["xml"].replace("</PolicyHeader>", "</PolicyHeader><Oops>")
    written = studio.ok("draft", {"name": EXAMPLE_POLICY, "xml": unfinished})["draft"]
    assert written.endswith("-security_policy.draft.xml")
    assert Path(written).read_text() == unfinished
    assert [Path(f).read_bytes() for f in (files.xml, files.map, files.bin)] == before
    assert studio.ok("policies")["policies"].count(EXAMPLE_POLICY) == 1
    reopened = example(studio)
    assert reopened["draft"]["file"] == written and reopened["xml"] == doc["xml"]
    draft = studio.ok("open", {"name": EXAMPLE_POLICY, "draft": True})
    assert draft["xml"] == unfinished and draft["outline"] is None
    assert draft["findings"][0]["code"] == "ACM001"
    # a save that compiles supersedes the draft
    assert studio.ok("save", {"name": EXAMPLE_POLICY, "xml": doc["xml"]})["saved"]
    assert not Path(written).exists() and example(studio)["draft"] is None


def test_a_load_is_of_exactly_the_previewed_policy(studio: Studio) -> None:
    doc = example(studio)
    preview = studio.ok("impact", {"name": EXAMPLE_POLICY})
    assert preview["loadable"] and len(preview["digest"]) == 64
    op = {"op": "add_type", "part": "STE", "name": "ste_Later"}
    edited = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})
    assert studio.ok("save", {"name": EXAMPLE_POLICY, "xml": edited["xml"]})["saved"]
    load = {"name": EXAMPLE_POLICY, "digest": preview["digest"], "confirm": True}
    resp = studio.post("load", load)
    assert resp.status_code == 422 and "since the preview" in resp.json()["error"]
    again = studio.ok("impact", {"name": EXAMPLE_POLICY})["digest"]
    assert again != preview["digest"]
    assert studio.ok("load", {**load, "digest": again})["loadpolicy"]["status"] == 0


def test_a_new_policy_is_the_empty_workload_generated(studio: Studio) -> None:
    new = studio.ok("new", {"name": "my.new", "date": "d"})
    wl = {"version": 1, "organizations": [], "rules": []}
    generated = studio.ok("generate", {"workload": wl, "name": "my.new", "date": "d"})
    assert new["xml"] == generated["xml"] and new["errors"] == 0 and new["outline"]


def test_diff_against_saved_and_active_with_impact(studio: Studio) -> None:
    doc = example(studio)
    op = {"op": "delete_label", "kind": "VM", "name": "dom_BoincClient"}
    edited = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})
    d = studio.ok("diff", {"name": EXAMPLE_POLICY, "xml": edited["xml"]})
    assert any("dom_BoincClient" in line for line in d["saved"])
    assert any("dom_BoincClient" in line for line in d["active"])
    assert d["impact"]["text"]


# ------------------------------------------------------------------ security


def test_missing_or_bad_token_is_403_and_changes_nothing(studio: Studio) -> None:
    files = studio.paths.policy_files(EXAMPLE_POLICY)
    before = Path(files.xml).read_bytes()
    for token in (None, "wrong"):
        headers = studio.headers()
        del headers["x-studio-token"]
        if token:
            headers["x-studio-token"] = token
        assert studio.client.get("/", headers=headers).status_code == 403
        resp = studio.client.post(
            "/api/save", json={"name": EXAMPLE_POLICY, "xml": "<x/>"}, headers=headers
        )
        assert resp.status_code == 403
    assert Path(files.xml).read_bytes() == before


def test_the_token_in_the_url_sets_a_cookie_for_the_next_requests(studio: Studio) -> None:
    first = studio.client.get(f"/?token={studio.config.token}")
    assert first.status_code == 200 and studio.config.csrf in first.text
    assert studio.client.get("/organizations").status_code == 200  # the cookie
    assert studio.client.get("/static/vendor/xm-vendor.js").status_code == 200


def test_post_without_csrf_or_from_another_origin_is_403(studio: Studio) -> None:
    files = studio.paths.policy_files(EXAMPLE_POLICY)
    before = Path(files.xml).read_bytes()
    doc = {"name": EXAMPLE_POLICY, "xml": "<x/>"}
    no_csrf = {k: v for k, v in studio.headers().items() if k != "x-csrf-token"}
    assert studio.client.post("/api/save", json=doc, headers=no_csrf).status_code == 403
    for origin in ("http://evil.example", None):
        headers = studio.headers()
        del headers["origin"]
        if origin:
            headers["origin"] = origin
        assert studio.client.post("/api/save", json=doc, headers=headers).status_code == 403
    assert (
        studio.client.get("/", headers={**studio.headers(), "host": "evil.example"}).status_code
        == 403
    )
    assert Path(files.xml).read_bytes() == before


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../b", "..", "a..b"])
def test_names_cannot_leave_the_policy_root(studio: Studio, name: str) -> None:
    for path in ("open", "save"):
        resp = studio.post(path, {"name": name, "xml": "<x/>"})
        assert resp.status_code in (400, 422), resp.text
    assert not (studio.paths.root / "etc" / "passwd").exists()


def test_a_symlink_out_of_the_policy_root_is_refused(studio: Studio, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x-security_policy.xml").write_text("<x/>")
    os.symlink(outside, studio.paths.policies / "out")
    resp = studio.post("open", {"name": "out.x"})
    assert resp.status_code == 400 and "outside" in resp.json()["error"]
    resp = studio.post("save", {"name": "out.y", "xml": "<x/>"})
    assert resp.status_code == 400 and not (outside / "y-security_policy.xml").exists()
    assert "out.x" not in studio.ok("policies")["policies"]


@pytest.mark.parametrize("config", ["../passwd", "/etc/passwd", "auto/../../x"])
def test_config_names_cannot_leave_etc_xen(studio: Studio, config: str) -> None:
    assert studio.post("explain", {"config": config}).status_code == 400


def test_an_upload_over_the_limit_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    HostPaths(root).seed_example()
    small = Studio(root, upload_limit=1000)
    body = b"<x>" + b" " * 2000 + b"</x>"
    resp = small.client.post(
        "/api/upload", content=body, headers=small.headers(**{"x-file-name": "a.xml"})
    )
    assert resp.status_code == 413


def test_an_upload_is_parsed_hardened(studio: Studio) -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    resp = studio.client.post(
        "/api/upload", content=evil, headers=studio.headers(**{"x-file-name": "evil.xml"})
    )
    doc = resp.json()
    assert resp.status_code == 200 and doc["outline"] is None
    assert [f["code"] for f in doc["findings"]] == ["ACM001"]


def test_other_methods_are_refused(studio: Studio) -> None:
    assert studio.client.put("/api/save", headers=studio.headers()).status_code == 403


# ------------------------------------------------------------------ organizations


def test_workload_edits_and_generation(studio: Studio) -> None:
    wl: dict[str, Any] = {"version": 1, "organizations": [], "rules": []}
    for op in (
        {"op": "add_organization", "name": "A-Bank"},
        {"op": "add_organization", "name": "B-Bank"},
        {"op": "add_department", "organization": "A-Bank", "name": "Trading"},
        {"op": "add_rule", "name": "banks", "selection": ["A-Bank", "B-Bank"]},
    ):
        wl = studio.ok("workload/edit", {"workload": wl, "op": op})["workload"]
    assert wl["rules"] == [{"name": "banks", "types": ["A-Bank", "B-Bank"]}]
    gen = studio.ok("generate", {"workload": wl, "name": "banks", "date": "today"})
    import json

    from acm.authoring.generate import generate_policy
    from acm.authoring.workload import WorkloadFormat, parse_workload

    expected = generate_policy(
        parse_workload(json.dumps(wl).encode(), WorkloadFormat.JSON), "banks", "today"
    )
    assert gen["xml"].encode() == expected.xml
    graph = studio.ok("graphs", {"xml": gen["xml"], "name": "banks"})["conflicts"]
    pairs = {(e["source"], e["target"]) for e in graph["edges"]}
    assert ("dom:A-Bank", "dom:B-Bank") in pairs and ("dom:B-Bank", "dom:A-Bank") in pairs
    text = studio.ok("workload/text", {"workload": wl})["text"]
    assert json.loads(text) == wl


def test_a_bad_workload_edit_is_a_finding(studio: Studio) -> None:
    wl = {"version": 1, "organizations": [{"name": "A", "departments": []}], "rules": []}
    resp = studio.post(
        "workload/edit", {"workload": wl, "op": {"op": "add_organization", "name": "A"}}
    )
    assert resp.status_code == 422 and resp.json()["findings"][0]["code"].startswith("WLD")


@pytest.mark.parametrize(
    "op",
    [
        {"op": "add_organization", "name": 5},
        {"op": "rename_rule", "index": 0, "name": None},
        {"op": "remove_from_rule", "index": 0, "types": None},
        {"op": "add_rule", "name": "R", "selection": "AB"},
        {"op": "delete_rule", "index": True},
        {"op": "delete_rule", "index": 1.5},
    ],
)
def test_a_workload_edit_with_arguments_of_the_wrong_type_is_a_bad_request(
    studio: Studio, op: dict[str, Any]
) -> None:
    wl = {
        "version": 1,
        "organizations": [{"name": "A", "departments": []}, {"name": "B", "departments": []}],
        "rules": [{"name": "R", "types": ["A", "B"]}],
    }
    resp = studio.post("workload/edit", {"workload": wl, "op": op})
    assert resp.status_code == 400, resp.text
    assert "must be" in resp.json()["error"]


def test_a_policy_that_is_a_fifo_is_refused_not_waited_on(studio: Studio) -> None:
    """Requests are answered one at a time: a FIFO read would stop the studio."""
    xml = Path(studio.paths.policy_files("h.fifo").xml)
    xml.parent.mkdir(parents=True)
    os.mkfifo(xml)

    def unblock() -> None:  # a read that waits on the FIFO ends (and fails the test), not hangs
        time.sleep(5)
        with contextlib.suppress(OSError):
            os.close(os.open(xml, os.O_WRONLY | os.O_NONBLOCK))

    threading.Thread(target=unblock, daemon=True).start()
    resp = studio.post("open", {"name": "h.fifo"})
    assert resp.status_code == 422, resp.text
    assert "is not a regular file (a FIFO)" in resp.json()["error"]


def test_the_impact_before_a_load_is_that_of_the_compiled_binary(studio: Studio) -> None:
    """A save whose compile failed leaves the old .bin: the impact shown before
    a load is that of the .bin that `xm loadpolicy` would load."""
    doc = example(studio)
    bad = doc["xml"].replace(
        "<Type>cw_Sensitive</Type></ChineseWallTypes>", "<Type>cw_Nowhere</Type></ChineseWallTypes>"
    )
    Path(studio.paths.policy_files(EXAMPLE_POLICY).xml).write_text(bad)
    impact = studio.ok("impact", {"name": EXAMPLE_POLICY})
    cli = xm_run(
        studio.paths.root,
        "acm",
        "diff",
        "--host",
        str(studio.paths.policy_files(EXAMPLE_POLICY).bin),
        str(studio.paths.policy_files(EXAMPLE_POLICY).bin),
    )
    assert impact["impact"]["loadable"] and cli.code == 0
    assert impact["impact"]["text"] == cli.lines[-len(impact["impact"]["text"]) :]
    assert not any("cw_Nowhere" in line for line in impact["active"])


def test_impact_without_a_compiled_policy_is_refused(studio: Studio) -> None:
    wl = {"version": 1, "organizations": [{"name": "A", "departments": []}], "rules": []}
    xml = studio.ok("generate", {"workload": wl, "name": "fresh", "date": "d"})["xml"]
    (studio.paths.policies / "fresh-security_policy.xml").write_text(xml)
    resp = studio.post("impact", {"name": "fresh"})
    assert resp.status_code == 422 and "makepolicy fresh" in resp.json()["error"]


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        (
            "w.json",
            '{"version": 1, "organizations": [{"name": "A", "departments": ["D"]}], "rules": []}',
        ),
        ("w.toml", 'version = 1\n[[organizations]]\nname = "A"\ndepartments = ["D"]\n'),
        ("w.wld", "ezpolicy = {'orgs': [['A', ['D']]], 'cons': []}\n"),
    ],
)
def test_a_workload_description_is_loaded_from_each_format(
    studio: Studio, filename: str, text: str
) -> None:
    resp = studio.client.post(
        "/api/workload/upload",
        content=text.encode(),
        headers=studio.headers(**{"x-file-name": filename}),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["workload"]["organizations"] == [{"name": "A", "departments": ["D"]}]


_NAME_ROOT = HostPaths(Path(__import__("tempfile").mkdtemp(prefix="studio-names-")) / "root")
_NAME_ROOT.policies.mkdir(parents=True)
_NAME_ROOT.etc_xen.mkdir(parents=True, exist_ok=True)
(_NAME_ROOT.etc_xen / "dom.cfg").write_text("name = 'x'\n")

name_text = st.lists(
    st.sampled_from([".", "/", "\\", "\0", "a", "b_", "-", "+", "~", " ", "\n", "..", "%2e"]),
    max_size=12,
).map("".join)


@given(name_text)
def test_no_policy_name_leads_outside_the_policy_root(name: str) -> None:
    from acm.errors import PolicyError
    from xm_core.errors import XmError
    from xm_core.web import services

    try:
        files = services.policy_files(_NAME_ROOT, name)
    except (PolicyError, XmError):
        return
    root = _NAME_ROOT.policies.resolve()
    for file in (files.xml, files.map, files.bin):
        assert Path(file).resolve().is_relative_to(root)


@given(name_text)
def test_no_config_name_leads_outside_etc_xen(name: str) -> None:
    from xm_core.errors import XmError
    from xm_core.web import services

    try:
        path = services.config_file(_NAME_ROOT, name)
    except XmError:
        return
    assert Path(path).resolve().is_relative_to(_NAME_ROOT.etc_xen.resolve())


def test_the_vendored_bundle_is_the_recorded_one() -> None:
    """The one vendored script is the build of the pinned npm packages
    (xm_core/web/bundle): its digest and each package's version recorded,
    each licence shipped beside it."""
    import hashlib
    import json

    web = Path(__file__).resolve().parent.parent / "xm_core" / "web"
    vendor = web / "static" / "vendor"
    record = (vendor / "xm-vendor.VERSIONS").read_text().splitlines()
    digest = hashlib.sha256((vendor / "xm-vendor.js").read_bytes()).hexdigest()
    assert record[0] == f"sha256 {digest}  xm-vendor.js"
    lock = json.loads((web / "bundle" / "package-lock.json").read_text())["packages"]
    bundled = {k[len("node_modules/") :]: v for k, v in lock.items() if k and not v.get("dev")}
    assert {line.split()[0]: line.split()[1] for line in record[1:]} == {
        name: p["version"] for name, p in bundled.items()
    }
    licences = (vendor / "xm-vendor.LICENSES").read_text()
    for name in ("@codemirror/view", "sigma", "graphology"):
        assert f"==== {name} {bundled[name]['version']}" in licences
    assert sorted(p.name for p in vendor.iterdir()) == [
        "xm-vendor.LICENSES",
        "xm-vendor.VERSIONS",
        "xm-vendor.js",
    ]


def test_pages_load_nothing_from_elsewhere(studio: Studio) -> None:
    import re

    for page in ("/", "/organizations"):
        resp = studio.client.get(page, headers=studio.headers())
        assert resp.status_code == 200
        assert "default-src 'self'" in resp.headers["content-security-policy"]
        assert not re.search(r'(src|href)="(https?:)?//', resp.text)


def test_allow_remote_answers_any_host_name_at_its_port_with_the_token(tmp_path: Path) -> None:
    from xm_core.web import allowed_hosts

    assert allowed_hosts("0.0.0.0", 8123, allow_remote=True) is None
    assert "localhost:8123" in (allowed_hosts("127.0.0.1", 8123, allow_remote=True) or set())
    config = StudioConfig(HostPaths(tmp_path / "root"), None, port=8123)
    client = TestClient(create_app(config))
    for host, status in (("xen-host.example.org:8123", 200), ("10.1.2.3:8123", 200), ("a:9", 403)):
        resp = client.get("/", headers={"host": host, "x-studio-token": config.token})
        assert resp.status_code == status, host
    assert client.get("/", headers={"host": "xen-host.example.org:8123"}).status_code == 403


def test_a_policy_name_that_does_not_match_its_place_is_acm018(studio: Studio) -> None:
    doc = example(studio)
    assert "ACM018" not in [f["code"] for f in doc["findings"]]
    moved = studio.ok("check", {"name": "example.chwall_ste.client_v2", "xml": doc["xml"]})
    cli = xm_run(studio.paths.root, "acm", "lint", studio.paths.policy_files(EXAMPLE_POLICY).xml)
    assert "ACM018" not in cli.out
    acm018 = [f for f in moved["findings"] if f["code"] == "ACM018"]
    assert len(acm018) == 1 and "expected 'example.chwall_ste.client_v2'" in acm018[0]["message"]


def _merged(held: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """What the page holds after an answer: whole, or what changed applied."""
    from collections import Counter

    findings = answer.get("findings")
    if findings is None:
        gone = Counter(answer["findings_delta"]["removed"])
        kept = []
        for f in held["findings"]:
            key = f"{f['code']}\x1f{f['line']}\x1f{f['column']}\x1f{f['message']}"
            if gone[key]:
                gone[key] -= 1
            else:
                kept.append(f)
        shift = answer["findings_delta"].get("shift") or {"after": 0, "by": 0}
        kept = [
            {**f, "line": f["line"] + shift["by"]} if f["line"] > shift["after"] else f
            for f in kept
        ]
        findings = kept + answer["findings_delta"]["added"]
        rank = {"error": 3, "warning": 2, "info": 1}
        findings.sort(key=lambda f: (f["line"], f["column"], -rank[f["severity"]], f["code"]))
    if "outline" in answer:
        outline = answer["outline"]
    else:
        outline = {**held["outline"], **answer["outline_delta"]["parts"]}
        outline["labels"] = list(outline["labels"])
        for i, row in answer["outline_delta"]["labels"].items():
            outline["labels"][int(i)] = row
        splice = answer["outline_delta"].get("splice")
        if splice is not None:
            by = answer["outline_delta"]["shift"]["by"]
            rows = outline["labels"]
            after = [_moved(r, by) for r in rows[splice["start"] + splice["delete"] :]]
            outline["labels"] = rows[: splice["start"]] + splice["insert"] + after
    return {"findings": findings, "outline": outline}


def _moved(row: dict[str, Any], by: int) -> dict[str, Any]:
    def group(g: dict[str, Any]) -> dict[str, Any]:
        return {**g, "line": g["line"] + by}

    return {
        **row,
        "line": row["line"] + by,
        "last_line": row["last_line"] + by,
        "ste": [group(g) for g in row["ste"]],
        "chwall": [group(g) for g in row["chwall"]],
    }


@pytest.mark.parametrize(
    "op",
    [
        {"op": "set_label_types", "kind": "VM", "name": "dom_Fun", "part": "CHWALL",
         "types": ["cw_Nowhere"]},
        {"op": "rename_label", "kind": "VM", "old": "dom_Fun", "new": "dom_Games"},
        {"op": "add_label", "kind": "RES", "name": "res_New"},
        {"op": "delete_type", "part": "STE", "name": "ste_DonatedCycles"},
        {"op": "set_header", "field": "PolicyName", "value": "other.name"},
    ],
)  # fmt: skip
def test_an_edit_answers_what_changed_and_that_is_the_whole_answer(
    studio: Studio, op: dict[str, Any]
) -> None:
    held = example(studio)
    answer = studio.ok(
        "edit", {"name": EXAMPLE_POLICY, "xml": held["xml"], "op": op, "since": held["digest"]}
    )
    change = answer["xml_change"]
    xml = held["xml"][: change["from"]] + change["insert"] + held["xml"][change["to"] :]
    whole = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": held["xml"], "op": op})
    assert xml == whole["xml"]
    assert _merged(held, answer) == {"findings": whole["findings"], "outline": whole["outline"]}
    assert "xml" not in answer and "outline_delta" in answer
    # typing on from there: a check answers against the edit's answer
    typed = xml.replace("<Date>", "<Date>x", 1)
    checked = studio.ok("check", {"name": EXAMPLE_POLICY, "xml": typed, "since": answer["digest"]})
    full = studio.ok("check", {"name": EXAMPLE_POLICY, "xml": typed})
    assert _merged(_merged(held, answer), checked) == {
        "findings": full["findings"], "outline": full["outline"]
    }  # fmt: skip


def test_an_answer_since_one_the_server_no_longer_knows_is_whole(studio: Studio) -> None:
    held = example(studio)
    answer = studio.ok("check", {"name": EXAMPLE_POLICY, "xml": held["xml"], "since": "0" * 64})
    assert answer["findings"] == held["findings"] and answer["outline"] == held["outline"]


def test_the_flask_export_is_what_xm_acm_flask_writes(studio: Studio, tmp_path: Path) -> None:
    doc = example(studio)
    answer = studio.ok("flask", {"name": EXAMPLE_POLICY, "xml": doc["xml"]})
    out = tmp_path / "flask"
    assert xm_run(studio.paths.root, "acm", "flask", EXAMPLE_POLICY, "-o", str(out)).code == 0
    written = {p.name: p.read_text() for p in out.iterdir()}
    assert sorted(answer["files"]) == sorted(written)
    # the same texts; the report names the file as the studio knows it
    where = studio.paths.policy_files(EXAMPLE_POLICY).xml
    for name, text in answer["files"].items():
        assert text == written[name].replace(where, f"{EXAMPLE_POLICY}-security_policy.xml"), name
    assert answer["module_name"] + ".te" in written


def test_the_load_preview_names_conflict_sets_as_loadpolicy_does(studio: Studio) -> None:
    doc = example(studio)
    op = {"op": "add_conflict_set", "name": "Walls", "types": ["cw_Isolated", "cw_Sensitive"]}
    edited = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})
    assert studio.ok("save", {"name": EXAMPLE_POLICY, "xml": edited["xml"]})["saved"]
    # the names written beside the .map, as makepolicy writes them
    names = studio.paths.policy_files(EXAMPLE_POLICY).set_names.read_bytes()
    assert b"Walls".hex().encode() in names and b"Protection1".hex().encode() in names
    preview = "\n".join(studio.ok("impact", {"name": EXAMPLE_POLICY})["active"])
    assert "Walls" in preview and "#1" not in preview
    # renamed and saved again: the new name, never the old side file's
    renamed = studio.ok(
        "edit",
        {"name": EXAMPLE_POLICY, "xml": edited["xml"],
         "op": {"op": "set_conflict_set", "index": 1, "name": "Moat"}},
    )  # fmt: skip
    assert studio.ok("save", {"name": EXAMPLE_POLICY, "xml": renamed["xml"]})["saved"]
    preview = "\n".join(studio.ok("impact", {"name": EXAMPLE_POLICY})["active"])
    assert "Moat" in preview and "Walls" not in preview


def test_a_preview_binds_its_way_of_loading(studio: Studio) -> None:
    keep = studio.ok("impact", {"name": EXAMPLE_POLICY, "keep_ssidrefs": True})
    plain = studio.ok("impact", {"name": EXAMPLE_POLICY})
    assert keep["digest"] != plain["digest"]
    load = {"name": EXAMPLE_POLICY, "confirm": True, "digest": keep["digest"]}
    assert studio.post("load", load).status_code == 422  # previewed with, loaded without
    assert studio.ok("load", {**load, "keep_ssidrefs": True})["loadpolicy"]["status"] == 0


def test_the_update_preview_is_xm_setpolicy_dry_run(studio: Studio) -> None:
    answer = studio.ok("update-preview", {"name": EXAMPLE_POLICY})["setpolicy"]
    cli = xm_run(studio.paths.root, "setpolicy", "--dry-run", "ACM", EXAMPLE_POLICY)
    assert (answer["stdout"], answer["stderr"], answer["status"]) == (cli.out, cli.err, cli.code)
    assert "dry run, nothing changed" in answer["stdout"]


def test_an_open_without_checks_sends_the_outline_and_asks_for_them(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xm_core.web import services

    monkeypatch.setattr(services, "_CHECKED", {})  # no answer of another test
    monkeypatch.setattr(services, "_TEXTS", {})
    quick = studio.ok("open", {"name": EXAMPLE_POLICY, "checked": False})
    assert quick["pending"] and "findings" not in quick and "complete" not in quick
    # its check names it instead of sending the text, and gets every finding
    # without the outline again
    since = {"name": EXAMPLE_POLICY, "since": quick["digest"]}
    same = {"from": 0, "to": 0, "insert": ""}
    checked = studio.ok("check", {**since, "xml_change": same})
    full = example(studio)
    assert quick["outline"] == full["outline"] and quick["xml"] == full["xml"]
    assert checked["outline_delta"] == {"parts": {}, "labels": {}}
    assert checked["findings"] == full["findings"] and checked["errors"] == full["errors"]
    assert checked["complete"] and checked["digest"] == full["digest"]


def test_a_check_of_an_opened_policy_is_never_the_open_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outline held for an open is no answer of a check: a check without
    `since`, a full one, and one of an edit of it (not checked in parts:
    nothing is known of its labels) all get every finding."""
    from xm_core.web import services

    root = tmp_path / "root"
    loaded_host(root)
    for body in ({}, {"full": True}):
        monkeypatch.setattr(services, "_CHECKED", {})
        studio = Studio(root)
        quick = studio.ok("open", {"name": EXAMPLE_POLICY, "checked": False})
        whole = studio.ok("check", {"name": EXAMPLE_POLICY, "xml": quick["xml"], **body})
        assert whole["complete"] and whole["findings"] == example(studio)["findings"]
    monkeypatch.setattr(services, "_CHECKED", {})
    studio = Studio(root)
    quick = studio.ok("open", {"name": EXAMPLE_POLICY, "checked": False})
    xml = quick["xml"].replace("</PolicyName>", "</PolicyName>\n", 1)
    edited = studio.ok("check", {"name": EXAMPLE_POLICY, "xml": xml, "since": quick["digest"]})
    assert edited["complete"] and "findings" in edited


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("check", '{"xml": "<x>\\ud800</x>"}', "a lone surrogate (U+D800)"),
        ("workload/text", '{"workload": {}, "filename": "w\\udc00.json"}', "a lone surrogate"),
        ("save", '{"name": "a\\u0000b", "xml": "<x/>"}', "a NUL character (U+0000)"),
        ("explain", '{"config": "bank\\u0000"}', "a NUL character"),
    ],
)
def test_what_is_not_text_is_refused_as_a_bad_request(
    studio: Studio, path: str, body: str, says: str
) -> None:
    """JSON can carry a lone surrogate (no file or response can encode it)
    and NUL (no name or path can hold it): 400, never a server error."""
    resp = studio.client.post(
        f"/api/{path}",
        content=body.encode(),
        headers={**studio.headers(), "content-type": "application/json"},
    )
    assert resp.status_code == 400, resp.text
    assert says in resp.json()["error"]


def test_an_edit_with_a_list_where_a_name_belongs_is_refused(studio: Studio) -> None:
    doc = example(studio)
    op = {"op": "rename_label", "kind": ["VM"], "old": "dom_Fun", "new": "dom_X"}
    resp = studio.post("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})
    assert resp.status_code == 422
    assert resp.json()["findings"][0]["code"] == "EDIT001"
    assert "'kind' must be a string" in resp.json()["error"]


def test_the_load_preview_of_a_versioned_policy_refuses_as_loadpolicy_does(
    studio: Studio,
) -> None:
    """A versioned policy saved over a running 3.0.4 one: the preview reads
    its renames from the saved XML and refuses with loadpolicy's reason (it
    said the policy file did not exist)."""
    xml = example(studio)["xml"]
    bumped = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": xml, "op": {"op": "bump_version"}})
    assert studio.ok("save", {"name": EXAMPLE_POLICY, "xml": bumped["xml"]})["saved"]
    preview = studio.ok("impact", {"name": EXAMPLE_POLICY})
    cli = xm_run(studio.paths.root, "loadpolicy", EXAMPLE_POLICY)
    reason = "has no version, so no versioned policy can update it"
    assert cli.code == 1 and "ACM049" in cli.err and reason in cli.err
    assert not preview["loadable"]
    text = "\n".join(preview["impact"]["text"])
    assert reason in text and "does not exist" not in text
    # the edited, unsaved XML is what the diff's impact judges
    diff = studio.ok("diff", {"name": EXAMPLE_POLICY, "xml": bumped["xml"]})
    text = "\n".join(diff["impact"]["text"])
    assert reason in text and "does not exist" not in text


def test_an_edit_of_one_label_of_a_wide_policy_answers_with_what_changed_there(
    studio: Studio,
) -> None:
    from tests.hosttools import wide_policy

    xml = wide_policy(400)
    held = studio.ok("check", {"name": "wide", "xml": xml})
    assert held["complete"] is True
    op = {"op": "set_label_types", "kind": "VM", "name": "wall_b", "part": "STE",
          "types": ["ste_b", "ste_a", "undeclared"]}  # fmt: skip
    answer = studio.post("edit", {"name": "wide", "xml": xml, "op": op, "since": held["digest"]})
    assert answer.status_code == 200
    quick = answer.json()
    # only what changed, and said to be the quick check
    assert quick["complete"] is False and len(answer.content) < 2_000
    assert [f["code"] for f in quick["findings_delta"]["added"]] == ["ACM011"]
    assert quick["findings_delta"]["removed"] == []
    change = quick["xml_change"]
    edited = xml[: change["from"]] + change["insert"] + xml[change["to"] :]
    merged = _merged(held, quick)
    # every check on all of it (asked, or by saving) finds the bridge the
    # edit made elsewhere: res_between now shares ste_a with both walls
    bridge = [f for f in merged["findings"] if "'res_between' lets" in f["message"]]
    assert bridge == []
    everything = studio.ok(
        "check", {"name": "wide", "xml": edited, "since": quick["digest"], "full": True}
    )
    assert everything["complete"] is True
    merged = _merged(merged, everything)
    whole = studio.ok("check", {"name": "wide", "xml": edited})
    assert merged == {"findings": whole["findings"], "outline": whole["outline"]}
    assert [f for f in whole["findings"] if "'res_between' lets" in f["message"]] != []


def test_lines_added_by_an_edit_move_the_findings_below(studio: Studio) -> None:
    from tests.hosttools import wide_policy

    xml = wide_policy(50)
    held = studio.ok("check", {"name": "wide", "xml": xml})
    op = {"op": "add_label", "kind": "VM", "name": "vm_added"}
    quick = studio.ok("edit", {"name": "wide", "xml": xml, "op": op, "since": held["digest"]})
    assert quick["complete"] is False and quick["findings_delta"]["shift"]["by"] > 0
    change = quick["xml_change"]
    edited = xml[: change["from"]] + change["insert"] + xml[change["to"] :]
    whole = studio.ok("check", {"name": "wide", "xml": edited})
    merged = _merged(held, quick)
    assert merged["outline"] == whole["outline"]
    assert [f for f in merged["findings"] if f["code"] != "ACM030"] == [
        f for f in whole["findings"] if f["code"] != "ACM030"
    ]


def test_a_page_may_send_what_it_changed_instead_of_the_whole_text(studio: Studio) -> None:
    held = example(studio)
    xml = held["xml"]
    at = xml.index("<Date>") + len("<Date>")
    change = {"from": at, "to": at, "insert": "x"}
    sent = studio.ok(
        "check", {"name": EXAMPLE_POLICY, "since": held["digest"], "xml_change": change}
    )
    whole = studio.ok(
        "check", {"name": EXAMPLE_POLICY, "since": held["digest"], "xml": xml[:at] + "x" + xml[at:]}
    )
    assert sent == whole
    edited = studio.ok(
        "edit",
        {"name": EXAMPLE_POLICY, "since": held["digest"], "op": {"op": "bump_version"},
         "xml_change": {"from": 0, "to": 0, "insert": ""}},
    )  # fmt: skip
    assert "<Version>1.0</Version" in edited["xml_change"]["insert"]
    # the text of an answer the studio no longer holds: 409, the page sends it whole
    unknown = {"name": EXAMPLE_POLICY, "since": "0" * 64, "xml_change": change}
    assert studio.post("check", unknown).status_code == 409
    outside = {"from": 0, "to": len(xml) + 5, "insert": ""}
    bad = studio.post(
        "check", {"name": EXAMPLE_POLICY, "since": held["digest"], "xml_change": outside}
    )
    assert bad.status_code == 400


def test_graph_cache_is_bounded_by_nodes_and_edges() -> None:
    import networkx as nx

    from xm_core.web.graphview import ConflictLabels, GraphCache

    cache = GraphCache(budget=100)
    small = [ConflictLabels(nx.path_graph(10)) for _ in range(4)]  # 10 nodes + 9 edges each
    for i, graph in enumerate(small):
        cache.put((f"doc{i}", "flows"), graph)
    assert len(cache.graphs) == 4 and cache.size == 76  # small graphs: several kept
    assert cache.get(("doc0", "flows")) is small[0]  # used: now the most recent
    cache.put(
        ("doc4", "flows"), ConflictLabels(nx.path_graph(20))
    )  # 39 more: the least recent goes
    assert list(cache.graphs) == [
        ("doc2", "flows"),
        ("doc3", "flows"),
        ("doc0", "flows"),
        ("doc4", "flows"),
    ]
    assert cache.size == 96
    # a graph alone over the budget is kept, with the other graph of its
    # document, and evicts every other document's
    cache.put(("big", "conflicts"), ConflictLabels(nx.path_graph(5)))
    huge = ConflictLabels(nx.path_graph(200))
    cache.put(("big", "flows"), huge)
    assert list(cache.graphs) == [("big", "conflicts"), ("big", "flows")]
    assert cache.get(("big", "flows")) is huge and cache.size == 408
    # before an edit's graph is built, room is made for one as large as the
    # last of its kind: the huge one is never held twice
    cache.make_room(("edited", "flows"))
    assert list(cache.graphs) == []
    cache.put(("edited", "conflicts"), ConflictLabels(nx.path_graph(5)))
    cache.make_room(("edited", "flows"))  # its own document's graphs stay
    assert list(cache.graphs) == [("edited", "conflicts")]


def test_graph_views_of_an_edit_evict_the_last_documents_graphs(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xm_core.web import graphview

    doc = example(studio)
    cache = graphview.GraphCache(budget=1 << 30)
    monkeypatch.setattr(graphview, "_GRAPHS", cache)
    views = {}
    for kind in ("conflicts", "flows"):
        views[kind] = studio.ok("graph", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "kind": kind})
    sharing = cache.graphs[next(k for k in cache.graphs if k[1] == "flows")]
    cache.budget = sharing.size  # room for the sharing graph alone
    for kind in ("conflicts", "flows"):  # kept over the budget: the document asked last
        again = studio.ok("graph", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "kind": kind})
        assert again == views[kind]
    assert len(cache.graphs) == 2 and cache.size > cache.budget
    op = {"op": "set_header", "field": "Reference", "value": "studio"}
    edited = studio.ok("edit", {"name": EXAMPLE_POLICY, "xml": doc["xml"], "op": op})["xml"]
    view = studio.ok("graph", {"name": EXAMPLE_POLICY, "xml": edited, "kind": "flows"})
    assert view == views["flows"]  # the same graph, of another text
    # room was made for it before it was built: the first document's are gone
    assert [kind for _, kind in cache.graphs] == ["flows"]
    assert sharing.graph.number_of_nodes() == 0  # emptied when evicted
    assert cache.size == cache.budget


def _view_of_labels_graph(graph: Any, focus: str | None) -> dict[str, Any]:
    """The graph tab's view drawn straight from the analysis's networkx
    labels graph, made undirected as the studio makes it (what the studio
    drew before it kept the sharing graph as labels and types)."""
    from xm_core.web.graphview import FOCUS_EDGES, FULL_EDGES, FULL_NODES, _undirected

    graph = _undirected(graph)

    def node(n: str) -> dict[str, Any]:
        data = graph.nodes[n]
        return {"id": n, "name": data["name"], "kind": data["kind"], "bootstrap": data["bootstrap"]}

    def edge(u: str, v: str) -> dict[str, Any]:
        return {"source": u, "target": v, "types": graph[u][v].get("types") or graph[u][v]["via"]}

    size = {"total_nodes": graph.number_of_nodes(), "total_edges": graph.number_of_edges()}
    if focus is None:
        if size["total_nodes"] > FULL_NODES or size["total_edges"] > FULL_EDGES:
            return {"mode": "summary", **size}
        nodes, edges = [node(n) for n in graph], [edge(u, v) for u, v in graph.edges]
        return {"mode": "full", **size, "nodes": nodes, "edges": edges}
    centre = next(n for n in graph if graph.nodes[n]["name"] == focus)
    neighbours = sorted(graph[centre])
    edges = [edge(centre, n) for n in neighbours]
    among = [(n, m) for n in neighbours for m in graph[n] if m in set(neighbours) and n < m]
    return {
        "mode": "focus",
        **size,
        "focus": centre,
        "partial": len(among) > FOCUS_EDGES,
        "nodes": [node(centre), *(node(n) for n in neighbours)],
        "edges": edges + [edge(n, m) for n, m in among[:FOCUS_EDGES]],
    }


@pytest.mark.parametrize("labels", [20, 400])
def test_graph_views_are_those_of_the_labels_graph(studio: Studio, labels: int) -> None:
    from acm.analysis.graphs import policy_graph
    from tests.hosttools import wide_policy
    from xm_core.web.services import analysis_policy

    xml = wide_policy(labels)
    policy = analysis_policy(xml.encode(), "wide")
    for kind in ("conflicts", "flows"):
        graph = policy_graph(policy, kind, "labels").graph
        doc = {"name": "wide", "xml": xml, "kind": kind}
        assert studio.ok("graph", doc) == _view_of_labels_graph(graph, None)
        names = [d["name"] for _, d in graph.nodes(data=True)]
        for name in [*names[:3], *names[-3:], "wall_a", "res_between"]:
            if name in names:
                view = studio.ok("graph", {**doc, "focus": name})
                assert view == _view_of_labels_graph(graph, name)
