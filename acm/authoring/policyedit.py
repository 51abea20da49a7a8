"""Editing a policy's XML source element by element (the studio's editor).

The XML text stays the document: every edit parses it with the hardened
parser (`acm.source.parse_document`: no DTD, entities or network), changes
the tree and writes it back, so comments and layout the user wrote survive.
An edit needs a well-formed document, not a valid one: a policy is often
invalid half-way through an edit, and the compiler and lint report why.

A rename is carried to every reference: a type's new name goes into the
part's declaration, every label's type list of that part and (Chinese Wall)
every conflict set; a VM label's new name into the bootstrap attribute.
Deleting a type removes it from all of those places. Checks are not made
here: the compiler and lint judge the result.

Xen 3.4's versioned lifecycle: `bump_version` makes the next version of a
policy (`Version` 1.0 for a policy of the 3.0.4 format, else minor + 1, and
`FromPolicy` naming the policy and the version it replaces). In a policy
with a `FromPolicy`, renaming a label writes `from="OLD"` on its Name (the
name in the policy it replaces), which a rename back takes away again.

`outline` is the editor's view of a document: every element it edits, with
the line it starts on, so that findings (which carry lines) can be shown at
their element.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from acm.errors import Location, PolicyError
from acm.source import (
    HEADER_FIELDS,
    NS,
    T_CHWALL,
    T_CHWALL_TYPES,
    T_CONFLICT,
    T_CONFLICT_SETS,
    T_FROM_POLICY,
    T_HEADER,
    T_NAME,
    T_OBJECTS,
    T_POLICY_NAME,
    T_RES,
    T_STE,
    T_STE_TYPES,
    T_SUBJECTS,
    T_TEMPLATE,
    T_TYPE,
    T_VERSION,
    T_VM,
    parse_document,
)

if TYPE_CHECKING:
    from lxml import etree

PARTS = {"STE": (T_STE, T_STE_TYPES), "CHWALL": (T_CHWALL, T_CHWALL_TYPES)}
KINDS = {"VM": T_VM, "RES": T_RES}
PRIMARY = "PrimaryPolicyComponent"
_Q = "{" + NS + "}"


def edit_error(message: str) -> PolicyError:
    """An edit that cannot be made (EDIT001): the document is left as it was."""
    return PolicyError.single("EDIT001", message, Location())


def _el(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """A new child at the end of `parent`, indented like its siblings."""
    from lxml import etree

    depth = sum(1 for _ in parent.iterancestors())
    inner = "\n" + "  " * (depth + 1)
    outer = "\n" + "  " * depth
    if len(parent):
        if parent.text and not parent.text.strip() and "\n" in parent.text:
            inner = parent.text  # the indentation the user chose
        outer = parent[-1].tail or outer
        parent[-1].tail = inner
    else:
        parent.text = inner
    child = etree.SubElement(parent, tag)
    child.tail = outer
    if text is not None:
        child.text = text
    return child


def _remove(el: etree._Element) -> None:
    """Remove an element, keeping the whitespace layout of its siblings."""
    parent = el.getparent()
    assert parent is not None
    prev = el.getprevious()
    if prev is not None:
        prev.tail = el.tail if el.getnext() is None else prev.tail
    elif el.getnext() is None:
        parent.text = el.tail if parent.text and not parent.text.strip() else parent.text
    parent.remove(el)


def _text(el: etree._Element) -> str:
    return el.text or ""


def _root(data: bytes, file: str) -> etree._Element:
    root = parse_document(data, file).getroot()
    if root.tag != _Q + "SecurityPolicyDefinition":
        raise edit_error("the document is not a SecurityPolicyDefinition")
    return root


def _serialize(root: etree._Element) -> bytes:
    from lxml import etree

    # Comments before and after the root element each keep a line of their own.
    before = list(root.itersiblings(preceding=True))
    before.reverse()
    after = list(root.itersiblings())
    pieces = [b'<?xml version="1.0" encoding="UTF-8"?>']
    pieces += [etree.tostring(n, encoding="UTF-8", with_tail=False) for n in before]
    pieces.append(etree.tostring(root, encoding="UTF-8", with_tail=False))
    pieces += [etree.tostring(n, encoding="UTF-8", with_tail=False) for n in after]
    return b"\n".join(pieces) + b"\n"


def _part_el(root: etree._Element, part: str) -> etree._Element | None:
    return root.find(PARTS[part][0])


def _labels(root: etree._Element, kind: str) -> Iterator[etree._Element]:
    yield from root.iter(KINDS[kind])


def _label_named(root: etree._Element, kind: str, name: str) -> etree._Element:
    for el in _labels(root, kind):
        name_el = el.find(T_NAME)
        if name_el is not None and _text(name_el) == name:
            return el
    raise edit_error(f"no {kind} label '{name}'")


def _type_refs(root: etree._Element, part: str) -> Iterator[etree._Element]:
    """Every Type element that names a type of `part`: its declaration,
    the labels' lists and (Chinese Wall) the conflict sets."""
    part_tag, list_tag = PARTS[part]
    part_el = root.find(part_tag)
    if part_el is not None:
        yield from part_el.iter(T_TYPE)
    template = root.find(_Q + "SecurityLabelTemplate")
    if template is not None:
        for group in template.iter(list_tag):
            yield from group.iterchildren(T_TYPE)


def _need_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise edit_error(f"{what}: a non-empty name is needed")
    return value


def _declared(root: etree._Element, part: str) -> list[str]:
    part_el = _part_el(root, part)
    types_el = part_el.find(PARTS[part][1]) if part_el is not None else None
    return [_text(t) for t in types_el.iterchildren(T_TYPE)] if types_el is not None else []


def _ensure(parent: etree._Element, tag: str, before: tuple[str, ...] = ()) -> etree._Element:
    """The child `tag` of parent, created (before the first of `before`) if missing."""
    found = parent.find(tag)
    if found is not None:
        return found
    for other in before:
        anchor = parent.find(other)
        if anchor is not None:
            from lxml import etree

            el = etree.Element(tag)
            el.text = None
            previous = anchor.getprevious()
            el.tail = previous.tail if previous is not None else "\n  "
            anchor.addprevious(el)
            return el
    return _el(parent, tag)


def _set_types(group_parent: etree._Element, group: etree._Element, types: list[str]) -> None:
    for t in list(group.iterchildren(T_TYPE)):
        group.remove(t)
    group.text = None
    for name in types:
        _el(group, T_TYPE, name)


def apply_edit(data: bytes, op: Mapping[str, Any], file: str = "<policy>") -> bytes:
    """The document after one edit `op` (a mapping with an `op` key, see
    `EDITS`); PolicyError (ACM001 not well-formed, EDIT001 impossible edit)."""
    _check_values(op)
    root = _root(data, file)
    kind = op.get("op")
    handler = EDITS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise edit_error(f"unknown edit {kind!r}")
    handler(root, op)
    return _serialize(root)


def _check_values(op: Mapping[str, Any]) -> None:
    """Every field of an edit is a string, a number, None or a list of
    strings: a list or an object where a name belongs (it would be looked up
    in a table of kinds or parts) is an impossible edit, not a crash."""
    for key, value in op.items():
        if key == "types":  # the one field that is a list
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise edit_error(f"'{key}' must be a list of strings")
        elif value is not None and not isinstance(value, str | int):
            raise edit_error(f"'{key}' must be a string")


def _set_header(root: etree._Element, op: Mapping[str, Any]) -> None:
    field = op.get("field")
    value = op.get("value")
    if not isinstance(value, str):
        raise edit_error("a header value must be a string")
    header = root.find(T_HEADER)
    if header is None:
        raise edit_error("the policy has no PolicyHeader")
    if field == "PolicyName":
        el = header.find(T_POLICY_NAME)
        if el is None:
            raise edit_error("the policy has no PolicyName")
        el.text = value
        return
    if field not in HEADER_FIELDS:
        raise edit_error(f"unknown header field {field!r}")
    el = header.find(_Q + field)
    if not value:
        if el is not None:
            _remove(el)
        return
    if el is None:
        # The schema's order: PolicyName, PolicyUrl, Reference, Date,
        # NameSpaceUrl, then (versioned) Version and FromPolicy.
        later = HEADER_FIELDS[HEADER_FIELDS.index(field) + 1 :]
        el = _ensure(header, _Q + field, (*(_Q + f for f in later), T_VERSION, T_FROM_POLICY))
    el.text = value


def _set_priority(root: etree._Element, op: Mapping[str, Any]) -> None:
    """Mark one part `priority="PrimaryPolicyComponent"` (the other loses it)."""
    primary = op.get("part")
    if primary not in PARTS and primary is not None:
        raise edit_error(f"unknown policy part {primary!r}")
    for part in PARTS:
        el = _part_el(root, part)
        if el is None:
            if part == primary:
                raise edit_error(f"the policy has no {part} part")
            continue
        if part == primary:
            el.set("priority", PRIMARY)
        elif "priority" in el.attrib:
            del el.attrib["priority"]


def _add_part(root: etree._Element, op: Mapping[str, Any]) -> None:
    part = op.get("part")
    if part not in PARTS:
        raise edit_error(f"unknown policy part {part!r}")
    if _part_el(root, part) is not None:
        raise edit_error(f"the policy has a {part} part already")
    from lxml import etree

    part_tag, list_tag = PARTS[part]
    after = root.find(T_STE) if part == "CHWALL" else None
    if after is None:
        after = root.find(T_HEADER)
    el = etree.Element(part_tag)
    el.text = "\n    "
    types = etree.SubElement(el, list_tag)
    types.tail = "\n  "
    first = _need_name(op.get("type"), "the first type of the part")
    _el(types, T_TYPE, first)
    assert after is not None
    el.tail = after.tail
    after.addnext(el)


def _remove_part(root: etree._Element, op: Mapping[str, Any]) -> None:
    part = op.get("part")
    if part not in PARTS:
        raise edit_error(f"unknown policy part {part!r}")
    el = _part_el(root, part)
    if el is None:
        raise edit_error(f"the policy has no {part} part")
    _remove(el)
    for group in list(root.iter(PARTS[part][1])):
        _remove(group)


def _add_type(root: etree._Element, op: Mapping[str, Any]) -> None:
    part = op.get("part")
    if part not in PARTS:
        raise edit_error(f"unknown policy part {part!r}")
    name = _need_name(op.get("name"), "a new type")
    part_el = _part_el(root, part)
    if part_el is None:
        raise edit_error(f"the policy has no {part} part")
    if name in _declared(root, part):
        raise edit_error(f"{part} type '{name}' exists already")
    _el(_ensure(part_el, PARTS[part][1]), T_TYPE, name)


def _rename_type(root: etree._Element, op: Mapping[str, Any]) -> None:
    part = op.get("part")
    if part not in PARTS:
        raise edit_error(f"unknown policy part {part!r}")
    old = _need_name(op.get("old"), "the type to rename")
    new = _need_name(op.get("new"), "the new type name")
    declared = _declared(root, part)
    if old not in declared:
        raise edit_error(f"no {part} type '{old}'")
    if new in declared and new != old:
        raise edit_error(f"{part} type '{new}' exists already")
    for el in _type_refs(root, part):
        if _text(el) == old:
            el.text = new


def _delete_type(root: etree._Element, op: Mapping[str, Any]) -> None:
    part = op.get("part")
    if part not in PARTS:
        raise edit_error(f"unknown policy part {part!r}")
    name = _need_name(op.get("name"), "the type to delete")
    if name not in _declared(root, part):
        raise edit_error(f"no {part} type '{name}'")
    for el in list(_type_refs(root, part)):
        if _text(el) == name:
            _remove(el)


def _conflict_set(root: etree._Element, op: Mapping[str, Any]) -> etree._Element:
    index = op.get("index")
    sets = list(root.iter(T_CONFLICT))
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(sets):
        raise edit_error(f"no conflict set number {index!r}")
    return sets[index]


def _add_conflict_set(root: etree._Element, op: Mapping[str, Any]) -> None:
    cw = _part_el(root, "CHWALL")
    if cw is None:
        raise edit_error("the policy has no CHWALL part")
    conflict = _el(_ensure(cw, T_CONFLICT_SETS), T_CONFLICT)
    name = op.get("name")
    if isinstance(name, str) and name:
        conflict.set("name", name)
    _set_types(cw, conflict, _type_list(op.get("types", [])))


def _type_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise edit_error("types must be a list of non-empty names")
    return list(dict.fromkeys(value))


def _set_conflict_set(root: etree._Element, op: Mapping[str, Any]) -> None:
    conflict = _conflict_set(root, op)
    if "name" in op:
        name = op["name"]
        if not isinstance(name, str):
            raise edit_error("a conflict set name must be a string")
        if name:
            conflict.set("name", name)
        elif "name" in conflict.attrib:
            del conflict.attrib["name"]
    if "types" in op:
        _set_types(conflict.getparent(), conflict, _type_list(op["types"]))  # type: ignore[arg-type]


def _delete_conflict_set(root: etree._Element, op: Mapping[str, Any]) -> None:
    conflict = _conflict_set(root, op)
    sets = conflict.getparent()
    _remove(conflict)
    if sets is not None and sets.find(T_CONFLICT) is None:
        _remove(sets)  # the schema wants at least one Conflict in it


def _add_label(root: etree._Element, op: Mapping[str, Any]) -> None:
    kind = op.get("kind")
    if kind not in KINDS:
        raise edit_error(f"unknown label kind {kind!r}")
    name = _need_name(op.get("name"), "a new label")
    for el in _labels(root, kind):
        name_el = el.find(T_NAME)
        if name_el is not None and _text(name_el) == name:
            raise edit_error(f"{kind} label '{name}' exists already")
    template = root.find(T_TEMPLATE)
    if template is None:
        raise edit_error("the policy has no SecurityLabelTemplate")
    if kind == "VM":
        holder = _ensure(template, T_SUBJECTS, (T_OBJECTS,))
    else:
        holder = _ensure(template, T_OBJECTS)
    label = _el(holder, KINDS[kind])
    _el(label, T_NAME, name)
    if kind == "VM" and holder.get("bootstrap") is None:
        holder.set("bootstrap", name)


def _rename_label(root: etree._Element, op: Mapping[str, Any]) -> None:
    kind = op.get("kind")
    if kind not in KINDS:
        raise edit_error(f"unknown label kind {kind!r}")
    old = _need_name(op.get("old"), "the label to rename")
    new = _need_name(op.get("new"), "the new label name")
    label = _label_named(root, kind, old)
    if new != old:
        for el in _labels(root, kind):
            name_el = el.find(T_NAME)
            if name_el is not None and _text(name_el) == new:
                raise edit_error(f"{kind} label '{new}' exists already")
    name_el = label.find(T_NAME)
    assert name_el is not None
    name_el.text = new
    header = root.find(T_HEADER)
    if header is not None and header.find(T_FROM_POLICY) is not None:
        # from= names the label in the policy this one replaces: the first
        # rename's old name, kept through later renames (from="" Xen ignored)
        original = name_el.get("from") or old
        if new == original:
            name_el.attrib.pop("from", "")
        else:
            name_el.set("from", original)
    subjects = root.find(f"{T_TEMPLATE}/{T_SUBJECTS}")
    if kind == "VM" and subjects is not None and subjects.get("bootstrap") == old:
        subjects.set("bootstrap", new)


def _delete_label(root: etree._Element, op: Mapping[str, Any]) -> None:
    kind = op.get("kind")
    if kind not in KINDS:
        raise edit_error(f"unknown label kind {kind!r}")
    _remove(_label_named(root, kind, _need_name(op.get("name"), "the label to delete")))


def _set_label_types(root: etree._Element, op: Mapping[str, Any]) -> None:
    """The types of one group (default the first) of a label's part; an
    empty list removes that group."""
    kind, part = op.get("kind"), op.get("part")
    if kind not in KINDS or part not in PARTS:
        raise edit_error("a label kind (VM/RES) and a part (STE/CHWALL) are needed")
    label = _label_named(root, kind, _need_name(op.get("name"), "the label"))
    types = _type_list(op.get("types", []))
    index = op.get("group", 0)
    groups = list(label.iterchildren(PARTS[part][1]))
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= len(groups):
        raise edit_error(f"no type group number {index!r}")
    if index == len(groups):
        if not types:
            return
        if part == "STE":
            anchor = groups[-1] if groups else label.find(T_NAME)
            from lxml import etree

            group = etree.Element(PARTS[part][1])
            assert anchor is not None
            group.tail = anchor.tail
            anchor.addnext(group)
        else:
            group = _el(label, PARTS[part][1])
    else:
        group = groups[index]
        if not types:
            _remove(group)
            return
    _set_types(label, group, types)


def _set_bootstrap(root: etree._Element, op: Mapping[str, Any]) -> None:
    name = _need_name(op.get("name"), "the bootstrap label")
    _label_named(root, "VM", name)
    subjects = root.find(f"{T_TEMPLATE}/{T_SUBJECTS}")
    assert subjects is not None  # the label was found under it
    subjects.set("bootstrap", name)


def _bump_version(root: etree._Element, op: Mapping[str, Any]) -> None:
    """The next version, as Xen 3.4's tools numbered updates: 1.0 for a
    policy of the 3.0.4 format; else minor + 1 and FromPolicy naming this
    policy and the version it had. The labels' from= are dropped: they
    named labels of the version before, which the new one no longer updates."""
    from acm.versioned.info import parse_version, version_problem

    header = root.find(T_HEADER)
    name_el = header.find(T_POLICY_NAME) if header is not None else None
    if header is None or name_el is None:
        raise edit_error("the policy has no PolicyHeader with a PolicyName")
    version_el = header.find(T_VERSION)
    from_el = header.find(T_FROM_POLICY)
    previous = _text(version_el).strip() if version_el is not None else None
    if previous is not None:
        known = parse_version(previous)
        if known is None:
            raise edit_error(f"no next version: {version_problem(previous)}")
        new = str(known.next_minor())
    else:
        new = "1.0"
    for kind in KINDS:
        for label in _labels(root, kind):
            label_name = label.find(T_NAME)
            if label_name is not None:
                label_name.attrib.pop("from", "")
    if version_el is None:
        version_el = _ensure(header, T_VERSION, (T_FROM_POLICY,))
    version_el.text = new
    if previous is None:
        if from_el is not None:  # a FromPolicy without a Version replaces nothing known
            _remove(from_el)
        return
    if from_el is None:
        from_el = _el(header, T_FROM_POLICY)  # Version's place is last but for it
    else:
        for child in list(from_el):
            from_el.remove(child)
        from_el.text = None
    _el(from_el, T_POLICY_NAME, _text(name_el))
    _el(from_el, T_VERSION, previous)


EDITS = {
    "set_header": _set_header,
    "set_priority": _set_priority,
    "add_part": _add_part,
    "remove_part": _remove_part,
    "add_type": _add_type,
    "rename_type": _rename_type,
    "delete_type": _delete_type,
    "add_conflict_set": _add_conflict_set,
    "set_conflict_set": _set_conflict_set,
    "delete_conflict_set": _delete_conflict_set,
    "add_label": _add_label,
    "rename_label": _rename_label,
    "delete_label": _delete_label,
    "set_label_types": _set_label_types,
    "set_bootstrap": _set_bootstrap,
    "bump_version": _bump_version,
}


def _line(el: etree._Element) -> int:
    line = el.sourceline
    return line if isinstance(line, int) else 0


def _last_line(el: etree._Element) -> int:
    """The line of the last element inside `el` (lines grow in document
    order, so it is the deepest last child, not a walk of all of them)."""
    last = el
    while len(last):
        last = last[-1]
    return max(_line(last), _line(el))


def _group_view(groups: Iterator[etree._Element]) -> list[dict[str, Any]]:
    return [{"line": _line(g), "types": [_text(t) for t in g.iterchildren(T_TYPE)]} for g in groups]


def outline(data: bytes, file: str = "<policy>") -> dict[str, Any]:
    """What the editor shows of a well-formed document, each element with the
    line it starts on (ACM001 when it is not well-formed)."""
    return outline_of(_root(data, file))


def outline_of(root: etree._Element) -> dict[str, Any]:
    """`outline` of a document already parsed (its root element)."""
    header = root.find(T_HEADER)
    fields: dict[str, Any] = {}
    if header is not None:
        for child in header.iterchildren("{*}*"):
            fields[str(child.tag).rsplit("}", 1)[-1]] = {
                "value": _text(child),
                "line": _line(child),
            }
    parts: dict[str, Any] = {}
    for part, (part_tag, list_tag) in PARTS.items():
        el = root.find(part_tag)
        if el is None:
            parts[part] = None
            continue
        types_el = el.find(list_tag)
        parts[part] = {
            "line": _line(el),
            "priority": el.get("priority"),
            "types": [
                {"name": _text(t), "line": _line(t)}
                for t in (types_el.iterchildren(T_TYPE) if types_el is not None else ())
            ],
        }
    sets = [
        {
            "index": i,
            "name": c.get("name"),
            "line": _line(c),
            "types": [_text(t) for t in c.iterchildren(T_TYPE)],
        }
        for i, c in enumerate(root.iter(T_CONFLICT))
    ]
    subjects = root.find(f"{T_TEMPLATE}/{T_SUBJECTS}")
    labels = label_rows(root)
    version_el = header.find(T_VERSION) if header is not None else None
    from_el = header.find(T_FROM_POLICY) if header is not None else None
    from_name = from_el.find(T_POLICY_NAME) if from_el is not None else None
    from_version = from_el.find(T_VERSION) if from_el is not None else None
    return {
        "header": fields,
        "header_line": _line(header) if header is not None else 0,
        "version": _text(version_el) if version_el is not None else None,
        "from_policy": {
            "name": _text(from_name) if from_name is not None else "",
            "version": _text(from_version) if from_version is not None else "",
            "line": _line(from_el),
        }
        if from_el is not None
        else None,
        "parts": parts,
        "conflict_sets": sets,
        "bootstrap": subjects.get("bootstrap") if subjects is not None else None,
        "bootstrap_line": _line(subjects) if subjects is not None else 0,
        "labels": labels,
    }


def label_rows(
    root: etree._Element, first: int = 0, last: int | None = None
) -> list[dict[str, Any]]:
    """The outline's rows of the labels (VM labels first), of those that
    start on lines `first` to `last` when given."""
    rows = []
    for kind, tag in KINDS.items():
        for el in root.iter(tag):
            line = _line(el)
            if line < first or (last is not None and line > last):
                continue
            name_el = el.find(T_NAME)
            rows.append(
                {
                    "kind": kind,
                    "name": _text(name_el) if name_el is not None else "",
                    "from": name_el.get("from") if name_el is not None else None,
                    "line": line,
                    "last_line": _last_line(el),
                    "ste": _group_view(el.iterchildren(T_STE_TYPES)),
                    "chwall": _group_view(el.iterchildren(T_CHWALL_TYPES)),
                }
            )
    return rows
