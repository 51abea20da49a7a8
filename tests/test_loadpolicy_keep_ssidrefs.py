"""`xm loadpolicy [--keep-ssidrefs]` of a policy whose labels were
renumbered (tests/data/host/renum_v1 and renum_v2: vm_b and vm_free swap
SSIDs), and the counters every successful load leaves: those of Xen's
`chwall_init_state` walk."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.hosttools import HOST_DATA, snapshot, xm_run
from tests.policygen import examples
from tests.test_engine_walk import xen_init_state
from xm_core.files.paths import HostPaths
from xm_core.host.domains import CreateDenied, create_domain, destroy_domain
from xm_core.host.model import Host, PolicyLoadRefused, load_policy

V1, V2 = "renum.v1", "renum.v2"
# SSIDs (both halves) under renum.v1; renum.v2 swaps vm_free and vm_b
SSIDREFS_V1 = {"sys": 0x00010001, "vm_a": 0x00020002, "vm_free": 0x00030003, "vm_b": 0x00040004}
MOVED = (
    "label 'vm_free' moved from ssidref 0x00030003 to 0x00040004; running domains keep "
    "their ssidref (--keep-ssidrefs keeps 0x00030003, which reads as label 'vm_b')"
)
CONFLICT = (
    "domain 'f' (id 2): Chinese Wall conflict in type(s) cw_b (conflict set ab) with the "
    "domains started before it"
)


def renum_host(root: Path, *names: str) -> HostPaths:
    """A root with the renum policies compiled (and the first one loaded)."""
    paths = HostPaths(root)
    for name in names:
        xml = Path(paths.policy_files(name).xml)
        xml.parent.mkdir(parents=True, exist_ok=True)
        stem = name.replace(".", "_")
        xml.write_bytes((HOST_DATA / f"{stem}-security_policy.xml").read_bytes())
        assert xm_run(root, "makepolicy", name).code == 0
    assert xm_run(root, "loadpolicy", names[0]).code == 0
    return paths


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return renum_host(tmp_path / "root", V1, V2).root


def start(root: Path, name: str, label: str) -> int:
    run = xm_run(
        root,
        "create",
        "/dev/null",
        f"name={name}",
        f"access_control=['policy=renum,label={label}']",
    )
    return run.code


def labels(root: Path) -> dict[str, str]:
    return {ln.split()[0]: ln.split()[-1] for ln in xm_run(root, "list", "--label").lines[1:]}


def counter_lines(root: Path) -> list[str]:
    dump = xm_run(root, "dumppolicy").lines
    i = dump.index("Running")
    return [dump[i + 1], dump[i + 4]]


def test_a_moved_label_is_refused_and_the_message_names_the_flag(root: Path) -> None:
    assert start(root, "a", "vm_a") == 0
    assert start(root, "f", "vm_free") == 0
    before = snapshot(HostPaths(root))
    run = xm_run(root, "loadpolicy", V2)
    assert run.code == 1
    assert run.err.splitlines() == [
        "Error: 'New policy conflicts with running domains. Policy load aborted.'",
        f"  domain 'f' (id 2): {MOVED}",
        f"  {CONFLICT}",
    ]
    assert snapshot(HostPaths(root)) == before


def test_keep_ssidrefs_rechecks_under_the_new_reading(root: Path) -> None:
    assert start(root, "a", "vm_a") == 0
    assert start(root, "f", "vm_free") == 0
    before = snapshot(HostPaths(root))
    run = xm_run(root, "loadpolicy", "--keep-ssidrefs", V2)
    assert run.code == 1
    # f keeps 0x00030003, which is vm_b in renum.v2: vm_b and vm_a conflict
    assert run.err.splitlines() == [
        "Error: 'New policy conflicts with running domains. Policy load aborted.'",
        f"  {CONFLICT}",
        "  note: domain 'f' (id 2) keeps ssidref 0x00030003, which reads as label 'vm_b' "
        "(was 'vm_free')",
    ]
    assert snapshot(HostPaths(root)) == before
    doc = json.loads(xm_run(root, "loadpolicy", "--keep-ssidrefs", "--json", V2).out)
    assert doc["loaded"] is False and doc["keep_ssidrefs"] is True
    assert [(v["kind"], v["domid"]) for v in doc["violations"]] == [("chwall", 2)]
    assert "chwall_set_policy: New policy conflicts" in xm_run(root, "dmesg").out


def test_keep_ssidrefs_loads_and_the_domain_takes_the_new_label(root: Path) -> None:
    assert start(root, "f", "vm_free") == 0
    assert xm_run(root, "loadpolicy", V2).code == 1
    run = xm_run(root, "loadpolicy", "--keep-ssidrefs", V2)
    assert run.code == 0, run.err
    assert (
        run.out
        == "Domain 'f' (id 1) keeps ssidref 0x00030003: label 'vm_free' is now label 'vm_b'\n"
    )
    assert labels(root) == {"Domain-0": "sys", "f": "vm_b"}
    assert '"ssidref": 196611' in xm_run(root, "list", "--json").out  # 0x00030003 kept
    # Domain-0 cw_sys and f cw_b run; cw_b's conflict set blocks cw_a
    assert counter_lines(root) == ["Types:         01 00 01 00 ", "Aggregate Set: 00 01 00 00 "]
    assert "WARNING Domain f (id 1) keeps ssidref 0x00030003: label vm_free -> vm_b" in (
        xm_run(root, "log").out
    )
    # the new reading is enforced: vm_a now conflicts with f
    assert start(root, "a", "vm_a") == 1
    assert start(root, "b2", "vm_free") == 0
    xm_run(root, "destroy", "f")
    assert start(root, "a", "vm_a") == 0


def test_keep_ssidrefs_json_and_nothing_to_relabel(root: Path) -> None:
    assert start(root, "a", "vm_a") == 0
    run = xm_run(root, "loadpolicy", "--keep-ssidrefs", "--json", V2)
    doc = json.loads(run.out)
    assert doc["loaded"] is True and doc["keep_ssidrefs"] is True and doc["relabeled"] == []
    assert doc["update"] is True and doc["previous"] == "renum"
    assert start(root, "f", "vm_free") == 0  # vm_free is 0x00040004 now
    run = xm_run(root, "loadpolicy", "--keep-ssidrefs", "--json", V1)
    doc = json.loads(run.out)
    assert doc["relabeled"] == [
        {
            "domid": 2,
            "name": "f",
            "ssidref": 0x00040004,
            "old_label": "vm_free",
            "new_label": "vm_b",
        }
    ]
    # under renum.v1 f's 0x00040004 reads as vm_b, which conflicts with vm_a (id 1)
    assert doc["loaded"] is False
    assert doc["violations"][0]["domid"] == 2


def test_an_update_must_keep_the_policy_parts(root: Path) -> None:
    paths = HostPaths(root)
    chwall_only = "renum.v3"
    xml = Path(paths.policy_files(chwall_only).xml)
    text = (HOST_DATA / "renum_v1-security_policy.xml").read_text()
    text = re.sub(r"<SimpleTypeEnforcement>.*?</SimpleTypeEnforcement>", "", text, flags=re.S)
    text = re.sub(r"<SimpleTypeEnforcementTypes>.*?</SimpleTypeEnforcementTypes>", "", text)
    xml.write_text(text)
    assert xm_run(root, "makepolicy", chwall_only).code == 0
    before = snapshot(paths)
    for flags in ([], ["--keep-ssidrefs"]):
        run = xm_run(root, "loadpolicy", *flags, chwall_only)
        assert run.code == 1
        assert run.err == (
            "Error: \"New policy 'renum' has parts CHWALL/NULL, the active one CHWALL/STE: "
            'the policy type of a running host cannot change"\n'
        )
    assert snapshot(paths) == before


def test_loadpolicy_help_names_the_flag(root: Path) -> None:
    run = xm_run(root, "loadpolicy", "--help")
    assert run.code == 0
    assert "--keep-ssidrefs" in run.out and "Xen 3.0.4" in run.out


# ------------------------------------------------------------------ properties


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> tuple[HostPaths, HostPaths]:
    """A: renum.v1 loaded, where the domains start; B: renum.v2 loaded, where
    the same ssidrefs are created again one by one."""
    base = tmp_path_factory.mktemp("keep")
    return renum_host(base / "a", V1, V2), renum_host(base / "b", V2)


def _clear(paths: HostPaths) -> None:
    with Host(paths) as host:
        names = [d.name for d in host.store.domains() if d.domid != 0]
    for name in names:
        destroy_domain(paths, name)


def _counters(paths: HostPaths) -> tuple[list[int], list[int]]:
    with Host(paths) as host:
        return host.store.chwall_counters(4)


def _xen_counters(paths: HostPaths) -> tuple[list[int], list[int], int | None]:
    """What Xen's walk leaves under the active policy for the running domains."""
    with Host(paths) as host:
        policy = host.policy()
        assert policy is not None
        doms = [(d.domid, d.ssidref) for d in host.store.domains()]
        return xen_init_state(policy.binary, doms)


# vm_a and vm_free run together under renum.v1 but not under renum.v2's
# reading of their numbers: drawn more often
ops = st.lists(
    st.tuples(
        st.sampled_from(["create", "create", "destroy"]),
        st.sampled_from(["vm_a", "vm_free", "vm_free", "vm_b", "sys"]),
    ),
    max_size=8,
)


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops, st.booleans())
@example([("create", "vm_a"), ("create", "vm_free")], True)  # refused under the new reading
@example([("create", "vm_free"), ("create", "vm_b")], True)  # both relabeled
@example([("create", "vm_a"), ("create", "vm_free")], False)  # a moved label
def test_keep_load_is_creating_the_same_domains_again(
    hosts: tuple[HostPaths, HostPaths], steps: list[tuple[str, str]], keep: bool
) -> None:
    a, b = hosts
    _clear(a)
    load_policy(a, V1)
    for i, (op, label) in enumerate(steps):
        with Host(a) as host:
            running = [d.name for d in host.store.domains() if d.domid != 0]
        if op == "create":
            with contextlib.suppress(CreateDenied):
                create_domain(
                    a, "/dev/null", [f"name=d{i}", f"access_control=['policy=renum,label={label}']"]
                )
        elif running:
            destroy_domain(a, running[i % len(running)])
    with Host(a) as host:
        kept = [(d.domid, d.ssidref) for d in host.store.domains() if d.domid != 0]
    before = snapshot(a)
    try:
        result = load_policy(a, V2, keep_ssidrefs=keep)
        loaded = True
    except PolicyLoadRefused as exc:
        result, loaded = exc.result, False
    event(f"keep={keep} loaded={loaded} relabeled={bool(result.relabeled)}")
    if not loaded:
        assert snapshot(a) == before
    else:  # with or without the flag: the counters Xen's walk leaves
        running, aggregate, stopped = _xen_counters(a)
        assert stopped is None and _counters(a) == (running, aggregate)
    if not keep:
        return
    _clear(b)
    with Host(b) as host:  # each kept ssidref read as B's label (configs name labels)
        policy = host.policy()
        assert policy is not None
        label_on_b = {ssidref: host.label_of(policy, ssidref) for _, ssidref in kept}
    first_denied = None
    for domid, ssidref in kept:  # store.domains() is in id order
        access = f"access_control=['policy=renum,label={label_on_b[ssidref]}']"
        try:
            create_domain(b, "/dev/null", [f"name=k{domid}", access])
        except CreateDenied:
            first_denied = domid
            break
    assert loaded == (first_denied is None)
    if loaded:
        assert _counters(a) == _counters(b)
        assert labels(a.root)["Domain-0"] == "sys"
        with Host(a) as host:
            policy = host.policy()
            assert policy is not None
            for d in host.store.domains():
                assert d.label == host.label_of(policy, d.ssidref)
    else:
        assert result.violations[0].domid == first_denied
