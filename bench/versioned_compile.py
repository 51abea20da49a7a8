"""Benchmark: `xm makepolicy` of a large versioned policy (Xen 3.4's format)
against the same policy without `Version` (Xen 3.0.4's format, the fast path).

    python bench/versioned_compile.py [--runs 5] [--generator PATH] [--out DIR]
                                      [--sizes "2000 500 10000 10000 200 1"]

Generates the policy with the shared generator (resource labels with one STE
type each, as a versioned policy wants them), writes it twice under DIR, once
as it is and once with `<Version>1.0</Version>` in its header, then runs
both compiles in rounds, each a fresh `xm --root ROOT makepolicy -d DIR NAME`
process, as a user types it. Reported per format: the median wall time of the
whole process, its CPU time (user + system, from wait4: less disturbed by
other load on the machine than the wall time) and its peak resident set
size. A versioned policy takes the full compiler (every finding with its
place) and the XML hash (Xen 3.4's SHA-1 of the minidom text); the 3.0.4
format takes the one-pass fast path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(tempfile.gettempdir()) / "acm-bench-versioned_compile"
DEFAULT_GENERATOR = REPO.parent / "shared" / "tools" / "gen_policy.py"
XM = [sys.executable, "-c", "from xm_core.cli.launch import main; main()"]


def _policies(out: Path, generator: Path, sizes: str) -> dict[str, str]:
    """name -> policy name of the two files (generated once)."""
    folder = out / "policies" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    plain = folder / "plain-security_policy.xml"
    versioned = folder / "versioned-security_policy.xml"
    if not (plain.exists() and versioned.exists()):
        text = subprocess.run(
            [sys.executable, str(generator), *sizes.split()],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        head = text.index("<PolicyName>")
        end = text.index("</PolicyName>") + len("</PolicyName>")
        plain.write_text(text[:head] + "<PolicyName>bench.plain</PolicyName>" + text[end:])
        versioned.write_text(
            text[:head]
            + "<PolicyName>bench.versioned</PolicyName>"
            + text[end:].replace("</PolicyHeader>", "<Version>1.0</Version></PolicyHeader>", 1)
        )
    return {"3.0.4 format": "bench.plain", "versioned": "bench.versioned"}


def _run(out: Path, name: str) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in KB) of one compile."""
    root = out / "root"
    root.mkdir(exist_ok=True)
    command = [*XM, "--root", str(root), "makepolicy", "-d", str(out / "policies"), name]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"makepolicy {name} failed with status {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--generator", type=Path, default=DEFAULT_GENERATOR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--sizes", default="2000 500 10000 10000 200 1")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.generator.exists():
        raise SystemExit(f"generator not found: {args.generator}")
    names = _policies(args.out, args.generator, args.sizes)
    for name in names.values():  # warm-up: bytecode, page cache
        _run(args.out, name)
    results: dict[str, list[tuple[float, float, int]]] = {label: [] for label in names}
    for _ in range(args.runs):
        for label, name in names.items():
            results[label].append(_run(args.out, name))
    summary = {
        label: {
            "wall_s": round(statistics.median(r[0] for r in runs), 3),
            "cpu_s": round(statistics.median(r[1] for r in runs), 3),
            "peak_rss_mb": round(max(r[2] for r in runs) / 1024, 1),
        }
        for label, runs in results.items()
    }
    if args.json:
        print(json.dumps({"sizes": args.sizes, "runs": args.runs, "results": summary}))
        return
    print(f"gen_policy.py {args.sizes}, {args.runs} runs, medians:")
    for label, figures in summary.items():
        print(
            f"  {label:13} wall {figures['wall_s']:.2f} s  cpu {figures['cpu_s']:.2f} s  "
            f"peak RSS {figures['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
