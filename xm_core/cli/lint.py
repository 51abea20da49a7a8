"""`xm acm lint` (also the `acm-lint` script): CI checks of policy XML."""

from __future__ import annotations

import click

from xm_core.cli.common import handle_errors


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
    help="text: file:line:col: severity CODE message; github: workflow commands.",
)
@click.option(
    "--fail-level",
    type=click.Choice(["error", "warning", "info"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding is at or above this severity.",
)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="Configuration (TOML); default: the nearest acm-lint.toml above each policy.",
)
@click.option(
    "--max",
    "most",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    metavar="N",
    help="text and github: print at most N findings of a file, then how many more "
    "there are (json and sarif carry every finding).",
)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.pass_context
@handle_errors
def lint(
    ctx: click.Context,
    fmt: str,
    fail_level: str,
    config_file: str | None,
    most: int,
    paths: tuple[str, ...],
) -> None:
    """Check policy files for mistakes the compiler lets through.

    PATH is a policy file or a folder searched (recursively) for
    *-security_policy.xml. Every finding has a rule code (ACM001...,
    see docs/lint.md). Exit status: 0 no finding at or above --fail-level,
    1 findings, 2 a usage or configuration error.
    """
    from acm.errors import Severity
    from acm.lint import LintUsageError, lint_paths
    from xm_core.errors import UsageError
    from xm_core.render.lint import lint_report

    try:
        report = lint_paths(paths, config_file)
    except LintUsageError as exc:
        raise UsageError(exc.message) from None
    level = Severity(fail_level)
    lint_report(report, fmt, level, most)
    ctx.exit(report.exit_status(level))
