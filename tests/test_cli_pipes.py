"""`xm ... | head` ends quietly, like any Unix tool, when the reader closes
the pipe early."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _big_policy(n: int) -> str:
    vms = "".join(
        f"<VirtualMachineLabel><Name>vm_label_number_{i}</Name>"
        "<SimpleTypeEnforcementTypes><Type>t</Type></SimpleTypeEnforcementTypes>"
        "</VirtualMachineLabel>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0"?><SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        "<PolicyHeader><PolicyName>pipe.big</PolicyName></PolicyHeader>"
        "<SimpleTypeEnforcement><SimpleTypeEnforcementTypes><Type>t</Type>"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement><SecurityLabelTemplate>"
        f'<SubjectLabels bootstrap="vm_label_number_0">{vms}</SubjectLabels>'
        "</SecurityLabelTemplate></SecurityPolicyDefinition>"
    )


def test_a_closed_pipe_gives_no_error_message(tmp_path: Path) -> None:
    root = tmp_path / "root"
    folder = root / "etc/xen/acm-security/policies/pipe"
    folder.mkdir(parents=True)
    (folder / "big-security_policy.xml").write_text(_big_policy(8000))
    xm = [sys.executable, "-m", "xm_core", "--root", str(root)]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    subprocess.run([*xm, "makepolicy", "pipe.big"], check=True, env=env)
    listing = subprocess.Popen(
        [*xm, "labels", "pipe.big"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert listing.stdout is not None and listing.stderr is not None
    first = listing.stdout.readline()
    listing.stdout.close()  # what `head -n 1` does after its line
    err = listing.stderr.read()
    listing.wait(timeout=60)
    assert first.startswith(b"vm_label_number_")
    assert err == b""
