"""Policy file commands: makepolicy, cfgbootpolicy."""

from __future__ import annotations

import click

from xm_core.cli.common import handle_errors, paths_of, root_option


@click.command()
@click.option("-d", "policy_dir", metavar="DIR", help="Policy root to use instead of the host's.")
@click.option(
    "--no-wait",
    is_flag=True,
    help="Fail at once when another makepolicy of POLICY is running (default: wait).",
)
@click.argument("policy")
@click.pass_context
@handle_errors
def makepolicy(ctx: click.Context, policy_dir: str | None, no_wait: bool, policy: str) -> None:
    """Compile POLICY (dotted name) into its .map and .bin files.

    Silent on success (warnings go to stderr); on failure every finding is
    printed as file:line:col: error CODE: message and nothing is written.
    Compiles of one policy run one at a time: a second one waits for the
    first (and says so after a second) unless --no-wait is given.
    """
    from xm_core import render
    from xm_core.host.policy import make_policy_under

    result = make_policy_under(
        root_option(ctx),
        policy,
        policy_dir,
        not no_wait,
        lambda: render.compile_waits(policy),
        on_new_root=render.new_root,
    )
    render.warnings(result.warnings)


@click.command()
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the change to the menu as a unified diff; change nothing.",
)
@click.argument("policy")
@click.argument("boot_title", metavar="[BOOT-TITLE]", required=False)
@click.pass_context
@handle_errors
def cfgbootpolicy(ctx: click.Context, dry_run: bool, policy: str, boot_title: str | None) -> None:
    """Configure POLICY (dotted name, compiled with makepolicy) to be loaded at boot.

    Copies the policy's .bin to /boot and adds `module <folder of xen.gz><POLICY>.bin`
    at the end of the Xen entry of /boot/grub/menu.lst (or grub.conf; a symlink
    is followed), or replaces the entry's policy (.bin) module line in place.
    The entry is the one whose title starts with "Xen" or whose kernel is a
    xen*.gz hypervisor; BOOT-TITLE picks the Xen entry whose title contains it.
    Nothing else in the file changes; the old menu is kept as <file>_save.
    """
    from xm_core.host.bootpolicy import cfg_boot_policy
    from xm_core.render import boot

    boot.cfgbootpolicy(cfg_boot_policy(paths_of(ctx), policy, boot_title, dry_run))


# ------------------------------------------------------------------ Xen 3.4's lifecycle


@click.command()
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what the update would do to each running domain and resource; change nothing.",
)
@click.option("--no-boot", is_flag=True, help="Load only; leave the boot entry as it is.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.argument("policy_type", metavar="ACM")
@click.argument("policy")
@click.pass_context
@handle_errors
def setpolicy(
    ctx: click.Context, dry_run: bool, no_boot: bool, as_json: bool, policy_type: str, policy: str
) -> None:
    """Set POLICY as the host's policy (Xen 3.4): find, compile, update, boot.

    Reads POLICY-security_policy.xml (dots as slashes) from the current
    folder, else the policy tree, compiles it, and updates the running
    policy: a versioned policy must name the running one and its version
    in FromPolicy and have a greater Version. Labels renamed with from=
    carry over to running domains, the resource label file and the domain
    configs under /etc/xen; resources whose label is gone read INV_ACM.
    Every running domain is re-checked first; if any would break, every
    violation is listed and nothing changes. Then the policy becomes the
    boot policy (unless --no-boot).
    """
    from xm_core.host.update.apply import check_policy_type

    check_policy_type(policy_type)
    paths = paths_of(ctx)
    if dry_run:
        from xm_core.insight.impact import update_impact
        from xm_core.render.xen34 import lifecycle as render

        impact = update_impact(paths, policy)
        render.dry_run(impact.plan, impact.refusal, impact.details, as_json)
        if not impact.would_set:
            ctx.exit(1)
        return
    from xm_core.host.update.apply import set_policy
    from xm_core.host.update.plan import UpdateRefused
    from xm_core.host.update.status import policy_info
    from xm_core.render.xen34 import lifecycle as render

    try:
        result = set_policy(paths, policy, boot=not no_boot)
    except UpdateRefused as exc:
        if as_json:
            from xm_core.render import emit_json

            doc = exc.plan.as_dict()
            doc.update({"set": False, "refusal": exc.message})
            emit_json(doc)
            ctx.exit(1)
        raise
    render.setpolicy(result, policy_info(paths), as_json)


@click.command()
@click.option("--dumpxml", is_flag=True, help="Also print the XML of the policy.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
@handle_errors
def getpolicy(ctx: click.Context, dumpxml: bool, as_json: bool) -> None:
    """Show the host's policy: name, type, version, loaded / activated for boot."""
    from xm_core.host.update.status import policy_info
    from xm_core.render.xen34 import lifecycle as render

    render.getpolicy(policy_info(paths_of(ctx), dumpxml), as_json)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
@handle_errors
def resetpolicy(ctx: click.Context, as_json: bool) -> None:
    """Reset the host's policy to DEFAULT (Xen 3.4); refused while guests run.

    Resources labeled under the old policy read INV_ACM:POLICY:LABEL
    afterwards; Domain-0 loses its label; the boot entry is left as it is.
    """
    from xm_core.host.update.apply import reset_policy
    from xm_core.render.xen34 import lifecycle as render

    render.resetpolicy(reset_policy(paths_of(ctx)), as_json)
