"""The scenarios of Xen's xm-test `security-acm` suite, end to end: every
step types the real `xm` command (`python -m xm_core`, a process of its
own) against a host root with our test policy `xmtest.acm_suite` (red,
green and blue; red and blue in one Chinese Wall conflict set) compiled
and loaded, as xm-test's ACM preparation did with its policy.

01 label a config and a resource: getlabel / rmlabel round trips
02 start a labeled domain; `list --label` shows its label
03 a domain conflicting with a running one is refused; compatible ones start
04 a domain with a disk of a foreign label (or an unlabeled disk) is refused
05 block-attach of a foreign disk is refused; of its own colour it works
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.labels_support import LABEL_DATA

POLICY = "xmtest.acm_suite"
POLICY_XML = LABEL_DATA / "xmtest" / "acm_suite-security_policy.xml"


@dataclass
class Typed:
    code: int
    out: str
    err: str


@dataclass
class XmTestHost:
    root: Path
    workdir: Path  # the current directory of every command

    def xm(self, *args: str) -> Typed:
        env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}
        done = subprocess.run(
            [sys.executable, "-m", "xm_core", "--root", str(self.root), *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return Typed(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> str:
        run = self.xm(*args)
        assert run.code == 0, f"xm {' '.join(args)}: {run.err}"
        return run.out

    def config(self, name: str, label: str | None = None, disks: list[str] | None = None) -> str:
        """A domain config in the current directory, labeled with `xm addlabel`."""
        lines = [f'name = "{name}"', "memory = 32"]
        if disks:
            lines.append(f"disk = {disks!r}")
        (self.workdir / f"{name}.cfg").write_text("\n".join(lines) + "\n")
        if label is not None:
            self.ok("addlabel", label, "dom", f"{name}.cfg")
        return f"{name}.cfg"

    def label_of(self, domain: str) -> str:
        rows = self.ok("list", "--label", domain).splitlines()[1:]
        assert len(rows) == 1
        return rows[0].split()[-1]


@pytest.fixture
def host(tmp_path: Path) -> XmTestHost:
    root = tmp_path / "root"
    target = root / "etc" / "xen" / "acm-security" / "policies" / "xmtest"
    target.mkdir(parents=True)
    shutil.copyfile(POLICY_XML, target / POLICY_XML.name)
    work = tmp_path / "work"
    work.mkdir()
    h = XmTestHost(root, work)
    h.ok("makepolicy", POLICY)
    h.ok("loadpolicy", POLICY)
    return h


def test_01_label_round_trips(host: XmTestHost) -> None:
    assert host.ok("labels").split() == ["SystemManagement", "blue", "green", "red"]
    assert host.ok("labels", "type=res").split() == ["blue", "green", "red"]

    cfg = host.config("xmtest")
    before = (host.workdir / cfg).read_bytes()
    assert host.ok("addlabel", "blue", "dom", cfg) == ""
    assert host.ok("getlabel", "dom", cfg) == f"policy={POLICY},label=blue\n"
    assert host.ok("rmlabel", "dom", cfg) == ""
    run = host.xm("getlabel", "dom", cfg)
    assert (run.code, run.err) == (1, "Error: 'Domain not labeled'\n")
    assert (host.workdir / cfg).read_bytes().startswith(before)

    assert host.ok("addlabel", "blue", "res", "phy:ram0") == ""
    assert host.ok("getlabel", "res", "phy:ram0") == f"policy={POLICY},label=blue\n"
    assert host.ok("resources") == (f"phy:/dev/ram0\n    policy: {POLICY}\n    label:  blue\n")
    assert host.ok("rmlabel", "res", "phy:ram0") == ""
    run = host.xm("getlabel", "res", "phy:ram0")
    assert (run.code, run.err) == (1, "Error: 'Resource not labeled'\n")

    run = host.xm("addlabel", "purple", "dom", cfg)
    assert (run.code, run.err) == (1, "Error: \"Label 'purple' not found.\"\n")


def test_02_labeled_domain_starts(host: XmTestHost) -> None:
    cfg = host.config("red1", "red")
    assert host.ok("create", cfg) == "Started domain red1\n"
    assert host.label_of("red1") == "red"
    assert host.label_of("Domain-0") == "SystemManagement"
    host.ok("destroy", "red1")
    # an unlabeled domain is refused while a policy is enforced
    plain = host.config("plain")
    run = host.xm("create", plain)
    assert (run.code, run.err) == (1, "Error: 'Domain not labeled'\n")


def test_03_conflicting_domain_is_refused(host: XmTestHost) -> None:
    host.ok("create", host.config("red1", "red"))
    blue = host.config("blue1", "blue")
    run = host.xm("create", blue)
    assert run.code == 1
    assert "Chinese Wall conflict in type 'blue' (conflict set RedBlue)" in run.err
    assert "'red1'" in run.err
    assert host.xm("domid", "blue1").code == 1  # not created

    # compatible domains start next to it: green, and a second red
    host.ok("create", host.config("green1", "green"))
    host.ok("create", host.config("red2", "red"))
    rows = host.ok("list", "--label").splitlines()[1:]
    assert sorted(r.split()[0] for r in rows) == ["Domain-0", "green1", "red1", "red2"]

    # once no red domain runs, blue starts, and now red is refused
    host.ok("destroy", "red1")
    assert host.xm("create", blue).code == 1  # red2 still runs
    host.ok("destroy", "red2")
    host.ok("create", blue)
    run = host.xm("create", host.config("red3", "red"))
    assert run.code == 1 and "Chinese Wall conflict in type 'red'" in run.err


def test_04_disk_of_a_foreign_label_is_refused(host: XmTestHost) -> None:
    host.ok("addlabel", "green", "res", "phy:ram1")
    host.ok("addlabel", "red", "res", "phy:ram2")
    foreign = host.config("red_on_green", "red", ["phy:ram1,hda1,w"])
    run = host.xm("create", foreign)
    assert run.code == 1
    assert run.err.startswith(
        "Error: \"Permission denied for resource 'phy:/dev/ram1' because label 'green' "
        'is not allowed"'
    )
    assert host.xm("domid", "red_on_green").code == 1

    unlabeled = host.config("red_on_nothing", "red", ["phy:ram3,hda1,w"])
    run = host.xm("create", unlabeled)
    assert run.code == 1 and "phy:/dev/ram3" in run.err and "not labeled" in run.err

    own = host.config("red_on_red", "red", ["phy:ram2,hda1,w"])
    host.ok("create", own)
    assert "ram2" in host.ok("block-list", "red_on_red")

    dry = host.xm("dry-run", foreign)
    assert dry.code == 1
    assert "phy:ram1: DENIED" in dry.out and dry.out.rstrip().endswith("Dry Run: FAILED")


def test_05_block_attach_of_a_foreign_disk_is_refused(host: XmTestHost) -> None:
    host.ok("addlabel", "green", "res", "phy:ram1")
    host.ok("addlabel", "red", "res", "phy:ram2")
    host.ok("create", host.config("red1", "red"))
    run = host.xm("block-attach", "red1", "phy:ram1", "hda1", "w")
    assert run.code == 1
    assert "Permission denied for resource 'phy:/dev/ram1' because label 'green'" in run.err
    assert "ram1" not in host.ok("block-list", "red1")

    host.ok("block-attach", "red1", "phy:ram2", "hda2", "w")
    listed = host.ok("block-list", "red1")
    assert "hda2" in listed and "ram2" in listed

    # relabeling the disk does not reach into the running domain, but a new
    # attach of it is decided by the new label
    host.ok("block-detach", "red1", "hda2")
    host.ok("rmlabel", "res", "phy:ram2")
    host.ok("addlabel", "blue", "res", "phy:ram2")
    run = host.xm("block-attach", "red1", "phy:ram2", "hda2", "w")
    assert run.code == 1 and "because label 'blue' is not allowed" in run.err
