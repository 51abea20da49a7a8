"""Benchmark of the terminal programs (not a test): one `top` refresh and
one console poll with many running domains, in process and as whole
commands.

    python bench/terminal_bench.py            # example policy, 10,000 domains

The host is built as bench/host_bench.py builds it (policy compiled and
loaded, domains added in one transaction, each checked by the engine).
One domain gets a full console log (CONSOLE_KEEP lines). Prints a small
markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from host_bench import build_root, fill  # noqa: E402

from xm_core.files.paths import HostPaths  # noqa: E402
from xm_core.host.console import ConsoleFollower, read_console  # noqa: E402
from xm_core.host.model import Host  # noqa: E402
from xm_core.host.monitor import sample_host  # noqa: E402
from xm_core.host.store import CONSOLE_KEEP  # noqa: E402


def median_time(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fill_console(paths: HostPaths, name: str) -> None:
    with Host(paths) as host, host.store.write():
        dom = host.store.domain(name)
        for i in range(CONSOLE_KEEP):
            host.console(dom, f"bench line {i}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xm-bench-") as tmp:
        paths, name, labels = build_root(Path(tmp) / "root", None)
        fill(paths, labels, args.domains)
        fill_console(paths, "d0")
        with Host(paths) as host:
            running = host.store.domain_count()
            sample_host(paths, host)  # the policy decoded once, as a live view does
            refresh = median_time(lambda: sample_host(paths, host), args.runs)
        log = read_console(paths, "d0")
        follower = ConsoleFollower(paths, log)
        poll = median_time(follower.poll, args.runs * 20)
        follower.close()
        read = median_time(lambda: read_console(paths, "d0"), args.runs)
        env = dict(os.environ, XM_ROOT=str(paths.root))
        xm = [sys.executable, "-m", "xm_core"]

        def command(*words: str) -> Callable[[], object]:
            return lambda: subprocess.run(
                [*xm, *words], env=env, check=True, stdout=subprocess.DEVNULL
            )

        top_cmd = median_time(command("top", "-b", "-i", "1", "-d", "0"), args.runs)
        console_cmd = median_time(command("console", "-q", "d0"), args.runs)
        rows = [
            ("one `top` refresh in process (sample_host, host kept open)", refresh),
            ("one console poll, nothing new (ConsoleFollower.poll)", poll),
            (f"reading a full console log ({CONSOLE_KEEP} lines, read_console)", read),
            ("`xm top -b -i 1` (whole command)", top_cmd),
            (f"`xm console -q` of a domain with {CONSOLE_KEEP} lines (whole command)", console_cmd),
        ]
        print("\n| policy | running domains | measure | figure |\n|---|---|---|---|")
        for what, secs in rows:
            print(f"| {name} | {running} | {what} (median) | {secs * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
