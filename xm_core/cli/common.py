"""What every command shares: the host paths of the context, and turning
failures into one clean error line and an exit status."""

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


def paths_of(ctx: click.Context) -> Any:
    from xm_core.files.paths import host_paths

    return host_paths(root_option(ctx))


def handle_errors(func: F) -> F:
    """Print failures as `Error: '<message>'` (or the findings of a
    PolicyError), exit 1 (2 for usage), never a traceback unless --debug."""

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
            sys.exit(render.failure(exc))

    return wrapper  # type: ignore[return-value]
