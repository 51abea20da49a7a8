"""Errors as values: every finding carries a stable code, a severity, a
message and the place it was found (file, line, column).

Check stages collect every finding of a stage instead of stopping at the
first one; `PolicyError` carries such a collection out of a stage that
cannot go on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum

from acm.records import NamedTuple

# The one set of characters never printed raw, anywhere: C0 and C1 controls,
# DEL, the Unicode line and paragraph separators, the Unicode format
# characters (category Cf: U+202E turns the rest of a line around, U+200B is
# invisible, so two names that print alike differ) and lone surrogates. A
# line break in a name would forge an output line, an escape sequence would
# drive the terminal. The compiler refuses them in names (acm.names).
_FORMAT = (  # category Cf, Unicode 14
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
_CONTROL_CLASS = f"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff{_FORMAT}]"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The patterns are compiled on first use, not at import: the two take about
# 1.5 ms, `xm makepolicy` has a start-up budget, and text that is printable
# ASCII (the common case) is answered without them.
_patterns: dict[str, re.Pattern[str]] = {}


def _pattern(char_class: str) -> re.Pattern[str]:
    found = _patterns.get(char_class)
    if found is None:
        found = _patterns[char_class] = re.compile(char_class)
    return found


def _plain(text: str) -> bool:
    """No character of `text` is in `_CONTROL_CLASS`: in ASCII that class
    holds exactly the characters `str.isprintable` refuses (0-0x1f, 0x7f)."""
    return text.isascii() and text.isprintable()


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code > 0xFFFF:
        return f"\\U{code:08x}"
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def unprintable(text: str) -> str | None:
    """The first character of `text` that is never printed raw (see
    `_CONTROL_CLASS`), in words ("a line break", "the invisible formatting
    character U+202E"); None when there is none."""
    if _plain(text):
        return None
    found = _pattern(_CONTROL_CLASS).search(text)
    if found is None:
        return None
    char = found.group()
    if char in "\n\r\u2028\u2029\x85\x0b\x0c":
        return "a line break"
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        kind = "surrogate"
    elif code < 0x20 or 0x7F <= code <= 0x9F:
        kind = "control"
    else:
        kind = "invisible formatting"
    return f"the {kind} character U+{code:04X}"


def escape_controls(text: str, keep: str = "") -> str:
    """`text` with every control character written as an escape (`\\n`,
    `\\x1b`, `\\u2028`), except those in `keep`."""
    if _plain(text):
        return text
    control = _pattern(_CONTROL_CLASS)
    if not control.search(text):
        return text
    if not keep:
        return control.sub(_escape, text)
    return control.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)


# What XML 1.0 cannot hold at all (not even as a character reference).
_NOT_XML_CLASS = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"


def xml_text(text: str) -> str:
    """`text` with the characters XML 1.0 cannot hold written as escapes
    (`\\x1b`), for JUnit and SARIF reports (names and test titles come from
    user files)."""
    not_xml = _pattern(_NOT_XML_CLASS)
    if not not_xml.search(text):
        return text
    return not_xml.sub(_escape, text)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANKS[self.value]


_RANKS = {"error": 3, "warning": 2, "info": 1}


# Records are NamedTuples, not dataclasses: `xm makepolicy` has a start-up
# budget, and importing dataclasses (which imports inspect) costs more than
# the whole compile of a small policy.


class Location(NamedTuple):
    """Where a finding was made. `line`/`column` are 1-based, 0 when unknown."""

    file: str = ""
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.file:
            return ""
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}"
        return self.file


class Diagnostic(NamedTuple):
    code: str
    message: str
    location: Location = Location()
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self) -> str:
        """`file:line:col: severity CODE: message` (the compiler's stderr form)."""
        where = escape_controls(str(self.location))
        head = f"{where}: " if where else ""
        return f"{head}{self.severity.value} {self.code}: {escape_controls(self.message)}"

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
        }


class DeferredDiagnostic(Diagnostic):
    """A finding whose message is written when it is read: its `message`
    item holds a function that writes it. Lint finds a bridge (ACM030) for
    most labels of a large policy, and text output shows a hundred of them;
    the path each message names is worked out only for those shown. Reads
    as, compares as and hashes as the Diagnostic with the message written."""

    __slots__ = ()

    @property  # type: ignore[misc]  # a NamedTuple's field, read through the function
    def message(self) -> str:  # type: ignore[override]
        write: Callable[[], str] = tuple.__getitem__(self, 1)  # type: ignore[assignment]
        return write()

    def written(self) -> Diagnostic:
        return Diagnostic(self.code, self.message, self.location, self.severity)

    def __eq__(self, other: object) -> bool:
        return self.written() == other

    def __ne__(self, other: object) -> bool:
        return self.written() != other

    def __hash__(self) -> int:
        return hash(self.written())

    def __lt__(self, other: tuple[object, ...]) -> bool:
        return self.written() < _written(other)

    def __le__(self, other: tuple[object, ...]) -> bool:
        return self.written() <= _written(other)

    def __gt__(self, other: tuple[object, ...]) -> bool:
        return self.written() > _written(other)

    def __ge__(self, other: tuple[object, ...]) -> bool:
        return self.written() >= _written(other)

    def __repr__(self) -> str:
        return repr(self.written())


def _written(other: tuple[object, ...]) -> tuple[object, ...]:
    return other.written() if isinstance(other, DeferredDiagnostic) else other


class Diagnostics:
    """An ordered collection of findings for one stage or one run."""

    def __init__(self, items: Iterable[Diagnostic] = ()) -> None:
        self._items: list[Diagnostic] = list(items)

    def add(
        self,
        code: str,
        message: str,
        location: Location | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Diagnostic:
        d = Diagnostic(code, message, location or Location(), severity)
        self._items.append(d)
        return d

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self._items.extend(other)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self._items if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self._items if not d.is_error]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self._items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def codes(self) -> list[str]:
        return [d.code for d in self._items]


class PolicyError(Exception):
    """A stage failed; `diagnostics` holds every finding it collected."""

    def __init__(self, diagnostics: Iterable[Diagnostic] | Diagnostic) -> None:
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = Diagnostics(diagnostics)
        first = next(iter(self.diagnostics.errors or list(self.diagnostics)), None)
        super().__init__(first.message if first else "policy error")

    @classmethod
    def single(cls, code: str, message: str, location: Location | None = None) -> PolicyError:
        return cls(Diagnostic(code, message, location or Location()))

    @property
    def message(self) -> str:
        return str(self)
