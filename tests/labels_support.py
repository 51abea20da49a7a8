"""What the label, resource, config and lifecycle tests share: a host root
with the example policy compiled, and typing `xm` commands."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import DATA

POLICY = "example.chwall_ste.client_v1"
LABEL_DATA = DATA / "labels"


@dataclass
class Typed:
    exit_code: int
    stdout: str
    stderr: str


def xm(*args: str) -> Typed:
    """Type `xm ARGS...` (in-process, click's runner); XM_ROOT is the fixture's."""
    from xm_core.cli.commands import xm as xm_group

    result = CliRunner().invoke(xm_group, list(args), catch_exceptions=False)
    return Typed(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def compiled_root(host_root: Path) -> Path:
    """A host root with the example policy compiled (its .map and .bin)."""
    from xm_core.files.paths import HostPaths
    from xm_core.host.policy import make_policy

    make_policy(HostPaths(host_root), POLICY)
    return host_root


def copy_data(name: str, dest: Path) -> Path:
    """A test data file copied to `dest` (a folder), so a test may change it."""
    target = dest / name
    shutil.copyfile(LABEL_DATA / name, target)
    return target
