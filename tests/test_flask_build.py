"""Proof of the FLASK export: each exported module is built with Xen 4.13's
policy sources through m4 and `checkpolicy -t Xen -c 30`, the built
policy's allow rules are read once (`sesearch -A`, attributes expanded with
`seinfo`), and for every ordered pair of VM labels the event channel and
grant permissions equal our engine's decision: the STE part lets them share
(`Engine.check_share`) and the Chinese Wall lets them run together
(`coexist.check_together`). Each policy is built once (module-scoped)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from acm.analysis.coexist import check_together
from acm.analysis.conflicts import ConflictGraph, build_conflicts
from acm.analysis.loader import AnalysisPolicy, Label, load_policy_file, load_xml
from acm.engine import Engine
from acm.flask import FlaskExport, export_flask, load_for_export
from acm.flask.naming import DOM0_TYPE
from tests.conftest import REPO, SHARED
from tests.flasktools import AllowRules, Built, build, need_flask_tools, read_allow_rules
from tests.policygen import examples, valid_policies

EXAMPLE = REPO / "policies" / "example" / "chwall_ste" / "client_v1-security_policy.xml"
XEN_POLICIES = SHARED / "ref" / "xen-3.0.4" / "policies"
XEN34 = SHARED / "ref" / "xen-3.4"  # versioned policies (Xen 3.4's format)
GEN_POLICY = SHARED / "tools" / "gen_policy.py"
GOLDEN = REPO / "tests" / "data" / "generate" / "golden"


def _data_policies() -> list[Path]:
    """Every policy under tests/data that compiles (the others are there to be refused)."""
    found = []
    for path in sorted((REPO / "tests" / "data").rglob("*.xml")):
        try:
            load_policy_file(path)
        except Exception:  # noqa: BLE001 - a policy made to fail: not ours to export
            continue
        found.append(path)
    return found


@dataclass
class Proof:
    policy: AnalysisPolicy
    export: FlaskExport
    built: Built
    rules: AllowRules


def prove(policy: AnalysisPolicy, workdir: Path, export: FlaskExport | None = None) -> Proof:
    need_flask_tools()
    export = export or export_flask(policy)
    module = workdir / f"{export.module_name}.te"
    module.write_text(export.module)
    built = build(module, workdir)
    assert built.ok, built.output
    return Proof(policy, export, built, read_allow_rules(built.binary))


class Decisions:
    """Our engine's answers, per pair of labels."""

    def __init__(self, policy: AnalysisPolicy) -> None:
        self.policy = policy
        self.engine = Engine(policy.compiled.binary)
        self.cg: ConflictGraph = build_conflicts(policy)
        self._together: dict[tuple[int, int], bool] = {}

    def ssidref(self, label: Label) -> int:
        return self.engine.ssidref_of(label.chwall_ssid or 0, label.ste_ssid or 0)

    def together(self, a: Label, b: Label) -> bool:
        if not (a.usable and b.usable):
            return False
        key = (self.cg.group_of[a.key], self.cg.group_of[b.key])
        if key not in self._together:
            self._together[key] = check_together(self.cg, [a, b]).can
        return self._together[key]

    def share(self, a: Label, b: Label) -> bool:
        if not self.policy.has_ste:
            return True
        return self.engine.check_share(self.ssidref(a), self.ssidref(b)).permitted

    def communicate(self, a: Label, b: Label) -> bool:
        return self.together(a, b) and self.share(a, b)


def evtchn(rules: AllowRules, a: str, b: str) -> bool:
    """`a` may open an event channel to `b`: the channel is labelled `a`'s
    channel type (type_transition), which `a` may create and bind to `b`."""
    channel = rules.transition(a, b, "event")
    return (
        channel is not None
        and rules.allowed(a, channel, "event", "create")
        and rules.allowed(channel, b, "event", "bind")
    )


def grant(rules: AllowRules, a: str, b: str) -> bool:
    return all(rules.allowed(a, b, "grant", p) for p in ("map_read", "map_write"))


def disagreements(proof: Proof) -> list[str]:
    """Every pair where the built policy and the engine differ (empty: proven)."""
    decide = Decisions(proof.policy)
    rules = proof.rules
    types = {vm.label.key: vm.flask_type for vm in proof.export.plan.vms if vm.declared}
    labels = [lab for lab in proof.policy.vm_labels if lab.key in types]
    boot = next((lab for lab in labels if lab.bootstrap and lab.usable), None)
    subjects = [(lab, types[lab.key]) for lab in labels]
    if boot is not None:  # Domain-0 runs as dom0_t with its bootstrap label
        subjects.append((boot, DOM0_TYPE))
    wrong = []
    for a, ta in subjects:
        for b, tb in subjects:
            if ta == tb == DOM0_TYPE:
                continue  # Xen's own dom0.te lets Domain-0 talk to itself
            want = decide.communicate(a, b)
            got = (evtchn(rules, ta, tb), grant(rules, ta, tb))
            if got != (want, want):
                wrong.append(f"{ta} -> {tb}: engine {want}, event/grant {got}")
        starts = decide.together(a, a)
        if ta != DOM0_TYPE and rules.allowed(DOM0_TYPE, ta, "domain", "create") != starts:
            wrong.append(f"dom0_t creates {ta}: engine {starts}")
    for res in proof.export.plan.resources:
        for a, ta in subjects:
            want = decide.together(a, a) and decide.share(a, res.label)
            if rules.allowed(ta, res.flask_type, "resource", "use_iommu") != want:
                wrong.append(f"{ta} uses {res.flask_type}: engine {want}")
    return wrong


# ---------------------------------------------------------------- the policies


@pytest.fixture(scope="module")
def example_proof(tmp_path_factory: pytest.TempPathFactory) -> Proof:
    need_flask_tools()
    policy, source = load_for_export(EXAMPLE)
    return prove(policy, tmp_path_factory.mktemp("example"), export_flask(policy, source))


def test_example_builds_without_warning_and_every_pair_agrees(example_proof: Proof) -> None:
    assert "warning" not in example_proof.built.output.lower()
    assert disagreements(example_proof) == []
    # the example's Chinese Wall: HomeBanking and Fun never run together
    rules = example_proof.rules
    assert not grant(rules, "acm_vm_dom_HomeBanking_t", "acm_vm_dom_Fun_t")
    assert grant(rules, "acm_vm_dom_HomeBanking_t", "acm_vm_dom_StorageDomain_t")


def _xen_policies() -> list[Path]:
    found = sorted(XEN_POLICIES.rglob("*security_policy.xml")) if XEN_POLICIES.is_dir() else []
    return found + (sorted(XEN34.glob("*/input.xml")) if XEN34.is_dir() else [])


@pytest.mark.parametrize(
    "path",
    [*_xen_policies(), *_data_policies()],
    ids=lambda p: str(p.relative_to(p.parents[1])),
)
def test_every_pair_agrees(path: Path, tmp_path: Path) -> None:
    assert disagreements(prove(load_xml(path), tmp_path)) == []


def test_every_pair_agrees_on_a_generated_200_label_policy(tmp_path: Path) -> None:
    if not GEN_POLICY.exists():
        pytest.skip("../shared/tools/gen_policy.py is not beside this checkout")
    xml = subprocess.run(
        [sys.executable, str(GEN_POLICY), "40", "20", "200", "20", "10", "3"],
        capture_output=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    path = tmp_path / "big40-security_policy.xml"
    path.write_bytes(xml)
    proof = prove(load_xml(path), tmp_path)
    assert len(proof.policy.vm_labels) == 200
    assert disagreements(proof) == []


@pytest.mark.parametrize(
    "workload", sorted(p.name for p in GOLDEN.glob("*.*") if p.suffix != ".xml")
)
def test_every_pair_agrees_on_ezpolicy_generated_policies(workload: str, tmp_path: Path) -> None:
    from acm.authoring.generate import generate_policy
    from acm.authoring.workload import read_workload

    generated = generate_policy(
        read_workload(str(GOLDEN / workload)), "gen.test", "today", workload
    )
    path = tmp_path / "gen-security_policy.xml"
    path.write_bytes(generated.xml)
    assert disagreements(prove(load_xml(path), tmp_path)) == []


@settings(
    max_examples=examples(6),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=valid_policies())
def test_every_pair_agrees_on_random_policies(spec: object, tmp_path: Path) -> None:
    """Random policies: several Chinese Wall types of one set in a label,
    names that mangle alike, labels that can never start."""
    from tests.policygen import PolicySpec

    assert isinstance(spec, PolicySpec)
    need_flask_tools()
    work = Path(tmp_path) / f"p{abs(hash(spec.to_xml()))}"
    work.mkdir(exist_ok=True)
    path = work / "random-security_policy.xml"
    path.write_bytes(spec.to_xml())
    assert disagreements(prove(load_xml(path), work)) == []


# ---------------------------------------------------------------- neverallow


def test_a_hand_added_domain_comms_between_conflicting_labels_fails_the_build(
    example_proof: Proof, tmp_path: Path
) -> None:
    edited = example_proof.export.module + (
        "domain_comms(acm_vm_dom_HomeBanking_t, acm_vm_dom_Fun_t)\n"
    )
    module = tmp_path / f"{example_proof.export.module_name}.te"
    module.write_text(edited)
    built = build(module, tmp_path)
    assert not built.ok
    assert "neverallow" in built.output


def test_a_hand_added_domain_comms_between_compatible_labels_builds(
    example_proof: Proof, tmp_path: Path
) -> None:
    edited = example_proof.export.module + (
        "domain_comms(acm_vm_dom_HomeBanking_t, acm_vm_dom_BoincClient_t)\n"
    )
    module = tmp_path / f"{example_proof.export.module_name}.te"
    module.write_text(edited)
    assert build(module, tmp_path).ok
