"""Versioned policies (Xen 3.4's format): Xen 3.4's vectors byte for byte,
the life facts a policy states (acm.versioned.info) and the update checks
(acm.versioned.checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acm.binfmt import binary_bytes, decode_binary
from acm.compiler import compile_file
from acm.errors import Location, PolicyError
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
