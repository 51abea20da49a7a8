"""The policy update of a running host (`xm_core.host.update`): labels
renamed and carried to running domains, the resource label file and domain
configs; removed labels refused while used; resources invalidated as Xen
3.4 did; every running domain re-checked with every violation listed; one
transaction or nothing; a kill after the commit finished by the next
command. The policies are of the versioned format (Xen 3.4), each update
naming the running version in FromPolicy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from tests.lifecycle_support import PolicySpec, snapshot, write_config
from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.host.update.apply import reset_policy, set_policy
from xm_core.host.update.plan import UpdateRefused

NAME = "lc.host"


def _paths(root: Path) -> HostPaths:
    return HostPaths(root)


def _running_version(paths: HostPaths) -> str | None:
    from xm_core.host.model import Host

    with Host(paths) as host:
        version = host.store.active_extra().get("version")
    return None if version is None else str(version)


def _set(
    paths: HostPaths, spec: PolicySpec, renames: dict[str, str] | None = None, res: bool = True
) -> None:
    """Set `spec` as the next version of the running policy, renaming
    (old -> new) VM labels and, with `res`, resource labels alike."""
    running = _running_version(paths)
    if spec.version is None:
        spec.version = "1.0"
        if running is not None:
            major, _, minor = running.partition(".")
            spec.version = f"{major}.{int(minor) + 1}"
            spec.from_policy = (NAME, running)
    inverse = {new: old for old, new in (renames or {}).items()}
    spec.vm_from = {k: v for k, v in inverse.items() if k in spec.vm}
    spec.res_from = {k: v for k, v in inverse.items() if k in spec.res} if res else {}
    spec.write(paths)
    set_policy(paths, spec.name, boot=False)


def _create(paths: HostPaths, name: str, label: str | None, disks: list[str] | None = None) -> None:
    from xm_core.host.domains import create_domain

    cfg = write_config(paths, name, NAME, label)
    if disks:
        with cfg.open("a") as f:
            f.write(f"disk = {disks!r}\n")
    create_domain(paths, str(cfg))


def _label(paths: HostPaths, res: str, label: str) -> None:
    from xm_core.host.labels import add_resource_label

    add_resource_label(paths, label, res, NAME)


def _domains(paths: HostPaths) -> dict[str, tuple[str | None, int]]:
    from xm_core.host.model import Host

    with Host(paths) as host:
        return {d.name: (d.label, d.ssidref) for d in host.store.domains()}


@pytest.fixture
def paths(tmp_path: Path) -> HostPaths:
    p = _paths(tmp_path / "root")
    p.root.mkdir()
    return p


def test_rename_new_label_and_removal_carry_to_everything(paths: HostPaths) -> None:
    _set(paths, PolicySpec(NAME))
    _label(paths, "phy:ram1", "green")
    _label(paths, "phy:ram2", "blue")
    _create(paths, "g1", "green", ["phy:ram1,hda1,w"])
    _create(paths, "r1", "red")
    before = _domains(paths)
    # v2: green is GREEN, new labels amber and banana sort before red, blue is gone
    v2 = PolicySpec(
        NAME, vm=["amber", "banana", "red", "GREEN"], res=["amber", "red", "GREEN"], conflicts=[]
    )
    v2.type_of = {"GREEN": "green"}
    _set(paths, v2, {"green": "GREEN"})

    after = _domains(paths)
    assert set(after) == {"Domain-0", "g1", "r1"}  # nobody was stopped
    assert after["g1"][0] == "GREEN" and after["r1"][0] == "red"
    assert after["r1"][1] != before["r1"][1]  # 'amber' moved red's ssidref ...
    from xm_core.host.model import Host

    with Host(paths) as host:
        policy = host.policy()
        assert policy is not None
        assert host.dom_ssidref(policy, "red") == after["r1"][1]  # ... to red's new one
    from xm_core.files.resources import read_resource_labels

    labels = read_resource_labels(paths.resource_labels)
    assert labels["phy:/dev/ram1"] == (NAME, "GREEN")
    assert labels["phy:/dev/ram2"] == ("INV_ACM:" + NAME, "blue")
    assert "label=GREEN" in (paths.etc_xen / "g1.cfg").read_text()
    assert (
        "#access_control = ['policy=lc.host,label=green']" in (paths.etc_xen / "g1.cfg").read_text()
    )
    # an invalidated resource is refused as an unlabeled one
    with pytest.raises(XmError, match="ram2"):
        _create(paths, "r2", "red", ["phy:ram2,hda1,w"])


def test_refused_update_lists_every_violation_and_changes_nothing(paths: HostPaths) -> None:
    _set(paths, PolicySpec(NAME))
    _label(paths, "phy:ram1", "green")
    _create(paths, "g1", "green", ["phy:ram1,hda1,w"])
    _create(paths, "r1", "red")
    before = snapshot(paths)
    # green joins red in a conflict set, the green disk changes type, blue label removed
    # green joins red in a conflict set; the green resource label is gone (INV_ACM)
    bad = PolicySpec(NAME, conflicts=[["red", "green"]], res=["red", "blue"])
    with pytest.raises(UpdateRefused) as caught:
        _set(paths, bad)
    messages = [v.message for v in caught.value.plan.violations]
    assert any("[chwall]" in m and "'r1'" in m and "label 'red'" in m for m in messages), messages
    assert any("[resource]" in m and "ram1" in m and "INV_ACM" in m for m in messages), messages
    assert len(messages) >= 2
    assert snapshot(paths) == before


def test_removed_label_in_use_is_refused(paths: HostPaths) -> None:
    _set(paths, PolicySpec(NAME))
    _create(paths, "b1", "blue")
    before = snapshot(paths)
    with pytest.raises(UpdateRefused) as caught:
        _set(paths, PolicySpec(NAME, vm=["red", "green"]))
    (v,) = caught.value.plan.violations
    assert "'b1'" in v.message and "label 'blue'" in v.message and "removed" in v.message
    assert snapshot(paths) == before


def test_a_rename_from_a_label_the_running_policy_lacks_is_refused(paths: HostPaths) -> None:
    _set(paths, PolicySpec(NAME))
    before = snapshot(paths)
    with pytest.raises(XmError, match="The label is bad") as caught:
        _set(paths, PolicySpec(NAME, vm=["red", "green", "cyan"]), {"purple": "cyan"})
    assert "ACM050" in caught.value.details[0]
    assert snapshot(paths) == before


@pytest.mark.parametrize(
    ("from_policy", "version", "why"),
    [
        (None, "1.1", "no FromPolicy"),
        (("lc.other", "1.0"), "1.1", "FromPolicy names policy 'lc.other'"),
        ((NAME, "0.9"), "1.1", "FromPolicy names version 0.9"),
        ((NAME, "1.0"), "1.0", "not newer"),
        ((NAME, "1.0"), "0.5", "not newer"),
    ],
)
def test_the_version_check(
    paths: HostPaths, from_policy: tuple[str, str] | None, version: str, why: str
) -> None:
    _set(paths, PolicySpec(NAME))  # version 1.0
    before = snapshot(paths)
    spec = PolicySpec(NAME, version=version, from_policy=from_policy)
    with pytest.raises(XmError, match="The version of the policy prevents an update") as caught:
        _set(paths, spec)
    assert why in caught.value.message
    assert snapshot(paths) == before


def test_a_policy_of_another_name_follows_through_from_policy(paths: HostPaths) -> None:
    """xm-test 10: xm-test-update replaces xm-test, naming it in FromPolicy."""
    _set(paths, PolicySpec(NAME))
    _create(paths, "g1", "green")
    other = PolicySpec("lc.next", version="1.1", from_policy=(NAME, "1.0"))
    _set(paths, other)
    assert _domains(paths)["g1"][0] == "green"
    from xm_core.host.model import Host

    with Host(paths) as host:
        assert host.store.find_domain("g1").policy == "lc.next"  # type: ignore[union-attr]


def test_resetpolicy_refuses_while_guests_run_then_invalidates(paths: HostPaths) -> None:
    _set(paths, PolicySpec(NAME))
    _label(paths, "phy:ram1", "green")
    _create(paths, "g1", "green")
    before = snapshot(paths)
    with pytest.raises(XmError, match="Try to halt all guests"):
        reset_policy(paths)
    assert snapshot(paths) == before
    from xm_core.host.domains import destroy_domain

    destroy_domain(paths, "g1")
    result = reset_policy(paths)
    assert result.invalidated == ["phy:/dev/ram1"]
    from xm_core.host.labels import get_resource_label

    got = get_resource_label(paths, "phy:ram1")
    assert (got.policy, got.label, got.xen34) == ("INV_ACM:" + NAME, "green", True)


# ------------------------------------------------------------------ properties

RENAMES = st.dictionaries(
    st.sampled_from(["red", "green", "blue"]),
    st.sampled_from(["RED", "GREEN", "BLUE", "violet"]),
    max_size=3,
).filter(lambda m: len(set(m.values())) == len(m))


def _renamed(spec: PolicySpec, renames: dict[str, str]) -> PolicySpec:
    """`spec` with labels renamed (types kept, so decisions stay)."""
    type_of = {renames.get(k, k): spec.t(k) for k in set(spec.vm) | set(spec.res)}
    return PolicySpec(
        spec.name,
        [renames.get(v, v) for v in spec.vm],
        [renames.get(r, r) for r in spec.res],
        [list(c) for c in spec.conflicts],
        type_of=type_of,
    )


_SLOW = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SLOW
@given(renames=RENAMES, running=st.lists(st.sampled_from(["red", "green"]), max_size=3))
def test_an_update_then_its_inverse_gives_the_original_state(
    tmp_path_factory: pytest.TempPathFactory, renames: dict[str, str], running: list[str]
) -> None:
    paths = _paths(tmp_path_factory.mktemp("inv") / "root")
    paths.root.mkdir()
    v1 = PolicySpec(NAME)
    _set(paths, v1)
    _label(paths, "phy:ram1", "green")
    _label(paths, "phy:ram2", "blue")
    for i, colour in enumerate(running):
        _create(paths, f"d{i}", colour)
    write_config(paths, "idle", NAME, "blue")
    original = snapshot(paths, with_generation=False)
    v1.version = None
    inverse = {new: old for old, new in renames.items()}
    _set(paths, _renamed(v1, renames), renames)
    v1.version = None
    _set(paths, v1, inverse)
    back = snapshot(paths, with_generation=False)
    assert back.domains == original.domains
    assert back.counters == original.counters
    assert back.resource_file == original.resource_file
    # the same policy (name and map); its .bin differs in version and hash only
    assert (back.policy[0], back.policy[1], back.policy[3]) == (
        original.policy[0],
        original.policy[1],
        original.policy[3],
    )
    # configs: the label reads as before (the old lines stay, commented out)
    from xm_core.files.config import config_text, declared_label

    for (name, data), (_, was) in zip(back.configs, original.configs, strict=True):
        assert declared_label(config_text(data, name), name) == declared_label(
            config_text(was, name), name
        )


@_SLOW
@given(renames=RENAMES, label=st.sampled_from(["red", "green", "blue"]))
def test_renames_commute_with_create(
    tmp_path_factory: pytest.TempPathFactory, renames: dict[str, str], label: str
) -> None:
    """Create, then update == update (which relabels the config), then create."""
    results = []
    for create_first in (True, False):
        paths = _paths(tmp_path_factory.mktemp("comm") / "root")
        paths.root.mkdir()
        v1 = PolicySpec(NAME)
        _set(paths, v1)
        cfg = write_config(paths, "dom", NAME, label)
        from xm_core.host.domains import create_domain

        if create_first:
            create_domain(paths, str(cfg))
        _set(paths, _renamed(v1, renames), renames, res=False)
        if not create_first:
            create_domain(paths, str(cfg))
        snap = snapshot(paths, with_generation=False)
        results.append((snap.domains, snap.counters))
    assert results[0] == results[1]


@_SLOW
@given(
    conflict=st.sampled_from([["red", "green"], ["green", "blue"], ["red", "green", "blue"]]),
    drop=st.sampled_from([None, "red", "green"]),
)
def test_a_refused_update_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, conflict: list[str], drop: str | None
) -> None:
    paths = _paths(tmp_path_factory.mktemp("ref") / "root")
    paths.root.mkdir()
    _set(paths, PolicySpec(NAME, conflicts=[]))
    _label(paths, "phy:ram1", "green")
    _create(paths, "r1", "red")
    _create(paths, "g1", "green", ["phy:ram1,hda1,w"])
    _create(paths, "b1", "blue")
    write_config(paths, "idle", NAME, "green")
    before = snapshot(paths)
    vm = [c for c in ("red", "green", "blue") if c != drop]
    new = PolicySpec(NAME, vm=vm, conflicts=[conflict])
    with pytest.raises(UpdateRefused):
        _set(paths, new)
    assert snapshot(paths) == before


# ------------------------------------------------------------------ kill -9


def _python(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    """A python process on this checkout (a script that kills itself, or a
    command typed after it)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_KILLER = """
import os, sys
from pathlib import Path
from xm_core.files.paths import HostPaths
from xm_core.host.update import apply
point = sys.argv[2]
if point == "before-commit":
    real = apply.commit_plan
    def dying(*a, **k):
        real(*a, **k)
        os._exit(9)  # inside the transaction: nothing committed
    apply.commit_plan = dying
else:
    def dying_files(*a, **k):
        os._exit(9)  # committed; no file written yet
    apply.apply_changes = dying_files
apply.set_policy(HostPaths(Path(sys.argv[1])), "lc.host", boot=False)
"""


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_a_kill_in_the_middle_leaves_old_or_new_state_whole(paths: HostPaths, point: str) -> None:
    _set(paths, PolicySpec(NAME))
    _label(paths, "phy:ram1", "green")
    _create(paths, "g1", "green")
    write_config(paths, "idle", NAME, "green")
    before = snapshot(paths)
    v2 = PolicySpec(NAME, vm=["red", "GREEN", "blue"], res=["red", "GREEN", "blue"])
    v2.type_of = {"GREEN": "green"}
    v2.version, v2.from_policy = "1.1", (NAME, "1.0")
    v2.vm_from = v2.res_from = {"GREEN": "green"}
    v2.write(paths)
    died = _python("-c", _KILLER, str(paths.root), point, timeout=120)
    assert died.returncode == 9, died.stderr
    if point == "before-commit":
        assert snapshot(paths) == before  # the old state, whole
        return
    # the new state: the next command finishes the files first
    got = _python("-m", "xm_core", "--root", str(paths.root), "getlabel", "res", "phy:ram1")
    assert got.returncode == 0, got.stderr
    assert got.stdout == f"ACM:{NAME}:GREEN\n"  # Xen 3.4 prints it so
    assert "label=GREEN" in (paths.etc_xen / "idle.cfg").read_text()
    assert _domains(paths)["g1"][0] == "GREEN"
    from xm_core.host.model import Host

    with Host(paths) as host:
        assert "pending" not in host.store.active_extra()


def test_interface_labels_move_with_resource_labels(paths: HostPaths) -> None:
    from xm_core.host.update.relabel import label_vif, vif_label

    _set(paths, PolicySpec(NAME))
    cfg = write_config(paths, "r1", NAME, "red")
    with cfg.open("a") as f:
        f.write("vif = ['bridge=xenbr0']\n")
    from xm_core.host.domains import create_domain

    create_domain(paths, str(cfg))
    label_vif(paths, "red", 0, "r1")
    v2 = PolicySpec(NAME, res=["RED", "green", "blue"], type_of={"RED": "red"})
    _set(paths, v2, {"red": "RED"})
    assert vif_label(paths, 0, "r1") == f"ACM:{NAME}:RED"
    # a resource label the interface uses may not go
    before = snapshot(paths)
    with pytest.raises(UpdateRefused) as caught:
        _set(paths, PolicySpec(NAME, res=["green", "blue"]))
    assert any("vif-0" in v.message for v in caught.value.plan.violations)
    assert snapshot(paths) == before


_RESET_KILLER = """
import os, sys
from pathlib import Path
from xm_core.files.paths import HostPaths
from xm_core.host.update import apply
def dying_files(*a, **k):
    os._exit(9)  # DEFAULT committed; the resource label file not yet written
apply.apply_changes = dying_files
apply.reset_policy(HostPaths(Path(sys.argv[1])))
"""


def test_a_kill_in_the_middle_of_resetpolicy_is_finished_by_the_next_command(
    paths: HostPaths,
) -> None:
    _set(paths, PolicySpec(NAME))
    _label(paths, "phy:ram1", "green")
    died = _python("-c", _RESET_KILLER, str(paths.root), timeout=120)
    assert died.returncode == 9, died.stderr
    assert b"INV_ACM" not in paths.resource_labels.read_bytes()  # not written yet
    got = _python("-m", "xm_core", "--root", str(paths.root), "resources")
    assert got.returncode == 0, got.stderr
    assert f"policy: INV_ACM:{NAME}" in got.stdout
