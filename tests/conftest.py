"""Shared fixtures. Tests that read ../shared skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# A shared 2-core CI machine is often loaded: time limits per example would
# make property tests fail for reasons that have nothing to do with the code.
settings.register_profile(
    "xm-acm", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("xm-acm")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
XEN_REF = SHARED / "ref" / "xen-3.0.4"
EXAMPLE_XML = REPO / "policies" / "example" / "chwall_ste" / "client_v1-security_policy.xml"
DATA = Path(__file__).resolve().parent / "data"


def need_shared() -> Path:
    if not XEN_REF.is_dir():
        pytest.skip("../shared/ref/xen-3.0.4 is not beside this checkout (Xen reference data)")
    return XEN_REF


@pytest.fixture
def xen_ref() -> Path:
    return need_shared()


@pytest.fixture
def host_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh host root seeded with the example policy; XM_ROOT points at it."""
    from xm_core.files.paths import HostPaths

    root = tmp_path / "root"
    root.mkdir()
    HostPaths(root).seed_example()
    monkeypatch.setenv("XM_ROOT", str(root))
    return root


@pytest.fixture(autouse=True)
def _no_user_root(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never touch the real per-user root or /etc/xen from a test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    if "XM_ROOT" in os.environ:
        monkeypatch.delenv("XM_ROOT")


# The fleet tests' throwaway PostgreSQL server (one per session, shared by
# every module that uses it) and their store parametrisation.
from tests.fleet_support import postgres, store_url  # noqa: E402, F401
