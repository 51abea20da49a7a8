"""Benchmark of the policy analyses on the generated 20,000-label policy.

    python bench/analysis_big.py [--shared DIR] [--out FILE.md]

Generates `gen_policy.py 2000 500 10000 10000 200 8` (and the same with seed
2, as a NEW policy where everything differs, plus a copy with one conflict
set changed, as a NEW policy with a small change) in a temporary folder,
then times each analysis in the library and each command end to end (a new
`xm` process, compiling the XML in memory as a user's run does). Goals
(issue 7): graph and diff under 5 s, coexist's "can these run together"
under 1 s. Prints a markdown table; `--out` also writes it to a file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ARGS = ["2000", "500", "10000", "10000", "200", "8"]


def timed(
    rows: list[tuple[str, float, str]], what: str, fn: Callable[[], Any], note: str = ""
) -> Any:
    start = time.perf_counter()
    value = fn()
    rows.append((what, time.perf_counter() - start, note))
    return value


def generate(shared: Path, folder: Path) -> tuple[Path, Path, Path]:
    tool = shared / "tools" / "gen_policy.py"
    old = folder / "big-security_policy.xml"
    new = folder / "big_seed2-security_policy.xml"
    small = folder / "big_small_change-security_policy.xml"
    old.write_bytes(
        subprocess.run([sys.executable, str(tool), *ARGS], capture_output=True, check=True).stdout
    )
    new.write_bytes(
        subprocess.run(
            [sys.executable, str(tool), *ARGS, "2"], capture_output=True, check=True
        ).stdout
    )
    text = old.read_text()
    start = text.index('<Conflict name="c0">')
    end = text.index("</Conflict>", start) + len("</Conflict>")
    small.write_text(
        text[:start]
        + '<Conflict name="c0"><Type>cw_t1</Type><Type>cw_t2</Type></Conflict>'
        + text[end:]
    )
    return old, new, small


def command(rows: list[tuple[str, float, str]], what: str, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "xm_core", *args], capture_output=True, env=env, check=False
    )
    took = time.perf_counter() - start
    note = f"exit {proc.returncode}, {len(proc.stdout):,} bytes out"
    rows.append((what, took, note))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(REPO.parent / "shared"))
    parser.add_argument("--out")
    opts = parser.parse_args()

    from acm.analysis.coexist import check_together, maximal_sets
    from acm.analysis.conflicts import build_conflicts
    from acm.analysis.decompile import decompile
    from acm.analysis.diff import diff_policies
    from acm.analysis.flows import build_flows
    from acm.analysis.graphs import policy_graph
    from acm.analysis.loader import load_xml
    from acm.source import LabelKind

    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        old_xml, new_xml, small_xml = generate(Path(opts.shared), Path(tmp))
        old = timed(rows, "load + compile XML in memory", lambda: load_xml(old_xml))
        new = load_xml(new_xml)
        small = load_xml(small_xml)

        cg = timed(rows, "conflicts: build group graph", lambda: build_conflicts(old))
        s = cg.summary()
        rows[-1] = (*rows[-1][:2], f"{s['groups']} groups, {s['group_edges']} group edges "
                    f"({s['label_edges']:,} over labels)")  # fmt: skip
        timed(
            rows,
            "graph conflicts --json (auto: groups)",
            lambda: policy_graph(old, "conflicts").format("json"),
        )
        timed(
            rows,
            "graph conflicts --format dot",
            lambda: policy_graph(old, "conflicts").format("dot"),
        )
        timed(
            rows,
            "graph conflicts --level labels --json",
            lambda: policy_graph(old, "conflicts", "labels").format("json"),
            "475,734 edges: only when asked",
        )
        fg = timed(rows, "flows: build label/type graph", lambda: build_flows(old))
        timed(
            rows,
            "graph flows --json (auto: types)",
            lambda: policy_graph(old, "flows").format("json"),
        )
        timed(rows, "flows vm5 -> res77 (max 3 hops, 20 paths)",
              lambda: fg.flows(old.find("vm5"), old.find("res77"), 3, 20))  # fmt: skip

        for count in (2, 10, 100, 1000):
            labels = [old.find(f"vm{i}", LabelKind.VM) for i in range(1, count + 1)]
            res = timed(
                rows,
                f"coexist: can {count} labels run together",
                partial(check_together, cg, labels),
            )
            rows[-1] = (*rows[-1][:2], "yes" if res.can else "no")
        res = timed(rows, "coexist: list maximal sets (--limit 10)", lambda: maximal_sets(cg, 10))
        rows[-1] = (
            *rows[-1][:2],
            f"{len(res.sets)} listed, total "
            + (f"at least {res.at_least:,}" if res.total is None else str(res.total)),
        )

        d = timed(rows, "diff (all labels differ, seed 2)", lambda: diff_policies(old, new))
        rows[-1] = (
            *rows[-1][:2],
            f"{len(d.labels):,} label changes, {len(d.blocking):,} blocking changes",
        )
        d = timed(rows, "diff (one conflict set changed)", lambda: diff_policies(old, small))
        rows[-1] = (
            *rows[-1][:2],
            f"{len(d.conflict_sets)} set changes, {len(d.blocking)} blocking changes",
        )

        timed(
            rows,
            "decompile .bin + .map (with verification)",
            lambda: decompile(old.compiled.binary, old.compiled.map),
        )

        from acm.binfmt import encode_binary
        from acm.mapfile import render_map

        stems = {}
        for key, policy, xml in (("BIG", old, old_xml), ("BIG_SEED2", new, new_xml)):
            stem = str(xml).removesuffix("-security_policy.xml")
            Path(stem + ".bin").write_bytes(b"".join(encode_binary(policy.compiled.binary)))
            Path(stem + ".map").write_bytes(render_map(policy.compiled.map))
            stems[key] = stem
        big, seed2, small_change = str(old_xml), str(new_xml), str(small_xml)
        commands = [
            ("graph BIG --json", ["graph", big, "--json"]),
            ("graph BIG --kind flows --json", ["graph", big, "--kind", "flows", "--json"]),
            ("diff BIG BIG_SEED2 --json", ["diff", big, seed2, "--json"]),
            ("diff BIG BIG_SMALL_CHANGE", ["diff", big, small_change]),
            (
                "diff BIG.bin BIG_SEED2.bin --json (compiled: .bin + .map)",
                ["diff", stems["BIG"] + ".bin", stems["BIG_SEED2"] + ".bin", "--json"],
            ),
            ("coexist BIG vm1 vm2 vm3", ["coexist", big, "vm1", "vm2", "vm3"]),
            ("coexist BIG --limit 10 --json", ["coexist", big, "--limit", "10", "--json"]),
            ("flows BIG vm5 res77", ["flows", big, "vm5", "res77"]),
            (
                "decompile BIG.bin --map BIG.map",
                ["decompile", stems["BIG"] + ".bin", "--map", stems["BIG"] + ".map"],
            ),
        ]
        for title, args in commands:
            command(rows, "$ xm acm " + title, "acm", *args)

    lines = ["| what | seconds | note |", "|---|---:|---|"]
    lines += [f"| {what} | {took:.2f} | {note} |" for what, took, note in rows]
    table = "\n".join(lines)
    print(table)
    if opts.out:
        Path(opts.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
