"""Benchmark of the host model (not a test): decision rate in process, and
whole `xm create` / `xm list --label` commands, with many running domains.

    python bench/host_bench.py                       # example policy, 10,000 domains
    python bench/host_bench.py --gen "2000 500 10000 10000 200 8"   # the 20,000-label policy

The state is built in a temporary root: the policy compiled and loaded
with `xm`, then the domains added in one transaction, each one checked by
the engine first (so the counters are those of a real host). Prints a
small markdown table.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from xm_core.files.paths import EXAMPLE_POLICY, HostPaths  # noqa: E402
from xm_core.host.domains import destroy_domain  # noqa: E402
from xm_core.host.model import Host, load_policy  # noqa: E402
from xm_core.host.policy import make_policy  # noqa: E402

GEN = REPO.parent / "shared" / "tools" / "gen_policy.py"  # shared/ beside the checkout
EXAMPLE_LABELS = ["dom_HomeBanking", "dom_BoincClient", "dom_StorageDomain", "dom_NetworkDomain"]


def build_root(root: Path, gen: str | None) -> tuple[HostPaths, str, list[str]]:
    paths = HostPaths(root)
    if gen is None:
        paths.seed_example()
        name = EXAMPLE_POLICY
        labels = EXAMPLE_LABELS
    else:
        args = gen.split()
        name = f"big{args[0]}"
        xml = Path(paths.policy_files(name).xml)
        xml.parent.mkdir(parents=True, exist_ok=True)
        with open(xml, "w") as f:
            subprocess.run([sys.executable, str(GEN), *args], stdout=f, check=True)
        labels = [f"vm{i}" for i in range(1, int(args[2]))]
    t = time.perf_counter()
    make_policy(paths, name)
    t_make = time.perf_counter() - t
    t = time.perf_counter()
    load_policy(paths, name)
    t_load = time.perf_counter() - t
    print(f"makepolicy {t_make:.2f} s, loadpolicy {t_load:.2f} s", file=sys.stderr)
    return paths, name, labels


def fill(paths: HostPaths, labels: list[str], count: int, seed: int = 7) -> list[int]:
    """Add `count` running domains with random permitted labels; returns the
    ssidrefs tried (a mix of permitted and denied ones) for the rate test."""
    rng = random.Random(seed)
    tried: list[int] = []
    with Host(paths) as host, host.store.write():
        policy = host.policy()
        assert policy is not None
        engine = policy.engine
        max_types = policy.binary.chwall.max_types if policy.binary.chwall else 0
        running, aggregate = host.store.chwall_counters(max_types)
        from acm.engine import ChwallCounters

        counters = ChwallCounters(running, aggregate)
        refs = {lab: host.dom_ssidref(policy, lab) for lab in labels}
        if "dom_HomeBanking" in refs:  # the example: let some decisions be denials
            tried.extend([host.dom_ssidref(policy, "dom_Fun")] * (count // 4))
        added = attempts = 0
        while added < count and attempts < count * 50:
            attempts += 1
            label = rng.choice(labels)
            ref = refs[label]
            tried.append(ref)
            if not engine.check_create(ref, counters.aggregate).permitted:
                continue
            engine.apply_create(ref, counters)
            host.store.add_domain(f"d{added}", ref, 64, 1, policy=policy.name, label=label)
            added += 1
        host.store.set_chwall_counters(counters.running, counters.aggregate)
    print(f"{added} domains running ({attempts} attempts)", file=sys.stderr)
    return tried


def decision_rate(paths: HostPaths, refs: list[int], n: int) -> tuple[float, float, float]:
    """(decisions/s with in-memory counters, with counters read from the
    store for each decision, share of denials)."""
    with Host(paths) as host:
        policy = host.policy()
        assert policy is not None
        engine = policy.engine
        max_types = policy.binary.chwall.max_types if policy.binary.chwall else 0
        _, aggregate = host.store.chwall_counters(max_types)
        sample = (refs * (n // max(len(refs), 1) + 1))[:n]
        t = time.perf_counter()
        denied = 0
        for ref in sample:
            if not engine.check_create(ref, aggregate).permitted:
                denied += 1
        rate = n / (time.perf_counter() - t)
        m = min(n, 20000)
        t = time.perf_counter()
        for ref in sample[:m]:
            types = engine.chwall_types(ref)
            agg = {k: a for k, (_, a) in host.store.chwall_counters_of(types).items()}
            engine.check_create(ref, agg)
        store_rate = m / (time.perf_counter() - t)
    return rate, store_rate, denied / n


def command_times(paths: HostPaths, policy: str, label: str, runs: int) -> dict[str, float]:
    env = dict(os.environ, XM_ROOT=str(paths.root))
    xm = [sys.executable, "-m", "xm_core"]
    times: dict[str, list[float]] = {"xm create": [], "xm list --label": [], "xm list": []}
    for i in range(runs):
        name = f"bench{i}"
        t = time.perf_counter()
        res = subprocess.run(
            [*xm, "create", "/dev/null", f"name={name}",
             f"access_control=['policy={policy},label={label}']"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        times["xm create"].append(time.perf_counter() - t)
        if res.returncode != 0:
            print(f"create failed: {res.stderr.strip()}", file=sys.stderr)
        else:
            destroy_domain(paths, name)
        for cmd in (["list", "--label"], ["list"]):
            t = time.perf_counter()
            subprocess.run([*xm, *cmd], env=env, stdout=subprocess.DEVNULL, check=True)
            times["xm " + " ".join(cmd)].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=10000)
    parser.add_argument("--decisions", type=int, default=200000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gen", help="gen_policy.py arguments for a large policy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xm-bench-") as tmp:
        paths, name, labels = build_root(Path(tmp) / "root", args.gen)
        tried = fill(paths, labels, args.domains)
        rate, store_rate, denied = decision_rate(paths, tried, args.decisions)
        with Host(paths) as host:
            running = host.store.domain_count()
            one = host.store.domains()[1].label
        assert one is not None
        # a label that is sure to be permitted: one that runs already
        cmds = command_times(paths, name, one, args.runs)
        print("\n| policy | running domains | measure | figure |\n|---|---|---|---|")
        print(
            f"| {name} | {running} | create decisions in process | {rate:,.0f} /s "
            f"({denied:.0%} denied) |"
        )
        print(
            f"| {name} | {running} | decisions with counters read from the store | "
            f"{store_rate:,.0f} /s |"
        )
        for cmd, secs in cmds.items():
            print(f"| {name} | {running} | `{cmd}` (median of {args.runs}) | {secs:.3f} s |")


if __name__ == "__main__":
    main()
