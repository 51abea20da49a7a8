"""Lint's form of a policy: read from the tree in one pass, it is the form
made from the full source model (names and types as written, lines)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from acm.lint.model import from_document, from_source
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
