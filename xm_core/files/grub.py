"""GRUB legacy menus (`menu.lst`, `grub.conf`): parsing and the one edit
`xm cfgbootpolicy` makes, on bytes, without any I/O.

A menu is kept as its lines, each with its own line ending (`\\n`, `\\r\\n`
or none for a last line without a newline), so that joining them gives the
file back byte for byte. Commands are read the way GRUB legacy reads them:
leading blanks skipped, `#` starts a comment line, the keyword ends at a
blank or `=`, then blanks and `=` are skipped. An entry runs from its
`title` line to the next `title` line (or the end of the file).

The edit changes exactly one line: it replaces the entry's policy module
line (a `module` whose file ends in `.bin`), or inserts
`\\tmodule <folder of the hypervisor><name>.bin` after the entry's last
command. Every other byte is kept. See docs/cfgbootpolicy.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from acm.names import check_policy_name
from xm_core.errors import XmError

# The boot menu of a new host root (files.paths.HostPaths.seed_installed): a
# machine with Xen 3.0.4 installed and one Xen entry, so that `xm
# cfgbootpolicy` of the man page's worked example finds it.
INSTALLED_MENU = b"""# GRUB menu of a host with Xen 3.0.4 (written by xm-acm for a new host root)
default 0
timeout 5

title Xen 3.0.4
\troot (hd0,0)
\tkernel /boot/xen.gz
\tmodule /boot/vmlinuz-2.6.16.33-xen root=/dev/sda1 ro
\tmodule /boot/initrd-2.6.16.33-xen.img
"""

NOT_FOUND = "Boot entry not found. Please specify unique part of the boot title."
# Xen's message, on one line (Xen's had a line break that its quoted error
# printed as a literal `\n`), with how to name one entry for certain.
AMBIGUOUS = (
    "Following boot entries matched: {titles}. Please specify unique part of the boot "
    "title, or one whole title (an exact title wins)."
)

_BLANKS = b" \t"
# GRUB legacy ends a keyword at a blank or `=` and skips blanks and `=` after it.
_KEYWORD = re.compile(rb"[ \t]*([^ \t=\r]*)[ \t=]*")
# "Xen", "XEN", "Xen-3.0.4", "Xen3" but not "Xenial" or "Xenix".
_XEN_TITLE = re.compile(rb"xen(?![a-z])", re.IGNORECASE)
# xen.gz, xen-3.0.4-1.gz, Fedora's xen.gz-2.6.18-8.el5.
_XEN_IMAGE = re.compile(rb"xen[^/]*\.gz(?:-[^/]*)?", re.IGNORECASE)
_MODULE_KEYWORDS = (b"module", b"modulenounzip")


@dataclass(frozen=True)
class MenuLine:
    """One line: `body` without its line ending, and the `ending` itself."""

    body: bytes
    ending: bytes
    keyword: bytes  # b"" for a blank line or a comment
    args: bytes  # the rest of a command, trailing blanks stripped

    @property
    def raw(self) -> bytes:
        return self.body + self.ending

    @property
    def is_command(self) -> bool:
        return bool(self.keyword)

    def first_path(self) -> bytes | None:
        """The first argument that is not a `--option` (the file of `kernel`/`module`)."""
        for token in self.args.split():
            if not token.startswith(b"--"):
                return token
        return None


def read_line(body: bytes, ending: bytes) -> MenuLine:
    stripped = body.lstrip(_BLANKS)
    if not stripped.rstrip(b" \t\r\f\v") or stripped.startswith(b"#"):
        return MenuLine(body, ending, b"", b"")
    match = _KEYWORD.match(body)
    assert match is not None  # the pattern matches any input
    args = body[match.end() :].rstrip(b" \t\r\f\v")
    return MenuLine(body, ending, match.group(1), args)


def split_lines(data: bytes) -> list[MenuLine]:
    """The lines of `data`; `b"".join(line.raw ...)` gives `data` back."""
    pieces = data.split(b"\n")
    lines: list[MenuLine] = []
    for number, piece in enumerate(pieces):
        last = number == len(pieces) - 1
        if last:
            if piece:
                lines.append(read_line(piece, b""))
        elif piece.endswith(b"\r"):
            lines.append(read_line(piece[:-1], b"\r\n"))
        else:
            lines.append(read_line(piece, b"\n"))
    return lines


@dataclass(frozen=True)
class BootEntry:
    """An entry: lines `first` (its `title`) up to but not including `end`."""

    title: bytes
    first: int
    end: int
    kernel: int | None  # index of the (last) `kernel` line
    hypervisor: bytes | None  # the file that `kernel` line loads
    policy_modules: tuple[int, ...]  # indices of module lines loading a `.bin`
    last_command: int  # index of the entry's last command line

    @property
    def title_text(self) -> str:
        return self.title.decode("utf-8", "replace")

    @property
    def loads_xen(self) -> bool:
        """Its kernel line loads a `xen*.gz` hypervisor."""
        if self.hypervisor is None:
            return False
        return bool(_XEN_IMAGE.fullmatch(_basename(self.hypervisor)))

    @property
    def is_xen(self) -> bool:
        """A multiboot entry (it has a kernel line) whose title starts with
        "Xen" or whose kernel is a `xen*.gz` hypervisor."""
        if self.kernel is None:
            return False
        return self.loads_xen or bool(_XEN_TITLE.match(self.title))


def _basename(path: bytes) -> bytes:
    return path[len(module_folder(path)) :]


def module_folder(path: bytes) -> bytes:
    """The folder of a GRUB file name, device prefix kept:
    `(hd0,1)/boot/xen.gz` -> `(hd0,1)/boot/`, `/xen.gz` -> `/`."""
    cut = path.rfind(b"/")
    if cut < 0:
        cut = path.rfind(b")")
    return path[: cut + 1]


def _is_policy_module(line: MenuLine) -> bool:
    if line.keyword not in _MODULE_KEYWORDS:
        return False
    path = line.first_path()
    return path is not None and path.lower().endswith(b".bin")


def _entry(lines: list[MenuLine], first: int, end: int) -> BootEntry:
    kernel: int | None = None
    policy: list[int] = []
    last_command = first
    for index in range(first + 1, end):
        line = lines[index]
        if not line.is_command:
            continue
        last_command = index
        if line.keyword == b"kernel":
            # GRUB forgets the modules loaded before a new kernel line.
            kernel, policy = index, []
        elif kernel is not None and _is_policy_module(line):
            policy.append(index)
    hypervisor = lines[kernel].first_path() if kernel is not None else None
    return BootEntry(lines[first].args, first, end, kernel, hypervisor, tuple(policy), last_command)


@dataclass(frozen=True)
class Menu:
    lines: list[MenuLine]
    entries: list[BootEntry]

    def xen_entries(self) -> list[BootEntry]:
        return [e for e in self.entries if e.is_xen]


def parse_menu(data: bytes) -> Menu:
    lines = split_lines(data)
    starts = [i for i, line in enumerate(lines) if line.keyword == b"title"]
    ends = [*starts[1:], len(lines)]
    return Menu(lines, [_entry(lines, s, e) for s, e in zip(starts, ends, strict=False)])


def choose_entry(menu: Menu, title: bytes | None = None) -> BootEntry:
    """The one Xen entry (whose title contains `title`, ASCII case-insensitive,
    when given); XmError with Xen's messages when none or several match."""
    matches = menu.xen_entries()
    if title is not None:
        wanted = title.strip().lower()
        exact = [e for e in matches if e.title.strip().lower() == wanted]
        # A whole title names its entry even when it is part of another
        # entry's title (`... 2.6.16.33` and `... 2.6.16.33 (single-user)`).
        matches = exact or [e for e in matches if title.lower() in e.title.lower()]
    if not matches:
        raise XmError(NOT_FOUND)
    if len(matches) > 1:
        raise XmError(AMBIGUOUS.format(titles=[e.title_text for e in matches]))
    return matches[0]


@dataclass(frozen=True)
class MenuEdit:
    """The result of configuring a policy into a menu."""

    entry: BootEntry
    original: bytes
    edited: bytes
    line: bytes  # the policy module line, without its ending
    line_number: int  # 1-based, in the edited file
    replaced: bytes | None  # the policy line it replaced, if any

    @property
    def changed(self) -> bool:
        return self.edited != self.original


def policy_line(entry: BootEntry, policy: str) -> bytes:
    """`\\tmodule <folder of the hypervisor><policy>.bin`."""
    name = ".".join(check_policy_name(policy)).encode("ascii")
    assert entry.hypervisor is not None
    return b"\tmodule " + module_folder(entry.hypervisor) + name + b".bin"


def _file_ending(lines: list[MenuLine]) -> bytes:
    return next((line.ending for line in lines if line.ending), b"\n")


def edit_menu(data: bytes, policy: str, title: str | bytes | None = None) -> MenuEdit:
    """Configure `policy` into the chosen Xen entry of the menu `data`.

    Raises XmError (nothing to edit, several candidates, several policy
    lines in the entry) or PolicyError (a bad policy name)."""
    menu = parse_menu(data)
    needle = title.encode("utf-8", "surrogateescape") if isinstance(title, str) else title
    entry = choose_entry(menu, needle)
    new = policy_line(entry, policy)
    lines = list(menu.lines)
    if len(entry.policy_modules) > 1:
        raise XmError(
            f"Boot entry '{entry.title_text}' loads more than one policy (.bin) module; "
            "remove all but one by hand."
        )
    if entry.policy_modules:
        index = entry.policy_modules[0]
        old = lines[index]
        lines[index] = read_line(new, old.ending)
        edited = b"".join(line.raw for line in lines)
        return MenuEdit(entry, data, edited, new, index + 1, old.body)

    last = lines[entry.last_command]
    if last.keyword == b"boot":
        # An explicit `boot` ends what GRUB runs: the module goes before it.
        at = entry.last_command
        ending = lines[at - 1].ending
    else:
        at = entry.last_command + 1
        ending = last.ending or _file_ending(lines)
        if not last.ending:  # the file ended without a newline
            lines[at - 1] = read_line(last.body, ending)
    lines.insert(at, read_line(new, ending))
    edited = b"".join(line.raw for line in lines)
    return MenuEdit(entry, data, edited, new, at + 1, None)


def unified_diff(old: bytes, new: bytes, label: str) -> bytes:
    """`diff -u` of two menus, line endings kept, with diff's
    `\\ No newline at end of file` marker where a line has none."""
    import difflib

    name = label.encode("utf-8", "surrogateescape")
    chunks: list[bytes] = []
    for line in difflib.diff_bytes(
        difflib.unified_diff,
        [line.raw for line in split_lines(old)],
        [line.raw for line in split_lines(new)],
        fromfile=name,
        tofile=name,
        lineterm=b"\n",
    ):
        chunks.append(line if line.endswith(b"\n") else line + b"\n\\ No newline at end of file\n")
    return b"".join(chunks)
