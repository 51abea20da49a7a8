"""ACM030: labels that carry data over a Chinese Wall, checked against a
brute-force reading of enforcement.md on random small policies."""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from acm.lint import RULES, lint_paths, lint_source
from acm.lint.checks import bridges as lint_bridges
from acm.lint.checks.bridges import Bridge
from acm.lint.model import from_source
from acm.source import LabelKind, LabelSource, PolicySource, parse_policy_source, read_policy_source
from tests.conftest import EXAMPLE_XML


def find_bridges(src: PolicySource, trusted: list[str] | set[str] = ()) -> list[Bridge]:  # type: ignore[assignment]
    return lint_bridges.find_bridges(from_source(src), trusted)


def _name(src: PolicySource, label: int) -> str:
    return src.labels[label].name.text


def test_example_policy_driver_domains_bridge_banking_and_fun() -> None:
    src = read_policy_source(str(EXAMPLE_XML))
    bridges = find_bridges(src)
    assert [(_name(src, b.via), _name(src, b.first), _name(src, b.second)) for b in bridges] == [
        ("dom_StorageDomain", "dom_HomeBanking", "dom_Fun"),
        ("dom_NetworkDomain", "dom_HomeBanking", "dom_Fun"),
    ]
    assert (bridges[0].first_type, bridges[0].second_type) == (
        "ste_PersonalFinances",
        "ste_InternetInsecure",
    )


def test_trusted_labels_are_no_bridges() -> None:
    src = read_policy_source(str(EXAMPLE_XML))
    assert [_name(src, b.via) for b in find_bridges(src, ["dom_StorageDomain"])] == [
        "dom_NetworkDomain"
    ]
    assert find_bridges(src, ["dom_StorageDomain", "dom_NetworkDomain"]) == []


def test_trusted_from_configuration(tmp_path: Path) -> None:
    config = tmp_path / "lint.toml"
    config.write_text('trusted = ["dom_StorageDomain", "dom_NetworkDomain"]\n')
    codes = [d.code for d in lint_paths([str(EXAMPLE_XML)], str(config)).findings]
    assert codes == ["ACM031", "ACM031"]


# ---------------------------------------------------------------- brute force


def _xml(
    ste: int,
    cw: int,
    sets: list[list[int]],
    vms: list[tuple[list[int], list[int]]],
    res: list[list[int]],
) -> bytes:
    def types(tag: str, prefix: str, numbers: list[int]) -> str:
        if not numbers:
            return ""
        inner = "".join(f"<Type>{prefix}{n}</Type>" for n in numbers)
        return f"<{tag}>{inner}</{tag}>"

    out = [
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com">',
        "<PolicyHeader><PolicyName>p</PolicyName></PolicyHeader>",
        "<SimpleTypeEnforcement>",
        types("SimpleTypeEnforcementTypes", "s", list(range(ste))),
        "</SimpleTypeEnforcement><ChineseWall>",
        types("ChineseWallTypes", "c", list(range(cw))),
    ]
    if sets:
        out.append("<ConflictSets>")
        out += [
            f'<Conflict name="S{i}">{types("x", "c", s)[3:-4]}</Conflict>'
            for i, s in enumerate(sets)
        ]
        out.append("</ConflictSets>")
    out.append('</ChineseWall><SecurityLabelTemplate><SubjectLabels bootstrap="v0">')
    for i, (s, c) in enumerate(vms):
        out.append(
            f"<VirtualMachineLabel><Name>v{i}</Name>"
            + types("SimpleTypeEnforcementTypes", "s", s)
            + types("ChineseWallTypes", "c", c)
            + "</VirtualMachineLabel>"
        )
    out.append("</SubjectLabels>")
    if res:
        out.append("<ObjectLabels>")
        out += [
            f"<ResourceLabel><Name>r{i}</Name>"
            + types("SimpleTypeEnforcementTypes", "s", s)
            + "</ResourceLabel>"
            for i, s in enumerate(res)
        ]
        out.append("</ObjectLabels>")
    out.append("</SecurityLabelTemplate></SecurityPolicyDefinition>")
    return "\n".join(out).encode()


def _types(label: LabelSource, chwall: bool) -> set[str]:
    groups = label.chwall_groups if chwall else label.ste_groups
    return {t.text for g in groups for t in g.types}


def _blocks(a: set[str], b: set[str], sets: list[set[str]]) -> bool:
    """A running domain of types `a` keeps one of types `b` from starting
    (enforcement.md section 2, steps 2 and 3)."""
    return any(s & a and b & (s - a) for s in sets)


def _brute_force(src: PolicySource, trusted: set[str]) -> set[str]:
    assert src.chwall is not None
    sets = [{t.text for t in cs.types} for cs in src.chwall.conflict_sets]
    vms = src.vm_labels

    def conflict(x: LabelSource, y: LabelSource) -> bool:
        a, b = _types(x, True), _types(y, True)
        return _blocks(a, b, sets) or _blocks(b, a, sets)

    def share(x: LabelSource, y: LabelSource) -> bool:
        return bool(_types(x, False) & _types(y, False))

    found = set()
    for c in src.labels:
        name = c.name.text
        if name in trusted or name == "v0" or (c.kind is LabelKind.VM and not _types(c, True)):
            continue
        for a, b in permutations(vms, 2):
            if c is a or c is b or not conflict(a, b) or not (share(a, c) and share(b, c)):
                continue
            if c.kind is LabelKind.VM and (conflict(a, c) or conflict(b, c)):
                continue
            found.add(name)
    return found


def _check_witness(bridge: Bridge, src: PolicySource) -> None:
    assert src.chwall is not None
    cs = bridge.conflict_set
    members = {t.text for t in cs.types}
    a, b, c = src.labels[bridge.first], src.labels[bridge.second], src.labels[bridge.via]
    ca, cb = _types(a, True) & members, _types(b, True) & members
    assert ca and cb and ca != cb  # walled apart by this very set
    assert bridge.first_type in _types(a, False) & _types(c, False)
    assert bridge.second_type in _types(b, False) & _types(c, False)


subsets = st.lists(st.integers(0, 3), max_size=3, unique=True)


@st.composite
def policies(draw: st.DrawFn) -> tuple[bytes, set[str]]:
    ste, cw = 4, 4
    sets = draw(
        st.lists(
            st.lists(st.integers(0, cw - 1), min_size=1, max_size=3, unique=True),
            min_size=1,
            max_size=3,
        )
    )
    vms = draw(
        st.lists(
            st.tuples(subsets, st.lists(st.integers(0, cw - 1), max_size=2, unique=True)),
            min_size=3,
            max_size=7,
        )
    )
    res = draw(st.lists(subsets, max_size=4))
    names = [f"v{i}" for i in range(len(vms))] + [f"r{i}" for i in range(len(res))]
    trusted = set(draw(st.lists(st.sampled_from(names), max_size=2)))
    return _xml(ste, cw, sets, vms, res), trusted


@settings(max_examples=300, deadline=None)
@given(policies())
def test_bridges_match_brute_force(case: tuple[bytes, set[str]]) -> None:
    data, trusted = case
    src = parse_policy_source(data, "p-security_policy.xml")
    bridges = find_bridges(src, trusted)
    assert {_name(src, b.via) for b in bridges} == _brute_force(src, trusted)
    assert len(bridges) == len({b.via for b in bridges})  # one finding per label
    for bridge in bridges:
        _check_witness(bridge, src)
    # every other check copes with whatever the generator makes
    findings = lint_source(src, trusted)
    assert {d.code for d in findings} <= set(RULES)
    assert sum(d.code == "ACM030" for d in findings) == len(bridges)


def test_one_sided_block_is_a_wall() -> None:
    """v1 {c0} keeps v2 {c0,c1} out under set {c0,c1}, though not the other way
    round: they are walled apart, and r0 bridges them."""
    data = _xml(2, 2, [[0, 1]], [([0, 1], [0]), ([0], [0]), ([1], [0, 1])], [[0, 1]])
    src = parse_policy_source(data, "p-security_policy.xml")
    assert [_name(src, b.via) for b in find_bridges(src)] == ["r0"]


def test_labels_that_may_not_run_with_either_end_are_no_bridge() -> None:
    """v3 shares with v1 and v2 but is itself walled off from both."""
    data = _xml(
        2,
        3,
        [[0, 1], [2, 0], [2, 1]],
        [([0, 1], [2]), ([0], [0]), ([1], [1]), ([0, 1], [2])],
        [],
    )
    src = parse_policy_source(data, "p-security_policy.xml")
    assert find_bridges(src) == []


def test_label_that_cannot_start_is_no_bridge() -> None:
    data = _xml(2, 2, [[0, 1]], [([0, 1], [0]), ([0], [0]), ([1], [1]), ([0, 1], [])], [])
    src = parse_policy_source(data, "p-security_policy.xml")
    assert find_bridges(src) == []
