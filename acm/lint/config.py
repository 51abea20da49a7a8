"""Lint configuration: `acm-lint.toml` and inline suppressions.

A configuration file holds::

    disable = ["ACM026", "ACM031"]        # rules that are not reported
    trusted = ["dom_StorageDomain"]       # labels that may bridge conflict sets
    policy_root = "policies"              # optional, relative to this file
    [severity]
    ACM030 = "error"                      # error | warning | info

It is `--config FILE`, else the first `acm-lint.toml` found in the policy's
folder or above it. Inline, a comment `<!-- acm-lint: disable=ACM026,ACM031 -->`
anywhere in a policy disables those rules for the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from acm.errors import Severity
from acm.inputfile import MAX_TEXT_BYTES, InputFileError, read_input
from acm.lint.rules import RULES

CONFIG_NAME = "acm-lint.toml"
_KEYS = ("disable", "severity", "trusted", "policy_root")
_INLINE = re.compile(r"acm-lint\s*:\s*disable\s*=\s*([A-Za-z0-9_,\s]*)")


class LintUsageError(Exception):
    """The lint run cannot start: a broken configuration or a bad PATH (exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LintConfig:
    disable: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))
    trusted: frozenset[str] = frozenset()
    policy_root: Path | None = None
    file: Path | None = None  # where it was read from; None for the defaults


DEFAULT_CONFIG = LintConfig()


def _fail(file: Path, message: str) -> LintUsageError:
    return LintUsageError(f"{file}: {message}")


def _string_list(file: Path, doc: Mapping[str, object], key: str) -> list[str]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(file, f"'{key}' must be a list of strings")
    return list(value)


def _check_code(file: Path, code: str, where: str) -> str:
    rule = RULES.get(code)
    if rule is None:
        raise _fail(file, f"unknown rule code '{code}' in {where}")
    if not rule.configurable:
        raise _fail(
            file,
            f"{code} cannot be changed in {where}: a file that does not parse cannot be linted",
        )
    return code


def load_config(file: Path) -> LintConfig:
    """Read and check a configuration file; LintUsageError names what is wrong."""
    import tomllib  # only a run with a configuration file reads TOML

    try:
        doc = tomllib.loads(read_input(file, MAX_TEXT_BYTES).decode("utf-8"))
    except InputFileError as exc:
        raise _fail(file, f"cannot read configuration: {exc.reason}") from None
    except UnicodeDecodeError:
        raise _fail(file, "invalid TOML: not UTF-8 text") from None
    except RecursionError:  # tomllib recurses once per level of nesting
        raise _fail(file, "invalid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(file, f"invalid TOML: {exc}") from None
    unknown = sorted(set(doc) - set(_KEYS))
    if unknown:
        raise _fail(file, f"unknown key '{unknown[0]}' (known: {', '.join(_KEYS)})")
    disable = {_check_code(file, c, "'disable'") for c in _string_list(file, doc, "disable")}
    trusted = frozenset(_string_list(file, doc, "trusted"))
    table = doc.get("severity", {})
    if not isinstance(table, dict):
        raise _fail(file, "'severity' must be a table of CODE = \"error|warning|info\"")
    severity: dict[str, Severity] = {}
    for code, level in table.items():
        _check_code(file, code, "[severity]")
        try:
            severity[code] = Severity(level)
        except ValueError:
            raise _fail(
                file, f'severity of {code} must be "error", "warning" or "info", not {level!r}'
            ) from None
    root = doc.get("policy_root")
    if root is not None and not isinstance(root, str):
        raise _fail(file, "'policy_root' must be a string (a folder, relative to this file)")
    return LintConfig(
        disable=frozenset(disable),
        severity=MappingProxyType(severity),
        trusted=trusted,
        policy_root=(file.parent / root).resolve() if root is not None else None,
        file=file,
    )


def find_config(start: Path) -> Path | None:
    """The nearest `acm-lint.toml` in `start` (a folder) or above it."""
    folder = start.resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / CONFIG_NAME
        if path.is_file():
            return path
    return None


def inline_disabled(comments: Iterable[tuple[str, int]]) -> frozenset[str]:
    """Codes disabled by `<!-- acm-lint: disable=CODE,... -->` comments.

    Codes are taken in upper case; unknown codes are ignored (a comment is no
    place to fail a run), as are the parser's codes, which cannot be disabled.
    """
    codes: set[str] = set()
    for text, _line in comments:
        for match in _INLINE.finditer(text):
            for code in re.split(r"[\s,]+", match.group(1).strip()):
                rule = RULES.get(code.upper())
                if rule is not None and rule.configurable:
                    codes.add(rule.code)
    return frozenset(codes)
