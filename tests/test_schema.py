"""Hardened parsing and the project's own schema (no Xen files needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from lxml import etree

from acm.errors import PolicyError
from acm.source import _PARSER_OPTIONS, parse_policy_source, schema_path
from tests.conftest import DATA, EXAMPLE_XML, REPO

GOLDEN = Path(__file__).resolve().parent / "golden"
VALID = (DATA / "compiler" / "valid.xml").read_text(encoding="utf-8")


def _codes(data: bytes) -> list[str]:
    try:
        parse_policy_source(data, "t.xml")
    except PolicyError as exc:
        return [d.code for d in exc.diagnostics]
    return []


def test_the_schema_ships_inside_the_package() -> None:
    shipped = resources.files("acm").joinpath("schema/security_policy.xsd")
    assert shipped.is_file()
    assert Path(schema_path()).read_bytes() == shipped.read_bytes()
    assert Path(schema_path()).resolve().is_relative_to((REPO / "acm").resolve())


@pytest.mark.parametrize(
    "path",
    [EXAMPLE_XML, *sorted(GOLDEN.glob("*.xml"))],
    ids=lambda p: p.name,
)
def test_our_policies_are_schema_valid(path: Path) -> None:
    assert _codes(path.read_bytes()) == []


def _utf16_with_dtd(system_id: str) -> bytes:
    """A UTF-16 policy naming an external DTD: the byte-level prolog check
    cannot read it, so this reaches libxml2."""
    doctype = f'<!DOCTYPE SecurityPolicyDefinition SYSTEM "{system_id}">\n'
    text = VALID.replace('encoding="UTF-8"', 'encoding="UTF-16"').replace(
        "<SecurityPolicyDefinition xmlns", doctype + "<SecurityPolicyDefinition xmlns"
    )
    return text.encode("utf-16")


def test_the_parser_never_loads_an_external_dtd(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY x "expanded">\n')
    data = _utf16_with_dtd(dtd.as_uri())
    tree = etree.ElementTree(etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS)))
    assert tree.docinfo.externalDTD is None
    codes = _codes(data)
    assert codes == ["ACM001"]


def test_an_external_dtd_that_is_a_fifo_does_not_hang_the_compiler(tmp_path: Path) -> None:
    """libxml2 opening the DTD would block on the FIFO forever; it must not open it."""
    fifo = tmp_path / "dtd.fifo"
    os.mkfifo(fifo)
    policy = tmp_path / "p.xml"
    policy.write_bytes(_utf16_with_dtd(str(fifo)))
    code = (
        "import sys\n"
        "from acm.errors import PolicyError\n"
        "from acm.source import read_policy_source\n"
        "try:\n"
        "    read_policy_source(sys.argv[1])\n"
        "except PolicyError as exc:\n"
        "    print(exc.diagnostics.codes())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(policy)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.stdout.strip() == "['ACM001']", proc.stderr


def test_no_network_no_xinclude() -> None:
    """xsi:schemaLocation is not fetched and XInclude is not processed:
    the include is an element the schema does not know."""
    text = VALID.replace(
        "<PolicyHeader>",
        '<PolicyHeader xmlns:xi="http://www.w3.org/2001/XInclude">'
        '<xi:include href="http://127.0.0.1:9/x.xml"/>',
    )
    assert _codes(text.encode()) == ["ACM002"]
    located = VALID.replace(
        'xmlns="http://www.ibm.com">',
        'xmlns="http://www.ibm.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.ibm.com http://127.0.0.1:9/evil.xsd">',
    )
    assert _codes(located.encode()) == []


def test_names_and_types_are_taken_exactly_as_written() -> None:
    """No trimming; comments inside a name are skipped, CDATA and
    character references are part of it (as libxml2 gave them to Xen)."""
    text = VALID.replace("<Name>dom_a</Name>", "<Name> dom<!-- c -->_a<![CDATA[&x]]>&#x41; </Name>")
    src = parse_policy_source(text.encode(), "t.xml")
    assert [label.name.text for label in src.vm_labels] == ["dom0", " dom_a&xA "]


def test_schema_errors_all_reported_with_lines() -> None:
    text = VALID.replace("  <ChineseWall>", '  <ChineseWall priority="x">').replace(
        "<Name>res_a</Name>", "<Name>res_a</Name><Bogus/>"
    )
    with pytest.raises(PolicyError) as info:
        parse_policy_source(text.encode(), "t.xml")
    found = [(d.code, d.location.line) for d in info.value.diagnostics]
    assert found == [("ACM002", 13), ("ACM002", 41)]


def test_text_instead_of_bytes_is_read_as_utf8() -> None:
    src = parse_policy_source(VALID, "t.xml")  # type: ignore[arg-type]
    assert src.policy_name.text == "tests.valid"


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"\xff\xfe\x00", b"<", b"<?xml version='1.0'?>", b"\x00" * 10, b"<a>" * 3],
    ids=["empty", "blank", "bad-bom", "lt", "decl-only", "nul", "unclosed"],
)
def test_garbage_is_acm001_never_a_traceback(data: bytes) -> None:
    assert _codes(data) == ["ACM001"]
