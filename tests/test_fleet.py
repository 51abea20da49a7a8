"""`xm fleet` on the embedded SQLite store and on a real PostgreSQL server
(the same tests, parametrised): the inventory, placement with every
refusal explained, create/migrate/evacuate through the hosts, audit, sync
and preview-policy. Every command is typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fleet_support import (
    POLICY_V2_XML,
    config,
    fleet_run,
    make_host,
)
from tests.hosttools import xm_run


@pytest.fixture
def fleet(tmp_path: Path, store_url: str) -> tuple[str, Path]:
    """An inventory with three hosts: h1 and h2 in zone a, h3 in zone b."""
    assert fleet_run(store_url, "init").code == 0
    for name, zone in (("h1", "a"), ("h2", "a"), ("h3", "b")):
        root = make_host(tmp_path / name, memory=4096, cpus=4)
        run = fleet_run(store_url, "add-host", name, str(root), "--zone", zone)
        assert run.code == 0, run.err
    return store_url, tmp_path


def _json(store: str, *args: str) -> dict:  # type: ignore[type-arg]
    run = fleet_run(store, *args, "--json")
    assert run.err == "", run.err
    doc: dict = json.loads(run.out)  # type: ignore[type-arg]
    return doc


def _create(store: str, cfg: Path, *args: str) -> dict:  # type: ignore[type-arg]
    run = fleet_run(store, "create", str(cfg), *args, "--json")
    assert run.code == 0, run.out + run.err
    doc: dict = json.loads(run.out)  # type: ignore[type-arg]
    return doc


# ------------------------------------------------------------------ inventory


def test_init_add_hosts_and_list(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    doc = _json(store, "hosts")
    assert [h["name"] for h in doc["hosts"]] == ["h1", "h2", "h3"]
    h1 = doc["hosts"][0]
    assert h1["policy"] == "fleet.datacenter" and h1["zone"] == "a"
    assert h1["memory_total"] == 4096 and h1["vcpus"] == 4
    assert h1["memory_free"] == 4096 - h1["domains"][0]["memory"]  # Domain-0's share
    assert [d["name"] for d in h1["domains"]] == ["Domain-0"]
    assert h1["blocked_types"] == []
    assert len({h["policy_hash"] for h in doc["hosts"]}) == 1  # one policy, wherever compiled
    text = fleet_run(store, "hosts")
    assert text.code == 0
    assert "h1" in text.out and "blocks Chinese Wall types: (none)" in text.out
    # init again: the schema is there, nothing lost
    assert fleet_run(store, "init").code == 0
    assert len(_json(store, "hosts")["hosts"]) == 3
    removed = fleet_run(store, "remove-host", "h3")
    assert removed.code == 0 and "Removed host h3" in removed.out
    assert [h["name"] for h in _json(store, "hosts")["hosts"]] == ["h1", "h2"]
    assert (tmp / "h3").is_dir()  # the host itself is left alone


def test_add_host_refusals(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    again = fleet_run(store, "add-host", "h1", str(tmp / "h2"))
    assert again.code == 1 and again.err == "Error: Host 'h1' is already in the fleet\n"
    same_root = fleet_run(store, "add-host", "other", str(tmp / "h1"))
    assert same_root.code == 1 and "already in the fleet as 'h1'" in same_root.err
    missing = fleet_run(store, "add-host", "h9", str(tmp / "nowhere"))
    assert missing.code == 1 and "is not a directory" in missing.err
    bad = fleet_run(store, "add-host", "-x", str(tmp / "h1"))
    assert bad.code == 2
    bad_name = fleet_run(store, "add-host", "a b", str(tmp / "h1"))
    assert bad_name.code == 2 and "Invalid host name 'a b'" in bad_name.err
    unknown = fleet_run(store, "remove-host", "h9")
    assert unknown.code == 1 and unknown.err == "Error: Host 'h9' is not in the fleet\n"
    assert len(_json(store, "hosts")["hosts"]) == 3


def test_commands_need_an_initialised_store(tmp_path: Path, store_url: str) -> None:
    run = fleet_run(store_url, "hosts")
    assert run.code == 1
    assert "run 'xm fleet init' first" in run.err and run.err.count("\n") == 1
    assert "Traceback" not in run.err


def test_store_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "env.sqlite"
    monkeypatch.setenv("XM_FLEET_STORE", str(target))
    assert xm_run(tmp_path, "fleet", "init").code == 0
    assert target.exists()
    assert xm_run(tmp_path, "fleet", "hosts").out.startswith("No hosts in the fleet")


def test_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    run = fleet_run(f"postgresql:///nowhere?host={tmp_path}&user=x&password=secret", "hosts")
    assert run.code == 1 and run.err.startswith("Error: Fleet store postgresql://")
    assert "cannot connect" in run.err and "secret" not in run.err
    assert run.err.count("\n") == 1


# ------------------------------------------------------------------ placement


def test_place_explains_every_refusal(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    _create(store, config(tmp, "b1", "dom_BankB"))  # spread: h1
    _create(store, config(tmp, "b2", "dom_BankB"))  # then h3 (zone b), evening zones
    doc = _json(store, "place", str(config(tmp, "a1", "dom_BankA")))
    (p,) = doc["placements"]
    assert p["host"] == "h2" and p["candidates"] == ["h2"]
    refused = {v["host"]: v["refusals"] for v in p["refused"]}
    assert set(refused) == {"h1", "h3"}
    for host, blocker in (("h1", "b1"), ("h3", "b2")):
        (r,) = refused[host]
        assert r["rule"] == "chinese-wall"
        assert r["message"] == (
            f"Chinese Wall: conflict set Banks with domain '{blocker}' (label dom_BankB) "
            "running there"
        )
        assert any("cw_BankA is in conflict set Banks" in d for d in r["details"])
    text = fleet_run(store, "place", str(config(tmp, "a1", "dom_BankA")))
    assert text.code == 0
    assert text.lines[0] == "a1 (label dom_BankA): host h2"
    assert "  h1: refused: Chinese Wall: conflict set Banks with domain 'b1'" in text.out


def test_place_memory_vcpus_label_and_policy(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    big = _json(store, "place", str(config(tmp, "big", "dom_Hospital", memory=8000, vcpus=8)))
    (p,) = big["placements"]
    assert p["host"] is None
    rules = {(v["host"], r["rule"]): r["message"] for v in p["refused"] for r in v["refusals"]}
    # Domain-0 (1024 MiB) could balloon down to dom0-min-mem (196, Xen's installed value)
    assert rules[("h1", "memory")] == "memory: needs 8000 MiB, 3072 free (+828 from Domain-0)"
    assert rules[("h1", "vcpus")] == "vcpus: needs 8, the host has 4 CPUs"
    assert fleet_run(store, "place", str(config(tmp, "big", "dom_Hospital", 8000))).code == 1
    unknown = _json(store, "place", str(config(tmp, "u", "dom_Unknown")))["placements"][0]
    (r,) = unknown["refused"][0]["refusals"]
    assert r["rule"] == "label"
    assert r["message"].startswith(
        "label dom_Unknown is not in that host's policy fleet.datacenter"
    )
    assert r["details"] == ["Label 'dom_Unknown' not found."]
    other = tmp / "other.cfg"
    other.write_text('name = "o"\naccess_control = ["policy=other.policy,label=dom_X"]\n')
    (r,) = _json(store, "place", str(other))["placements"][0]["refused"][0]["refusals"]
    assert r["rule"] == "policy"
    assert r["message"].startswith(
        "policy differs: the domain's label is under other.policy, the host runs fleet.datacenter"
    )
    unlabeled = _json(store, "place", str(config(tmp, "n", None)))["placements"][0]
    assert unlabeled["host"] is None
    assert unlabeled["refused"][0]["refusals"][0]["message"] == "label: Domain not labeled"


def test_place_count_spread_pack_and_zone(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    cfg = str(config(tmp, "web", "dom_Hospital", memory=1000))
    spread = _json(store, "place", cfg, "--count", "4")["placements"]
    assert [p["name"] for p in spread] == ["web-1", "web-2", "web-3", "web-4"]
    assert [p["host"] for p in spread] == ["h1", "h3", "h2", "h1"]
    pack = _json(store, "place", cfg, "--count", "4", "--pack")["placements"]
    # 3900 MiB for a domain per host: three of 1000 fill h1, the fourth opens h2
    assert [p["host"] for p in pack] == ["h1", "h1", "h1", "h2"]
    assert [p["host"] for p in _json(store, "place", cfg, "--zone", "b")["placements"]] == ["h3"]
    too_many = _json(store, "place", cfg, "--count", "10")["placements"]
    assert [p["host"] is None for p in too_many].count(True) == 1  # 9 fit, the 10th nowhere
    assert too_many[-1]["refused"][0]["refusals"][0]["rule"] == "memory"
    assert fleet_run(store, "place", cfg, "--count", "0").code == 2
    assert _json(store, "hosts")["hosts"][0]["domains"][1:] == []  # nothing was created


def test_place_with_overrides_and_a_missing_config(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    cfg = str(config(tmp, "h", "dom_Hospital"))
    (p,) = _json(store, "place", cfg, "memory=5000")["placements"]
    assert p["memory"] == 5000 and p["host"] is None
    missing = fleet_run(store, "place", str(tmp / "nope.cfg"))
    assert missing.code == 1 and "not found" in missing.err


# ------------------------------------------------------------------ acting


def test_create_goes_through_the_host(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    doc = _create(store, config(tmp, "rec", "dom_Hospital", memory=512))
    assert doc["created"] and doc["host"] == "h1" and doc["domid"] == 1
    listed = xm_run(tmp / "h1", "list", "--label")
    assert "rec" in listed.out and "dom_Hospital" in listed.out
    again = fleet_run(store, "create", str(config(tmp, "rec", "dom_Hospital")))
    assert again.code == 1 and "Domain 'rec' already exists on host h1" in again.err
    text = fleet_run(store, "create", str(config(tmp, "rec2", "dom_Hospital")))
    assert text.code == 0 and text.out == "Started domain rec2 on host h3 (id 1)\n"
    hosts = {h["name"]: h for h in _json(store, "hosts")["hosts"]}
    assert [d["name"] for d in hosts["h1"]["domains"]] == ["Domain-0", "rec"]
    assert hosts["h1"]["memory_free"] == 3072 - 512


def test_create_corrects_a_stale_inventory(fleet: tuple[str, Path]) -> None:
    """A plain `xm create` on h1 behind the fleet's back: the fleet still
    thinks h1 is empty and tries it first; the host's state, re-read under
    the host's lock, refuses; the next host takes the domain and the
    inventory now has what h1 really runs."""
    store, tmp = fleet
    assert xm_run(tmp / "h1", "create", str(config(tmp, "sneaky", "dom_BankB"))).code == 0
    doc = _create(store, config(tmp, "a1", "dom_BankA"), "--pack")
    assert doc["host"] == "h2"
    (attempt,) = doc["attempts"]
    assert attempt["host"] == "h1"
    assert attempt["refusals"][0]["rule"] == "chinese-wall"
    assert "'sneaky' (label dom_BankB)" in attempt["refusals"][0]["message"]
    h1 = _json(store, "hosts")["hosts"][0]
    assert [d["name"] for d in h1["domains"]] == ["Domain-0", "sneaky"]
    assert h1["blocked_types"] == ["cw_BankA"]


def test_create_of_a_name_a_host_took_behind_the_fleet(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    cfg = config(tmp, "dup", "dom_Hospital")
    assert xm_run(tmp / "h1", "create", str(cfg)).code == 0  # the inventory has not seen it
    run = fleet_run(store, "create", str(cfg))
    assert run.code == 1 and run.err == "Error: Domain 'dup' already exists on host h1.\n"
    assert "dup" not in xm_run(tmp / "h2", "list").out + xm_run(tmp / "h3", "list").out
    assert [d["name"] for d in _json(store, "hosts")["hosts"][0]["domains"]] == ["Domain-0", "dup"]


def test_a_damaged_host_is_passed_over_and_reported(fleet: tuple[str, Path]) -> None:
    """A host whose store cannot be read is a refusal of rule `host` for
    create, a finding for audit; the others carry on."""
    from xm_core.files.paths import HostPaths

    store, tmp = fleet
    HostPaths(tmp / "h1").state_db.write_bytes(b"this is not a database" * 100)
    doc = _create(store, config(tmp, "x", "dom_Hospital"))
    assert doc["host"] == "h2"
    (attempt,) = doc["attempts"]
    assert attempt["host"] == "h1" and attempt["refusals"][0]["rule"] == "host"
    assert attempt["refusals"][0]["message"].startswith("the host cannot be read: ")
    audit = _json(store, "audit")
    assert [f["kind"] for f in audit["findings"] if f["host"] == "h1"] == ["unreadable"]
    evacuate = fleet_run(store, "evacuate", "h1")
    assert evacuate.code == 1 and evacuate.err.startswith("Error: Host 'h1' cannot be read: ")
    assert "Traceback" not in evacuate.err


def test_create_nowhere_exits_1(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    run = fleet_run(store, "create", str(config(tmp, "huge", "dom_Hospital", memory=9000)))
    assert run.code == 1
    assert "huge (label dom_Hospital): no host can take it" in run.out
    assert "h1: refused: memory: needs 9000 MiB, 3072 free (+828 from Domain-0)" in run.out
    for h in ("h1", "h2", "h3"):
        assert "huge" not in xm_run(tmp / h, "list").out


def test_destroy_through_the_host(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    _create(store, config(tmp, "x", "dom_Hospital"))
    run = fleet_run(store, "destroy", "x")
    assert run.code == 0 and run.out == "Destroyed domain x (id 1) on host h1\n"
    assert "x " not in xm_run(tmp / "h1", "list").out
    assert _json(store, "hosts")["hosts"][0]["domains"][1:] == []
    gone = fleet_run(store, "destroy", "x")
    assert gone.code == 1 and "is not in the fleet's inventory" in gone.err
    dom0 = fleet_run(store, "destroy", "Domain-0", "--host", "h1")
    assert dom0.code == 1 and "Domain-0" in dom0.err


def test_migrate_checks_the_destination(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    _create(store, config(tmp, "a1", "dom_BankA"))  # h1
    _create(store, config(tmp, "b1", "dom_BankB"))  # h3
    refused = fleet_run(store, "migrate", "a1", "--to", "h3")
    assert refused.code == 1
    assert "a1: cannot move from h1" in refused.out
    assert "h3: refused: Chinese Wall: conflict set Banks with domain 'b1'" in refused.out
    moved = _json(store, "migrate", "a1")
    assert moved["moved"] and moved["to"] == "h2"
    assert "a1" in xm_run(tmp / "h2", "list").out and "a1" not in xm_run(tmp / "h1", "list").out
    hosts = {h["name"]: h for h in _json(store, "hosts")["hosts"]}
    assert [d["name"] for d in hosts["h2"]["domains"]] == ["Domain-0", "a1"]
    assert hosts["h1"]["domains"][1:] == []
    wrong = fleet_run(store, "migrate", "a1", "--host", "h3", "--to", "h1")
    assert wrong.code == 1 and "is not in the fleet's inventory on host 'h3'" in wrong.err
    text = fleet_run(store, "migrate", "a1", "--host", "h2", "--to", "h1", "--pack")
    assert text.code == 0 and text.out.startswith("a1: moved from h2 to h1")
    assert fleet_run(store, "migrate", "a1", "--to", "h1").code == 1  # already there
    assert fleet_run(store, "migrate", "a1", "--to", "h9").code == 1


def test_evacuate_moves_or_explains(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    _create(store, config(tmp, "a1", "dom_BankA"))  # h1
    _create(store, config(tmp, "b1", "dom_BankB"))  # h3
    _create(store, config(tmp, "b2", "dom_BankB"))  # h2
    _create(store, config(tmp, "rec", "dom_Hospital"), "--pack")  # fullest: h1
    run = fleet_run(store, "evacuate", "h1")
    assert run.code == 1
    assert "rec: moved from h1 to" in run.out
    assert "a1: cannot move from h1" in run.out
    assert "h2: refused: Chinese Wall: conflict set Banks with domain 'b2'" in run.out
    assert "Host h1: 1 domain(s) could not move" in run.out
    fleet_run(store, "destroy", "b2")
    doc = _json(store, "evacuate", "h1")
    assert doc["complete"] and [d["to"] for d in doc["domains"]] == ["h2"]
    assert [d["name"] for d in _json(store, "hosts")["hosts"][0]["domains"]] == ["Domain-0"]
    empty = fleet_run(store, "evacuate", "h1")
    assert empty.code == 0 and "runs no domain besides Domain-0" in empty.out


# ------------------------------------------------------------------ audit, sync, preview


def test_audit_and_sync_repair_drift(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    clean = fleet_run(store, "audit")
    assert clean.code == 0 and "No findings" in clean.out
    assert xm_run(tmp / "h2", "create", str(config(tmp, "plain", "dom_Hospital"))).code == 0
    doc = _json(store, "audit")
    assert not doc["clean"]
    assert {"host": "h2", "kind": "drift", "message": (
        "domain 'plain' runs on the host, not in the inventory"
    )} in doc["findings"]  # fmt: skip
    synced = fleet_run(store, "sync")
    assert synced.code == 0
    assert "h2: repaired: domain 'plain' runs on the host, not in the inventory" in synced.out
    assert "1 of 3 host(s) repaired" in synced.out
    assert fleet_run(store, "audit").code == 0
    assert _json(store, "sync")["repaired"] == {}


def _load_v2(root: Path) -> None:
    target = root / "etc" / "xen" / "acm-security" / "policies" / "fleet"
    (target / "datacenter-security_policy.xml").write_bytes(POLICY_V2_XML.read_bytes())
    assert xm_run(root, "makepolicy", "fleet.datacenter").code == 0
    run = xm_run(root, "loadpolicy", "fleet.datacenter")
    assert run.code == 0, run.err


def test_audit_policy_and_co_residence(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    _create(store, config(tmp, "a1", "dom_BankA"), "--zone", "b")  # h3
    _create(store, config(tmp, "rec", "dom_Hospital"), "--zone", "b")  # h3
    _load_v2(tmp / "h1")
    _load_v2(tmp / "h2")
    assert fleet_run(store, "sync").code == 0
    doc = _json(store, "audit")
    assert doc["fleet_policy"].startswith("fleet.datacenter (")
    kinds = {(f["host"], f["kind"]) for f in doc["findings"]}
    assert kinds == {("h3", "policy"), ("h3", "co-residence")}
    (co,) = [f for f in doc["findings"] if f["kind"] == "co-residence"]
    assert "conflict set Regulated" in co["message"]
    text = fleet_run(store, "audit")
    assert text.code == 1 and "h3: co-residence: domain 'rec'" in text.out


def test_preview_policy_per_host(fleet: tuple[str, Path]) -> None:
    store, tmp = fleet
    _create(store, config(tmp, "a1", "dom_BankA"))  # h1
    _create(store, config(tmp, "rec", "dom_Hospital"), "--pack")  # h1
    run = fleet_run(store, "preview-policy", str(POLICY_V2_XML))
    assert run.code == 1
    assert "h1: would be refused (runs fleet.datacenter)" in run.out
    assert "h2: would load (runs fleet.datacenter)" in run.out
    doc = _json(store, "preview-policy", str(POLICY_V2_XML))
    assert not doc["loadable_everywhere"]
    assert [h["loadable"] for h in doc["hosts"]] == [False, True, True]
    # only read: h1 still runs both, under the first version
    assert "rec" in xm_run(tmp / "h1", "list").out
    fleet_run(store, "destroy", "rec")
    assert fleet_run(store, "preview-policy", str(POLICY_V2_XML)).code == 0


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["add-host"],
        ["remove-host"],
        ["hosts"],
        ["place"],
        ["create"],
        ["destroy"],
        ["migrate"],
        ["evacuate"],
        ["audit"],
        ["sync"],
        ["preview-policy"],
    ],
)
def test_help(command: list[str], tmp_path: Path) -> None:
    run = xm_run(tmp_path, "fleet", *command, "--help")
    assert run.code == 0
    assert run.out.startswith("Usage: xm fleet")


def _versioned(source: Path, target: Path, version: str, came_from: str | None) -> Path:
    """The walkthrough's policy in Xen 3.4's versioned form."""
    header = f"<PolicyName>fleet.datacenter</PolicyName>\n    <Version>{version}</Version>"
    if came_from is not None:
        header += (
            "\n    <FromPolicy><PolicyName>fleet.datacenter</PolicyName>"
            f"<Version>{came_from}</Version></FromPolicy>"
        )
    text = source.read_text().replace("<PolicyName>fleet.datacenter</PolicyName>", header)
    text = "".join(line for line in text.splitlines(True) if "<Date>" not in line)
    target.write_text(text)
    return target


def test_preview_a_versioned_update(tmp_path: Path, store_url: str) -> None:
    """Hosts running a versioned policy (Xen 3.4's format, set with `xm
    setpolicy`); a versioned FILE is previewed with the update's own
    dry-run (`xm setpolicy --dry-run` on each host)."""
    from tests.fleet_support import POLICY_XML, _size

    store = store_url
    v1 = _versioned(POLICY_XML, tmp_path / "v1.xml", "1.0", None)
    v2 = _versioned(POLICY_V2_XML, tmp_path / "v2.xml", "1.1", "1.0")
    assert fleet_run(store, "init").code == 0
    for h in ("h1", "h2", "h3"):
        tree = tmp_path / h / "etc" / "xen" / "acm-security" / "policies" / "fleet"
        tree.mkdir(parents=True)
        (tree / "datacenter-security_policy.xml").write_bytes(v1.read_bytes())
        run = xm_run(tmp_path / h, "setpolicy", "ACM", "fleet.datacenter")
        assert run.code == 0, run.err
        _size(tmp_path / h, 4096, 4)
        assert fleet_run(store, "add-host", h, str(tmp_path / h)).code == 0
    hosts = _json(store, "hosts")["hosts"]
    assert [h["policy_version"] for h in hosts] == ["1.0", "1.0", "1.0"]
    assert "fleet.datacenter v1.0" in fleet_run(store, "hosts").out
    _create(store, config(tmp_path, "a1", "dom_BankA"))  # h1
    _create(store, config(tmp_path, "rec", "dom_Hospital"), "--pack")  # h1
    doc = _json(store, "preview-policy", str(v2))
    assert [h["loadable"] for h in doc["hosts"]] == [False, True, True]
    h1 = doc["hosts"][0]
    assert h1["update"]["old_version"] == "1.0" and h1["update"]["new_version"] == "1.1"
    assert h1["refusal"].startswith("Policy 'fleet.datacenter' not set")
    assert any("Regulated" in d for d in h1["details"])
    text = fleet_run(store, "preview-policy", str(v2))
    assert text.code == 1
    assert "h1: would be refused (runs fleet.datacenter version 1.0)" in text.out
    assert "h2: would set (runs fleet.datacenter version 1.0)" in text.out
    # an update that skips a version is refused on every host, with the reason
    v3 = _versioned(POLICY_V2_XML, tmp_path / "v3.xml", "1.2", "1.1")
    skipped = _json(store, "preview-policy", str(v3))
    assert [h["loadable"] for h in skipped["hosts"]] == [False, False, False]
    # nothing changed on the hosts
    assert _json(store, "audit")["clean"]


def test_walkthrough_two_banks_a_hospital_five_hosts(tmp_path: Path, store_url: str) -> None:
    """docs/fleet.md's walkthrough, as typed there."""
    from tests.fleet_support import POLICY_V2_XML, clone_host

    store = store_url
    assert fleet_run(store, "init").code == 0
    first = make_host(tmp_path / "h1", memory=4096, cpus=4)
    for i, zone in enumerate(("room1", "room1", "room2", "room2", "room3"), start=1):
        root = first if i == 1 else clone_host(first, tmp_path / f"h{i}")
        assert fleet_run(store, "add-host", f"h{i}", str(root), "--zone", zone).code == 0
    c = tmp_path / "cfg"
    c.mkdir()
    started = [
        fleet_run(store, "create", str(config(c, name, label, memory))).out
        for name, label, memory in (
            ("bankB-web1", "dom_BankB", 512),
            ("bankB-web2", "dom_BankB", 512),
            ("records", "dom_Hospital", 1024),
        )
    ]
    assert started == [
        "Started domain bankB-web1 on host h1 (id 1)\n",
        "Started domain bankB-web2 on host h3 (id 1)\n",
        "Started domain records on host h5 (id 1)\n",
    ]
    bank_a = config(c, "bankA-web", "dom_BankA", 256)
    placed = fleet_run(store, "place", str(bank_a))
    assert placed.lines == [
        "bankA-web (label dom_BankA): host h2; 2 other host(s) could take it",
        "  h1: refused: Chinese Wall: conflict set Banks with domain 'bankB-web1' "
        "(label dom_BankB) running there",
        "  h3: refused: Chinese Wall: conflict set Banks with domain 'bankB-web2' "
        "(label dom_BankB) running there",
    ]
    assert fleet_run(store, "create", str(bank_a)).out.endswith("on host h2 (id 1)\n")
    lab = fleet_run(store, "create", str(config(c, "lab", "dom_Hospital", 512)), "--zone", "room1")
    assert lab.out == "Started domain lab on host h2 (id 2)\n"
    evacuated = fleet_run(store, "evacuate", "h1")
    assert evacuated.lines == [
        "bankB-web1: moved from h1 to h4 (id 1)",
        "Host h1 is empty (Domain-0 aside)",
    ]
    preview = fleet_run(store, "preview-policy", str(POLICY_V2_XML))
    assert preview.code == 1
    assert "h2: would be refused (runs fleet.datacenter)" in preview.out
    assert "domain 'lab' (id 2): Chinese Wall conflict in type(s) cw_Hospital " in preview.out
    assert [line[:3] for line in preview.lines if "would load" in line] == [
        "h1:",
        "h3:",
        "h4:",
        "h5:",
    ]
    assert fleet_run(store, "audit").code == 0


def test_a_version_1_inventory_is_migrated(tmp_path: Path, store_url: str) -> None:
    """An inventory made by the first schema is brought up to date when
    opened, its hosts kept; one newer than this xm is refused, unchanged."""
    from xm_core.fleet.store import MIGRATIONS, SCHEMA_VERSION, FleetStore

    root = make_host(tmp_path / "h1", memory=4096, cpus=4)
    with FleetStore.connect(store_url) as old, old.transaction():
        old._q("CREATE TABLE fleet_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for statement in MIGRATIONS[0]:
            old._q(statement)
        old._q("INSERT INTO fleet_meta (key, value) VALUES ('schema_version', '1')")
        old._q(
            "INSERT INTO fleet_hosts (name, root, zone, policy_state, total_memory, "
            "free_memory, nr_cpus, counters, revision, synced_at) "
            "VALUES ('h1', ?, '', 'DEFAULT', 4096, 3072, 4, '{}', 1, 0)",
            (str(root),),
        )
    (h1,) = _json(store_url, "hosts")["hosts"]
    assert h1["name"] == "h1" and h1["memory_available"] == 3072  # until the next sync
    with FleetStore.open(store_url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 2
    assert fleet_run(store_url, "sync").code == 0
    assert _json(store_url, "hosts")["hosts"][0]["memory_available"] == 3072 + 828
    with FleetStore.open(store_url) as store, store.transaction():
        store._q("UPDATE fleet_meta SET value = '99' WHERE key = 'schema_version'")
    newer = fleet_run(store_url, "hosts")
    assert newer.code == 1 and "has schema version 99; this xm-acm knows up to 2" in newer.err
    assert fleet_run(store_url, "init").code == 1


def test_place_checks_devices_on_the_host(fleet: tuple[str, Path]) -> None:
    """A disk's resource label lives on each host: the host's own device
    check (STE) decides, against the host itself."""
    store, tmp = fleet
    for host, label in (("h1", "res_BankA"), ("h2", "res_BankB"), ("h3", "res_BankB")):
        run = xm_run(tmp / host, "addlabel", label, "res", "phy:/dev/sdb1", "fleet.datacenter")
        assert run.code == 0, run.err
    cfg = config(tmp, "b1", "dom_BankB")
    cfg.write_text(cfg.read_text() + "disk = ['phy:/dev/sdb1,sdb1,w']\n")
    (p,) = _json(store, "place", str(cfg))["placements"]
    assert p["candidates"] == ["h2", "h3"]
    (verdict,) = p["refused"]
    assert verdict["host"] == "h1"
    (r,) = verdict["refusals"]
    assert r["rule"] == "ste" and r["message"].startswith("STE: ")
    assert "phy:/dev/sdb1" in r["message"]
    made = _create(store, cfg)
    assert made["host"] == "h2"


def test_init_store_option_and_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    target = tmp_path / "inv.sqlite"
    made = xm_run(tmp_path, "fleet", "init", "--store", str(target), "--json")
    assert made.code == 0
    assert json.loads(made.out) == {"store": str(target), "backend": "sqlite", "schema_version": 2}
    assert fleet_run(str(target), "hosts").out.startswith("No hosts in the fleet")
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"not a database at all" * 200)
    run = fleet_run(str(junk), "hosts")
    assert run.code == 1 and run.err.startswith(f"Error: Fleet store '{junk}'")
    assert run.err.count("\n") == 1
    assert junk.read_bytes() == b"not a database at all" * 200  # left as it was
    folder = fleet_run(str(tmp_path), "init")
    assert folder.code == 1 and "is a directory" in folder.err
