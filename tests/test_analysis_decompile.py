"""`xm acm decompile`: XML that compiles back to the identical `.bin` (and `.map`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from acm.analysis.decompile import decompile, decompile_files
from acm.binfmt import binary_bytes
from acm.errors import PolicyError
from acm.mapfile import render_map
from acm.model import BinaryPolicy, ChwallPolicy, CompiledPolicy, PolicyCode, SsidLabel, StePolicy
from acm.source import LabelKind, parse_document, parse_policy_source, validate_schema
from tests.conftest import EXAMPLE_XML, REPO
from tests.test_analysis_support import DATA, Spec, compile_xml, specs, to_xml

GOLDEN = REPO / "tests" / "golden"
CORPUS = [EXAMPLE_XML, *sorted(GOLDEN.glob("*-security_policy.xml")), *sorted(DATA.glob("*.xml"))]


def with_paths(compiled: CompiledPolicy) -> CompiledPolicy:
    pmap = compiled.map._replace(policy_file="pol/x.xml", binary_file="pol/x.bin")
    return CompiledPolicy(compiled.binary, pmap)


def assert_round_trip(original: CompiledPolicy) -> None:
    """With the map: same .bin and .map bytes; without: same .bin bytes."""
    original = with_paths(original)
    want_bin = binary_bytes(original.binary)
    for pmap in (original.map, None):
        xml = decompile(original.binary, pmap).xml
        tree = parse_policy_source(xml, "<decompiled>")  # schema-valid, or this raises
        assert tree.policy_name.text == original.binary.reference_name
        again = with_paths(compile_xml(xml))
        assert binary_bytes(again.binary) == want_bin
        if pmap is not None:
            assert render_map(again.map) == render_map(original.map)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: Path(p).name)
def test_corpus_round_trips(path: Path) -> None:
    assert_round_trip(compile_xml(Path(path).read_bytes()))


@settings(max_examples=150, deadline=None)
@given(specs())
def test_generated_policies_round_trip(spec: Spec) -> None:
    assert_round_trip(compile_xml(to_xml(spec)))


def test_from_files_with_and_without_map() -> None:
    bin_path = str(GOLDEN / "example.chwall_ste.client_v1.bin")
    named = decompile_files(bin_path, str(GOLDEN / "example.chwall_ste.client_v1.map"))
    assert named.names_from_map and (named.vm_labels, named.res_labels) == (6, 7)
    assert b"<Name>dom_HomeBanking</Name>" in named.xml
    assert b'bootstrap="dom_SystemManagement"' in named.xml
    made_up = decompile_files(bin_path)
    assert not made_up.names_from_map
    for name in (b"label_ssid_1", b"res_ssid_7", b"ste_type_0", b"cw_type_3"):
        assert name in made_up.xml
    assert b'bootstrap="label_ssid_1"' in made_up.xml
    assert made_up.as_dict()["xml"].startswith("<?xml")


def test_multi_group_label_stays_one_label() -> None:
    compiled = compile_xml((GOLDEN / "multi_group-security_policy.xml").read_bytes())
    xml = decompile(compiled.binary, compiled.map).xml
    tree = parse_policy_source(xml)
    twice = [lab for lab in tree.vm_labels if lab.name.text == "twice"]
    assert len(twice) == 1
    assert (len(twice[0].ste_groups), len(twice[0].chwall_groups)) == (2, 2)
    assert not validate_schema(parse_document(xml, "x"), "x")


def _binary(**changes: object) -> BinaryPolicy:
    base = BinaryPolicy(
        "p",
        PolicyCode.CHWALL,
        PolicyCode.STE,
        ChwallPolicy(1, ((), (0,)), ((0,),)),
        StePolicy(1, ((), (0,))),
    )
    return base._replace(**changes)  # type: ignore[arg-type]


def test_a_binary_no_source_can_give_is_refused() -> None:
    assert decompile(_binary()).policy_name == "p"
    with pytest.raises(PolicyError, match="always makes the Chinese Wall part primary"):
        decompile(_binary(primary=PolicyCode.STE, secondary=PolicyCode.CHWALL))
    with pytest.raises(PolicyError, match="conflict set 0 is empty"):
        decompile(_binary(chwall=ChwallPolicy(1, ((), (0,)), ((),))))
    with pytest.raises(PolicyError, match="STE SSID 1 has no types"):
        decompile(_binary(ste=StePolicy(1, ((), ()))))
    with pytest.raises(PolicyError, match="no SSID for the bootstrap"):
        decompile(_binary(ste=StePolicy(1, ((),))))
    with pytest.raises(PolicyError, match="line break"):
        decompile(_binary(reference_name="two\nlines"))


def test_a_map_that_does_not_belong_or_cannot_be_written_is_refused() -> None:
    example = compile_xml(EXAMPLE_XML.read_bytes())
    other = compile_xml((GOLDEN / "ste_only-security_policy.xml").read_bytes())
    with pytest.raises(PolicyError, match="does not belong"):
        decompile(example.binary, other.map)
    ste = example.map.ste
    assert ste is not None
    bad_name = ste._replace(
        labels=(*ste.labels[:2], SsidLabel("ctl\x01char", LabelKind.VM, 2), *ste.labels[3:])
    )
    with pytest.raises(PolicyError, match="cannot be written in XML"):
        decompile(example.binary, example.map._replace(ste=bad_name))
    twin_types = ste._replace(types=("same",) * len(ste.types))
    with pytest.raises(PolicyError, match="ACM010"):
        decompile(example.binary, example.map._replace(ste=twin_types))
    res_first = ste._replace(
        labels=(*ste.labels[:7], SsidLabel("x", LabelKind.VM, 7), *ste.labels[8:])
    )
    res_first = res_first._replace(
        labels=(*res_first.labels[:2], SsidLabel("r", LabelKind.RES, 2), *res_first.labels[3:]),
    )
    with pytest.raises(PolicyError, match="follows a resource entry"):
        decompile(example.binary, example.map._replace(ste=res_first))


def test_bad_files_are_one_clear_error(tmp_path: Path) -> None:
    truncated = tmp_path / "t.bin"
    truncated.write_bytes((GOLDEN / "ste_only.bin").read_bytes()[:40])
    with pytest.raises(PolicyError, match="invalid binary policy"):
        decompile_files(str(truncated))
    with pytest.raises(PolicyError, match="cannot read"):
        decompile_files(str(tmp_path / "missing.bin"))


def test_xen_reference_policies_round_trip(xen_ref: Path) -> None:
    """Xen 3.0.4's own example policies and its reference vector (skipped
    where ../shared is not beside the checkout)."""
    for path in sorted((xen_ref / "policies").rglob("*-security_policy.xml")):
        assert_round_trip(compile_xml(path.read_bytes()))
    vector = xen_ref / "vectors" / "example" / "chwall_ste"
    res = decompile_files(str(vector / "client_v1.bin"), str(vector / "client_v1.map"))
    again = compile_xml(res.xml)
    assert binary_bytes(again.binary) == (vector / "client_v1.bin").read_bytes()


@pytest.mark.parametrize(
    "spec",
    [
        # The bootstrap's first STE entry is a resource label's: its VM label has none.
        Spec(
            ste=["a"],
            cw=["c"],
            bootstrap="boot",
            vms=[("x", [["a"]], [["c"]]), ("boot", [], [["c"]])],
            res=[("boot", [["a"]])],
        ),
        # STE and CHWALL entries of two labels in opposite orders (labels split).
        Spec(
            ste=["a", "b"],
            cw=["c", "d"],
            bootstrap="m",
            vms=[
                ("m", [["a"]], [["c"]]),
                ("x", [["a"]], []),
                ("y", [["b"]], [["d"]]),
                ("x", [], [["c"]]),
            ],
        ),
        # Repeated names, a label without any group, a VM label with only types twice.
        Spec(
            ste=["a"],
            bootstrap="b",
            vms=[("b", [["a", "a"]], []), ("r", [["a"]], []), ("r", [["a"]], []), ("none", [], [])],
            res=[("r", [["a"]]), ("r", [])],
        ),
    ],
    ids=["resource-bootstrap", "crossed-runs", "repeats"],
)
def test_awkward_label_layouts_round_trip(spec: Spec) -> None:
    assert_round_trip(compile_xml(to_xml(spec)))
