"""Our schema accepts and refuses exactly the documents Xen 3.0.4's schema does.

Checked with both engines (libxml2 through lxml, and xmlschema) over a corpus
of valid and broken documents, every one-step mutation of a small policy,
and random element trees over the policy vocabulary. Xen's schema is read
from ../shared at test time (never copied); without it these tests skip.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from lxml import etree

from acm.source import NS, schema_path
from tests.conftest import DATA, EXAMPLE_XML, need_shared
from tests.policygen import examples

GOLDEN = Path(__file__).resolve().parent / "golden"
Q = "{" + NS + "}"

Verdict = Callable[[etree._ElementTree], bool]


class Engines:
    """Both schemas under both engines."""

    def __init__(self, xen_xsd: Path) -> None:
        import xmlschema

        self.lxml_ours = etree.XMLSchema(etree.parse(schema_path()))
        self.lxml_xen = etree.XMLSchema(etree.parse(str(xen_xsd)))
        self.xs_ours = xmlschema.XMLSchema(schema_path())
        self.xs_xen = xmlschema.XMLSchema(str(xen_xsd))

    def verdicts(self, tree: etree._ElementTree) -> dict[str, bool]:
        return {
            "libxml2 ours": self.lxml_ours.validate(tree),
            "libxml2 xen": self.lxml_xen.validate(tree),
            "xmlschema ours": self.xs_ours.is_valid(tree, use_location_hints=False),
            "xmlschema xen": self.xs_xen.is_valid(tree, use_location_hints=False),
        }

    def assert_same(self, tree: etree._ElementTree) -> bool:
        v = self.verdicts(tree)
        doc = etree.tostring(tree, encoding="unicode")
        assert v["libxml2 ours"] == v["libxml2 xen"], doc
        assert v["xmlschema ours"] == v["xmlschema xen"], doc
        # The engines agree with each other too, so neither pair agrees vacuously.
        assert v["libxml2 ours"] == v["xmlschema ours"], doc
        return v["libxml2 ours"]


@pytest.fixture(scope="module")
def engines() -> Engines:
    return Engines(need_shared() / "policies" / "security_policy.xsd")


def _parse(path: Path) -> etree._ElementTree | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.parse(str(path), parser)
    except etree.XMLSyntaxError:
        return None


def _corpus() -> list[Path]:
    """Our policies and broken files, less those that never reach the schema
    (not well-formed, or with a DOCTYPE the compiler refuses first)."""
    files = [EXAMPLE_XML, *sorted(GOLDEN.glob("*.xml")), *sorted((DATA / "compiler").glob("*.xml"))]
    return [p for p in files if (t := _parse(p)) is not None and not t.docinfo.doctype]


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_same_verdict_on_the_corpus(engines: Engines, path: Path) -> None:
    tree = _parse(path)
    assert tree is not None
    engines.assert_same(tree)


def test_same_verdict_on_xens_own_policies(engines: Engines) -> None:
    policies = sorted((need_shared() / "policies").rglob("*.xml"))
    assert policies
    for path in policies:
        tree = _parse(path)
        assert tree is not None
        assert engines.assert_same(tree), f"{path} is valid for Xen"


def test_the_corpus_holds_both_verdicts(engines: Engines) -> None:
    trees = [t for p in _corpus() if (t := _parse(p)) is not None]
    verdicts = [engines.assert_same(t) for t in trees]
    assert True in verdicts and False in verdicts


# ---------------------------------------------------------------- mutations

VOCABULARY = [
    "SecurityPolicyDefinition",
    "PolicyHeader",
    "PolicyName",
    "PolicyUrl",
    "Reference",
    "Date",
    "NameSpaceUrl",
    "SimpleTypeEnforcement",
    "SimpleTypeEnforcementTypes",
    "ChineseWall",
    "ChineseWallTypes",
    "ConflictSets",
    "Conflict",
    "SecurityLabelTemplate",
    "SubjectLabels",
    "ObjectLabels",
    "VirtualMachineLabel",
    "ResourceLabel",
    "Name",
    "Type",
]


def _mutations(tree: etree._ElementTree) -> Iterator[etree._ElementTree]:
    """Every one-step change of every element of `tree`."""
    count = sum(1 for _ in tree.getroot().iter(etree.Element))

    def nth(t: etree._ElementTree, i: int) -> etree._Element:
        return list(t.getroot().iter(etree.Element))[i]

    edits: list[Callable[[etree._Element], Any]] = [
        lambda el: el.getparent().remove(el) if el.getparent() is not None else None,
        lambda el: el.addnext(copy.deepcopy(el)) if el.getparent() is not None else None,
        lambda el: el.addnext(el.getprevious()) if el.getprevious() is not None else None,
        lambda el: el.set("unknown", "1"),
        lambda el: el.set("priority", "PrimaryPolicyComponent"),
        lambda el: el.set("priority", "Secondary"),
        lambda el: el.set("bootstrap", "dom0"),
        lambda el: el.set("name", "n"),
        lambda el: setattr(el, "text", "stray"),
        lambda el: el.insert(0, etree.Element(Q + "Type")),
        lambda el: el.append(etree.Element(Q + "Name")),
        lambda el: setattr(el, "tag", "nonamespace"),
    ]
    for i in range(count):
        for edit in edits:
            t = copy.deepcopy(tree)
            edit(nth(t, i))
            yield t
        for name in ("Type", "Name", "Conflict", "SubjectLabels", "PolicyUrl"):
            t = copy.deepcopy(tree)
            nth(t, i).tag = Q + name
            yield t


@pytest.mark.slow
def test_same_verdict_on_every_one_step_mutation(engines: Engines) -> None:
    base = _parse(DATA / "compiler" / "valid.xml")
    assert base is not None
    verdicts = [engines.assert_same(t) for t in _mutations(base)]
    assert len(verdicts) > 500
    assert True in verdicts and False in verdicts


# ---------------------------------------------------------------- random trees

# What each element may hold, in order, as (child, optional, repeats); used to
# make generated trees often valid, before random damage is done to them.
GRAMMAR: dict[str, list[tuple[str, bool, bool]]] = {
    "SecurityPolicyDefinition": [
        ("PolicyHeader", False, False),
        ("SimpleTypeEnforcement", True, False),
        ("ChineseWall", True, False),
        ("SecurityLabelTemplate", False, False),
    ],
    "PolicyHeader": [
        ("PolicyName", False, False),
        ("PolicyUrl", True, False),
        ("Reference", True, False),
        ("Date", True, False),
        ("NameSpaceUrl", True, False),
    ],
    "SimpleTypeEnforcement": [("SimpleTypeEnforcementTypes", False, False)],
    "ChineseWall": [("ChineseWallTypes", False, False), ("ConflictSets", True, False)],
    "SimpleTypeEnforcementTypes": [("Type", False, True)],
    "ChineseWallTypes": [("Type", False, True)],
    "ConflictSets": [("Conflict", False, True)],
    "Conflict": [("Type", False, True)],
    "SecurityLabelTemplate": [("SubjectLabels", True, False), ("ObjectLabels", True, False)],
    "SubjectLabels": [("VirtualMachineLabel", False, True)],
    "ObjectLabels": [("ResourceLabel", False, True)],
    "VirtualMachineLabel": [
        ("Name", False, False),
        ("SimpleTypeEnforcementTypes", True, True),
        ("ChineseWallTypes", True, True),
    ],
    "ResourceLabel": [("Name", False, False), ("SimpleTypeEnforcementTypes", True, True)],
}
LEAVES = ("PolicyName", "PolicyUrl", "Reference", "Date", "NameSpaceUrl", "Name", "Type")
leaf_texts = st.sampled_from(["dom0", "", "t", " x ", "PrimaryPolicyComponent"])


@st.composite
def pristine(draw: st.DrawFn, tag: str) -> etree._Element:
    """An element as the grammar has it (valid, when `tag` is the root)."""
    el = etree.Element(Q + tag)
    if tag in LEAVES:
        el.text = draw(leaf_texts)
        return el
    if tag in ("SimpleTypeEnforcement", "ChineseWall") and draw(st.booleans()):
        el.set("priority", "PrimaryPolicyComponent")
    if tag == "SubjectLabels":
        el.set("bootstrap", draw(leaf_texts))
    if tag == "Conflict" and draw(st.booleans()):
        el.set("name", draw(leaf_texts))
    for child, optional, repeats in GRAMMAR[tag]:
        for _ in range(draw(st.integers(0 if optional else 1, 2 if repeats else 1))):
            el.append(draw(pristine(child)))
    return el


def _damage(el: etree._Element, op: str, name: str, value: str) -> None:
    """One change to one element (`name` for a tag, `value` for text or an attribute)."""
    parent = el.getparent()
    if op == "drop" and parent is not None:
        parent.remove(el)
    elif op == "duplicate" and parent is not None:
        el.addnext(copy.deepcopy(el))
    elif op == "swap" and el.getprevious() is not None:
        el.addnext(el.getprevious())
    elif op == "rename":
        el.tag = Q + name
    elif op == "no-namespace":
        el.tag = etree.QName(el).localname
    elif op == "insert-child":
        el.insert(len(el) // 2, etree.Element(Q + name))
    elif op == "text":
        el.text = value
    else:
        el.set(op, value)


OPS = ["drop", "duplicate", "swap", "rename", "no-namespace", "insert-child", "text"]
OPS += ["priority", "bootstrap", "name", "other"]
NAMES = st.sampled_from([*VOCABULARY, "Bogus"])
VALUES = st.sampled_from(["PrimaryPolicyComponent", "Primary", "", "x", " \n "])


@st.composite
def documents(draw: st.DrawFn) -> etree._ElementTree:
    """A valid policy tree, then zero to three random changes, and sometimes
    one of its elements (any of them) as the root of the document."""
    root = draw(pristine("SecurityPolicyDefinition"))
    for _ in range(draw(st.integers(0, 3))):
        elements = list(root.iter(etree.Element))
        target = elements[draw(st.integers(0, len(elements) - 1))]
        _damage(target, draw(st.sampled_from(OPS)), draw(NAMES), draw(VALUES))
    if draw(st.integers(0, 5)) == 0:
        elements = list(root.iter(etree.Element))
        root = copy.deepcopy(elements[draw(st.integers(0, len(elements) - 1))])
    return etree.ElementTree(root)


@settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(documents())
def test_same_verdict_on_random_trees(engines: Engines, tree: etree._ElementTree) -> None:
    engines.assert_same(tree)


def test_random_trees_reach_both_verdicts(engines: Engines) -> None:
    """The generator is not trivially one-sided: it finds valid and invalid trees,
    including a valid one with labels of both kinds."""
    settings_ = settings(max_examples=2000, database=None, deadline=None)

    def valid_with_labels(t: etree._ElementTree) -> bool:
        return bool(
            engines.lxml_xen.validate(t)
            and t.find(f".//{Q}VirtualMachineLabel") is not None
            and t.find(f".//{Q}ResourceLabel") is not None
        )

    assert valid_with_labels(find(documents(), valid_with_labels, settings=settings_))
    assert not engines.lxml_xen.validate(
        find(documents(), lambda t: not engines.lxml_xen.validate(t), settings=settings_)
    )
