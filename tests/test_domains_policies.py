"""The host model under policies with one part only: Chinese Wall alone
(NULL secondary) and STE alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hosttools import label_resources, xm_run
from xm_core.files.paths import HostPaths

GOLDEN = Path(__file__).resolve().parent / "golden"


def _root_with(tmp_path: Path, name: str) -> Path:
    paths = HostPaths(tmp_path / "root")
    xml = Path(paths.policy_files(name).xml)
    xml.parent.mkdir(parents=True)
    stem = name.split(".")[-1]
    xml.write_bytes((GOLDEN / f"{stem}-security_policy.xml").read_bytes())
    assert xm_run(paths.root, "makepolicy", name).code == 0
    assert xm_run(paths.root, "loadpolicy", name).code == 0
    return paths.root


def _create(root: Path, name: str, policy: str, label: str, *extra: str) -> tuple[int, str]:
    run = xm_run(
        root, "create", "/dev/null", f"name={name}",
        f"access_control=['policy={policy},label={label}']", *extra,
    )  # fmt: skip
    return run.code, run.err


@pytest.fixture
def chwall_root(tmp_path: Path) -> Path:
    return _root_with(tmp_path, "golden.chwall_only")


@pytest.fixture
def ste_root(tmp_path: Path) -> Path:
    return _root_with(tmp_path, "golden.ste_only")


def test_chwall_only(chwall_root: Path) -> None:
    p = "golden.chwall_only"
    lines = xm_run(chwall_root, "list", "--label").lines
    assert lines[1].endswith(" mgmt")
    assert xm_run(chwall_root, "list", "--json").out.count('"ssidref": 1') == 1
    # no STE part: disks are not checked, not even unlabeled ones
    assert _create(chwall_root, "a", p, "alpha", "disk=['file:/img/a.img,xvda,w']")[0] == 0
    code, err = _create(chwall_root, "bg", p, "beta_gamma")
    assert code == 1
    assert "Chinese Wall conflict in type 'cw_b' (conflict set ab)" in err
    assert "type cw_c is in conflict set c-set 1 {cw_a, cw_c, cw_d}" in err
    dump = xm_run(chwall_root, "dumppolicy").out
    assert "Secondary = NULL (c=0, off=" in dump
    assert dump.endswith("Secondary policy is NULL Policy (n/a).\n")
    assert "STE-Policy" not in dump
    assert "Aggregate Set: 00 00 01 01 01 \n" in dump


def test_ste_only(ste_root: Path) -> None:
    p = "golden.ste_only"
    paths = HostPaths(ste_root)
    label_resources(paths, {"phy:/dev/sdr": (p, "disk_red"), "phy:/dev/sdb": (p, "disk_blue")})
    assert _create(ste_root, "web", p, "web", "disk=['phy:sdr,xvda,w']")[0] == 0
    code, err = _create(ste_root, "web2", p, "web", "disk=['phy:sdb,xvda,w']")
    assert code == 1
    assert "because label 'disk_blue' is not allowed" in err
    assert _create(ste_root, "db", p, "db", "disk=['phy:sdb,xvda,w']")[0] == 0
    unlabeled = xm_run(ste_root, "create", "/dev/null", "name=x")
    assert unlabeled.err == "Error: 'Domain not labeled'\n"
    labels = [ln.split()[-1] for ln in xm_run(ste_root, "list", "--label").lines[1:]]
    assert labels == ["db", "system", "web"]
    dump = xm_run(ste_root, "dumppolicy").out
    assert "Primary   = SIMPLE TYPE ENFORCEMENT (c=2, off=38)." in dump
    assert "ste: event_channel eval_count      = 2\n" in dump
