"""The `xm acm` subcommands but lint: the policy analyses (graph, flows,
coexist, diff, decompile), the host-dependent ones (explain, test, audit)
and generation from a workload (generate).

A POLICY argument is a file (an XML source, or a `.bin` with its `.map`
beside it) or a dotted policy name, looked up as the XML under the host's
policy root and compiled in memory (nothing is written).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from xm_core.cli.common import handle_errors, paths_of
from xm_core.errors import UsageError

FILE_SUFFIXES = (".xml", ".bin", ".map")
JSON_HELP = "Print one JSON document instead of text."


def load(ctx: click.Context, text: str) -> Any:
    """The AnalysisPolicy a POLICY argument names: an existing file or a path
    (ending in .xml/.bin/.map or holding a '/'), else a dotted policy name:
    its XML under the policy root, or its .bin and .map when only they exist."""
    from acm.analysis.loader import load_policy_file

    if Path(text).is_file() or text.endswith(FILE_SUFFIXES) or "/" in text:
        return load_policy_file(text)
    files = paths_of(ctx).policy_files(text).settled()  # a bad name: ACM005 first
    compiled_only = not Path(files.xml).exists() and Path(files.bin).exists()
    return load_policy_file(files.bin if compiled_only else files.xml)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@click.command()
@click.argument("policy")
@click.option(
    "--kind",
    type=click.Choice(["conflicts", "flows"]),
    default="conflicts",
    show_default=True,
    help="conflicts: Chinese Wall 'A running blocks B'; flows: labels sharing STE types.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dot", "json", "svg"]),
    default="dot",
    show_default=True,
    help="json is networkx node-link data; svg needs Graphviz's dot.",
)
@click.option(
    "--level",
    type=click.Choice(["auto", "labels", "groups", "types"]),
    default="auto",
    show_default=True,
    help="Nodes: labels, or groups of labels with one Chinese Wall type set (conflicts), "
    "or labels and STE types (flows); auto draws labels unless that makes over 20,000 edges.",
)
@click.option("-o", "output", metavar="FILE", help="Write to FILE instead of stdout.")
@json_option
@click.pass_context
@handle_errors
def graph(
    ctx: click.Context,
    policy: str,
    kind: str,
    fmt: str,
    level: str,
    output: str | None,
    as_json: bool,
) -> None:
    """Draw the Chinese Wall or STE flow graph of POLICY (--json: --format json)."""
    from acm.analysis.graphs import policy_graph
    from xm_core.render import analysis as render

    result = policy_graph(load(ctx, policy), kind, level)
    render.data(result.format("json" if as_json else fmt), output)


@click.command()
@click.argument("policy")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
@click.option("--max-hops", default=3, show_default=True, type=click.IntRange(1, 64))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@json_option
@click.pass_context
@handle_errors
def flows(
    ctx: click.Context,
    policy: str,
    source: str,
    target: str,
    max_hops: int,
    limit: int,
    as_json: bool,
) -> None:
    """The paths by which data can travel from label FROM to label TO, shortest
    first, each step naming the STE types shared (a label may be written
    dom:NAME or res:NAME)."""
    from acm.analysis.flows import find_flows
    from xm_core.render import analysis as render

    render.result(find_flows(load(ctx, policy), source, target, max_hops, limit), as_json)


@click.command()
@click.argument("policy")
@click.argument("labels", nargs=-1)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(0), help="Sets listed.")
@json_option
@click.pass_context
@handle_errors
def coexist(
    ctx: click.Context, policy: str, labels: tuple[str, ...], limit: int, as_json: bool
) -> None:
    """The maximal sets of VM labels that can run at the same time (beside
    Domain-0); with LABELS, whether those can, and in which start order
    (exit status 1 when they cannot)."""
    from acm.analysis.coexist import CoexistCheck
    from acm.analysis.coexist import coexist as run
    from acm.compiler import gc_paused
    from xm_core.render import analysis as render

    # The labels and the groups are records in no cycle: the cyclic
    # collector would only scan them again and again while they are made.
    with gc_paused():
        res = run(load(ctx, policy), list(labels), limit)
        render.result(res, as_json)
    if isinstance(res, CoexistCheck) and not res.can:
        sys.exit(1)


@click.command()
@click.argument("old")
@click.argument("new")
@click.option("--exit-code", is_flag=True, help="Exit with status 1 when the policies differ.")
@click.option(
    "--host",
    "against_host",
    is_flag=True,
    help="Also check NEW against this host's running domains and devices, as "
    "'xm loadpolicy NEW' would (nothing is changed); exit status 1 when it would be refused.",
)
@json_option
@click.pass_context
@handle_errors
def diff(
    ctx: click.Context, old: str, new: str, exit_code: bool, against_host: bool, as_json: bool
) -> None:
    """What changes from policy OLD to policy NEW: types, labels, conflict sets,
    SSID renumbering and Chinese Wall blocking; with --host, what loading NEW
    would break on this host."""
    from acm.analysis.diff import diff_policies
    from xm_core.render import analysis as render

    res = diff_policies(load(ctx, old), load(ctx, new))
    if against_host:
        from xm_core.insight.impact import host_impact

        impact = host_impact(paths_of(ctx), res)
        render.with_host_impact(res, impact, as_json)
        if not impact.loadable:
            sys.exit(1)
    else:
        render.result(res, as_json)
    if exit_code and not res.identical:
        sys.exit(1)


@click.command()
@click.argument("binary", metavar="FILE.bin")
@click.option("--map", "map_file", metavar="FILE.map", help="Take the names from this .map.")
@click.option("-o", "output", metavar="FILE.xml", help="Write the XML to FILE instead of stdout.")
@json_option
@handle_errors
def decompile(binary: str, map_file: str | None, output: str | None, as_json: bool) -> None:
    """XML source that compiles back to the identical FILE.bin (names from the
    .map, made up without it). The result is compiled again and compared
    before it is written."""
    from acm.analysis.decompile import decompile_files
    from xm_core.render import analysis as render

    res = decompile_files(binary, map_file)
    if output is not None:
        render.data(res.xml, output)
        render.wrote(output, res.summary(), as_json, res.as_dict())
    elif as_json:
        render.result(res, True)
    else:
        render.data(res.xml, None)


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


@click.command()
@click.argument("workload", metavar="WORKLOAD")
@click.option(
    "-o",
    "output",
    metavar="FILE",
    required=True,
    help="The policy file to write (atomically), e.g. NAME-security_policy.xml.",
)
@click.option(
    "--name",
    "policy_name",
    metavar="POLICYNAME",
    help="PolicyName; default: FILE's name without -security_policy.xml.",
)
@click.option(
    "--date",
    metavar="TEXT",
    help="The header's Date; default: now, as ezPolicy wrote it (time.asctime()).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@handle_errors
def generate(
    workload: str, output: str, policy_name: str | None, date: str | None, as_json: bool
) -> None:
    """Write the policy Xen's ezPolicy made for WORKLOAD.

    WORKLOAD is a JSON or TOML description (docs/generate.md) or an ezPolicy
    .wld file (read as a literal, never run). Every mistake in it is listed;
    nothing is written then. A rule with fewer than two types is skipped,
    with a warning."""
    import os
    import time

    from acm.authoring.generate import default_policy_name, generate_policy
    from acm.authoring.workload import read_workload
    from xm_core import render
    from xm_core.errors import XmError
    from xm_core.render import analysis as render_output

    folder = os.path.dirname(output) or "."
    if not os.path.isdir(folder):
        raise XmError(f"No such folder for -o: {folder}")
    name = policy_name if policy_name is not None else default_policy_name(output)
    result = generate_policy(
        read_workload(workload),
        name,
        date if date is not None else time.asctime(),
        workload,
    )
    render.warnings(result.diagnostics)
    render_output.data(result.xml, output)
    render_output.wrote(output, result.summary(), as_json, result.as_dict())


@click.command()
@click.argument("policy", required=False, metavar="[POLICY|FILE]")
@click.option(
    "--port", default=0, type=click.IntRange(0, 65535), help="Port (default: a free one)."
)
@click.option(
    "--bind", default="127.0.0.1", show_default=True, metavar="ADDR", help="Address to listen on."
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --bind address that is not loopback (anyone reaching it with the URL's "
    "token can change this host's policies).",
)
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@click.pass_context
@handle_errors
def studio(
    ctx: click.Context,
    policy: str | None,
    port: int,
    bind: str,
    allow_remote: bool,
    no_browser: bool,
) -> None:
    """Start the policy studio, a local web application (generate, edit,
    analyse, save and load policies), and print its URL with its access
    token. It listens on 127.0.0.1 unless told otherwise; stop it with Ctrl-C."""
    from xm_core.render.analysis import studio_started
    from xm_core.web import run_studio

    run_studio(
        paths_of(ctx),
        studio_started,
        port=port,
        bind=bind,
        allow_remote=allow_remote,
        open_browser=not no_browser,
        initial=policy,
    )


BACKUP_SUFFIX = ".acm-backup"


@click.command()
@click.argument("args", nargs=-1, metavar="POLICY|FILE -o DIR  |  --configs CONFIG...|DIR")
@click.option("-o", "output", metavar="DIR", help="The folder to write the module and the rest to.")
@click.option(
    "--configs",
    "configs",
    is_flag=True,
    help="Rewrite the access_control line of each domain config (or of each config in a "
    "folder) into xl's seclabel line, keeping the old file as CONFIG.acm-backup.",
)
@click.option(
    "--policy",
    "policy_arg",
    metavar="POLICY|FILE",
    help="With --configs: take the labels from this policy (default: the policy each "
    "config's access_control names).",
)
@json_option
@click.pass_context
@handle_errors
def flask(
    ctx: click.Context,
    args: tuple[str, ...],
    output: str | None,
    configs: bool,
    policy_arg: str | None,
    as_json: bool,
) -> None:
    """Export POLICY to FLASK/XSM, Xen's access control since 4.2: a module
    (.te, with Xen 4.13's macros) and its modules.conf line, the table of
    ACM names and FLASK types, the Chinese Wall guard to run before
    `xl create`, and a report of what was carried over, mapped approximately
    or cannot be expressed. With --configs, rewrite labelled domain configs."""
    if configs:
        if output is not None:
            raise UsageError("-o goes with a POLICY, not with --configs")
        if not args:
            raise UsageError("--configs needs at least one CONFIG or folder")
        _flask_configs(ctx, args, policy_arg, as_json)
        return
    if policy_arg is not None:
        raise UsageError("--policy goes with --configs")
    if len(args) != 1 or output is None:
        raise UsageError("Give one POLICY and -o DIR (or --configs CONFIG...)")
    _flask_export(ctx, args[0], output, as_json)


def _export_of(ctx: click.Context, text: str) -> Any:
    from acm.flask import export_flask, load_for_export

    if Path(text).is_file() or text.endswith(FILE_SUFFIXES) or "/" in text:
        return export_flask(*load_for_export(text))
    files = paths_of(ctx).policy_files(text).settled()
    if not Path(files.xml).exists() and Path(files.bin).exists():
        return export_flask(*load_for_export(files.bin))
    return export_flask(*load_for_export(files.xml))


def _flask_export(ctx: click.Context, policy: str, output: str, as_json: bool) -> None:
    import os

    from xm_core.errors import XmError
    from xm_core.files.atomic import atomic_write
    from xm_core.render import analysis as render

    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise XmError(f"-o {output}: not a folder")
    export = _export_of(ctx, policy)
    os.makedirs(folder, exist_ok=True)
    texts = render.flask_files(export)
    for name, text in texts.items():
        mode = 0o755 if name == export.guard_name else None
        atomic_write(folder / name, text.encode(), mode)
    render.flask_export(export, output, list(texts), as_json)


def _config_files(args: tuple[str, ...]) -> list[Path]:
    from xm_core.errors import XmError

    found: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            found += sorted(
                f
                for f in p.iterdir()
                if f.is_file() and not f.name.startswith(".") and not f.name.endswith(BACKUP_SUFFIX)
            )
        elif p.is_file():
            found.append(p)
        else:
            raise XmError(f"Config file '{arg}' not found")
    return found


def _flask_configs(
    ctx: click.Context, args: tuple[str, ...], policy_arg: str | None, as_json: bool
) -> None:
    from acm.errors import PolicyError
    from xm_core.errors import XmError
    from xm_core.files.atomic import atomic_write
    from xm_core.files.config import (
        access_control_to_seclabel,
        config_text,
        declared_label,
        read_config_bytes,
        rewrite_config,
    )
    from xm_core.render import analysis as render

    fixed = _export_of(ctx, policy_arg) if policy_arg is not None else None
    exports: dict[str, Any] = {}
    results: list[dict[str, Any]] = []
    for path in _config_files(args):
        entry: dict[str, Any] = {"config": str(path)}
        results.append(entry)
        try:
            data = read_config_bytes(path)
            declared = declared_label(config_text(data, str(path)), str(path))
            if declared is None:
                entry["status"] = "unlabeled"
                continue
            policy_name, label = declared
            export = fixed
            if export is None:
                if policy_name not in exports:
                    exports[policy_name] = _export_of(ctx, policy_name)
                export = exports[policy_name]
            elif policy_name != export.policy:
                raise XmError(f"it is labelled under policy '{policy_name}', not '{export.policy}'")
            context = export.seclabels.get(label)
            if context is None:
                raise XmError(f"label '{label}' is not a VM label of policy '{export.policy}'")
            backup = Path(str(path) + BACKUP_SUFFIX)
            access_control_to_seclabel(data, context, str(path))  # refused before any write
            if not backup.exists():
                atomic_write(backup, data)

            def change(old: bytes, c: str = context, f: str = str(path)) -> bytes:
                return access_control_to_seclabel(old, c, f)

            rewrite_config(path, change)
            entry.update(status="rewritten", seclabel=context, backup=str(backup), label=label)
        except (XmError, PolicyError, OSError) as exc:
            entry.update(status="error", error=str(exc))
    render.flask_configs(results, as_json)
    if any(r["status"] == "error" for r in results):
        sys.exit(1)
