"""Versioned policies (Xen 3.4's format): Xen 3.4's vectors byte for byte,
the life facts a policy states (acm.versioned.info) and the update checks
(acm.versioned.checks)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acm.binfmt import binary_bytes, decode_binary, iter_fields
from acm.compiler import compile_file
from acm.errors import Location, PolicyError
from acm.model import BinaryPolicy, ChwallPolicy, PolicyCode, StePolicy
from acm.source import LabelKind, read_policy_document
from acm.versioned.checks import check_renames, check_update, check_version_text
from acm.versioned.info import (
    FromPolicy,
    LabelRename,
    PolicyVersion,
    VersionInfo,
    compare_versions,
    parse_version,
    parse_version_info,
    read_version_info,
    version_info_of_compiled,
)
from acm.versioned.numbering import compile_versioned
from acm.versioned.xmlhash import MinidomFlavour, minidom_text
from tests.conftest import DATA, SHARED
from tests.policygen import (
    PolicySpec,
    VersionedSpec,
    any_versioned_policies,
    examples,
    valid_policies,
    versioned_policies,
)

XEN34 = SHARED / "ref" / "xen-3.4"
VERSIONED = DATA / "versioned"
V1, V2 = VERSIONED / "v1.xml", VERSIONED / "v2.xml"


def _vectors() -> list[Path]:
    if not XEN34.is_dir():
        return []
    return sorted(p for p in XEN34.iterdir() if (p / "xen.bin").is_file())


def _need_xen34() -> None:
    if not XEN34.is_dir():
        pytest.skip("../shared/ref/xen-3.4 is not beside this checkout (Xen 3.4 reference data)")


@pytest.mark.parametrize("flavour", list(MinidomFlavour))
def test_xen34_vectors_byte_for_byte(flavour: MinidomFlavour) -> None:
    _need_xen34()
    vectors = _vectors()
    assert vectors, "the Xen 3.4 reference folder holds no vector"
    for vector in vectors:
        expected = vector / ("xen.bin" if flavour is MinidomFlavour.PY26 else "xen-py25.bin")
        compiled, warnings = compile_versioned(
            read_policy_document(str(vector / "input.xml")), flavour
        )
        assert binary_bytes(compiled.binary) == expected.read_bytes(), vector.name
        assert list(warnings) == []
        name = json.loads((vector / "vector.json").read_text())["policy_name"]
        assert compiled.name == name
        # and the reader gives back exactly what was compiled
        assert decode_binary(expected.read_bytes()) == compiled.binary


def test_compile_file_takes_the_versioned_path_with_the_default_flavour() -> None:
    _need_xen34()
    for vector in _vectors():
        compiled, _ = compile_file(str(vector / "input.xml"))
        assert binary_bytes(compiled.binary) == (vector / "xen.bin").read_bytes()


def test_the_hash_is_of_the_minidom_text() -> None:
    import hashlib

    doc = read_policy_document(str(V2))
    compiled, _ = compile_versioned(doc)
    text = minidom_text(doc.root)
    assert text.startswith('<?xml version="1.0" ?><!--')
    assert compiled.binary.xml_hash == hashlib.sha1(text.encode("ascii")).digest()
    assert minidom_text(doc.root, MinidomFlavour.PY25).startswith('<?xml version="1.0" ?>\n<!--')
    assert '<Name from="teller">cashier</Name>' in text
    assert "<Name>__UNLABELED__</Name>" in text


def test_attributes_are_sorted_and_escaped_as_minidom_wrote_them() -> None:
    data = (
        b"<?xml version='1.0' encoding='UTF-8'?>\n<!-- c -->\n"
        b'<SecurityPolicyDefinition xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="a b" xmlns="http://www.ibm.com">'
        b"<PolicyHeader><PolicyName>a</PolicyName><Version>1.0</Version></PolicyHeader>"
        b"<ChineseWall><ChineseWallTypes><Type>x&amp;&quot;&gt;</Type></ChineseWallTypes>"
        b"</ChineseWall><SecurityLabelTemplate/></SecurityPolicyDefinition>\n"
    )
    from acm.source import parse_policy_document

    text = minidom_text(parse_policy_document(data, "t.xml").root)
    assert text == (
        '<?xml version="1.0" ?><!-- c --><SecurityPolicyDefinition xmlns="http://www.ibm.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="a b">'
        "<PolicyHeader><PolicyName>a</PolicyName><Version>1.0</Version></PolicyHeader>"
        "<ChineseWall><ChineseWallTypes><Type>x&amp;&quot;&gt;</Type></ChineseWallTypes>"
        "</ChineseWall><SecurityLabelTemplate/></SecurityPolicyDefinition>"
    )


# --------------------------------------------------------------- numbering


def test_numbering_follows_xen34() -> None:
    compiled, _ = compile_file(str(V2))
    chwall, ste = compiled.map.chwall, compiled.map.ste
    assert chwall is not None and ste is not None
    # sorted types; bootstrap first, then the VM labels sorted, __UNLABELED__ at 0
    assert ste.types == ("SystemManagement", "accounts", "audit", "web")
    assert [(e.name, e.kind, e.ssid) for e in chwall.labels] == [
        ("__UNLABELED__", LabelKind.ANY, 0),
        ("SystemManagement", LabelKind.VM, 1),
        ("auditor", LabelKind.VM, 2),
        ("cashier", LabelKind.VM, 3),
        ("portal", LabelKind.VM, 4),
    ]
    assert [e.name for e in ste.labels][5:] == ["ledger_disk", "portal_disk"]
    # a VM label without Chinese Wall types still has its (empty) entry
    assert chwall.ssid_types[2] == ()
    assert compiled.binary.xml_version == (1, 1)
    assert compiled.map_mismatches() == []


def test_a_policy_without_version_is_not_versioned() -> None:
    compiled, _ = compile_file(str(DATA / "compiler" / "valid.xml"))
    assert not compiled.binary.versioned
    assert binary_bytes(compiled.binary)[:4] == (2).to_bytes(4, "big")


# --------------------------------------------------------------- the API


def test_version_info_of_a_source() -> None:
    info = read_version_info(str(V2))
    assert info.name == "tests.bank"
    assert info.version == PolicyVersion(1, 1)
    assert info.versioned
    assert info.from_policy is not None
    assert (info.from_policy.name, info.from_policy.version) == ("tests.bank", PolicyVersion(1, 0))
    assert info.renamed(LabelKind.VM) == {"teller": "cashier"}
    assert info.renamed(LabelKind.RES) == {"web_disk": "portal_disk"}
    assert info.has_unlabeled and info.unlabeled == {"VM"}
    assert info.renames[0].location == Location(str(V2), 52, 9)
    assert not info.is_xen_default


def test_version_info_of_a_policy_of_the_old_format() -> None:
    info = parse_version_info((DATA / "compiler" / "valid.xml").read_bytes(), "valid.xml")
    assert info.version is None and not info.versioned
    assert info.from_policy is None and info.renames == ()
    assert not info.has_unlabeled


def test_version_info_of_the_compiled_form() -> None:
    compiled, _ = compile_file(str(V2))
    info = version_info_of_compiled(compiled)
    assert (info.name, info.version) == ("tests.bank", PolicyVersion(1, 1))
    assert info.from_policy is None and info.renames == ()
    assert info.vm_labels == ("SystemManagement", "auditor", "cashier", "portal")
    assert info.res_labels == ("ledger_disk", "portal_disk")
    assert info.has_unlabeled
    old, _ = compile_file(str(DATA / "compiler" / "valid.xml"))
    assert version_info_of_compiled(old).version is None


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("1.0", PolicyVersion(1, 0)),
        ("2.30", PolicyVersion(2, 30)),
        ("00000001.00000002", PolicyVersion(1, 2)),
        ("100", PolicyVersion(100, 0)),  # Xen's schema lets it through; Xen read 100.0
        ("1x0", None),  # passes Xen's schema, Xen's int() failed
        ("1_0", None),
        ("1.", None),
        ("12345678901234567", None),  # reads as one number past the 32-bit field
        ("", None),
    ],
)
def test_parse_version(text: str, version: PolicyVersion | None) -> None:
    assert parse_version(text) == version
    assert bool(check_version_text(text)) == (version is None)


def test_versions_compare_by_major_then_minor() -> None:
    assert compare_versions(PolicyVersion(1, 10), PolicyVersion(1, 9)) > 0
    assert compare_versions(PolicyVersion(1, 9), PolicyVersion(2, 0)) < 0
    assert compare_versions(PolicyVersion(3, 1), PolicyVersion(3, 1)) == 0
    assert PolicyVersion(1, 9).next_minor() == PolicyVersion(1, 10)


def test_an_update_to_the_next_version_passes() -> None:
    assert list(check_update(read_version_info(str(V1)), read_version_info(str(V2)))) == []


def _info(**changes: Any) -> VersionInfo:
    base = VersionInfo(
        name="p",
        version=PolicyVersion(1, 1),
        from_policy=FromPolicy("p", PolicyVersion(1, 0)),
        renames=(),
        vm_labels=("SystemManagement", "b"),
        res_labels=("r",),
        unlabeled=frozenset(),
        is_xen_default=False,
        file="new.xml",
    )
    return base._replace(**changes)


OLD = _info(version=PolicyVersion(1, 0), from_policy=None, vm_labels=("SystemManagement", "a"))


def test_a_from_policy_of_another_policy_is_refused() -> None:
    found = check_update(OLD, _info(from_policy=FromPolicy("q", PolicyVersion(1, 0))))
    assert found.codes() == ["ACM049"]
    assert "FromPolicy names policy 'q', but the running policy is 'p'" in found.errors[0].message


def test_every_version_problem_is_listed() -> None:
    found = check_update(
        OLD, _info(version=PolicyVersion(0, 9), from_policy=FromPolicy("p", PolicyVersion(0, 5)))
    )
    assert found.codes() == ["ACM049", "ACM049"]
    messages = " ".join(d.message for d in found)
    assert "FromPolicy names version 0.5" in messages and "not newer" in messages


def test_no_from_policy_is_refused_unless_either_is_xens_default() -> None:
    assert check_update(OLD, _info(from_policy=None)).codes() == ["ACM049"]
    assert check_update(OLD._replace(is_xen_default=True), _info(from_policy=None)).codes() == []


def test_a_rename_of_no_old_label_is_refused() -> None:
    rename = LabelRename(LabelKind.VM, "ghost", "b", Location("new.xml", 9, 3))
    found = check_update(OLD, _info(renames=(rename,)))
    assert found.codes() == ["ACM050"]
    assert found.errors[0].location == Location("new.xml", 9, 3)
    # a VM label's old name is looked for among VM labels only
    res = LabelRename(LabelKind.RES, "a", "r")
    assert check_update(OLD, _info(renames=(res,))).codes() == ["ACM050"]


def test_renames_claiming_one_old_name_twice_are_refused() -> None:
    renames = (LabelRename(LabelKind.VM, "a", "b"), LabelRename(LabelKind.VM, "a", "c"))
    found = check_renames(_info(vm_labels=("b", "c"), renames=renames))
    assert found.codes() == ["ACM044", "ACM044"]


def test_cycles_and_chains_of_renames_are_refused() -> None:
    swap = (LabelRename(LabelKind.VM, "a", "b"), LabelRename(LabelKind.VM, "b", "a"))
    assert check_renames(_info(vm_labels=("a", "b"), renames=swap)).codes() == [
        "ACM045",
        "ACM045",
    ]
    self_rename = (LabelRename(LabelKind.VM, "b", "b"),)
    found = check_renames(_info(renames=self_rename))
    assert found.codes() == ["ACM045"] and not found.has_errors  # a warning only


def test_an_unreadable_version_is_an_error_value_of_the_reader(tmp_path: Path) -> None:
    text = V1.read_text().replace("<Version>1.0</Version>", "<Version>1x0</Version>")
    with pytest.raises(PolicyError) as caught:
        parse_version_info(text.encode(), "bad.xml")
    assert caught.value.diagnostics.codes() == ["ACM040"]
    assert caught.value.diagnostics.errors[0].location.line == 7


# ----------------------------------------------- one file per error class

EXPECT = re.compile(r"expect: (error|warning) (ACM\d{3}) at (\d+):(\d+)")
UPDATE_DEFECTS = sorted(VERSIONED.glob("acm0*.xml"))


@pytest.mark.parametrize("path", UPDATE_DEFECTS, ids=lambda p: p.stem)
def test_update_defect_file_gives_exactly_its_findings(path: Path) -> None:
    """Each file, taken as an update of v1.xml, gives exactly the findings
    its header states (each compiles on its own: the defect is the update's)."""
    compile_file(str(path))
    found = check_update(read_version_info(str(V1)), read_version_info(str(path)))
    want = sorted(
        (sev, code, int(line), int(col))
        for sev, code, line, col in EXPECT.findall(path.read_text())
    )
    got = sorted((d.severity.value, d.code, d.location.line, d.location.column) for d in found)
    assert got == want, "\n".join(d.format() for d in found)


def test_every_versioned_error_class_has_a_file() -> None:
    codes = {
        code
        for path in [*(DATA / "compiler").glob("acm0[45]*.xml"), *UPDATE_DEFECTS]
        for _, code, _, _ in EXPECT.findall(path.read_text())
    }
    assert {f"ACM0{n}" for n in range(40, 52)} <= codes


# ----------------------------------------------------------- properties

V4_NAMES = st.text(alphabet="abcdefghij._-", min_size=1, max_size=40)


@st.composite
def versioned_binaries(draw: st.DrawFn) -> BinaryPolicy:
    """Any policy the version-4 layout can hold."""
    cw_types = draw(st.integers(1, 6))
    ste_types = draw(st.integers(0, 6))
    vm_ssids = draw(st.integers(1, 6))
    res_ssids = draw(st.integers(0, 4))

    def rows(count: int, types: int) -> tuple[tuple[int, ...], ...]:
        return tuple(
            tuple(sorted(draw(st.sets(st.integers(0, types - 1), max_size=types)))) if types else ()
            for _ in range(count)
        )

    return BinaryPolicy(
        draw(V4_NAMES),
        PolicyCode.CHWALL,
        PolicyCode.STE,
        ChwallPolicy(cw_types, rows(vm_ssids, cw_types), rows(draw(st.integers(0, 3)), cw_types)),
        StePolicy(ste_types, rows(vm_ssids + res_ssids, ste_types)),
        xml_version=(draw(st.integers(0, 0x7FFFFFFF)), draw(st.integers(0, 0x7FFFFFFF))),
        xml_hash=draw(st.binary(min_size=20, max_size=20)),
    )


@settings(max_examples=examples(200))
@given(versioned_binaries())
def test_the_version_4_layout_round_trips(binary: BinaryPolicy) -> None:
    data = binary_bytes(binary)
    assert decode_binary(data) == binary
    assert data[:8] == bytes.fromhex("0001debc00000004")
    assert len(data) % 4 == 0 and int.from_bytes(data[8:12], "big") == len(data)
    # every field the reader checks is named by iter_fields, at its offset
    fields = list(iter_fields(data))
    assert fields[0][:2] == ("policy header", 0)


@settings(max_examples=examples(60))
@given(versioned_policies())
def test_versioned_policies_compile_read_back_and_decompile(spec: VersionedSpec) -> None:
    from acm.analysis.decompile import decompile
    from acm.mapfile import parse_map, render_map
    from acm.source import parse_policy_document

    doc = parse_policy_document(spec.to_xml(), "p.xml")
    assert doc.versioned
    compiled, found = compile_versioned(doc)
    assert not found.has_errors
    data = binary_bytes(compiled.binary)
    assert decode_binary(data) == compiled.binary
    assert parse_map(render_map(compiled.map)) == compiled.map
    assert compiled.map_mismatches() == []
    # ssidref of every VM label is (i << 16) | i, the same SSID in both parts
    assert compiled.map.chwall is not None and compiled.map.ste is not None
    vm_ssids = [e.ssid for e in compiled.map.chwall.labels[1:]]
    assert vm_ssids == [e.ssid for e in compiled.map.ste.labels[1 : len(vm_ssids) + 1]]
    for with_map in (True, False):
        result = decompile(compiled.binary, compiled.map if with_map else None)
        again, _ = compile_versioned(parse_policy_document(result.xml, "back.xml"))
        assert again.binary._replace(xml_hash=compiled.binary.xml_hash) == compiled.binary


@settings(max_examples=examples(60))
@given(valid_policies())
def test_policies_without_version_compile_exactly_as_before(spec: PolicySpec) -> None:
    """The 3.0.4 path: never versioned, the same policy as the 3.0.4 compiler
    run directly, and a version-2 binary."""
    from acm.compiler import compile_document
    from acm.source import parse_policy_document
    from acm.sourcecompiler import compile_policy

    doc = parse_policy_document(spec.to_xml(), "p.xml")
    assert not doc.versioned
    compiled, _ = compile_document(doc)
    direct, _ = compile_policy(doc.source())
    assert compiled == direct
    assert not compiled.binary.versioned
    assert binary_bytes(compiled.binary)[:4] == (2).to_bytes(4, "big")


# ------------------------------------------------------ analyses, decompile


def test_decompile_round_trip_of_a_versioned_policy(tmp_path: Path) -> None:
    from acm.analysis.decompile import decompile_files
    from acm.mapfile import render_map

    compiled, _ = compile_file(str(V2))
    (tmp_path / "p.bin").write_bytes(binary_bytes(compiled.binary))
    (tmp_path / "p.map").write_bytes(render_map(compiled.map))
    result = decompile_files(str(tmp_path / "p.bin"), str(tmp_path / "p.map"))
    text = result.xml.decode()
    assert "<Version>1.1</Version>" in text
    assert "<Name>__UNLABELED__</Name>" in text and "<Name>cashier</Name>" in text
    (tmp_path / "back.xml").write_bytes(result.xml)
    again, _ = compile_file(str(tmp_path / "back.xml"))
    assert again.binary._replace(xml_hash=b"") == compiled.binary._replace(xml_hash=b"")
    assert (again.map.chwall, again.map.ste) == (compiled.map.chwall, compiled.map.ste)


def test_diff_pairs_renamed_labels_and_shows_the_version() -> None:
    from acm.analysis.diff import diff_policies
    from acm.analysis.loader import load_xml

    old, new = load_xml(V1), load_xml(V2)
    diff = diff_policies(old, new)
    assert ("version", "1.0", "1.1") in diff.header
    teller = diff.label("cashier")
    assert teller is not None and teller.status == "renamed" and teller.renamed_from == "teller"
    assert diff.label("teller") is None
    disk = diff.label("portal_disk", LabelKind.RES)
    assert disk is not None and disk.renamed_from == "web_disk" and disk.renumbered
    lines = diff.format()
    assert "  ~ dom teller -> cashier: renamed" in lines
    # without the renames (the other way round) they are a removal and an addition
    back = diff_policies(new, old)
    assert {(d.name, d.status) for d in back.labels} >= {
        ("cashier", "removed"),
        ("teller", "added"),
    }


def test_conflict_set_names_follow_xen34_order_in_analyses(tmp_path: Path) -> None:
    from acm.analysis.loader import load_xml

    _need_xen34()
    policy = load_xml(XEN34 / "g04-multi-conflictsets" / "input.xml")
    assert policy.conflict_set_names == ("Mid", "alpha", "beta", "zeta")
    assert policy.version == (3, 1)
    assert policy.chwall_names(policy.conflict_sets[0]) == ["w1", "w3", "w4"]


@pytest.mark.parametrize(
    "path", sorted((DATA / "compiler").glob("acm0[45]*.xml")), ids=lambda p: p.stem
)
def test_lint_reports_the_versioned_findings(path: Path) -> None:
    from acm.lint import RULES, lint_paths

    want = sorted((code, int(line)) for _, code, line, _ in EXPECT.findall(path.read_text()))
    found = lint_paths([str(path)]).findings
    got = sorted((d.code, d.location.line) for d in found if d.code[:5] in ("ACM04", "ACM05"))
    assert got == want
    assert all(d.code in RULES for d in found)
    # Xen 3.0.4's numbering rules are not applied to a versioned policy
    assert not {"ACM014", "ACM015", "ACM021"} & {d.code for d in found}


def test_lint_of_a_clean_versioned_policy() -> None:
    from acm.lint import lint_paths

    assert [d.code for d in lint_paths([str(V1)]).findings] == []


def test_a_namespace_declared_below_the_root_is_written_where_it_was() -> None:
    from acm.source import parse_policy_document

    text = V1.read_text().replace(
        "<Type>web</Type>\n    </SimpleTypeEnforcementTypes>",
        '<Type xmlns:x="urn:x">web</Type>\n    </SimpleTypeEnforcementTypes>',
    )
    assert 'xmlns:x="urn:x"' in text
    doc = parse_policy_document(text.encode(), "ns.xml")
    written = minidom_text(doc.root, MinidomFlavour.PY26, doc.data)
    assert '<Type xmlns:x="urn:x">web</Type>' in written
    assert written.count("xmlns:x") == 1
    # the quick path (the bytes say no element below the root declares one)
    # and the thorough one agree
    assert minidom_text(doc.root) == written
    plain = parse_policy_document(V1.read_bytes(), "v1.xml")
    assert minidom_text(plain.root, data=plain.data) == minidom_text(plain.root)


_XML_TEXT = st.text(alphabet=st.sampled_from(list("ab \"'<>&\t\n\r]") + ["é"]), max_size=12)


def _xml_escaped(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
    )


@settings(max_examples=examples(150))
@given(_XML_TEXT, _XML_TEXT, _XML_TEXT, st.booleans(), st.booleans())
def test_libxml2_writes_exactly_what_minidom_wrote_or_is_not_used(
    url: str, set_name: str, comment: str, second_attribute: bool, pi: bool
) -> None:
    """The quick path (libxml2's serializer, used when the bytes are given)
    and the element-by-element writer agree on awkward text, attribute
    values, comments, processing instructions and attribute order."""
    from acm.source import parse_policy_document

    text = V1.read_text()
    text = text.replace(
        "<Version>1.0</Version>",
        f"<PolicyUrl>{_xml_escaped(url)}</PolicyUrl><Version>1.0</Version>",
    )
    # an xsi attribute is allowed anywhere; written first, minidom sorts it last
    extra = 'xsi:schemaLocation="a b" ' if second_attribute else ""
    text = text.replace(
        '<Conflict name="money_or_web">', f'<Conflict {extra}name="{_xml_escaped(set_name)}">'
    )
    text = text.replace(
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">',
        '<SecurityPolicyDefinition xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns="http://www.ibm.com">',
    )
    body = comment.replace("-", "").replace("\r", "")
    text = text.replace("<SecurityLabelTemplate>", f"<!--{body}--><SecurityLabelTemplate>")
    if pi:
        text = text.replace("<SecurityLabelTemplate>", "<?keep?><SecurityLabelTemplate>")
    doc = parse_policy_document(text.encode(), "t.xml")
    slow = minidom_text(doc.root)
    assert minidom_text(doc.root, data=doc.data) == slow
    assert ("<?keep ?>" in slow) == pi


def test_every_analysis_reads_a_versioned_policy_from_xml_and_from_its_binary(
    tmp_path: Path,
) -> None:
    """Conflicts, flows, co-running sets and graphs give the same answers for
    the XML and for its compiled `.bin` + `.map`, with Xen 3.4's semantics:
    a VM label without Chinese Wall types still has its (empty) entry and
    can start."""
    from acm.analysis.coexist import check_together, maximal_sets
    from acm.analysis.conflicts import build_conflicts
    from acm.analysis.flows import find_flows
    from acm.analysis.graphs import policy_graph
    from acm.analysis.loader import load_binary, load_xml
    from acm.mapfile import render_map

    compiled, _ = compile_file(str(V2))
    (tmp_path / "p.bin").write_bytes(binary_bytes(compiled.binary))
    (tmp_path / "p.map").write_bytes(render_map(compiled.map))
    answers = []
    for policy in (load_xml(V2), load_binary(tmp_path / "p.bin", tmp_path / "p.map")):
        auditor = policy.find("auditor")
        assert auditor.usable and auditor.chwall == ()
        cg = build_conflicts(policy)
        together = check_together(cg, [policy.find("cashier"), policy.find("portal")])
        sets = maximal_sets(cg)
        flows = find_flows(policy, "cashier", "portal")
        graph = policy_graph(policy, "conflicts")
        answers.append(
            (
                together.can,
                sorted(sorted(lab.name for lab in group) for group in sets.sets),
                [[lab.name for lab in path.labels] for path in flows.paths],
                sorted(graph.graph.nodes),
                policy.version,
            )
        )
        assert not together.can  # money_or_web walls them apart
    assert answers[0] == answers[1]


@st.composite
def mutated_versioned(draw: st.DrawFn) -> bytes:
    """A version-4 `.bin` with one random field, byte, cut or insertion changed."""
    data = bytearray(binary_bytes(draw(versioned_binaries())))
    kind = draw(st.sampled_from(["byte", "cut", "field", "insert"]))
    if kind == "byte":
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    elif kind == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "field":
        fields = list(iter_fields(bytes(data)))
        _, off, _ = draw(st.sampled_from(fields))
        value = draw(st.sampled_from([0, 1, 2, 4, 15, len(data)]) | st.integers(0, 0xFFFFFFFF))
        data[off : off + 4] = value.to_bytes(4, "big")
    else:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=16))
        data[8:12] = len(data).to_bytes(4, "big")
    return bytes(data)


@settings(max_examples=examples(300))
@given(mutated_versioned())
def test_a_mutated_version_4_bin_is_refused_or_is_another_valid_policy(data: bytes) -> None:
    try:
        policy = decode_binary(data, "m.bin")
    except PolicyError as exc:
        assert exc.diagnostics.codes() == ["BIN001"]
        return
    assert binary_bytes(policy) == data


@pytest.mark.parametrize("entry", ["click", "console"])
def test_xm_makepolicy_of_a_versioned_policy(tmp_path: Path, entry: str) -> None:
    """As a user types it: through click and through the console script's
    own fast path, which writes the conflict sets' names beside the pair in
    the `.bin`'s order (Xen 3.4's: by name)."""
    import subprocess
    import sys

    from click.testing import CliRunner

    from acm.mapfile import parse_map, parse_set_names
    from xm_core.cli.commands import xm
    from xm_core.files.paths import POLICIES_REL

    root = tmp_path / "root"
    folder = root / POLICIES_REL / "tests"
    folder.mkdir(parents=True)
    source = V1.read_text().replace(
        """      <Conflict name="money_or_web">""",
        """      <Conflict name="zz"><Type>SystemManagement</Type><Type>web</Type></Conflict>
      <Conflict name="money_or_web">""",
    )
    (folder / "bank-security_policy.xml").write_text(source)
    args = ["--root", str(root), "makepolicy", "tests.bank"]
    if entry == "click":
        result = CliRunner().invoke(xm, args, catch_exceptions=False)
        assert (result.exit_code, result.output) == (0, "")
    else:
        done = subprocess.run(
            [sys.executable, "-c", "from xm_core.cli.launch import main; main()", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    compiled, _ = compile_file(str(folder / "bank-security_policy.xml"))
    written = (folder / "bank.bin").read_bytes()
    assert written == binary_bytes(compiled.binary)
    assert written[:8] == bytes.fromhex("0001debc00000004")
    pmap = parse_map((folder / "bank.map").read_bytes())
    assert (pmap.chwall, pmap.ste) == (compiled.map.chwall, compiled.map.ste)
    side = folder / ".bank.sets"
    assert compiled.binary.chwall is not None
    names = parse_set_names(side.read_bytes(), "tests.bank", compiled.binary.chwall.conflict_sets)
    assert names == ["money_or_web", "zz"]


@settings(max_examples=examples(300))
@given(any_versioned_policies())
def test_the_quick_path_gives_up_exactly_when_the_full_compiler_finds_something(
    spec: VersionedSpec,
) -> None:
    """`compile_versioned_tree` gives the full compiler's policy when that
    finds nothing, and None when it finds anything (or the document holds a
    comment or a byte outside ASCII, which it leaves to the full path)."""
    from acm.source import misc_parents, parse_policy_document
    from acm.versioned.numbering import compile_versioned_source, compile_versioned_tree

    try:
        doc = parse_policy_document(spec.to_xml(), "p.xml")
    except PolicyError:
        return  # schema-invalid (an empty type list, say): never compiled
    xml_hash = bytes(20)
    quick = compile_versioned_tree(doc.root, doc.data, xml_hash)
    full, found = compile_versioned_source(doc.source(), xml_hash)
    if quick is not None:
        assert list(found) == []
        assert quick == full
    elif not misc_parents(doc.root, doc.data) and doc.data.isascii():
        assert list(found) != [], "the quick path gave up on a policy without findings"


def test_the_quick_path_takes_a_clean_policy_and_leaves_findings_to_the_full_one() -> None:
    from acm.source import parse_policy_document
    from acm.versioned.numbering import compile_versioned_source, compile_versioned_tree

    for path in (V1, V2):
        doc = read_policy_document(str(path))
        quick = compile_versioned_tree(doc.root, doc.data, bytes(20))
        assert quick is not None
        assert quick == compile_versioned_source(doc.source(), bytes(20))[0]
    warned = DATA / "compiler" / "acm045_rename_to_itself.xml"
    doc = parse_policy_document(warned.read_bytes(), str(warned))
    assert compile_versioned_tree(doc.root, doc.data, bytes(20)) is None
    assert [d.code for d in compile_versioned(doc)[1]] == ["ACM045"]
