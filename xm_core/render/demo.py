"""The demo's report (`xm demo`) and how it prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xm_core.render import err, out


@dataclass
class DemoStep:
    command: str
    output: list[str] = field(default_factory=list)
    failed: bool = False  # it did not end as the demo expects


@dataclass
class DemoReport:
    root: Path
    steps: list[DemoStep]

    @property
    def failed(self) -> list[DemoStep]:
        return [s for s in self.steps if s.failed]


def demo(report: DemoReport, kept: bool = True) -> None:
    out(f"host root: {report.root}" + ("" if kept else " (removed afterwards; --keep keeps it)"))
    for step in report.steps:
        out("")
        out(f"$ {step.command}")
        for line in step.output:
            out(line)
    for step in report.failed:
        err(f"Error: demo step '{step.command}' did not end as expected")
