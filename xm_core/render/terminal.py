"""Output of the terminal programs: console lines, `top`'s frames (batch
text, the live screen's lines, `--json`).

The interactive loops (xm_core.tui) only draw what these functions return.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from xm_core.render import emit_json, out

if TYPE_CHECKING:
    from xm_core.host.console import ConsoleLog
    from xm_core.host.monitor import DomainSample, HostSample
    from xm_core.host.store import ConsoleLine

# ------------------------------------------------------------------ console


def console_line(line: ConsoleLine) -> str:
    """`[YYYY-mm-dd HH:MM:SS] text`, the time of the host model's write."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(line.at))
    return f"[{when}] {line.text}"


def console_log(log: ConsoleLog, as_json: bool) -> None:
    if as_json:
        emit_json(log.as_dict())
        return
    for line in log.lines:
        out(console_line(line))


def console_json_line(line: ConsoleLine) -> str:
    """One JSON document a line, for a followed console with `--json`."""
    from xm_core.host.console import console_line_dict

    return json.dumps(console_line_dict(line))


# ------------------------------------------------------------------ top

# (header, width) of each column; xentop's first columns, then the ACM's.
TOP_COLUMNS: tuple[tuple[str, int], ...] = (
    ("NAME", 10),
    ("STATE", 6),
    ("MEM(k)", 10),
    ("MEM(%)", 6),
    ("MAXMEM(k)", 10),
    ("VCPUS", 5),
    ("VBDS", 4),
    ("NETS", 4),
    ("SSIDREF", 10),
    ("LABEL", 20),
    ("STE_EVAL", 8),
    ("STE_DENY", 8),
    ("STE_HIT", 7),
    ("CACHE", 5),
    ("CW_TYPES", 0),
)


def top_header() -> str:
    cells = [h.rjust(w) if i < len(TOP_COLUMNS) - 1 else h for i, (h, w) in enumerate(TOP_COLUMNS)]
    cells[9] = TOP_COLUMNS[9][0].ljust(TOP_COLUMNS[9][1])  # the label reads left-aligned
    return " ".join(cells)


def top_row(d: DomainSample, total_memory: int) -> str:
    pct = 100.0 * d.memory / total_memory if total_memory else 0.0
    return " ".join(
        (
            f"{d.name:>10.10}",
            f"{d.state:>6}",
            f"{d.memory * 1024:>10}",
            f"{pct:6.1f}",
            f"{d.maxmem * 1024:>10}",
            f"{d.vcpus:>5}",
            f"{d.vbds:>4}",
            f"{d.vifs:>4}",
            f"0x{d.ssidref:08x}",
            f"{d.label:<20.20}",
            f"{d.ste.evaluated:>8}",
            f"{d.ste.denied:>8}",
            f"{d.ste.cache_hits:>7}",
            f"{d.cache_used:>3}/8",
            ",".join(d.chwall_types) or "-",
        )
    )


def top_summary(sample: HostSample) -> list[str]:
    """The lines above the table in the live view (xentop's summary, then
    the ACM's state)."""
    counts = sample.state_counts()
    used = sum(d.memory for d in sample.domains)
    total = sample.total_memory
    clock = time.strftime("%H:%M:%S", time.localtime(sample.at))
    s = sample.ste
    running = ", ".join(f"{t} ({n})" for t, n in sample.running_types) or "none"
    return [
        f"xm top - {clock}   Xen {sample.xen_version}",
        f"{len(sample.domains)} domains: {counts['running']} running, "
        f"{counts['blocked']} blocked, {counts['paused']} paused, {counts['crashed']} crashed, "
        f"{counts['dying']} dying, {counts['shutdown']} shutdown",
        f"Mem: {total * 1024}k total, {used * 1024}k used, {max(total - used, 0) * 1024}k free"
        f"    CPUs: {sample.nr_cpus}",
        f"ACM policy: {sample.policy}    STE event channel: {s.ec_eval} eval, "
        f"{s.ec_denied} denied, {s.ec_cachehit} hits   grant table: {s.gt_eval} eval, "
        f"{s.gt_denied} denied, {s.gt_cachehit} hits",
        f"Chinese Wall running types: {running}",
    ]


def top_frame(sample: HostSample) -> list[str]:
    """A batch frame, as `xentop -b` prints one: the header, then a row a domain."""
    return [top_header(), *(top_row(d, sample.total_memory) for d in sample.domains)]


def top_batch(sample: HostSample, as_json: bool) -> None:
    """One iteration of `top -b`: a frame, or one JSON document on one line."""
    if as_json:
        out(json.dumps(sample.as_dict(), sort_keys=False))
        return
    for line in top_frame(sample):
        out(line)


TOP_KEYS = "q quit   s sort   + slower   - faster   arrows scroll"


def top_screen(sample: HostSample, sort_key: str, first: int = 0) -> tuple[list[str], int]:
    """The live view's lines, and the index of the table's header line. The
    table starts at its row `first` (scrolled with the arrow keys; at least
    the last domain stays on screen)."""
    summary = top_summary(sample)
    domains = sort_domains(sample.domains, sort_key)
    first = max(min(first, len(domains) - 1), 0)
    lines = [
        *summary,
        "",
        top_header(),
        *(top_row(d, sample.total_memory) for d in domains[first:]),
    ]
    return lines, len(summary) + 1


def top_status(sort_key: str, delay: float) -> str:
    return f"{TOP_KEYS}   [sort: {sort_key}, delay: {delay:g}s]"


SORT_KEYS = ("id", "name", "memory", "label", "denied")


def sort_domains(domains: Sequence[DomainSample], key: str) -> list[DomainSample]:
    if key == "name":
        return sorted(domains, key=lambda d: d.name.lower())
    if key == "memory":
        return sorted(domains, key=lambda d: (-d.memory, d.domid))
    if key == "label":
        return sorted(domains, key=lambda d: (d.label.lower(), d.domid))
    if key == "denied":
        return sorted(domains, key=lambda d: (-d.ste.denied, d.domid))
    return sorted(domains, key=lambda d: d.domid)
