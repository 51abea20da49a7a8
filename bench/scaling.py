"""How the commands grow with the policy: lint, loadpolicy, makepolicy,
coexist, diff, flows and graph at 2,000, 20,000 and 60,000 labels, each
against the floor (read, parse and validate the same file) in the same run,
and `write`: a python process writing as many bytes as the policy's `.bin`
over a file of that size with makepolicy's writer (the output's own cost).

    python bench/scaling.py [--sizes 2000,20000,60000] [--runs 3,3,2] [--warmup 1,1,0]
                            [--fixed-types] [--only lint,load,...]

Policies come from the shared generator (`gen_policy.py`, by default
../shared/tools beside the checkout): for N labels `N/10` STE types,
`N/40` Chinese Wall types, `N/2` VM and `N/2` resource labels, `N/100`
conflict sets, 8 STE types a label (N = 20,000 is the policy of the other
benchmarks). With --fixed-types the type counts stay those of 20,000 labels
(2,000 STE, 500 Chinese Wall, 200 conflict sets) while the labels grow.

Every figure is a whole process (`xm ...` as a user types it, or a python
process for the floor), run with the packages' bytecode compiled first, as
an installed package has it. The commands run in rounds, each once a round, so
that a change of load on the machine touches all of them alike; each ratio
is taken within a round against that round's floor, and the table gives
the median over the rounds. The growth exponent between two sizes is
log(t2 / t1) / log(n2 / n1) of the median times (1.0: linear). Beside
the wall-time ratio, the ratio of CPU time (user + system, of the command's
process) against the floor's: on a machine shared with other jobs a long
command waits for a core more often than a short one.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POLICY_SUFFIX = "-security_policy.xml"


def generator_args(labels: int, fixed_types: bool, seed: int = 1) -> list[str]:
    types_at = 20_000 if fixed_types else labels
    return [
        str(types_at // 10),
        str(types_at // 40),
        str(labels // 2),
        str(labels // 2),
        str(types_at // 100),
        "8",
        str(seed),
    ]


def generate(generator: str, args: list[str], target: Path) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part")
    with open(part, "wb") as out:
        subprocess.run([sys.executable, generator, *args], stdout=out, check=True)
    part.rename(target)


def xm() -> list[str]:
    script = Path(sys.executable).parent / "xm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "xm_core"]


# CPU seconds (user + system) of each command, beside its wall time: on a
# machine shared with other jobs a long command waits for a core more often
# than a short one, which inflates wall-time ratios; CPU time does not wait.
CPU: list[float] = []


def run(cmd: list[str], ok: tuple[int, ...] = (0,)) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr.decode()[-2000:]}")
    return took


class Size:
    """One policy size: its files, a host root with it compiled, and the commands."""

    def __init__(
        self, labels: int, work: Path, generator: str, fixed: bool, only: list[str]
    ) -> None:
        self.labels = labels
        tag = f"{labels}{'f' if fixed else ''}"
        self.name = f"scale{tag}"
        self.root = work / f"host{tag}"
        policies = self.root / "etc" / "xen" / "acm-security" / "policies"
        self.xml = policies / f"{self.name}{POLICY_SUFFIX}"
        self.other = work / f"other{tag}{POLICY_SUFFIX}"
        generate(generator, generator_args(labels, fixed), self.xml)
        generate(generator, generator_args(labels, fixed, seed=2), self.other)
        root = ["--root", str(self.root)]
        # a `.bin` over the readers' limit (1 GiB; 60,000 labels with 6,000
        # types make 812 MB) is refused by makepolicy (ACM017) and could not
        # be loaded: such a size is measured without `compile` and `load`.
        # Only they need the host root (the analyses read the XML alone).
        self.compilable = self.loadable = False
        if not only or {"compile", "load", "write"} & set(only):
            making = subprocess.run([*xm(), *root, "makepolicy", self.name], capture_output=True)
            self.compilable = making.returncode == 0
            loading = subprocess.run([*xm(), *root, "loadpolicy", self.name], capture_output=True)
            self.loadable = self.compilable and loading.returncode == 0
        xml = str(self.xml)
        # the `.bin`'s bytes written over a file of the same size by
        # makepolicy's own writer (the old file's pages are freed when it
        # is replaced): what the output alone costs, Xen's format kept
        # byte for byte
        binary = policies / f"{self.name}.bin"
        scratch = work / f"scratch{tag}.bin"
        self.bin_size = binary.stat().st_size if self.compilable else 0
        if self.bin_size and (not only or "write" in only):
            # an old file to replace from the first round on, as makepolicy has
            write_command = [sys.executable, "-c", _WRITE_BYTES, str(scratch), str(self.bin_size)]
            subprocess.run(write_command, check=True)
        self.commands: dict[str, Callable[[], float]] = {
            "floor": lambda: run(
                [
                    sys.executable,
                    "-c",
                    "import sys\nfrom acm.source import read_policy_document\n"
                    "read_policy_document(sys.argv[1])",
                    xml,
                ]
            ),
            "write": lambda: run(
                [sys.executable, "-c", _WRITE_BYTES, str(scratch), str(self.bin_size)]
            ),
            "compile": lambda: run([*xm(), *root, "makepolicy", self.name]),
            "load": lambda: run([*xm(), *root, "loadpolicy", self.name]),
            "lint": lambda: run([*xm(), "acm", "lint", xml], ok=(0, 1)),
            "coexist": lambda: run([*xm(), "acm", "coexist", xml, "--limit", "10"]),
            "diff": lambda: run([*xm(), "acm", "diff", xml, str(self.other)]),
            "flows": lambda: run([*xm(), "acm", "flows", xml, "vm5", "res77"], ok=(0, 1)),
            "graph": lambda: run([*xm(), "acm", "graph", xml, "--json"]),
        }


# argv: path, size. Writes `size` bytes (zeros, a megabyte at a time) over
# `path` with the writer makepolicy uses (`atomic_write`: a temporary file
# whose writeback starts as it grows, fsync, rename over the old file).
_WRITE_BYTES = """import sys
from xm_core.files.atomic import atomic_write
path, size = sys.argv[1], int(sys.argv[2])
chunk = bytes(1 << 20)
atomic_write(path, (chunk[: min(len(chunk), size - at)] for at in range(0, size, len(chunk))))
"""


def measure(
    size: Size, runs: int, only: list[str], warmup: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds of each command in each round (after the warm-up rounds)."""
    wanted = [n for n in size.commands if n != "floor" and (not only or n in only)]
    refused = {"compile": size.compilable, "load": size.loadable, "write": size.compilable}
    names = ["floor", *[n for n in wanted if refused.get(n, True)]]
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for round_number in range(runs + warmup):
        for name in names:
            took = size.commands[name]()
            if round_number >= warmup:
                times[name].append(took)
                cpu[name].append(CPU[-1])
    return times, cpu


def compile_bytecode() -> None:
    """Bytecode for every module of the packages, as an installed package
    has it: with PYTHONDONTWRITEBYTECODE set, a module changed since its
    `.pyc` was written would be compiled again in every timed process."""
    import compileall

    for package in ("acm", "xm_core"):
        if not compileall.compile_dir(str(REPO / package), quiet=1):
            raise SystemExit(f"cannot compile the bytecode of {package}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,20000,60000")
    parser.add_argument("--runs", default="3", help="rounds, one number or one a size")
    parser.add_argument("--fixed-types", action="store_true")
    parser.add_argument("--only", default="", help="commands to run (comma separated)")
    parser.add_argument(
        "--warmup", default="1", help="warm-up rounds, one number or one a size (comma separated)"
    )
    parser.add_argument(
        "--generator", default=str(REPO.parent / "shared" / "tools" / "gen_policy.py")
    )
    parser.add_argument("--work", help="folder for the policies and hosts (kept)")
    args = parser.parse_args()
    compile_bytecode()
    work = Path(args.work or tempfile.mkdtemp(prefix="scaling-"))
    only = [n for n in args.only.split(",") if n]
    sizes = [int(n) for n in args.sizes.split(",")]
    medians: dict[int, dict[str, float]] = {}
    ratios: dict[int, dict[str, float]] = {}
    rounds: dict[int, dict[str, list[float]]] = {}
    load = os.getloadavg()[0]
    warmups = [int(n) for n in args.warmup.split(",")]
    run_counts = [int(n) for n in args.runs.split(",")]
    cpu_ratios: dict[int, dict[str, float]] = {}
    for number, labels in enumerate(sizes):
        size = Size(labels, work, args.generator, args.fixed_types, only)
        warmup = warmups[min(number, len(warmups) - 1)]
        runs = run_counts[min(number, len(run_counts) - 1)]
        times, cpu = measure(size, runs, only, warmup)
        floor = times["floor"]
        rounds[labels] = times
        medians[labels] = {n: statistics.median(t) for n, t in times.items()}
        ratios[labels] = {
            n: statistics.median(a / b for a, b in zip(t, floor, strict=True))
            for n, t in times.items()
        }
        cpu_ratios[labels] = {
            n: statistics.median(a / b for a, b in zip(t, cpu["floor"], strict=True))
            for n, t in cpu.items()
        }
        print(f"{labels} labels done: {medians[labels]} {ratios[labels]}", file=sys.stderr)
    names = list(dict.fromkeys(n for labels in sizes for n in medians[labels]))
    head = ["command"]
    for labels in sizes:
        head += [f"{labels:,} s", f"{labels:,} x floor", f"{labels:,} CPU x floor"]
    for a, b in zip(sizes, sizes[1:], strict=False):
        head.append(f"exponent {a:,}->{b:,}")
    print(
        f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}; rounds {args.runs}; "
        f"{'fixed' if args.fixed_types else 'growing'} type counts"
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in names:
        row = [name]
        for labels in sizes:
            if name not in medians[labels]:
                row += ["-", "-", "-"]
                continue
            row += [
                f"{medians[labels][name]:.3f}",
                f"{ratios[labels][name]:.2f}",
                f"{cpu_ratios[labels][name]:.2f}",
            ]
        for a, b in zip(sizes, sizes[1:], strict=False):
            if name not in medians[a] or name not in medians[b]:
                row.append("-")
                continue
            row.append(f"{math.log(medians[b][name] / medians[a][name]) / math.log(b / a):.2f}")
        print("| " + " | ".join(row) + " |")
    if "load" in names and "compile" in names:
        for labels in sizes:
            if "load" not in rounds[labels]:
                print(f"load at {labels:,} labels: the .bin is over the readers' limit")
                continue
            pairs = zip(rounds[labels]["load"], rounds[labels]["compile"], strict=True)
            load_over_compile = statistics.median(a / b for a, b in pairs)
            print(f"load / compile at {labels:,} labels: {load_over_compile:.2f}")


if __name__ == "__main__":
    main()
