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
