"""`xm demo`: the main job on an embedded default (no Xen, no root)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from xm_core.cli.common import handle_errors, root_option


@click.command()
@click.pass_context
@handle_errors
def demo(ctx: click.Context) -> None:
    """Compile the embedded example policy in a fresh host root and show the result.

    Uses --root when given (it must be empty or new), else a temporary folder.
    """
    from xm_core import render
    from xm_core.cli.scenario import run_demo

    root = root_option(ctx)
    if root is None:
        root = tempfile.mkdtemp(prefix="xm-demo-")
    render.demo(run_demo(Path(root)))
