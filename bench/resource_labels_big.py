"""Benchmark of a resource label file at the documented 16 MiB limit (not a
test): whole `xm resources` processes, as a user types it, with the wall
time, user CPU time and peak memory of each (`/usr/bin/time` figures from
the child's rusage).

    python bench/resource_labels_big.py            # 270,000 entries (~16 MiB)
    python bench/resource_labels_big.py --entries 100000

Entries are written as a person would (`'phy:<n>':('p','l'),`, one a line),
the shape that cost most through `ast` (the most nodes a byte).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from xm_core.files.paths import EXAMPLE_POLICY, HostPaths  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=270_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "host"
        paths = HostPaths(root)
        paths.seed_example()
        lines = [f"'phy:{i:x}':({EXAMPLE_POLICY!r},'res_x'),\n" for i in range(args.entries)]
        paths.resource_labels.write_text("resources = {\n" + "".join(lines) + "}\n")
        size = paths.resource_labels.stat().st_size
        env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "xm_core", "--root", str(root), "resources"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(done.stderr)
        print("| entries | file | wall | user CPU | peak memory |")
        print("|---|---|---|---|---|")
        print(
            f"| {args.entries:,} | {size / (1 << 20):.1f} MiB | {wall:.2f} s | "
            f"{after.ru_utime - before.ru_utime:.2f} s | {after.ru_maxrss / 1024:.0f} MB |"
        )


if __name__ == "__main__":
    main()
