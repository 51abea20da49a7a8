"""Policy unit tests (`xm acm test FILE.toml...`).

A test file names a policy and a list of steps; each step is one test
case: an `xm` operation and the outcome it must have. Every file runs on a
host of its own: a scratch host root in a temporary folder, where the
policy is compiled (`xm makepolicy`) and loaded (`xm loadpolicy`), and the
steps run through the same functions as `xm create`, `xm block-attach` and
the others. The user's host is only read (to find a policy by its dotted
name); nothing is written there.

    policy = "example.chwall_ste.client_v1"   # dotted name, or a path to an XML file

    [resources]                               # optional: labels at the start
    "phy:hda1" = "res_LogicalDiskPartition1(hda1)"

    [[step]]
    create = "bank"
    label = "dom_HomeBanking"
    expect = "permitted"

The file format is checked completely before anything runs; every problem
(TOML syntax, an unknown key, a wrong type, a missing policy) is reported
with its file and step, as a usage error.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from acm.errors import PolicyError, xml_text
from acm.inputfile import MAX_TEXT_BYTES, InputFileError, read_input
from xm_core.errors import UsageError, XmError
from xm_core.files.config import BLOCK_MODES
from xm_core.files.paths import HostPaths

PERMITTED = "permitted"
DENIED = "denied"
EXPECTATIONS = (PERMITTED, DENIED)
MAIN_POLICY = "acmtest.policy"  # where a file's policy is put in its scratch root

# step kind -> the keys it takes besides the kind and COMMON_KEYS
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "create": ("label", "policy", "disk", "vif", "memory"),
    "destroy": (),
    "attach": ("resource", "resource_label", "resource_policy", "frontend", "mode", "backend"),
    "network": ("bridge", "resource_label", "resource_policy", "backend", "mac"),
    "detach": ("device",),
    "share": (),
    "loadpolicy": (),
}
COMMON_KEYS = ("expect", "reason", "reason_regex", "name")
# Steps of one test file: each runs a command's checks on a scratch host, so
# a file within the size limit could otherwise run for many minutes.
MAX_STEPS = 1000
TOP_KEYS = ("policy", "resources", "step", "name")
REQUIRED = {"attach": ("resource",), "detach": ("device",)}
BLOCK_FRONTENDS = tuple(f"xvd{c}" for c in "abcdefghijklmnop")


# ------------------------------------------------------------------ the file


@dataclass(frozen=True)
class PolicyRef:
    """A policy a test names: an XML file, or a dotted name of the host's
    policy root (its XML, or its `.bin` and `.map` when only they exist)."""

    text: str
    xml: Path | None = None
    bin: Path | None = None
    map: Path | None = None


@dataclass(frozen=True)
class Step:
    index: int  # 1-based
    kind: str
    target: Any  # the value of the kind key: a domain name, a pair, a policy
    args: dict[str, Any]
    expect: str
    reason: str | None = None
    reason_regex: re.Pattern[str] | None = None
    name: str | None = None
    policy: PolicyRef | None = None  # loadpolicy

    @property
    def title(self) -> str:
        if self.name:
            return f"step {self.index}: {self.name}"
        what = f"{self.kind} {self.target}"
        if self.kind == "share":
            what = f"share {self.target[0]} {self.target[1]}"
        elif self.kind == "create":
            what += f" ({self.args.get('label', 'unlabeled')})"
        elif self.kind == "attach":
            what += f" {self.args['resource']}"
        elif self.kind == "network":
            what += f" bridge={self.args.get('bridge', 'xenbr0')}"
        elif self.kind == "detach":
            what += f" {self.args['device']}"
        return f"step {self.index}: {what}"


@dataclass(frozen=True)
class TestFile:
    path: Path
    display: str
    name: str
    policy: PolicyRef
    resources: dict[str, tuple[str | None, str]]  # canonical -> (policy or None: the test's, label)
    steps: tuple[Step, ...]


class _Problems:
    def __init__(self, display: str) -> None:
        self.display = display
        self.found: list[str] = []

    def add(self, message: str, step: int | None = None) -> None:
        where = f"{self.display}: step {step}: " if step else f"{self.display}: "
        self.found.append(where + message)


def load_test_files(paths: HostPaths, files: Sequence[str]) -> list[TestFile]:
    """Every file read and checked; UsageError listing every problem."""
    problems: list[str] = []
    loaded = []
    for file in files:
        found = _Problems(file)
        test = _load(paths, Path(file), found)
        problems += found.found
        if test is not None:
            loaded.append(test)
    if problems:
        raise UsageError(problems[0], problems[1:])
    return loaded


def _load(paths: HostPaths, path: Path, problems: _Problems) -> TestFile | None:
    try:
        raw = read_input(path, MAX_TEXT_BYTES)
    except InputFileError as exc:
        problems.add(f"cannot read the test file ({exc.reason})")
        return None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        problems.add("not UTF-8 text")
        return None
    except tomllib.TOMLDecodeError as exc:
        problems.add(f"invalid TOML: {exc}")
        return None
    except RecursionError:  # tomllib recurses once per level of nesting
        problems.add("invalid TOML: nested too deeply")
        return None
    for key in doc:
        if key not in TOP_KEYS:
            problems.add(f"unknown key '{key}' (expected {', '.join(TOP_KEYS)})")
    policy = None
    if "policy" not in doc:
        problems.add("'policy' is missing")
    elif not isinstance(doc["policy"], str):
        problems.add("'policy' must be a string")
    else:
        policy = _policy_ref(paths, path, doc["policy"], problems, None)
    name = doc.get("name", path.stem)
    if not isinstance(name, str):
        problems.add("'name' must be a string")
    resources = _resources(doc.get("resources", {}), problems)
    raw_steps = doc.get("step")
    steps: list[Step] = []
    if raw_steps is None:
        problems.add("no [[step]] tables")
    elif not isinstance(raw_steps, list) or not all(isinstance(s, dict) for s in raw_steps):
        problems.add("'step' must be an array of tables ([[step]])")
    elif len(raw_steps) > MAX_STEPS:
        problems.add(
            f"{len(raw_steps)} steps, more than the limit of {MAX_STEPS}; "
            "split the test into several files"
        )
    else:
        for i, raw_step in enumerate(raw_steps, 1):
            step = _step(paths, path, i, raw_step, problems)
            if step is not None:
                steps.append(step)
    if problems.found or policy is None:
        return None
    return TestFile(path, problems.display, str(name), policy, resources, tuple(steps))


def _policy_ref(
    paths: HostPaths, test: Path, text: str, problems: _Problems, step: int | None
) -> PolicyRef | None:
    if text.endswith(".xml") or "/" in text:
        xml = Path(text) if Path(text).is_absolute() else test.parent / text
        if not xml.is_file():
            problems.add(f"policy file '{xml}' not found", step)
            return None
        return PolicyRef(text, xml=xml)
    try:
        files = paths.policy_files(text)
    except PolicyError as exc:
        problems.add(exc.diagnostics.errors[0].message, step)
        return None
    if Path(files.xml).is_file():
        return PolicyRef(text, xml=Path(files.xml))
    if Path(files.bin).is_file() and Path(files.map).is_file():
        return PolicyRef(text, bin=Path(files.bin), map=Path(files.map))
    problems.add(f"policy '{text}' not found under {paths.policies}", step)
    return None


def resource_key(resource: str) -> str:
    """The resource label file's key: a disk's canonical name; a bridge as
    written (`bridge:<name>`, as the vif's resource is named)."""
    from xm_core.files.resources import canonical_resource

    if resource.startswith("bridge:") and resource != "bridge:":
        return resource
    return canonical_resource(resource)


def _resources(value: Any, problems: _Problems) -> dict[str, tuple[str | None, str]]:
    if not isinstance(value, dict):
        problems.add("'resources' must be a table of resource = label")
        return {}
    found: dict[str, tuple[str | None, str]] = {}
    for resource, label in value.items():
        try:
            canonical = resource_key(resource)
        except XmError as exc:
            problems.add(f"resources: {exc.message}")
            continue
        if isinstance(label, str):
            found[canonical] = (None, label)
        elif isinstance(label, list) and len(label) == 2 and all(isinstance(x, str) for x in label):
            found[canonical] = (label[0], label[1])
        else:
            problems.add(f"resources: '{resource}' must be a label or [policy, label]")
    return found


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _config_word(value: Any) -> bool:
    """Fits into `access_control = ['policy=P,label=L']` of a config."""
    return isinstance(value, str) and bool(value) and not (set(value) & set("'\",=\n\r\\"))


_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "create": (lambda v: isinstance(v, str) and bool(v), "a domain name"),
    "destroy": (lambda v: isinstance(v, str) and bool(v), "a domain name"),
    "attach": (lambda v: isinstance(v, str) and bool(v), "a domain name"),
    "network": (lambda v: isinstance(v, str) and bool(v), "a domain name"),
    "detach": (lambda v: isinstance(v, str) and bool(v), "a domain name"),
    "share": (lambda v: _is_str_list(v) and len(v) == 2, "a list of two domain names"),
    "loadpolicy": (lambda v: isinstance(v, str) and bool(v), "a policy name or XML file"),
    "label": (_config_word, "a label without quotes, commas, '=' or line breaks"),
    "policy": (_config_word, "a policy name without quotes, commas, '=' or line breaks"),
    "disk": (_is_str_list, "a list of strings"),
    "vif": (_is_str_list, "a list of strings"),
    "memory": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a number"),
    "resource": (lambda v: isinstance(v, str), "a string"),
    "resource_label": (lambda v: isinstance(v, str), "a string"),
    "resource_policy": (lambda v: isinstance(v, str), "a string"),
    "frontend": (lambda v: isinstance(v, str), "a string"),
    "mode": (lambda v: v in BLOCK_MODES, ", ".join(BLOCK_MODES)),
    "backend": (
        lambda v: isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)),
        "a domain name or id",
    ),
    "bridge": (lambda v: isinstance(v, str), "a string"),
    "mac": (lambda v: isinstance(v, str), "a string"),
    "device": (lambda v: isinstance(v, str), "a string"),
    "expect": (lambda v: v in EXPECTATIONS, "'permitted' or 'denied'"),
    "reason": (lambda v: isinstance(v, str), "a string"),
    "reason_regex": (lambda v: isinstance(v, str), "a string"),
    "name": (lambda v: isinstance(v, str), "a string"),
}


def _step(
    paths: HostPaths, test: Path, index: int, raw: dict[str, Any], problems: _Problems
) -> Step | None:
    kinds = [k for k in STEP_KEYS if k in raw]
    if len(kinds) != 1:
        if kinds:
            problems.add(f"one operation per step, found {', '.join(kinds)}", index)
        else:
            unknown = [k for k in raw if k not in _TYPES]
            what = f" (unknown key '{unknown[0]}')" if unknown else ""
            problems.add(f"no operation: expected one of {', '.join(STEP_KEYS)}{what}", index)
        return None
    kind = kinds[0]
    allowed = (kind, *STEP_KEYS[kind], *COMMON_KEYS)
    ok = True
    for key, value in raw.items():
        if key not in allowed:
            problems.add(
                f"unknown key '{key}' for a {kind} step (expected {', '.join(allowed)})", index
            )
            ok = False
            continue
        check, what = _TYPES[key]
        if not check(value):
            problems.add(f"'{key}' must be {what}, not {value!r}", index)
            ok = False
    for key in ("expect", *REQUIRED.get(kind, ())):
        if key not in raw:
            problems.add(f"'{key}' is missing", index)
            ok = False
    pattern = None
    if isinstance(raw.get("reason_regex"), str):
        try:
            pattern = re.compile(raw["reason_regex"])
        except re.error as exc:
            problems.add(f"'reason_regex' is not a regular expression: {exc}", index)
            ok = False
    if kind == "attach" and isinstance(raw.get("resource"), str):
        from xm_core.files.resources import canonical_resource

        try:
            canonical_resource(raw["resource"])  # a disk
        except XmError as exc:
            problems.add(exc.message, index)
            ok = False
    policy = None
    if kind == "loadpolicy" and isinstance(raw["loadpolicy"], str):
        policy = _policy_ref(paths, test, raw["loadpolicy"], problems, index)
        ok = ok and policy is not None
    if not ok:
        return None
    args = {k: v for k, v in raw.items() if k in STEP_KEYS[kind]}
    return Step(
        index,
        kind,
        raw[kind],
        args,
        raw["expect"],
        raw.get("reason"),
        pattern,
        raw.get("name"),
        policy,
    )


# ------------------------------------------------------------------ results


@dataclass
class CaseResult:
    title: str
    expect: str
    outcome: str | None  # permitted / denied; None: not run
    message: str  # what the operation said (the denial with its details)
    failure: str  # "" when passed
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        return self.outcome is None and not self.failure

    @property
    def passed(self) -> bool:
        return self.outcome is not None and not self.failure

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.title,
            "expect": self.expect,
            "outcome": self.outcome,
            "passed": self.passed,
            "skipped": self.skipped,
            "message": self.message,
            "failure": self.failure or None,
            "seconds": round(self.seconds, 6),
        }


@dataclass
class FileResult:
    test: TestFile
    policy: str = ""  # the reference name loaded
    cases: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cases)

    @property
    def failed(self) -> int:
        return sum(not c.passed and not c.skipped for c in self.cases)

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.cases)


@dataclass
class TestRun:
    files: list[FileResult]

    @property
    def passed(self) -> int:
        return sum(f.passed for f in self.files)

    @property
    def failed(self) -> int:
        return sum(f.failed for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def format(self) -> list[str]:
        lines = []
        for f in self.files:
            lines.append(f"{f.test.display} (policy {f.policy or f.test.policy.text})")
            for c in f.cases:
                if c.skipped:
                    lines.append(f"  SKIP  {c.title}: not run")
                    continue
                lines.append(f"  {'PASS' if c.passed else 'FAIL'}  {c.title}: {c.outcome or ''}")
                if c.failure:
                    lines += [f"        {line}" for line in c.failure.splitlines()]
        if self.skipped:
            lines.append(f"{self.skipped} skipped")
        lines.append(f"{self.passed} passed, {self.failed} failed")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "files": [
                {
                    "file": f.test.display,
                    "name": f.test.name,
                    "policy": f.policy or None,
                    "passed": f.passed,
                    "failed": f.failed,
                    "skipped": f.skipped,
                    "seconds": round(f.seconds, 6),
                    "cases": [c.as_dict() for c in f.cases],
                }
                for f in self.files
            ],
        }

    def junit_xml(self) -> bytes:
        """JUnit XML as CI systems read it: `<testsuites>`, one `<testsuite>`
        per file, one `<testcase>` per step (or the setup), with `<failure>`
        or `<skipped>`."""
        suites = ElementTree.Element(
            "testsuites",
            name="xm acm test",
            tests=str(sum(len(f.cases) for f in self.files)),
            failures=str(self.failed),
            errors="0",
            skipped=str(self.skipped),
            time=f"{sum(f.seconds for f in self.files):.6f}",
        )
        for f in self.files:
            suite = ElementTree.SubElement(
                suites,
                "testsuite",
                name=f.test.name,
                file=f.test.display,
                tests=str(len(f.cases)),
                failures=str(f.failed),
                errors="0",
                skipped=str(f.skipped),
                time=f"{f.seconds:.6f}",
            )
            props = ElementTree.SubElement(suite, "properties")
            ElementTree.SubElement(
                props, "property", name="policy", value=f.policy or f.test.policy.text
            )
            for c in f.cases:
                case = ElementTree.SubElement(
                    suite,
                    "testcase",
                    classname=f.test.name,
                    name=c.title,
                    file=f.test.display,
                    time=f"{c.seconds:.6f}",
                )
                if c.skipped:
                    ElementTree.SubElement(case, "skipped", message="not run: the setup failed")
                elif c.failure:
                    failure = ElementTree.SubElement(
                        case, "failure", message=c.failure.splitlines()[0], type="PolicyTest"
                    )
                    failure.text = c.failure
                if c.message:
                    ElementTree.SubElement(case, "system-out").text = c.message
        for el in suites.iter():  # names and messages come from the user's files
            if el.text:
                el.text = xml_text(el.text)
            for key, value in el.attrib.items():
                el.set(key, xml_text(value))
        ElementTree.indent(suites)
        body: bytes = ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)
        return body + b"\n"


# ------------------------------------------------------------------ running


def run_tests(paths: HostPaths, files: Sequence[str]) -> TestRun:
    """Check every file, then run each on a scratch host of its own."""
    return TestRun([run_test_file(paths, test) for test in load_test_files(paths, files)])


def run_test_file(paths: HostPaths, test: TestFile) -> FileResult:
    started = time.perf_counter()
    result = FileResult(test)
    with tempfile.TemporaryDirectory(prefix="xm-acm-test-") as tmp:
        scratch = HostPaths(Path(tmp) / "root")
        runner = _Runner(scratch)
        setup_start = time.perf_counter()
        try:
            result.policy = runner.install(test.policy, MAIN_POLICY)
            runner.label_resources(test.resources)
        except (XmError, PolicyError) as exc:
            failure = "the policy did not load: " + _message(exc)
            result.cases.append(
                CaseResult(
                    "setup: compile and load the policy",
                    PERMITTED,
                    DENIED,
                    "",
                    failure,
                    time.perf_counter() - setup_start,
                )
            )
            result.cases += [CaseResult(s.title, s.expect, None, "", "") for s in test.steps]
        else:
            for step in test.steps:
                result.cases.append(runner.run(step))
    result.seconds = time.perf_counter() - started
    return result


def _message(exc: Exception) -> str:
    if isinstance(exc, XmError):
        return "\n".join([exc.message, *exc.details])
    if isinstance(exc, PolicyError):
        return "\n".join(d.format() for d in exc.diagnostics)
    return str(exc)


class _Runner:
    """One scratch host and the steps run on it."""

    def __init__(self, paths: HostPaths) -> None:
        self.paths = paths
        paths.root.mkdir(parents=True)
        paths.etc_xen.mkdir(parents=True)

    # ---------------------------------------------------------- setup

    def install(self, ref: PolicyRef, name: str) -> str:
        """Put the policy under `name` in the scratch policy root, compile it
        when it is XML, load it; its reference name."""
        from xm_core.host.model import load_policy
        from xm_core.host.policy import make_policy

        files = self.paths.policy_files(name)
        Path(files.xml).parent.mkdir(parents=True, exist_ok=True)
        if ref.xml is not None:
            shutil.copyfile(ref.xml, files.xml)
            try:
                make_policy(self.paths, name)
            except PolicyError as exc:  # name the user's file, not the scratch copy
                text = _message(exc).replace(files.xml, str(ref.xml))
                raise XmError(text) from None
        else:
            assert ref.bin is not None and ref.map is not None
            shutil.copyfile(ref.bin, files.bin)
            shutil.copyfile(ref.map, files.map)
        return load_policy(self.paths, name).name

    def active(self) -> str:
        from xm_core.host.model import Host

        with Host(self.paths) as host:
            return host.store.active_policy_name()

    def label_resources(self, labels: dict[str, tuple[str | None, str]]) -> None:
        if not labels:
            return
        from xm_core.files.resources import locked_resource_labels

        active = self.active()
        with locked_resource_labels(self.paths.resource_labels) as current:
            for resource, (policy, label) in labels.items():
                current[resource] = (policy or active, label)

    # ---------------------------------------------------------- steps

    def run(self, step: Step) -> CaseResult:
        started = time.perf_counter()
        try:
            message = getattr(self, f"_{step.kind}")(step)
            outcome = PERMITTED
        except (XmError, PolicyError) as exc:
            # an ACM denial, or a refusal before any hook (no such domain,
            # a name in use, a policy that does not compile): all "denied"
            outcome, message = DENIED, _message(exc)
        seconds = time.perf_counter() - started
        return CaseResult(
            step.title, step.expect, outcome, message, _judge(step, outcome, message), seconds
        )

    def _create(self, step: Step) -> str:
        from xm_core.files.config import access_control_line
        from xm_core.host.domains import create_domain

        args = step.args
        lines = [f"name = {step.target!r}"]
        if "memory" in args:
            lines.append(f"memory = {args['memory']!r}")
        if "label" in args:
            lines.append(access_control_line(args.get("policy") or self.active(), args["label"]))
        for key in ("disk", "vif"):
            if key in args:
                lines.append(f"{key} = {args[key]!r}")
        config = self.paths.etc_xen / f"step{step.index}.cfg"
        config.write_text("\n".join(lines) + "\n")
        outcome = create_domain(self.paths, str(config))
        assert outcome.domain is not None
        return f"Started domain {outcome.domain.name} (id {outcome.domain.domid})"

    def _destroy(self, step: Step) -> str:
        from xm_core.host.domains import destroy_domain

        dom = destroy_domain(self.paths, step.target)
        return f"Domain {dom.name} (id {dom.domid}) destroyed"

    def _label(self, step: Step, resource: str) -> None:
        if "resource_label" in step.args:
            policy = step.args.get("resource_policy")
            self.label_resources({resource_key(resource): (policy, step.args["resource_label"])})

    def _attach(self, step: Step) -> str:
        from xm_core.host.devices import block_attach, list_devices

        args = step.args
        self._label(step, args["resource"])
        frontend = args.get("frontend")
        if frontend is None:
            used = {d.frontend for d in list_devices(self.paths, step.target, "vbd").devices}
            frontend = next((f for f in BLOCK_FRONTENDS if f not in used), BLOCK_FRONTENDS[-1])
        backend = args.get("backend")
        result = block_attach(
            self.paths,
            step.target,
            args["resource"],
            frontend,
            args.get("mode", "w"),
            str(backend) if backend is not None else None,
        )
        return f"vbd {result.device.frontend} ({result.device.written}) attached to {result.domain}"

    def _network(self, step: Step) -> str:
        from xm_core.host.devices import network_attach

        args = step.args
        settings = [f"{k}={args[k]}" for k in ("bridge", "backend", "mac") if k in args]
        self._label(step, f"bridge:{args.get('bridge', 'xenbr0')}")
        result = network_attach(self.paths, step.target, settings)
        return f"vif {result.device.frontend} attached to {result.domain}"

    def _detach(self, step: Step) -> str:
        from xm_core.host.devices import detach

        device = step.args["device"]
        kind = "vif" if device.startswith("eth") else "vbd"
        found = detach(self.paths, step.target, kind, device)
        return f"{kind} {found.frontend} detached from {step.target}"

    def _share(self, step: Step) -> str:
        """Inter-domain sharing (an event channel or grant mapping between the
        two), decided by the engine without a cache."""
        from xm_core.host.model import Host

        a_ref, b_ref = step.target
        with Host(self.paths) as host, host.store.read():
            a, b = host.store.domain(a_ref), host.store.domain(b_ref)
            policy = host.policy()
            if policy is None:
                return f"no policy is enforced: '{a.name}' and '{b.name}' may share"
            decision = policy.engine.check_share(a.ssidref, b.ssidref)
            names = policy.engine.names
            common = ", ".join(names.ste_type(t) for t in decision.common_types)
            if not decision.enforced:
                return f"the policy has no STE part: '{a.name}' and '{b.name}' may share"
            if decision.permitted:
                return f"'{a.name}' and '{b.name}' share STE types {common}"
            raise _ShareDenied(
                f"Permission denied: domains '{a.name}' (id {a.domid}) and '{b.name}' "
                f"(id {b.domid}) share no STE type"
            )

    def _loadpolicy(self, step: Step) -> str:
        assert step.policy is not None
        name = self.install(step.policy, f"acmtest.step{step.index}")
        return f"policy {name} loaded"


class _ShareDenied(XmError):
    pass


def _judge(step: Step, outcome: str, message: str) -> str:
    """'' when the step had the expected outcome (and reason), else why not."""
    problems = []
    if outcome != step.expect:
        problems.append(f"expected {step.expect}, got {outcome}")
    if step.reason is not None and step.reason not in message:
        problems.append(f"the message does not contain {step.reason!r}")
    if step.reason_regex is not None and not step.reason_regex.search(message):
        problems.append(f"the message does not match /{step.reason_regex.pattern}/")
    if not problems:
        return ""
    said = message or "(no message)"
    return "; ".join(problems) + "\n" + said
