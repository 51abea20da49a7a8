"""What every command shares: the host paths of the context, the typed
arguments (domains and numbers, parsed by `xm_core.host.numbers`), and
turning failures into one clean error line and an exit status."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from acm.errors import PolicyError
from xm_core.errors import XmError

F = TypeVar("F", bound=Callable[..., Any])


def root_option(ctx: click.Context) -> str | None:
    obj = ctx.find_root().obj or {}
    root = obj.get("root")
    return str(root) if root else None


# Commands that only read the host: they never create a root that does not
# exist (a mistyped --root fails instead). `xm acm` ones are named `acm NAME`.
READ_ONLY_COMMANDS = frozenset((
    "list", "info", "dmesg", "log", "uptime", "domid", "domname", "dumppolicy", "dry-run",
    "labels", "getlabel", "resources", "block-list", "network-list", "vtpm-list", "vcpu-list",
    "console", "top", "acm graph", "acm flows", "acm coexist", "acm explain", "acm diff",
    "acm decompile", "acm audit", "acm lint", "getpolicy",
))  # fmt: skip


def command_path(ctx: click.Context) -> str:
    """`list`, or `acm lint` for a command of a group."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def paths_of(ctx: click.Context) -> Any:
    """The host's paths (`xm_core.cli.command_paths`, as the launcher's
    plain commands take them)."""
    from xm_core.cli import command_paths

    # `create -n` only prints what a create would do
    writes = command_path(ctx) not in READ_ONLY_COMMANDS and not ctx.params.get("dryrun")
    return command_paths(root_option(ctx), writes)


# Xen 3.0.4's ACM subcommands (main.py's acm_commands), in its order.
XEN_ACM_COMMANDS = [
    "labels",
    "addlabel",
    "rmlabel",
    "getlabel",
    "dry-run",
    "resources",
    "makepolicy",
    "loadpolicy",
    "cfgbootpolicy",
    "dumppolicy",
    "setpolicy",  # Xen 3.4's lifecycle commands
    "getpolicy",
    "resetpolicy",
]


def is_acm_command(ctx: click.Context) -> bool:
    """One of Xen's ACM subcommands, or an `xm acm` one: their errors print
    quoted, as Xen's ACMError did."""
    parent = ctx.parent
    if parent is not None and parent.parent is not None:  # xm acm <command>, xm fleet <command>
        return parent.info_name == "acm"
    return ctx.info_name in XEN_ACM_COMMANDS


def handle_errors(func: F) -> F:
    """Print failures as `Error: <message>` (quoted for the access control
    module's errors; or the findings of a PolicyError), exit 1 (2 for
    usage), never a traceback unless --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool((ctx.find_root().obj or {}).get("debug"))
        from xm_core import render

        try:
            return func(*args, **kwargs)
        except (PolicyError, XmError, OSError) as exc:
            if debug:
                raise
            sys.exit(render.failure(exc, is_acm_command(ctx)))

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------------ typed arguments

# Commands whose arguments may be negative numbers: `-5` reaches the
# parser (and its clear error) instead of reading as an unknown option.
NUMBERS = {"ignore_unknown_options": True}


class Parsed(click.ParamType[Any]):
    """An argument parsed by one function of `xm_core.host.numbers`; its
    UsageError becomes click's usage error (one line, exit 2)."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self.parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if ctx is not None and _looks_like_option(value):
            # `list --lable`: an option mistyped, not a domain or number
            # (these commands take `-5` as a value, so click let it through).
            opts = [o for p in ctx.command.params for o in (*p.opts, *p.secondary_opts)]
            raise click.NoSuchOption(
                value.split("=", 1)[0],
                possibilities=[o for o in opts if o.startswith("-")],
                ctx=ctx,
            )
        try:
            return self.parse(value)
        except XmError as exc:
            raise click.UsageError(exc.message, ctx) from None


def _looks_like_option(text: str) -> bool:
    """`--name` or `-x`: never a domain (a name may not start with `-`) nor
    a number (`-5` is one)."""
    return (
        text.startswith("--")
        and len(text) > 2
        or (len(text) > 1 and text[0] == "-" and text[1].isalpha())
    )


def _numbers() -> Any:
    from xm_core.host import numbers

    return numbers


DOMAIN = Parsed("domain", lambda text: _numbers().parse_domain_ref(text))
MEMORY = Parsed("memory", lambda text: _numbers().parse_memory(text))
VCPU_COUNT = Parsed("vcpus", lambda text: _numbers().parse_vcpu_count(text))
VCPU = Parsed("vcpu", lambda text: _numbers().parse_vcpu(text))
DEVID = Parsed("devid", lambda text: _numbers().parse_devid(text))
MBS = Parsed("mbs", lambda text: _numbers().parse_mbs(text))
