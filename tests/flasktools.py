"""Building an exported FLASK module with Xen 4.13's policy sources (from
../shared), the way Xen's `tools/flask/policy/Makefile.common` does, and
reading the built policy's allow rules once with setools' `sesearch`."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import SHARED

FLASK_REF = SHARED / "ref" / "xen-4.13-flask"
POLICY_DIR = FLASK_REF / "tools" / "flask" / "policy"
TOOLS = ("m4", "checkpolicy", "sesearch", "seinfo")


def need_flask_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian: checkpolicy, m4, setools)")
    if not POLICY_DIR.is_dir():
        pytest.skip("../shared/ref/xen-4.13-flask is not beside this checkout")


def _enabled_modules(policy_dir: Path) -> list[str]:
    names = []
    for line in (policy_dir / "modules" / "modules.conf").read_text().splitlines():
        words = line.split()
        if line[:1].islower() and len(words) >= 3 and words[2] == "on":
            names.append(words[0])
    return names


def policy_sections(module: Path, ref: Path = FLASK_REF) -> list[Path]:
    """The files m4 reads, in Makefile.common's order, with `module` (a
    `.te`) after Xen's own enabled modules; `ref` holds Xen 4.13's sources."""
    policy_dir = ref / "tools" / "flask" / "policy"
    hv_policy_dir = ref / "xen" / "xsm" / "flask" / "policy"
    mods = policy_dir / "modules"
    stock = [mods / f"{m}.te" for m in _enabled_modules(policy_dir)]
    interfaces = [p.with_suffix(".if") for p in stock if p.with_suffix(".if").exists()]
    constraints = [p.with_suffix(".cons") for p in stock if p.with_suffix(".cons").exists()]
    pol = policy_dir / "policy"
    return [
        hv_policy_dir / "security_classes",
        pol / "security_classes",
        hv_policy_dir / "initial_sids",
        hv_policy_dir / "access_vectors",
        pol / "access_vectors",
        *sorted((pol / "support").glob("*.spt")),
        pol / "mls",
        *interfaces,
        pol / "global_tunables",
        *stock,
        module,
        pol / "users",
        *constraints,
        pol / "initial_sids",
        pol / "device_contexts",
    ]


def m4_argv(module: Path, ref: Path = FLASK_REF) -> list[str]:
    """Makefile.common's m4 command line (no MLS) over the sections."""
    options = ["-D", "self_contained_policy", "-s", "-D", "mls_num_sens=16"]
    options += ["-D", "mls_num_cats=256"]
    return ["m4", *options, *map(str, policy_sections(module, ref))]


@dataclass
class Built:
    ok: bool
    output: str  # checkpolicy's (and m4's) messages
    binary: Path


def build(module: Path, workdir: Path) -> Built:
    """m4 then `checkpolicy -t Xen -c 30`, as Xen builds its policy."""
    conf = workdir / "policy.conf"
    with conf.open("wb") as out:
        m4 = subprocess.run(
            m4_argv(module), stdout=out, stderr=subprocess.PIPE, timeout=600, check=False
        )
    if m4.returncode:
        return Built(False, m4.stderr.decode(), workdir / "xenpolicy")
    binary = workdir / "xenpolicy"
    cp = subprocess.run(
        ["checkpolicy", "-t", "Xen", "-c", "30", str(conf), "-o", str(binary)],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    return Built(cp.returncode == 0, m4.stderr.decode() + cp.stdout + cp.stderr, binary)


_RULE = re.compile(r"^allow (\S+) (\S+):(\S+) (?:\{ ([^}]*) \}|(\S+));$")
_TRANSITION = re.compile(r"^type_transition (\S+) (\S+):(\S+) (\S+);$")


@dataclass
class AllowRules:
    """The built policy's allow rules, attributes expanded to types."""

    rules: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    transitions: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def transition(self, source: str, target: str, cls: str) -> str | None:
        """The type a new object of `cls` gets (None: no type_transition rule)."""
        return self.transitions.get((source, target, cls))

    def allowed(self, source: str, target: str, cls: str, perm: str) -> bool:
        return perm in self.rules.get((source, target, cls), set())


def _attribute_members(binary: Path) -> dict[str, set[str]]:
    out = subprocess.run(
        ["seinfo", "-a", "-x", str(binary)], capture_output=True, text=True, timeout=600,
        check=True,
    ).stdout  # fmt: skip
    members: dict[str, set[str]] = defaultdict(set)
    current = None
    for line in out.splitlines():
        word = line.strip()
        if word.startswith("attribute "):
            current = word.removeprefix("attribute ").rstrip(";").strip()
            members[current] = set()  # an attribute may have no member
        elif line.startswith("\t") and current is not None and word:
            members[current].add(word)
    return dict(members)


def read_allow_rules(binary: Path) -> AllowRules:
    """`sesearch -A -T` parsed once (allow and type_transition rules), each
    rule's attributes expanded with `seinfo -a -x`."""
    attrs = _attribute_members(binary)
    out = subprocess.run(
        ["sesearch", "-A", "-T", str(binary)], capture_output=True, text=True, timeout=1800,
        check=True,
    ).stdout  # fmt: skip
    rules: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    transitions: dict[tuple[str, str, str], str] = {}
    for line in out.splitlines():
        if m := _RULE.match(line.strip()):
            src, tgt, cls = m.group(1), m.group(2), m.group(3)
            perms = set((m.group(4) or m.group(5)).split())
            for s in attrs.get(src, {src}):
                for t in attrs.get(tgt, {tgt}) if tgt != "self" else {s}:
                    rules[(s, t, cls)] |= perms
        elif m := _TRANSITION.match(line.strip()):
            src, tgt, cls, new = m.groups()
            for s in attrs.get(src, {src}):
                for t in attrs.get(tgt, {tgt}):
                    transitions[(s, t, cls)] = new
    return AllowRules(dict(rules), transitions)
