"""Policy names: `example.chwall_ste.client_v1` <-> files under a policy root."""

from __future__ import annotations

import re

from acm.errors import PolicyError, unprintable

POLICY_SUFFIX = "-security_policy.xml"
MAP_SUFFIX = ".map"
BIN_SUFFIX = ".bin"

_PART = re.compile(r"[A-Za-z0-9_+\-]+")


_SPACE_NAMES = {" ": "a space", "\t": "a tab", "\u00a0": "a no-break space"}
_ODD_CATEGORIES = {"Co": "private-use", "Cn": "unassigned"}


def bad_name_character(text: str) -> str | None:
    """What in a policy's type or label name breaks the `.map` (space-separated
    columns) or prints as something else, in words; None when nothing does.
    The one set: the characters never printed raw (acm.errors.unprintable:
    controls, line breaks, Unicode format characters such as U+202E and
    U+200B), white space, private-use and unassigned characters. The compiler
    refuses them (ACM016), and lint reports the compiler's finding."""
    if text.isascii() and text.isprintable() and " " not in text:
        return None  # printable ASCII: the common case, at once
    problem = unprintable(text)
    if problem == "a line break":
        return problem
    for ch in text:
        if ch.isspace():
            return "white space (" + _SPACE_NAMES.get(ch, f"U+{ord(ch):04X}") + ")"
    if problem is not None:
        return problem
    import unicodedata  # only for a name that is not printable ASCII

    for ch in text:
        category = unicodedata.category(ch)
        if category in _ODD_CATEGORIES:
            return f"the {_ODD_CATEGORIES[category]} character U+{ord(ch):04X}"
    return None


def check_policy_name(name: str) -> list[str]:
    """The dotted name's parts, or PolicyError (ACM005) naming what is wrong.

    Checked before any file is touched: a part holds letters, digits, `_`,
    `-` and `+` only, so no `..`, `/`, empty part, NUL or space can reach a path.
    """
    if not name:
        raise PolicyError.single("ACM005", "Invalid policy name '': the name is empty")
    if name.endswith(POLICY_SUFFIX):
        raise PolicyError.single("ACM005", _file_name_given(name))
    parts = name.split(".")
    for part in parts:
        if not part:
            raise PolicyError.single(
                "ACM005", f"Invalid policy name {name!r}: empty part between dots"
            )
        if not _PART.fullmatch(part):
            raise PolicyError.single(
                "ACM005",
                f"Invalid policy name {name!r}: part {part!r} may hold only letters, "
                "digits, '_', '-' and '+'",
            )
    return parts


def _file_name_given(name: str) -> str:
    """What to type instead of a policy's file name: its dotted name is its
    path under the policy root, `/` as `.`, without the suffix."""
    stem = name[: -len(POLICY_SUFFIX)]
    how = (
        "a policy is named by its path under the policy root with '.' for '/' and "
        f"without '{POLICY_SUFFIX}'"
    )
    if "/" in stem:
        dotted = ".".join(part for part in stem.split("/") if part not in ("", "."))
        return f"Invalid policy name {name!r}: that is a file; {how}: type '{dotted}'"
    return (
        f"Invalid policy name {name!r}: that is a file name; {how} "
        "(example/chwall_ste/client_v1-security_policy.xml is example.chwall_ste.client_v1)"
    )


def policy_relpath(name: str) -> str:
    """`example.chwall_ste.client_v1` -> `example/chwall_ste/client_v1` (checked)."""
    return "/".join(check_policy_name(name))


def policy_prefix(policy_root: str, name: str) -> str:
    """The root as given, with one `/` added when missing, then the name's path.

    This is exactly the string Xen's compiler printed into the `.map`.
    """
    root = policy_root if policy_root.endswith("/") else policy_root + "/"
    return root + policy_relpath(name)


def map_name_problem(text: str) -> str | None:
    """Why a name or type cannot be written to the `.map` (empty, or a
    character that breaks its lines), or None; the versioned numbering asks
    the same."""
    if text == "":
        return "is empty"
    problem = bad_name_character(text)
    if problem is not None:
        return f"{text!r} contains {problem}, which breaks the .map"
    return None


def policy_name_problem(text: str) -> str | None:
    """The PolicyName becomes a path (`labels`, `addlabel` and the loaded
    policy's files are found by it): it must be a dotted policy name."""
    try:
        check_policy_name(text)
    except PolicyError as exc:
        return f"{text!r} is not a dotted policy name: {exc.message.split(': ', 1)[-1]}"
    return None
