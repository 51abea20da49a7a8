"""`xm loadpolicy` reads the compiled policy once: the conflict sets' names
come from the side file `makepolicy` writes beside the `.map` (the XML is
read only when that file is missing or belongs to another compile), and a
large `.bin` is kept in the host state as its compact form only, made
again byte for byte when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acm.mapfile import parse_set_names, set_names_bytes
from tests.hosttools import xm_run
from tests.lifecycle_support import PolicySpec
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths, PolicyFiles
from xm_core.host.model import (
    INLINE_BINARY_BYTES,
    Host,
    conflict_set_names,
    loaded_binary_bytes,
    read_compiled_policy,
)


def _example_host(root: Path) -> HostPaths:
    paths = HostPaths(root)
    paths.seed_example()
    assert xm_run(root, "makepolicy", EXAMPLE_POLICY).code == 0
    return paths


def _loaded_set_names(paths: HostPaths) -> list[str | None]:
    with Host(paths) as host:
        return list(host.store.active_extra()["conflict_sets"])


def test_the_names_come_from_the_side_file_without_the_xml(tmp_path: Path) -> None:
    paths = _example_host(tmp_path)
    files = paths.policy_files(EXAMPLE_POLICY)
    assert files.set_names.exists()
    Path(files.xml).unlink()  # the XML is not read again
    assert xm_run(tmp_path, "loadpolicy", EXAMPLE_POLICY).code == 0
    assert _loaded_set_names(paths) == ["Protection1"]


def test_a_side_file_of_another_compile_is_not_believed(tmp_path: Path) -> None:
    paths = _example_host(tmp_path)
    files = paths.policy_files(EXAMPLE_POLICY)
    # the same policy name, other sets: the names of the XML are taken
    files.set_names.write_bytes(set_names_bytes(EXAMPLE_POLICY, ["stale"], [(0, 1)]))
    assert xm_run(tmp_path, "loadpolicy", EXAMPLE_POLICY).code == 0
    assert _loaded_set_names(paths) == ["Protection1"]
    files.set_names.write_bytes(b"\xff damaged")
    assert xm_run(tmp_path, "loadpolicy", EXAMPLE_POLICY).code == 0
    assert _loaded_set_names(paths) == ["Protection1"]


names = st.lists(st.one_of(st.none(), st.text()), max_size=5)


@given(names, st.text(min_size=1), st.data())
def test_set_names_read_back_only_for_their_own_sets(
    written: list[str | None], reference: str, data: st.DataObject
) -> None:
    sets = [tuple(sorted(data.draw(st.sets(st.integers(0, 50))))) for _ in written]
    encoded = set_names_bytes(reference, written, sets)
    assert parse_set_names(encoded, reference, sets) == written
    assert parse_set_names(encoded, reference + "x", sets) is None
    if sets:
        other = [*sets[:-1], (*sets[-1], 51)]
        assert parse_set_names(encoded, reference, other) is None
    assert parse_set_names(encoded[:-1], reference, sets) is None


def _large_policy(types: int, labels: int) -> str:
    ste = "".join(f"<Type>t{i}</Type>" for i in range(types))
    vms = "".join(
        f"<VirtualMachineLabel><Name>vm{i}</Name><SimpleTypeEnforcementTypes>"
        f"<Type>t{i % types}</Type><Type>t{(i * 7 + 1) % types}</Type>"
        "</SimpleTypeEnforcementTypes><ChineseWallTypes><Type>"
        f"cw{i % 3}</Type></ChineseWallTypes></VirtualMachineLabel>"
        for i in range(labels)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        "<PolicyHeader><PolicyName>t.large</PolicyName></PolicyHeader>"
        f"<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>{ste}"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>"
        '<ChineseWall priority="PrimaryPolicyComponent"><ChineseWallTypes>'
        "<Type>cw0</Type><Type>cw1</Type><Type>cw2</Type></ChineseWallTypes>"
        '<ConflictSets><Conflict name="c01"><Type>cw0</Type><Type>cw1</Type></Conflict>'
        "</ConflictSets></ChineseWall>"
        '<SecurityLabelTemplate><SubjectLabels bootstrap="vm0">'
        f"{vms}</SubjectLabels></SecurityLabelTemplate></SecurityPolicyDefinition>\n"
    )


def _large_host(root: Path) -> tuple[HostPaths, PolicyFiles]:
    """A host with `t.large` compiled: a `.bin` over what the state keeps inline."""
    paths = HostPaths(root)
    files = paths.policy_files("t.large")
    Path(files.xml).parent.mkdir(parents=True)
    Path(files.xml).write_text(_large_policy(600, 300))
    assert xm_run(root, "makepolicy", "t.large").code == 0
    return paths, files


def test_a_large_binary_is_kept_as_its_compact_form(tmp_path: Path) -> None:
    paths, files = _large_host(tmp_path)
    written = Path(files.bin).read_bytes()
    assert len(written) > INLINE_BINARY_BYTES
    for _ in range(2):  # a first load, then a reload (parts compared)
        assert xm_run(tmp_path, "loadpolicy", "t.large").code == 0
        with Host(paths) as host:
            stored = host.store.active_binary()
            assert stored is not None and stored[0] == b""
            assert loaded_binary_bytes(host) == written
    assert _loaded_set_names(paths) == ["c01"]


def test_a_small_binary_is_kept_as_it_is(tmp_path: Path) -> None:
    paths = _example_host(tmp_path)
    assert xm_run(tmp_path, "loadpolicy", EXAMPLE_POLICY).code == 0
    written = Path(paths.policy_files(EXAMPLE_POLICY).bin).read_bytes()
    with Host(paths) as host:
        stored = host.store.active_binary()
        assert stored is not None and stored[0] == written
        assert loaded_binary_bytes(host) == written


def test_a_large_binary_is_refused_as_a_small_one_is(tmp_path: Path) -> None:
    """A large `.bin` is read in pieces and compared with its `.map`'s
    rows; a damaged one, one whose `.map` says other rows, and a damaged
    `.map` are refused as before: one line, exit 1, nothing loaded."""
    paths, files = _large_host(tmp_path)
    written = Path(files.bin).read_bytes()
    map_text = Path(files.map).read_bytes()
    assert len(written) > INLINE_BINARY_BYTES
    last = len(written) - 2  # the high byte of the last cell of the last STE row
    lines = map_text.split(b"\n")
    row = max(i for i, line in enumerate(lines) if line.startswith(b"SSID->TYPE STE"))
    assert not lines[row].endswith(b" t0")
    other_rows = b"\n".join([*lines[:row], lines[row][:31] + b" t0", *lines[row + 1 :]])
    cases = [
        (written[:last] + b"\x01" + written[last + 1 :], map_text, "neither 0 nor 1"),
        (written, other_rows, "does not belong to the binary policy"),
        (written, map_text.replace(b"MAGIC ", b"MAGIX ", 1), "expected MAGIC"),
    ]
    for data, map_data, says in cases:
        Path(files.bin).write_bytes(data)
        Path(files.map).write_bytes(map_data)
        run = xm_run(tmp_path, "loadpolicy", "t.large")
        assert run.code == 1 and len(run.err.splitlines()) == 1, run.err
        assert says in run.err
        with Host(paths) as host:
            assert host.policy_state()[1] is None


@pytest.mark.parametrize(
    ("version", "expected"), [(None, ["zeta", "alpha"]), ("1.0", ["alpha", "zeta"])]
)
def test_names_read_from_the_xml_follow_the_binarys_order(
    tmp_path: Path, version: str | None, expected: list[str]
) -> None:
    # Xen 3.4 orders a versioned policy's sets by name; 3.0.4 keeps the document's
    # order. Without the side file the XML's names must come in the .bin's order.
    paths = HostPaths(tmp_path)
    spec = PolicySpec("lc.sets", version=version, conflicts=[["red", "blue"], ["green", "blue"]])
    xml = spec.write(paths)
    xml.write_text(spec.xml().replace('"C0"', '"zeta"').replace('"C1"', '"alpha"'))
    assert xm_run(tmp_path, "makepolicy", "lc.sets").code == 0
    binary = read_compiled_policy(paths, "lc.sets")[1]
    assert conflict_set_names(paths, "lc.sets", binary) == expected  # the side file
    paths.policy_files("lc.sets").set_names.unlink()
    assert conflict_set_names(paths, "lc.sets", binary) == expected  # the XML
