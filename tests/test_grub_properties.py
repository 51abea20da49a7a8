"""Properties of the menu edit on random GRUB menus (hypothesis).

The generator builds menus whose Xen entries it knows by construction, so
the oracle does not reuse the parser: the edit succeeds exactly when one
entry is Xen, and then the file differs from the original by one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from xm_core.errors import XmError
from xm_core.files.grub import AMBIGUOUS, NOT_FOUND, edit_menu

POLICY = "example.chwall_ste.client_v1"
BIN = POLICY.encode() + b".bin"

indent = st.sampled_from([b"", b"\t", b"  ", b"    ", b" \t"])
sep = st.sampled_from([b" ", b"\t", b"\t\t", b"=", b" = "])
words = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=12).map(
    lambda s: s.encode("utf-8")
)
filler = st.sampled_from(
    [b"", b"   ", b"# a comment", b"## kopt=root=/dev/sda1 ro", b"#title Xen (commented)", b"\t"]
)
global_line = st.sampled_from(
    [b"default 0", b"timeout=5", b"hiddenmenu", b"color cyan/blue white/blue", b"default saved"]
)
folders = st.sampled_from([b"/boot/", b"/", b"(hd0,1)/boot/", b"(hd0,0)/"])
xen_titles = st.sampled_from([b"Xen", b"XEN", b"Xen 3.0.4 / Linux", b"xen-3.0"])
other_titles = st.sampled_from([b"Debian GNU/Linux", b"Xenial", b"Windows", b"Red Hat (xen)"])


@dataclass
class Entry:
    lines: list[bytes]
    is_xen: bool
    policy_lines: int
    title: bytes


XEN_IMAGES = [b"xen.gz", b"xen-3.0.4-1.gz", b"xen.gz-2.6.18-8.el5", b"XEN.GZ"]
LINUX_IMAGES = [b"vmlinuz", b"vmlinuz-2.6.18-xen", b"kernel-2.6.16-xen0", b"xen.gz.old"]


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    """An entry of a known kind: "xen-title" (a Xen title, any kernel),
    "xen-kernel" (another title, a xen*.gz kernel), "linux", "chain" (no kernel)."""
    kind = draw(st.sampled_from(["xen-title", "xen-kernel", "linux", "chain"]))
    suffix = draw(words).strip(b" \t\x0b\x0c")
    title = draw(xen_titles if kind == "xen-title" else other_titles)
    title += b" " + suffix if suffix else b""
    lines = [draw(indent) + b"title" + draw(sep) + title]
    lines += draw(st.lists(filler, max_size=2))
    lines.append(draw(indent) + b"root (hd0,0)")
    policy = 0
    if kind == "chain":
        lines.append(draw(indent) + b"chainloader +1")
    else:
        images = {"xen-title": XEN_IMAGES + LINUX_IMAGES, "xen-kernel": XEN_IMAGES}
        image = draw(st.sampled_from(images.get(kind, LINUX_IMAGES)))
        options = draw(st.sampled_from([b"", b" dom0_mem=256M", b"  "]))
        lines.append(draw(indent) + b"kernel" + draw(sep) + draw(folders) + image + options)
        modules = draw(
            st.lists(st.sampled_from(["dom0", "initrd", "policy", "filler"]), max_size=4)
        )
        for module in modules:
            if module == "filler":
                lines.append(draw(filler))
                continue
            path = b"/boot/" + module.encode()
            if module == "policy":
                policy += 1
                path = b"/boot/old_" + draw(st.sampled_from([b"a.bin", b"b.BIN"]))
            lines.append(draw(indent) + b"module" + draw(sep) + path)
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from([b"savedefault", b"quiet", b"boot"])))
    lines += draw(st.lists(filler, max_size=2))
    return Entry(lines, kind in ("xen-title", "xen-kernel"), policy, title)


@dataclass
class Menu:
    data: bytes
    entries: list[Entry]
    ending: bytes


@st.composite
def menus(draw: st.DrawFn) -> Menu:
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    head = draw(st.lists(st.one_of(global_line, filler), max_size=4))
    body = draw(st.lists(entries(), max_size=4))
    lines = head + [line for e in body for line in e.lines]
    data = ending.join(lines)
    if lines and draw(st.booleans()):
        data += ending
    return Menu(data, body, ending)


def split(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


TITLE = re.compile(rb"^[ \t]*title[ \t=]")


@given(menus())
@settings(max_examples=300, deadline=None)
def test_edit_changes_exactly_one_line_of_the_one_xen_entry(menu: Menu) -> None:
    check_edit(menu)


@given(menus().filter(lambda m: sum(e.is_xen for e in m.entries) == 1))
@settings(max_examples=200, deadline=None)
def test_edit_of_menus_with_one_xen_entry(menu: Menu) -> None:
    check_edit(menu)


def check_edit(menu: Menu) -> None:
    xen = [e for e in menu.entries if e.is_xen]
    try:
        edit = edit_menu(menu.data, POLICY)
    except XmError as exc:
        if not xen:
            assert exc.message == NOT_FOUND
        elif len(xen) > 1:
            assert exc.message == AMBIGUOUS.format(titles=[e.title.decode() for e in xen])
        else:
            assert xen[0].policy_lines > 1 and "more than one policy" in exc.message
        return
    assert len(xen) == 1 and xen[0].policy_lines <= 1
    assert edit.entry.title == xen[0].title
    old, new = split(menu.data), split(edit.edited)
    changed = [i for i, line in enumerate(new) if line.rstrip(b"\r\n") == edit.line]
    assert len(changed) == 1
    (at,) = changed
    assert edit.line.startswith(b"\tmodule ") and edit.line.endswith(b"/" + BIN)
    if xen[0].policy_lines == 1:
        # replaced in place: every other line identical, same count
        assert len(new) == len(old)
        assert [x for i, x in enumerate(new) if i != at] == [
            x for i, x in enumerate(old) if i != at
        ]
        assert old[at].rstrip(b"\r\n").lower().endswith(b".bin")
    else:
        rest = new[:at] + new[at + 1 :]
        if menu.data.endswith(b"\n") or at < len(old):
            assert rest == old
        else:  # appended at the end of a file without final newline
            assert rest == old[:-1] + [old[-1] + menu.ending]
        # it ends the entry: only blank lines, comments or `boot` until the next title
        for line in new[at + 1 :]:
            if TITLE.match(line):
                break
            text = line.strip()
            assert not text or text.startswith(b"#") or text == b"boot"
    # the new line's ending is the file's
    assert new[at].endswith(menu.ending) or (at == len(new) - 1 and new[at] == edit.line)


@given(menus())
@settings(max_examples=200, deadline=None)
def test_edit_is_idempotent(menu: Menu) -> None:
    try:
        once = edit_menu(menu.data, POLICY).edited
    except XmError:
        return
    again = edit_menu(once, POLICY)
    assert again.edited == once
    assert not again.changed


@given(st.binary(max_size=400), st.one_of(st.none(), st.binary(max_size=5)))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_an_edit_or_a_clean_error(data: bytes, title: bytes | None) -> None:
    try:
        edit = edit_menu(data, POLICY, title)
    except XmError:
        return
    old, new = split(data), split(edit.edited)
    assert len(new) - len(old) in (0, 1)
