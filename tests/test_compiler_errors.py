"""Every error class of the compiler, each with its own small broken file.

Each file under tests/data/compiler/ names its defect and the findings it
must give in its header comment, one `expect: <severity> <CODE> at
<line>[:<column>]` line per finding (the column is left out where libxml2
decides it). The test asserts exactly those findings, no more, no fewer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acm.binfmt import binary_bytes
from acm.compiler import compile_file
from acm.errors import Diagnostic, PolicyError, Severity
from acm.mapfile import parse_map, render_map
from acm.model import MAX_16BIT
from acm.source import (
    LabelKind,
    LabelSource,
    Named,
    PartSource,
    PolicySource,
    TypeGroup,
    parse_policy_source,
)
from acm.sourcecompiler import compile_source
from tests.conftest import DATA

CASES = DATA / "compiler"
EXPECT = re.compile(r"expect: (error|warning) (ACM\d{3}) at (\d+)(?::(\d+))?")
DEFECT_FILES = sorted(p for p in CASES.glob("*.xml") if p.name != "valid.xml")
FINDING = re.compile(r"^[^:]+:\d+:\d+: (error|warning) ACM\d{3}: \S.*$")


def _expected(path: Path) -> list[tuple[str, str, int, int | None]]:
    found = EXPECT.findall(path.read_text(encoding="utf-8"))
    assert found, f"{path.name} states no expected finding"
    return sorted(
        (sev, code, int(line), int(col) if col else None) for sev, code, line, col in found
    )


def _findings(path: Path) -> tuple[bool, list[Diagnostic]]:
    """(compiled, findings) of compiling `path`."""
    try:
        _, warnings = compile_file(str(path))
    except PolicyError as exc:
        return False, list(exc.diagnostics)
    return True, list(warnings)


def test_the_base_file_compiles_without_a_finding() -> None:
    compiled, found = _findings(CASES / "valid.xml")
    assert compiled
    assert found == []


def test_every_error_class_has_a_file() -> None:
    codes = {code for path in DEFECT_FILES for _, code, _, _ in _expected(path)}
    spec_codes = {"ACM001", "ACM002", "ACM010", "ACM011", "ACM012", "ACM013", "ACM014"}
    spec_codes |= {"ACM016", "ACM019", "ACM023"}  # ACM017 is generated below
    assert spec_codes <= codes


@pytest.mark.parametrize("path", DEFECT_FILES, ids=lambda p: p.stem)
def test_defect_file_gives_exactly_its_findings(path: Path) -> None:
    compiled, found = _findings(path)
    want = _expected(path)
    # Columns are compared only where the file states them (all or none).
    with_columns = any(col is not None for *_, col in want)
    got = sorted(
        (d.severity.value, d.code, d.location.line, d.location.column if with_columns else None)
        for d in found
    )
    assert got == want, "\n".join(d.format() for d in found)
    for d in found:
        assert d.location.file == str(path)
        assert FINDING.match(d.format()), d.format()
    # A file with any error compiles to nothing; warnings alone do not stop it.
    assert compiled == all(sev == "warning" for sev, *_ in want)


def test_several_defects_are_all_reported_in_one_run() -> None:
    compiled, found = _findings(CASES / "several_defects.xml")
    assert not compiled
    codes = [d.code for d in found]
    # One run reports the findings of every check, not just the first.
    assert {"ACM010", "ACM011", "ACM012", "ACM013", "ACM014", "ACM019", "ACM023"} <= set(codes)
    assert len(found) == len(_expected(CASES / "several_defects.xml"))
    lines = [d.location.line for d in found]
    assert lines == sorted(lines), "findings are reported in document order"


def test_a_warning_alone_still_compiles() -> None:
    compiled, found = _findings(CASES / "acm023_type_twice_in_label.xml")
    assert compiled
    assert [(d.code, d.severity) for d in found] == [("ACM023", Severity.WARNING)]


def test_a_lone_type_is_schema_valid_but_not_a_policy() -> None:
    """Both schemas declare Type globally, so the schema takes a lone <Type>;
    the compiler refuses it as a wrong root."""
    from lxml import etree

    from acm.source import _schema

    path = CASES / "acm002_wrong_root.xml"
    assert _schema().validate(etree.parse(str(path)))
    compiled, found = _findings(path)
    assert not compiled
    assert [d.code for d in found] == ["ACM002"]
    assert "root element must be SecurityPolicyDefinition, not Type" in found[0].message


def test_billion_laughs_is_refused_before_the_parser_sees_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not expanded, not even parsed: the prolog check refuses it first."""
    from lxml import etree

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the XML parser was called")

    monkeypatch.setattr(etree, "fromstring", no_parsing)
    compiled, found = _findings(CASES / "acm001_billion_laughs.xml")
    assert not compiled
    assert [d.code for d in found] == ["ACM001"]
    assert "ENTITY" in found[0].message


def test_utf16_doctype_is_refused_too() -> None:
    """The prolog check reads bytes as ASCII; a UTF-16 DOCTYPE is caught after parsing."""
    text = (CASES / "acm001_doctype.xml").read_text(encoding="utf-8")
    data = text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    with pytest.raises(PolicyError) as info:
        parse_policy_source(data, "utf16.xml")
    (d,) = info.value.diagnostics
    assert d.code == "ACM001"
    assert "DOCTYPE" in d.message
    assert d.location.line == 5


GOLDEN = Path(__file__).resolve().parent / "golden"
PLAIN_DOCTYPES = [
    "<!DOCTYPE SecurityPolicyDefinition>",
    "<!DOCTYPE SecurityPolicyDefinition >",
    "<!DOCTYPE\n  SecurityPolicyDefinition\n>",
    "<!DOCTYPE anything_at_all>",  # the schema, not the DOCTYPE, decides the root
]


def _with_doctype(xml: bytes, doctype: str) -> bytes:
    """`xml` with `doctype` right after its XML declaration."""
    head, rest = xml.split(b"?>\n", 1)
    return head + b"?>\n" + doctype.encode() + b"\n" + rest


@pytest.mark.parametrize("doctype", PLAIN_DOCTYPES)
@pytest.mark.parametrize("stem", ["ste_only", "chwall_only", "multi_group", "neither"])
def test_a_plain_doctype_is_accepted_and_changes_no_byte(
    stem: str, doctype: str, tmp_path: Path
) -> None:
    """Xen's compiler compiled such a file; the golden `.bin` and `.map` come out."""
    from acm.source import plain_doctype_line

    xml = (GOLDEN / f"{stem}-security_policy.xml").read_bytes()
    path = tmp_path / f"{stem}-security_policy.xml"
    path.write_bytes(_with_doctype(xml, doctype))
    assert plain_doctype_line(path.read_bytes()) == 2
    compiled, found = compile_file(str(path))
    without = compile_file(str(GOLDEN / f"{stem}-security_policy.xml"))[1]
    assert [d.code for d in found] == [d.code for d in without]  # multi_group warns
    assert binary_bytes(compiled.binary) == (GOLDEN / f"{stem}.bin").read_bytes()
    golden_map = parse_map((GOLDEN / f"{stem}.map").read_bytes())
    files = {"policy_file": golden_map.policy_file, "binary_file": golden_map.binary_file}
    rendered = render_map(compiled.map._replace(**files))
    assert rendered == (GOLDEN / f"{stem}.map").read_bytes()


REFUSED_DOCTYPES = [
    ("<!DOCTYPE SecurityPolicyDefinition []>", "internal subset"),
    ("<!DOCTYPE SecurityPolicyDefinition [ ]>", "internal subset"),
    ('<!DOCTYPE SecurityPolicyDefinition [<!ATTLIST Type a CDATA "x">]>', "internal subset"),
    ('<!DOCTYPE SecurityPolicyDefinition SYSTEM "/etc/passwd">', "external identifier"),
    ('<!DOCTYPE SecurityPolicyDefinition PUBLIC "-//x//y" "a.dtd">', "external identifier"),
    ('<!DOCTYPE SecurityPolicyDefinition [<!ENTITY a "b">]>', "ENTITY"),
]


@pytest.mark.parametrize(("doctype", "says"), REFUSED_DOCTYPES)
def test_a_doctype_that_declares_or_names_something_is_refused_unparsed(
    doctype: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lxml import etree

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the XML parser was called")

    monkeypatch.setattr(etree, "fromstring", no_parsing)
    xml = _with_doctype((CASES / "valid.xml").read_bytes(), doctype)
    with pytest.raises(PolicyError) as info:
        parse_policy_source(xml, "d.xml")
    (d,) = info.value.diagnostics
    assert (d.code, d.location.line, d.location.column) == ("ACM001", 2, 1)
    assert says in d.message


def test_a_plain_utf16_doctype_is_refused() -> None:
    """The prolog check cannot read UTF-16, so it cannot tell a plain DOCTYPE
    there before parsing: refused, as every UTF-16 DOCTYPE."""
    text = (CASES / "valid.xml").read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = _with_doctype(text.encode("utf-8"), PLAIN_DOCTYPES[0]).decode().encode("utf-16")
    with pytest.raises(PolicyError) as info:
        parse_policy_source(data, "utf16.xml")
    (d,) = info.value.diagnostics
    assert d.code == "ACM001"
    # why this one is refused, where a plain DOCTYPE is accepted in UTF-8
    assert "only in UTF-8 (or ASCII); this file is UTF-16" in d.message
    assert "remove the DOCTYPE or save the policy as UTF-8" in d.message


def test_a_plain_utf16_doctype_is_refused_by_makepolicy(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from xm_core.cli.commands import xm

    text = (CASES / "valid.xml").read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = _with_doctype(text.encode("utf-8"), PLAIN_DOCTYPES[0]).decode().encode("utf-16")
    policy = tmp_path / "pol" / "u16-security_policy.xml"
    policy.parent.mkdir()
    policy.write_bytes(data)
    run = CliRunner().invoke(xm, ["makepolicy", "-d", str(policy.parent), "u16"])
    assert run.exit_code == 1
    assert "error ACM001: unsafe XML: a DOCTYPE is checked before parsing" in run.stderr
    assert "this file is UTF-16" in run.stderr and run.stderr.count("\n") == 1


def test_doctype_inside_a_comment_is_not_a_doctype() -> None:
    text = (CASES / "valid.xml").read_text(encoding="utf-8")
    text = text.replace("<!-- The policy", "<!-- <!DOCTYPE x> The policy")
    src = parse_policy_source(text.encode(), "comment.xml")
    assert src.policy_name.text == "tests.valid"


def _many_types_policy(count: int) -> bytes:
    types = "".join(f"<Type>t{i}</Type>" for i in range(count))
    return (
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">\n'
        "<PolicyHeader><PolicyName>many</PolicyName></PolicyHeader>\n"
        f"<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>{types}"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>\n"
        '<SecurityLabelTemplate><SubjectLabels bootstrap="dom0"><VirtualMachineLabel>'
        "<Name>dom0</Name><SimpleTypeEnforcementTypes><Type>t0</Type>"
        "</SimpleTypeEnforcementTypes></VirtualMachineLabel></SubjectLabels>"
        "</SecurityLabelTemplate>\n"
        "</SecurityPolicyDefinition>\n"
    ).encode()


def test_acm017_more_than_65535_types_is_refused() -> None:
    src = parse_policy_source(_many_types_policy(MAX_16BIT + 1), "many.xml")
    result = compile_source(src)
    assert result.policy is None
    assert [(d.code, d.location.line, d.location.column) for d in result.diagnostics] == [
        ("ACM017", 3, 1)
    ]
    assert "65536 types" in result.diagnostics.errors[0].message


def test_acm017_exactly_65535_types_compile() -> None:
    src = parse_policy_source(_many_types_policy(MAX_16BIT), "many.xml")
    result = compile_source(src)
    assert result.policy is not None
    assert result.policy.binary.ste is not None
    assert result.policy.binary.ste.max_types == MAX_16BIT


def _synthetic(types: int, labels: int) -> PolicySource:
    """An STE policy as a source model (no XML, so large counts stay cheap):
    label i has type i modulo the type count; l0 is the bootstrap label."""
    declared = [Named(f"t{i}", 3, "Type") for i in range(types)]
    vms = [
        LabelSource(
            Named(f"l{i}", 4, "Name"), LabelKind.VM, [TypeGroup([declared[i % types]], 4)], [], 4
        )
        for i in range(labels)
    ]
    return PolicySource(
        file="synthetic.xml",
        text=b"",
        policy_name=Named("synthetic", 2, "PolicyName"),
        header={},
        ste=PartSource(declared, None, 3),
        chwall=None,
        bootstrap=Named("l0", 4, "SubjectLabels"),
        vm_labels=vms,
        res_labels=[],
        comments=[],
    )


def test_acm017_more_than_65535_ssids_is_refused() -> None:
    result = compile_source(_synthetic(1, MAX_16BIT))  # + the null entry = 65536
    assert result.policy is None
    assert [(d.code, d.location.line) for d in result.diagnostics] == [("ACM017", 2)]
    assert "65536 SSIDs" in result.diagnostics.errors[0].message


def test_acm017_65535_ssids_compile() -> None:
    result = compile_source(_synthetic(1, MAX_16BIT - 1))
    assert result.policy is not None
    assert result.policy.binary.ste is not None
    assert result.policy.binary.ste.max_ssidrefs == MAX_16BIT


def test_acm017_a_binary_over_4_gib_is_refused() -> None:
    """65535 types x 32770 SSIDs x 2 bytes does not fit the `.bin`'s 32-bit
    length field; the check comes before any matrix is made."""
    result = compile_source(_synthetic(MAX_16BIT, 32769))
    assert result.policy is None
    (d,) = result.diagnostics
    assert d.code == "ACM017"
    assert "loadpolicy and cfgbootpolicy read at most 1073741824 (1 GiB)" in d.message


def test_acm017_a_binary_its_readers_would_refuse_is_refused() -> None:
    """A ~1.2 GB `.bin` fits the 32-bit length, but loadpolicy and
    cfgbootpolicy read at most 1 GiB: makepolicy refuses it first, with
    the reason, instead of writing a file nothing can load."""
    result = compile_source(_synthetic(10000, 60000))
    assert result.policy is None
    (d,) = result.diagnostics
    assert d.code == "ACM017"
    assert d.message == (
        "the binary policy would be 1200020068 bytes; loadpolicy and cfgbootpolicy "
        "read at most 1073741824 (1 GiB)"
    )


def test_acm017_a_binary_of_hundreds_of_mb_within_the_limit_compiles() -> None:
    """60,000 labels with 2,300 STE types make a 276 MB `.bin`: over the
    former limit of 256 MiB, which refused the scaling benchmark's 60,000
    labels with fixed type counts (270 MB); compiled now."""
    result = compile_source(_synthetic(2300, 60000))
    assert result.policy is not None
    assert result.policy.binary.ste is not None
    assert result.policy.binary.ste.max_ssidrefs == 60001


def test_repeats_on_one_line_each_get_their_own_column() -> None:
    text = (CASES / "valid.xml").read_text(encoding="utf-8")
    line = "      <Type>ste_a</Type><Type>ste_a</Type><Type>ste_a</Type>\n"
    text = text.replace("      <Type>ste_a</Type>\n", line)
    result = compile_source(parse_policy_source(text.encode(), "t.xml"))
    found = [(d.code, d.location.line, d.location.column) for d in result.diagnostics]
    assert found == [("ACM010", 10, 25), ("ACM010", 10, 43)]


def test_acm017_oversize_found_by_the_one_pass_as_by_the_full_compiler() -> None:
    """`compile_document_result` (lint's way to the compiler's findings
    without the source model) says of a `.bin` over 1 GiB exactly what
    the full compiler says: 65535 types x 8200 SSIDs x 2 bytes."""
    from acm.compiler import compile_document_result
    from acm.source import parse_policy_document

    types = "".join(f"<Type>t{i}</Type>" for i in range(MAX_16BIT))
    labels = "\n".join(
        f"<VirtualMachineLabel><Name>l{i}</Name><SimpleTypeEnforcementTypes><Type>t{i}</Type>"
        "</SimpleTypeEnforcementTypes></VirtualMachineLabel>"
        for i in range(8199)
    )
    xml = (
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">\n'
        "<PolicyHeader>\n  <PolicyName>big</PolicyName></PolicyHeader>\n"
        f"<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>{types}"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>\n"
        f'<SecurityLabelTemplate><SubjectLabels bootstrap="l0">\n{labels}\n'
        "</SubjectLabels></SecurityLabelTemplate></SecurityPolicyDefinition>\n"
    ).encode()
    doc = parse_policy_document(xml, "big.xml")
    fast = compile_document_result(doc)
    assert fast is not None and fast.policy is None
    full = compile_source(doc.source())
    assert list(fast.diagnostics) == list(full.diagnostics)
    assert [(d.code, d.location.line, d.location.column) for d in fast.diagnostics] == [
        ("ACM017", 3, 3)
    ]
