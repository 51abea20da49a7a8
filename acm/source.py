"""The XML source of a policy: hardened parsing, schema validation and a
light source model that remembers where everything was written.

Parsing never loads a DTD, expands an entity or touches the network; a
document with a DOCTYPE is refused outright (ACM001). Schema errors are all
reported (ACM002), each with its line. The source model keeps names exactly
as written (no trimming) together with their line; columns are worked out
only when a finding needs one, so that large policies stay cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

from acm.errors import Diagnostics, Location, PolicyError

if TYPE_CHECKING:
    from lxml import etree

NS = "http://www.ibm.com"
_Q = "{" + NS + "}"
T_ROOT = _Q + "SecurityPolicyDefinition"
T_HEADER = _Q + "PolicyHeader"
T_POLICY_NAME = _Q + "PolicyName"
T_STE = _Q + "SimpleTypeEnforcement"
T_CHWALL = _Q + "ChineseWall"
T_STE_TYPES = _Q + "SimpleTypeEnforcementTypes"
T_CHWALL_TYPES = _Q + "ChineseWallTypes"
T_CONFLICT_SETS = _Q + "ConflictSets"
T_CONFLICT = _Q + "Conflict"
T_TEMPLATE = _Q + "SecurityLabelTemplate"
T_SUBJECTS = _Q + "SubjectLabels"
T_OBJECTS = _Q + "ObjectLabels"
T_VM = _Q + "VirtualMachineLabel"
T_RES = _Q + "ResourceLabel"
T_NAME = _Q + "Name"
T_TYPE = _Q + "Type"

HEADER_FIELDS = ("PolicyUrl", "Reference", "Date", "NameSpaceUrl")

# A lxml parser that can do no harm: no DTD, no entities, no network.
_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    remove_blank_text=False,
    remove_comments=False,
    collect_ids=False,
    huge_tree=True,  # large generated policies are legitimate; entities are off anyway
)


class LabelKind(StrEnum):
    VM = "VM"
    RES = "RES"
    ANY = "ANY"


class Named(NamedTuple):
    """A `Name`, `Type` or `PolicyName` as written, and the line it is on."""

    text: str
    line: int
    tag: str  # local tag name, used to find the column when one is needed


@dataclass
class TypeGroup:
    """One `SimpleTypeEnforcementTypes` or `ChineseWallTypes` element of a label."""

    types: list[Named]
    line: int


@dataclass
class LabelSource:
    name: Named
    kind: LabelKind
    ste_groups: list[TypeGroup]
    chwall_groups: list[TypeGroup]
    line: int


@dataclass
class ConflictSetSource:
    name: str | None
    types: list[Named]
    line: int


@dataclass
class PartSource:
    """The STE or Chinese Wall part: its declared types (and conflict sets)."""

    types: list[Named]
    priority: str | None
    line: int
    conflict_sets: list[ConflictSetSource] = field(default_factory=list)


@dataclass
class PolicySource:
    file: str
    text: bytes
    policy_name: Named
    header: dict[str, str]
    ste: PartSource | None
    chwall: PartSource | None
    bootstrap: Named | None
    vm_labels: list[LabelSource]
    res_labels: list[LabelSource]
    comments: list[tuple[str, int]]  # (text, line) of every comment, for lint suppressions

    @property
    def labels(self) -> list[LabelSource]:
        return self.vm_labels + self.res_labels

    def locate(self, line: int, tag: str = "", text: str | None = None, nth: int = 0) -> Location:
        """A Location for something on `line`, with the column of the `nth` start
        tag `<tag` there (whose text starts with `text`, when given)."""
        return Location(self.file, line, _column(self.text, line, tag, text, nth))

    def at(self, named: Named, nth: int = 0) -> Location:
        return self.locate(named.line, named.tag, named.text, nth)


@cache
def _line_offsets(text: bytes) -> list[int]:
    offsets = [0]
    find = text.find
    pos = find(b"\n")
    while pos >= 0:
        offsets.append(pos + 1)
        pos = find(b"\n", pos + 1)
    return offsets


def _column(text: bytes, line: int, tag: str, content: str | None, nth: int) -> int:
    if line <= 0 or not tag:
        return 0
    offsets = _line_offsets(text)
    if line > len(offsets):
        return 0
    start = offsets[line - 1]
    end = offsets[line] if line < len(offsets) else len(text)
    raw = text[start:end].decode("utf-8", "replace")
    pattern = re.compile(r"<(?:\w+:)?" + re.escape(tag) + r"[\s>/]")
    hits = []
    for m in pattern.finditer(raw):
        if content is not None:
            after = raw[m.end() :]
            if not after.startswith(content[:20]) and not content.startswith(
                after[:20].split("<")[0]
            ):
                continue
        hits.append(m.start())
    if not hits:
        m = pattern.search(raw)
        return m.start() + 1 if m else 1
    return hits[min(nth, len(hits) - 1)] + 1


@cache
def _schema() -> etree.XMLSchema:
    from lxml import etree

    with resources.files("acm").joinpath("schema/security_policy.xsd").open("rb") as f:
        return etree.XMLSchema(etree.parse(f))


def schema_path() -> str:
    return str(resources.files("acm").joinpath("schema/security_policy.xsd"))


def parse_document(data: bytes, file: str) -> etree._ElementTree:
    """Parse hardened; refuse a DOCTYPE. Raises PolicyError with ACM001."""
    from lxml import etree

    parser = etree.XMLParser(**_PARSER_OPTIONS)  # type: ignore[arg-type]
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        line, col = exc.position if exc.position else (0, 0)
        msg = exc.msg or str(exc)
        msg = re.sub(r", line \d+, column \d+$", "", msg)
        raise PolicyError.single(
            "ACM001", f"not well-formed XML: {msg}", Location(file, line, col)
        ) from None
    except ValueError as exc:  # e.g. a str with an encoding declaration
        raise PolicyError.single("ACM001", f"not well-formed XML: {exc}", Location(file)) from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        line = _doctype_line(data)
        raise PolicyError.single(
            "ACM001",
            "unsafe XML: a DOCTYPE (and with it any ENTITY) is not allowed in a policy",
            Location(file, line, 1 if line else 0),
        )
    return tree


def _doctype_line(data: bytes) -> int:
    pos = data.find(b"<!DOCTYPE")
    return data.count(b"\n", 0, pos) + 1 if pos >= 0 else 0


def validate_schema(tree: etree._ElementTree, file: str) -> Diagnostics:
    """Every schema violation (ACM002), each with its line."""
    schema = _schema()
    found = Diagnostics()
    if schema.validate(tree):
        return found
    for entry in schema.error_log:
        msg = entry.message.replace("{" + NS + "}", "")
        found.add("ACM002", f"schema violation: {msg}", Location(file, entry.line, entry.column))
    return found


def _text(el: etree._Element) -> str:
    """Text of a leaf as libxml2's xmlNodeListGetString gave it: every text
    node below the element joined, comments and PIs skipped."""
    text = el.text or ""
    if len(el):
        text += "".join(child.tail or "" for child in el)
    return text


def read_policy_source(path: str, display: str | None = None) -> PolicySource:
    """Read, parse and validate a policy file. PolicyError carries every
    finding (ACM003 unreadable, ACM001 not well-formed/unsafe, ACM002 schema)."""
    file = display if display is not None else path
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise PolicyError.single(
            "ACM003", f"cannot read policy file: {exc.strerror or exc}", Location(file)
        ) from None
    return parse_policy_source(data, file)


def parse_policy_source(data: bytes, file: str = "<policy>") -> PolicySource:
    tree = parse_document(data, file)
    problems = validate_schema(tree, file)
    root = tree.getroot()
    if root.tag != T_ROOT:
        problems.add(
            "ACM002",
            f"schema violation: the root element must be SecurityPolicyDefinition, "
            f"not {etree_localname(root.tag)}",
            Location(file, root.sourceline or 0, 1),
        )
    if problems:
        raise PolicyError(problems)
    return _build_source(root, data, file)


def etree_localname(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _types(parent: etree._Element) -> list[Named]:
    return [Named(_text(t), t.sourceline or 0, "Type") for t in parent.iterchildren(T_TYPE)]


def _build_source(root: etree._Element, data: bytes, file: str) -> PolicySource:
    header_el = root.find(T_HEADER)
    assert header_el is not None  # the schema requires it
    name_el = header_el.find(T_POLICY_NAME)
    assert name_el is not None
    policy_name = Named(_text(name_el), name_el.sourceline or 0, "PolicyName")
    header = {}
    for child in header_el.iterchildren("{*}*"):
        local = etree_localname(child.tag)
        if local in HEADER_FIELDS:
            header[local] = _text(child)

    ste = chwall = None
    ste_el = root.find(T_STE)
    if ste_el is not None:
        types_el = ste_el.find(T_STE_TYPES)
        assert types_el is not None
        ste = PartSource(_types(types_el), ste_el.get("priority"), ste_el.sourceline or 0)
    cw_el = root.find(T_CHWALL)
    if cw_el is not None:
        types_el = cw_el.find(T_CHWALL_TYPES)
        assert types_el is not None
        chwall = PartSource(_types(types_el), cw_el.get("priority"), cw_el.sourceline or 0)
        sets_el = cw_el.find(T_CONFLICT_SETS)
        if sets_el is not None:
            chwall.conflict_sets = [
                ConflictSetSource(c.get("name"), _types(c), c.sourceline or 0)
                for c in sets_el.iterchildren(T_CONFLICT)
            ]

    bootstrap = None
    vm_labels: list[LabelSource] = []
    res_labels: list[LabelSource] = []
    template = root.find(T_TEMPLATE)
    assert template is not None
    subjects = template.find(T_SUBJECTS)
    if subjects is not None:
        bootstrap = Named(subjects.get("bootstrap", ""), subjects.sourceline or 0, "SubjectLabels")
        vm_labels = [_label(el, LabelKind.VM) for el in subjects.iterchildren(T_VM)]
    objects = template.find(T_OBJECTS)
    if objects is not None:
        res_labels = [_label(el, LabelKind.RES) for el in objects.iterchildren(T_RES)]

    from lxml import etree

    comments = [
        (c.text or "", c.sourceline or 0) for c in root.itersiblings(etree.Comment, preceding=True)
    ]
    comments += [(c.text or "", c.sourceline or 0) for c in root.iter(etree.Comment)]
    comments += [(c.text or "", c.sourceline or 0) for c in root.itersiblings(etree.Comment)]
    return PolicySource(
        file=file,
        text=data,
        policy_name=policy_name,
        header=header,
        ste=ste,
        chwall=chwall,
        bootstrap=bootstrap,
        vm_labels=vm_labels,
        res_labels=res_labels,
        comments=comments,
    )


def _label(el: etree._Element, kind: LabelKind) -> LabelSource:
    name_el = el.find(T_NAME)
    assert name_el is not None
    ste_groups = []
    cw_groups = []
    for child in el.iterchildren(T_STE_TYPES, T_CHWALL_TYPES):
        group = TypeGroup(_types(child), child.sourceline or 0)
        if child.tag == T_STE_TYPES:
            ste_groups.append(group)
        else:
            cw_groups.append(group)
    return LabelSource(
        Named(_text(name_el), name_el.sourceline or 0, "Name"),
        kind,
        ste_groups,
        cw_groups,
        el.sourceline or 0,
    )
