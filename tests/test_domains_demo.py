"""`xm demo` now runs the host part too: policy loaded, labeled domains,
a Chinese Wall denial explained, and `xm list --label`."""

from __future__ import annotations

from pathlib import Path

from tests.hosttools import xm_run


def test_demo_shows_the_chinese_wall(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    run = xm_run(root, "demo")
    assert run.code == 0, run.err
    text = run.out
    assert "$ xm loadpolicy example.chwall_ste.client_v1\n" in text
    assert "Started domain bank\n" in text and "Started domain boinc\n" in text
    assert (
        "Error: \"Permission denied: Chinese Wall conflict in type 'cw_Distrusted' "
        "(conflict set Protection1) with running domain 'bank' (id 1)\"" in text
    )
    assert "(XEN) chwall_pre_domain_create: CHINESE WALL CONFLICT in type 03." in text
    listing = text[text.index("$ xm list --label") :].splitlines()[1:]
    assert [line.split()[0] for line in listing] == ["Name", "boinc", "bank", "Domain-0"]
    assert listing[1].endswith(" dom_BoincClient")
