"""The `.bin` writer and its validating reader."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acm.binfmt
from acm.binfmt import (
    BinaryChunks,
    BinaryFormatError,
    ByteSource,
    binary_bytes,
    binary_chunks,
    decode_binary,
    encode_binary,
    iter_fields,
)
from acm.compiler import compile_file
from acm.errors import PolicyError
from acm.model import BinaryPolicy, PolicyCode
from acm.source import parse_policy_source
from acm.sourcecompiler import compile_policy
from tests.conftest import DATA, EXAMPLE_XML
from tests.policygen import PolicySpec, examples, valid_policies

GOLDEN = Path(__file__).resolve().parent / "golden"
PROPERTY = settings(
    max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _binary(path: Path) -> BinaryPolicy:
    return compile_file(str(path))[0].binary


def _valid_bin() -> bytes:
    """CHWALL primary, STE secondary, one conflict set."""
    return binary_bytes(_binary(DATA / "compiler" / "valid.xml"))


def _offset(data: bytes, record: str, field: str) -> int:
    return next(o for r, o, f in iter_fields(data) if (r, f) == (record, field))


def _with(data: bytes, record: str, field: str, value: int) -> bytes:
    off = _offset(data, record, field)
    return data[:off] + struct.pack(">I", value) + data[off + 4 :]


def _refused(data: bytes) -> str:
    with pytest.raises(BinaryFormatError) as info:
        decode_binary(data, "p.bin")
    (d,) = info.value.diagnostics
    assert d.code == "BIN001"
    assert d.location.file == "p.bin"
    assert d.message.startswith("invalid binary policy: ")
    return d.message


@pytest.mark.parametrize(
    "stem", ["example.chwall_ste.client_v1", "ste_only", "chwall_only", "multi_group", "neither"]
)
def test_golden_files_read_back_and_write_again_byte_for_byte(stem: str) -> None:
    data = (GOLDEN / f"{stem}.bin").read_bytes()
    policy = decode_binary(data)
    assert binary_bytes(policy) == data
    xml = EXAMPLE_XML if stem.startswith("example") else GOLDEN / f"{stem}-security_policy.xml"
    compiled, _ = compile_policy(parse_policy_source(xml.read_bytes(), str(xml)))
    assert policy == compiled.binary


def test_header_layout_of_a_chwall_ste_policy() -> None:
    data = _valid_bin()
    head = struct.unpack_from(">8I", data)
    assert head[:2] == (2, 0x0001DEBC)
    assert head[2] == len(data)
    assert head[3] == 32
    assert (head[4], head[6]) == (1, 2)  # CHWALL primary, STE secondary
    name_len = struct.unpack_from(">I", data, 32)[0]
    assert name_len == len(b"tests.valid") + 1
    assert head[5] == 32 + ((4 + name_len + 7) & ~7)
    policy = decode_binary(data)
    assert policy.chwall is not None
    chwall_size = 36 + 2 * policy.chwall.max_types * (
        policy.chwall.max_ssidrefs + len(policy.chwall.conflict_sets)
    )
    assert head[7] == head[5] + chwall_size


def test_neither_part_writes_xens_little_endian_secondary_offset() -> None:
    """Xen 3.0.4 applies htonl twice to this one field (spec section 5)."""
    data = (GOLDEN / "neither.bin").read_bytes()
    assert len(data) == 0x38
    assert data[20:24] == struct.pack(">I", 0x38)  # primary_buffer_offset, big-endian
    assert data[28:32] == bytes([0x38, 0, 0, 0])  # secondary_buffer_offset, little-endian
    policy = decode_binary(data)
    assert (policy.primary, policy.secondary) == (PolicyCode.NULL, PolicyCode.NULL)
    assert binary_bytes(policy) == data


def test_neither_part_reads_the_secondary_offset_in_either_byte_order() -> None:
    data = (GOLDEN / "neither.bin").read_bytes()
    big_endian = _with(data, "policy header", "secondary_buffer_offset", 0x38)
    assert decode_binary(big_endian) == decode_binary(data)
    assert binary_bytes(decode_binary(big_endian)) == data  # written back as Xen does
    for wrong in (0x30, 0x30000000, 0x38000038, 0):
        assert "field secondary_buffer_offset" in _refused(
            _with(data, "policy header", "secondary_buffer_offset", wrong)
        )
    # Only that field of only that policy kind has the second byte order.
    assert "field primary_buffer_offset" in _refused(
        _with(data, "policy header", "primary_buffer_offset", 0x38000000)
    )
    ste_only = (GOLDEN / "ste_only.bin").read_bytes()
    offset = struct.unpack_from(">I", ste_only, 28)[0]
    swapped = int.from_bytes(offset.to_bytes(4, "little"), "big")
    assert "field secondary_buffer_offset" in _refused(
        _with(ste_only, "policy header", "secondary_buffer_offset", swapped)
    )


FIELD_CASES = [
    ("policy header", "policy_version", 1, "policy header field policy_version is 0x1"),
    ("policy header", "magic", 0, "field magic"),
    ("policy header", "len", 1 << 20, "field len"),
    ("policy header", "policy_reference_offset", 40, "field policy_reference_offset"),
    ("policy header", "primary_policy_code", 7, "field primary_policy_code is 7"),
    ("policy header", "primary_policy_code", 0, "a secondary policy without a primary"),
    ("policy header", "secondary_policy_code", 1, "primary and secondary are the same"),
    ("policy header", "secondary_policy_code", 9, "field secondary_policy_code is 9"),
    ("policy header", "primary_buffer_offset", 8, "field primary_buffer_offset"),
    ("policy header", "secondary_buffer_offset", 8, "field secondary_buffer_offset"),
    ("chinese wall header", "policy_version", 2, "chinese wall header field policy_version"),
    ("chinese wall header", "policy_code", 2, "chinese wall header field policy_code"),
    ("chinese wall header", "max_types", 0, "field max_types is 0"),
    ("chinese wall header", "max_ssidrefs", 0x10000, "field max_ssidrefs is 65536"),
    ("chinese wall header", "max_conflictsets", 0xFFFFFFFF, "field max_conflictsets"),
    ("chinese wall header", "ssid_offset", 40, "field ssid_offset"),
    ("chinese wall header", "conflict_sets_offset", 0, "field conflict_sets_offset"),
    ("chinese wall header", "running_types_offset", 4, "field running_types_offset"),
    ("chinese wall header", "conflict_aggregate_offset", 4, "field conflict_aggregate_offset"),
    ("ste header", "policy_version", 0, "ste header field policy_version"),
    ("ste header", "policy_code", 1, "ste header field policy_code"),
    ("ste header", "max_types", 0, "ste header field max_types"),
    ("ste header", "max_ssidrefs", 0, "ste header field max_ssidrefs"),
    ("ste header", "ssid_offset", 24, "ste header field ssid_offset"),
]


@pytest.mark.parametrize(("record", "field", "value", "says"), FIELD_CASES)
def test_a_wrong_header_field_is_refused_by_name(
    record: str, field: str, value: int, says: str
) -> None:
    assert says in _refused(_with(_valid_bin(), record, field, value))


def test_every_header_field_is_checked() -> None:
    """Whatever header field is changed (to 0 or all ones), the reader refuses."""
    data = _valid_bin()
    for record, off, field in iter_fields(data):
        for value in (0, 0xFFFFFFFF):
            if struct.unpack_from(">I", data, off)[0] == value:
                continue
            _refused(data[:off] + struct.pack(">I", value) + data[off + 4 :])
            assert record and field


def _set_len(data: bytes) -> bytes:
    return data[:8] + struct.pack(">I", len(data)) + data[12:]


def test_reference_name_checks() -> None:
    data = (GOLDEN / "ste_only.bin").read_bytes()
    start = 36  # after name_len
    name = b"golden.ste_only"  # 4 + 16 bytes, padded to 24
    # name_len beyond the file
    big = data[:32] + struct.pack(">I", 1 << 30) + data[36:]
    assert "name_len" in _refused(big)
    # name_len 0
    assert "name_len" in _refused(data[:32] + struct.pack(">I", 0) + data[36:])
    # no NUL at the end of the name
    bad = bytearray(data)
    bad[start + len(name)] = ord("x")
    assert "NUL-terminated" in _refused(bytes(bad))
    # padding not zero
    bad = bytearray(data)
    bad[start + len(name) + 1] = 1
    assert "padding" in _refused(bytes(bad))
    # not UTF-8
    bad = bytearray(data)
    bad[start] = 0xFF
    assert "UTF-8" in _refused(bytes(bad))


def test_matrix_cells_must_be_0_or_1() -> None:
    data = _valid_bin()
    policy = decode_binary(data)
    assert policy.chwall is not None
    first_cell = _offset(data, "chinese wall header", "policy_version") + 36
    for index, value in ((first_cell + 1, 2), (first_cell, 1)):
        bad = bytearray(data)
        bad[index] = value
        assert "neither 0 nor 1" in _refused(bytes(bad))


def test_truncated_extended_and_empty_files() -> None:
    data = _valid_bin()
    assert "truncated" in _refused(b"")
    assert "truncated" in _refused(data[:20])
    assert "field len" in _refused(data[:-2])
    assert "runs past the end" in _refused(_set_len(data[:-2]))
    assert "field len" in _refused(data + b"\0\0")
    assert "bytes after the last policy part" in _refused(_set_len(data + b"\0\0"))


def test_bytes_like_inputs_are_read() -> None:
    data = _valid_bin()
    policy = decode_binary(data)
    assert decode_binary(bytearray(data)) == policy
    assert decode_binary(memoryview(data)) == policy  # type: ignore[arg-type]


def test_binary_chunks_is_a_lazy_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acm.binfmt, "CHUNK_BYTES", 16)  # many small matrix pieces
    policy = _binary(EXAMPLE_XML)
    chunks = binary_chunks(policy)
    assert isinstance(chunks, BinaryChunks)
    assert len(chunks) > 10
    assert b"".join(chunks) == binary_bytes(policy)
    assert chunks.size == len(binary_bytes(policy))
    assert chunks[-1] == chunks[len(chunks) - 1]
    assert b"".join(chunks[2:5]) == b"".join(list(chunks)[2:5])
    assert encode_binary(policy) == list(chunks)
    with pytest.raises(IndexError):
        chunks[len(chunks)]


@PROPERTY
@given(valid_policies(), st.integers(1, 64))
def test_chunked_writing_gives_the_same_bytes(spec: PolicySpec, chunk: int) -> None:
    policy = compile_policy(parse_policy_source(spec.to_xml(), "p.xml"))[0].binary
    whole = binary_bytes(policy)
    old = acm.binfmt.CHUNK_BYTES
    acm.binfmt.CHUNK_BYTES = chunk
    try:
        pieces = binary_chunks(policy)
        assert b"".join(pieces) == whole
        assert pieces.size == len(whole)
    finally:
        acm.binfmt.CHUNK_BYTES = old
    assert decode_binary(whole) == policy


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    spec = draw(valid_policies())
    data = bytearray(
        binary_bytes(compile_policy(parse_policy_source(spec.to_xml(), "p"))[0].binary)
    )
    kind = draw(st.sampled_from(["flip", "truncate", "extend", "field", "field", "splice"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            bit = draw(st.integers(0, len(data) * 8 - 1))
            data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "extend":
        data += draw(st.binary(min_size=1, max_size=64))
    elif kind == "field":
        fields = list(iter_fields(bytes(data)))
        _, off, _ = draw(st.sampled_from(fields))
        value = draw(
            st.sampled_from([0, 1, 2, 3, 0xFFFF, 0x10000, len(data), 0xFFFFFFFF])
            | st.integers(0, 0xFFFFFFFF)
        )
        data[off : off + 4] = struct.pack(">I", value)
        if draw(st.booleans()):  # keep `len` consistent, so later checks are reached
            data[8:12] = struct.pack(">I", len(data))
    else:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=16))
        data[8:12] = struct.pack(">I", len(data))
    return bytes(data)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_bin_is_refused_or_is_another_valid_policy(data: bytes) -> None:
    try:
        policy = decode_binary(data, "m.bin")
    except PolicyError as exc:
        assert exc.diagnostics.codes() == ["BIN001"]
        return
    # A mutation that happens to give another valid policy writes back exactly.
    assert binary_bytes(policy) == data


# ---------------------------------------------------------------- expected SSIDs


def _outcome(
    data: bytes | ByteSource, ssids: dict[PolicyCode, tuple[tuple[int, ...], ...]] | None
) -> object:
    """What reading `data` gives: the policy, or the one error message."""
    try:
        return decode_binary(data, "m.bin", ssids)
    except PolicyError as exc:
        return [d.format() for d in exc.diagnostics.errors]


@st.composite
def expected_ssids(
    draw: st.DrawFn, policy: BinaryPolicy
) -> dict[PolicyCode, tuple[tuple[int, ...], ...]]:
    """The policy's SSID rows, often changed: a type added, dropped or out
    of range, a row reversed, repeated, dropped or made a list."""
    found: dict[PolicyCode, tuple[tuple[int, ...], ...]] = {}
    for part in (policy.chwall, policy.ste):
        if part is None:
            continue
        rows: list[object] = list(part.ssids)
        change = draw(
            st.sampled_from(
                ["none", "none", "add", "drop", "reverse", "repeat"] + ["range", "row", "list"]
            )
        )
        at = draw(st.integers(0, len(rows) - 1))
        row: tuple[int, ...] = part.ssids[at]
        if change == "add":
            rows[at] = tuple(sorted({*row, draw(st.integers(0, part.max_types - 1))}))
        elif change == "drop" and row:
            rows[at] = row[1:]
        elif change == "reverse":
            rows[at] = row[::-1]
        elif change == "repeat" and row:
            rows[at] = (row[0], *row)
        elif change == "range":
            rows[at] = (*row, draw(st.sampled_from([-1, part.max_types, part.max_types + 7])))
        elif change == "row":
            rows.pop(at)
        elif change == "list":
            rows[at] = list(row)
        code = PolicyCode.CHWALL if part is policy.chwall else PolicyCode.STE
        found[code] = tuple(rows)  # type: ignore[arg-type]
    return found


@PROPERTY
@given(st.data())
def test_expected_ssids_only_make_reading_faster(data: st.DataObject) -> None:
    """Whatever SSID rows a reader expects (right, wrong or malformed), and
    whether the `.bin` is intact or damaged, it reads what it reads without
    them: the same policy or the same error."""
    raw = data.draw(mutated() | st.just(b""))
    if not raw:
        spec = data.draw(valid_policies())
        raw = binary_bytes(compile_policy(parse_policy_source(spec.to_xml(), "p"))[0].binary)
    intact = _outcome(raw, None)
    policy = intact if isinstance(intact, BinaryPolicy) else None
    if policy is None:  # damaged: expect the rows of an intact policy of the same shape
        spec = data.draw(valid_policies())
        policy = compile_policy(parse_policy_source(spec.to_xml(), "p"))[0].binary
    ssids = data.draw(expected_ssids(policy))
    assert _outcome(raw, ssids) == intact


def test_expected_ssids_are_compared_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """A matrix larger than a piece is compared piece by piece; a difference
    in the last piece is found and the matrix decoded as always."""
    monkeypatch.setattr(acm.binfmt, "CHUNK_BYTES", 8)
    raw = _valid_bin()
    policy = decode_binary(raw)
    assert policy.ste is not None
    right = {PolicyCode.STE: policy.ste.ssids}
    wrong = {PolicyCode.STE: (*policy.ste.ssids[:-1], (0,))}
    assert policy.ste.ssids[-1] != (0,)
    assert decode_binary(raw, "", right) == policy == decode_binary(raw, "", wrong)
    # the rows that matched are the ones given (not decoded again)
    assert decode_binary(raw, "", right).ste.ssids is right[PolicyCode.STE]  # type: ignore[union-attr]


def test_a_bin_read_in_pieces_reads_as_its_bytes(tmp_path: Path) -> None:
    """A `.bin` read from its file a piece at a time (what loadpolicy does
    with a large one) reads as its bytes do: the same policy, with or
    without expected rows, and the same error when it is damaged."""
    from acm.inputfile import InputPieces

    raw = _valid_bin()
    policy = decode_binary(raw)
    assert policy.ste is not None
    expected = {PolicyCode.STE: policy.ste.ssids}
    damaged = raw[:-3] + b"\x02" + raw[-2:]  # a cell of the last STE row is 2
    for data in (raw, damaged):
        path = tmp_path / "p.bin"
        path.write_bytes(data)
        for ssids in (None, expected):
            with InputPieces(path, 1 << 20) as pieces:
                assert _outcome(pieces, ssids) == _outcome(data, ssids)
    assert isinstance(_outcome(damaged, None), list)


def test_a_file_that_shrinks_while_read_in_pieces_is_refused(tmp_path: Path) -> None:
    from acm.inputfile import InputFileError, InputPieces

    path = tmp_path / "p.bin"
    path.write_bytes(_valid_bin())
    with InputPieces(path, 1 << 20) as pieces:
        size = len(pieces)
        assert pieces[0:8] == path.read_bytes()[:8]
        path.write_bytes(b"x")
        with pytest.raises(InputFileError, match="changed while it was read"):
            pieces[0:size]
    with pytest.raises(InputFileError, match="larger than the limit"):
        InputPieces(path.parent / "p.bin", 0)
    with pytest.raises(InputFileError, match="not a regular file"):
        InputPieces(tmp_path, 1 << 20)
