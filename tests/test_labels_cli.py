"""`xm labels` and the label commands as typed: help, --json, the policy
they default to, and the messages when there is none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.labels_support import LABEL_DATA, POLICY, compiled_root, xm  # noqa: F401
from xm_core.files.paths import HostPaths

DOM_LABELS = [
    "dom_BoincClient",
    "dom_Fun",
    "dom_HomeBanking",
    "dom_NetworkDomain",
    "dom_StorageDomain",
    "dom_SystemManagement",
]
RES_LABELS = [
    "res_EthernetCard",
    "res_GraphicsAdapter",
    "res_HardDrive(hda)",
    "res_LogicalDiskPartition1(hda1)",
    "res_LogicalDiskPartition2(hda2)",
    "res_ManagementResource",
    "res_SecurityToken",
]


def activate(root: Path) -> None:
    """Make the compiled example policy the host's active policy."""
    from xm_core.host.store import PolicyState, open_store

    files = HostPaths(root).policy_files(POLICY)
    with open_store(HostPaths(root)) as store, store.write():
        store.set_active_policy(
            PolicyState.NAMED,
            POLICY,
            Path(files.bin).read_bytes(),
            Path(files.map).read_bytes(),
        )


@pytest.mark.parametrize("command", ["labels", "addlabel", "rmlabel", "getlabel", "resources"])
def test_help(command: str) -> None:
    r = xm(command, "--help")
    assert r.exit_code == 0
    assert r.stdout.startswith(f"Usage: xm {command}")


def test_labels_of_a_named_policy(compiled_root: Path) -> None:  # noqa: F811
    r = xm("labels", POLICY)
    assert (r.exit_code, r.stdout.splitlines()) == (0, DOM_LABELS)
    assert xm("labels", POLICY, "type=dom").stdout.splitlines() == DOM_LABELS
    assert xm("labels", "type=res", POLICY).stdout.splitlines() == RES_LABELS
    assert xm("labels", POLICY, "type=RES").stdout.splitlines() == RES_LABELS
    everything = xm("labels", POLICY, "type=any").stdout.splitlines()
    assert everything == sorted([*DOM_LABELS, *RES_LABELS, "__NULL_LABEL__"])


def test_labels_json(compiled_root: Path) -> None:  # noqa: F811
    r = xm("labels", POLICY, "type=res", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"policy": POLICY, "type": "res", "labels": RES_LABELS}


def test_labels_default_to_the_active_policy(compiled_root: Path) -> None:  # noqa: F811
    r = xm("labels")
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: 'No policy active, you must specify a <policy>'\n",
    )
    r = xm("addlabel", "dom_Fun", "dom", "x.cfg")
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: 'No active policy. Must specify policy on the command line.'\n",
    )
    r = xm("addlabel", "res_HardDrive(hda)", "res", "phy:hda")
    assert r.exit_code == 1 and "Must specify policy" in r.stderr
    # asking a new host (which starts in DEFAULT) leaves it without host state
    assert not HostPaths(compiled_root).state_db.exists()

    activate(compiled_root)
    assert xm("labels").stdout.splitlines() == DOM_LABELS
    assert xm("addlabel", "res_HardDrive(hda)", "res", "phy:hda").exit_code == 0
    assert xm("getlabel", "res", "phy:hda").stdout == f"policy={POLICY},label=res_HardDrive(hda)\n"


def test_active_policy_without_map_file_uses_the_loaded_map(compiled_root: Path) -> None:  # noqa: F811
    activate(compiled_root)
    Path(HostPaths(compiled_root).policy_files(POLICY).map).unlink()
    assert xm("labels").stdout.splitlines() == DOM_LABELS
    assert xm("labels", POLICY, "type=res").stdout.splitlines() == RES_LABELS


def test_policy_not_compiled(host_root: Path) -> None:
    files = HostPaths(host_root).policy_files(POLICY)
    r = xm("labels", POLICY)
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: \"Mapping file '{files.map}' not found. Use xm makepolicy to create it.\"\n",
    )
    r = xm("addlabel", "dom_Fun", "dom", str(LABEL_DATA / "plain.cfg"), POLICY)
    assert r.exit_code == 1 and "Use xm makepolicy" in r.stderr


def test_unknown_policy(host_root: Path) -> None:
    xml = HostPaths(host_root).policy_files("no.such").xml
    r = xm("labels", "no.such")
    assert (r.exit_code, r.stderr) == (1, f"Error: \"Policy file '{xml}' not found.\"\n")
    r = xm("labels", "../etc")
    assert r.exit_code == 2 and "Invalid policy name" in r.stderr


def test_map_of_another_policy_is_refused(compiled_root: Path) -> None:  # noqa: F811
    paths = HostPaths(compiled_root)
    other = paths.policy_files("copy.of_example")
    Path(other.map).parent.mkdir(parents=True)
    shutil.copyfile(paths.policy_files(POLICY).map, other.map)
    r = xm("labels", "copy.of_example")
    assert r.exit_code == 1
    assert f"is for policy '{POLICY}', not 'copy.of_example'" in r.stderr


def test_damaged_map_is_reported(compiled_root: Path) -> None:  # noqa: F811
    Path(HostPaths(compiled_root).policy_files(POLICY).map).write_bytes(b"garbage\n")
    r = xm("labels", POLICY)
    assert r.exit_code == 1
    assert "Traceback" not in r.stderr and r.stderr


def test_default_and_null_cannot_translate_labels(compiled_root: Path) -> None:  # noqa: F811
    for name in ("DEFAULT", "NULL"):
        r = xm("labels", name)
        assert (r.exit_code, r.stderr) == (
            1,
            f"Error: \"Cannot translate labels for '{name}' policy.\"\n",
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("labels", "a", "b"), "policy is defined twice"),
        (("labels", "type=dom", "type=res"), "type is defined twice"),
        (("labels", "type=vm"), "Unknown label type 'vm'"),
        (("labels", "color=red"), "Unrecognised option: color=red"),
        (("addlabel", "L", "vm", "x"), 'Need to specify either "dom" or "res"'),
        (("rmlabel", "vm", "x"), 'Need to specify either "dom" or "res"'),
        (("getlabel", "vm", "x"), 'Need to specify either "dom" or "res"'),
    ],
)
def test_usage_errors_exit_2(compiled_root: Path, args: tuple[str, ...], message: str) -> None:  # noqa: F811
    r = xm(*args)
    assert r.exit_code == 2
    assert message in r.stderr


def test_missing_arguments_exit_2() -> None:
    for args in (("addlabel", "L", "dom"), ("rmlabel", "dom"), ("getlabel",), ("resources", "x")):
        assert xm(*args).exit_code == 2


def test_getlabel_and_resources_json(
    compiled_root: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "web.cfg"
    cfg.write_text('name = "web"\n')
    assert xm("addlabel", "dom_Fun", "dom", str(cfg), POLICY).exit_code == 0
    assert xm("addlabel", "res_HardDrive(hda)", "res", "phy:hda", POLICY).exit_code == 0
    assert xm("addlabel", "res_SecurityToken", "res", "file:/dev/token", POLICY).exit_code == 0

    r = xm("getlabel", "dom", str(cfg), "--json")
    assert json.loads(r.stdout) == {
        "type": "dom",
        "target": str(cfg),
        "policy": POLICY,
        "label": "dom_Fun",
    }
    r = xm("getlabel", "res", "phy:hda", "--json")
    assert json.loads(r.stdout) == {
        "type": "res",
        "target": "phy:/dev/hda",
        "policy": POLICY,
        "label": "res_HardDrive(hda)",
    }
    r = xm("resources", "--json")
    assert json.loads(r.stdout) == {
        "resources": [
            {"resource": "file:/dev/token", "policy": POLICY, "label": "res_SecurityToken"},
            {"resource": "phy:/dev/hda", "policy": POLICY, "label": "res_HardDrive(hda)"},
        ]
    }
    r = xm("resources")
    assert r.stdout == (
        "file:/dev/token\n"
        f"    policy: {POLICY}\n"
        "    label:  res_SecurityToken\n"
        "phy:/dev/hda\n"
        f"    policy: {POLICY}\n"
        "    label:  res_HardDrive(hda)\n"
    )
    # errors stay errors under --json
    r = xm("getlabel", "res", "phy:hdb", "--json")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "Error: 'Resource not labeled'\n")
