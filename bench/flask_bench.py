"""Benchmark of `xm acm flask` on the generated 20,000-label policy (not a test).

    python bench/flask_bench.py [--shared DIR] [--args "2000 500 10000 10000 200 8"]

Generates the policy with `gen_policy.py` in a temporary folder, then times,
each as a whole process under /usr/bin/time: the export (`xm acm flask
POLICY -o DIR`, compiling the XML in memory as a user's run does), m4 over
Xen 4.13's policy sources with the module (in Makefile.common's order),
and `checkpolicy -t Xen -c 30`. Prints a markdown table of wall time and
peak memory, and the sizes of what was written and built.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ARGS = "2000 500 10000 10000 200 8"


def timed(argv: list[str], stdout: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak KB) of one process, from /usr/bin/time."""
    with open(stdout or "/dev/null", "wb") as out:
        res = subprocess.run(
            ["/usr/bin/time", "-f", "TIME %e %U %S %M", *argv],
            stdout=out, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", res.stderr)
    if res.returncode != 0 or m is None:
        sys.exit(f"{argv[0]} failed:\n{res.stderr[-2000:]}")
    return float(m.group(1)), float(m.group(2)) + float(m.group(3)), int(m.group(4))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared"), metavar="DIR")
    ap.add_argument("--args", default=ARGS, help="gen_policy.py's arguments")
    opts = ap.parse_args()
    shared = Path(opts.shared)

    from tests.flasktools import m4_argv

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        policy = work / "big-security_policy.xml"
        policy.write_bytes(
            subprocess.run(
                [sys.executable, str(shared / "tools" / "gen_policy.py"), *opts.args.split()],
                capture_output=True, check=True,
            ).stdout
        )  # fmt: skip
        out = work / "out"
        xm = str(Path(sys.executable).parent / "xm")
        rows = [
            (
                "`xm acm flask POLICY -o DIR`",
                *timed([xm, "acm", "flask", str(policy), "-o", str(out)]),
            )
        ]
        module = next(out.glob("*.te"))
        conf = work / "policy.conf"
        m4 = m4_argv(module, shared / "ref" / "xen-4.13-flask")
        rows.append(("m4 (Xen 4.13's sources + the module)", *timed(m4, conf)))
        binary = work / "xenpolicy"
        cp = ["checkpolicy", "-t", "Xen", "-c", "30", str(conf), "-o", str(binary)]
        rows.append(("`checkpolicy -t Xen -c 30`", *timed(cp)))
        labels = policy.read_text().count("<Name>")
        print(f"policy: gen_policy.py {opts.args} ({labels} labels, "
              f"{policy.stat().st_size / 1e6:.1f} MB XML)")  # fmt: skip
        print(f"module: {module.stat().st_size / 1e6:.1f} MB .te, "
              f"policy.conf {conf.stat().st_size / 1e6:.1f} MB, "
              f"built policy {binary.stat().st_size / 1e6:.1f} MB")  # fmt: skip
        print()
        print("| step | wall | CPU | peak RSS |")
        print("|---|---|---|---|")
        for what, wall, cpu, kb in rows:
            print(f"| {what} | {wall:.1f} s | {cpu:.1f} s | {kb / 1024:.0f} MB |")


if __name__ == "__main__":
    main()
