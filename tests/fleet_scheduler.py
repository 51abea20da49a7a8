"""One scheduler of the fleet's concurrency test, run as its own process
(`python -c "from tests.fleet_scheduler import main; main(...)"`): it
imports only the fleet, so that sixteen of them start quickly."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

POLICY = "fleet.datacenter"
REPO = Path(__file__).resolve().parent.parent


def start(call: str, *args: str) -> subprocess.Popen[str]:
    """A python process running `call`, a function of this module called
    with what it reads of `sys.argv` (e.g. `main(sys.argv[1], ...)`), given
    `args`; its standard streams are text pipes. (For the tests: a
    scheduler process itself does not load subprocess.)"""
    import subprocess

    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; from tests import fleet_scheduler; fleet_scheduler.{call}",
            *args,
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _config(folder: Path, name: str, label: str, memory: int) -> Path:
    path = folder / f"{name}.cfg"
    path.write_text(
        f'name = "{name}"\nmemory = {memory}\naccess_control = ["policy={POLICY},label={label}"]\n'
    )
    return path


LABELS = ("dom_BankA", "dom_BankB", "dom_Hospital")


def main(url: str, ident: int, seconds: float, folder: str) -> None:
    """One scheduler process: warms up (imports, its connection, one
    placement), prints "ready" and waits for a line on stdin; then for
    `seconds`, creates (through `xm fleet`'s create, its own connection) or
    destroys one of its own domains, at random; prints what it did as JSON
    lines ({"created": name, "host": h} or {"destroyed": name})."""
    from xm_core.errors import XmError
    from xm_core.fleet.operations import create, destroy, place
    from xm_core.fleet.store import FleetStore

    rng = random.Random(ident)
    mine: list[str] = []
    n = 0
    with FleetStore.open(url) as store:
        place(store, str(_config(Path(folder), f"warm{ident}", LABELS[0], 256)))
        print("ready", flush=True)
        sys.stdin.readline()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if mine and rng.random() < 0.35:
                name = mine.pop(rng.randrange(len(mine)))
                report = destroy(store, name)
                print(json.dumps({"destroyed": name, "host": report.host}), flush=True)
                continue
            n += 1
            name = f"s{ident}-{n}"
            cfg = _config(Path(folder), name, rng.choice(LABELS), rng.choice((256, 512)))
            try:
                made = create(store, str(cfg))
            except XmError as exc:  # pragma: no cover - reported to the test
                print(json.dumps({"error": exc.message}), flush=True)
                sys.exit(3)
            if made.host is not None:
                mine.append(name)
                print(json.dumps({"created": name, "host": made.host}), flush=True)
            else:
                print(json.dumps({"nowhere": name}), flush=True)


def race(url: str, zone: str, config: str) -> None:
    """One operator of the same-name race: warms up, prints "ready", then
    for each name read from stdin creates CONFIG under that name (`xm fleet
    create CONFIG name=NAME --zone ZONE`, its own connection) and prints
    {"created": name, "host": h}, {"error": message} or {"nowhere": name}."""
    from xm_core.errors import XmError
    from xm_core.fleet.operations import create, place
    from xm_core.fleet.store import FleetStore

    with FleetStore.open(url) as store:
        place(store, config, zone=zone)
        print("ready", flush=True)
        for line in sys.stdin:
            name = line.strip()
            try:
                made = create(store, config, [f"name={name}"], zone=zone)
            except XmError as exc:
                print(json.dumps({"error": exc.message}), flush=True)
                continue
            if made.host is None:
                print(json.dumps({"nowhere": name}), flush=True)
            else:
                print(json.dumps({"created": name, "host": made.host}), flush=True)


def paused_create(url: str, config: str, zone: str, stop: str = "after") -> None:
    """`xm fleet create CONFIG --zone ZONE` (its own connection) that stops
    inside its host's create and before the inventory is written back,
    holding its locks: right after the host started the domain (`stop`
    "after": the host already runs it) or right before (`stop` "before":
    the host is as the inventory has it). Prints "inside", waits for a line
    on stdin, then finishes and prints {"created": name, "host": h}."""
    import xm_core.host.domains as domains
    from xm_core.fleet.operations import create
    from xm_core.fleet.store import FleetStore

    host_create = domains.create_domain

    def create_then_wait(*args: object, **kwargs: object) -> object:
        if stop == "before":
            print("inside", flush=True)
            sys.stdin.readline()
        outcome = host_create(*args, **kwargs)  # type: ignore[arg-type]
        if stop == "after":
            print("inside", flush=True)
            sys.stdin.readline()
        return outcome

    domains.create_domain = create_then_wait  # type: ignore[assignment]
    with FleetStore.open(url) as store:
        made = create(store, config, zone=zone)
    print(json.dumps({"created": made.name, "host": made.host}), flush=True)
