"""Every number a user gives `xm` (on the command line or in a domain
config), parsed and range-checked in one place.

A value that is not a number, or lies outside its range, is a usage error
(exit 2) with one line naming the value and what was expected. The ranges
are Xen 3.0's own where it had one (domain ids below DOMID_FIRST_RESERVED,
32 virtual CPUs, 16-bit virtual block device numbers), so nothing out of
range ever reaches the host state (SQLite holds 64-bit integers only).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from xm_core.errors import UsageError, XmError

DOMID_MAX = 0x7FEF  # Xen's DOMID_FIRST_RESERVED (0x7ff0) - 1
MAX_VIRT_CPUS = 32  # Xen 3.0's MAX_VIRT_CPUS
MEMORY_MAX_MIB = 1 << 24  # 16 TiB: more than a 64-bit Xen 3.0 host could address
BLKDEV_MAX = 0xFFFF  # Xen 3.0's blkif_vdev_t is 16 bits
VIF_DEVID_MAX = 0xFFFF
MIGRATE_MBS_MAX = 1_000_000  # Mb/s: far above any link a migration used

_INTEGER = re.compile(r"[+-]?[0-9]+")
_MEMORY = re.compile(r"([+-]?[0-9]+)([bBkKmMgG]?)")
_SHIFT = {"b": 0, "k": 10, "m": 20, "g": 30}
_MAX_DIGITS = 30  # longer digit strings are out of every range (and int() refuses > 4300)


def is_integer(text: str) -> bool:
    """Written as a (signed) decimal integer."""
    return _INTEGER.fullmatch(text) is not None


def _to_int(text: str) -> int | None:
    """The integer `text` spells, or None when it is too long to be in any range."""
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > _MAX_DIGITS:
        return None
    return int(text)


def _range_error(what: str, text: str, lo: int, hi: int) -> UsageError:
    return UsageError(f"Invalid {what} '{text}': expected a number from {lo} to {hi}")


def parse_int(text: str, what: str, lo: int, hi: int) -> int:
    """A decimal integer in lo..hi."""
    text = text.strip()
    if not is_integer(text):
        raise UsageError(f"Invalid {what} '{text}': expected a number")
    value = _to_int(text)
    if value is None or not lo <= value <= hi:
        raise _range_error(what, text, lo, hi)
    return value


_MAX_SHOWN = 40  # characters of a wrong value an error line shows


def _shown(value: object) -> str:
    """A wrong value as an error line shows it: at most 40 characters."""
    if isinstance(value, int) and abs(value) >= 10**_MAX_DIGITS:  # str() of the largest raises
        return f"a number of more than {_MAX_DIGITS} digits"
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def check_int(
    value: object,
    what: str,
    lo: int,
    hi: int,
    where: str = "",
    note: str = "",
    error: Callable[[str], XmError] = UsageError,
) -> int:
    """An integer value (of a config, a saved domain) in lo..hi; else `error`
    (exit 2) with one line naming `where`, the value and `note` (where the
    value came from)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        prefix = f"{where}: " if where else ""
        shown = _shown(value)
        raise error(f"{prefix}'{what}' must be an integer from {lo} to {hi}, not {shown}{note}")
    return value


def parse_domain_ref(text: str) -> str:
    """A domain as the user names it: a name, or an id (digits, 0..DOMID_MAX).
    A signed or out-of-range number is refused rather than looked up as a
    name (a domain name never consists of digits)."""
    if is_integer(text.strip()):
        return str(parse_int(text, "domain id", 0, DOMID_MAX))
    if not text or text.startswith("-"):
        raise UsageError(f"Invalid domain '{text}': expected a domain name or id")
    return text


def parse_memory(text: str) -> int:
    """Xen's `int_unit(text, 'm')`: a number with an optional unit (b, k, m,
    g; MiB when none), in MiB, from 1 MiB to MEMORY_MAX_MIB."""
    stripped = text.strip()
    m = _MEMORY.fullmatch(stripped)
    if not m:
        raise UsageError(f"Invalid memory size '{text}': expected a number with b, k, m or g")
    number = _to_int(m.group(1))
    shift = _SHIFT[(m.group(2) or "m").lower()]
    if number is None or number < 0 or (number << shift >> 20) > MEMORY_MAX_MIB:
        raise UsageError(f"Invalid memory size '{text}': expected 1m to {MEMORY_MAX_MIB}m")
    mib = number << shift >> 20
    if mib < 1:
        raise UsageError(f"Invalid memory size '{text}': less than 1 MiB")
    return mib


def parse_vcpu_count(text: str) -> int:
    """`vcpu-set`'s count: 0..MAX_VIRT_CPUS (below 1 Xen ignores quietly)."""
    return parse_int(text, "VCPU count", 0, MAX_VIRT_CPUS)


def parse_vcpu(text: str) -> int | None:
    """`vcpu-pin`'s VCPU: a number 0..MAX_VIRT_CPUS-1, or `all` (None)."""
    if text.strip().lower() == "all":
        return None
    return parse_int(text, "VCPU", 0, MAX_VIRT_CPUS - 1)


def parse_devid(text: str) -> str:
    """A device as `*-detach` names it: a number (0..BLKDEV_MAX) or a
    frontend name (`sdb1`, `eth0`)."""
    if is_integer(text.strip()):
        return str(parse_int(text, "device id", 0, BLKDEV_MAX))
    if not text or text.startswith("-"):
        raise UsageError(f"Invalid device id '{text}': expected a number or a device name")
    return text


def parse_mbs(text: str) -> int:
    """`migrate -r`: the bandwidth limit in Mb/s."""
    return parse_int(text, "resource limit (Mb/s)", 1, MIGRATE_MBS_MAX)
