"""The exit-status contract (README, docs/commands.md): 0 success, 1 an
operation failed or was denied, 2 a usage error. One table in
docs/commands.md holds a row for every registered command with a command
line that gives each status; this test runs every cell and fails for a
command the table lacks (issue 20)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.hosttools import loaded_host, xm_run
from xm_core.cli.commands import xm
from xm_core.files.paths import EXAMPLE_POLICY

DOCS = Path(__file__).resolve().parent.parent / "docs" / "commands.md"
SECTION = "## Exit status: one contract, one table"
NONE = "—"


def _table() -> dict[str, tuple[str | None, str | None, str | None]]:
    text = DOCS.read_text(encoding="utf-8")
    assert text.count(SECTION) == 1, "the one table of exit statuses"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str | None, str | None, str | None]] = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("command", "---"):
            continue
        name, *examples = cells
        assert name not in rows, f"two rows for {name}"
        parsed = []
        for example in examples:
            if example == NONE:
                parsed.append(None)
                continue
            found = re.fullmatch(r"`([^`]+)`", example)
            assert found, f"{name}: {example!r} is neither a `command line` nor {NONE}"
            parsed.append(found.group(1))
        rows[name] = (parsed[0], parsed[1], parsed[2])
    return rows


TABLE = _table()


def _registered(group: click.Group, ctx: click.Context, prefix: str = "") -> list[str]:
    """Every command under `group`, a group's commands as `group command`."""
    names = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        full = f"{prefix}{name}"
        names.append(full)
        if isinstance(cmd, click.Group):
            sub = click.Context(cmd, info_name=name, parent=ctx)
            names.extend(_registered(cmd, sub, f"{full} "))
    return names


def test_every_registered_command_has_a_row() -> None:
    ctx = click.Context(xm, info_name="xm")
    registered = _registered(xm, ctx)
    assert "acm lint" in registered  # the walk reaches the groups' commands
    missing = sorted(set(registered) - set(TABLE))
    assert missing == [], f"commands without a row in docs/commands.md: {missing}"
    unknown = sorted(set(TABLE) - set(registered))
    assert unknown == [], f"rows for commands that do not exist: {unknown}"


def test_every_command_has_a_usage_error() -> None:
    assert [name for name, cells in TABLE.items() if cells[2] is None] == []


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(ROOT with `bank` running, the same host without it)."""
    base = tmp_path_factory.mktemp("exit")
    paths = loaded_host(base / "template")
    paths.seed_installed()
    shutil.copytree(paths.root, base / "other")
    assert xm_run(paths.root, "create", "bank").code == 0
    return paths.root, base / "other"


def _run(cell: str, template: tuple[Path, Path], work: Path) -> tuple[int, str]:
    root, other = work / "root", work / "other"
    shutil.copytree(template[0], root)
    shutil.copytree(template[1], other)
    code, output = -1, ""
    for part in cell.split(";"):
        words = shlex.split(part.format(tmp=work, root=root, other=other))
        args = [EXAMPLE_POLICY if w == "P" else w for w in words]
        result = CliRunner().invoke(xm, ["--root", str(root), *args], input="")
        code, output = result.exit_code, result.output
        assert "Traceback" not in output, (part, output)
    return code, output


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_exit_status_of(
    name: str, hosts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    for status, cell in enumerate(TABLE[name]):
        if cell is None:
            continue
        last = cell.split(";")[-1].split()
        assert last[0] == name.split()[0] and set(name.split()) <= set(last), cell
        code, output = _run(cell, hosts, tmp_path_factory.mktemp("cell"))
        assert code == status, f"xm {cell}: exit {code}, the table says {status}\n{output}"
        if status == 2:
            assert output.rstrip("\n").splitlines()[-1].startswith("Error: "), output
