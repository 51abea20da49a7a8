"""The host's memory, accounted as Xen's xend accounted it.

The host has `total_memory` (the host record); every domain holds its
allocation, Domain-0 included; what is left is free. A domain that needs
more than is free (create, restore, resume, migrate in, a larger mem-set)
gets it by ballooning Domain-0 down, never below `dom0-min-mem` of the
host's `etc/xen/xend-config.sxp`; with `dom0-min-mem` 0 Domain-0 is never
ballooned. Otherwise the request is refused with xend's two reasons (its
`balloon.free`). Sizes are MiB in the store and KiB in the messages, as
xend printed them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from xm_core.errors import XmError
from xm_core.files.paths import HostPaths
from xm_core.host.store import DOM0_ID, LOG, DomainRecord, Store

XEND_CONFIG = "xend-config.sxp"
# The value of the xend-config.sxp that Xen installed; a host without the
# file is an installed host with that file unchanged.
DOM0_MIN_MEM_INSTALLED = 196  # MiB
MAX_XEND_CONFIG_BYTES = 1 << 20
_MIN_MEM = re.compile(r"\(\s*dom0-min-mem\s+([^()\s]*)\s*\)")


def dom0_min_mem(paths: HostPaths) -> int:
    """`(dom0-min-mem N)` (MiB) of the host's xend-config.sxp: Xen's
    installed 196 when the file is missing, xend's default 0 when the file
    does not set it."""
    from acm.inputfile import InputFileError, read_input

    path = paths.etc_xen / XEND_CONFIG
    if not path.exists():
        return DOM0_MIN_MEM_INSTALLED
    try:
        text = read_input(path, MAX_XEND_CONFIG_BYTES).decode("utf-8", "replace")
    except InputFileError as exc:
        raise XmError(f"{path}: {exc.reason}") from None
    value = None
    for line in text.splitlines():
        found = _MIN_MEM.search(line.split("#", 1)[0])
        if found:
            value = found.group(1)  # the last setting wins, as xend read it
    if value is None:
        return 0
    if not value.isdigit() or len(value) > 9:
        raise XmError(f"{path}: dom0-min-mem '{value}' is not a number of MiB")
    return int(value)


@dataclass(frozen=True)
class HostMemory:
    """The host's memory now (MiB)."""

    total: int
    used: int  # by every domain, Domain-0 included
    dom0: int  # Domain-0's allocation
    dom0_min: int

    @property
    def free(self) -> int:
        return max(self.total - self.used, 0)

    @property
    def available(self) -> int:
        """The most a new domain can get (`make_room`'s rule): the free
        memory and, unless dom0-min-mem is 0, Domain-0's allocation above it."""
        if self.dom0_min == 0:
            return self.free
        return self.free + max(self.dom0 - self.dom0_min, 0)


def host_memory(
    store: Store, paths: HostPaths, domains: Sequence[DomainRecord] | None = None
) -> HostMemory:
    """`domains`: the store's domains when the caller has just read them."""
    domains = store.domains() if domains is None else domains
    dom0 = next((d.memory for d in domains if d.domid == DOM0_ID), 0)
    used = sum(d.memory for d in domains)
    return HostMemory(store.host_facts().total_memory, used, dom0, dom0_min_mem(paths))


def make_room(store: Store, paths: HostPaths, need_mib: int) -> None:
    """Inside the caller's write transaction: make `need_mib` MiB free,
    ballooning Domain-0 down as far as dom0-min-mem lets it, or refuse
    (XmError, nothing changed) as xend did."""
    memory = host_memory(store, paths)
    if memory.free >= need_mib:
        return
    need, free = need_mib * 1024, memory.free * 1024  # KiB, as xend said it
    minimum = memory.dom0_min * 1024
    if minimum == 0:
        raise XmError(
            "Not enough free memory and dom0_min_mem is 0, so I cannot release any "
            f"more.  I need {need} KiB but only have {free}."
        )
    new_alloc = memory.dom0 * 1024 - (need - free)
    if new_alloc < minimum:
        left = free + memory.dom0 * 1024 - minimum
        raise XmError(
            f"I need {need} KiB, but dom0_min_mem is {minimum} and shrinking to "
            f"{minimum} KiB would leave only {max(left, 0)} KiB free."
        )
    target = new_alloc // 1024
    store.update_domain(DOM0_ID, memory=target)
    store.add_message(LOG, f"INFO Balloon: setting dom0 target to {target} MiB.")
