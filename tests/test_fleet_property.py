"""Property: the fleet decides what the host decides. For any set of
domains running on a host, placement takes the host exactly when the
host's own `xm dry-run` passes the domain, and a Chinese Wall refusal
names exactly the running domains the host's explanation names."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fleet_support import config, make_host

LABELS = ("dom_BankA", "dom_BankB", "dom_Hospital")


@pytest.fixture(scope="module")
def one_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_host(tmp_path_factory.mktemp("prop") / "h1", memory=65536, cpus=8)


@settings(max_examples=25)
@given(running=st.lists(st.sampled_from(LABELS), max_size=4), new=st.sampled_from(LABELS))
def test_placement_agrees_with_the_hosts_dry_run(
    one_host: Path, tmp_path_factory: pytest.TempPathFactory, running: list[str], new: str
) -> None:
    from xm_core.errors import XmError
    from xm_core.files.paths import HostPaths
    from xm_core.fleet.operations import add_host, place
    from xm_core.fleet.store import FleetStore
    from xm_core.host.domains import create_domain, destroy_domain, dry_run, list_domains

    paths = HostPaths(one_host)
    folder = tmp_path_factory.mktemp("cfg")
    for listed in list_domains(paths).domains:
        if listed.record.domid != 0:
            destroy_domain(paths, listed.record.name)
    for i, label in enumerate(running):
        with contextlib.suppress(XmError):  # the host refused it: it does not run
            create_domain(paths, str(config(folder, f"d{i}", label)))
    cfg = str(config(folder, "new", new))
    with FleetStore.init(str(folder / "fleet.sqlite")) as store:
        add_host(store, "h1", str(one_host))
        (placement,) = place(store, cfg)
    host_says = dry_run(paths, cfg)
    assert (placement.chosen == "h1") == host_says.passed
    if not host_says.passed:
        (verdict,) = placement.refused
        (refusal,) = verdict.refusals
        assert refusal.rule == "chinese-wall"
        assert list(refusal.details) == host_says.chwall_lines
