"""Benchmark of policy generation (not a test): `policy_xml` alone, and
`generate_policy` (checks, text, then its own compile and lint) on
workloads of N organizations with 10 departments each and a rule for every
pair of neighbouring organizations. Prints medians of 5 runs, in ms.

    python bench/generate_bench.py [N ...]     # default: 10 100 300
"""

from __future__ import annotations

import statistics
import sys
import time

from acm.authoring.generate import generate_policy, policy_xml
from acm.authoring.workload import Organization, Rule, Workload


def workload(n: int) -> Workload:
    orgs = tuple(Organization(f"Org{i}", tuple(f"D{j}" for j in range(10))) for i in range(n))
    rules = tuple(Rule(f"r{i}", (f"Org{i}", f"Org{i + 1}")) for i in range(0, n - 1, 2))
    return Workload(orgs, rules)


def median_ms(run: object, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main(sizes: list[int]) -> None:
    print("| types | policy_xml ms | generate_policy ms | bytes |")
    print("|---:|---:|---:|---:|")
    for n in sizes:
        w = workload(n)
        text = median_ms(lambda w=w: policy_xml(w, "p", "d"))
        full = median_ms(lambda w=w: generate_policy(w, "p", "d"))
        size = len(generate_policy(w, "p", "d").xml)
        print(f"| {1 + 11 * n} | {text:.1f} | {full:.1f} | {size} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 300])
