"""Every command a user can type answers `--help`, through the registry
itself, so a command added later cannot miss its help test."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from xm_core.cli.commands import ACM_COMMANDS, XM_COMMANDS, xm

COMMANDS = [[name] for name in XM_COMMANDS] + [["acm", name] for name in ACM_COMMANDS]


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_has_help(words: list[str]) -> None:
    result = CliRunner().invoke(xm, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: xm {' '.join(words)} ")
    summary = result.output.split("\n\n")[1].strip()
    assert summary, f"{' '.join(words)} has no help text"


def test_the_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(xm, ["--help"])
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == set(XM_COMMANDS)
