"""Lint's form of a policy: read from the tree in one pass, or from what the
compiler's one pass read, it is the form made from the full source model
(names and types as written, lines)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from acm.compiler import TreeLabels, compile_document_result
from acm.lint.model import LabelTable, from_compiled, from_document, from_source
from acm.source import parse_policy_document

_NAMES = st.sampled_from(["a", "b", "", " b ", "é", "a&amp;b", "x<!--c-->y", "<![CDATA[q]]>"])


def _group(tag: str, types: list[str], comment: bool) -> str:
    inner = "".join(f"<Type>{t}</Type>" for t in types)
    return f"<{tag}>{'<!-- c -->' if comment else ''}{inner}</{tag}>"


@st.composite
def policies(draw: st.DrawFn) -> bytes:
    labels = []
    for kind in ("VirtualMachineLabel", "ResourceLabel"):
        part = []
        for _ in range(draw(st.integers(1, 4))):
            name = draw(_NAMES)
            groups = ""
            for tag in ("SimpleTypeEnforcementTypes", "ChineseWallTypes"):
                if kind == "ResourceLabel" and tag == "ChineseWallTypes":
                    continue
                for _ in range(draw(st.integers(0, 2))):
                    types = draw(st.lists(_NAMES, min_size=1, max_size=3))
                    groups += _group(tag, types, draw(st.booleans()))
                    groups += draw(st.sampled_from(["", "\n", "\n  "]))
            part.append(f"<{kind}><Name>{name}</Name>{groups}</{kind}>")
        sep = draw(st.sampled_from(["", "\n"]))
        labels.append(sep.join(part))
    vms, res = labels
    return (
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        "<PolicyHeader><PolicyName>p</PolicyName></PolicyHeader>"
        "<SimpleTypeEnforcement><SimpleTypeEnforcementTypes><Type>a</Type>"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>"
        "<SecurityLabelTemplate>\n"
        f'<SubjectLabels bootstrap="a">{vms}</SubjectLabels>\n'
        + (f"<ObjectLabels>{res}</ObjectLabels>" if res else "")
        + "</SecurityLabelTemplate></SecurityPolicyDefinition>"
    ).encode()


@settings(max_examples=200, deadline=None)
@given(policies())
def test_one_pass_reads_what_the_source_model_reads(data: bytes) -> None:
    doc = parse_policy_document(data, "p-security_policy.xml")
    assert from_document(doc).labels == from_source(doc.source()).labels


_DECLARED = ["a", "b", "c", "d"]


@st.composite
def compilable_policies(draw: st.DrawFn) -> bytes:
    """Policies the compiler's one pass takes without a finding: declared
    types, each once in a group; several groups, comments and line breaks."""

    def groups(tag: str) -> str:
        found = ""
        for _ in range(draw(st.integers(1, 2))):
            types = draw(st.lists(st.sampled_from(_DECLARED), min_size=1, max_size=4, unique=True))
            found += _group(tag, types, draw(st.booleans()))
            found += draw(st.sampled_from(["", "\n", "\n  "]))
        return found

    labels = []
    for kind in ("VirtualMachineLabel", "ResourceLabel"):
        part = []
        for number in range(draw(st.integers(1, 4))):
            name = "boot" if kind == "VirtualMachineLabel" and number == 0 else f"n{number}"
            with_ste = number == 0 or draw(st.booleans())
            inner = groups("SimpleTypeEnforcementTypes") if with_ste else ""
            if kind == "VirtualMachineLabel" and (number == 0 or draw(st.booleans())):
                inner += groups("ChineseWallTypes")
            part.append(f"<{kind}><Name>{name}</Name>{inner}</{kind}>")
        labels.append(draw(st.sampled_from(["", "\n"])).join(part))
    vms, res = labels
    declared = "".join(f"<Type>{t}</Type>" for t in _DECLARED)
    return (
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        "<PolicyHeader><PolicyName>p</PolicyName></PolicyHeader>\n"
        f"<SimpleTypeEnforcement><SimpleTypeEnforcementTypes>{declared}"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>\n"
        f"<ChineseWall><ChineseWallTypes>{declared}</ChineseWallTypes></ChineseWall>\n"
        "<SecurityLabelTemplate>\n"
        f'<SubjectLabels bootstrap="boot">{vms}</SubjectLabels>\n'
        f"<ObjectLabels>{res}</ObjectLabels>"
        "</SecurityLabelTemplate></SecurityPolicyDefinition>"
    ).encode()


def _as_sets(table: LabelTable) -> tuple[object, ...]:
    return (
        table.names,
        table.lines,
        [sorted(types) for types in table.ste],
        [sorted(types) for types in table.cw],
        table.ste_groups,
        table.cw_groups,
        table.vm_count,
    )


@settings(max_examples=200, deadline=None)
@given(compilable_policies())
def test_the_compilers_pass_reads_what_the_source_model_reads(data: bytes) -> None:
    doc = parse_policy_document(data, "p-security_policy.xml")
    seen = TreeLabels()
    assert compile_document_result(doc, seen) is not None
    from_pass = from_compiled(doc, seen).labels
    full = from_source(doc.source()).labels
    assert _as_sets(from_pass) == _as_sets(full)
    # the compiler's numbers are the declaration's, each type once
    assert from_pass.ste_numbers == [
        tuple(sorted({_DECLARED.index(t) for t in types})) for types in full.ste
    ]


def test_many_labels_are_placed_as_each_alone() -> None:
    # enough labels for the one search of the document; some share a line
    label = (
        "<VirtualMachineLabel><Name>{}</Name><SimpleTypeEnforcementTypes><Type>a</Type>"
        "</SimpleTypeEnforcementTypes></VirtualMachineLabel>"
    )
    vms = "".join(label.format(f"v{i}") + ("\n" if i % 3 else "") for i in range(300))
    data = (
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">'
        "<PolicyHeader><PolicyName>p</PolicyName></PolicyHeader>\n"
        "<SimpleTypeEnforcement><SimpleTypeEnforcementTypes><Type>a</Type>"
        "</SimpleTypeEnforcementTypes></SimpleTypeEnforcement>\n"
        f'<SecurityLabelTemplate><SubjectLabels bootstrap="v0">\n{vms}</SubjectLabels>'
        "</SecurityLabelTemplate></SecurityPolicyDefinition>"
    ).encode()
    policy = from_source(parse_policy_document(data, "p-security_policy.xml").source())
    every = list(range(300))
    places = policy.labels_at(every)
    assert places == [policy.label_at(i) for i in every]
    # first on its line, or second after a label named with 1, 2 or 3 digits
    assert {place.column for place in places} == {22, 151, 152, 153}
