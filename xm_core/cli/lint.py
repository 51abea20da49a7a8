"""`xm acm lint` (also the `acm-lint` script): CI checks of policy XML."""

from __future__ import annotations

import click

from xm_core.cli.common import handle_errors


def _policy_path(ctx: click.Context, text: str) -> str:
    """A PATH that is no file or folder but a dotted policy name: that
    policy's XML under the host root (a path wins when both could be meant)."""
    import os

    from acm.errors import PolicyError
    from acm.names import check_policy_name

    if os.path.lexists(text) or os.sep in text:
        return text
    try:
        check_policy_name(text)
    except PolicyError:
        return text  # lint says what is wrong with the path
    from xm_core.cli.common import paths_of

    xml = paths_of(ctx).policy_files(text).xml
    return xml if os.path.lexists(xml) else text


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
    help="text: file:line:col: severity CODE: message; github: workflow commands.",
)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
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
    as_json: bool,
    fail_level: str,
    config_file: str | None,
    most: int,
    paths: tuple[str, ...],
) -> None:
    """Check policy files for mistakes the compiler lets through.

    PATH is a policy file, a folder searched (recursively) for
    *-security_policy.xml, or a dotted policy name of the host root
    (example.chwall_ste.client_v1), as every `xm acm` command takes. Every
    finding has a rule code (ACM001..., see docs/lint.md). Exit status: 0 no
    finding at or above --fail-level, 1 findings, 2 a usage or
    configuration error.
    """
    from acm.compiler import gc_paused
    from acm.errors import Severity
    from acm.lint import LintUsageError, lint_paths
    from xm_core.errors import UsageError
    from xm_core.render.lint import lint_report

    if as_json:
        if fmt not in ("text", "json"):
            raise UsageError(f"--json and --format {fmt} ask for two formats")
        fmt = "json"
    level = Severity(fail_level)
    # The findings (tens of thousands for a large policy) live until they
    # are printed, none in a cycle: the cyclic collector waits until then.
    with gc_paused():
        try:
            report = lint_paths([_policy_path(ctx, p) for p in paths], config_file)
        except LintUsageError as exc:
            raise UsageError(exc.message) from None
        lint_report(report, fmt, level, most)
        status = report.exit_status(level)
        del report
    ctx.exit(status)
