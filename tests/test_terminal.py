"""xm console, xm top and xm shell as scripts use them (no terminal: the
log is printed, top runs in batch mode, the shell reads its lines from
stdin), and the console log the host model writes. The terminal itself is
driven in tests/test_terminal_pty.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hosttools import check_schema, loaded_host, xm_run
from xm_core.cli.commands import xm
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths
from xm_core.host.console import ConsoleFollower, read_console
from xm_core.host.store import CONSOLE_KEEP, DomainSteStats, open_store
from xm_core.tui.shell import Completer

P = EXAMPLE_POLICY


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return loaded_host(tmp_path / "root").root


def console_texts(root: Path, name: str) -> list[str]:
    """The console lines' texts (after the `[time] ` prefix)."""
    run = xm_run(root, "console", "-q", name)
    assert run.code == 0, run.err
    return [line.split("] ", 1)[1] for line in run.lines]


# ------------------------------------------------------------------ console


def test_console_shows_what_the_host_model_did(root: Path) -> None:
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "sysrq", "bank", "s").code == 0
    assert xm_run(root, "sysrq", "bank", "z").code == 0
    assert xm_run(root, "pause", "bank").code == 0
    assert xm_run(root, "unpause", "bank").code == 0
    assert console_texts(root, "bank") == [
        f"Domain 'bank' (id 1) created: 256 MiB, 1 VCPU, label dom_HomeBanking (policy {P}), "
        "ssidref 0x00020002",
        "vbd sda1 connected: phy:/dev/hda1 (w), backend 'Domain-0' (id 0)",
        "vif eth0 connected: bridge xenbr0, mac 00:16:3e:00:00:01, backend 'Domain-0' (id 0)",
        "SysRq : Emergency Sync",
        "SysRq : key 'z' (no action)",
        "Domain 'bank' (id 1) paused",
        "Domain 'bank' (id 1) unpaused",
    ]
    # the same by id, and the time prefix is the host model's clock
    by_id = xm_run(root, "console", "-q", "1")
    assert by_id.out == xm_run(root, "console", "-q", "bank").out
    assert by_id.lines[0].startswith("[20") and by_id.lines[0][20:22] == "] "


def test_console_json(root: Path) -> None:
    xm_run(root, "create", "boinc")
    run = xm_run(root, "console", "-q", "--json", "boinc")
    doc = json.loads(run.out)
    check_schema(doc, "console")
    assert (doc["domid"], doc["name"]) == (1, "boinc")
    assert [line["text"] for line in doc["lines"]] == console_texts(root, "boinc")


def test_a_chinese_wall_refusal_is_on_the_blocking_domains_console(root: Path) -> None:
    xm_run(root, "create", "bank")
    assert xm_run(root, "create", "fun").code == 1
    assert console_texts(root, "bank")[-1] == (
        "ACM: Chinese Wall refused to start domain 'fun': its type 'cw_Distrusted' "
        "conflicts with a type of this domain"
    )
    # the refused domain never existed: no console, no stray line under its name
    assert xm_run(root, "console", "-q", "fun").err == "Error: Domain 'fun' does not exist.\n"


def test_device_denials_and_detach_on_the_console(root: Path) -> None:
    xm_run(root, "create", "bank")
    denied = xm_run(root, "block-attach", "bank", "phy:hda2", "sdb1", "w")
    assert denied.code == 1
    assert xm_run(root, "block-attach", "bank", "phy:hda1", "sdc", "w!").code == 0
    assert xm_run(root, "block-detach", "bank", "sdc").code == 0
    texts = console_texts(root, "bank")
    assert texts[3:] == [
        "ACM: vbd sdb1 refused: Permission denied for resource 'phy:/dev/hda2' because label "
        "'res_LogicalDiskPartition2(hda2)' is not allowed",
        "vbd sdc connected: phy:/dev/hda1 (w!), backend 'Domain-0' (id 0)",
        "vbd sdc disconnected",
    ]
    assert len(xm_run(root, "block-list", "bank").lines) == 2  # the denial attached nothing


def test_console_follows_the_domain_across_reboot_and_rename(root: Path) -> None:
    xm_run(root, "create", "boinc")
    assert xm_run(root, "reboot", "boinc").code == 0
    assert xm_run(root, "rename", "boinc", "cycles").code == 0
    texts = console_texts(root, "cycles")
    assert texts[0].startswith("Domain 'boinc' (id 1) created")
    assert texts[1:] == [
        "Domain 'boinc' (id 1) rebooted as id 2",
        "Domain 'boinc' (id 2) renamed to 'cycles'",
    ]
    # the JSON records the id each line was written under
    doc = json.loads(xm_run(root, "console", "-q", "--json", "cycles").out)
    assert [line["domid"] for line in doc["lines"]] == [1, 2, 2]


def test_restore_keeps_the_console_of_the_saved_domain(root: Path, tmp_path: Path) -> None:
    xm_run(root, "create", "boinc")
    xm_run(root, "sysrq", "boinc", "m")
    file = tmp_path / "boinc.save"
    assert xm_run(root, "save", "boinc", str(file)).code == 0
    assert xm_run(root, "restore", str(file)).code == 0
    texts = console_texts(root, "boinc")
    created = "Domain 'boinc' (id {}) created: 64 MiB, 1 VCPU, label dom_BoincClient (policy {}), "
    assert texts == [
        created.format(1, P) + "ssidref 0x00040004",
        "SysRq : Show Memory",
        f"Domain 'boinc' (id 1) saved to {file}",
        created.format(2, P) + "ssidref 0x00040004",
        f"Domain 'boinc' (id 2) restored from {file}",
    ]


def test_destroy_ends_a_followed_console(root: Path) -> None:
    paths = HostPaths(root)
    xm_run(root, "create", "boinc")
    log = read_console(paths, "boinc")
    follower = ConsoleFollower(paths, log)
    try:
        assert follower.poll() == ([], follower.poll()[1])
        xm_run(root, "sysrq", "boinc", "t")
        lines, dom = follower.poll()
        assert [line.text for line in lines] == ["SysRq : Show State"] and dom is not None
        xm_run(root, "destroy", "boinc")
        lines, dom = follower.poll()
        assert [line.text for line in lines] == ["Domain 'boinc' (id 1) destroyed"]
        assert dom is None
    finally:
        follower.close()


def test_destroying_a_backend_is_on_its_frontends_console(root: Path) -> None:
    xm_run(root, "create", "bank")
    xm_run(root, "create", "storage")
    with open_store(HostPaths(root)) as store:
        backend = store.domain("storage").domid
    assert xm_run(root, "block-attach", "bank", "phy:hda1", "sdc", "w!", str(backend)).code == 0
    xm_run(root, "shutdown", "storage")
    assert console_texts(root, "bank")[-1] == (
        f"vbd sdc disconnected: its backend 'storage' (id {backend}) is gone"
    )


def test_console_refusals(root: Path) -> None:
    assert xm_run(root, "console", "-q", "nosuch").err == (
        "Error: Domain 'nosuch' does not exist.\n"
    )
    run = xm_run(root, "console", "Domain-0")
    assert run.code == 1 and "Domain-0 has no console" in run.err
    assert xm_run(root, "console").code == 2


def test_the_console_keeps_the_last_lines_of_each_domain(root: Path) -> None:
    with open_store(HostPaths(root)) as store, store.write():
        for i in range(CONSOLE_KEEP + 5):
            store.add_console_line("u-1", 7, f"line {i}")
        store.add_console_line("u-2", 8, "other")
    with open_store(HostPaths(root)) as store:
        kept = store.console_lines("u-1")
        assert len(kept) == CONSOLE_KEEP
        assert kept[0].text == "line 5" and kept[-1].text == f"line {CONSOLE_KEEP + 4}"
        assert [line.text for line in store.console_lines("u-2")] == ["other"]
        assert store.console_lines("u-1", kept[-2].seq) == [kept[-1]]


def test_per_domain_ste_statistics_add_up_to_the_hosts(root: Path) -> None:
    for name in ("bank", "boinc", "storage"):
        xm_run(root, "create", name)
    xm_run(root, "block-attach", "bank", "phy:hda1", "sdc", "w!", "3")
    xm_run(root, "network-attach", "bank", "bridge=xenbr0")
    with open_store(HostPaths(root)) as store:
        per_domain = store.domain_ste_stats().values()
        host = store.ste_stats()
    total = DomainSteStats(
        sum(s.evaluated for s in per_domain),
        sum(s.denied for s in per_domain),
        sum(s.cache_hits for s in per_domain),
    )
    assert total == DomainSteStats(
        host.ec_eval + host.gt_eval,
        host.ec_denied + host.gt_denied,
        host.ec_cachehit + host.gt_cachehit,
    )
    assert total.evaluated > 0 and total.cache_hits > 0


# ------------------------------------------------------------------ top -b


def test_top_batch_frames(root: Path) -> None:
    xm_run(root, "create", "bank")
    xm_run(root, "create", "boinc")
    run = xm_run(root, "top", "-b", "-i", "2", "-d", "0")
    assert run.code == 0, run.err
    header = run.lines[0]
    assert header.split() == [
        "NAME",
        "STATE",
        "MEM(k)",
        "MEM(%)",
        "MAXMEM(k)",
        "VCPUS",
        "VBDS",
        "NETS",
        "SSIDREF",
        "LABEL",
        "STE_EVAL",
        "STE_DENY",
        "STE_HIT",
        "CACHE",
        "CW_TYPES",
    ]
    assert len(run.lines) == 2 * 4 and run.lines[4] == header
    rows = [line.split() for line in run.lines[1:4]]
    assert [r[0] for r in rows] == ["Domain-0", "bank", "boinc"]
    assert [r[1] for r in rows] == ["r-----"] * 3
    assert rows[1][2] == str(256 * 1024) and rows[1][4] == str(256 * 1024)
    assert rows[1][5:8] == ["1", "1", "1"]  # VCPUS, VBDS, NETS
    assert [r[8] for r in rows] == ["0x00010001", "0x00020002", "0x00040004"]
    assert [r[9] for r in rows] == ["dom_SystemManagement", "dom_HomeBanking", "dom_BoincClient"]
    # bank's two devices: each evtchn hook has bank as subject, then a cache hit
    assert rows[1][10:14] == ["1", "0", "1", "1/8"]
    assert [r[14] for r in rows] == ["cw_SystemManagement", "cw_Sensitive", "cw_Isolated"]
    # the numbers are right-aligned under their header, as xentop's
    end = header.index("VCPUS") + len("VCPUS")
    with open_store(HostPaths(root)) as store:
        dom0_vcpus = str(store.domain(0).vcpus)  # one per CPU of this machine
    assert [line[end - len(dom0_vcpus) : end] for line in run.lines[1:4]] == [
        dom0_vcpus,
        "1".rjust(len(dom0_vcpus)),
        "1".rjust(len(dom0_vcpus)),
    ]


def test_top_batch_json(root: Path) -> None:
    xm_run(root, "create", "bank")
    run = xm_run(root, "top", "-b", "-i", "2", "-d", "0", "--json")
    docs = [json.loads(line) for line in run.lines]
    assert len(docs) == 2
    for doc in docs:
        check_schema(doc, "top")
        assert doc["policy"] == P
        assert [d["name"] for d in doc["domains"]] == ["Domain-0", "bank"]
        assert doc["states"]["running"] == 2
        assert {"type": "cw_Sensitive", "running": 1} in doc["chwall_running_types"]


def test_top_under_the_default_policy(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()  # a read-only command installs an empty folder, never a missing one
    run = xm_run(root, "top", "-b", "-i", "1")
    assert run.code == 0
    row = run.lines[1].split()
    assert row[0] == "Domain-0" and row[9] == "DEFAULT" and row[-1] == "-"


def test_top_needs_a_terminal_or_batch(root: Path) -> None:
    run = xm_run(root, "top")
    assert run.code == 2 and run.err == "Error: top needs a terminal; use -b for batch output\n"
    assert xm_run(root, "top", "--json").code == 2
    for iterations in ("0", "1000001", "9" * 30, "-3", "many"):
        run = xm_run(root, "top", "-b", "-i", iterations, "-d", "0")
        assert run.code == 2 and "Invalid value for '-i'" in run.err, iterations
        assert len(run.err.splitlines()) == 1 and run.out == "", iterations
    for delay in ("-1", "nan", "inf", "86401", "soon"):
        run = xm_run(root, "top", "-b", "-i", "2", "-d", delay)
        assert run.code == 2 and "Invalid value for '-d'" in run.err, delay


# ------------------------------------------------------------------ shell without a terminal


def shell(root: Path, text: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(xm, ["--root", str(root), "shell"], input=text)
    return result.exit_code, result.stdout, result.stderr


def test_shell_runs_each_line_as_xm(root: Path) -> None:
    code, out, err = shell(root, "create boinc\n# a comment\n\nxm list --label\nexit\nlist\n")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Started domain boinc"
    assert lines[1].split() == ["Name", "ID", "Mem", "VCPUs", "State", "Time(s)", "Label"]
    # sorted by label; nothing runs after `exit`
    assert [line.split()[0] for line in lines[2:]] == ["boinc", "Domain-0"]


def test_shell_status_is_the_last_commands(root: Path) -> None:
    code, _, err = shell(root, "destroy nosuch\n")
    assert code == 1 and err == "Error: Domain 'nosuch' does not exist.\n"
    code, out, err = shell(root, "destroy nosuch\ndomid Domain-0\n")
    assert (code, out) == (0, "0\n")
    code, _, err = shell(root, "list --nosuch\n")
    assert code == 2 and "'--nosuch'" in err and len(err.splitlines()) == 1


def test_shell_refusals_leave_the_prompt_running(root: Path) -> None:
    code, out, err = shell(root, "list 'unclosed\nshell\ndomname 0\n")
    assert code == 0 and out == "Domain-0\n"
    assert err.splitlines() == ["Error: 'No closing quotation'", "Error: 'already in the xm shell'"]


def test_shell_refuses_a_huge_line_at_once(root: Path) -> None:
    """A pasted file as one line: refused, not split for minutes."""
    code, out, err = shell(root, "list " + "a" * 2_000_000 + "\ndomname 0\n")
    assert code == 0 and out == "Domain-0\n"
    assert err == "Error: 'line longer than 65536 characters; not run'\n"


def test_shell_help(root: Path) -> None:
    code, out, _ = shell(root, "help\n")
    assert code == 0 and out.startswith("Usage: xm ") and "shell" in out


def test_completion_of_subcommands_and_domain_names() -> None:
    completer = Completer(["create", "console", "list", "loadpolicy"], lambda: ["bank", "boinc"])
    assert completer.candidates("co", "co") == ["console"]
    assert completer.candidates("", "") == [
        "console",
        "create",
        "exit",
        "help",
        "list",
        "loadpolicy",
        "quit",
    ]
    assert completer.candidates("console b", "b") == ["bank", "boinc"]
    assert completer.candidates("xm console bo", "bo") == ["boinc"]
    assert completer.candidates("xm l", "l") == ["list", "loadpolicy"]
    assert completer.candidates("list ", "") == ["bank", "boinc"]


def test_an_ste_sharing_denial_is_on_the_console_and_in_top(root: Path) -> None:
    xm_run(root, "create", "bank")
    xm_run(root, "create", "boinc")
    # boinc as bank's disk backend: the two share no STE type
    assert xm_run(root, "block-attach", "bank", "phy:hda1", "sdc", "w!", "2").code == 1
    assert console_texts(root, "bank")[-1] == (
        "ACM: vbd sdc refused: Permission denied: vbd sdc and its backend domain 'boinc' "
        "share no STE type"
    )
    doc = json.loads(xm_run(root, "top", "-b", "-i", "1", "--json").out)
    bank = next(d for d in doc["domains"] if d["name"] == "bank")
    assert bank["ste"]["denied"] == 1
    assert doc["ste_statistics"]["event_channel"]["denied_count"] == 1


def test_a_version_3_host_gains_console_logs(tmp_path: Path) -> None:
    import sqlite3

    from xm_core.host import store as store_mod

    paths = HostPaths(tmp_path)
    paths.state_dir.mkdir(parents=True)
    conn = sqlite3.connect(paths.state_db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for migrate in store_mod._MIGRATIONS[:3]:
        migrate(conn)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("COMMIT")
    conn.close()
    with open_store(paths) as store:
        assert store.schema_version() == store_mod.SCHEMA_VERSION
        assert store.console_lines(store.domain(0).uuid) == []
        assert store.domain_ste_stats() == {}
    assert xm_run(tmp_path, "top", "-b", "-i", "1").code == 0


# ------------------------------------------------------------------ invariants


ATTACHES = st.lists(
    st.tuples(
        st.sampled_from(["bank", "boinc", "storage"]),  # frontend
        st.sampled_from(["phy:hda1", "phy:hda2", "phy:hda"]),
        st.sampled_from(["0", "bank", "boinc", "storage"]),  # backend
    ),
    max_size=8,
)


@pytest.fixture(scope="module")
def running_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = loaded_host(tmp_path_factory.mktemp("running") / "root").root
    for name in ("bank", "boinc", "storage"):
        assert xm_run(root, "create", name).code == 0
    return root


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attaches=ATTACHES)
def test_every_attach_is_accounted_for(
    running_host: Path, tmp_path_factory: pytest.TempPathFactory, attaches: list[Any]
) -> None:
    """Whatever devices are tried: the per-domain STE statistics add up to
    the host's, and each refused attach is one `ACM:` line on the console
    of the domain that asked, each connected one a `connected` line."""
    import shutil

    from xm_core.errors import XmError
    from xm_core.host.devices import block_attach

    root = tmp_path_factory.mktemp("try") / "root"
    shutil.copytree(running_host, root)
    paths = HostPaths(root)
    with open_store(paths) as store:
        ids = {d.name: d.domid for d in store.domains()}
        before = {n: len(store.console_lines(store.domain(n).uuid)) for n in ids if n != "Domain-0"}
    refused = dict.fromkeys(before, 0)
    connected = dict.fromkeys(before, 0)
    for i, (frontend, resource, backend) in enumerate(attaches):
        try:
            block_attach(
                paths, frontend, resource, f"xvd{chr(ord('b') + i)}", "w!", str(ids.get(backend, 0))
            )
        except XmError:
            refused[frontend] += 1
        else:
            connected[frontend] += 1
    with open_store(paths) as store:
        per_domain = store.domain_ste_stats().values()
        host = store.ste_stats()
        assert sum(s.evaluated for s in per_domain) == host.ec_eval + host.gt_eval
        assert sum(s.denied for s in per_domain) == host.ec_denied + host.gt_denied
        assert sum(s.cache_hits for s in per_domain) == host.ec_cachehit + host.gt_cachehit
        for name, had in before.items():
            new = store.console_lines(store.domain(name).uuid)[had:]
            assert sum(line.text.startswith("ACM: ") for line in new) == refused[name]
            assert sum(" connected: " in line.text for line in new) == connected[name]


def test_top_batch_runs_until_interrupted(root: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    proc = subprocess.Popen(
        [sys.executable, "-m", "xm_core", "--root", str(root), "top", "-b", "-d", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    first = [proc.stdout.readline() for _ in range(2)]  # a header and Domain-0
    assert first[0].split()[0] == "NAME" and first[1].split()[0] == "Domain-0"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == ""
    assert all(line.split()[0] in ("NAME", "Domain-0") for line in out.splitlines())


def test_the_live_screen_scrolls_and_sorts(root: Path) -> None:
    from xm_core.host.monitor import sample_host
    from xm_core.render.terminal import top_screen

    for name in ("bank", "boinc", "storage"):
        xm_run(root, "create", name)
    sample = sample_host(HostPaths(root))

    def table(sort_key: str, first: int = 0) -> list[str]:
        lines, header = top_screen(sample, sort_key, first)
        assert lines[header].split()[:2] == ["NAME", "STATE"]
        assert lines[0].startswith("xm top - ") and lines[1].startswith("4 domains: 4 running")
        return [line.split()[0] for line in lines[header + 1 :]]

    assert table("id") == ["Domain-0", "bank", "boinc", "storage"]
    assert table("name") == ["bank", "boinc", "Domain-0", "storage"]
    assert table("memory") == ["Domain-0", "bank", "storage", "boinc"]
    assert table("label") == ["boinc", "bank", "storage", "Domain-0"]
    assert table("id", 2) == ["boinc", "storage"]
    assert table("id", 99) == ["storage"]  # the last domain stays on screen
