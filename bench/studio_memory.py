"""The studio server's memory and graph times on a large policy, over HTTP
(no browser): the server runs in a process of its own, whose peak resident
size (the kernel's high-water mark, VmHWM, the figure `/usr/bin/time -f %M`
gives) and CPU are read from /proc after each step (Linux only).

    python bench/studio_memory.py --big FILE [--edits 3] [--dump OUT.json]

The steps, as a user takes them in the page: open the policy (its full
check), the Chinese Wall graph (its summary, a label in focus, one of its
neighbours in focus), the same for the STE sharing graph, a few outline
edits (each checked where it touched the policy), then both graphs again
on the edited text. `--dump` writes every graph answer, to compare two
versions of the studio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIG = "big"


def serve(root: str) -> None:
    """The server's side: one line of JSON (URL, tokens), then serve."""
    import socket

    import uvicorn

    from xm_core.files.paths import HostPaths
    from xm_core.web import allowed_hosts
    from xm_core.web.app import StudioConfig, create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # listening before the URL is given
    port = int(sock.getsockname()[1])
    config = StudioConfig(HostPaths(Path(root)), allowed_hosts("127.0.0.1", port))
    base = f"http://127.0.0.1:{port}"
    print(json.dumps({"base": base, "token": config.token, "csrf": config.csrf}), flush=True)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), log_level="warning", access_log=False)
    )
    server.run(sockets=[sock])


def status(pid: int) -> dict[str, float]:
    """The process's resident size now and at its peak (MB), and its CPU (s)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    fields["cpu"] = (int(stat[11]) + int(stat[12])) / ticks
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", required=True, help="the large policy's XML file")
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--dump", help="write the graph answers here (JSON)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    from xm_core.files.paths import HostPaths

    with tempfile.TemporaryDirectory(prefix="studio-memory-") as tmp:
        paths = HostPaths(Path(tmp) / "root")
        paths.seed_example()
        shutil.copyfile(args.big, paths.policy_files(BIG).xml)
        server = subprocess.Popen(
            [sys.executable, __file__, "--big", args.big, "--serve", str(paths.root)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            run_steps(server.pid, info, args.edits, args.dump)
        finally:
            server.terminate()
            server.wait()


def run_steps(pid: int, info: dict[str, str], edits: int, dump: str | None) -> None:
    base = info["base"]
    headers = {
        "X-Studio-Token": info["token"],
        "X-CSRF-Token": info["csrf"],
        "Origin": base,
        "Content-Type": "application/json",
    }
    answers: list[Any] = []

    def post(path: str, doc: Any) -> Any:
        req = urllib.request.Request(f"{base}/api/{path}", json.dumps(doc).encode(), headers)
        with urllib.request.urlopen(req, timeout=900) as resp:
            return json.loads(resp.read())

    def step(what: str, path: str, doc: Any) -> Any:
        before = status(pid)
        started = time.perf_counter()
        answer = post(path, doc)
        wall = time.perf_counter() - started
        after = status(pid)
        print(
            f"  {what:<34} {wall:7.2f} s wall {after['cpu'] - before['cpu']:7.2f} s CPU"
            f"   RSS {after['VmRSS']:7.0f} MB, peak {after['VmHWM']:7.0f} MB",
            flush=True,
        )
        return answer

    def graphs(xml: str, label: str, when: str) -> None:
        for kind in ("conflicts", "flows"):
            doc = {"name": BIG, "xml": xml, "kind": kind}
            summary = step(f"{kind} graph {when}", "graph", doc)
            focused = step(f"  {label} in focus", "graph", {**doc, "focus": label})
            nodes = [n for n in focused["nodes"] if n["id"] != focused["focus"]]
            answers.extend([summary, focused])
            if nodes:
                other = nodes[len(nodes) // 2]["name"]
                answers.append(step("  a neighbour in focus", "graph", {**doc, "focus": other}))

    doc = step("open (full check)", "open", {"name": BIG})
    xml, digest = doc["xml"], doc["digest"]
    bootstrap = doc["outline"]["bootstrap"]
    vms = [lab["name"] for lab in doc["outline"]["labels"] if lab["kind"] == "VM"]
    focus = next(name for name in vms[len(vms) // 2 :] if name != bootstrap)
    graphs(xml, focus, "(first)")
    label = next(name for name in vms[1:] if name not in (bootstrap, focus))
    for i in range(edits):
        new = f"{label}_e{i}"
        op = {"op": "rename_label", "kind": "VM", "old": label, "new": new}
        change = {"from": 0, "to": 0, "insert": ""}
        answer = step(
            f"edit {i + 1}", "edit", {"name": BIG, "since": digest, "xml_change": change, "op": op}
        )
        change = answer["xml_change"]
        xml = xml[: change["from"]] + change["insert"] + xml[change["to"] :]
        digest, label = answer["digest"], new
    graphs(xml, focus, "(edited)")
    final = status(pid)
    print(f"server: peak RSS {final['VmHWM']:.0f} MB, CPU {final['cpu']:.1f} s")
    if dump:
        Path(dump).write_text(json.dumps(answers, sort_keys=True))


if __name__ == "__main__":
    main()
