"""Through the host model (store, create, destroy, reboot, loadpolicy with and
without --keep-ssidrefs): the stored Chinese Wall counters always equal
those recomputed from the running domains."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hosttools import loaded_host
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths
from xm_core.host.domains import CreateDenied, create_domain, destroy_domain, reboot_domains
from xm_core.host.model import Host, load_policy

LABELS = ["dom_HomeBanking", "dom_Fun", "dom_BoincClient", "dom_StorageDomain"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> HostPaths:
    return loaded_host(tmp_path_factory.mktemp("counters") / "root")


def _check(paths: HostPaths) -> None:
    with Host(paths) as host:
        policy = host.policy()
        assert policy is not None
        stored = host.store.chwall_counters(4)
        expected = policy.engine.recompute_counters(d.ssidref for d in host.store.domains())
        assert stored == (expected.running, expected.aggregate)


ops = st.lists(
    st.tuples(st.sampled_from(["create", "destroy", "reboot", "load"]), st.integers(0, 100)),
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops)
def test_stored_counters_match_running_domains(
    paths: HostPaths, steps: list[tuple[str, int]]
) -> None:
    for op, arg in steps:
        with Host(paths) as host:
            running = [d.name for d in host.store.domains() if d.domid != 0]
        if op == "create":
            label = LABELS[arg % len(LABELS)]
            name = f"d{arg}x{len(running)}"
            if name in running:
                continue
            with contextlib.suppress(CreateDenied):  # a denial changes nothing
                create_domain(
                    paths, "/dev/null",
                    [f"name={name}", f"access_control=['policy={EXAMPLE_POLICY},label={label}']"],
                )  # fmt: skip
        elif op == "load":  # the same policy again: it always loads
            load_policy(paths, EXAMPLE_POLICY, keep_ssidrefs=arg % 2 == 1)
        elif running and op == "destroy":
            destroy_domain(paths, running[arg % len(running)])
        elif running:
            reboot_domains(paths, [running[arg % len(running)]])
        _check(paths)
