"""Start-up cost of `xm makepolicy` on the example policy, against a bare
`python -c pass` of the same interpreter.

    python bench/startup.py [--runs 20]

Uses hyperfine when it is installed (`apt-get install hyperfine`), else a
loop of runs timed here. Also shows what dominates (`python -X importtime`)
and which heavy modules the command imports (none of sqlite3, networkx,
xmlschema should be). Target: at most twice the bare interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = "example.chwall_ste.client_v1"
HEAVY = ("sqlite3", "networkx", "xmlschema", "jsonschema", "hypothesis", "numpy")


def commands(root: Path) -> dict[str, list[str]]:
    python = sys.executable
    xm = Path(python).parent / "xm"
    xm_cmd = [str(xm)] if xm.exists() else [python, "-m", "xm_core"]
    return {
        "python -c pass": [python, "-c", "pass"],
        "xm makepolicy": [*xm_cmd, "--root", str(root), "makepolicy", EXAMPLE],
        # What the command needs without the command line layer (click):
        "imports + make_policy, no click": [
            python,
            "-c",
            "from pathlib import Path\nfrom xm_core.paths import HostPaths\n"
            "from xm_core.policy import make_policy\n"
            f"make_policy(HostPaths(Path({str(root)!r})), {EXAMPLE!r})",
        ],
        "python -c 'import click, lxml.etree'": [python, "-c", "import click, lxml.etree"],
    }


def with_hyperfine(cmds: dict[str, list[str]], runs: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = ["hyperfine", "-N", "-w", "5", "-r", str(runs), "--export-json", out.name]
        for name, cmd in cmds.items():
            args += ["-n", name, " ".join(_quote(c) for c in cmd)]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        results = json.loads(Path(out.name).read_text())["results"]
    return {r["command"]: r["mean"] * 1000 for r in results}


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def with_loop(cmds: dict[str, list[str]], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs + 3):  # interleaved; the first three are warm-up
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.mean(t[3:]) for name, t in times.items()}


def import_profile(root: Path) -> tuple[list[tuple[int, str]], list[str]]:
    """(cumulative microseconds, module) of the slowest imports of
    `xm makepolicy`, and the heavy modules it imported."""
    code = (
        "import sys\n"
        "from xm_core.cli import main\n"
        "try:\n"
        f"    main(['--root', {str(root)!r}, 'makepolicy', {EXAMPLE!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((int(cumulative), name.rstrip()))
    rows.sort(reverse=True)
    return rows[:20], proc.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    opts = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="xm-startup-"))
    try:
        from xm_core.paths import HostPaths

        HostPaths(root).seed_example()
        cmds = commands(root)
        tool = "hyperfine" if shutil.which("hyperfine") else "loop"
        means = (with_hyperfine if tool == "hyperfine" else with_loop)(cmds, opts.runs)
        base = means["python -c pass"]
        print(f"mean of {opts.runs} runs ({tool}), {sys.executable}:")
        for name, ms in means.items():
            print(f"  {name:<40} {ms:7.1f} ms  {ms / base:4.2f} x")
        ratio = means["xm makepolicy"] / base
        print(
            f"target: xm makepolicy <= 2.00 x python -c pass: {'met' if ratio <= 2 else 'NOT met'}"
        )
        top, heavy = import_profile(root)
        print("slowest imports of xm makepolicy (cumulative, python -X importtime):")
        for micros, name in top:
            print(f"  {micros / 1000:7.1f} ms {name}")
        print(f"heavy modules imported: {heavy or 'none'}")
        print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
