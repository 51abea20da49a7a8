"""Resources: canonical names, and the resource label file.

The label file is `<policy root>/resource_labels`, in Xen's format:

    resources = {
        'phy:/dev/hda1': ('example.chwall_ste.client_v1', 'res_LogicalDiskPartition1(hda1)'),
    }

Xen executed this file to read it; we read it as a literal (never run),
write it atomically under an exclusive lock, and report a file that does
not parse instead of overwriting it.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from acm.inputfile import MAX_TEXT_BYTES, InputFileError, file_kind, read_input
from xm_core.errors import XmError
from xm_core.files.atomic import atomic_write, remove_leftovers

ResourceLabels = dict[str, tuple[str, str]]  # canonical resource -> (policy, label)

# Xen 3.4 wrote entries as (policy type, policy, label) and marked a label
# its policy update removed with the type `INV_ACM`. Such an entry is held
# as the policy `INV_ACM:<policy>`: it names no policy that can be active,
# so the resource is as inaccessible as Xen made it.
ACM_TYPE = "ACM"
INVALID_PREFIX = "INV_"
INVALID_TYPE = INVALID_PREFIX + ACM_TYPE


def invalid_policy(policy: str) -> str:
    """The policy of an entry whose label `policy`'s update removed."""
    return f"{INVALID_TYPE}:{policy}"


def _entry(entry: tuple[str, ...] | list[str]) -> tuple[str, str] | None:
    """(policy, label) of a file entry: Xen 3.0.4's (policy, label) or Xen
    3.4's (type, policy, label); None when it is neither."""
    if not all(isinstance(x, str) for x in entry):
        return None
    if len(entry) == 2:
        return entry[0], entry[1]
    if len(entry) == 3 and entry[0] == ACM_TYPE:
        return entry[1], entry[2]
    if len(entry) == 3 and entry[0] == INVALID_TYPE:
        return invalid_policy(entry[1]), entry[2]
    return None


def canonical_resource(resource: str) -> str:
    """Make a resource name canonical as Xen did: `phy:` and `tap:` paths
    without a leading `/` get `/dev/` in front, `file:` paths must be
    absolute, a name without `type:` is an error. The path need not exist."""
    kind, sep, path = resource.partition(":")
    if not sep or not kind:
        raise XmError(f"Resource spec '{resource}' contains no ':' delimiter")
    subtype = ""
    if kind == "tap":
        subtype, sep, path = path.partition(":")
        if not sep or not subtype:
            raise XmError(f"Resource spec '{resource}' contains no tap subtype")
    if not path:
        raise XmError(f"Invalid resource '{resource}': empty path")
    if kind in ("phy", "tap") and not path.startswith("/"):
        path = "/dev/" + path
    if not path.startswith("/"):
        raise XmError(f"Invalid resource '{resource}': the path must be absolute")
    if kind == "tap":
        kind = f"tap:{subtype}"
    return f"{kind}:{path}"


# The label file as Xen and this module write it, scanned in one linear pass:
# `ast.parse` of a 16 MiB file (the documented limit) took a minute and
# gigabytes. Any other spelling (triple quotes, string concatenation, ...)
# is read by `ast`, only in files small enough for it.
_WS = r"[ \t\r\n\f]*(?:(?:#[^\n]*|\\\r?\n)[ \t\r\n\f]*)*"
_STR = r"""([rRuU]?(?:'[^'\\\n]*(?:\\.[^'\\\n]*)*'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"))"""
_HEAD = re.compile(_WS + r"resources" + _WS + "=" + _WS + r"\{" + _WS, re.DOTALL)
_ENTRY = re.compile(
    _STR
    + _WS
    + ":"
    + _WS
    + r"([(\[])"
    + _WS
    + _STR
    + _WS
    + ","
    + _WS
    + _STR
    + _WS
    + r"(?:,"
    + _WS
    + r")?([)\]])"
    + _WS
    + r"(,|\})"
    + _WS,
    re.DOTALL,
)
_EMPTY = re.compile(r"\}" + _WS)
AST_PARSE_MAX_BYTES = 1 << 20


def _string(token: str) -> str:
    if "\\" not in token and token[0] in "'\"":
        return token[1:-1]
    value = ast.literal_eval(token)
    if not isinstance(value, str):
        raise ValueError(token)
    return value


def _scan(text: str) -> dict[Any, Any] | None:
    """The `resources` value of a file in the usual spelling, in one linear
    pass; None when it is spelled otherwise."""
    head = _HEAD.match(text)
    if head is None:
        return None
    pos = head.end()
    value: dict[str, tuple[str, str]] = {}
    empty = _EMPTY.match(text, pos)
    if empty is not None:
        return value if empty.end() == len(text) else None
    while True:
        entry = _ENTRY.match(text, pos)
        if entry is None or (entry.group(2) == "(") != (entry.group(5) == ")"):
            return None
        try:
            key, policy, label = (_string(entry.group(i)) for i in (1, 3, 4))
        except (SyntaxError, ValueError):  # a bad escape: ast says where
            return None
        value[key] = (policy, label)
        pos = entry.end()
        if entry.group(6) == "}":
            return value if pos == len(text) else None
        closing = _EMPTY.match(text, pos)  # a trailing comma before the brace
        if closing is not None:
            return value if closing.end() == len(text) else None


def _literal(text: str, file: str) -> Any:
    """The `resources` value: scanned, or read with `ast` (small files only)."""
    scanned = _scan(text)
    if scanned is not None:
        return scanned
    if len(text) > AST_PARSE_MAX_BYTES:
        raise XmError(
            f"Resource label file '{file}' is not in the usual form "
            "`resources = {'res': ('policy', 'label'), ...}` and too large to read "
            f"otherwise (over {AST_PARSE_MAX_BYTES >> 20} MiB); left as it is"
        )
    try:
        tree = ast.parse(text, filename=file)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None) or 0
        raise XmError(
            f"Resource label file '{file}' does not parse (line {line}); left as it is"
        ) from None
    if not tree.body:
        return {}
    stmt = tree.body[0]
    if (
        len(tree.body) != 1
        or not isinstance(stmt, ast.Assign)
        or len(stmt.targets) != 1
        or not isinstance(stmt.targets[0], ast.Name)
        or stmt.targets[0].id != "resources"
    ):
        raise XmError(
            f"Resource label file '{file}' must hold one assignment 'resources = {{...}}'; "
            "left as it is"
        )
    try:
        value = ast.literal_eval(stmt.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise XmError(
            f"Resource label file '{file}' line {stmt.lineno}: not a literal; left as it is"
        ) from None
    return value


def parse_resource_labels(text: str, file: str) -> ResourceLabels:
    """The `resources` dict of a label file, checked, keyed by canonical
    resource names; XmError when it does not parse."""
    value = _literal(text, file)
    if not isinstance(value, dict):
        raise XmError(f"Resource label file '{file}': 'resources' is not a dict; left as it is")
    result: ResourceLabels = {}
    for key, entry in value.items():
        pair = _entry(entry) if isinstance(entry, tuple | list) else None
        if not isinstance(key, str) or pair is None:
            raise XmError(
                f"Resource label file '{file}': entry {key!r} is not "
                "'resource': ('policy', 'label'); left as it is"
            )
        # Entries written by hand in another spelling (`phy:hda2`) are
        # read under their canonical name, so that every command (and the
        # create checks) finds them; the next write stores that name.
        try:
            name = canonical_resource(key)
        except XmError:
            name = key  # no canonical form: kept as written, matches nothing else
        if name in result and result[name] != pair:
            raise XmError(
                f"Resource label file '{file}': {key!r} names the resource {name!r} "
                "again, with another label; left as it is"
            )
        result[name] = pair
    return result


def render_resource_labels(labels: ResourceLabels) -> bytes:
    lines = ["resources = {"]
    for resource in sorted(labels):
        policy, label = labels[resource]
        if policy.startswith(INVALID_TYPE + ":"):
            old = policy[len(INVALID_TYPE) + 1 :]
            lines.append(f"    {resource!r}: ({INVALID_TYPE!r}, {old!r}, {label!r}),")
        else:
            lines.append(f"    {resource!r}: ({policy!r}, {label!r}),")
    lines.append("}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def read_resource_labels(path: Path, missing_ok: bool = True) -> ResourceLabels:
    try:
        raw = read_input(path, MAX_TEXT_BYTES)
    except InputFileError as exc:
        if not exc.missing:
            raise XmError(f"Resource label file '{path}' {exc.reason}; left as it is") from None
        if missing_ok:
            return {}
        raise XmError("Resource label file not found") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise XmError(f"Resource label file '{path}' is not UTF-8 text; left as it is") from None
    return parse_resource_labels(text, str(path))


@contextlib.contextmanager
def locked_resource_labels(path: Path, missing_ok: bool = True) -> Iterator[ResourceLabels]:
    """Read-modify-write under an exclusive lock: yields the labels; when the
    block ends without an exception, the (changed) dict is written atomically.
    A file that does not parse raises XmError and is left as it is; a
    missing file is an empty dict, or `Resource label file not found` when
    `missing_ok` is false. The lock is a separate `<file>.lock`, since the
    file itself is replaced by every write."""
    given = path
    path = Path(os.path.realpath(path))  # a symlinked label file stays a link
    with contextlib.suppress(OSError):
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):  # before a lock is made beside it (beside /dev/zero)
            raise XmError(
                f"Resource label file '{given}' is not a regular file ({file_kind(mode)}); "
                "left as it is"
            )
    if not missing_ok and not path.exists():
        raise XmError("Resource label file not found")
    # The lock sits beside the name the host uses, inside the host root: a
    # label file symlinked out of the root gets no `<target>.lock` next to
    # its target (and a planted symlink at the lock's name is not followed).
    given.parent.mkdir(parents=True, exist_ok=True)
    lock_path = given.with_name(given.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        labels = read_resource_labels(path, missing_ok)
        before = dict(labels)
        yield labels
        if labels != before:
            remove_leftovers([path])  # of writers killed before; we hold their lock
            atomic_write(path, render_resource_labels(labels))
    finally:
        os.close(fd)


def resource_key(labels: ResourceLabels, resource: str) -> str | None:
    """The key under which `resource` is labeled: its canonical name, or,
    for an entry written by hand in another spelling, the name exactly as
    given. None when it is not labeled. Raises XmError when the name cannot
    be made canonical."""
    canonical = canonical_resource(resource)
    if canonical in labels:
        return canonical
    if resource in labels:
        return resource
    return None
