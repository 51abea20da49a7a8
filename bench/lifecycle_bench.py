"""Benchmark of the versioned policy lifecycle (not a test): `xm setpolicy`
updates of a host with 1,000 running domains, as whole commands.

    python bench/lifecycle_bench.py                 # 1,000 domains, 40 labels
    python bench/lifecycle_bench.py --domains 2000 --labels 80
    python bench/lifecycle_bench.py --images 1000   # and 1,000 saved images

The host: a versioned policy (`bench.lc` 1.0: labels dept00.., each its
own STE and Chinese Wall type, conflict sets among labels no domain runs)
set with `xm setpolicy`; the domains added in one transaction, each checked
by the engine first, each with a disk (`phy:/dev/vgN/volM`, labeled with
its domain's label) served by Domain-0, so every update re-checks 1,000
domains, 1,000 connections and 1,000 resources. Then, each a whole `xm`
process (median of --runs):

1. `xm setpolicy --dry-run ACM bench.lc` of version 1.1, which adds a label
   in the middle of the sorted names (renumbering the domains after it)
   and renames one label with `from=`;
2. `xm setpolicy ACM bench.lc` of that update (once: it changes the host),
   then a check that every domain still runs, with its label renamed or
   renumbered as it should be;
3. `xm setpolicy ACM bench.lc` of version 1.2, which puts two running
   labels into one conflict set and drops a resource label in use: refused,
   every violation listed, and the store and the resource label file
   checked byte for byte to be as they were.

With `--images N`, N saved images of domains of those labels (files as
`xm save` writes them, recorded as `save` records them) are there too, so
steps 1 and 2 read them all and relabel those of the renamed label.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from xm_core.files.paths import HostPaths  # noqa: E402

NAME = "bench.lc"


def policy_xml(
    labels: list[str],
    version: str,
    from_version: str | None,
    conflicts: list[tuple[str, str]],
    renamed: dict[str, str] | None = None,  # new -> old
    res_labels: list[str] | None = None,
) -> str:
    renamed = renamed or {}
    res_labels = labels if res_labels is None else res_labels

    def ty(names: list[str]) -> str:
        return "".join(f"<Type>{n}</Type>" for n in names)

    def type_of(label: str) -> str:
        return renamed.get(label, label)  # a renamed label keeps its type

    types = ["SystemManagement", *sorted({type_of(x) for x in labels})]
    frm = (
        f"<FromPolicy><PolicyName>{NAME}</PolicyName><Version>{from_version}</Version></FromPolicy>"
        if from_version
        else ""
    )

    def name(label: str) -> str:
        old = renamed.get(label)
        return f'<Name from="{old}">{label}</Name>' if old else f"<Name>{label}</Name>"

    vms = "".join(
        f"<VirtualMachineLabel>{name(x)}<SimpleTypeEnforcementTypes>{ty([type_of(x)])}"
        f"</SimpleTypeEnforcementTypes><ChineseWallTypes>{ty([type_of(x)])}</ChineseWallTypes>"
        "</VirtualMachineLabel>"
        for x in labels
    )
    ress = "".join(
        f"<ResourceLabel>{name(x)}<SimpleTypeEnforcementTypes>{ty([type_of(x)])}"
        "</SimpleTypeEnforcementTypes></ResourceLabel>"
        for x in res_labels
    )
    sets = "".join(
        f'<Conflict name="cs{i}">{ty([type_of(a), type_of(b)])}</Conflict>'
        for i, (a, b) in enumerate(conflicts)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        f"<PolicyHeader><PolicyName>{NAME}</PolicyName><Version>{version}</Version>{frm}"
        "</PolicyHeader>"
        f"<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>{ty(types)}"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>"
        f"<ChineseWall><ChineseWallTypes>{ty(types)}</ChineseWallTypes>"
        f"<ConflictSets>{sets}</ConflictSets></ChineseWall>"
        '<SecurityLabelTemplate><SubjectLabels bootstrap="SystemManagement">'
        "<VirtualMachineLabel><Name>SystemManagement</Name>"
        f"<SimpleTypeEnforcementTypes>{ty(types)}</SimpleTypeEnforcementTypes>"
        "<ChineseWallTypes><Type>SystemManagement</Type></ChineseWallTypes>"
        f"</VirtualMachineLabel>{vms}</SubjectLabels><ObjectLabels>{ress}</ObjectLabels>"
        "</SecurityLabelTemplate></SecurityPolicyDefinition>\n"
    )


def write_policy(paths: HostPaths, xml: str) -> None:
    file = Path(paths.policy_files(NAME).xml)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(xml)


def build(paths: HostPaths, domains: int, labels: list[str]) -> None:
    """v1.0 set, then `domains` running domains with a disk each."""
    from xm_core.files.atomic import atomic_write
    from xm_core.files.resources import render_resource_labels
    from xm_core.host.model import Host
    from xm_core.host.store import DOM0_ID, DeviceRecord
    from xm_core.host.update.apply import set_policy

    idle = labels[len(labels) * 3 // 4 :]  # no domain runs these: they may conflict
    conflicts = [(idle[i], idle[i + 1]) for i in range(0, len(idle) - 1, 2)]
    write_policy(paths, policy_xml(labels, "1.0", None, conflicts))
    set_policy(paths, NAME, boot=False)
    running = labels[: len(labels) * 3 // 4]
    resources: dict[str, tuple[str, str]] = {}
    with Host(paths) as host, host.store.write():
        policy = host.policy()
        assert policy is not None
        engine = policy.engine
        from acm.engine import ChwallCounters

        max_types = policy.binary.chwall.max_types if policy.binary.chwall else 0
        counters = ChwallCounters(*host.store.chwall_counters(max_types))
        for i in range(domains):
            label = running[i % len(running)]
            ref = host.dom_ssidref(policy, label)
            assert engine.check_create(ref, counters.aggregate).permitted
            engine.apply_create(ref, counters)
            dom = host.store.add_domain(f"d{i:04d}", ref, 64, 1, policy=NAME, label=label)
            disk = f"phy:/dev/vg{i % 10}/vol{i:04d}"
            resources[disk] = (NAME, label)
            host.store.add_device(
                DeviceRecord(dom.domid, "vbd", 0x300, DOM0_ID, "hda", disk, disk, "w")
            )
        host.store.set_chwall_counters(counters.running, counters.aggregate)
    paths.resource_labels.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(paths.resource_labels, render_resource_labels(resources))


def save_images(paths: HostPaths, folder: Path, count: int, labels: list[str]) -> None:
    """`count` saved images, as `xm save` writes and records them."""
    from xm_core.files.savefile import SavedDomain, write_save_file
    from xm_core.host.model import Host

    folder.mkdir()
    running = labels[: len(labels) * 3 // 4]
    with Host(paths) as host, host.store.write():
        for i in range(count):
            image = folder / f"s{i:04d}.save"
            label = running[i % len(running)]
            saved = SavedDomain(
                f"s{i:04d}", f"uuid-s{i:04d}", 64, 64, 1, "-b----", NAME, label, 0, {}, []
            )
            write_save_file(image, saved)
            host.store.add_saved_image(str(image), saved.uuid, saved.name, time.time())


def xm(root: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "xm_core", "--root", str(root), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - t, done


def state_digest(paths: HostPaths) -> str:
    """The store's policy, domains, devices and counters, and the resource label file."""
    h = hashlib.sha256()
    conn = sqlite3.connect(str(paths.state_db))
    try:
        for sql in (
            "SELECT state, name, binary, map, extra, generation FROM policy",
            "SELECT domid, name, ssidref, policy, label, state FROM domains ORDER BY domid",
            "SELECT * FROM devices ORDER BY 1, 2, 3",
            "SELECT * FROM chwall_counters ORDER BY 1",
        ):
            for row in conn.execute(sql):
                h.update(repr(tuple(row)).encode())
    finally:
        conn.close()
    h.update(paths.resource_labels.read_bytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--labels", type=int, default=40)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--images", type=int, default=0)
    args = ap.parse_args()
    labels = [f"dept{i:02d}" for i in range(args.labels)]
    with tempfile.TemporaryDirectory(prefix="xm-lc-bench-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        paths = HostPaths(root)
        t = time.perf_counter()
        build(paths, args.domains, labels)
        if args.images:
            save_images(paths, Path(tmp) / "images", args.images, labels)
        print(f"host built in {time.perf_counter() - t:.1f} s", file=sys.stderr)

        idle = labels[len(labels) * 3 // 4 :]
        conflicts = [(idle[i], idle[i + 1]) for i in range(0, len(idle) - 1, 2)]
        # 1.1: 'dept15a' sorts in the middle; dept05 is renamed 'finance'
        v11 = [x if x != "dept05" else "finance" for x in labels]
        v11.insert(len(v11) // 2, "dept15a")
        write_policy(
            paths,
            policy_xml(v11, "1.1", "1.0", conflicts, renamed={"finance": "dept05"}),
        )
        dry = []
        for _ in range(args.runs):
            took, done = xm(root, "setpolicy", "--dry-run", "ACM", NAME)
            assert done.returncode == 0, done.stderr + done.stdout
            dry.append(took)
        moved = done.stdout.count("(renumbered") + done.stdout.count("(renamed")
        before_set = state_digest(paths)
        assert before_set == state_digest(paths)
        took_set, done = xm(root, "setpolicy", "--no-boot", "ACM", NAME)
        assert done.returncode == 0, done.stderr
        relabeled = sum(
            '"label": "finance"' in f.read_text() for f in (Path(tmp) / "images").glob("*.save")
        )
        conn = sqlite3.connect(str(paths.state_db))
        rows = conn.execute("SELECT name, label FROM domains WHERE domid > 0").fetchall()
        conn.close()
        assert len(rows) == args.domains, "a domain was stopped"
        assert "dept05" not in {label for _, label in rows}
        assert "finance" in {label for _, label in rows}

        # 1.2: two running labels in one conflict set, a resource label in use dropped
        busy = [(v11[0], v11[1]), *conflicts]
        res12 = [x for x in v11 if x != "dept02"]
        write_policy(paths, policy_xml(v11, "1.2", "1.1", busy, res_labels=res12))
        before = state_digest(paths)
        refused = []
        for _ in range(args.runs):
            took, done = xm(root, "setpolicy", "--no-boot", "--json", "ACM", NAME)
            assert done.returncode == 1, done.stderr
            refused.append(took)
        violations = json.loads(done.stdout)["violations"]
        assert state_digest(paths) == before, "a refused update changed the host"
        kinds = {v["kind"] for v in violations}
        took_dry_bad, done = xm(root, "setpolicy", "--dry-run", "ACM", NAME)
        assert done.returncode == 1

    n = args.domains
    images = f", {args.images} saved images" if args.images else ""
    print(
        f"| step ({n} running domains, {n} disks, {args.labels} labels{images}) | whole command |"
    )
    print("|---|---|")
    print(
        f"| `xm setpolicy --dry-run` of 1.1 (a label added in the middle, one renamed; "
        f"{moved} domains change) | {statistics.median(dry):.2f} s (median of {args.runs}) |"
    )
    print(f"| `xm setpolicy` of 1.1, applied, no domain stopped | {took_set:.2f} s |")
    if args.images:
        print(f"| saved images relabeled by that update | {relabeled} of {args.images} |")
    print(
        f"| `xm setpolicy` of 1.2, refused: {len(violations)} violations listed "
        f"({', '.join(sorted(kinds))}), host unchanged | {statistics.median(refused):.2f} s "
        f"(median of {args.runs}) |"
    )
    print(f"| `xm setpolicy --dry-run` of 1.2 (refusal foreseen) | {took_dry_bad:.2f} s |")


if __name__ == "__main__":
    main()
