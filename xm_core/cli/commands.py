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

from xm_core.render import quiet_on_closed_pipe

# name -> "module:attribute"; the modules are imported on first use only.
XM_COMMANDS: dict[str, str] = {
    "makepolicy": "xm_core.cli.policy:makepolicy",
    "demo": "xm_core.cli.demo:demo",
    "cfgbootpolicy": "xm_core.cli.policy:cfgbootpolicy",
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
}


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

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


@click.group(cls=LazyGroup, lazy=XM_COMMANDS, context_settings=CONTEXT)
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
    ctx.obj = {"root": root, "debug": debug}


@click.group(cls=LazyGroup, lazy=ACM_COMMANDS, context_settings=CONTEXT)
def acm_group() -> None:
    """Beyond Xen: lint, graphs, flows, explanations, diff, decompile, tests, audit."""


def main(argv: list[str] | None = None) -> None:
    quiet_on_closed_pipe()
    xm.main(args=argv, prog_name="xm")


def lint_main(argv: list[str] | None = None) -> None:
    """The `acm-lint` console script: `xm acm lint` on its own."""
    from xm_core.cli.lint import lint

    quiet_on_closed_pipe()
    args = sys.argv[1:] if argv is None else argv
    lint.main(args=args, prog_name="acm-lint")
