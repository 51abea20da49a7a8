"""The policy-lifecycle scenarios of Xen's xm-test `security-acm` suite
(07-10, Xen 3.4), end to end: every step types the real `xm` command (a
process of its own) on a fresh host root, with our versioned test policies
`xm-test` 1.0 and `xm-test-update` 1.1 (tests/data/lifecycle) in the
current folder, where Xen's `setpolicy` looked first.

07 relabel Domain-0 and a running, then paused, domain; a label of no
   policy and a conflicting label are refused; policy updates in a row
08 what Xen-API's XSPolicy reported, through xm: getpolicy (name, version,
   loaded and boot flags, --dumpxml), and a refused policy leaves it alone
09 updates under running domains: a conflict, a missing STE type, a
   removed label in use, a rename into a conflict and a bad name are
   refused, each leaving the host as it was; a removal of an unused label
   works; the first policy comes back as a later version
10 the journey of test 10: Domain-0 relabeled, an update refused while a
   domain uses a label it removes, then set: GREEN renamed, RED renamed,
   blue invalidated; unlabeled domains as __UNLABELED__; resetpolicy
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.lifecycle_support import snapshot
from xm_core.files.paths import HostPaths

POLICIES = DATA / "lifecycle"


@dataclass
class Typed:
    code: int
    out: str
    err: str


@dataclass
class Host:
    root: Path
    work: Path

    def xm(self, *args: str) -> Typed:
        env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}
        done = subprocess.run(
            [sys.executable, "-m", "xm_core", "--root", str(self.root), *args],
            cwd=self.work,
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

    def fails(self, *args: str) -> str:
        run = self.xm(*args)
        assert run.code != 0, f"xm {' '.join(args)} should have failed: {run.out}"
        assert "Traceback" not in run.err
        return run.err

    def config(self, name: str, policy: str | None, label: str | None) -> str:
        lines = [f'name = "{name}"', "memory = 32"]
        if label is not None:
            lines.append(f"access_control = ['policy={policy},label={label}']")
        (self.work / f"{name}.cfg").write_text("\n".join(lines) + "\n")
        return f"{name}.cfg"

    def label_of(self, domain: str) -> list[str]:
        """`xm list DOMAIN --label`, its label split at ':' (xm-test's checkLabel)."""
        rows = self.ok("list", domain, "--label").splitlines()[1:]
        return rows[0].split()[-1].split(":")

    def ssidref(self, domain: str) -> int:
        doc = json.loads(self.ok("list", domain, "--json"))
        return int(doc["domains"][0]["ssidref"])

    def write_policy(self, xml: str, name: str) -> None:
        (self.work / f"{name}-security_policy.xml").write_text(xml)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    work = tmp_path / "work"
    work.mkdir()
    for p in POLICIES.glob("*-security_policy.xml"):
        shutil.copyfile(p, work / p.name)
    h = Host(tmp_path / "root", work)
    h.ok("setpolicy", "ACM", "xm-test")
    return h


def _policy_text(version: str, from_version: str, **replace: str) -> str:
    """xm-test as another version of itself (FromPolicy naming the last)."""
    xml = (POLICIES / "xm-test-security_policy.xml").read_text()
    xml = xml.replace(
        "<Version>1.0</Version>",
        f"<Version>{version}</Version><FromPolicy><PolicyName>xm-test</PolicyName>"
        f"<Version>{from_version}</Version></FromPolicy>",
    )
    for old, new in replace.items():
        xml = xml.replace(old.replace("_", " ").replace("LT", "<").replace("GT", ">"), new)
    return xml


def test_07_relabel_domain0_and_running_domains(host: Host) -> None:
    assert host.label_of("Domain-0") == ["ACM", "xm-test", "SystemManagement"]
    sys_ref = host.ssidref("Domain-0")
    host.ok("addlabel", "SystemManagement", "mgt", "Domain-0")
    assert host.ssidref("Domain-0") == sys_ref
    err = host.fails("addlabel", "black", "mgt", "Domain-0")
    assert "The label is bad" in err
    host.ok("addlabel", "red", "mgt", "Domain-0", "ACM:xm-test")
    assert host.ok("getlabel", "mgt", "Domain-0") == "ACM:xm-test:red\n"
    host.ok("addlabel", "SystemManagement", "mgt", "Domain-0")
    assert host.ssidref("Domain-0") == sys_ref

    host.ok("create", host.config("blue1", "xm-test", "blue"))
    host.ok("addlabel", "red", "mgt", "blue1")  # a running domain relabeled
    host.ok("addlabel", "red", "mgt", "Domain-0")
    err = host.fails("addlabel", "blue", "mgt", "blue1")  # conflicts with Domain-0 (red)
    assert "VM label conflicts with another VM" in err
    assert host.label_of("blue1")[-1] == "red" and host.label_of("Domain-0")[-1] == "red"
    host.ok("addlabel", "SystemManagement", "mgt", "Domain-0")
    host.ok("pause", "blue1")
    assert host.label_of("blue1")[-1] == "red"
    out = host.ok("addlabel", "blue", "mgt", "blue1")  # a paused domain
    assert out == "Successfully set the label of domain 'blue1' to 'blue'.\n\n"
    assert host.label_of("blue1") == ["ACM", "xm-test", "blue"]
    host.ok("unpause", "blue1")
    host.ok("addlabel", "green", "mgt", "blue1")
    assert host.label_of("blue1")[-1] == "green"

    # policy updates in a row, each naming the last (update_frompolicy)
    host.write_policy(_policy_text("1.1", "1.0"), "xm-test")
    host.ok("setpolicy", "ACM", "xm-test")
    host.write_policy(_policy_text("1.2", "1.1"), "xm-test")
    out = host.ok("setpolicy", "ACM", "xm-test")
    assert "Version of XML policy : 1.2" in out
    assert host.label_of("blue1") == ["ACM", "xm-test", "green"]


def test_08_getpolicy_reports_the_policy(host: Host) -> None:
    out = host.ok("getpolicy")
    assert out.startswith("Supported security subsystems   : ACM \n\n")
    assert "Policy name           : xm-test\n" in out
    assert "Version of XML policy : 1.0\n" in out
    doc = json.loads(host.ok("getpolicy", "--json"))
    assert (doc["policy"], doc["version"], doc["loaded"]) == ("xm-test", "1.0", True)
    assert "<PolicyName>xm-test</PolicyName>" in host.ok("getpolicy", "--dumpxml")
    # a policy that names no FromPolicy is refused; getpolicy is unchanged
    host.write_policy(_policy_text("2.0", "1.0").replace("<FromPolicy>", "<X>"), "bad")
    host.fails("setpolicy", "ACM", "bad")
    assert host.ok("getpolicy") == out


def test_09_updates_under_running_domains(host: Host) -> None:
    host.ok("create", host.config("red1", "xm-test", "red"))
    host.ok("create", host.config("green1", "xm-test", "green"))
    paths = HostPaths(host.root)

    def refused(xml: str, why: str) -> None:
        before = snapshot(paths)
        host.write_policy(xml, "xm-test")
        err = host.fails("setpolicy", "ACM", "xm-test")
        assert why in err, err
        assert snapshot(paths) == before

    # red and green in one conflict set: both run
    refused(
        _policy_text("1.1", "1.0").replace(
            "<Type>red</Type>\n        <Type>blue</Type>",
            "<Type>red</Type>\n        <Type>green</Type>",
        ),
        "[chwall]",
    )
    # the STE type red is missing: the policy does not compile
    refused(
        _policy_text("1.1", "1.0").replace(
            "<Type>SystemManagement</Type>\n      <Type>red</Type>", "<Type>SystemManagement</Type>"
        ),
        "red",
    )
    # the VM label red is missing while red1 runs
    no_red = _policy_text("1.1", "1.0")
    start = no_red.index("<VirtualMachineLabel>\n        <Name>red</Name>")
    end = no_red.index("</VirtualMachineLabel>", start) + len("</VirtualMachineLabel>")
    refused(no_red[:start] + no_red[end:], "[label] domain 'red1'")
    # a label name with ':' is not a name
    refused(
        _policy_text("1.1", "1.0").replace("<Name>blue</Name>", "<Name>blue:x</Name>"), "blue:x"
    )

    # blue (unused) removed: works
    no_blue = _policy_text("1.1", "1.0")
    start = no_blue.index("<VirtualMachineLabel>\n        <Name>blue</Name>")
    end = no_blue.index("</VirtualMachineLabel>", start) + len("</VirtualMachineLabel>")
    no_blue = no_blue[:start] + no_blue[end:]
    host.write_policy(no_blue, "xm-test")
    host.ok("setpolicy", "ACM", "xm-test")

    # green renamed to blue, which conflicts with red: refused
    into_conflict = _policy_text("1.2", "1.1").replace(
        "<Name>green</Name>", '<Name from="green">blue</Name>', 1
    )
    start = into_conflict.index("<VirtualMachineLabel>\n        <Name>blue</Name>")
    end = into_conflict.index("</VirtualMachineLabel>", start) + len("</VirtualMachineLabel>")
    into_conflict = into_conflict[:start] + into_conflict[end:]
    refused(
        into_conflict.replace(
            "<Type>green</Type></ChineseWallTypes>", "<Type>blue</Type></ChineseWallTypes>"
        ),
        "[chwall]",
    )

    # the first policy again, as the next version
    host.write_policy(_policy_text("1.2", "1.1"), "xm-test")
    host.ok("setpolicy", "ACM", "xm-test")
    assert host.label_of("red1")[-1] == "red" and host.label_of("green1")[-1] == "green"


def test_10_the_update_journey(host: Host) -> None:
    # an unlabeled domain must not start under xm-test
    plain = host.config("domain-unlabeled", None, None)
    host.fails("create", plain)
    blue = host.config("domain-blue", "xm-test", "blue")
    green = host.config("domain-green", "xm-test", "green")
    host.ok("create", blue)
    assert host.label_of("Domain-0") == ["ACM", "xm-test", "SystemManagement"]
    host.ok("addlabel", "blue", "mgt", "Domain-0")
    assert host.label_of("Domain-0") == ["ACM", "xm-test", "blue"]
    host.fails("addlabel", "red", "mgt", "Domain-0")  # red conflicts with domain-blue
    assert host.label_of("Domain-0") == ["ACM", "xm-test", "blue"]
    host.ok("addlabel", "SystemManagement", "mgt", "Domain-0")
    assert host.label_of("Domain-0") == ["ACM", "xm-test", "SystemManagement"]

    for colour in ("green", "red", "blue"):
        host.ok("addlabel", colour, "res", f"file:/tmp/{colour}")
    host.ok("create", green)

    # blue runs, and xm-test-update has no blue: refused, nothing changed
    err = host.fails("setpolicy", "ACM", "xm-test-update")
    assert "domain 'domain-blue'" in err and "label 'blue'" in err
    assert host.ok("getpolicy").count("Policy name           : xm-test\n") == 1
    for colour in ("green", "red", "blue"):
        assert host.ok("getlabel", "res", f"file:/tmp/{colour}") == f"ACM:xm-test:{colour}\n"

    host.ok("destroy", "domain-blue")
    host.ok("setpolicy", "ACM", "xm-test-update")
    assert "Policy name           : xm-test-update\n" in host.ok("getpolicy")
    assert host.ok("getlabel", "res", "file:/tmp/green") == "ACM:xm-test-update:GREEN\n"
    assert host.ok("getlabel", "res", "file:/tmp/red") == "ACM:xm-test-update:RED\n"
    assert host.ok("getlabel", "res", "file:/tmp/blue") == "INV_ACM:xm-test:blue\n"
    assert host.label_of("domain-green") == ["ACM", "xm-test-update", "GREEN"]

    red = host.config("domain-red", "xm-test-update", "red")
    host.fails("create", red)  # conflicts with GREEN
    host.ok("destroy", "domain-green")
    host.ok("create", red)
    host.ok("destroy", "domain-red")

    host.ok("addlabel", "GREEN", "mgt", "Domain-0")
    assert host.label_of("Domain-0") == ["ACM", "xm-test-update", "GREEN"]
    host.fails("create", red)  # conflicts with Domain-0 (GREEN)
    host.ok("addlabel", "SystemManagement", "mgt", "Domain-0")
    host.ok("create", plain)  # runs as __UNLABELED__ now
    assert host.label_of("domain-unlabeled")[-1] == "__UNLABELED__"

    host.fails("resetpolicy")  # a guest runs
    host.ok("destroy", "domain-unlabeled")
    host.ok("addlabel", "red", "mgt", "Domain-0")
    assert host.label_of("Domain-0") == ["ACM", "xm-test-update", "red"]
    host.ok("resetpolicy")
    assert host.ok("getlabel", "res", "file:/tmp/green") == "INV_ACM:xm-test-update:GREEN\n"
    assert host.ok("getlabel", "res", "file:/tmp/red") == "INV_ACM:xm-test-update:RED\n"
    assert host.ok("getlabel", "res", "file:/tmp/blue") == "INV_ACM:xm-test:blue\n"


def test_diff_host_of_a_versioned_update_uses_the_update_path(host: Host) -> None:
    """`xm acm diff OLD NEW --host` of xm-test -> xm-test-update: the impact
    is the one setpolicy would have (renames followed, a removed label in use)."""
    host.ok("create", host.config("domain-blue", "xm-test", "blue"))
    old, new = "xm-test-security_policy.xml", "xm-test-update-security_policy.xml"
    run = host.xm("acm", "diff", old, new, "--host")
    assert run.code == 1, run.err
    assert "would be REFUSED" in run.out and "domain-blue" in run.out
    host.ok("destroy", "domain-blue")
    host.ok("create", host.config("domain-green", "xm-test", "green"))
    run = host.xm("acm", "diff", old, new, "--host")
    assert run.code == 0, run.out + run.err
    assert "would succeed" in run.out
