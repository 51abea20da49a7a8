"""Benchmark of `xm acm explain | audit | diff --host | test` (not a test):
whole commands, as a user types them, on a host with many running domains.

    python bench/acmhost_bench.py                      # example policy, 10,000 domains
    python bench/acmhost_bench.py --gen "2000 500 10000 10000 200 8"   # the 20,000-label policy

The host is built as in bench/host_bench.py (policy compiled and loaded,
domains added after an engine check, so the counters are a real host's),
with one labeled disk attached to each of the first 1,000 domains. Prints a
small markdown table of medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from host_bench import build_root, fill  # noqa: E402

from xm_core.files.paths import HostPaths  # noqa: E402
from xm_core.host.model import Host  # noqa: E402
from xm_core.host.store import DeviceRecord  # noqa: E402

DISKS = 1000


def attach_disks(paths: HostPaths, policy: str) -> None:
    """A disk served by Domain-0 for each of the first DISKS domains that
    share an STE type with Domain-0, labeled with a resource label sharing
    one with the domain (so the host is sound)."""
    from acm.ssidref import label_to_ssidref
    from xm_core.files.atomic import atomic_write
    from xm_core.files.resources import render_resource_labels

    with Host(paths) as host, host.store.write():
        loaded = host.policy()
        assert loaded is not None
        engine = loaded.engine
        ste = loaded.map.ste
        res = {}
        for e in ste.labels if ste else ():
            if e.kind == "RES" and e.name not in res:
                ref = label_to_ssidref(loaded.map, e.name, "res")
                res[e.name] = set(engine.ste_types(ref))
        pick: dict[int, str | None] = {}
        labels = {}
        done = 0
        for dom in host.store.domains()[1:]:
            if done >= DISKS:
                break
            if dom.ssidref not in pick:
                own = set(engine.ste_types(dom.ssidref))
                served = engine.common(dom.ssidref, engine.bootstrap_ssidref())
                pick[dom.ssidref] = (
                    next((n for n, t in res.items() if t & own), None) if served else None
                )
            label = pick[dom.ssidref]
            if label is None:
                continue
            resource = f"phy:/dev/bench{done}"
            labels[resource] = (policy, label)
            host.store.add_device(
                DeviceRecord(dom.domid, "vbd", 51712, 0, "xvda", resource, resource, "w")
            )
            done += 1
    atomic_write(paths.resource_labels, render_resource_labels(labels))


def timed(cmd: list[str], env: dict[str, str], runs: int) -> tuple[float, int]:
    times = []
    code = 0
    for _ in range(runs):
        t = time.perf_counter()
        res = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t)
        code = res.returncode
        if code not in (0, 1):
            print(f"{' '.join(cmd)}: {res.stderr.decode().strip()}", file=sys.stderr)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gen", help="gen_policy.py arguments for a large policy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xm-bench-") as tmp:
        paths, name, labels = build_root(Path(tmp) / "root", args.gen)
        fill(paths, labels, args.domains)
        attach_disks(paths, name)
        with Host(paths) as host:
            running = host.store.domain_count()
            devices = len(host.store.devices())
            label = host.store.domains()[1].label
        assert label is not None
        env = dict(os.environ, XM_ROOT=str(paths.root))
        xm = [sys.executable, "-m", "xm_core", "acm"]
        files = paths.policy_files(name)
        cmds = {
            f"xm acm explain --label {label}": [*xm, "explain", "--label", label],
            "xm acm audit": [*xm, "audit"],
            "xm acm diff NEW.bin NEW.bin --host": [*xm, "diff", files.bin, files.bin, "--host"],
        }
        if args.gen is None:
            suite = sorted(str(p) for p in (REPO / "tests" / "data" / "acmtest").glob("*.toml"))
            cmds[f"xm acm test ({len(suite)} files)"] = [*xm, "test", *suite]
        print(f"\n| policy | running domains | devices | command | median of {args.runs} |")
        print("|---|---|---|---|---|")
        for title, cmd in cmds.items():
            secs, code = timed(cmd, env, args.runs)
            print(f"| {name} | {running} | {devices} | `{title}` (exit {code}) | {secs:.3f} s |")


if __name__ == "__main__":
    main()
