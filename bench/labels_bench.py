"""Benchmark of the label and life-cycle commands (not a test): whole `xm`
commands, each a process of its own, median of several runs.

    python bench/labels_bench.py                                   # example policy
    python bench/labels_bench.py --gen "2000 500 10000 10000 200 8"  # 20,000 labels

The root is temporary: the policy compiled (and loaded), a resource label
file with RESOURCES entries, then each command timed. Prints a small
markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from xm_core.files.atomic import atomic_write  # noqa: E402
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths  # noqa: E402
from xm_core.files.resources import render_resource_labels  # noqa: E402
from xm_core.host.model import load_policy  # noqa: E402
from xm_core.host.policy import make_policy  # noqa: E402

GEN = REPO.parent / "shared" / "tools" / "gen_policy.py"  # shared/ beside the checkout


def build_root(root: Path, gen: str | None) -> tuple[HostPaths, str, str, str]:
    """(paths, policy, a domain label, a resource label)."""
    paths = HostPaths(root)
    if gen is None:
        paths.seed_example()
        name, dom, res = EXAMPLE_POLICY, "dom_BoincClient", "res_HardDrive(hda)"
    else:
        args = gen.split()
        name = f"big{args[0]}"
        xml = Path(paths.policy_files(name).xml)
        xml.parent.mkdir(parents=True, exist_ok=True)
        with open(xml, "w") as f:
            subprocess.run([sys.executable, str(GEN), *args], stdout=f, check=True)
        dom, res = f"vm{int(args[2]) - 1}", f"res{int(args[3]) - 1}"
    t = time.perf_counter()
    make_policy(paths, name)
    load_policy(paths, name)
    print(f"makepolicy + loadpolicy {time.perf_counter() - t:.2f} s", file=sys.stderr)
    return paths, name, dom, res


def xm(root: Path, cwd: Path, *args: str, ok: bool = True) -> float:
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "xm_core", "--root", str(root), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t
    if ok and done.returncode != 0:
        raise SystemExit(f"xm {' '.join(args)} failed: {done.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", help="gen_policy.py arguments (a large generated policy)")
    ap.add_argument("--resources", type=int, default=10_000, help="entries in the label file")
    ap.add_argument("--runs", type=int, default=5)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        work = Path(tmp) / "work"
        work.mkdir()
        paths, policy, dom, res = build_root(root, opts.gen)
        labels = {f"phy:/dev/disk{i}": (policy, res) for i in range(opts.resources)}
        atomic_write(paths.resource_labels, render_resource_labels(labels))
        (work / "d.cfg").write_text('name = "d"\nmemory = 32\n')

        rows: list[tuple[str, float]] = []

        def timed(title: str, setup: list[list[str]], *args: str) -> None:
            times = []
            for _ in range(opts.runs):
                for step in setup:
                    xm(root, work, *step, ok=False)
                times.append(xm(root, work, *args))
            rows.append((title, statistics.median(times)))

        timed("python -m xm_core --help (start-up)", [], "--help")
        timed("labels (dom)", [], "labels")
        timed("labels type=any", [], "labels", "type=any")
        timed("addlabel dom", [["rmlabel", "dom", "d.cfg"]], "addlabel", dom, "dom", "d.cfg")
        timed("getlabel dom", [], "getlabel", "dom", "d.cfg")
        timed("rmlabel dom", [["addlabel", dom, "dom", "d.cfg"]], "rmlabel", "dom", "d.cfg")
        n = opts.resources
        timed(
            f"addlabel res ({n} labeled)",
            [["rmlabel", "res", "phy:new"]],
            "addlabel",
            res,
            "res",
            "phy:new",
        )
        timed(f"getlabel res ({n} labeled)", [], "getlabel", "res", "phy:disk7")
        timed(f"resources ({n} labeled)", [], "resources")
        timed(
            f"rmlabel res ({n} labeled)",
            [["addlabel", res, "res", "phy:new"]],
            "rmlabel",
            "res",
            "phy:new",
        )
        xm(root, work, "addlabel", dom, "dom", "d.cfg", ok=False)
        xm(root, work, "create", "d.cfg")
        save = str(work / "d.save")
        timed("save", [["restore", save]], "save", "d", save)
        timed("restore", [["save", "d", save]], "restore", save)
        timed("vcpu-list", [], "vcpu-list")
        print("| command | median wall time |")
        print("|---|---|")
        for title, seconds in rows:
            print(f"| `{title}` | {seconds * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
