"""Resource labels: canonical names, the label file (format, never executed,
reported and left alone when it does not parse), locking and crash safety."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.labels_support import LABEL_DATA, POLICY, compiled_root, xm  # noqa: F401
from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.files.resources import (
    canonical_resource,
    parse_resource_labels,
    read_resource_labels,
    render_resource_labels,
)

HDA1 = "res_LogicalDiskPartition1(hda1)"
HDA2 = "res_LogicalDiskPartition2(hda2)"


def label_file(root: Path) -> Path:
    return HostPaths(root).resource_labels


# ------------------------------------------------------------------ canonical names


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("phy:hda1", "phy:/dev/hda1"),
        ("phy:/dev/hda1", "phy:/dev/hda1"),
        ("phy:mapper/vg-root", "phy:/dev/mapper/vg-root"),
        ("tap:aio:/img/x.img", "tap:aio:/img/x.img"),
        ("tap:aio:sdc", "tap:aio:/dev/sdc"),
        ("file:/img/web.img", "file:/img/web.img"),
        ("vlan:/1", "vlan:/1"),
    ],
)
def test_canonical_names(written: str, canonical: str) -> None:
    assert canonical_resource(written) == canonical


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("hda1", "contains no ':' delimiter"),
        (":hda1", "contains no ':' delimiter"),
        ("tap:/img/x.img", "contains no tap subtype"),
        ("file:img/web.img", "the path must be absolute"),
        ("phy:", "empty path"),
    ],
)
def test_bad_resource_names(written: str, message: str) -> None:
    with pytest.raises(XmError) as info:
        canonical_resource(written)
    assert message in info.value.message


def test_canonical_is_idempotent_for_generated_names() -> None:
    @given(
        kind=st.sampled_from(["phy", "tap:aio", "tap:qcow", "file"]),
        path=st.from_regex(r"/?[a-z0-9][a-z0-9/._-]{0,12}", fullmatch=True),
    )
    def check(kind: str, path: str) -> None:
        try:
            once = canonical_resource(f"{kind}:{path}")
        except XmError:
            assert kind == "file" and not path.startswith("/")
            return
        assert canonical_resource(once) == once
        assert once.split(":")[-1].startswith("/")

    check()


# ------------------------------------------------------------------ the file format


_resource = st.builds(
    lambda kind, path: f"{kind}:/{path}",
    st.sampled_from(["phy", "file", "tap:aio"]),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=15),
)
_entry = st.tuples(
    st.from_regex(r"[a-z][a-z0-9_.]{0,15}", fullmatch=True),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20),
)


@given(st.dictionaries(_resource, _entry, max_size=6))
def test_label_file_round_trip(labels: dict[str, tuple[str, str]]) -> None:
    text = render_resource_labels(labels).decode("utf-8")
    assert parse_resource_labels(text, "f") == labels


def test_label_file_is_in_xens_format() -> None:
    labels = {"phy:/dev/hda1": (POLICY, HDA1), "file:/img/a.img": (POLICY, HDA2)}
    assert render_resource_labels(labels).decode() == (
        "resources = {\n"
        f"    'file:/img/a.img': ('{POLICY}', '{HDA2}'),\n"
        f"    'phy:/dev/hda1': ('{POLICY}', '{HDA1}'),\n"
        "}\n"
    )


def test_handwritten_file_is_read_under_canonical_names(
    compiled_root: Path,  # noqa: F811
) -> None:
    target = label_file(compiled_root)
    target.write_bytes((LABEL_DATA / "rl_handwritten").read_bytes())
    r = xm("resources")
    assert r.exit_code == 0
    assert r.stdout == (
        "file:/img/web.img\n"
        f"    policy: {POLICY}\n"
        "    label:  res_HardDrive(hda)\n"
        "phy:/dev/hda2\n"
        f"    policy: {POLICY}\n"
        f"    label:  {HDA2}\n"
    )
    # the hand-written key 'phy:hda2' is found under either spelling
    assert xm("getlabel", "res", "phy:hda2").stdout == f"policy={POLICY},label={HDA2}\n"
    assert xm("getlabel", "res", "phy:/dev/hda2").stdout == f"policy={POLICY},label={HDA2}\n"
    r = xm("addlabel", HDA2, "res", "phy:/dev/hda2", POLICY)
    assert (r.exit_code, r.stderr) == (1, "Error: 'This resource is already labeled.'\n")
    assert xm("rmlabel", "res", "phy:hda2").exit_code == 0
    assert read_resource_labels(target) == {"file:/img/web.img": (POLICY, "res_HardDrive(hda)")}


def test_handwritten_key_counts_for_create(tmp_path: Path) -> None:
    """The create checks read the file through the same parser."""
    from tests.hosttools import label_resources, loaded_host, xm_run

    paths = loaded_host(tmp_path / "root")
    label_resources(paths, {"phy:hda2": (POLICY, HDA2)})  # fun.cfg's disk, written by hand
    assert xm_run(paths.root, "create", "fun").code == 0


def test_two_spellings_with_different_labels_are_reported(compiled_root: Path) -> None:  # noqa: F811
    target = label_file(compiled_root)
    original = (LABEL_DATA / "rl_two_spellings").read_bytes()
    target.write_bytes(original)
    r = xm("resources")
    assert r.exit_code == 1
    assert "names the resource 'phy:/dev/hda1' again, with another label" in r.stderr
    assert target.read_bytes() == original


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("rl_truncated", "does not parse"),
        ("rl_executable", "not a literal"),
        ("rl_not_dict", "'resources' is not a dict"),
        ("rl_bad_entry", "is not 'resource': ('policy', 'label')"),
        ("rl_two_statements", "must hold one assignment"),
    ],
)
def test_bad_label_file_is_reported_and_left_as_it_is(
    compiled_root: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    target = label_file(compiled_root)
    original = (LABEL_DATA / name).read_bytes()
    target.write_bytes(original)
    for args in (
        ("addlabel", HDA1, "res", "phy:hda1", POLICY),
        ("rmlabel", "res", "phy:hda1"),
        ("getlabel", "res", "phy:hda1"),
        ("resources",),
    ):
        r = xm(*args)
        assert r.exit_code == 1, args
        assert says in r.stderr and "left as it is" in r.stderr
        assert r.stderr.count("\n") == 1
        assert target.read_bytes() == original
    assert not (tmp_path / "PWNED-resources").exists()  # rl_executable never ran
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".")) == []


# ------------------------------------------------------------------ commands


def test_resource_round_trip(compiled_root: Path) -> None:  # noqa: F811
    r = xm("resources")
    assert (r.exit_code, r.stderr) == (1, "Error: 'Resource label file not found'\n")
    r = xm("getlabel", "res", "phy:hda1")
    assert (r.exit_code, r.stderr) == (1, "Error: 'Resource label file not found'\n")
    r = xm("rmlabel", "res", "phy:hda1")
    assert (r.exit_code, r.stderr) == (1, "Error: 'Resource label file not found'\n")

    r = xm("addlabel", HDA1, "res", "phy:hda1", POLICY)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert read_resource_labels(label_file(compiled_root)) == {"phy:/dev/hda1": (POLICY, HDA1)}
    # both spellings name the same resource
    assert xm("getlabel", "res", "phy:/dev/hda1").stdout == f"policy={POLICY},label={HDA1}\n"
    r = xm("addlabel", HDA2, "res", "phy:/dev/hda1", POLICY)
    assert (r.exit_code, r.stderr) == (1, "Error: 'This resource is already labeled.'\n")

    r = xm("getlabel", "res", "phy:hda2")
    assert (r.exit_code, r.stderr) == (1, "Error: 'Resource not labeled'\n")
    r = xm("rmlabel", "res", "phy:hda2")
    assert (r.exit_code, r.stderr) == (1, "Error: 'Resource not labeled'\n")

    assert xm("rmlabel", "res", "phy:/dev/hda1").exit_code == 0
    assert read_resource_labels(label_file(compiled_root)) == {}
    r = xm("resources")
    assert (r.exit_code, r.stdout) == (0, "")


def test_unknown_or_domain_label_is_refused_for_a_resource(compiled_root: Path) -> None:  # noqa: F811
    r = xm("addlabel", "res_Nope", "res", "phy:hda1", POLICY)
    assert (r.exit_code, r.stderr) == (1, "Error: \"Label 'res_Nope' not found.\"\n")
    r = xm("addlabel", "dom_Fun", "res", "phy:hda1", POLICY)  # which kind it is, which needed
    assert (r.exit_code, r.stderr) == (
        1,
        f"Error: \"Label 'dom_Fun' is a domain label (dom) of policy '{POLICY}', "
        'but a resource label (res) is needed here."\n',
    )
    assert not label_file(compiled_root).exists()


def test_bad_resource_name_is_refused(compiled_root: Path) -> None:  # noqa: F811
    r = xm("addlabel", HDA1, "res", "hda1", POLICY)
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: \"Resource spec 'hda1' contains no ':' delimiter\"\n",
    )
    r = xm("getlabel", "res", "file:relative.img")
    assert r.exit_code == 1 and "must be absolute" in r.stderr


# ------------------------------------------------------------------ crash safety


def test_failed_write_leaves_the_old_file(
    compiled_root: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert xm("addlabel", HDA1, "res", "phy:hda1", POLICY).exit_code == 0
    target = label_file(compiled_root)
    old = target.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    r = xm("addlabel", HDA2, "res", "phy:hda2", POLICY)
    assert r.exit_code == 1 and "No space left on device" in r.stderr
    assert target.read_bytes() == old
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []


def test_failed_fsync_leaves_the_old_file(
    compiled_root: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert xm("addlabel", HDA1, "res", "phy:hda1", POLICY).exit_code == 0
    target = label_file(compiled_root)
    old = target.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    r = xm("rmlabel", "res", "phy:hda1")
    assert r.exit_code == 1
    assert target.read_bytes() == old


def _xm_process(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "xm_core", *args],
        env=dict(os.environ, XM_ROOT=str(root)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killed_addlabel_leaves_old_or_new_file(compiled_root: Path) -> None:  # noqa: F811
    """SIGKILL `xm addlabel res` at random moments: the label file is always
    exactly the old version or exactly the new one, and never half-written."""
    target = label_file(compiled_root)
    resources = [f"phy:/dev/sd{chr(ord('a') + i)}" for i in range(20)]
    rng = random.Random(4)
    # the startup of the interpreter takes most of a run: measure one
    runs = []
    for warmup in ("phy:/dev/warm0", "phy:/dev/warm1", "phy:/dev/warm2"):
        start = time.monotonic()
        p = _xm_process(compiled_root, "addlabel", HDA1, "res", warmup, POLICY)
        assert p.wait(timeout=60) == 0
        runs.append(time.monotonic() - start)
    run = sorted(runs)[1]
    kept_old = landed_new = 0
    for res in resources:
        old = target.read_bytes()
        old_labels = read_resource_labels(target)
        new = render_resource_labels({**old_labels, res: (POLICY, HDA1)})
        p = _xm_process(compiled_root, "addlabel", HDA1, "res", res, POLICY)
        time.sleep(rng.uniform(0.0, 2.0) * run)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        now = target.read_bytes()
        assert now in (old, new)
        read_resource_labels(target)  # parses
        kept_old += now == old
        landed_new += now == new
    # the kills fell on both sides of the rename (a kill between the
    # temporary's creation and the rename may leave a stray temporary;
    # it is never the label file)
    assert kept_old and landed_new


@pytest.mark.slow
def test_concurrent_addlabels_all_land(compiled_root: Path) -> None:  # noqa: F811
    resources = [f"phy:/dev/xvd{chr(ord('a') + i)}" for i in range(8)]
    procs = [_xm_process(compiled_root, "addlabel", HDA1, "res", r, POLICY) for r in resources]
    assert [p.wait(timeout=60) for p in procs] == [0] * len(resources)
    assert sorted(read_resource_labels(label_file(compiled_root))) == sorted(resources)


def test_a_symlinked_label_file_stays_a_link(compiled_root: Path, tmp_path: Path) -> None:  # noqa: F811
    elsewhere = tmp_path / "shared_labels"
    elsewhere.write_text("resources = {}\n")
    target = label_file(compiled_root)
    target.symlink_to(elsewhere)
    assert xm("addlabel", HDA1, "res", "phy:hda1", POLICY).exit_code == 0
    assert target.is_symlink()
    assert read_resource_labels(elsewhere) == {"phy:/dev/hda1": (POLICY, HDA1)}


def test_a_refused_addlabel_makes_no_lock_outside_the_root(
    compiled_root: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """With the label file symlinked out of the root, the lock stays beside
    the link, inside the root: nothing appears next to the target."""
    outside = tmp_path / "outside"
    outside.mkdir()
    elsewhere = outside / "shared_labels"
    elsewhere.write_text(f"resources = {{'phy:/dev/hda1': ({POLICY!r}, {HDA1!r})}}\n")
    target = label_file(compiled_root)
    target.symlink_to(elsewhere)
    refused = xm("addlabel", HDA1, "res", "phy:hda1", POLICY)
    assert refused.exit_code == 1 and "already labeled" in refused.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["shared_labels"]
    assert target.with_name(target.name + ".lock").exists()  # inside the root
