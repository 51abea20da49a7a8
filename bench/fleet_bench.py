"""Benchmark of `xm fleet` on PostgreSQL (not a test): hosts with 20 running
domains each, the inventory on a throwaway PostgreSQL server (or --store).

    python bench/fleet_bench.py                    # 250, 500 and 1,000 hosts
    python bench/fleet_bench.py --hosts 1000 --store postgresql://...

Three template hosts are built through the host's own create (20 domains
each: BankA and Hospital, BankB and Hospital, Hospital only) and copied to
make the fleet, so a third of the hosts refuse a BankA domain (Chinese
Wall) and every refusal is explained. Measured, for each fleet size:

- `place` in the process: the inventory read from PostgreSQL, every host
  judged, the explanation rendered (median of 5);
- `xm fleet place CONFIG`, `xm fleet place CONFIG --count 1000`,
  `xm fleet hosts` and `xm fleet audit` as whole processes, as typed.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import pwd
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from xm_core.files.paths import HostPaths  # noqa: E402
from xm_core.fleet import operations  # noqa: E402
from xm_core.fleet.store import FleetStore  # noqa: E402
from xm_core.host.domains import create_domain  # noqa: E402
from xm_core.host.model import load_policy  # noqa: E402
from xm_core.host.policy import make_policy  # noqa: E402
from xm_core.render import fleet as render  # noqa: E402

POLICY = "fleet.datacenter"
POLICY_XML = REPO / "tests" / "data" / "fleet" / "datacenter-security_policy.xml"
DOMAINS_PER_HOST = 20
TEMPLATES = (
    ("dom_BankA", "dom_Hospital"),
    ("dom_BankB", "dom_Hospital"),
    ("dom_Hospital",),
)
XM = [sys.executable, "-m", "xm_core"]


# ------------------------------------------------------------------ PostgreSQL


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """initdb + pg_ctl in a temporary folder (as an unprivileged user when
    run as root), a unix socket there only; stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="xm-fleet-bench-pg-"))
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = os.path.join(bins[0], "initdb") if bins else shutil.which("initdb")
    pg_ctl = os.path.join(bins[0], "pg_ctl") if bins else shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        sys.exit("PostgreSQL's initdb/pg_ctl are not installed; give --store postgresql://...")
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = "postgres" if _has_user("postgres") else "nobody"
        run_as = ["runuser", "-u", user, "--"]
        info = pwd.getpwnam(user)
        os.chown(folder, info.pw_uid, info.pw_gid)
    folder.chmod(0o755)
    data = folder / "data"
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "fleet", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses='' -c unix_socket_directories='{folder}' -c fsync=off"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql:///postgres?host={folder}&user=fleet"
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# ------------------------------------------------------------------ the fleet


def config(folder: Path, name: str, label: str, memory: int = 256) -> Path:
    path = folder / f"{name}.cfg"
    path.write_text(
        f'name = "{name}"\nmemory = {memory}\naccess_control = ["policy={POLICY},label={label}"]\n'
    )
    return path


def template(root: Path, labels: tuple[str, ...], configs: Path) -> Path:
    """A host running the policy with DOMAINS_PER_HOST domains, each created
    through the host's own create."""
    paths = HostPaths(root)
    tree = Path(paths.policy_files(POLICY).xml)
    tree.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POLICY_XML, tree)
    make_policy(paths, POLICY)
    load_policy(paths, POLICY)
    import sqlite3

    db = sqlite3.connect(str(paths.state_db))
    db.execute("UPDATE host SET total_memory = 65536, nr_cpus = 16")
    db.commit()
    db.close()
    for i in range(DOMAINS_PER_HOST):
        label = labels[i % len(labels)]
        create_domain(paths, str(config(configs, f"{root.name}-{i}", label)))
    return root


def grow(store: FleetStore, folder: Path, templates: list[Path], start: int, end: int) -> None:
    for i in range(start, end):
        name = f"h{i:04d}"
        root = folder / name
        shutil.copytree(templates[i % len(templates)], root)
        operations.add_host(store, name, str(root), f"z{i % 10}")


Timing = tuple[float, float]  # (wall, CPU) seconds


def in_process_place(store: FleetStore, cfg: Path) -> Timing:
    start, cpu = time.perf_counter(), time.process_time()
    placements = operations.place(store, str(cfg))
    with contextlib.redirect_stdout(io.StringIO()):
        render.placements(placements, False)
    return time.perf_counter() - start, time.process_time() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def whole(url: str, *args: str) -> Timing:
    """`xm fleet ARGS` as a whole process (output discarded): wall and CPU."""
    env = {**os.environ, "XM_FLEET_STORE": url}
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([*XM, "fleet", *args], env=env, capture_output=True, check=False)
    took = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode not in (0, 1):
        sys.exit(f"xm fleet {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return took


def median(runs: list[Timing]) -> Timing:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def shown(t: Timing, unit: str = "s") -> str:
    if unit == "ms":
        return f"{t[0] * 1000:.0f} ms ({t[1] * 1000:.0f} ms)"
    return f"{t[0]:.2f} s ({t[1]:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="*", default=[250, 500, 1000])
    parser.add_argument("--store", help="an existing, empty PostgreSQL database")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xm-fleet-bench-") as tmp:
        folder = Path(tmp)
        (folder / "cfg").mkdir()
        with contextlib.ExitStack() as stack:
            url = args.store or stack.enter_context(throwaway_postgres())
            templates = [
                template(folder / f"template{i}", labels, folder / "cfg")
                for i, labels in enumerate(TEMPLATES)
            ]
            cfg = config(folder / "cfg", "newbank", "dom_BankA", 512)
            store = stack.enter_context(FleetStore.init(url))
            rows = []
            have = 0
            for size in sorted(args.hosts):
                grow(store, folder, templates, have, size)
                have = size
                one = median([in_process_place(store, cfg) for _ in range(5)])
                place_cmd = median([whole(url, "place", str(cfg)) for _ in range(3)])
                count = whole(url, "place", str(cfg), "--count", str(args.count))
                hosts_cmd = whole(url, "hosts")
                hosts_json = whole(url, "hosts", "--json")
                audit = whole(url, "audit")
                row = (size, shown(one, "ms"), shown(place_cmd), shown(count), shown(hosts_cmd),
                       shown(hosts_json), shown(audit))  # fmt: skip
                rows.append(row)
                print(" | ".join(str(x) for x in row), file=sys.stderr)
    print("Wall clock (CPU time of the process in brackets); in process: median of 5,")
    print("`xm fleet place`: median of 3.\n")
    print(
        "| hosts (x20 domains) | place, in process | `xm fleet place` | "
        f"`place --count {args.count}` | `xm fleet hosts` | `hosts --json` | `xm fleet audit` |"
    )
    print("|---|---|---|---|---|---|---|")
    for size, *cells in rows:
        print(f"| {size:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
