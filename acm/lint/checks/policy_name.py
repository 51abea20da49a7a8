"""ACM018: PolicyName against the file's place under the policy root.

`xm makepolicy a.b.c` compiles `<root>/a/b/c-security_policy.xml`, so the
file's folders below the root and its stem spell the name it is built by.
The root is, in this order: `policy_root` of the configuration (when the
file lies below it); the nearest folder above the file named `policies`
(Xen's root is `/etc/xen/acm-security/policies`); the folder PATH given on
the command line under which the file was found. With none of them (a
single file given outside any `policies` folder), only the last part of
the name is compared with the file's stem. Files whose name does not end
in `-security_policy.xml` are not checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from acm.errors import Diagnostic, PolicyError
from acm.lint.context import LintContext, PolicyPlace
from acm.names import POLICY_SUFFIX, check_policy_name

ROOT_FOLDER_NAME = "policies"


def _below(path: str, root: str) -> tuple[str, ...] | None:
    """The folders from `root` down to `path`'s folder, or None when outside it."""
    rel = os.path.relpath(os.path.dirname(path), root)
    if rel == os.curdir:
        return ()
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return tuple(Path(rel).parts)


def policy_place(
    file: str | Path, search_root: str | Path | None = None, policy_root: str | Path | None = None
) -> PolicyPlace | None:
    """The name that `file`'s place asks for, or None when it cannot say."""
    path = os.path.abspath(file)
    base = os.path.basename(path)
    if not base.endswith(POLICY_SUFFIX) or base == POLICY_SUFFIX:
        return None
    stem = base[: -len(POLICY_SUFFIX)]
    roots: list[str] = []
    if policy_root is not None:
        roots.append(os.path.abspath(policy_root))
    folder = os.path.dirname(path)
    while True:
        if os.path.basename(folder) == ROOT_FOLDER_NAME:
            roots.append(folder)
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if search_root is not None:
        roots.append(os.path.abspath(search_root))
    for root in roots:
        folders = _below(path, root)
        if folders is not None:
            return PolicyPlace(".".join((*folders, stem)), _shown(root))
    return PolicyPlace(stem, None)


def _shown(folder: str) -> str:
    """A folder as a reader knows it: relative to the working folder when inside it."""
    rel = os.path.relpath(folder)
    return folder if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def check(ctx: LintContext) -> Iterator[Diagnostic]:
    place = ctx.place
    named = ctx.policy.policy_name
    if place is None or named.text == "":  # an empty name is the compiler's ACM019
        return
    where = ctx.policy.at(named)
    try:
        check_policy_name(named.text)
    except PolicyError:
        return  # not a dotted name at all: the compiler's error ACM016
    if place.root is not None:
        if named.text != place.expected:
            yield ctx.finding(
                "ACM018",
                f"PolicyName '{named.text}' does not match the file's place: expected "
                f"'{place.expected}' (below the policy root '{place.root}')",
                where,
            )
    elif named.text.rsplit(".", 1)[-1] != place.expected:
        yield ctx.finding(
            "ACM018",
            f"PolicyName '{named.text}' does not end in the file's stem '{place.expected}'",
            where,
        )
