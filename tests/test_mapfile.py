"""The `.map` writer and its strict reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acm.errors import PolicyError
from acm.mapfile import parse_map, render_map
from acm.model import NULL_LABEL, MapPart, PolicyCode, PolicyMap, SsidLabel
from acm.source import LabelKind
from tests.policygen import NAME_CHARS, examples

GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_MAPS = sorted(GOLDEN.glob("*.map"))


@pytest.mark.parametrize("path", GOLDEN_MAPS, ids=lambda p: p.stem)
def test_golden_maps_read_and_write_back_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    assert render_map(parse_map(data, str(path))) == data


@pytest.mark.parametrize("lines", [1, 2, 3, 7])
def test_the_chunk_size_does_not_change_the_text(
    monkeypatch: pytest.MonkeyPatch, lines: int
) -> None:
    """`map_chunks` cuts every block into chunks; where it cuts (here inside
    every block of the golden maps) shows nowhere in the text."""
    import acm.mapfile

    maps = [parse_map(path.read_bytes(), str(path)) for path in GOLDEN_MAPS]
    whole = [render_map(m) for m in maps]
    monkeypatch.setattr(acm.mapfile, "LINES_PER_CHUNK", lines)
    assert [render_map(m) for m in maps] == whole
    assert any(len(list(acm.mapfile.map_chunks(m))) > 10 for m in maps)


def test_reading_the_example_map() -> None:
    m = parse_map((GOLDEN / "example.chwall_ste.client_v1.map").read_bytes())
    assert m.reference_name == "example.chwall_ste.client_v1"
    assert (m.primary, m.secondary) == (PolicyCode.CHWALL, PolicyCode.STE)
    assert m.policy_file.endswith("example/chwall_ste/client_v1-security_policy.xml")
    assert m.chwall is not None and m.ste is not None
    assert m.chwall.labels[0] == SsidLabel(NULL_LABEL, LabelKind.ANY, 0)
    assert m.chwall.labels[1].name == "dom_SystemManagement"
    assert m.ste.labels[1].name == "dom_SystemManagement"
    assert "ste_SystemManagement" in m.ste.type_names(m.ste.ssid_types[1])


def _part(code: PolicyCode, types: list[str], labels: list[tuple[str, LabelKind]]) -> MapPart:
    entries = [(NULL_LABEL, LabelKind.ANY), *labels]
    return MapPart(
        code,
        tuple(types),
        tuple(SsidLabel(n, k, i) for i, (n, k) in enumerate(entries)),
        tuple(((), *[(i % len(types),) for i in range(len(labels))])),
    )


def _map(ste: MapPart | None, chwall: MapPart | None = None) -> PolicyMap:
    primary = PolicyCode.CHWALL if chwall else PolicyCode.STE if ste else PolicyCode.NULL
    secondary = PolicyCode.STE if chwall and ste else PolicyCode.NULL
    return PolicyMap("p", "pol/p-security_policy.xml", "pol/p.bin", primary, secondary, chwall, ste)


def test_names_are_padded_by_utf8_bytes_and_read_back() -> None:
    names = [("é" * 12, LabelKind.VM), ("é" * 12 + "x", LabelKind.VM), ("€" * 9, LabelKind.RES)]
    m = _map(_part(PolicyCode.STE, ["t"], names))
    text = render_map(m)
    # 24 bytes + 1 space of padding, 25 bytes + none, 27 bytes + none.
    assert ("é" * 12 + " " + " " + "       1").encode() in text
    assert parse_map(text) == m


def test_names_with_spaces_read_back() -> None:
    """Type lists are split against the TYPE block, so a type name may hold
    spaces (Xen's own tools split on white space and could not read them)."""
    part = MapPart(
        PolicyCode.STE,
        ("a", "a b", "c  d", "b"),
        (
            SsidLabel(NULL_LABEL, LabelKind.ANY, 0),
            SsidLabel("my label", LabelKind.VM, 1),
            SsidLabel("x", LabelKind.RES, 2),
        ),
        ((), (1, 2), (0, 2, 3)),
    )
    m = _map(part)
    assert parse_map(render_map(m)) == m


def test_a_short_name_ending_in_spaces_cannot_be_told_from_its_padding() -> None:
    """Documented limit of the format (lint warns about white space in names)."""
    m = _map(_part(PolicyCode.STE, ["t"], [("trailing ", LabelKind.VM)]))
    back = parse_map(render_map(m))
    assert back.ste is not None
    assert back.ste.labels[1].name == "trailing"


def _broken(replace: str, by: str) -> bytes:
    text = (GOLDEN / "ste_only.map").read_text()
    assert replace in text
    return text.replace(replace, by, 1).encode()


@pytest.mark.parametrize(
    ("data", "says", "line"),
    [
        (b"", "expected POLICYREFERENCENAME", 1),
        (b"\xff\xfe", "not UTF-8", 0),
        (_broken("MAGIC                  0001debc", "MAGIC                  0001debd"), "MAGIC", 2),
        (_broken("MAX-STE-TYPES          00000004", "MAX-STE-TYPES          0000000g"), "hex", 5),
        (_broken("MAX-STE-SSIDS          00000007", "MAX-STE-SSIDS          00000008"), "MAX-", 5),
        (_broken("PRIMARY                STE", "PRIMARY                CHWALL"), "PRIMARY", 9),
        (_broken("PRIMARY                STE", "PRIMARY                BOGUS"), "unknown", 9),
        (_broken("\n\nPRIMARY", "\nPRIMARY"), "empty line", 8),
        (_broken("LABEL->SSID VM  STE    web", "LABEL->SSID XX  STE    web"), "malformed", 14),
        (
            _broken("web                              2", "web                              5"),
            "order",
            14,
        ),
        (
            _broken(
                "SSID->TYPE STE         00000002 green red", "SSID->TYPE STE         00000002 pink"
            ),
            "not a list of known types",
            22,
        ),
        (
            _broken("SSID->TYPE STE         00000002", "SSID->TYPE STE         00000003"),
            "out of order",
            22,
        ),
        (
            _broken(
                "TYPE STE               red                              1",
                "TYPE STE               red                              7",
            ),
            "numbered",
            29,
        ),
        ((GOLDEN / "ste_only.map").read_bytes() + b"junk\n", "after the last block", 33),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_malformed_maps_are_refused_with_a_line(data: bytes, says: str, line: int) -> None:
    with pytest.raises(PolicyError) as info:
        parse_map(data, "p.map")
    (d,) = info.value.diagnostics
    assert d.code == "MAP001"
    assert says in d.message
    assert d.location.file == "p.map"
    if line:
        assert d.location.line == line, d.format()


# ---------------------------------------------------------------- property

map_names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=30)
kinds = st.sampled_from([LabelKind.VM, LabelKind.RES])


@st.composite
def map_parts(draw: st.DrawFn, code: PolicyCode) -> MapPart:
    types = draw(st.lists(map_names, min_size=1, max_size=6, unique=True))
    labels = draw(st.lists(st.tuples(map_names, kinds), max_size=6))
    rows = [
        tuple(sorted(draw(st.sets(st.integers(0, len(types) - 1), max_size=len(types)))))
        for _ in labels
    ]
    entries = [(NULL_LABEL, LabelKind.ANY), *labels]
    return MapPart(
        code,
        tuple(types),
        tuple(SsidLabel(n, k, i) for i, (n, k) in enumerate(entries)),
        ((), *rows),
    )


@st.composite
def policy_maps(draw: st.DrawFn) -> PolicyMap:
    chwall = draw(st.none() | map_parts(PolicyCode.CHWALL))
    ste = draw(st.none() | map_parts(PolicyCode.STE))
    m = _map(ste, chwall)
    paths = st.text(alphabet=NAME_CHARS + "/ ", max_size=40)
    return m._replace(
        reference_name=draw(map_names), policy_file=draw(paths), binary_file=draw(paths)
    )


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_maps())
def test_parse_render_round_trip(m: PolicyMap) -> None:
    data = render_map(m)
    assert parse_map(data) == m
    assert render_map(parse_map(data)) == data


@st.composite
def damaged_maps(draw: st.DrawFn) -> bytes:
    lines = render_map(draw(policy_maps())).split(b"\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "cut", "char"]))
        if op == "drop":
            lines.pop(i)
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + draw(st.binary(min_size=1, max_size=2)) + lines[i][j + 1 :]
        if not lines:
            break
    return b"\n".join(lines)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_maps())
def test_a_damaged_map_is_refused_or_read_never_a_crash(data: bytes) -> None:
    try:
        m = parse_map(data, "d.map")
    except PolicyError as exc:
        assert exc.diagnostics.codes() == ["MAP001"]
        return
    assert parse_map(render_map(m)) == m


def test_map_mismatches_names_every_disagreement() -> None:
    """The one check loadpolicy and the analyses share: a `.map` that does
    not describe its `.bin` is caught, each way it differs listed."""

    from acm.model import CompiledPolicy
    from acm.source import read_policy_source
    from acm.sourcecompiler import compile_policy
    from tests.conftest import EXAMPLE_XML

    compiled, _ = compile_policy(read_policy_source(str(EXAMPLE_XML)))
    assert compiled.map_mismatches() == []
    ste = compiled.map.ste
    assert ste is not None
    swapped = (ste.ssid_types[0], ste.ssid_types[2], ste.ssid_types[1], *ste.ssid_types[3:])
    other = compiled.map._replace(
        reference_name="other.policy",
        ste=ste._replace(ssid_types=swapped),
    )
    problems = CompiledPolicy(compiled.binary, other).map_mismatches()
    assert problems == [
        "its reference name 'other.policy' is not the binary's 'example.chwall_ste.client_v1'",
        "its STE SSIDs differ from the binary's",
    ]
    no_ste = compiled.map._replace(ste=None)
    assert CompiledPolicy(compiled.binary, no_ste).map_mismatches() == [
        "it has other policy parts than the binary"
    ]


# ---------------------------------------------------------------- one pass and line by line

# The readers of whole blocks; each may decline a block (None), which is
# then read line by line.
ONE_PASS = ("_label_table", "_labels_fast", "_table_names", "_ssid_types_fast", "_type_rows_fast")


def _outcome(data: bytes) -> object:
    try:
        return parse_map(data, "d.map")
    except PolicyError as exc:
        return [d.format() for d in exc.diagnostics.errors]


def _line_by_line(data: bytes) -> object:
    """What the reader makes of `data` with every block read line by line."""
    import acm.mapfile

    saved = {name: getattr(acm.mapfile, name) for name in ONE_PASS}
    try:
        for name in ONE_PASS:
            setattr(acm.mapfile, name, lambda *_: None)
        return _outcome(data)
    finally:
        for name, value in saved.items():
            setattr(acm.mapfile, name, value)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_maps() | policy_maps().map(render_map))
def test_reading_blocks_in_one_pass_changes_nothing(data: bytes) -> None:
    """The same map or the same error (message and line) as line by line."""
    assert _outcome(data) == _line_by_line(data)


def _large_map(labels: int) -> bytes:
    names = [(f"vm{i}", LabelKind.VM if i % 3 else LabelKind.RES) for i in range(labels)]
    types = [f"t{i}" for i in range(300)]
    part = _part(PolicyCode.STE, types, names)
    return render_map(_map(part))


def test_a_large_map_is_read_in_one_pass() -> None:
    """Numbers of several hex digits: read back by the one-pass readers."""
    import acm.mapfile

    data = _large_map(5000)
    m = parse_map(data)
    assert render_map(m) == data
    lines = data.decode().split("\n")
    labels = [line for line in lines if line.startswith("LABEL->SSID")]
    assert acm.mapfile._label_table(labels, PolicyCode.STE) == list(m.ste.labels)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "old", "new", "says"),
    [
        (4108, " 1000", " 1001", "order"),  # SSID 0x1000, vm4095
        (4108, "     1000", "    1000", "columns"),
        (4108, "RES STE", "REZ STE", "malformed"),
        (9110, "00001000", "00001001", "out of order"),
        (9110, "t195", "t195 t1", "not a list of known"),
        (10272, " 100", " 101", "numbered"),  # TYPE t256
    ],
)
def test_a_fault_deep_in_a_large_map_is_reported_on_its_line(
    line: int, old: str, new: str, says: str
) -> None:
    lines = _large_map(5000).decode().split("\n")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    data = "\n".join(lines).encode()
    found = _outcome(data)
    assert found == _line_by_line(data)
    assert isinstance(found, list) and len(found) == 1
    assert says in found[0] and f":{line}:" in found[0], found


@given(st.lists(st.lists(st.integers(0, 5), max_size=4), max_size=6))
def test_rows_ascend_as_type_sets_do(rows: list[list[int]]) -> None:
    from acm.model import ascending_within_rows

    flat = [t for row in rows for t in row]
    expected = all(row == sorted(set(row)) for row in rows)
    assert ascending_within_rows(flat, map(len, rows)) == expected
