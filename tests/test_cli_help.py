"""Every command a user can type answers `--help`, through the registry
itself, so a command added later cannot miss its help test."""

from __future__ import annotations

import click
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
    rows = result.output.split("Commands:")[1].splitlines()
    listed = {row.split()[0] for row in rows if row.startswith("  ") and row[2] != " "}
    assert listed == set(XM_COMMANDS)


def test_the_top_level_help_shows_each_summary_whole() -> None:
    """Each command's summary is its first sentence, never cut mid-phrase."""
    from xm_core.cli.commands import xm as group

    result = CliRunner().invoke(xm, ["--help"])
    text = " ".join(result.output.split("Commands:")[1].split())
    ctx = click.Context(group, info_name="xm")
    for name in XM_COMMANDS:
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        first = " ".join((cmd.help or "").split("\n\n")[0].split())
        assert first.split(". ")[0] in text, name
    assert "..." not in text


def test_the_acm_group_summary_names_every_acm_command() -> None:
    """`xm --help` and `xm acm --help` say what `xm acm` holds: a command
    added to the group must be named in its summary."""
    result = CliRunner().invoke(xm, ["--help"])
    row = result.output.split("\n  acm ")[1].split("\n  addlabel")[0]
    summary = " ".join(row.split())
    missing = [name for name in ACM_COMMANDS if name not in summary]
    assert missing == [], summary
