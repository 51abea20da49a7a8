"""Time `acm-lint` on the 20,000-label generated policy (goal: under 5 s).

usage: python bench/lint_big.py [--policy FILE] [--generator GEN_POLICY_PY] [--repeat N]

Without --policy the policy is made with the shared generator
(`gen_policy.py 2000 500 10000 10000 200 8`, by default from ../shared/tools
beside the checkout). Prints a markdown table: the phases in process (best
of --repeat runs) and the whole command line end to end for each format.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from acm.lint import lint_paths  # noqa: E402
from acm.lint.checks import CHECKS, Check  # noqa: E402
from acm.lint.checks.policy_name import policy_place  # noqa: E402
from acm.lint.context import LintContext  # noqa: E402
from acm.lint.model import from_source  # noqa: E402
from acm.source import read_policy_source  # noqa: E402
from acm.sourcecompiler import compile_source  # noqa: E402

BIG_ARGS = ["2000", "500", "10000", "10000", "200", "8"]


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _run_check(check: Check, ctx: LintContext) -> None:
    list(check(ctx))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", help="policy file (default: generate the big one)")
    parser.add_argument(
        "--generator", default=str(REPO.parent / "shared" / "tools" / "gen_policy.py")
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="lint-bench-")
    if args.policy:
        policy = args.policy
    else:
        policy = os.path.join(tmp, "big-security_policy.xml")
        with open(policy, "wb") as f:
            subprocess.run([sys.executable, args.generator, *BIG_ARGS], stdout=f, check=True)
    size = os.path.getsize(policy)

    rows: list[tuple[str, float]] = []
    src = read_policy_source(policy)
    rows.append(
        ("parse + schema + source model", best(args.repeat, lambda: read_policy_source(policy)))
    )
    compiled = compile_source(src)
    rows.append(("compile_source", best(args.repeat, lambda: compile_source(src))))
    ctx = LintContext(from_source(src), compiled, frozenset(), policy_place(policy))
    for check in CHECKS:
        name = check.__module__.rsplit(".", 1)[-1]
        rows.append((f"check {name}", best(args.repeat, partial(_run_check, check, ctx))))
    report = lint_paths([policy])
    rows.append(("lint_paths (all of the above)", best(args.repeat, lambda: lint_paths([policy]))))

    exe = [
        sys.executable,
        "-c",
        "import sys; from xm_core.cli.commands import lint_main; lint_main(sys.argv[1:])",
    ]
    for fmt in ("text", "json", "sarif", "github"):

        def cli(fmt: str = fmt) -> None:
            with open(os.devnull, "wb") as sink:
                subprocess.run(
                    [*exe, "--format", fmt, policy], stdout=sink, stderr=sink, check=False
                )

        rows.append((f"acm-lint --format {fmt} (process, end to end)", best(args.repeat, cli)))

    codes: dict[str, int] = {}
    for d in report.findings:
        codes[d.code] = codes.get(d.code, 0) + 1
    labels = len(src.labels)
    print(f"policy: {policy} ({size / 1e6:.1f} MB, {labels} labels)")
    print(
        f"findings: {len(report.findings)} "
        + ", ".join(f"{c} x{n}" for c, n in sorted(codes.items()))
    )
    print(f"best of {args.repeat}, {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print("| phase | seconds |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
