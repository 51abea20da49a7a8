"""Policy commands: makepolicy."""

from __future__ import annotations

import click

from xm_core.cli.common import handle_errors, paths_of


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
    from acm.names import check_policy_name
    from xm_core import render
    from xm_core.policy import check_policy_dir, make_policy

    # Both are checked before the host root is resolved: a new per-user root
    # would otherwise be created and seeded for a command that is refused.
    check_policy_name(policy)
    check_policy_dir(policy_dir)
    result = make_policy(paths_of(ctx), policy, policy_dir)
    render.warnings(result.warnings)
