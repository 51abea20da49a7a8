"""The main job on an embedded default, for the README: a fresh host root
seeded with the example policy, compiled, and what came out shown; then the
policy loaded into the host model, labeled domains started, a Chinese Wall
denial with its explanation, and `xm list --label` (`xm demo`)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from acm.model import CompiledPolicy
from xm_core.cli.common import handle_errors, root_option
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths
from xm_core.render.demo import DemoReport, DemoStep


def _compiled(paths: HostPaths, name: str) -> CompiledPolicy:
    from acm.analysis.loader import read_compiled

    files = paths.policy_files(name)
    return read_compiled(files.bin, files.map)


def run_demo(root: Path) -> DemoReport:
    from acm.ssidref import label_to_ssidref
    from xm_core.host.policy import make_policy

    paths = HostPaths(root)
    paths.seed_installed()
    steps: list[DemoStep] = []

    make_policy(paths, EXAMPLE_POLICY)
    files = paths.policy_files(EXAMPLE_POLICY)
    step = DemoStep(f"xm makepolicy {EXAMPLE_POLICY}")
    for path in (files.map, files.bin):
        step.output.append(f"wrote {os.path.relpath(path, root)} ({os.path.getsize(path)} bytes)")
    steps.append(step)

    policy = _compiled(paths, EXAMPLE_POLICY)
    step = DemoStep("labels and their ssidrefs (from the .map)")
    pmap = policy.map
    step.output.append(
        f"policy {pmap.reference_name}: primary {pmap.primary.name}, "
        f"secondary {pmap.secondary.name}"
    )
    names = sorted({e.name for p in (pmap.chwall, pmap.ste) if p for e in p.labels[1:]})
    for name in names:
        kinds = [
            e.kind.value for p in (pmap.chwall, pmap.ste) if p for e in p.labels if e.name == name
        ]
        kind = "dom" if "VM" in kinds else "res"
        step.output.append(
            f"  {kind} {name:<34} ssidref 0x{label_to_ssidref(pmap, name, kind):08x}"
        )
    steps.append(step)
    steps.extend(_host_steps(paths))
    return DemoReport(root, steps)


DEMO_CONFIGS = {
    "bank": ("dom_HomeBanking", 256),
    "boinc": ("dom_BoincClient", 128),
    "fun": ("dom_Fun", 128),
}


def _captured(command: str, action: Callable[[], object], fails: bool = False) -> DemoStep:
    """Run one step as `xm` would, keeping what it prints (and its error);
    an error, or an action that returns False, is a failure. The step has
    failed when it did not end as expected (`fails`: the demo expects a
    denial there)."""
    from acm.errors import PolicyError
    from xm_core import render
    from xm_core.errors import XmError

    buf = io.StringIO()
    error = False
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            error = action() is False
        except (XmError, PolicyError, OSError) as exc:
            error = True
            render.failure(exc, acm_command=not isinstance(exc, XmError) or exc.acm)
    return DemoStep(command, buf.getvalue().splitlines(), failed=error != fails)


def _host_steps(paths: HostPaths) -> list[DemoStep]:
    """Load the policy, start labeled domains, meet the Chinese Wall."""
    from xm_core.files.config import access_control_line
    from xm_core.host.domains import create_domain, list_domains
    from xm_core.host.model import dmesg, load_policy
    from xm_core.render import domains as render

    paths.etc_xen.mkdir(parents=True, exist_ok=True)
    for name, (label, memory) in DEMO_CONFIGS.items():
        (paths.etc_xen / name).write_text(
            f'name = "{name}"\nmemory = {memory}\n'
            + access_control_line(EXAMPLE_POLICY, label)
            + "\n"
        )
    steps = [
        _captured(
            f"xm loadpolicy {EXAMPLE_POLICY}",
            lambda: render.loaded(load_policy(paths, EXAMPLE_POLICY), False),
        )
    ]
    for name in ("bank", "boinc", "fun"):
        steps.append(
            _captured(
                f"xm create {name}    # label {DEMO_CONFIGS[name][0]}",
                lambda name=name: render.created(create_domain(paths, name), False),  # type: ignore[misc]
                fails=name == "fun",  # the Chinese Wall keeps dom_Fun from dom_HomeBanking
            )
        )
    steps.append(_captured("xm dry-run fun", lambda: _dry_run_shown(paths, "fun"), fails=True))
    steps.append(_captured("xm dmesg", lambda: render.messages(dmesg(paths), False, False)))
    steps.append(
        _captured(
            "xm list --label",
            lambda: render.domain_list(list_domains(paths, with_labels=True), "label", False),
        )
    )
    return steps


def _dry_run_shown(paths: HostPaths, config: str) -> bool:
    """`xm dry-run`: the report; False when it says FAILED."""
    from xm_core.host.domains import dry_run
    from xm_core.render import domains as render

    report = dry_run(paths, config)
    render.dry_run(report, False)
    return report.passed


@click.command()
@click.option("--keep", is_flag=True, help="Keep the temporary host root afterwards.")
@click.pass_context
@handle_errors
def demo(ctx: click.Context, keep: bool) -> None:
    """Compile the embedded example policy in a fresh host root and show the result.

    Uses --root when given (it must be empty or new, and is kept), else a
    temporary folder, removed afterwards unless --keep. Exits 1 when a step
    did not end as expected.
    """
    import shutil

    from xm_core.errors import UsageError
    from xm_core.files.paths import is_new_root
    from xm_core.render.demo import demo as render_demo

    given = root_option(ctx)
    if given is not None and not is_new_root(Path(given)):
        what = "is not empty" if Path(given).is_dir() else "is not a folder"
        raise UsageError(f"xm demo needs a new or empty host root: '{given}' {what}")
    root = Path(given) if given is not None else Path(tempfile.mkdtemp(prefix="xm-demo-"))
    kept = given is not None or keep
    try:
        report = run_demo(root)
    finally:
        if not kept:
            shutil.rmtree(root, ignore_errors=True)
    render_demo(report, kept)
    if report.failed:
        sys.exit(1)
