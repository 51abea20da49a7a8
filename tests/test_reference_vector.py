"""Byte-for-byte agreement with Xen 3.0.4's compiler."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_XML, REPO

GOLDEN = Path(__file__).resolve().parent / "golden"


def _xm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xm_core", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(cwd / "home")},
    )


def test_xen_reference_vector_is_reproduced(xen_ref: Path, tmp_path: Path) -> None:
    shutil.copytree(xen_ref / "policies", tmp_path / "pol")
    proc = _xm("makepolicy", "-d", "pol", "example.chwall_ste.client_v1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    vec = xen_ref / "vectors" / "example" / "chwall_ste"
    out = tmp_path / "pol" / "example" / "chwall_ste"
    assert (out / "client_v1.bin").read_bytes() == (vec / "client_v1.bin").read_bytes()
    assert (out / "client_v1.map").read_bytes() == (vec / "client_v1.map").read_bytes()


@pytest.mark.parametrize(
    "policy",
    [
        "example.chwall_ste.client_v1",
        "golden.ste_only",
        "golden.chwall_only",
        "golden.multi_group",
        "golden.neither",
    ],
)
def test_golden_files(policy: str, tmp_path: Path) -> None:
    """Our own golden files, so the suite checks output from a clone alone.
    The example's `.bin` is also Xen's reference vector (same policy content)."""
    pol = tmp_path / "pol"
    rel = policy.replace(".", "/")
    src = (
        EXAMPLE_XML
        if policy.startswith("example")
        else GOLDEN / f"{policy.split('.')[1]}-security_policy.xml"
    )
    (pol / rel).parent.mkdir(parents=True)
    shutil.copy(src, pol / f"{rel}-security_policy.xml")
    proc = _xm("makepolicy", "-d", "pol", policy, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stem = (
        policy.rsplit(".", 1)[1] if policy.startswith("golden") else "example.chwall_ste.client_v1"
    )
    assert (pol / f"{rel}.bin").read_bytes() == (GOLDEN / f"{stem}.bin").read_bytes()
    assert (pol / f"{rel}.map").read_bytes() == (GOLDEN / f"{stem}.map").read_bytes()
