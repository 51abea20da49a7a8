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
    from collections.abc import Callable

    from lxml import etree

HASH_BYTES = 20  # SHA-1


class MinidomFlavour(StrEnum):
    PY26 = "py2.6"  # Python 2.6 and 2.7 (and the default): no line break after the declaration
    PY25 = "py2.5"  # Python 2.5 and older: a line break after it


def _escaped(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return text.replace('"', "&quot;").replace(">", "&gt;")


def _qualified(tag: str, nsmap: dict[str | None, str], attribute: bool) -> str:
    """`{uri}local` as `prefix:local` (the prefix in scope for that uri)."""
    if not tag.startswith("{"):
        return tag
    uri, local = tag[1:].split("}", 1)
    prefixes = [p for p, u in nsmap.items() if u == uri and (p is not None or not attribute)]
    if not prefixes:
        return local
    prefix = sorted(prefixes, key=lambda p: (p is not None, p or ""))[0]
    return local if prefix is None else f"{prefix}:{local}"


def _element(el: etree._Element, write: Callable[[str], None]) -> None:
    from lxml import etree

    if isinstance(el, etree._Comment):
        write(f"<!--{el.text or ''}-->")
        return
    if isinstance(el, etree._ProcessingInstruction):
        target = getattr(el, "target", "")
        write(f"<?{target} {el.text or ''}?>")
        return
    nsmap = el.nsmap
    parent = el.getparent()
    inherited = parent.nsmap if parent is not None else {}
    attributes: dict[str, str] = {}
    for prefix, uri in nsmap.items():
        if inherited.get(prefix) != uri:
            attributes["xmlns" if prefix is None else f"xmlns:{prefix}"] = uri
    # An element's own prefix is the one lxml kept for it.
    own = el.prefix
    tag = str(el.tag)
    local = tag.rsplit("}", 1)[-1]
    name = local if own is None else f"{own}:{local}"
    for key, value in el.attrib.items():
        attributes[_qualified(str(key), nsmap, True)] = str(value)
    write("<" + name)
    for key in sorted(attributes):
        write(f' {key}="{_escaped(attributes[key])}"')
    if el.text is None and len(el) == 0:
        write("/>")
        return
    write(">")
    if el.text:
        write(_escaped(el.text))
    for child in el:
        _element(child, write)
        if child.tail:
            write(_escaped(child.tail))
    write(f"</{name}>")


def minidom_text(root: etree._Element, flavour: MinidomFlavour = MinidomFlavour.PY26) -> str:
    """The policy as Python 2's minidom `toxml()` wrote it (see the module)."""
    parts: list[str] = ['<?xml version="1.0" ?>' + ("\n" if flavour is MinidomFlavour.PY25 else "")]
    write = parts.append
    doctype = str(getattr(root.getroottree().docinfo, "doctype", "") or "")
    if doctype:
        write(doctype)
    before = list(root.itersiblings(preceding=True))
    before.reverse()
    for node in (*before, root, *root.itersiblings()):
        _element(node, write)
    return "".join(parts)


def policy_hash(root: etree._Element, flavour: MinidomFlavour = MinidomFlavour.PY26) -> bytes:
    """The 20-byte SHA-1 Xen 3.4 wrote into the binary of this policy."""
    text = minidom_text(root, flavour)
    return hashlib.sha1(text.encode("ascii", "backslashreplace")).digest()
