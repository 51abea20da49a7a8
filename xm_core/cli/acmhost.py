"""`xm acm explain | test | audit`: the host-dependent analyses.

Each command parses its arguments, calls one function of `xm_core` and
hands the result to `xm_core.render.acmhost`.
"""

from __future__ import annotations

import sys

import click

from xm_core.cli.common import handle_errors, paths_of
from xm_core.errors import UsageError

JSON_HELP = "Print one JSON document instead of text."


@click.command()
@click.argument("config", required=False)
@click.argument("overrides", nargs=-1, metavar="[NAME=VALUE]...")
@click.option(
    "--label",
    "label",
    metavar="LABEL",
    help="Explain a domain with this label of the active policy (no config, no devices).",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
@handle_errors
def explain(
    ctx: click.Context,
    config: str | None,
    overrides: tuple[str, ...],
    label: str | None,
    as_json: bool,
) -> None:
    """Why `xm create CONFIG` would be permitted or denied on this host now:
    the label's types, each Chinese Wall type with its conflict sets and the
    running domains that block it, each resource with its label and the STE
    types it shares, each device's backend domain. Nothing is changed.
    Exit status 0 when permitted, 1 when denied."""
    from xm_core.insight import explain as core
    from xm_core.render import acmhost as render

    if (config is None) == (label is None):
        raise UsageError("Give either CONFIG or --label LABEL")
    if label is not None and overrides:
        raise UsageError("NAME=VALUE settings go with a CONFIG, not with --label")
    paths = paths_of(ctx)
    if label is not None:
        result = core.explain_label(paths, label)
    else:
        assert config is not None
        result = core.explain_config(paths, config, overrides)
    render.explanation(result, as_json)
    if not result.permitted:
        sys.exit(1)


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE.toml...")
@click.option("--junit", "junit", metavar="FILE", help="Also write the results as JUnit XML.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
@handle_errors
def test(ctx: click.Context, files: tuple[str, ...], junit: str | None, as_json: bool) -> None:
    """Policy unit tests: run each FILE.toml on a scratch host of its own (a
    temporary folder) with its policy compiled and loaded, step by step,
    comparing each outcome (permitted or denied) with the expected one.
    Exit status 1 when any step failed, 2 when a file is malformed."""
    from xm_core.insight.policytest import run_tests
    from xm_core.render import acmhost as render

    run = run_tests(paths_of(ctx), files)
    render.test_run(run, as_json, junit)
    if not run.ok:
        sys.exit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
@handle_errors
def audit(ctx: click.Context, as_json: bool) -> None:
    """The host's labels and state against the active policy: running
    domains, devices and attached resources, the resource label file, the
    domain configs in /etc/xen (read, never executed) and the Chinese Wall
    counters. Nothing is changed. Exit status 1 when anything is found."""
    from xm_core.insight.audit import audit_host
    from xm_core.render import acmhost as render

    report = audit_host(paths_of(ctx))
    render.audit(report, as_json)
    if not report.clean:
        sys.exit(1)
