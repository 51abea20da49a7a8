"""label <-> ssidref through the `.map` (shared spec enforcement.md section 6).

An ssidref holds the primary part's SSID in its low 16 bits and the
secondary part's SSID in its high 16 bits.
"""

from __future__ import annotations

from acm.errors import PolicyError
from acm.model import NULL_LABEL, MapPart, PolicyCode, PolicyMap
from acm.source import LabelKind


def make_ssidref(primary: int, secondary: int) -> int:
    return ((secondary & 0xFFFF) << 16) | (primary & 0xFFFF)


def split_ssidref(ssidref: int) -> tuple[int, int]:
    """(primary SSID, secondary SSID)."""
    return ssidref & 0xFFFF, (ssidref >> 16) & 0xFFFF


def _kinds(kind: str) -> tuple[LabelKind, ...]:
    if kind in ("dom", "VM"):
        return (LabelKind.VM, LabelKind.ANY)
    if kind in ("res", "RES"):
        return (LabelKind.RES, LabelKind.ANY)
    if kind == "any":
        return (LabelKind.VM, LabelKind.RES, LabelKind.ANY)
    raise ValueError(f"unknown label kind {kind!r}")


def _ssid_in(part: MapPart | None, label: str, kinds: tuple[LabelKind, ...]) -> int | None:
    if part is None:
        return None
    hits = [e.ssid for e in part.by_name.get(label, ()) if e.kind in kinds]
    if len(hits) > 1:
        raise PolicyError.single("SSID002", f"Label '{label}' not unique.")
    return hits[0] if hits else None


def label_to_ssidref(pmap: PolicyMap, label: str, kind: str = "dom") -> int:
    """The ssidref of `label` (kind `dom` or `res`); PolicyError when the label
    is not found or not unique. A resource has no Chinese Wall SSID: under a
    Chinese-Wall-primary policy that half is taken as 0."""
    kinds = _kinds(kind)
    halves = []
    found = False
    for code in (pmap.primary, pmap.secondary):
        if code is PolicyCode.NULL:
            halves.append(0)
            continue
        ssid = _ssid_in(pmap.part(code), label, kinds)
        if ssid is None:
            if code is PolicyCode.CHWALL and LabelKind.RES in kinds:
                halves.append(0)
                continue
            raise PolicyError.single("SSID001", f"Label '{label}' not found.")
        found = True
        halves.append(ssid)
    if not found:
        raise PolicyError.single("SSID001", f"Label '{label}' not found.")
    return make_ssidref(halves[0], halves[1])


def ssidref_to_label(pmap: PolicyMap, ssidref: int) -> str:
    """The label owning both halves of `ssidref`. A half that is the null SSID
    while the other is not takes the other half's label."""
    names = []
    for code, ssid in zip((pmap.primary, pmap.secondary), split_ssidref(ssidref), strict=True):
        part = pmap.part(code)
        if part is None:
            if ssid:
                raise PolicyError.single("SSID003", f"Invalid ssidref 0x{ssidref:08x}.")
            continue
        if ssid >= len(part.labels):
            raise PolicyError.single("SSID003", f"Invalid ssidref 0x{ssidref:08x}.")
        names.append(part.labels[ssid].name)
    real = [n for n in names if n != NULL_LABEL]
    if not real:
        return NULL_LABEL
    if len(set(real)) > 1:
        raise PolicyError.single(
            "SSID003", f"Invalid ssidref 0x{ssidref:08x}: its halves belong to different labels."
        )
    return real[0]


def label_names(pmap: PolicyMap, kind: str = "dom") -> list[str]:
    """Label names of a kind (`dom`, `res`, `any`), sorted; `any` includes
    the null label."""
    kinds = _kinds(kind)
    names: set[str] = set()
    for part in (pmap.chwall, pmap.ste):
        if part is None:
            continue
        for e in part.labels:
            if e.kind is LabelKind.ANY and kind != "any":
                continue
            if e.kind in kinds:
                names.add(e.name)
    return sorted(names)
