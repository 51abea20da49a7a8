"""Numbering, primary/secondary and the bootstrap move, the fast path against
the full compiler, and round trips over random policies."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acm.binfmt import binary_bytes, decode_binary
from acm.compiler import compile_document, compile_file, compile_tree
from acm.errors import PolicyError
from acm.mapfile import parse_map, render_map
from acm.model import NULL_LABEL, CompiledPolicy, PolicyCode
from acm.source import LabelKind, _holds, parse_policy_document, parse_policy_source
from acm.sourcecompiler import compile_policy
from tests.conftest import DATA, EXAMPLE_XML
from tests.policygen import Label, PolicySpec, any_policies, examples, valid_policies

GOLDEN = Path(__file__).resolve().parent / "golden"
PROPERTY = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _compile(spec: PolicySpec) -> CompiledPolicy:
    compiled, found = compile_policy(parse_policy_source(spec.to_xml(), "p.xml"))
    assert list(found) == []
    return compiled


def _labels(compiled: CompiledPolicy, code: PolicyCode) -> list[tuple[str, str]]:
    part = compiled.map.part(code)
    assert part is not None
    return [(e.name, e.kind.value) for e in part.labels]


def _policy(ste: list[str] | None, chwall: list[str] | None, **kw: object) -> PolicySpec:
    vms = kw.pop(
        "vms",
        [
            Label("first", [["s1"]] if ste else [], [["c1"]] if chwall else []),
            Label("boot", [["s0", "s1"]] if ste else [], [["c0"]] if chwall else []),
        ],
    )
    return PolicySpec(
        name="p",
        ste=ste,
        chwall=chwall,
        conflicts=[],
        bootstrap="boot",
        vms=vms,  # type: ignore[arg-type]
        resources=kw.pop("resources", []),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------- numbering


def test_ste_only_is_primary_with_a_null_secondary() -> None:
    compiled = _compile(_policy(["s0", "s1"], None))
    assert (compiled.binary.primary, compiled.binary.secondary) == (
        PolicyCode.STE,
        PolicyCode.NULL,
    )
    assert compiled.binary.chwall is None and compiled.map.chwall is None


def test_chwall_is_primary_whenever_present_and_priority_changes_nothing() -> None:
    for priority in (None, "ste", "chwall"):
        compiled = _compile(_policy(["s0", "s1"], ["c0", "c1"], priority_on=priority))
        assert (compiled.binary.primary, compiled.binary.secondary) == (
            PolicyCode.CHWALL,
            PolicyCode.STE,
        )
    compiled = _compile(_policy(None, ["c0", "c1"]))
    assert (compiled.binary.primary, compiled.binary.secondary) == (
        PolicyCode.CHWALL,
        PolicyCode.NULL,
    )


def test_types_are_numbered_in_declaration_order_per_part() -> None:
    compiled = _compile(_policy(["s1", "s0"], ["c1", "c0"]))
    assert compiled.map.ste is not None and compiled.map.chwall is not None
    assert compiled.map.ste.types == ("s1", "s0")
    assert compiled.map.chwall.types == ("c1", "c0")
    assert compiled.binary.ste is not None
    # boot has s0 and s1, first has s1 (type 0): SSID 1 is boot, SSID 2 first.
    assert compiled.binary.ste.ssids == ((), (0, 1), (0,))


def test_the_bootstrap_entry_moves_to_ssid_1_and_the_rest_keep_their_order() -> None:
    vms = [
        Label("a", [["s0"]], [["c0"]]),
        Label("b", [["s1"]], []),
        Label("boot", [["s0"], ["s1"]], [["c1"]]),  # two STE groups: the first moves
        Label("c", [], [["c0"]]),
    ]
    resources = [Label("r", [["s1"]]), Label("boot", [["s0"]])]
    compiled = _compile(_policy(["s0", "s1"], ["c0", "c1"], vms=vms, resources=resources))
    assert _labels(compiled, PolicyCode.STE) == [
        (NULL_LABEL, "ANY"),
        ("boot", "VM"),
        ("a", "VM"),
        ("b", "VM"),
        ("boot", "VM"),
        ("r", "RES"),
        ("boot", "RES"),
    ]
    assert _labels(compiled, PolicyCode.CHWALL) == [
        (NULL_LABEL, "ANY"),
        ("boot", "VM"),
        ("a", "VM"),
        ("c", "VM"),
    ]
    assert compiled.binary.ste is not None
    assert compiled.binary.ste.ssids[1] == (0,)  # boot's first group
    assert compiled.map.ste is not None
    assert [e.ssid for e in compiled.map.ste.labels] == list(range(7))


def test_conflict_sets_are_numbered_in_document_order() -> None:
    spec = _policy(None, ["c0", "c1", "c2"])
    spec.conflicts = [("second", ["c2", "c0"]), (None, ["c1", "c2"])]
    compiled = _compile(spec)
    assert compiled.binary.chwall is not None
    assert compiled.binary.chwall.conflict_sets == ((0, 2), (1, 2))


def test_counts_of_a_part() -> None:
    compiled = _compile(_policy(["s0", "s1"], ["c0", "c1"]))
    assert compiled.binary.ste is not None and compiled.binary.chwall is not None
    assert compiled.binary.ste.max_types == 2
    assert compiled.binary.ste.max_ssidrefs == 3  # null, boot, first
    assert compiled.binary.chwall.max_ssidrefs == 3
    text = render_map(compiled.map).decode()
    assert "MAX-STE-SSIDS          00000003\nMAX-STE-LABELS         00000003\n" in text


def test_bootstrap_null_label_moves_the_null_entry_like_xen() -> None:
    """Xen's search starts at the null entry: bootstrap `__NULL_LABEL__` moves
    it to SSID 1, so SSID 0 has types. The `.bin` still reads back."""
    spec = _policy(["s0", "s1"], None)
    spec.bootstrap = NULL_LABEL
    compiled = _compile(spec)
    assert _labels(compiled, PolicyCode.STE)[:2] == [("first", "VM"), (NULL_LABEL, "ANY")]
    data = binary_bytes(compiled.binary)
    assert decode_binary(data) == compiled.binary


def test_compile_file_equals_the_full_compiler_on_our_policies() -> None:
    for path in [EXAMPLE_XML, DATA / "compiler" / "valid.xml", *GOLDEN.glob("*.xml")]:
        full, full_found = compile_policy(parse_policy_source(path.read_bytes(), str(path)))
        fast, fast_found = compile_file(str(path))
        assert fast == full
        assert list(fast_found) == list(full_found)


def test_a_policy_with_neither_part_compiles_to_null_null() -> None:
    spec = PolicySpec("empty", None, None, [], "x", [Label("x")], [])
    compiled = _compile(spec)
    assert (compiled.binary.primary, compiled.binary.secondary) == (
        PolicyCode.NULL,
        PolicyCode.NULL,
    )
    assert decode_binary(binary_bytes(compiled.binary)) == compiled.binary
    assert parse_map(render_map(compiled.map)) == compiled.map


# ---------------------------------------------------------------- properties


@PROPERTY
@given(valid_policies())
def test_random_valid_policies_compile_and_round_trip(spec: PolicySpec) -> None:
    doc = parse_policy_document(spec.to_xml(), "p.xml")
    full, found = compile_policy(doc.source())
    assert list(found) == []
    # The fast path (taken unless a name holds a comment) gives the same policy.
    fast, fast_found = compile_document(doc)
    assert fast == full and list(fast_found) == []
    if spec.comments != "inside":
        assert compile_tree(doc.root) == full
    assert compile_tree(doc.root, doc.data) == compile_tree(doc.root)  # with the byte search
    # Both files read back to what was compiled.
    assert decode_binary(binary_bytes(full.binary)) == full.binary
    assert parse_map(render_map(full.map)) == full.map
    # The model agrees with the spec.
    assert full.name == spec.name
    if spec.ste is not None:
        assert full.map.ste is not None and list(full.map.ste.types) == spec.ste
        expected = 1 + sum(len(lab.ste_groups) for lab in spec.vms + spec.resources)
        assert full.binary.ste is not None and full.binary.ste.max_ssidrefs == expected
        assert full.map.ste.labels[1].name == spec.bootstrap
    if spec.chwall is not None:
        assert full.map.chwall is not None and list(full.map.chwall.types) == spec.chwall
        assert full.map.chwall.labels[1].name == spec.bootstrap
        assert full.binary.chwall is not None
        assert len(full.binary.chwall.conflict_sets) == len(spec.conflicts)


@PROPERTY
@given(any_policies())
def test_the_fast_path_gives_up_exactly_when_the_full_compiler_finds_something(
    spec: PolicySpec,
) -> None:
    doc = parse_policy_document(spec.to_xml(), "p.xml")
    try:
        full, found = compile_policy(doc.source())
    except PolicyError as exc:
        full, found = None, exc.diagnostics
    fast = compile_tree(doc.root)
    if spec.comments != "inside":  # a comment inside a name sends every policy to the full path
        assert (fast is None) == bool(found), [d.format() for d in found]
    assert fast is None or fast == full
    # compile_document always gives what the full compiler gives.
    try:
        via_document: CompiledPolicy | None = compile_document(doc)[0]
    except PolicyError as exc:
        via_document = None
        assert list(exc.diagnostics) == list(found)
    assert via_document == full


def test_kinds_in_the_map_follow_the_label_element() -> None:
    compiled = _compile(_policy(["s0", "s1"], None, resources=[Label("r", [["s0"]])]))
    assert compiled.map.ste is not None
    kinds = {e.name: e.kind for e in compiled.map.ste.labels}
    assert kinds == {
        NULL_LABEL: LabelKind.ANY,
        "boot": LabelKind.VM,
        "first": LabelKind.VM,
        "r": LabelKind.RES,
    }


def test_a_comment_inside_a_name_is_found_in_any_encoding(tmp_path: Path) -> None:
    """The fast path skips its search for comments only when the bytes show
    none; in UTF-16 they cannot show it, so the tree is searched (else the
    label would be read as 'a')."""
    xml = (
        '<?xml version="1.0" encoding="ENC"?>\n'
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        "<PolicyHeader><PolicyName>p</PolicyName></PolicyHeader>"
        "<SimpleTypeEnforcement><SimpleTypeEnforcementTypes><Type>t</Type>"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>"
        '<SecurityLabelTemplate><SubjectLabels bootstrap="boot">'
        "<VirtualMachineLabel><Name>boot</Name><SimpleTypeEnforcementTypes><Type>t</Type>"
        "</SimpleTypeEnforcementTypes></VirtualMachineLabel>"
        "<VirtualMachineLabel><Name>a<!-- x -->b</Name><SimpleTypeEnforcementTypes>"
        "<Type>t</Type></SimpleTypeEnforcementTypes></VirtualMachineLabel>"
        "</SubjectLabels></SecurityLabelTemplate></SecurityPolicyDefinition>\n"
    )
    for encoding in ("UTF-8", "UTF-16"):
        path = tmp_path / f"{encoding}.xml"
        path.write_bytes(xml.replace("ENC", encoding).encode(encoding))
        compiled = compile_file(str(path))[0]
        assert compiled.map.ste is not None
        assert [e.name for e in compiled.map.ste.labels] == [NULL_LABEL, "boot", "ab"]


# Bytes drawn from the few that matter, so that markers and near misses are common.
MARKER_BYTES = bytes(b"<?!-a"[i % 5] for i in range(256))


@given(st.binary(max_size=300).map(lambda b: b.translate(MARKER_BYTES)))
@PROPERTY
def test_the_byte_search_for_comments_and_pis_agrees_with_find(data: bytes) -> None:
    """The search by the rarer byte answers as `bytes.find` does, also past
    its tries (a document full of `?` or `!`)."""
    for marker, start in ((b"<!--", 0), (b"<?", 1)):
        assert _holds(data, marker, start) == (data.find(marker, start) >= 0)
        assert _holds(b"?!" * 100 + data, marker, start) == (
            (b"?!" * 100 + data).find(marker, start) >= 0
        )
