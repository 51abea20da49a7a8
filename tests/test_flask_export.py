"""The FLASK export without a build: names, the mapping table, the report's
places, `__UNLABELED__`, and what the module text may hold."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings

from acm.analysis.loader import load_xml
from acm.flask import export_flask, load_for_export
from acm.flask.naming import Namer, module_name
from tests.conftest import EXAMPLE_XML, SHARED
from tests.policygen import PolicySpec, examples, valid_policies

G03 = SHARED / "ref" / "xen-3.4" / "g03-unlabeled" / "input.xml"
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def test_names_that_mangle_alike_stay_apart() -> None:
    namer = Namer()
    first = namer.ident("acm_vm_", "a-b", "_t")
    second = namer.ident("acm_vm_", "a.b", "_t")
    third = namer.ident("acm_vm_", "a_b_2", "_t")
    assert (first, second) == ("acm_vm_a_b_t", "acm_vm_a_b_2_t")
    assert third not in (first, second)
    assert namer.ident("acm_vm_", "a-b", "_t") == first  # the same name, the same identifier
    assert namer.ident("acm_ste_", "a-b") == "acm_ste_a_b"


def test_module_name_is_what_xens_makefile_reads() -> None:
    assert module_name("example.chwall_ste.client_v1") == "acm_example_chwall_ste_client_v1"
    assert module_name("Big-Policy") == "acm_big_policy"


def test_each_label_is_reported_at_its_name() -> None:
    export = export_flask(*load_for_export(EXAMPLE_XML))
    lines = EXAMPLE_XML.read_text().splitlines()
    for vm in export.plan.vms:
        item = next(r for r in export.report if r.element == f"VM label '{vm.label.name}'")
        line = int(item.location.rsplit(":", 1)[1])
        assert f"<Name>{vm.label.name}</Name>" in lines[line - 1]


def test_a_compiled_policy_is_reported_by_file(tmp_path: object) -> None:
    policy = load_xml(EXAMPLE_XML)
    export = export_flask(policy)  # no source: places are the file alone
    assert {r.location for r in export.report} == {str(EXAMPLE_XML)}


def test_unlabeled_maps_to_xens_default_domain_label() -> None:
    if not G03.exists():
        pytest.skip("../shared/ref/xen-3.4 is not beside this checkout")
    export = export_flask(*load_for_export(G03))
    assert export.seclabels["__UNLABELED__"] == "system_u:system_r:domU_t"
    [item] = [r for r in export.report if r.element == "VM label '__UNLABELED__'"]
    assert item.status.value == "approximate" and item.location.startswith(f"{G03}:")
    assert "domU_t" not in re.findall(r"declare_domain_common\((\w+)", export.module)


@settings(max_examples=examples(40), deadline=None)
@given(spec=valid_policies())
def test_the_module_holds_identifiers_only(spec: PolicySpec) -> None:
    """Whatever the names, m4 and checkpolicy see only ASCII identifiers:
    no quote, no comment character, no name of ours twice."""
    from acm.analysis.loader import from_compiled
    from acm.compiler import compile_document
    from acm.source import parse_policy_document

    compiled, _ = compile_document(parse_policy_document(spec.to_xml(), "p.xml"))
    export = export_flask(from_compiled(compiled, None, "p.xml"))
    body = "\n".join(line for line in export.module.splitlines() if not line.startswith("#"))
    assert body.isascii() and not set("`'\"#$") & set(body)
    types = [m.flask for m in export.mapping if m.kind in ("vm", "res")]
    assert all(IDENT.fullmatch(t) for t in types)
    declared = re.findall(r"declare_domain_common\((\w+)", body)
    assert len(declared) == len(set(declared))
    vm_types = [m.flask for m in export.mapping if m.kind == "vm" and m.flask != "domU_t"]
    assert sorted(declared) == sorted(vm_types)
