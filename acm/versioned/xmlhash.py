"""The SHA-1 Xen 3.4 puts in a versioned binary policy, and the XML text it hashes.

Xen 3.4's tools hashed the policy's XML as Python 2's minidom wrote it
back (`toxml()`), not the file's bytes. `minidom_text` writes a parsed
policy the same way:

- the declaration `<?xml version="1.0" ?>` (encoding and standalone
  dropped), then nothing (Python 2.6/2.7) or a line break (Python 2.5 and
  older: `MinidomFlavour.PY25`; which one a Xen host used depended on its
  dom0's Python);
- the nodes around the root element (a plain DOCTYPE, comments, processing
  instructions) and the root, with no white space between them;
- inside the root, white space as it was (line ends already normalised by
  the parser, attribute values normalised as XML says);
- attributes, namespace declarations included, sorted by their qualified
  names; `&`, `<`, `"` and `>` written as entities, in text too; empty
  elements as `<X/>`; comments and processing instructions as written.

The text is then encoded as ASCII (the checks refuse a versioned policy
with other characters, ACM046). A limit: CDATA sections reach us merged
into text, so a policy that uses them hashes as if they were escaped text
(minidom kept them as CDATA).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml import etree

HASH_BYTES = 20  # SHA-1


class MinidomFlavour(StrEnum):
    PY26 = "py2.6"  # Python 2.6 and 2.7 (and the default): no line break after the declaration
    PY25 = "py2.5"  # Python 2.5 and older: a line break after it


# `&`, `<`, `"` and `>` as entities, in text and attribute values alike
# (one pass in C).
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", '"': "&quot;", ">": "&gt;"})


def _qualified(tag: str, nsmap: dict[str | None, str]) -> str:
    """An attribute's `{uri}local` as `prefix:local` (a prefix in scope for that uri)."""
    if not tag.startswith("{"):
        return tag
    uri, local = tag[1:].split("}", 1)
    prefixes = sorted(p for p, u in nsmap.items() if u == uri and p is not None)
    return f"{prefixes[0]}:{local}" if prefixes else local


class _Writer:
    """Writes elements as minidom did. `scoped`: whether elements below the
    root may declare namespaces of their own (else only the root's are
    looked at, which spares a namespace map per element)."""

    def __init__(self, root: etree._Element, scoped: bool) -> None:
        self.parts: list[str] = []
        self.scoped = scoped
        self.root_nsmap = root.nsmap

    def declarations(self, el: etree._Element, is_root: bool) -> dict[str, str]:
        if not (is_root or self.scoped):
            return {}
        nsmap = el.nsmap
        parent = el.getparent()
        inherited = parent.nsmap if parent is not None else {}
        return {
            ("xmlns" if prefix is None else f"xmlns:{prefix}"): uri
            for prefix, uri in nsmap.items()
            if inherited.get(prefix) != uri
        }

    def start_tag(self, el: etree._Element, is_root: bool) -> tuple[str, str]:
        """(qualified name, `<name attributes` without its closing `>`)."""
        tag = str(el.tag)
        local = tag[tag.rfind("}") + 1 :]
        prefix = el.prefix
        name = local if prefix is None else f"{prefix}:{local}"
        attributes = self.declarations(el, is_root)
        items = el.items()
        if not (items or attributes):
            return name, "<" + name
        nsmap = el.nsmap if self.scoped else self.root_nsmap
        for key, value in items:
            attributes[_qualified(str(key), nsmap)] = str(value)
        written = "".join(
            f' {key}="{attributes[key].translate(_ESCAPES)}"' for key in sorted(attributes)
        )
        return name, "<" + name + written

    def node(self, el: etree._Element, is_root: bool = False) -> None:
        write = self.parts.append
        tag = el.tag
        if type(tag) is not str:  # a comment or a processing instruction
            from lxml import etree

            if isinstance(el, etree._Comment):
                write(f"<!--{el.text or ''}-->")
            else:
                write(f"<?{getattr(el, 'target', '')} {el.text or ''}?>")
            return
        name, start = self.start_tag(el, is_root)
        write(start)
        text = el.text
        if text is None and not len(el):
            write("/>")
            return
        write(">")
        if text:
            write(text.translate(_ESCAPES))
        node = self.node
        for child in el:
            node(child)
            tail = child.tail
            if tail:
                write(tail.translate(_ESCAPES))
        write(f"</{name}>")


def _declares_below_root(root: etree._Element, data: bytes | None) -> bool:
    """Whether an element below the root may declare a namespace. Every
    declaration holds `xmlns`: in an ASCII-based document with no more of
    them than the root declares, none can (a cheap scan spares a namespace
    map per element)."""
    if data is None or data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        return True
    return data.count(b"xmlns") != len(root.nsmap)


# What libxml2's own serializer writes otherwise than minidom: `"` and CR in
# text (minidom: `&quot;`, a raw CR), tab, line feed and CR in attribute
# values (minidom: raw), a processing instruction without data (minidom adds
# a space), and the order of several attributes (minidom sorts them).
_UNLIKE_MINIDOM = (
    "//text()[contains(., $quote) or contains(., $cr)]"
    " | //@*[contains(., $tab) or contains(., $lf) or contains(., $cr)]"
    " | //processing-instruction()"
    " | /*/descendant::*[count(@*) > 1]"
)


def _libxml2_inner(root: etree._Element) -> str | None:
    """What lies between the root's start and end tags, written by libxml2
    (in C, ten times faster) when that is exactly what minidom wrote: when
    the document holds none of `_UNLIKE_MINIDOM` and no element below the
    root declares a namespace (the caller knows). Else None."""
    from lxml import etree

    if root.text is None and not len(root):
        return None
    unlike = root.xpath(_UNLIKE_MINIDOM, quote='"', cr="\r", tab="\t", lf="\n")
    if unlike:
        return None
    whole = etree.tostring(root, encoding=str, with_tail=False)
    # libxml2 escapes `>` in attribute values: the first one ends the start tag.
    start = whole.index(">") + 1
    end = whole.rindex("</")
    return whole[start:end]


def minidom_text(
    root: etree._Element,
    flavour: MinidomFlavour = MinidomFlavour.PY26,
    data: bytes | None = None,
) -> str:
    """The policy as Python 2's minidom `toxml()` wrote it (see the module).
    `data`, the document's bytes, only makes it faster."""
    scoped = _declares_below_root(root, data)
    writer = _Writer(root, scoped)
    write = writer.parts.append
    write('<?xml version="1.0" ?>' + ("\n" if flavour is MinidomFlavour.PY25 else ""))
    doctype = str(getattr(root.getroottree().docinfo, "doctype", "") or "")
    if doctype:
        write(doctype)
    before = list(root.itersiblings(preceding=True))
    before.reverse()
    for node in before:
        writer.node(node)
    inner = None if scoped else _libxml2_inner(root)
    if inner is None:
        writer.node(root, is_root=True)
    else:
        # The root's start tag as minidom wrote it, the rest as libxml2 did.
        name, start = writer.start_tag(root, is_root=True)
        write(start + ">" + inner + f"</{name}>")
    for node in root.itersiblings():
        writer.node(node)
    return "".join(writer.parts)


def policy_hash(
    root: etree._Element,
    flavour: MinidomFlavour = MinidomFlavour.PY26,
    data: bytes | None = None,
) -> bytes:
    """The 20-byte SHA-1 Xen 3.4 wrote into the binary of this policy
    (`data`, the document's bytes, only makes it faster)."""
    text = minidom_text(root, flavour, data)
    return hashlib.sha1(text.encode("ascii", "backslashreplace")).digest()
