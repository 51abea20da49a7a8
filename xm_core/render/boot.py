"""Output of `xm cfgbootpolicy`."""

from __future__ import annotations

import sys

from xm_core.host.bootpolicy import BootPolicyResult
from xm_core.render import err, out


def cfgbootpolicy(result: BootPolicyResult) -> None:
    """Xen's success line; with --dry-run the unified diff of the menu on
    stdout (bytes as they are: CRLF and non-UTF-8 titles included) and what
    would happen on stderr."""
    for warning in result.warnings:
        err(warning)
    if not result.dry_run:
        out(f"Boot entry '{result.title}' extended and '{result.bin_name}' copied to /boot")
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(result.diff)
    sys.stdout.buffer.flush()
    change = "would be extended" if result.edit.changed else "is already configured"
    err(
        f"Dry run: boot entry '{result.title}' {change} and '{result.bin_name}' "
        "would be copied to /boot; nothing was changed."
    )
