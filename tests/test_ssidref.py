"""label <-> ssidref through the `.map` (shared spec enforcement.md section 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from acm.errors import PolicyError
from acm.mapfile import parse_map
from acm.model import NULL_LABEL, PolicyCode, PolicyMap
from acm.source import LabelKind, parse_policy_source
from acm.sourcecompiler import compile_policy
from acm.ssidref import (
    label_names,
    label_to_ssidref,
    make_ssidref,
    split_ssidref,
    ssidref_to_label,
)
from tests.policygen import PolicySpec, examples, valid_policies

GOLDEN = Path(__file__).resolve().parent / "golden"


def _golden(stem: str) -> PolicyMap:
    return parse_map((GOLDEN / f"{stem}.map").read_bytes())


EXAMPLE = "example.chwall_ste.client_v1"


@pytest.mark.parametrize(
    ("label", "kind", "ssidref"),
    [
        ("dom_SystemManagement", "dom", 0x00010001),
        ("dom_HomeBanking", "dom", 0x00020002),
        ("dom_NetworkDomain", "dom", 0x00060006),
        # A resource has no Chinese Wall SSID: that (primary) half is 0.
        ("res_HardDrive(hda)", "res", 0x00080000),
        ("res_GraphicsAdapter", "res", 0x000D0000),
        (NULL_LABEL, "dom", 0),
    ],
)
def test_label_to_ssidref_on_the_example(label: str, kind: str, ssidref: int) -> None:
    pmap = _golden(EXAMPLE)
    assert label_to_ssidref(pmap, label, kind) == ssidref
    assert ssidref_to_label(pmap, ssidref) == label


def test_ste_only_policy_has_a_zero_high_half() -> None:
    pmap = _golden("ste_only")
    assert label_to_ssidref(pmap, "web") == 0x00000002
    assert label_to_ssidref(pmap, "disk_blue", "res") == 0x00000006
    assert ssidref_to_label(pmap, 6) == "disk_blue"
    with pytest.raises(PolicyError) as info:
        ssidref_to_label(pmap, 0x00010001)
    assert info.value.diagnostics.codes() == ["SSID003"]


@pytest.mark.parametrize(
    ("stem", "label", "kind", "code", "message"),
    [
        (EXAMPLE, "dom_Nobody", "dom", "SSID001", "Label 'dom_Nobody' not found."),
        (EXAMPLE, "dom_HomeBanking", "res", "SSID001", "Label 'dom_HomeBanking' not found."),
        (EXAMPLE, "res_HardDrive(hda)", "dom", "SSID001", "Label 'res_HardDrive(hda)' not found."),
        ("multi_group", "twice", "dom", "SSID002", "Label 'twice' not unique."),
        # A VM label without a CHWALL entry cannot start under CHWALL primary.
        ("multi_group", "stè_only_domain", "dom", "SSID001", "not found"),
    ],
)
def test_label_to_ssidref_errors(stem: str, label: str, kind: str, code: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        label_to_ssidref(_golden(stem), label, kind)
    (d,) = info.value.diagnostics
    assert d.code == code
    assert message in d.message


@pytest.mark.parametrize("ssidref", [0x00020003, 0x00FF0001, 0x00010099, 0x00070000 | 1])
def test_ssidref_to_label_refuses_invalid_or_mixed_ssidrefs(ssidref: int) -> None:
    with pytest.raises(PolicyError) as info:
        ssidref_to_label(_golden(EXAMPLE), ssidref)
    assert info.value.diagnostics.codes() == ["SSID003"]


def test_a_null_half_takes_the_other_halfs_label() -> None:
    pmap = _golden(EXAMPLE)
    assert ssidref_to_label(pmap, 0x00000002) == "dom_HomeBanking"  # STE half null
    assert ssidref_to_label(pmap, 0x00020000) == "dom_HomeBanking"  # CHWALL half null


def test_label_names() -> None:
    pmap = _golden(EXAMPLE)
    dom = label_names(pmap, "dom")
    assert dom == sorted(dom) and "dom_Fun" in dom and NULL_LABEL not in dom
    assert all(n.startswith("res_") for n in label_names(pmap, "res"))
    assert NULL_LABEL in label_names(pmap, "any")
    assert set(label_names(pmap, "any")) == {NULL_LABEL, *dom, *label_names(pmap, "res")}


def test_make_and_split() -> None:
    assert make_ssidref(2, 3) == 0x00030002
    assert split_ssidref(0x00030002) == (2, 3)
    assert split_ssidref(make_ssidref(0xFFFF, 0xFFFF)) == (0xFFFF, 0xFFFF)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_policies())
def test_label_ssidref_round_trip_over_random_policies(spec: PolicySpec) -> None:
    pmap = compile_policy(parse_policy_source(spec.to_xml(), "p.xml"))[0].map
    for kind, kinds in (("dom", (LabelKind.VM,)), ("res", (LabelKind.RES,))):
        names = {e.name for p in (pmap.chwall, pmap.ste) if p for e in p.labels if e.kind in kinds}
        for name in names:
            halves: list[list[int]] = []
            for code in (pmap.primary, pmap.secondary):
                part = pmap.part(code)
                if part is not None:
                    halves.append(
                        [e.ssid for e in part.labels if e.name == name and e.kind in kinds]
                    )
            # A resource under a CHWALL primary has no CHWALL half: it is 0.
            if kind == "res" and pmap.primary is PolicyCode.CHWALL and not halves[0]:
                halves[0] = [0]
            if all(len(h) == 1 for h in halves) and any(h != [0] for h in halves):
                ssidref = label_to_ssidref(pmap, name, kind)
                primary, secondary = split_ssidref(ssidref)
                assert primary == halves[0][0]
                assert secondary == (halves[1][0] if len(halves) > 1 else 0)
                assert ssidref_to_label(pmap, ssidref) == name
            else:
                with pytest.raises(PolicyError) as info:
                    label_to_ssidref(pmap, name, kind)
                assert info.value.diagnostics.codes()[0] in ("SSID001", "SSID002")
