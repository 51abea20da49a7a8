"""The `xm` command line: a thin click layer.

Each command parses its arguments, calls one function of `xm_core` and hands
the result to `xm_core.render`. Subcommands are imported only when they are
run, so that `xm makepolicy` does not pay for SQLite, networkx or the
analyses.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from xm_core.cli.common import XEN_ACM_COMMANDS
from xm_core.render import quiet_on_closed_pipe

# name -> "module:attribute"; the modules are imported on first use only.
XM_COMMANDS: dict[str, str] = {
    "help": "xm_core.cli.commands:help_",
    "makepolicy": "xm_core.cli.policy:makepolicy",
    "demo": "xm_core.cli.demo:demo",
    "cfgbootpolicy": "xm_core.cli.policy:cfgbootpolicy",
    "setpolicy": "xm_core.cli.policy:setpolicy",
    "getpolicy": "xm_core.cli.policy:getpolicy",
    "resetpolicy": "xm_core.cli.policy:resetpolicy",
    "acm": "xm_core.cli.commands:acm_group",
    "labels": "xm_core.cli.labels:labels",
    "addlabel": "xm_core.cli.labels:addlabel",
    "rmlabel": "xm_core.cli.labels:rmlabel",
    "getlabel": "xm_core.cli.labels:getlabel",
    "resources": "xm_core.cli.labels:resources",
    "save": "xm_core.cli.lifecycle:save",
    "restore": "xm_core.cli.lifecycle:restore",
    "migrate": "xm_core.cli.lifecycle:migrate",
    "mem-max": "xm_core.cli.lifecycle:mem_max",
    "mem-set": "xm_core.cli.lifecycle:mem_set",
    "vcpu-set": "xm_core.cli.lifecycle:vcpu_set",
    "vcpu-list": "xm_core.cli.lifecycle:vcpu_list",
    "vcpu-pin": "xm_core.cli.lifecycle:vcpu_pin",
    "sysrq": "xm_core.cli.lifecycle:sysrq",
    "loadpolicy": "xm_core.cli.domains:loadpolicy",
    "dumppolicy": "xm_core.cli.domains:dumppolicy",
    "create": "xm_core.cli.domains:create",
    "dry-run": "xm_core.cli.domains:dry_run",
    "destroy": "xm_core.cli.domains:destroy",
    "shutdown": "xm_core.cli.domains:shutdown",
    "reboot": "xm_core.cli.domains:reboot",
    "pause": "xm_core.cli.domains:pause",
    "unpause": "xm_core.cli.domains:unpause",
    "rename": "xm_core.cli.domains:rename",
    "domid": "xm_core.cli.domains:domid",
    "domname": "xm_core.cli.domains:domname",
    "list": "xm_core.cli.domains:list_",
    "uptime": "xm_core.cli.domains:uptime",
    "info": "xm_core.cli.domains:info",
    "dmesg": "xm_core.cli.domains:dmesg",
    "log": "xm_core.cli.domains:log",
    "block-attach": "xm_core.cli.devices:block_attach",
    "block-detach": "xm_core.cli.devices:block_detach",
    "block-list": "xm_core.cli.devices:block_list",
    "network-attach": "xm_core.cli.devices:network_attach",
    "network-detach": "xm_core.cli.devices:network_detach",
    "network-list": "xm_core.cli.devices:network_list",
    "console": "xm_core.cli.terminal:console",
    "top": "xm_core.cli.terminal:top",
    "shell": "xm_core.cli.terminal:shell",
    "vtpm-list": "xm_core.cli.devices:vtpm_list",
    "suspend": "xm_core.cli.lifecycle:suspend",
    "resume": "xm_core.cli.lifecycle:resume",
    "dump-core": "xm_core.cli.lifecycle:dump_core",
    "fleet": "xm_core.cli.fleet.commands:fleet",
}

# `xm help`: Xen 3.0.4's common commands, and its full list grouped by
# function (main.py's command lists); a command shows once registered.
COMMON_COMMANDS = [
    "console",
    "create",
    "destroy",
    "dump-core",
    "help",
    "list",
    "mem-set",
    "migrate",
    "pause",
    "reboot",
    "restore",
    "resume",
    "save",
    "shell",
    "shutdown",
    "suspend",
    "top",
    "unpause",
    "uptime",
    "vcpu-set",
]
XEN_GROUPS: dict[str, list[str]] = {
    "Domain commands": [
        "console",
        "create",
        "destroy",
        "domid",
        "domname",
        "dump-core",
        "list",
        "mem-max",
        "mem-set",
        "migrate",
        "pause",
        "reboot",
        "rename",
        "restore",
        "resume",
        "save",
        "shutdown",
        "suspend",
        "sysrq",
        "top",
        "unpause",
        "uptime",
        "vcpu-list",
        "vcpu-pin",
        "vcpu-set",
    ],
    "Host commands": ["dmesg", "info", "log"],
    "Device commands": [
        "block-attach",
        "block-detach",
        "block-list",
        "network-attach",
        "network-detach",
        "network-list",
        "vtpm-list",
    ],
    "Access control commands": XEN_ACM_COMMANDS,
    "Beyond Xen": ["shell", "help", "demo", "acm", "fleet"],
}

ACM_COMMANDS: dict[str, str] = {
    "lint": "xm_core.cli.lint:lint",
    "graph": "xm_core.cli.acm_commands:graph",
    "flows": "xm_core.cli.acm_commands:flows",
    "coexist": "xm_core.cli.acm_commands:coexist",
    "diff": "xm_core.cli.acm_commands:diff",
    "decompile": "xm_core.cli.acm_commands:decompile",
    "explain": "xm_core.cli.acm_commands:explain",
    "test": "xm_core.cli.acm_commands:test",
    "audit": "xm_core.cli.acm_commands:audit",
    "studio": "xm_core.cli.acm_commands:studio",
    "generate": "xm_core.cli.acm_commands:generate",
    "flask": "xm_core.cli.acm_commands:flask",
}


class OneLineUsageError(click.UsageError):
    """A usage error as every `xm` error prints: one line, exit 2."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


# click >= 8.2 raises this for a group typed without a command: it shows the help.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", OneLineUsageError)


def _one_line(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, OneLineUsageError | _NO_ARGS_IS_HELP):
        return exc
    return OneLineUsageError(exc.format_message(), exc.ctx)


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command with its summary whole (its first sentence), never
        cut mid-phrase as click's 45-character short help would."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """An unknown command is a usage error that names the close ones
        (`xm lsit`: did you mean 'list'?), as click does for options."""
        name = args[0] if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            hint = ""
            if close:
                hint = " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
            raise OneLineUsageError(f"No such command '{name}'.{hint}", ctx)
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name].split(":")
            cmd = getattr(importlib.import_module(module), attr)
            assert isinstance(cmd, click.Command)
            return cmd
        return super().get_command(ctx, cmd_name)


CONTEXT = {"help_option_names": ["-h", "--help"]}


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from xm_core.host.model import XEN_VERSION

    try:
        from importlib.metadata import version

        ours = version("xm-acm")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        ours = "unknown"
    major, minor, extra = XEN_VERSION
    click.echo(f"xm (xm-acm {ours}), the xm of Xen {major}.{minor}{extra}")
    ctx.exit(0)


@click.group(cls=LazyGroup, lazy=XM_COMMANDS, context_settings=CONTEXT)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and exit.",
)
@click.option(
    "--root",
    metavar="DIR",
    envvar="XM_ROOT",
    help="Host root: every host path (/etc/xen, /boot, the state) is taken under it.",
)
@click.option("--debug", is_flag=True, help="Show a traceback when a command fails.")
@click.pass_context
def xm(ctx: click.Context, root: str | None, debug: bool) -> None:
    """Xen Access Control Module (sHype) tools: compile, load and enforce policies."""
    if root == "":  # typed `--root ""`: never another root in its place
        raise click.UsageError("--root: the path is empty; give the host root folder", ctx)
    ctx.obj = {"root": root, "debug": debug}


@click.group(cls=LazyGroup, lazy=ACM_COMMANDS, context_settings=CONTEXT)
def acm_group() -> None:
    """Beyond Xen: lint, graph, flows, coexist, explain, diff, decompile,
    test, audit, generate (ezPolicy's policies), flask (export to FLASK/XSM)
    and the studio."""


@click.command("help")
@click.option("--long", "long_", is_flag=True, help="Every command, grouped by function.")
@click.argument("command", nargs=-1)
@click.pass_context
def help_(ctx: click.Context, long_: bool, command: tuple[str, ...]) -> None:
    """Print the common commands; --long prints every command grouped by
    function, and COMMAND the help of that command."""
    from xm_core.render.usage import command_list

    root = ctx.find_root()
    group = root.command
    assert isinstance(group, LazyGroup)
    if command:  # one word, or a group's and its command's (`xm help acm lint`)
        parent: click.Context = root
        cmd: click.Command = group
        for word in command:
            found = cmd.get_command(parent, word) if isinstance(cmd, click.Group) else None
            if found is None:
                raise click.UsageError(f"Subcommand {' '.join(command)} not found!", ctx)
            cmd, parent = found, click.Context(found, info_name=word, parent=parent)
        click.echo(cmd.get_help(parent))
        return

    def summary(name: str) -> str | None:
        cmd = group.get_command(root, name) if name in group.lazy else None
        return None if cmd is None else cmd.get_short_help_str(limit=1000)

    if long_:
        groups = [(title, [(n, summary(n)) for n in names]) for title, names in XEN_GROUPS.items()]
    else:
        groups = [("", [(n, summary(n)) for n in COMMON_COMMANDS])]
    command_list(groups, long_)


def main(argv: list[str] | None = None) -> None:
    quiet_on_closed_pipe()
    xm.main(args=argv, prog_name="xm")


def lint_main(argv: list[str] | None = None) -> None:
    """The `acm-lint` console script: `xm acm lint` on its own."""
    from xm_core.cli.lint import lint

    quiet_on_closed_pipe()
    args = sys.argv[1:] if argv is None else argv
    lint.main(args=args, prog_name="acm-lint")
