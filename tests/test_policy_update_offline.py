"""A policy update and what the host knows besides its running domains:
domain configs outside `<root>/etc/xen` (the config a running domain was
started from, wherever it is) and saved images (`xm save` files and
`xm suspend`'s managed images). Typed as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.labels_support import xm
from tests.lifecycle_support import PolicySpec, write_config
from xm_core.files.paths import HostPaths

NAME = "lc.offline"
V1 = PolicySpec(NAME, version="1.0")


def _v2(**renames: str) -> PolicySpec:
    """Version 1.1 of V1: VM labels renamed old -> new, blue removed."""
    vm = [renames.get(v, v) for v in V1.vm if v != "blue"]
    spec = PolicySpec(NAME, vm=vm, conflicts=[], version="1.1", from_policy=(NAME, "1.0"))
    spec.vm_from = {new: old for old, new in renames.items()}
    spec.type_of = {new: old for old, new in renames.items()}
    return spec


@pytest.fixture
def paths(host_root: Path) -> HostPaths:
    p = HostPaths(host_root)
    V1.write(p)
    ok("setpolicy", "ACM", NAME)
    return p


def ok(*args: str) -> str:
    r = xm(*args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r.stdout


def started(paths: HostPaths, name: str, label: str) -> None:
    """Domain `name` created from a config of `label` in <root>/etc/xen."""
    write_config(paths, name, NAME, label)
    ok("create", str(paths.etc_xen / f"{name}.cfg"))


def saved(paths: HostPaths, folder: Path, name: str, label: str) -> Path:
    """Domain `name` of `label` started, then saved to `folder`/<name>.save."""
    started(paths, name, label)
    image = folder / f"{name}.save"
    ok("save", name, str(image))
    return image


def elsewhere(folder: Path, name: str, label: str) -> Path:
    """A labeled config outside <root>/etc/xen, as an administrator keeps one."""
    from xm_core.files.config import access_control_line

    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / f"{name}.cfg"
    cfg.write_text(f'name = "{name}"\nmemory = 32\n{access_control_line(NAME, label)}\n')
    return cfg


def test_the_config_of_a_domain_started_from_elsewhere_is_relabeled(
    paths: HostPaths, tmp_path: Path
) -> None:
    cfg = elsewhere(tmp_path / "vms", "g1", "green")
    ok("create", str(cfg))
    _v2(green="GREEN").write(paths)
    dry = ok("setpolicy", "--dry-run", "ACM", NAME)
    assert f"  {cfg}: ACM:{NAME}:green -> ACM:{NAME}:GREEN\n" in dry
    assert "label=green" in cfg.read_text().splitlines()[-1]  # a dry run changes nothing
    out = ok("setpolicy", "ACM", NAME)
    assert f"Domain configs relabeled:\n  {cfg}: ACM:{NAME}:green -> ACM:{NAME}:GREEN\n" in out
    assert cfg.read_text().splitlines()[-1] == f"access_control = ['policy={NAME},label=GREEN']"
    ok("destroy", "g1")
    ok("create", str(cfg))  # it starts again under the new policy
    assert ok("list", "--label", "g1").split()[-1] == f"ACM:{NAME}:GREEN"


def test_a_config_not_known_to_the_host_is_named_as_not_relabeled(
    paths: HostPaths, tmp_path: Path
) -> None:
    cfg = elsewhere(tmp_path / "vms", "g1", "green")
    ok("create", str(cfg))
    image = tmp_path / "g1.save"
    ok("save", "g1", str(image))
    ok("restore", str(image))  # running again; no config file is known for it now
    _v2(green="GREEN").write(paths)
    out = ok("setpolicy", "ACM", NAME)
    assert "Running domains whose config was not relabeled:\n  g1 (id 2): " in out
    assert "the host does not know the config it was started from" in out
    assert "label=green" in cfg.read_text().splitlines()[-1]


def test_a_saved_image_is_relabeled_and_restores_under_the_new_name(
    paths: HostPaths, tmp_path: Path
) -> None:
    started(paths, "g1", "green")
    image = tmp_path / "images" / "g1.save"
    image.parent.mkdir()
    ok("save", "g1", str(image))
    _v2(green="GREEN").write(paths)
    dry = ok("setpolicy", "--dry-run", "ACM", NAME)
    assert f"Saved images that would be relabeled:\n  {image}: ACM:{NAME}:green" in dry
    out = ok("setpolicy", "ACM", NAME)
    assert f"Saved images relabeled:\n  {image}: ACM:{NAME}:green -> ACM:{NAME}:GREEN\n" in out
    doc = json.loads(image.read_text())
    assert (doc["domain"]["policy"], doc["domain"]["label"]) == (NAME, "GREEN")
    assert image.stat().st_mode & 0o777 == 0o600
    ok("restore", str(image))
    assert ok("list", "--label", "g1").split()[-1] == f"ACM:{NAME}:GREEN"


def test_a_suspended_domain_is_relabeled_and_resumes(paths: HostPaths) -> None:
    started(paths, "g1", "green")
    ok("suspend", "g1")
    _v2(green="GREEN").write(paths)
    out = ok("setpolicy", "ACM", NAME)
    assert f"ACM:{NAME}:green -> ACM:{NAME}:GREEN" in out.split("Saved images relabeled:")[1]
    ok("resume", "g1")
    assert ok("list", "--label", "g1").split()[-1] == f"ACM:{NAME}:GREEN"


def test_an_image_whose_label_is_removed_is_reported_and_refused_at_restore(
    paths: HostPaths, tmp_path: Path
) -> None:
    image = saved(paths, tmp_path, "b1", "blue")
    before = image.read_bytes()
    _v2().write(paths)
    out = ok("setpolicy", "ACM", NAME)
    assert (
        f"Saved images left as they are:\n  {image}: ACM:{NAME}:blue: the label is removed "
        f"by policy '{NAME}'; the image cannot be restored under it\n"
    ) in out
    assert image.read_bytes() == before
    r = xm("restore", str(image))
    assert r.exit_code == 1 and "blue" in r.stderr, r.stderr
    assert ok("list").count("\n") == 2  # header and Domain-0: nothing was restored


def test_a_refused_update_leaves_configs_and_images_as_they_were(
    paths: HostPaths, tmp_path: Path
) -> None:
    cfg = elsewhere(tmp_path / "vms", "g1", "green")
    ok("create", str(cfg))
    started(paths, "r1", "red")
    image = saved(paths, tmp_path, "g2", "green")
    ok("suspend", "r1")
    files = [cfg, image, *paths.suspended_dir.iterdir()]
    before = {f: f.read_bytes() for f in files}
    bad = _v2(red="RED")
    bad.vm.remove("green")  # g1 runs with green: refused
    bad.write(paths)
    doc = json.loads(xm("setpolicy", "--dry-run", "--json", "ACM", NAME).stdout)
    assert doc["set"] is False
    assert [i["target"] for i in doc["images"]] == [str(paths.suspended_dir / "r1.save")]
    r = xm("setpolicy", "ACM", NAME)
    assert r.exit_code == 1 and "[label] domain 'g1'" in r.stderr
    assert {f: f.read_bytes() for f in files} == before


_KILLER = """
import os, sys
from pathlib import Path
from xm_core.files.paths import HostPaths
from xm_core.host.update import apply
def dying_files(*a, **k):
    os._exit(9)  # committed; no file written yet
apply.apply_changes = dying_files
apply.set_policy(HostPaths(Path(sys.argv[1])), sys.argv[2], boot=False)
"""


def test_a_kill_after_the_commit_is_finished_by_the_next_command(
    paths: HostPaths, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    cfg = elsewhere(tmp_path / "vms", "g1", "green")
    ok("create", str(cfg))
    image = saved(paths, tmp_path, "g2", "green")
    _v2(green="GREEN").write(paths)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    died = subprocess.run(
        [sys.executable, "-c", _KILLER, str(paths.root), NAME],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert died.returncode == 9, died.stderr
    assert json.loads(image.read_text())["domain"]["label"] == "green"  # not yet
    assert "label=green" in cfg.read_text().splitlines()[-1]
    ok("list")  # the next command finishes the update's files first
    assert json.loads(image.read_text())["domain"]["label"] == "GREEN"
    assert cfg.read_text().splitlines()[-1] == f"access_control = ['policy={NAME},label=GREEN']"


def test_an_image_replaced_meanwhile_is_not_changed(paths: HostPaths, tmp_path: Path) -> None:
    from xm_core.host.update.offline import relabel_image

    image = saved(paths, tmp_path, "g1", "green")
    before = image.read_bytes()
    relabel_image(image, "another-uuid", (NAME, "green"), (NAME, "GREEN"), 2)
    relabel_image(image, json.loads(before)["domain"]["uuid"], (NAME, "red"), (NAME, "RED"), 2)
    assert image.read_bytes() == before


def test_a_file_the_update_did_not_reach_is_refused_with_the_new_name(
    paths: HostPaths, tmp_path: Path
) -> None:
    image = saved(paths, tmp_path, "g1", "green")
    moved = tmp_path / "moved.save"
    moved.write_bytes(image.read_bytes())  # a copy the host does not know
    idle = elsewhere(tmp_path / "vms", "g2", "green")  # never started: not known either
    _v2(green="GREEN").write(paths)
    ok("setpolicy", "ACM", NAME)
    hint = (
        f" (the last policy update renamed ACM:{NAME}:green to ACM:{NAME}:GREEN; "
        "this config or saved image was not relabeled by it)"
    )
    for command in (["restore", str(moved)], ["create", str(idle)]):
        r = xm(*command)
        assert r.exit_code == 1
        assert f"Label 'green' not found.{hint}" in r.stderr, r.stderr
    ok("restore", str(image))  # the image the host knew was relabeled
    # an update that renames nothing forgets the hint
    v3 = _v2(green="GREEN")
    v3.version, v3.from_policy, v3.vm_from = "1.2", (NAME, "1.1"), {}
    v3.write(paths)
    ok("setpolicy", "ACM", NAME)
    r = xm("create", str(idle))
    assert r.exit_code == 1 and "Label 'green' not found." in r.stderr
    assert "renamed" not in r.stderr


def test_an_image_behind_a_symbolic_link_is_named_not_changed(
    paths: HostPaths, tmp_path: Path
) -> None:
    started(paths, "g1", "green")
    real = tmp_path / "real.save"
    link = tmp_path / "link.save"
    ok("save", "g1", str(link))
    link.rename(real)  # the file moved, a link left in its place
    link.symlink_to(real)
    before = real.read_bytes()
    _v2(green="GREEN").write(paths)
    out = ok("setpolicy", "ACM", NAME)
    shown = f"Saved images left as they are:\n  {link}: Save file '{link}' is a symbolic link\n"
    assert shown in out
    assert link.is_symlink() and real.read_bytes() == before


def test_an_update_then_its_inverse_gives_the_image_back_byte_for_byte(
    paths: HostPaths, tmp_path: Path
) -> None:
    started(paths, "g1", "green")
    ok("suspend", "g1")
    (image,) = paths.suspended_dir.iterdir()
    before = image.read_bytes()
    forward = _v2(green="GREEN")
    forward.vm.append("blue")  # only the rename, nothing removed
    forward.write(paths)
    ok("setpolicy", "ACM", NAME)
    assert json.loads(image.read_text())["domain"]["label"] == "GREEN"
    back = PolicySpec(NAME, version="1.2", from_policy=(NAME, "1.1"), conflicts=[])
    back.vm_from = {"green": "GREEN"}
    back.write(paths)
    ok("setpolicy", "ACM", NAME)
    assert image.read_bytes() == before
