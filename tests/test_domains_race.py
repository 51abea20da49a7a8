"""Racing creates of conflicting domains serialise on the store's write lock:
in every round exactly one side of the Chinese Wall wins, and no process
fails with anything but an ACM denial (never "database is locked")."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hosttools import loaded_host, xm_run
from xm_core.files.paths import EXAMPLE_POLICY

WORKERS = 8
ROUNDS = 12
LABELS = ("dom_HomeBanking", "dom_Fun")  # cw_Sensitive vs cw_Distrusted


def _worker(root: str, index: int, barrier: object, results: object) -> None:
    from xm_core.files.paths import HostPaths
    from xm_core.host.domains import CreateDenied, create_domain, destroy_domain

    paths = HostPaths(Path(root))
    label = LABELS[index % 2]
    for rnd in range(ROUNDS):
        barrier.wait(30)  # type: ignore[attr-defined]
        name = f"w{index}r{rnd}"
        outcome = "error"
        try:
            create_domain(
                paths,
                "/dev/null",
                [f"name={name}", f"access_control=['policy={EXAMPLE_POLICY},label={label}']"],
            )
            outcome = "won"
        except CreateDenied:
            outcome = "denied"
        except Exception as exc:  # noqa: BLE001 - any other failure is what we look for
            outcome = f"error: {type(exc).__name__}: {exc}"
        results.put((rnd, index, outcome))  # type: ignore[attr-defined]
        barrier.wait(30)  # type: ignore[attr-defined]  # every create of the round is done
        if outcome == "won":
            destroy_domain(paths, name)
        barrier.wait(30)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_racing_conflicting_creates(tmp_path: Path) -> None:
    root = loaded_host(tmp_path / "root").root
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(root), i, barrier, results)) for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(WORKERS * ROUNDS)]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    errors = [o for o in outcomes if o[2].startswith("error")]
    assert errors == []
    for rnd in range(ROUNDS):
        winners = {LABELS[i % 2] for r, i, o in outcomes if r == rnd and o == "won"}
        assert len(winners) == 1, f"round {rnd}: {winners}"
    # all rounds cleaned up: only Domain-0 runs, and the counters are back to its own
    assert [ln.split()[0] for ln in xm_run(root, "list").lines[1:]] == ["Domain-0"]
    dump = xm_run(root, "dumppolicy").out
    assert "Types:         01 00 00 00 \n" in dump
    assert "Aggregate Set: 00 00 00 00 \n" in dump


@pytest.mark.slow
def test_racing_xm_processes(tmp_path: Path) -> None:
    """The same race through the `xm` command itself, 8 processes at once."""
    root = loaded_host(tmp_path / "root").root
    env = dict(os.environ, XM_ROOT=str(root))
    procs = []
    for i in range(WORKERS):
        label = LABELS[i % 2]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "xm_core", "create", "/dev/null", f"name=p{i}",
                 f"access_control=['policy={EXAMPLE_POLICY},label={label}']"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
        )  # fmt: skip
    done = [(p.wait(60), *p.communicate()) for p in procs]
    assert {code for code, _, _ in done} <= {0, 1}
    for code, _out, err in done:
        assert "Traceback" not in err and "locked" not in err
        if code == 1:
            assert err.startswith('Error: "Permission denied: Chinese Wall conflict')
    won = [i for i, (code, _, _) in enumerate(done) if code == 0]
    assert won and len({i % 2 for i in won}) == 1
