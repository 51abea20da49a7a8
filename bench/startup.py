"""Start-up cost of `xm makepolicy` on the example policy, and of `xm list`
on a fresh host, against a bare `python3 -c pass`.

    python bench/startup.py [--runs 40]

The commands are run in rounds, each command once a round, so that a change
of load on the machine touches all of them alike; a ratio is taken within
each round and the median of those is reported (with medians and fastest
runs of each command), for wall time and for CPU time (user + system, the
steadier figure on a loaded machine; the verdict is the wall time's). Also
shows what dominates (`python -X importtime`) and which heavy modules the
command imports (none of click, dataclasses, sqlite3, networkx, xmlschema
should be; `xm list` needs sqlite3 and dataclasses, none of the others).
Targets: makepolicy at most twice a bare `python3 -c pass`, list two and a
half times, reported against each interpreter that phrase may mean.

Every command runs with its modules' cached bytecode, as an installed copy
has it (pip compiles it at install; an editable install writes it on its
first run): PYTHONDONTWRITEBYTECODE is dropped from the commands'
environment, so the warm-up rounds write what is missing.
"""

from __future__ import annotations

import argparse
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
HEAVY = ("click", "dataclasses", "sqlite3", "networkx", "xmlschema", "jsonschema", "numpy")
NOT_FOR_LIST = ("click", "lxml", "networkx", "xmlschema", "jsonschema", "numpy")
# The commands' environment: with bytecode written and read, as a user has it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def baselines() -> dict[str, list[str]]:
    """`python3 -c pass` as each interpreter a user may mean by "a bare
    python3": the venv's own (the strictest: it is what `xm` runs on), the
    one the venv was made from, and the one first on PATH."""
    found = {"python -c pass": [sys.executable, "-c", "pass"]}
    base = Path(sys.base_prefix) / "bin" / "python3"
    if base.exists():
        found["base python3 -c pass"] = [str(base), "-c", "pass"]
    on_path = shutil.which("python3")
    if on_path and Path(on_path).parent != Path(sys.executable).parent:
        found["python3 -c pass (PATH)"] = [on_path, "-c", "pass"]
    return found


def commands(root: Path) -> dict[str, list[str]]:
    python = sys.executable
    xm = Path(python).parent / "xm"
    xm_cmd = [str(xm)] if xm.exists() else [python, "-m", "xm_core"]
    return {
        **baselines(),
        "xm makepolicy": [*xm_cmd, "--root", str(root), "makepolicy", EXAMPLE],
        "xm list": [*xm_cmd, "--root", str(root), "list"],
        # The floor that lxml (a required dependency) sets before our code runs:
        "python -c 'import lxml.etree'": [python, "-c", "import lxml.etree"],
        "lxml + the policy schema compiled": [
            python,
            "-c",
            "from acm.source import _schema\n_schema()",
        ],
    }


def timed_rounds(
    cmds: dict[str, list[str]], runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU (user + system, of the process and its children, from
    wait4) milliseconds of each command in each round, after three warm-up
    rounds. On a loaded machine the CPU time is the steadier figure."""
    wall: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs + 3):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=ENV)
            _, status, usage = os.wait4(proc.pid, 0)
            wall[name].append((time.perf_counter() - start) * 1000)
            cpu[name].append((usage.ru_utime + usage.ru_stime) * 1000)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise subprocess.CalledProcessError(proc.returncode, cmd)
    return {name: t[3:] for name, t in wall.items()}, {name: t[3:] for name, t in cpu.items()}


def import_profile(
    root: Path, args: tuple[str, ...] = ("makepolicy", EXAMPLE), heavy: tuple[str, ...] = HEAVY
) -> tuple[list[tuple[int, str]], list[str]]:
    """(cumulative microseconds, module) of the slowest imports of
    `xm ARGS` (makepolicy), and the `heavy` modules it imported."""
    code = (
        "import sys\n"
        "from xm_core.cli.launch import main\n"
        "try:\n"
        f"    main(['--root', {str(root)!r}, *{args!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((int(cumulative), name.rstrip()))
    rows.sort(reverse=True)
    return rows[:20], proc.stdout.splitlines()[-1].split()  # the last line: after what ARGS print


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    opts = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="xm-startup-"))
    try:
        from xm_core.files.paths import HostPaths

        HostPaths(root).seed_example()
        cmds = commands(root)
        times, cpu = timed_rounds(cmds, opts.runs)
        print(f"{opts.runs} rounds, {sys.executable}: median, fastest (wall; CPU)")
        for name, t in times.items():
            print(
                f"  {name:<40} {statistics.median(t):7.1f} ms {min(t):7.1f} ms;"
                f" {statistics.median(cpu[name]):7.1f} ms {min(cpu[name]):7.1f} ms"
            )
        for command, target in (("xm makepolicy", 2.0), ("xm list", 2.5)):
            for name in baselines():
                ratios = [
                    statistics.median(x / b for x, b in zip(t[command], t[name], strict=True))
                    for t in (times, cpu)
                ]
                verdict = "met" if ratios[0] <= target else "NOT met"
                print(
                    f"{command} / {name}: {ratios[0]:4.2f} x wall, {ratios[1]:4.2f} x CPU"
                    f" (target <= {target}: {verdict})"
                )
        top, heavy = import_profile(root)
        print("slowest imports of xm makepolicy (cumulative, python -X importtime):")
        for micros, name in top:
            print(f"  {micros / 1000:7.1f} ms {name}")
        print(f"heavy modules imported: {heavy or 'none'}")
        _, heavy = import_profile(root, ("list",), NOT_FOR_LIST)
        print(f"modules xm list does not need, imported: {heavy or 'none'}")
        print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
