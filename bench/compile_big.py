"""Benchmark: compile the "20,000-label policy" through `make_policy`, against
the floor of parsing and schema-validating the same file.

    python bench/compile_big.py [--runs 9] [--generator PATH] [--out DIR]
                                [--sizes "2000 500 10000 10000 200 8"]

Generates the policy with the shared generator (once, under DIR, by default
in the system's temporary directory), then runs in rounds, each round one
fresh interpreter per command, so that a change of load on the machine
touches both alike:

- `compile`: `xm --root ROOT makepolicy -d DIR big.p`, the command line a
  user types, run as the console script runs it (`xm_core.cli.launch.main`:
  parse, validate, compile, write the `.map` and `.bin` with their fsyncs and
  renames, end the process);
- `floor`: `acm.source.read_policy_document` (read, hardened parse, schema
  validation) of the same file, nothing more;
- `library`: `xm_core.host.policy.make_policy` called from a script, for
  reference (it frees what it made before the interpreter exits);
- `floor_exit`: the floor ending with `os._exit`, as the compile ends, for
  reference (the floor's own exit frees the tree, about 25 ms): the
  ratio against it is printed too, as the stricter reading.

Reported per command: wall time of the whole process (interpreter start
included), time in process (not for `compile`, which ends its process
itself), and peak resident set size (from wait4, the same figure as
`/usr/bin/time -f %M`). The ratio compile/floor is taken within each round;
its median is the figure. Targets: ratio at most 2 x, peak RSS of the
compile at most 109 MB.

The packages' bytecode is compiled first (`compileall`), as an installed
package has it: with PYTHONDONTWRITEBYTECODE set, a changed module would
otherwise be compiled again in every process.
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
DEFAULT_OUT = Path(tempfile.gettempdir()) / "acm-bench-compile_big"
DEFAULT_GENERATOR = REPO.parent / "shared" / "tools" / "gen_policy.py"
TARGET_RATIO = 2.0
TARGET_MB = 109
WARMUP_ROUNDS = 1

# Each command gets ROOT POLICY_NAME POLICY_DIR POLICY_XML as its arguments.
COMPILE = """
import sys
root, name, folder, _ = sys.argv[1:]
sys.argv[1:] = ["--root", root, "makepolicy", "-d", folder, name]
from xm_core.cli.launch import main
main()
"""

FLOOR = """
import json, sys, time
start = time.perf_counter()
from acm.source import read_policy_document
read_policy_document(sys.argv[4])
print(json.dumps({"in_process_s": time.perf_counter() - start}))
"""

LIBRARY = """
import json, sys, time
start = time.perf_counter()
from pathlib import Path
from xm_core.files.paths import HostPaths
from xm_core.host.policy import make_policy
make_policy(HostPaths(Path(sys.argv[1])), sys.argv[2], sys.argv[3])
print(json.dumps({"in_process_s": time.perf_counter() - start}))
"""

FLOOR_EXIT = """
import json, os, sys, time
start = time.perf_counter()
from acm.source import read_policy_document
document = read_policy_document(sys.argv[4])
print(json.dumps({"in_process_s": time.perf_counter() - start}), flush=True)
os._exit(0)
"""

COMMANDS = {"compile": COMPILE, "floor": FLOOR, "library": LIBRARY, "floor_exit": FLOOR_EXIT}


def generate(generator: Path, sizes: list[str], out: Path) -> Path:
    """The policy as `big.p` under OUT/pol, made again only when the sizes change."""
    folder = out / "pol" / "big"
    xml = folder / "p-security_policy.xml"
    stamp = folder / "sizes"
    if xml.exists() and stamp.exists() and stamp.read_text() == " ".join(sizes):
        return xml
    folder.mkdir(parents=True, exist_ok=True)
    with open(xml, "wb") as f:
        subprocess.run([sys.executable, str(generator), *sizes], stdout=f, check=True)
    stamp.write_text(" ".join(sizes))
    return xml


Figures = dict[str, float | None]  # wall_s, in_process_s (None if unknown), rss_mb


def run_once(code: str, out: Path, xml: Path) -> Figures:
    args = [sys.executable, "-c", code, str(out / "root"), "big.p", str(out / "pol"), str(xml)]
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = proc.stdout.read() if proc.stdout else b""
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed with exit status {proc.returncode}")
    # The command line prints nothing: its time in process is not known.
    in_process = json.loads(output)["in_process_s"] if output.strip() else None
    return {"wall_s": wall, "in_process_s": in_process, "rss_mb": usage.ru_maxrss / 1024}


def compile_bytecode() -> None:
    """Bytecode for every module of the packages, as an installed package has it."""
    import compileall

    for package in ("acm", "xm_core"):
        if not compileall.compile_dir(str(REPO / package), quiet=1):
            raise SystemExit(f"cannot compile the bytecode of {package}")


def _known(value: float | None) -> float:
    assert value is not None
    return value


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="timed rounds")
    parser.add_argument("--generator", type=Path, default=DEFAULT_GENERATOR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the policy goes")
    parser.add_argument("--sizes", default="2000 500 10000 10000 200 8")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    opts = parser.parse_args()
    if not opts.generator.exists():
        raise SystemExit(f"generator not found: {opts.generator} (use --generator)")
    xml = generate(opts.generator, opts.sizes.split(), opts.out)
    compile_bytecode()
    runs: dict[str, list[Figures]] = {name: [] for name in COMMANDS}
    for round_number in range(WARMUP_ROUNDS + opts.runs):
        for name, code in COMMANDS.items():
            figures = run_once(code, opts.out, xml)
            if round_number >= WARMUP_ROUNDS:
                runs[name].append(figures)
    ratios = [
        _known(c["wall_s"]) / _known(f["wall_s"])
        for c, f in zip(runs["compile"], runs["floor"], strict=True)
    ]
    strict = statistics.median(
        _known(c["wall_s"]) / _known(f["wall_s"])
        for c, f in zip(runs["compile"], runs["floor_exit"], strict=True)
    )
    bin_file = xml.with_name("p.bin")
    summary: dict[str, object] = {
        "policy": str(xml),
        "xml_mb": xml.stat().st_size / 1e6,
        "bin_mb": bin_file.stat().st_size / 1e6,
        "runs": runs,
        "ratios": ratios,
        "ratio_median": statistics.median(ratios),
        "ratio_floor_exit_median": strict,
        "load_average": os.getloadavg(),
    }
    medians = {
        name: {key: _median([r[key] for r in rows]) for key in rows[0]}
        for name, rows in runs.items()
    }
    summary["medians"] = medians
    if opts.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{xml}: {summary['xml_mb']:.1f} MB XML -> {summary['bin_mb']:.1f} MB .bin")
    print(f"{opts.runs} rounds (after {WARMUP_ROUNDS} warm-up), medians:")
    print(f"  {'':<10} {'wall s':>8} {'in process s':>13} {'peak RSS MB':>12}")
    for name, m in medians.items():
        in_process = "-" if m["in_process_s"] is None else f"{m['in_process_s']:.3f}"
        print(
            f"  {name:<8} {_known(m['wall_s']):>8.3f} {in_process:>13} {_known(m['rss_mb']):>12.1f}"
        )
    ratio = statistics.median(ratios)
    print("  ratio compile/floor per round: " + " ".join(f"{r:.2f}" for r in ratios))
    print(f"  ratio compile/floor_exit (median of rounds): {strict:.2f}")
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    rss = max(_known(r["rss_mb"]) for r in runs["compile"])
    ratio_verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    rss_verdict = "met" if rss <= TARGET_MB else "NOT met"
    print(
        f"ratio {ratio:.2f} x: target {TARGET_RATIO} x {ratio_verdict}; "
        f"peak RSS {rss:.1f} MB (largest run): target {TARGET_MB} MB {rss_verdict}"
    )


if __name__ == "__main__":
    main()
