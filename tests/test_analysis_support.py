"""Policies for the analysis tests: a small description -> XML builder, and a
hypothesis strategy of random valid source policies (multi-group labels,
repeated names, a VM and a resource label of one name, odd characters)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from acm.analysis.loader import AnalysisPolicy, from_compiled
from acm.model import CompiledPolicy
from acm.source import parse_policy_source
from acm.sourcecompiler import compile_source
from tests.policygen import Label, PolicySpec

DATA = Path(__file__).resolve().parent / "data" / "analysis"
Groups = list[list[str]]


@dataclass
class Spec:
    """A source policy in brief. `ste`/`cw` None: that part is absent."""

    name: str = "test.policy"
    ste: list[str] | None = None
    cw: list[str] | None = None
    conflict_sets: list[tuple[str | None, list[str]]] = field(default_factory=list)
    bootstrap: str | None = None
    vms: list[tuple[str, Groups, Groups]] = field(default_factory=list)  # name, STE, CHWALL
    res: list[tuple[str, Groups]] = field(default_factory=list)


def to_xml(spec: Spec) -> bytes:
    """The XML of `spec`, written by the compiler tests' builder."""
    vms = [Label(name, ste, cw) for name, ste, cw in spec.vms]
    return PolicySpec(
        name=spec.name,
        ste=spec.ste,
        chwall=spec.cw,
        conflicts=spec.conflict_sets,
        bootstrap=(spec.bootstrap or spec.vms[0][0]) if spec.vms else None,
        vms=vms,
        resources=[Label(name, ste) for name, ste in spec.res],
    ).to_xml()


def compile_xml(xml: bytes) -> CompiledPolicy:
    result = compile_source(parse_policy_source(xml, "<test>"))
    assert result.policy is not None, [d.format() for d in result.diagnostics.errors]
    return result.policy


def analysed(spec: Spec) -> AnalysisPolicy:
    """The analysis view, with the conflict set names as `load_xml` keeps them."""
    names = tuple(name for name, _ in spec.conflict_sets)
    return from_compiled(compile_xml(to_xml(spec)), names)


def data_policy(name: str) -> Path:
    return DATA / f"{name}-security_policy.xml"


# ---------------------------------------------------------------- hypothesis

# Names as they may be written: XML specials, non-ASCII. No white space: the
# compiler refuses it in names (ACM016, acm.names), since the .map separates
# its columns and types with spaces.
_CHARS = "abcxyzXY019_-.<>&'\"éü€"
type_names = st.text(alphabet=_CHARS, min_size=1, max_size=6)
label_names = st.text(alphabet=_CHARS, min_size=1, max_size=8)


@st.composite
def specs(draw: st.DrawFn, chwall_one_group: bool = False, with_ste: bool = False) -> Spec:
    """A random valid source policy. With `chwall_one_group`, every VM label has
    exactly one CHWALL group (so each label resolves: for the coexist checks);
    `with_ste` always gives it an STE part."""
    has_ste = with_ste or draw(st.booleans())
    has_cw = chwall_one_group or draw(st.booleans())
    ste = draw(st.lists(type_names, min_size=1, max_size=4, unique=True)) if has_ste else None
    cw = draw(st.lists(type_names, min_size=1, max_size=4, unique=True)) if has_cw else None
    pool = draw(st.lists(label_names, min_size=1, max_size=4, unique=True))

    def groups(types: list[str] | None, lo: int, hi: int) -> Groups:
        if not types:
            return []
        one = st.lists(st.sampled_from(types), min_size=1, max_size=3)
        return draw(st.lists(one, min_size=lo, max_size=hi))

    vms = []
    for _ in range(draw(st.integers(1, 6))):
        name = draw(st.sampled_from(pool))
        cw_groups = groups(cw, 1, 1) if chwall_one_group else groups(cw, 0, 2)
        vms.append((name, groups(ste, 0, 2), cw_groups))
    if chwall_one_group:  # one VM label per name, so every label resolves
        seen: set[str] = set()
        vms = [v for v in vms if not (v[0] in seen or seen.add(v[0]))]  # type: ignore[func-returns-value]
    res = [(draw(st.sampled_from(pool)), groups(ste, 0, 2)) for _ in range(draw(st.integers(0, 4)))]
    bootstrap = draw(st.sampled_from([v[0] for v in vms]))
    # The bootstrap needs an entry in each part the policy has.
    boot_index = next(i for i, v in enumerate(vms) if v[0] == bootstrap)
    name, ste_groups, cw_groups = vms[boot_index]
    if (
        ste
        and not any(g for n, g, _ in vms if n == bootstrap)
        and not any(g for n, g in res if n == bootstrap)
    ):
        ste_groups = [*ste_groups, [ste[0]]]
    if cw and not any(g for n, _, g in vms if n == bootstrap):
        cw_groups = [*cw_groups, [cw[0]]]
    vms[boot_index] = (name, ste_groups, cw_groups)
    sets: list[tuple[str | None, list[str]]] = []
    if cw:
        for _ in range(draw(st.integers(0, 3))):
            members = draw(st.lists(st.sampled_from(cw), min_size=1, max_size=len(cw), unique=True))
            sets.append((draw(st.none() | st.sampled_from(["s1", "s2", "Wall"])), members))
    policy_name = draw(st.sampled_from(["p", "gen.policy_v1", "gen.v-2+x"]))  # dotted names only
    return Spec(policy_name, ste, cw, sets, bootstrap, vms, res)


@settings(max_examples=40, deadline=None)
@given(specs())
def test_generated_policies_are_valid_and_compile(spec: Spec) -> None:
    compiled = compile_xml(to_xml(spec))
    assert compiled.binary.reference_name == spec.name
    assert (compiled.binary.chwall is not None) == (spec.cw is not None)
    assert (compiled.binary.ste is not None) == (spec.ste is not None)


def test_data_policies_compile() -> None:
    for path in sorted(DATA.glob("*-security_policy.xml")):
        compile_xml(path.read_bytes())
