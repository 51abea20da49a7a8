"""Benchmark: compile the "20,000-label policy" through `make_policy`.

    python bench/compile_big.py [--runs 5] [--generator PATH] [--sizes "2000 500 10000 10000 200 8"]

Generates the policy with the shared generator (once, under bench/out/),
then compiles it in a fresh interpreter per run and reports, per run, the
wall time of the whole process (interpreter start included), the time of
`make_policy` alone, and the peak resident set size (from wait4, the same
figure as `/usr/bin/time -f %M`). Targets: 0.6 s and 218 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
DEFAULT_GENERATOR = REPO.parent / "shared" / "tools" / "gen_policy.py"
TARGET_SECONDS = 0.6
TARGET_MB = 218

CHILD = """
import json, sys, time
start = time.perf_counter()
from pathlib import Path
from xm_core.files.paths import HostPaths
from xm_core.host.policy import make_policy
make_policy(HostPaths(Path(sys.argv[1])), sys.argv[2], sys.argv[3])
print(json.dumps({"make_policy_s": time.perf_counter() - start}))
"""


def generate(generator: Path, sizes: list[str]) -> Path:
    """The policy as `big.p` under bench/out/pol, made again only when the sizes change."""
    folder = OUT / "pol" / "big"
    xml = folder / "p-security_policy.xml"
    stamp = folder / "sizes"
    if xml.exists() and stamp.exists() and stamp.read_text() == " ".join(sizes):
        return xml
    folder.mkdir(parents=True, exist_ok=True)
    with open(xml, "wb") as f:
        subprocess.run([sys.executable, str(generator), *sizes], stdout=f, check=True)
    stamp.write_text(" ".join(sizes))
    return xml


def run_once() -> dict[str, float]:
    args = [sys.executable, "-c", CHILD, str(OUT / "root"), "big.p", str(OUT / "pol")]
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read() if proc.stdout else b""
    if proc.returncode != 0:
        raise SystemExit(f"compile failed with exit status {proc.returncode}")
    child = json.loads(out)
    return {
        "wall_s": wall,
        "make_policy_s": child["make_policy_s"],
        "rss_mb": usage.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--generator", type=Path, default=DEFAULT_GENERATOR)
    parser.add_argument("--sizes", default="2000 500 10000 10000 200 8")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    opts = parser.parse_args()
    if not opts.generator.exists():
        raise SystemExit(f"generator not found: {opts.generator} (use --generator)")
    xml = generate(opts.generator, opts.sizes.split())
    runs = [run_once() for _ in range(opts.runs)]
    bin_file = xml.with_name("p.bin")
    summary = {
        "policy": str(xml.relative_to(REPO)),
        "xml_mb": xml.stat().st_size / 1e6,
        "bin_mb": bin_file.stat().st_size / 1e6,
        "runs": runs,
        "load_average": os.getloadavg(),
    }
    for key in ("wall_s", "make_policy_s", "rss_mb"):
        values = [r[key] for r in runs]
        summary[key] = {"min": min(values), "median": statistics.median(values)}
    if opts.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{summary['policy']}: {summary['xml_mb']:.1f} MB XML -> {summary['bin_mb']:.1f} MB .bin")
    print(f"{'run':>4} {'wall s':>8} {'make_policy s':>14} {'peak RSS MB':>12}")
    for i, r in enumerate(runs, 1):
        print(f"{i:>4} {r['wall_s']:>8.3f} {r['make_policy_s']:>14.3f} {r['rss_mb']:>12.1f}")
    wall, rss = summary["wall_s"], summary["rss_mb"]
    print(f"min  {wall['min']:>8.3f} {summary['make_policy_s']['min']:>14.3f} {rss['min']:>12.1f}")
    print(
        f"median {wall['median']:>6.3f} {summary['make_policy_s']['median']:>14.3f} "
        f"{rss['median']:>12.1f}"
    )
    print("load average: " + " ".join(f"{x:.2f}" for x in summary["load_average"]))
    ok_time = wall["min"] <= TARGET_SECONDS
    ok_rss = rss["median"] <= TARGET_MB
    print(
        f"target {TARGET_SECONDS} s: {'met' if ok_time else 'NOT met'} (best run); "
        f"target {TARGET_MB} MB: {'met' if ok_rss else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
