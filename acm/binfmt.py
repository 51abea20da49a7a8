"""The `.bin` format, both generations, owned here alone.

- Policy version 2 (Xen 3.0.4): `POLICY_HEADER`, the policy reference,
  then the primary and the secondary part, each only when present.
- Policy version 4 (Xen 3.4, versioned policies, `BinaryPolicy.xml_version`
  set): `POLICY_HEADER_VERSIONED` (the magic comes first here), the XML
  policy's version and SHA-1 (`XML_HASH_BYTES`), the policy reference, then
  always the Chinese Wall part and the STE part in that order, each padded
  with zeros to a multiple of 8 bytes. Chinese Wall is primary, STE
  secondary (the STE part may have no types).

Each record is declared once as a `Layout` and that one declaration both
packs (writing) and unpacks (reading); `decode_binary` tells the two
generations apart by their first field. Everything is big-endian (but one
field, see `xen_null_secondary_offset`); matrix cells are uint16,
everything else uint32. Reading checks every length,
offset and count against the buffer before use and fails with
PolicyError naming the field, never with a traceback or a partial policy.
"""

from __future__ import annotations

import functools
import itertools
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol, overload

from acm.errors import Location, PolicyError
from acm.model import (
    ACM_CHWALL_VERSION,
    ACM_MAGIC,
    ACM_POLICY_VERSION,
    ACM_POLICY_VERSION_VERSIONED,
    ACM_STE_VERSION,
    MAX_16BIT,
    BinaryPolicy,
    ChwallPolicy,
    PolicyCode,
    StePolicy,
    TypeSet,
    ascending_within_rows,
)

CELL = 2  # bytes per matrix cell (uint16)

# A chunk of the `.bin`: made already, or made when called.
Piece = bytes | Callable[[], bytearray]


class ByteSource(Protocol):
    """Bytes a reader asks for a range at a time: `bytes` itself, or a
    file read in pieces (acm.inputfile.InputPieces)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice, /) -> bytes: ...


class Layout:
    """A fixed record of big-endian unsigned integers, declared once."""

    def __init__(self, record: str, *fields: tuple[str, str]) -> None:
        self.record = record
        self.fields = tuple(name for name, _ in fields)
        self.struct = struct.Struct(">" + "".join(code for _, code in fields))
        self.size = self.struct.size

    def pack(self, **values: int) -> bytes:
        return self.struct.pack(*(values[name] for name in self.fields))

    def unpack(self, buf: bytes | ByteSource, offset: int, file: str = "") -> dict[str, int]:
        if offset < 0 or offset + self.size > len(buf):
            raise BinaryFormatError(
                f"{self.record}: truncated, needs {self.size} bytes at offset {offset}, "
                f"the file has {len(buf)}",
                file,
            )
        if isinstance(buf, bytes):
            values = self.struct.unpack_from(buf, offset)
        else:
            values = self.struct.unpack(buf[offset : offset + self.size])
        return dict(zip(self.fields, values, strict=True))


POLICY_HEADER = Layout(
    "policy header",
    ("policy_version", "I"),
    ("magic", "I"),
    ("len", "I"),
    ("policy_reference_offset", "I"),
    ("primary_policy_code", "I"),
    ("primary_buffer_offset", "I"),
    ("secondary_policy_code", "I"),
    ("secondary_buffer_offset", "I"),
)
# Xen 3.4's header (acm.h, ACM_POLICY_VERSION 4): the magic comes first, and
# the XML policy's version and XML_HASH_BYTES of its SHA-1 follow.
POLICY_HEADER_VERSIONED = Layout(
    "policy header",
    ("magic", "I"),
    ("policy_version", "I"),
    ("len", "I"),
    ("policy_reference_offset", "I"),
    ("primary_policy_code", "I"),
    ("primary_buffer_offset", "I"),
    ("secondary_policy_code", "I"),
    ("secondary_buffer_offset", "I"),
    ("xml_version_major", "I"),
    ("xml_version_minor", "I"),
)
XML_HASH_BYTES = 20
VERSIONED_HEADER_SIZE = POLICY_HEADER_VERSIONED.size + XML_HASH_BYTES
REFERENCE_HEADER = Layout("policy reference", ("name_len", "I"))
CHWALL_HEADER = Layout(
    "chinese wall header",
    ("policy_version", "I"),
    ("policy_code", "I"),
    ("max_types", "I"),
    ("max_ssidrefs", "I"),
    ("max_conflictsets", "I"),
    ("ssid_offset", "I"),
    ("conflict_sets_offset", "I"),
    ("running_types_offset", "I"),
    ("conflict_aggregate_offset", "I"),
)
STE_HEADER = Layout(
    "ste header",
    ("policy_version", "I"),
    ("policy_code", "I"),
    ("max_types", "I"),
    ("max_ssidrefs", "I"),
    ("ssid_offset", "I"),
)


class BinaryFormatError(PolicyError):
    def __init__(self, message: str, file: str = "") -> None:
        super().__init__([])
        self.diagnostics.add("BIN001", f"invalid binary policy: {message}", Location(file))
        self.args = (self.diagnostics.errors[0].message,)


# ---------------------------------------------------------------- writing


def _align8(n: int) -> int:
    return (n + 7) & ~7


def encode_reference(name: str) -> bytes:
    raw = name.encode("utf-8") + b"\0"
    size = _align8(REFERENCE_HEADER.size + len(raw))
    return (REFERENCE_HEADER.pack(name_len=len(raw)) + raw).ljust(size, b"\0")


def encode_matrix(
    rows: Sequence[TypeSet], max_types: int, start: int = 0, stop: int | None = None
) -> bytearray:
    """Rows `start` to `stop` (all by default), one per entry, one uint16 per
    type: 1 where the entry has the type."""
    stop = len(rows) if stop is None else min(stop, len(rows))
    row_bytes = max_types * CELL
    buf = bytearray((stop - start) * row_bytes)
    base = 1  # the low byte of the big-endian cell
    for r in range(start, stop):
        for t in rows[r]:
            buf[base + t * CELL] = 1
        base += row_bytes
    return buf


CHUNK_BYTES = 1 << 20  # matrices are produced (and written) in pieces of about this size


def _matrix_pieces(rows: Sequence[TypeSet], max_types: int) -> list[Callable[[], bytearray]]:
    row_bytes = max_types * CELL
    per_piece = max(1, CHUNK_BYTES // max(row_bytes, 1))
    # Each piece reads its rows when it is made (no copies of the row lists here).
    return [
        functools.partial(encode_matrix, rows, max_types, start, start + per_piece)
        for start in range(0, len(rows), per_piece)
    ]


def _chwall_pieces(p: ChwallPolicy) -> list[Piece]:
    ssid_bytes = CELL * p.max_types * p.max_ssidrefs
    header = CHWALL_HEADER.pack(
        policy_version=ACM_CHWALL_VERSION,
        policy_code=PolicyCode.CHWALL,
        max_types=p.max_types,
        max_ssidrefs=p.max_ssidrefs,
        max_conflictsets=len(p.conflict_sets),
        ssid_offset=CHWALL_HEADER.size,
        conflict_sets_offset=CHWALL_HEADER.size + ssid_bytes,
        running_types_offset=0,
        conflict_aggregate_offset=0,
    )
    return [
        header,
        *_matrix_pieces(p.ssids, p.max_types),
        *_matrix_pieces(p.conflict_sets, p.max_types),
    ]


def _ste_pieces(p: StePolicy) -> list[Piece]:
    header = STE_HEADER.pack(
        policy_version=ACM_STE_VERSION,
        policy_code=PolicyCode.STE,
        max_types=p.max_types,
        max_ssidrefs=p.max_ssidrefs,
        ssid_offset=STE_HEADER.size,
    )
    return [header, *_matrix_pieces(p.ssids, p.max_types)]


def _part_size(policy: BinaryPolicy, code: PolicyCode) -> int:
    if code is PolicyCode.CHWALL:
        assert policy.chwall is not None
        c = policy.chwall
        return CHWALL_HEADER.size + CELL * c.max_types * (c.max_ssidrefs + len(c.conflict_sets))
    if code is PolicyCode.STE:
        assert policy.ste is not None
        return STE_HEADER.size + CELL * policy.ste.max_types * policy.ste.max_ssidrefs
    return 0


def _part_pieces(policy: BinaryPolicy, code: PolicyCode) -> list[Piece]:
    if code is PolicyCode.CHWALL:
        assert policy.chwall is not None
        return _chwall_pieces(policy.chwall)
    if code is PolicyCode.STE:
        assert policy.ste is not None
        return _ste_pieces(policy.ste)
    return []


def xen_null_secondary_offset(offset: int) -> int:
    """The `secondary_buffer_offset` Xen 3.0.4 writes for a policy with
    neither part: it applies htonl twice to the primary offset, so on the
    little-endian hosts it ran on the four bytes are `offset` in
    little-endian order (spec section 5). Returned as the big-endian value
    that packs to those bytes."""
    return int.from_bytes(offset.to_bytes(4, "little"), "big")


def _versioned_pieces(policy: BinaryPolicy) -> tuple[int, list[Piece]]:
    """(size, pieces) of Xen 3.4's layout: header, reference, then the
    Chinese Wall and the STE part, each padded to a multiple of 8 bytes."""
    chwall, ste, version = policy.chwall, policy.ste, policy.xml_version
    if chwall is None or ste is None or version is None:
        raise ValueError("a versioned binary policy has both parts and a version")
    if len(policy.xml_hash) != XML_HASH_BYTES:
        raise ValueError(f"a versioned binary policy's hash has {XML_HASH_BYTES} bytes")
    reference = encode_reference(policy.reference_name)
    cw_size = _part_size(policy, PolicyCode.CHWALL)
    ste_size = _part_size(policy, PolicyCode.STE)
    primary_offset = VERSIONED_HEADER_SIZE + len(reference)
    secondary_offset = primary_offset + _align8(cw_size)
    size = secondary_offset + _align8(ste_size)
    header = POLICY_HEADER_VERSIONED.pack(
        magic=ACM_MAGIC,
        policy_version=ACM_POLICY_VERSION_VERSIONED,
        len=size,
        policy_reference_offset=VERSIONED_HEADER_SIZE,
        primary_policy_code=PolicyCode.CHWALL,
        primary_buffer_offset=primary_offset,
        secondary_policy_code=PolicyCode.STE,
        secondary_buffer_offset=secondary_offset,
        xml_version_major=version[0],
        xml_version_minor=version[1],
    )
    return size, [
        header + policy.xml_hash,
        reference,
        *_chwall_pieces(chwall),
        bytes(_align8(cw_size) - cw_size),
        *_ste_pieces(ste),
        bytes(_align8(ste_size) - ste_size),
    ]


class BinaryChunks(Sequence[bytes | bytearray]):
    """The `.bin` of a policy as a sequence of chunks, each made when it is
    asked for: writing a large policy never holds its whole matrix in memory."""

    def __init__(self, policy: BinaryPolicy) -> None:
        self._pieces: list[Piece]
        if policy.versioned:
            self.size, self._pieces = _versioned_pieces(policy)
            return
        reference = encode_reference(policy.reference_name)
        primary_size = _part_size(policy, policy.primary)
        primary_offset = POLICY_HEADER.size + len(reference)
        self.size = primary_offset + primary_size + _part_size(policy, policy.secondary)
        secondary_offset = primary_offset + primary_size
        if policy.primary is PolicyCode.NULL:
            secondary_offset = xen_null_secondary_offset(secondary_offset)
        header = POLICY_HEADER.pack(
            policy_version=ACM_POLICY_VERSION,
            magic=ACM_MAGIC,
            len=self.size,
            policy_reference_offset=POLICY_HEADER.size,
            primary_policy_code=policy.primary,
            primary_buffer_offset=primary_offset,
            secondary_policy_code=policy.secondary,
            secondary_buffer_offset=secondary_offset,
        )
        self._pieces = [
            header,
            reference,
            *_part_pieces(policy, policy.primary),
            *_part_pieces(policy, policy.secondary),
        ]

    def __len__(self) -> int:
        return len(self._pieces)

    @overload
    def __getitem__(self, index: int) -> bytes | bytearray: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes | bytearray]: ...

    def __getitem__(self, index: int | slice) -> bytes | bytearray | list[bytes | bytearray]:
        if isinstance(index, slice):
            return [_made(p) for p in self._pieces[index]]
        return _made(self._pieces[index])


def _made(piece: Piece) -> bytes | bytearray:
    return piece if isinstance(piece, bytes) else piece()


def binary_chunks(policy: BinaryPolicy) -> BinaryChunks:
    """The `.bin` as lazily made chunks (for writing large policies)."""
    return BinaryChunks(policy)


def encode_binary(policy: BinaryPolicy) -> list[bytes | bytearray]:
    """The `.bin` as a list of chunks."""
    return list(BinaryChunks(policy))


def binary_bytes(policy: BinaryPolicy) -> bytes:
    return b"".join(encode_binary(policy))


# ---------------------------------------------------------------- reading


class _Reader:
    def __init__(
        self,
        data: bytes | ByteSource,
        file: str,
        expected: Mapping[PolicyCode, Sequence[TypeSet]] | None = None,
    ) -> None:
        self.data = data
        self.file = file
        self.expected = expected or {}

    def fail(self, message: str) -> BinaryFormatError:
        return BinaryFormatError(message, self.file)

    def expect(self, record: dict[str, int], name: str, want: int, where: str) -> None:
        if record[name] != want:
            raise self.fail(f"{where} field {name} is {record[name]:#x}, expected {want:#x}")

    # SSID 0 may have types: Xen's compiler moves the null entry away from 0
    # when the bootstrap label is named `__NULL_LABEL__`, and such a `.bin`
    # must read back like any other.
    def matrix(
        self,
        offset: int,
        rows: int,
        types: int,
        field: str,
        expected: Sequence[TypeSet] | None = None,
    ) -> tuple[TypeSet, ...]:
        size = rows * types * CELL
        if offset + size > len(self.data):
            raise self.fail(f"{field}: {rows}x{types} matrix at offset {offset} runs past the end")
        if expected is not None and self.holds(offset, rows, types, expected):
            return tuple(expected)
        # Every byte is 0 or 1, and each 1 is the low byte of its (big-endian,
        # two-byte) cell, at an odd offset: the cells are 0 or 1. Counted and searched in
        # place, without copying the matrix's high and low bytes apart.
        data = self.data
        if not isinstance(data, bytes):  # a file read in pieces: this piece
            data, offset = data[offset : offset + size], 0
        end = offset + size
        ones = data.count(1, offset, end)
        if data.count(0, offset, end) + ones != size:
            raise self.fail(f"{field}: a matrix cell is neither 0 nor 1")
        result: list[list[int]] = [[] for _ in range(rows)]
        find = data.find
        pos = find(1, offset, end)
        while pos >= 0:
            at = pos - offset
            if not at & 1:
                raise self.fail(f"{field}: a matrix cell is neither 0 nor 1")
            r, t = divmod(at >> 1, types)
            result[r].append(t)
            pos = find(1, pos + 1, end)
        return tuple(tuple(r) for r in result)

    def holds(self, offset: int, rows: int, types: int, expected: Sequence[TypeSet]) -> bool:
        """Whether the matrix at `offset` is the encoding of `expected` (rows
        of strictly ascending type numbers below `types`): then decoding it
        gives `expected`. Compared a piece at a time with the writer's own
        encoding, without decoding a cell."""
        if len(expected) != rows or not canonical_rows(expected, types):
            return False
        data, row_bytes = self.data, types * CELL
        per_piece = max(1, CHUNK_BYTES // max(row_bytes, 1))
        for start in range(0, rows, per_piece):
            piece = encode_matrix(expected, types, start, start + per_piece)
            at = offset + start * row_bytes
            if isinstance(data, bytes):
                if not data.startswith(piece, at):
                    return False
            elif data[at : at + len(piece)] != piece:
                return False
        return True

    def counts(self, rec: dict[str, int], where: str, least_types: int = 1) -> tuple[int, int]:
        types, ssids = rec["max_types"], rec["max_ssidrefs"]
        if not least_types <= types <= MAX_16BIT:
            raise self.fail(
                f"{where} field max_types is {types}, expected {least_types}..{MAX_16BIT}"
            )
        if not 1 <= ssids <= MAX_16BIT:
            raise self.fail(f"{where} field max_ssidrefs is {ssids}, expected 1..{MAX_16BIT}")
        return types, ssids

    def chwall(self, offset: int) -> tuple[ChwallPolicy, int]:
        where = "chinese wall header"
        rec = CHWALL_HEADER.unpack(self.data, offset, self.file)
        self.expect(rec, "policy_version", ACM_CHWALL_VERSION, where)
        self.expect(rec, "policy_code", PolicyCode.CHWALL, where)
        types, ssids = self.counts(rec, where)
        sets = rec["max_conflictsets"]
        if sets > len(self.data):
            raise self.fail(f"{where} field max_conflictsets is {sets}, larger than the file")
        self.expect(rec, "ssid_offset", CHWALL_HEADER.size, where)
        self.expect(rec, "conflict_sets_offset", CHWALL_HEADER.size + CELL * types * ssids, where)
        self.expect(rec, "running_types_offset", 0, where)
        self.expect(rec, "conflict_aggregate_offset", 0, where)
        ssid_rows = self.matrix(
            offset + rec["ssid_offset"],
            ssids,
            types,
            "chinese wall ssids",
            self.expected.get(PolicyCode.CHWALL),
        )
        set_rows = self.matrix(
            offset + rec["conflict_sets_offset"], sets, types, "chinese wall conflict sets"
        )
        length = CHWALL_HEADER.size + CELL * types * (ssids + sets)
        return ChwallPolicy(types, ssid_rows, set_rows), length

    def ste(self, offset: int, least_types: int = 1) -> tuple[StePolicy, int]:
        where = "ste header"
        rec = STE_HEADER.unpack(self.data, offset, self.file)
        self.expect(rec, "policy_version", ACM_STE_VERSION, where)
        self.expect(rec, "policy_code", PolicyCode.STE, where)
        types, ssids = self.counts(rec, where, least_types)
        self.expect(rec, "ssid_offset", STE_HEADER.size, where)
        rows = self.matrix(
            offset + rec["ssid_offset"],
            ssids,
            types,
            "ste ssids",
            self.expected.get(PolicyCode.STE),
        )
        return StePolicy(types, rows), STE_HEADER.size + CELL * types * ssids

    def reference(self, offset: int) -> tuple[str, int]:
        rec = REFERENCE_HEADER.unpack(self.data, offset, self.file)
        name_len = rec["name_len"]
        start = offset + REFERENCE_HEADER.size
        if name_len < 1 or start + name_len > len(self.data):
            raise self.fail(f"policy reference field name_len is {name_len}, out of range")
        raw = self.data[start : start + name_len]
        if raw[-1] != 0 or 0 in raw[:-1]:
            raise self.fail("policy reference: the name is not one NUL-terminated string")
        size = _align8(REFERENCE_HEADER.size + name_len)
        pad = self.data[start + name_len : offset + size]
        if len(pad) != size - REFERENCE_HEADER.size - name_len or pad.count(0) != len(pad):
            raise self.fail("policy reference: padding is missing or not zero")
        try:
            name = raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("policy reference: the name is not UTF-8") from None
        return name, size

    def padding(self, offset: int, length: int, where: str) -> int:
        """The offset after `where`'s zero padding up to a multiple of 8 bytes."""
        end = offset + _align8(length) - length
        pad = self.data[offset:end]
        if len(pad) != end - offset or pad.count(0) != len(pad):
            raise self.fail(f"{where}: padding is missing or not zero")
        return end

    def versioned_policy(self) -> BinaryPolicy:
        """Xen 3.4's layout (policy version 4)."""
        where = "policy header"
        head = POLICY_HEADER_VERSIONED.unpack(self.data, 0, self.file)
        self.expect(head, "magic", ACM_MAGIC, where)
        self.expect(head, "policy_version", ACM_POLICY_VERSION_VERSIONED, where)
        if head["len"] != len(self.data):
            raise self.fail(
                f"{where} field len is {head['len']}, but the file has {len(self.data)} bytes"
            )
        self.expect(head, "policy_reference_offset", VERSIONED_HEADER_SIZE, where)
        xml_hash = self.data[POLICY_HEADER_VERSIONED.size : VERSIONED_HEADER_SIZE]
        name, ref_size = self.reference(VERSIONED_HEADER_SIZE)
        # Xen 3.4 writes other codes only for a policy without Chinese Wall
        # types, a binary its hypervisor refuses (and so do we).
        self.expect(head, "primary_policy_code", PolicyCode.CHWALL, where)
        self.expect(head, "secondary_policy_code", PolicyCode.STE, where)
        offset = VERSIONED_HEADER_SIZE + ref_size
        self.expect(head, "primary_buffer_offset", offset, where)
        chwall, length = self.chwall(offset)
        offset = self.padding(offset + length, length, "chinese wall part")
        self.expect(head, "secondary_buffer_offset", offset, where)
        ste, length = self.ste(offset, least_types=0)
        offset = self.padding(offset + length, length, "ste part")
        if offset != len(self.data):
            raise self.fail(f"{len(self.data) - offset} bytes after the last policy part")
        return BinaryPolicy(
            name,
            PolicyCode.CHWALL,
            PolicyCode.STE,
            chwall,
            ste,
            xml_version=(head["xml_version_major"], head["xml_version_minor"]),
            xml_hash=bytes(xml_hash),
        )

    def policy(self) -> BinaryPolicy:
        where = "policy header"
        if is_versioned_header(self.data[:4]):
            return self.versioned_policy()
        head = POLICY_HEADER.unpack(self.data, 0, self.file)
        self.expect(head, "policy_version", ACM_POLICY_VERSION, where)
        self.expect(head, "magic", ACM_MAGIC, where)
        if head["len"] != len(self.data):
            raise self.fail(
                f"{where} field len is {head['len']}, but the file has {len(self.data)} bytes"
            )
        self.expect(head, "policy_reference_offset", POLICY_HEADER.size, where)
        name, ref_size = self.reference(POLICY_HEADER.size)
        codes = []
        for key in ("primary_policy_code", "secondary_policy_code"):
            try:
                codes.append(PolicyCode(head[key]))
            except ValueError:
                raise self.fail(f"{where} field {key} is {head[key]}, expected 0, 1 or 2") from None
        primary, secondary = codes
        if primary is PolicyCode.NULL and secondary is not PolicyCode.NULL:
            raise self.fail(f"{where}: a secondary policy without a primary one")
        if primary is not PolicyCode.NULL and primary is secondary:
            raise self.fail(f"{where}: primary and secondary are the same policy")
        offset = POLICY_HEADER.size + ref_size
        self.expect(head, "primary_buffer_offset", offset, where)
        parts: dict[PolicyCode, ChwallPolicy | StePolicy] = {}
        for code, field in (
            (primary, "primary_buffer_offset"),
            (secondary, "secondary_buffer_offset"),
        ):
            want = offset
            # Of a policy with neither part, Xen's little-endian bytes read too
            # (the hypervisor never reads this field there).
            if (
                primary is PolicyCode.NULL
                and field == "secondary_buffer_offset"
                and head[field] == xen_null_secondary_offset(offset)
            ):
                want = head[field]
            self.expect(head, field, want, where)
            if code is PolicyCode.CHWALL:
                parts[code], length = self.chwall(offset)
            elif code is PolicyCode.STE:
                parts[code], length = self.ste(offset)
            else:
                length = 0
            offset += length
        if offset != len(self.data):
            raise self.fail(f"{len(self.data) - offset} bytes after the last policy part")
        chwall = parts.get(PolicyCode.CHWALL)
        ste = parts.get(PolicyCode.STE)
        assert chwall is None or isinstance(chwall, ChwallPolicy)
        assert ste is None or isinstance(ste, StePolicy)
        return BinaryPolicy(name, primary, secondary, chwall, ste)


def is_versioned_header(head: bytes) -> bool:
    """Whether a `.bin` that starts with `head` (its first 4 bytes suffice)
    is of Xen 3.4's layout, whose header starts with the magic."""
    return head[:4] == ACM_MAGIC.to_bytes(4, "big")


def decode_binary(
    data: bytes | bytearray | memoryview | ByteSource,
    file: str = "",
    ssids: Mapping[PolicyCode, Sequence[TypeSet]] | None = None,
) -> BinaryPolicy:
    """Parse and check a `.bin`; BinaryFormatError (a PolicyError) names the field.

    `ssids`, the SSIDs' type sets each part is expected to hold (those of
    the `.map` read with it), only makes the reading faster: a part's SSID
    matrix that is their encoding is not decoded cell by cell (and its rows
    are those given); any other is decoded and checked as always. `data`
    may be a file read in pieces (a ByteSource); then its errors (an
    InputFileError) pass through."""
    source = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else data
    return _Reader(source, file, ssids).policy()


def canonical_rows(rows: Sequence[TypeSet], types: int) -> bool:
    """Whether every row is a strictly ascending tuple of type numbers in
    0..types-1, as the decoder makes them."""
    if rows and set(map(type, rows)) != {tuple}:
        return False
    flat = list(itertools.chain.from_iterable(rows))
    if flat and (min(flat) < 0 or max(flat) >= types):
        return False
    return ascending_within_rows(flat, map(len, rows))


def iter_fields(data: bytes) -> Iterator[tuple[str, int, str]]:
    """(record, offset, field) of every header field of a well-formed `.bin`,
    for mutation tests and `dumppolicy --fields`."""
    policy = decode_binary(data)
    header = POLICY_HEADER_VERSIONED if policy.versioned else POLICY_HEADER
    yield from ((header.record, i * 4, f) for i, f in enumerate(header.fields))
    start = VERSIONED_HEADER_SIZE if policy.versioned else POLICY_HEADER.size
    offset = start + len(encode_reference(policy.reference_name))
    for code in (policy.primary, policy.secondary):
        layout = {PolicyCode.CHWALL: CHWALL_HEADER, PolicyCode.STE: STE_HEADER}.get(code)
        if layout is None:
            continue
        yield from ((layout.record, offset + i * 4, f) for i, f in enumerate(layout.fields))
        part = policy.part(code)
        assert part is not None
        size = _part_size(policy, code)
        offset += _align8(size) if policy.versioned else size


def binary_size(name: str, chwall: tuple[int, int, int] | None, ste: tuple[int, int] | None) -> int:
    """Bytes of the `.bin` of a policy with these counts: chwall is
    (types, ssids, conflict sets), ste (types, ssids)."""
    size = 32 + ((4 + len(name.encode("utf-8")) + 1 + 7) & ~7)
    if chwall is not None:
        types, ssids, sets = chwall
        size += 36 + 2 * types * (ssids + sets)
    if ste is not None:
        types, ssids = ste
        size += 20 + 2 * types * ssids
    return size
