"""`xm acm generate`: a policy from a workload description, by ezPolicy's rules."""

from __future__ import annotations

import click

from xm_core.cli.common import handle_errors


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

    from acm.generate import default_policy_name, generate_policy
    from acm.workload import read_workload
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
