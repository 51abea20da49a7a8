"""The XML source of a policy: hardened parsing, schema validation and a
light source model that remembers where everything was written.

Parsing never loads a DTD, expands an entity or touches the network. A
DOCTYPE is refused (ACM001) before the parser sees it, unless it is a plain
`<!DOCTYPE Name>` (no internal subset, no external identifier), which
declares nothing and names nothing to fetch; lint warns about it (ACM032).
Schema errors are all reported (ACM002), each with its line. The
source model keeps names exactly as written (no trimming) together with
their line; columns are worked out only when a finding needs one, so that
large policies stay cheap. The compiler's fast path for large policies
reads the parsed tree of a `PolicyDocument` directly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from enum import StrEnum
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from acm.errors import Diagnostics, Location, PolicyError
from acm.records import NamedTuple

if TYPE_CHECKING:
    import threading

    from lxml import etree

NS = "http://www.ibm.com"
_Q = "{" + NS + "}"
T_ROOT = _Q + "SecurityPolicyDefinition"
T_HEADER = _Q + "PolicyHeader"
T_POLICY_NAME = _Q + "PolicyName"
T_VERSION = _Q + "Version"
T_FROM_POLICY = _Q + "FromPolicy"
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

SCHEMA_FILE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "schema", "security_policy.xsd"
)
# The versioned format of Xen 3.2-3.4 (a PolicyHeader with Version or FromPolicy).
VERSIONED_SCHEMA_FILE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "schema", "security_policy_versioned.xsd"
)
UNLABELED = "__UNLABELED__"  # Xen 3.4's label (and type) of what has no label

# A lxml parser that can do no harm: no DTD, no entities, no network.
_PARSER_OPTIONS: dict[str, Any] = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    remove_blank_text=False,
    remove_comments=False,
    # collect_ids stays on: turned off, libxml2 2.14 opens the external DTD
    # a document names (a local file, a FIFO), load_dtd=False or not.
    huge_tree=True,  # large generated policies are legitimate; entities are off anyway
)

_SPACE = re.compile(rb"[ \t\r\n]*")
# The patterns below are needed only for a DOCTYPE or an error: compiled
# then (re.compile's cache), not at import (start-up of `xm makepolicy`).
_ENTITY_DECL = rb"<!ENTITY\b"
# `<!DOCTYPE Name>`: nothing declared, nothing to load (an XML Name holds no
# white space, quote, bracket or `>`).
_PLAIN_DOCTYPE = rb"<!DOCTYPE[ \t\r\n]+[^ \t\r\n\[\]>'\"]+[ \t\r\n]*>"
_SCHEMA_ELEMENT = r"^Element '(?:\{[^}]*\})?([^']+)'"
_LOCATION_SUFFIX = r", line \d+, column \d+$"


class LabelKind(StrEnum):
    VM = "VM"
    RES = "RES"
    ANY = "ANY"


class Named(NamedTuple):
    """A `Name`, `Type` or `PolicyName` as written, and the line it is on."""

    text: str
    line: int
    tag: str  # local tag name, used to find the column when one is needed


class TypeGroup(NamedTuple):
    """One `SimpleTypeEnforcementTypes` or `ChineseWallTypes` element of a label."""

    types: list[Named]
    line: int


class LabelSource(NamedTuple):
    name: Named
    kind: LabelKind
    ste_groups: list[TypeGroup]
    chwall_groups: list[TypeGroup]
    line: int
    # The `from` attribute of the Name (versioned policies): the label's name
    # in the policy this one updates. Its line is the Name's.
    renamed_from: Named | None = None


class ConflictSetSource(NamedTuple):
    name: str | None
    types: list[Named]
    line: int


class PartSource(NamedTuple):
    """The STE or Chinese Wall part: its declared types (and conflict sets)."""

    types: list[Named]
    priority: str | None
    line: int
    conflict_sets: tuple[ConflictSetSource, ...] = ()


class VersionSource(NamedTuple):
    """The version part of a versioned policy's header: its `Version` and,
    when it updates another policy, `FromPolicy`'s name and version."""

    version: Named
    from_name: Named | None = None
    from_version: Named | None = None


class _PolicySourceFields(NamedTuple):
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
    # None for a policy of Xen 3.0.4's format (no Version, no FromPolicy).
    versioned: VersionSource | None = None


class PolicySource(_PolicySourceFields):
    """A parsed policy as written, with lines. (A subclass of the record so
    that it has a `__dict__` for the cached line offsets.)"""

    @property
    def labels(self) -> list[LabelSource]:
        return self.vm_labels + self.res_labels

    @cached_property
    def line_starts(self) -> list[int]:
        return line_offsets(self.text)

    @cached_property
    def columns(self) -> ColumnIndex:
        return ColumnIndex(self.text, self.line_starts)

    def locate(self, line: int, tag: str = "", text: str | None = None, nth: int = 0) -> Location:
        """A Location for something on `line`, with the column of the `nth` start
        tag `<tag` there (whose text starts with `text`, when given)."""
        column = self.columns.column(line, tag, text, nth)
        return Location(self.file, line, column)

    def at(self, named: Named, nth: int = 0) -> Location:
        return self.locate(named.line, named.tag, named.text, nth)


def _line(el: etree._Element) -> int:
    """The line an element starts on (libxml2 counts from 1), 0 when unknown."""
    line: object = el.sourceline
    return line if isinstance(line, int) else 0


def line_offsets(text: bytes) -> list[int]:
    """Where each line of `text` starts. Built once per document by its owner
    (PolicySource keeps it), never in a global cache keyed by the text."""
    offsets = [0]
    find = text.find
    pos = find(b"\n")
    while pos >= 0:
        offsets.append(pos + 1)
        pos = find(b"\n", pos + 1)
    return offsets


class _TagHits(NamedTuple):
    """The start tags `<tag` of one tag on one line: their 1-based columns,
    what follows each (up to 20 characters), and an index of both for
    lookups by content that do not scan the line again."""

    columns: list[int]
    by_prefix: dict[str, list[int]]  # text up to the next `<` -> hit numbers
    afters: list[tuple[str, int]]  # sorted (following 20 characters, hit number)


# what `[\s>/]` matches after a tag name, in ASCII; and the same as a pattern
_TAG_END_BYTES = frozenset(b" \t\r\n\f\v>/")
_TAG_END_CLASS = b"[" + re.escape(bytes(sorted(_TAG_END_BYTES))) + b"]"


class ColumnIndex:
    """Columns of start tags, worked out at most once per (line, tag) of a
    document: reporting N findings on one long line costs O(N), not O(N²)."""

    def __init__(self, text: bytes, offsets: list[int] | None = None) -> None:
        self.text = text
        self.offsets = offsets if offsets is not None else line_offsets(text)
        self._lines: dict[int, str] = {}
        self._hits: dict[tuple[int, str], _TagHits] = {}
        self._single: dict[tuple[int, str], int] = {}  # see `_only`
        # (line, tag, content) -> columns of the matching tags: a name repeated
        # N times on a line is looked up N times (nth = 0..N-1)
        self._matches: dict[tuple[int, str, str], list[int]] = {}

    def _line_text(self, line: int) -> str:
        raw = self._lines.get(line)
        if raw is None:
            start = self.offsets[line - 1]
            end = self.offsets[line] if line < len(self.offsets) else len(self.text)
            raw = self._lines[line] = self.text[start:end].decode("utf-8", "replace")
        return raw

    def _only(self, line: int, tag: str) -> int:
        """The column of the start tag `<tag` on `line` when it is the only
        one there and no prefixed form of it is (then every content asks
        for it); else 0. A finding on a label written on a line of its own
        (the common case) needs no index of the line's tags. The line's
        bytes are searched in place (the tag is ASCII, and so is what is
        looked for around it: a byte offset is a character offset until
        the first byte that is not ASCII)."""
        found = self._single.get((line, tag))
        if found is None:
            text = self.text
            start = self.offsets[line - 1]
            end = self.offsets[line] if line < len(self.offsets) else len(text)
            opening = b"<" + tag.encode("ascii")
            at = text.find(opening, start, end)
            found = 0
            if (
                at >= 0
                and text.find(opening, at + 1, end) < 0
                and text.find(b":" + opening[1:], start, end) < 0
            ):
                follows = at + len(opening)
                if follows < end and text[follows] in _TAG_END_BYTES:
                    before = text[start:at]
                    found = 1 + (
                        len(before) if before.isascii() else len(before.decode("utf-8", "replace"))
                    )
            self._single[(line, tag)] = found  # a long line is searched once a tag
        return found

    def only_columns(self, lines: list[int], tag: str) -> list[int]:
        """`_only(line, tag)` of each line (0 where `column` has to look
        further, or for no line), from a search of the whole document: for
        the findings of a large policy, which has one on every label
        (ACM030). The line of each start tag found, and its column, are
        worked out for all of them at once (C-level maps), not line by line."""
        import bisect  # for findings only
        from collections import Counter
        from functools import partial
        from operator import sub

        text = self.text
        line_of = partial(bisect.bisect_right, self.offsets)  # offsets[k]: where line k+1 starts
        opening = b"<" + tag.encode("ascii")
        pattern = re.escape(opening)
        # the start tags that `_only` accepts: the tag's name ends there
        ended = [m.start() for m in re.finditer(pattern + _TAG_END_CLASS, text)]
        at_line = list(map(line_of, ended))
        # a line with two (`<NameX` counts) has no only one
        every = at_line
        if text.count(opening) != len(ended):
            every = list(map(line_of, [m.start() for m in re.finditer(pattern, text)]))
        shared = {line for line, n in Counter(every).items() if n > 1}
        prefixed = b":" + opening[1:]
        if text.find(prefixed) >= 0:
            found = re.finditer(re.escape(prefixed), text)
            shared.update(map(line_of, [m.start() for m in found]))
        starts = map(self.offsets.__getitem__, [line - 1 for line in at_line])
        if text.isascii():
            columns = [1 + n for n in map(sub, ended, starts)]
        else:
            columns = [
                1 + len(text[start:at].decode("utf-8", "replace"))
                for start, at in zip(starts, ended, strict=True)
            ]
        only = dict(zip(at_line, columns, strict=True))
        for line in shared:
            only.pop(line, None)
        return list(map(only.get, lines, [0] * len(lines)))  # type: ignore[arg-type]

    def _tag_hits(self, line: int, tag: str) -> _TagHits:
        hits = self._hits.get((line, tag))
        if hits is None:
            raw = self._line_text(line)
            pattern = re.compile(r"<(?:[\w.-]+:)?" + re.escape(tag) + r"[\s>/]")
            columns: list[int] = []
            by_prefix: dict[str, list[int]] = {}
            afters: list[tuple[str, int]] = []
            for number, m in enumerate(pattern.finditer(raw)):
                columns.append(m.start() + 1)
                after = raw[m.end() : m.end() + 20]
                by_prefix.setdefault(after.split("<")[0], []).append(number)
                afters.append((after, number))
            afters.sort()
            hits = self._hits[(line, tag)] = _TagHits(columns, by_prefix, afters)
        return hits

    def column(self, line: int, tag: str, content: str | None = None, nth: int = 0) -> int:
        """The column of the `nth` start tag `<tag` on `line` that is followed
        by `content` (or whose following text `content` starts with); the
        first such tag when there are fewer, the first `<tag` when none
        matches, 1 when there is none; 0 for no line or tag."""
        if line <= 0 or not tag or line > len(self.offsets):
            return 0
        only = self._only(line, tag)
        if only:
            return only
        hits = self._tag_hits(line, tag)
        if not hits.columns:
            return 1
        if content is None:
            return hits.columns[min(nth, len(hits.columns) - 1)]
        matches = self._matches.get((line, tag, content))
        if matches is None:
            matches = self._matches[(line, tag, content)] = self._matching(hits, content)
        return matches[min(nth, len(matches) - 1)]

    @staticmethod
    def _matching(hits: _TagHits, content: str) -> list[int]:
        import bisect  # columns are looked up for findings only

        head = content[:20]
        numbers: set[int] = set()
        # what follows the tag starts with the content's first 20 characters
        at = bisect.bisect_left(hits.afters, (head, -1))
        while at < len(hits.afters) and hits.afters[at][0].startswith(head):
            numbers.add(hits.afters[at][1])
            at += 1
        # or the content starts with the text that follows the tag
        for size in range(min(len(content), 20) + 1):
            numbers.update(hits.by_prefix.get(content[:size], ()))
        if not numbers:
            return hits.columns[:1]
        return [hits.columns[number] for number in sorted(numbers)]


@cache
def _schema() -> etree.XMLSchema:
    from lxml import etree

    return etree.XMLSchema(etree.parse(SCHEMA_FILE, etree.XMLParser(**_PARSER_OPTIONS)))


@cache
def _versioned_schema() -> etree.XMLSchema:
    from lxml import etree

    parser = etree.XMLParser(**_PARSER_OPTIONS)
    return etree.XMLSchema(etree.parse(VERSIONED_SCHEMA_FILE, parser))


def schema_path() -> str:
    return SCHEMA_FILE


def versioned_schema_path() -> str:
    return VERSIONED_SCHEMA_FILE


def is_versioned_tree(root: etree._Element) -> bool:
    """Whether a parsed policy is of the versioned format (Xen 3.2-3.4): its
    PolicyHeader has a `Version` or a `FromPolicy`. Everything else is read,
    checked and compiled exactly as Xen 3.0.4 did. Looks at the header only
    (constant time), so large policies of the old format pay nothing."""
    header = root.find(T_HEADER)
    if header is None:
        return False
    return header.find(T_VERSION) is not None or header.find(T_FROM_POLICY) is not None


def conflict_set_names(root: etree._Element) -> list[str | None]:
    """The Chinese Wall conflict sets' names (None for a set without one) in
    the order of the compiled policy's sets: the document's order, or by name
    in a versioned policy, as Xen 3.4 orders its sets (acm.versioned.numbering).
    The compiled policy keeps no names; makepolicy, the analyses and the host
    take them from here."""
    found = root.iterfind(f"{T_CHWALL}/{T_CONFLICT_SETS}/{T_CONFLICT}")
    names: list[str | None] = [c.get("name") for c in found]
    if is_versioned_tree(root):
        names.sort(key=lambda name: name or "")
    return names


def _schema_for(root: etree._Element) -> etree.XMLSchema:
    return _versioned_schema() if is_versioned_tree(root) else _schema()


def _prolog_doctype(data: bytes) -> int | None:
    """Offset of a DOCTYPE declaration, which can only stand in the prolog:
    after an optional byte order mark and XML declaration, white space,
    comments and processing instructions. None when there is none."""
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while True:
        match = _SPACE.match(data, pos)
        pos = match.end() if match else pos
        if data.startswith(b"<?", pos):
            end = data.find(b"?>", pos + 2)
            pos = end + 2
        elif data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
            pos = end + 3
        else:
            return pos if data.startswith(b"<!DOCTYPE", pos) else None
        if end < 0:
            return None


class _Doctype(NamedTuple):
    line: int
    plain: bool  # `<!DOCTYPE Name>`: accepted
    entities: bool  # its internal subset declares an ENTITY


def _doctype(data: bytes) -> _Doctype | None:
    """The DOCTYPE in the prolog, else None."""
    start = _prolog_doctype(data)
    if start is None:
        return None
    line = data.count(b"\n", 0, start) + 1
    if re.compile(_PLAIN_DOCTYPE).match(data, start):
        return _Doctype(line, True, False)
    end = data.find(b"]>", start)
    subset = data[start : end if end >= 0 else len(data)]
    return _Doctype(line, False, bool(re.search(_ENTITY_DECL, subset)))


def plain_doctype_line(data: bytes) -> int | None:
    """The line of an accepted `<!DOCTYPE Name>` (lint warns about it), else None."""
    found = _doctype(data)
    return found.line if found is not None and found.plain else None


def _refuse_doctype(file: str, line: int, entities: bool) -> PolicyError:
    message = (
        "a policy may not declare an ENTITY (entities are never expanded)"
        if entities
        else "a policy may not have a DOCTYPE with an internal subset or an external "
        "identifier (DTDs are never loaded; a plain <!DOCTYPE Name> is accepted)"
    )
    return PolicyError.single(
        "ACM001", f"unsafe XML: {message}", Location(file, line, 1 if line else 0)
    )


def parse_document(data: bytes, file: str) -> etree._ElementTree:
    """Parse hardened; refuse a DOCTYPE other than a plain one. Raises
    PolicyError with ACM001."""
    from lxml import etree

    if isinstance(data, str):  # callers that read text: take it as the UTF-8 it was
        data = data.encode("utf-8")
    found = _doctype(data)
    if found is not None and not found.plain:
        raise _refuse_doctype(file, found.line, found.entities)
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        line, col = exc.position if exc.position else (0, 0)
        msg = re.sub(_LOCATION_SUFFIX, "", exc.msg or str(exc))
        raise PolicyError.single(
            "ACM001", f"not well-formed XML: {msg}", Location(file, line, col)
        ) from None
    except ValueError as exc:  # e.g. a str with an encoding declaration
        raise PolicyError.single("ACM001", f"not well-formed XML: {exc}", Location(file)) from None
    docinfo = tree.docinfo
    # The prolog check above misses only encodings it cannot read (UTF-16):
    # a DOCTYPE it did not see as plain is refused, plain or not.
    system_url = getattr(docinfo, "system_url", None)  # lxml-stubs call it system_id
    plain = found is not None and system_url is None and docinfo.public_id is None
    if (docinfo.internalDTD is not None or docinfo.externalDTD is not None) and not plain:
        if found is None:  # a DOCTYPE the prolog check could not read: the encoding
            encoding = docinfo.encoding or "this encoding"
            raise PolicyError.single(
                "ACM001",
                "unsafe XML: a DOCTYPE is checked before parsing, and a plain <!DOCTYPE "
                f"Name> accepted, only in UTF-8 (or ASCII); this file is {encoding}: "
                "remove the DOCTYPE or save the policy as UTF-8",
                Location(file, _doctype_line(data), 1),
            )
        raise _refuse_doctype(file, _doctype_line(data), False)
    return tree


def _doctype_line(data: bytes) -> int:
    """Line of a DOCTYPE in UTF-8 or UTF-16 (either byte order); 0 when not found."""
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        pos = data.find("<!DOCTYPE".encode(encoding))
        if pos >= 0:
            return data.count("\n".encode(encoding), 0, pos) + 1
    return 0


def _log_entries(log: object) -> Iterable[Any]:
    """The entries of an lxml error log (the stubs do not declare it iterable)."""
    assert isinstance(log, Iterable)
    return log


def validate_schema(tree: etree._ElementTree, file: str, text: bytes | None = None) -> Diagnostics:
    """Every schema violation (ACM002), each with its line; given the
    document's bytes, also the column of the element's start tag (libxml2
    gives none)."""
    schema = _schema_for(tree.getroot())
    found = Diagnostics()
    if schema.validate(tree):
        return found
    columns: ColumnIndex | None = None
    for entry in _log_entries(schema.error_log):
        message = str(entry.message)
        line = int(entry.line or 0)
        column = int(entry.column or 0)
        element = re.match(_SCHEMA_ELEMENT, message)
        if not column and element and line and text is not None:
            if columns is None:
                columns = ColumnIndex(text)
            column = columns.column(line, element.group(1))
        if "No matching global declaration" in message and element and "{" not in message:
            message += f" (policy elements belong to the namespace {NS})"
        found.add(
            "ACM002",
            f"schema violation: {message.replace(_Q, '')}",
            Location(file, line, column),
        )
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
    return read_policy_document(path, display).source()


def read_policy_bytes(path: str, file: str) -> bytes:
    """The bytes of a policy file; PolicyError (ACM003) when it cannot be read."""
    from acm.inputfile import MAX_POLICY_BYTES, InputFileError, read_input

    try:
        return read_input(path, MAX_POLICY_BYTES)
    except InputFileError as exc:
        raise PolicyError.single(
            "ACM003", f"cannot read policy file: {exc.reason}", Location(file)
        ) from None


def read_policy_document(path: str, display: str | None = None) -> PolicyDocument:
    """Read, parse and validate a policy file (see `parse_policy_document`)."""
    file = display if display is not None else path
    return parse_policy_document(read_policy_bytes(path, file), file)


def parse_policy_source(data: bytes, file: str = "<policy>") -> PolicySource:
    return parse_policy_document(data, file).source()


def parse_policy_document(data: bytes, file: str = "<policy>") -> PolicyDocument:
    """Parse hardened and validate against the schema; PolicyError carries
    every finding (ACM001 not well-formed/unsafe, ACM002 schema, which
    includes a root other than SecurityPolicyDefinition)."""
    tree = parse_document(data, file)
    return _validated(tree, data, file, _schema_for(tree.getroot()).validate(tree))


def _validated(tree: etree._ElementTree, data: bytes, file: str, valid: bool) -> PolicyDocument:
    """The document of a tree the schema found `valid` or not (PolicyError, ACM002)."""
    if not valid:
        raise PolicyError(validate_schema(tree, file, data))
    root = tree.getroot()
    if root.tag != T_ROOT:
        # The schema declares every element globally, so a lone <Type> is
        # schema-valid; only SecurityPolicyDefinition makes a policy.
        local = etree_localname(root.tag)
        line = _line(root)
        raise PolicyError.single(
            "ACM002",
            f"schema violation: the root element must be SecurityPolicyDefinition, not {local}",
            Location(file, line, ColumnIndex(data).column(line, local)),
        )
    return PolicyDocument(file, data, root)


class ValidatingDocument:
    """A parsed policy (ACM001 raised as by `parse_document`) whose schema
    validation runs in a thread of its own: libxml2 lets go of the GIL while
    it validates, so the tree can be read meanwhile (the compiler's fast
    path). Nothing read from `root` counts before `document()` has returned:
    until then the tree may break the schema in any way."""

    # A smaller policy is validated at once: for it a thread (and importing
    # threading) costs more than reading the tree meanwhile saves.
    IN_THREAD_FROM_BYTES = 64 * 1024

    def __init__(self, data: bytes, file: str) -> None:
        self.data = data
        self.file = file
        self.tree = parse_document(data, file)
        self.root = self.tree.getroot()
        schema = _schema_for(self.root)  # compiled here, once, not in two threads
        self._valid = False
        self._validation: threading.Thread | None = None
        if len(data) < self.IN_THREAD_FROM_BYTES:
            self._validate(schema)
            return
        import threading

        self._validation = threading.Thread(target=self._validate, args=(schema,))
        self._validation.start()

    def _validate(self, schema: etree.XMLSchema) -> None:
        self._valid = schema.validate(self.tree)

    def document(self) -> PolicyDocument:
        """The document once the schema has passed it; else PolicyError as
        `parse_policy_document` raises it."""
        if self._validation is not None:
            self._validation.join()
        return _validated(self.tree, self.data, self.file, self._valid)


def etree_localname(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


class PolicyDocument:
    """A parsed, schema-valid policy: its tree (the compiler's fast path
    reads it directly), and the full source model built from it on demand."""

    def __init__(self, file: str, data: bytes, root: etree._Element) -> None:
        self.file = file
        self.data = data
        self.root = root

    def source(self) -> PolicySource:
        return _build_source(self.root, self.data, self.file)

    def source_without_labels(self) -> PolicySource:
        """The source model of everything but the labels (their lists are
        empty): the header, the parts and the comments. For a reader that
        takes the labels from the tree in a form of its own (lint)."""
        return _build_source(self.root, self.data, self.file, with_labels=False)

    @property
    def versioned(self) -> bool:
        """Whether this is a policy of the versioned format (`is_versioned_tree`)."""
        return is_versioned_tree(self.root)


_new = tuple.__new__  # builds a Named without the call of its __new__


def _types(parent: etree._Element) -> list[Named]:
    # _text and _line written out: this runs for every Type of the policy
    return [
        _new(Named, ((t.text or "") if not len(t) else _text(t), t.sourceline or 0, "Type"))
        for t in parent.iterchildren(T_TYPE)
    ]


def element_text(el: etree._Element) -> str:
    """The text of a `Name` or `Type` as the source model reads it."""
    return _text(el)


def type_texts(parent: etree._Element) -> list[str]:
    """The texts of a type list's `Type` children, as the source model reads them."""
    return [(t.text or "") if not len(t) else _text(t) for t in parent.iterchildren(T_TYPE)]


def _build_source(
    root: etree._Element, data: bytes, file: str, with_labels: bool = True
) -> PolicySource:
    header_el = root.find(T_HEADER)
    assert header_el is not None  # the schema requires it
    name_el = header_el.find(T_POLICY_NAME)
    assert name_el is not None
    policy_name = Named(_text(name_el), _line(name_el), "PolicyName")
    header = {}
    for child in header_el.iterchildren("{*}*"):
        local = etree_localname(child.tag)
        if local in HEADER_FIELDS:
            header[local] = _text(child)
    versioned = _version_source(header_el)

    ste = chwall = None
    ste_el = root.find(T_STE)
    if ste_el is not None:
        types_el = ste_el.find(T_STE_TYPES)
        assert types_el is not None
        ste = PartSource(_types(types_el), ste_el.get("priority"), _line(ste_el))
    cw_el = root.find(T_CHWALL)
    if cw_el is not None:
        types_el = cw_el.find(T_CHWALL_TYPES)
        assert types_el is not None
        sets_el = cw_el.find(T_CONFLICT_SETS)
        conflict_sets = tuple(
            ConflictSetSource(c.get("name"), _types(c), _line(c))
            for c in (sets_el.iterchildren(T_CONFLICT) if sets_el is not None else ())
        )
        chwall = PartSource(_types(types_el), cw_el.get("priority"), _line(cw_el), conflict_sets)

    bootstrap = None
    vm_labels: list[LabelSource] = []
    res_labels: list[LabelSource] = []
    template = root.find(T_TEMPLATE)
    assert template is not None
    subjects = template.find(T_SUBJECTS)
    if subjects is not None:
        bootstrap = Named(subjects.get("bootstrap", ""), _line(subjects), "SubjectLabels")
        if with_labels:
            vm_labels = [_label(el, LabelKind.VM) for el in subjects.iterchildren(T_VM)]
    objects = template.find(T_OBJECTS)
    if objects is not None and with_labels:
        res_labels = [_label(el, LabelKind.RES) for el in objects.iterchildren(T_RES)]

    from lxml import etree

    # Every comment of the document, in document order.
    before = list(root.itersiblings(etree.Comment, preceding=True))
    before.reverse()
    comments = [(c.text or "", _line(c)) for c in before]
    comments += [(c.text or "", _line(c)) for c in root.iter(etree.Comment)]
    comments += [(c.text or "", _line(c)) for c in root.itersiblings(etree.Comment)]
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
        versioned=versioned,
    )


def _version_source(header_el: etree._Element) -> VersionSource | None:
    version_el = header_el.find(T_VERSION)
    from_el = header_el.find(T_FROM_POLICY)
    if version_el is None and from_el is None:
        return None
    # Only a document the versioned schema refused lacks the Version; a
    # source is never built from one.
    assert version_el is not None
    version = Named(_text(version_el), _line(version_el), "Version")
    if from_el is None:
        return VersionSource(version)
    from_name_el = from_el.find(T_POLICY_NAME)
    from_version_el = from_el.find(T_VERSION)
    assert from_name_el is not None and from_version_el is not None
    return VersionSource(
        version,
        Named(_text(from_name_el), _line(from_name_el), "PolicyName"),
        Named(_text(from_version_el), _line(from_version_el), "Version"),
    )


def _label(el: etree._Element, kind: LabelKind) -> LabelSource:
    # tuple.__new__ and sourceline written out: this runs for every label
    name_el = el.find(T_NAME)
    assert name_el is not None
    ste_groups = []
    cw_groups = []
    for child in el.iterchildren(T_STE_TYPES, T_CHWALL_TYPES):
        group = _new(TypeGroup, (_types(child), child.sourceline or 0))
        if child.tag == T_STE_TYPES:
            ste_groups.append(group)
        else:
            cw_groups.append(group)
    renamed = name_el.get("from")
    line = name_el.sourceline or 0
    return _new(
        LabelSource,
        (
            _new(Named, (_text(name_el), line, "Name")),
            kind,
            ste_groups,
            cw_groups,
            el.sourceline or 0,
            None if renamed is None else _new(Named, (renamed, line, "Name")),
        ),
    )


_RARE_BYTE_TRIES = 64


def _holds(data: bytes, marker: bytes, start: int) -> bool:
    """Whether `marker` (a `<` and a rarer byte) occurs in `data` from
    `start`. Policies hold thousands of `<` but hardly any `?` or `!`: a
    search for the rare byte (memchr) is 10 times faster than one for the
    pair. A document full of the rare byte falls back to the pair search."""
    rare = marker[1:2]
    pos = data.find(rare, start + 1)
    for _ in range(_RARE_BYTE_TRIES):
        if pos < 0:
            return False
        if data.startswith(marker, pos - 1):
            return True
        pos = data.find(rare, pos + 1)
    return pos >= 0 and data.find(marker, pos - 1) >= 0


def misc_parents(root: etree._Element, data: bytes | None) -> set[str]:
    """The tags of the elements that hold a comment or processing instruction.
    Given the document's bytes in an ASCII-based encoding, none is looked
    for when the bytes hold none (a search of the bytes is 5 times faster
    than one of the tree)."""
    from lxml import etree

    encoding = (root.getroottree().docinfo.encoding or "").upper()
    if (
        data is not None
        and data[:1] == b"<"
        and (encoding in ("UTF-8", "US-ASCII", "ASCII") or encoding.startswith("ISO-8859-"))
        and not _holds(data, b"<!--", 0)
        and not _holds(data, b"<?", 1)  # the XML declaration aside
    ):
        return set()
    return {c.getparent().tag for c in root.iter(etree.Comment, etree.PI)}  # type: ignore[union-attr]
