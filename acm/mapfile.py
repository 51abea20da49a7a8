"""The `.map` format, owned here alone: writing exactly as Xen 3.0.4's
compiler printed it, and reading it back strictly.

C's `%-25s` pads by bytes, so names are padded as UTF-8 bytes, not as
characters. Record layouts are declared once (`_RECORDS`) and serve both
directions.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from acm.errors import Diagnostic, Location, PolicyError
from acm.model import (
    ACM_MAGIC,
    MapPart,
    PolicyCode,
    PolicyMap,
    SsidLabel,
    TypeSet,
    ascending_within_rows,
)
from acm.source import LabelKind

_KIND_FIELD = {LabelKind.VM: "VM ", LabelKind.RES: "RES", LabelKind.ANY: "ANY"}
_FIELD_KIND = {v: k for k, v in _KIND_FIELD.items()}
# The part names as they stand in `LABEL->SSID` lines, padded to 7 columns.
_PART_FIELD = {PolicyCode.CHWALL: "CHWALL ", PolicyCode.STE: "STE    "}
_SSID_TYPE_PREFIX = {
    PolicyCode.CHWALL: "SSID->TYPE CHWALL      ",
    PolicyCode.STE: "SSID->TYPE STE         ",
}
_TYPE_PREFIX = {
    PolicyCode.CHWALL: "TYPE CHWALL            ",
    PolicyCode.STE: "TYPE STE               ",
}
_MAX_PREFIX = {
    PolicyCode.CHWALL: (
        "MAX-CHWALL-TYPES       ",
        "MAX-CHWALL-SSIDS       ",
        "MAX-CHWALL-LABELS      ",
    ),
    PolicyCode.STE: (
        "MAX-STE-TYPES          ",
        "MAX-STE-SSIDS          ",
        "MAX-STE-LABELS         ",
    ),
}
_HEAD = (
    "POLICYREFERENCENAME    ",
    "MAGIC                  ",
    "POLICY FILE            ",
    "BINARY FILE            ",
)
_PRIMARY = "PRIMARY                "
_SECONDARY = "SECONDARY              "
_PARTS = (PolicyCode.CHWALL, PolicyCode.STE)  # the order every block is written in


def _pad25(name: str) -> str:
    """`%-25s` as C printed it: padded to 25 bytes of UTF-8, not characters."""
    if name.isascii():
        return name.ljust(25)
    return name + " " * (25 - len(name.encode("utf-8")))


def render_map(m: PolicyMap) -> bytes:
    return b"".join(map_chunks(m))


# Lines per chunk of `map_chunks`: about 250 KB of text, whose memory the
# next chunk reuses (whole blocks of 2 MB took fresh pages every time).
LINES_PER_CHUNK = 2048


T = TypeVar("T")


def _chunks(items: Sequence[T]) -> Iterator[tuple[int, Sequence[T]]]:
    """(number of the first, the items) of each chunk of `items`."""
    for start in range(0, len(items), LINES_PER_CHUNK):
        yield start, items[start : start + LINES_PER_CHUNK]


def map_chunks(m: PolicyMap) -> Iterator[bytes]:
    """The `.map` in chunks of at most LINES_PER_CHUNK lines, each rendered
    when it is asked for (a writer never holds the whole text)."""
    parts = [p for p in (m.chwall, m.ste) if p is not None]
    head: list[str] = [
        f"{_HEAD[0]}{m.reference_name}\n",
        f"{_HEAD[1]}{ACM_MAGIC:08x}\n",
        f"{_HEAD[2]}{m.policy_file}\n",
        f"{_HEAD[3]}{m.binary_file}\n",
    ]
    for part in parts:
        count = len(part.labels)
        max_types, max_ssids, max_labels = _MAX_PREFIX[part.code]
        head.append(
            f"{max_types}{len(part.types):08x}\n{max_ssids}{count:08x}\n{max_labels}{count:08x}\n"
        )
    head.append(f"\n{_PRIMARY}{m.primary.map_name}\n{_SECONDARY}{m.secondary.map_name}\n\n")
    yield "".join(head).encode("utf-8")
    for part in parts:
        field = _PART_FIELD[part.code]
        for _, labels in _chunks(part.labels):
            lines = [
                f"LABEL->SSID {_KIND_FIELD[lab.kind]} {field}"
                f"{lab.name.ljust(25) if lab.name.isascii() else _pad25(lab.name)} {lab.ssid:8x}\n"
                for lab in labels
            ]
            yield "".join(lines).encode("utf-8")
        yield b"\n"
    for part in parts:
        prefix = _SSID_TYPE_PREFIX[part.code]
        spaced = [" " + name for name in part.types].__getitem__
        for start, rows in _chunks(part.ssid_types):
            lines = [
                f"{prefix}{ssid:08x}{''.join(map(spaced, types))}\n"
                for ssid, types in enumerate(rows, start)
            ]
            yield "".join(lines).encode("utf-8")
        yield b"\n"
    for part in parts:
        prefix = _TYPE_PREFIX[part.code]
        for start, names in _chunks(part.types):
            lines = [f"{prefix}{_pad25(name)} {i:8x}\n" for i, name in enumerate(names, start)]
            yield "".join(lines).encode("utf-8")
        yield b"\n"


# ---------------------------------------------------------------- reading


class _MapReader:
    def __init__(self, text: str, file: str) -> None:
        self.lines = text.split("\n")
        self.file = file
        self.pos = 0
        self.looking_at = 1  # the line a failure is reported on, by default

    def fail(self, message: str, line: int | None = None) -> PolicyError:
        where = Location(self.file, line if line is not None else self.looking_at, 1)
        return PolicyError(Diagnostic("MAP001", f"invalid .map: {message}", where))

    def peek(self) -> str | None:
        self.looking_at = self.pos + 1
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def take(self, prefix: str, what: str) -> str:
        line = self.peek()
        if line is None or not line.startswith(prefix):
            raise self.fail(f"expected {what}")
        self.pos += 1
        return line[len(prefix) :]

    def blank(self) -> None:
        if self.peek() != "":
            raise self.fail("expected an empty line")
        self.pos += 1

    def hex(self, text: str, what: str, width: int | None = None) -> int:
        s = text.strip()
        if not s or (width is not None and len(text) != width):
            raise self.fail(f"{what}: expected a hex number, got {text!r}")
        try:
            return int(s, 16)
        except ValueError:
            raise self.fail(f"{what}: expected a hex number, got {text!r}") from None

    def name_number(self, rest: str, what: str) -> tuple[str, int]:
        # `%-25s %8x`: the name padded to 25 bytes (not characters), a space,
        # the number right-aligned in 8 columns.
        name = rest[:-9]
        size = len(name.encode("utf-8"))
        if size < 25 or rest[-9] != " ":
            raise self.fail(f"{what}: malformed name/number columns")
        if size == 25:
            # Padding to 25 bytes; a longer name is never padded. (A shorter
            # name that ends in spaces cannot be told from its padding.)
            name = name.rstrip(" ")
        return name, self.hex(rest[-8:], what)

    def code(self, text: str, what: str) -> PolicyCode:
        try:
            return PolicyCode[text]
        except KeyError:
            raise self.fail(f"{what}: unknown policy {text!r}") from None

    def read(self) -> PolicyMap:
        ref = self.take(_HEAD[0], "POLICYREFERENCENAME")
        magic = self.hex(self.take(_HEAD[1], "MAGIC"), "MAGIC")
        if magic != ACM_MAGIC:
            raise self.fail(f"MAGIC is {magic:x}, expected {ACM_MAGIC:08x}", self.pos)
        policy_file = self.take(_HEAD[2], "POLICY FILE")
        binary_file = self.take(_HEAD[3], "BINARY FILE")
        counts: dict[PolicyCode, tuple[int, int, int]] = {}
        count_lines: dict[PolicyCode, int] = {}
        for code in _PARTS:
            line = self.peek()
            if line is not None and line.startswith(_MAX_PREFIX[code][0]):
                count_lines[code] = self.pos + 1
                max_types, max_ssids, max_labels = (
                    self.hex(self.take(p, p.strip()), p.strip(), 8) for p in _MAX_PREFIX[code]
                )
                counts[code] = (max_types, max_ssids, max_labels)
        self.blank()
        primary = self.code(self.take(_PRIMARY, "PRIMARY"), "PRIMARY")
        primary_line = self.pos
        secondary = self.code(self.take(_SECONDARY, "SECONDARY"), "SECONDARY")
        self.blank()
        present = [c for c in _PARTS if c in counts]
        if {primary, secondary} - {PolicyCode.NULL} != set(present) or (
            primary is PolicyCode.NULL and secondary is not PolicyCode.NULL
        ):
            raise self.fail("PRIMARY/SECONDARY do not match the MAX- records", primary_line)
        labels: dict[PolicyCode, list[SsidLabel]] = {}
        for code in present:
            labels[code] = self.label_block(code)
            self.blank()
        ssid_type_names: dict[PolicyCode, tuple[int, list[str]]] = {}
        for code in present:
            ssid_type_names[code] = self.ssid_type_block(code)
            self.blank()
        parts: dict[PolicyCode, MapPart] = {}
        for code in present:
            types = self.type_block(code)
            self.blank()
            parts[code] = self.part(
                code, types, labels[code], ssid_type_names[code], counts[code], count_lines[code]
            )
        for extra, line in enumerate(self.lines[self.pos :], self.pos + 1):
            if line != "":
                raise self.fail("unexpected text after the last block", extra)
        return PolicyMap(
            ref,
            policy_file,
            binary_file,
            primary,
            secondary,
            parts.get(PolicyCode.CHWALL),
            parts.get(PolicyCode.STE),
        )

    # Each block is read in one pass when it is written as the writer
    # writes it (`_label_table`, `_table_names`: column by column; `*_fast`:
    # whole-block slices and comparisons; no Python call per line); these
    # decline (None) anything else, which is then read line by line below:
    # what that accepts, and the first fault it reports, stay as they were.

    def block(self) -> list[str]:
        """The lines from here to the next empty line (or the end)."""
        try:
            end = self.lines.index("", self.pos)
        except ValueError:
            end = len(self.lines)
        return self.lines[self.pos : end]

    def label_block(self, code: PolicyCode) -> list[SsidLabel]:
        lines = self.block()
        found = _label_table(lines, code)
        if found is None:
            found = _labels_fast(lines, code)
        if found is not None:
            self.pos += len(lines)
            return found
        labels: list[SsidLabel] = []
        prefix = "LABEL->SSID "
        part_field = _PART_FIELD[code]
        name_at = 4 + len(part_field)
        while self.peek() not in (None, ""):
            rest = self.take(prefix, "a LABEL->SSID line")
            kind = _FIELD_KIND.get(rest[:3])
            if kind is None or rest[3:4] != " " or not rest.startswith(part_field, 4):
                raise self.fail(f"malformed LABEL->SSID line for {code.name}")
            name, ssid = self.name_number(rest[name_at:], "LABEL->SSID")
            if ssid != len(labels):
                raise self.fail(f"SSID {ssid:x} out of order, expected {len(labels):x}")
            labels.append(SsidLabel(name, kind, ssid))
        return labels

    def ssid_type_block(self, code: PolicyCode) -> tuple[int, list[str]]:
        """(the line of the first, the type names as written after each
        SSID number)."""
        first = self.pos + 1
        prefix = _SSID_TYPE_PREFIX[code]
        lines = self.block()
        found = _ssid_types_fast(lines, prefix)
        if found is not None:
            self.pos += len(lines)
            return first, found
        rows: list[str] = []
        what = f"a SSID->TYPE {code.name} line"
        while self.peek() not in (None, ""):
            rest = self.take(prefix, what)
            number = self.hex(rest[:8], "SSID->TYPE", 8)
            if number != len(rows):
                raise self.fail(f"SSID->TYPE {number:x} out of order")
            if rest[8:9] not in ("", " "):
                raise self.fail("SSID->TYPE: expected a space before the type names")
            rows.append(rest[8:])
        return first, rows

    def type_block(self, code: PolicyCode) -> list[str]:
        prefix = _TYPE_PREFIX[code]
        lines = self.block()
        found = _table_names(lines, prefix) if lines else None
        if found is None and lines and {line[: len(prefix)] for line in lines} == {prefix}:
            found = _names_fast(lines, len(prefix))
        if found is not None:
            self.pos += len(lines)
            return found
        types: list[str] = []
        what = f"a TYPE {code.name} line"
        while self.peek() not in (None, ""):
            rest = self.take(prefix, what)
            name, number = self.name_number(rest, "TYPE")
            if number != len(types):
                raise self.fail(f"TYPE {name} numbered {number:x}, expected {len(types):x}")
            types.append(name)
        return types

    def part(
        self,
        code: PolicyCode,
        types: list[str],
        labels: list[SsidLabel],
        rows: tuple[int, list[str]],
        counts: tuple[int, int, int],
        counts_line: int,
    ) -> MapPart:
        if counts != (len(types), len(labels), len(labels)):
            raise self.fail(
                f"MAX-{code.name} counts disagree with the blocks that follow", counts_line
            )
        first, written_rows = rows
        if len(written_rows) != len(labels):
            raise self.fail(
                f"{code.name}: {len(written_rows)} SSID->TYPE lines for {len(labels)} SSIDs"
            )
        number = {t: i for i, t in enumerate(types)}
        if len(number) != len(types):
            raise self.fail(f"TYPE {code.name}: a type name is listed twice")
        fast = _type_rows_fast(written_rows, number)
        if fast is not None:
            return MapPart(code, tuple(types), tuple(labels), fast)
        ssid_types: list[TypeSet] = []
        for line, written in enumerate(written_rows, first):
            found = _type_numbers(written, types, number)
            if found is None:
                raise self.fail(
                    f"SSID->TYPE: {written.strip()!r} is not a list of known types", line
                )
            ssid_types.append(found)
        return MapPart(code, tuple(types), tuple(labels), tuple(ssid_types))


# A name/number line as the writer writes an ASCII name of up to 25
# characters: a 23-column head, the name padded to 25, a space, `%8x`.
_NAME_AT, _NUMBER_AT, _TABLE_WIDTH = 23, 23 + 25 + 1, 23 + 25 + 9 + 1  # with its newline
_HEX_DIGITS = "0123456789abcdef"


def _digit_column(count: int, place: int) -> str:
    """The hex digit `place` (0: the last) of `%8x` of 0 to count - 1, one
    character a number."""
    step = 16**place
    if place and step >= count:
        return " " * count
    cycle = "".join(d * step for d in _HEX_DIGITS)
    column = (cycle * (count // len(cycle) + 1))[:count]
    return column if not place else " " * step + column[step:]


def _table(lines: list[str], head: str, free: range = range(0)) -> str | None:
    """The block as one text when every line is a name/number line of
    exactly `_TABLE_WIDTH` - 1 ASCII characters numbered 0, 1, ... whose
    head is `head` (but in the columns `free`); None otherwise. Checked
    column by column, a strided slice each, not line by line."""
    count = len(lines)
    text = "\n".join(lines) + "\n"
    if len(text) != count * _TABLE_WIDTH or not text.isascii():
        return None
    fixed = [(at, head[at]) for at in range(len(head)) if at not in free]
    fixed += [(_NUMBER_AT - 1, " "), (_TABLE_WIDTH - 1, "\n")]
    for at, char in fixed:
        if text[at::_TABLE_WIDTH] != char * count:
            return None
    for place in range(8):
        if text[_TABLE_WIDTH - 2 - place :: _TABLE_WIDTH] != _digit_column(count, place):
            return None
    return text


def _table_names(lines: list[str], head: str) -> list[str] | None:
    """`name_number`'s names of a block that `_table` accepts."""
    if _table(lines, head) is None:
        return None
    return _padded_names(lines)


def _padded_names(lines: list[str]) -> list[str]:
    # 25 ASCII characters each: the padding is stripped (as `name_number` does)
    columns = itertools.repeat(slice(_NAME_AT, _NUMBER_AT - 1))
    padded: Iterator[str] = map(operator.getitem, lines, columns)
    return list(map(str.rstrip, padded, itertools.repeat(" ")))


# The kind's three columns by its first letter, and the kinds by that letter.
_KIND_COLUMNS = [str.maketrans({f[0]: f[i] for f in _FIELD_KIND}) for i in (1, 2)]
_KIND_LETTERS = str.maketrans(dict.fromkeys((f[0] for f in _FIELD_KIND), None))
_KIND_BY_LETTER = {f[0]: kind for f, kind in _FIELD_KIND.items()}


def _label_table(lines: list[str], code: PolicyCode) -> list[SsidLabel] | None:
    head = f"LABEL->SSID VM  {_PART_FIELD[code]}"
    kind_at = len("LABEL->SSID ")
    text = _table(lines, head, range(kind_at, kind_at + 3)) if lines else None
    if text is None:
        return None
    letters = text[kind_at::_TABLE_WIDTH]
    if letters.translate(_KIND_LETTERS) or any(
        text[kind_at + i :: _TABLE_WIDTH] != letters.translate(_KIND_COLUMNS[i - 1]) for i in (1, 2)
    ):
        return None
    kinds = map(_KIND_BY_LETTER.__getitem__, letters)
    return _ssid_labels(_padded_names(lines), kinds)


def _ssid_labels(names: Iterable[str], kinds: Iterable[LabelKind]) -> list[SsidLabel]:
    """SsidLabel(name, kind, 0), (name, kind, 1), ... made without a call of
    its Python `__new__` each."""
    made = map(tuple.__new__, itertools.repeat(SsidLabel), zip(names, kinds, itertools.count()))
    return list(made)  # type: ignore[arg-type]


def _hex_column(count: int) -> list[str]:
    """The `" %8x"` numbers 0 to count - 1 that end name/number lines."""
    return list(map(" %8x".__mod__, range(count)))


def _unpadded(name: str) -> str | None:
    """A `%-25s` name column read back as `name_number` reads it; None
    when it is narrower than 25 bytes."""
    size = len(name) if name.isascii() else len(name.encode("utf-8"))
    if size < 25:
        return None
    return name.rstrip(" ") if size == 25 else name


def _names_fast(lines: list[str], name_at: int) -> list[str] | None:
    """The names of `%-25s %8x` lines (from column `name_at`) numbered 0,
    1, ...; None when a line is written otherwise."""
    if [line[-9:] for line in lines] != _hex_column(len(lines)):
        return None
    names = list(map(_unpadded, [line[name_at:-9] for line in lines]))
    return None if None in names else names  # type: ignore[return-value]


def _labels_fast(lines: list[str], code: PolicyCode) -> list[SsidLabel] | None:
    # `LABEL->SSID <kind> <part>`: all but the kind (3 columns at 12) is
    # the same on every line.
    head = f"LABEL->SSID  {_PART_FIELD[code]}"
    name_at = len(head) + 3
    if not lines or {line[:12] + line[15:name_at] for line in lines} != {head}:
        return None
    kinds = list(map(_FIELD_KIND.get, [line[12:15] for line in lines]))
    names = _names_fast(lines, name_at)
    if names is None or None in kinds:
        return None
    return _ssid_labels(names, kinds)  # type: ignore[arg-type]


def _ssid_types_fast(lines: list[str], prefix: str) -> list[str] | None:
    """The type names as written on `<prefix>%08x[ names]` lines numbered
    0, 1, ...; None when a line is written otherwise."""
    at = len(prefix) + 8
    if [line[:at] for line in lines] != list(map(f"{prefix}%08x".__mod__, range(len(lines)))):
        return None
    rows = [line[at:] for line in lines]
    if not {row[:1] for row in rows} <= {"", " "}:
        return None
    return rows


def _type_rows_fast(rows: list[str], number: dict[str, int]) -> tuple[TypeSet, ...] | None:
    """`_type_numbers` of every row when each is a list of known names
    split at single spaces in ascending order (the simple reading); None
    otherwise (then each row is read on its own)."""
    get = number.get
    found = [tuple(map(get, row[1:].split(" "), _UNKNOWN)) if row else () for row in rows]
    numbers = list(itertools.chain.from_iterable(found))
    if -1 in numbers or not ascending_within_rows(numbers, map(len, found)):
        return None
    return tuple(found)


_UNKNOWN = itertools.repeat(-1)  # the number of a type name the .map does not list


def _type_numbers(written: str, types: list[str], number: dict[str, int]) -> TypeSet | None:
    """The type numbers of a SSID->TYPE list (` name` per type, ascending by
    number), or None. Names hold no line break but may hold spaces; then
    the list is split against the known names (the first reading wins)."""
    if not written:
        return ()
    simple = list(map(number.get, written[1:].split(" "), _UNKNOWN))
    if -1 not in simple and sorted(set(simple)) == simple:  # known, strictly ascending
        return tuple(simple)

    # Depth-first over readings, remembering dead ends as (position, last type).
    size = len(written)
    chosen: list[int] = []
    starts = [0]
    dead: set[tuple[int, int]] = set()
    pos, first = 0, 0
    while pos != size:
        last = chosen[-1] if chosen else -1
        found = -1
        if (pos, last) not in dead:
            for t in range(max(first, last + 1), len(types)):
                end = pos + 1 + len(types[t])
                if written.startswith(" " + types[t], pos) and (end == size or written[end] == " "):
                    found = t
                    break
        if found >= 0:
            chosen.append(found)
            starts.append(end)
            pos, first = end, found + 1
            continue
        dead.add((pos, last))
        if not chosen:
            return None
        first = chosen.pop() + 1
        starts.pop()
        pos = starts[-1]
    return tuple(chosen)


def parse_map(data: bytes, file: str = "") -> PolicyMap:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(
            Diagnostic("MAP001", "invalid .map: not UTF-8 text", Location(file))
        ) from None
    return _MapReader(text, file).read()


# The conflict sets' names: Xen's `.map` has no place for them (and must
# stay byte-identical to Xen's), so `makepolicy` writes them in a small
# side file of ours, beside the `.map`. It repeats each set's types so that
# a reader can tell it belongs to the `.bin` it reads (a recompile by
# another tool leaves a stale one, which then does not match). Names are
# written in hex: any character may stand in one, and `xm makepolicy`
# stays without the json module (start-up).
_SET_NAMES_HEAD = "acm-conflict-set-names 1"


def set_names_bytes(
    reference_name: str, names: Sequence[str | None], sets: Sequence[TypeSet]
) -> bytes:
    """The side file of a compiled policy's conflict sets: a head line, the
    policy's reference name, then one line a set (its name or `-` when it
    has none, and its type numbers)."""
    lines = [_SET_NAMES_HEAD, reference_name.encode("utf-8").hex()]
    for name, types in zip(names, sets, strict=True):
        shown = "-" if name is None else "=" + name.encode("utf-8").hex()
        lines.append(" ".join([shown, *map(str, types)]))
    return ("\n".join(lines) + "\n").encode("ascii")


def parse_set_names(
    data: bytes, reference_name: str, sets: Sequence[TypeSet]
) -> list[str | None] | None:
    """The names of `sets` (a `.bin`'s conflict sets) from a side file
    written by `set_names_bytes`; None when it is damaged or belongs to
    another compile (other policy, other sets)."""
    try:
        lines = data.decode("ascii").split("\n")
        if lines[-1] != "" or lines[0] != _SET_NAMES_HEAD or len(lines) != len(sets) + 3:
            return None
        if bytes.fromhex(lines[1]).decode("utf-8") != reference_name:
            return None
        names: list[str | None] = []
        for line, expected in zip(lines[2:-1], sets, strict=True):
            shown, *types = line.split(" ")
            if tuple(map(int, types)) != tuple(expected):
                return None
            if shown == "-":
                names.append(None)
            elif shown.startswith("="):
                names.append(bytes.fromhex(shown[1:]).decode("utf-8"))
            else:
                return None
    except ValueError:  # not ASCII, not hex, not UTF-8, not a number
        return None
    return names
