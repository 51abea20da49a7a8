"""Policy commands: makepolicy."""

from __future__ import annotations

import click

from xm_core.cli.common import handle_errors, root_option


@click.command()
@click.option("-d", "policy_dir", metavar="DIR", help="Policy root to use instead of the host's.")
@click.argument("policy")
@click.pass_context
@handle_errors
def makepolicy(ctx: click.Context, policy_dir: str | None, policy: str) -> None:
    """Compile POLICY (dotted name) into its .map and .bin files.

    Silent on success (warnings go to stderr); on failure every finding is
    printed as file:line:col: error CODE: message and nothing is written.
    """
    from xm_core import render
    from xm_core.host.policy import make_policy_under

    render.warnings(make_policy_under(root_option(ctx), policy, policy_dir).warnings)
