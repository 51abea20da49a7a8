"""The terminal programs: console, top, shell. Each parses its arguments and
starts its loop in xm_core.tui (imported only when the command runs)."""

from __future__ import annotations

import math
import sys

import click

from xm_core.cli.common import handle_errors, paths_of, root_option

JSON_HELP = "Print JSON instead of text."
MAX_DELAY = 86400.0  # a day
MAX_ITERATIONS = 1_000_000  # over eleven days at 1 s; "until quit" is no -i at all


def _finite(delay: float) -> float:
    # `nan` passes every range check
    if not math.isfinite(delay):
        raise click.BadParameter(f"{delay} is not a number of seconds.")
    return delay


def attach_console(ctx: click.Context, domain: str, quiet: bool, as_json: bool) -> int:
    """Show (and, on a terminal, follow) DOMAIN's console; used by `create -c` too."""
    from xm_core.tui.console import run_console

    return run_console(paths_of(ctx), domain, follow=not quiet, as_json=as_json)


@click.command()
@click.option("-q", "--quiet", "quiet", is_flag=True, help="Print the log and exit; never follow.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.argument("domain")
@click.pass_context
@handle_errors
def console(ctx: click.Context, quiet: bool, as_json: bool, domain: str) -> None:
    """Attach to DOMAIN's console: its console log so far (written by the
    host model: creation, devices, SysRq, ACM denials, shutdown), then new
    lines as they come, until Ctrl-] detaches or the domain is gone.

    Without a terminal on stdin, or with -q, the log is printed and the
    command ends. --json: one document when the log is printed, one JSON
    line per console line when it is followed.
    """
    sys.exit(attach_console(ctx, domain, quiet, as_json))


@click.command()
@click.option("-b", "--batch", is_flag=True, help="Print frames instead of a live screen.")
@click.option(
    "-i",
    "--iterations",
    type=click.IntRange(min=1, max=MAX_ITERATIONS),
    default=None,
    metavar="N",
    help="Stop after N refreshes (default: until quit).",
)
@click.option(
    "-d",
    "--delay",
    type=click.FloatRange(min=0, max=MAX_DELAY),
    callback=lambda ctx, param, value: _finite(value),
    default=3.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between refreshes.",
)
@click.option("--json", "as_json", is_flag=True, help="With -b: one JSON document a line.")
@click.pass_context
@handle_errors
def top(
    ctx: click.Context, batch: bool, iterations: int | None, delay: float, as_json: bool
) -> None:
    """Watch every domain (state, memory, VCPUs, label, STE decisions and
    cache, Chinese Wall types) and the ACM's state, refreshed like xentop.

    Keys: q quits, s changes the sort order, + and - the delay, the arrows
    scroll. With -b,
    xentop's batch mode: a header and a row per domain every delay.
    """
    from xm_core.errors import UsageError
    from xm_core.tui.top import run_top

    if as_json and not batch:
        raise UsageError("top --json needs -b")
    sys.exit(
        run_top(paths_of(ctx), batch=batch, iterations=iterations, delay=delay, as_json=as_json)
    )


@click.command()
@click.pass_context
@handle_errors
def shell(ctx: click.Context) -> None:
    """An interactive `xm>` prompt: each line runs as `xm LINE`. Tab completes
    subcommands and domain names, the arrows walk the history (kept under
    the host root); `exit`, `quit` or Ctrl-D leaves.

    Without a terminal, the lines of stdin are run one after the other.
    """
    from xm_core.tui.shell import domain_names, run_shell

    paths = paths_of(ctx)
    root = root_option(ctx)
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    prefix = (["--root", root] if root else []) + (["--debug"] if debug else [])
    group = ctx.find_root().command
    assert isinstance(group, click.Group)
    commands = group.list_commands(ctx)
    sys.exit(
        run_shell(
            lambda words: run_xm(group, [*prefix, *words]),
            commands,
            lambda: domain_names(paths),
            paths.state_dir / "shell_history",
        )
    )


def run_xm(group: click.Group, args: list[str]) -> int:
    """Run one `xm` command line in this process; its exit status."""
    try:
        result = group.main(args=args, prog_name="xm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return result if isinstance(result, int) else 0
