"""The demo's report (`xm demo`) and how it prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xm_core.render import out


@dataclass
class DemoStep:
    command: str
    output: list[str] = field(default_factory=list)


@dataclass
class DemoReport:
    root: Path
    steps: list[DemoStep]


def demo(report: DemoReport) -> None:
    out(f"host root: {report.root}")
    for step in report.steps:
        out("")
        out(f"$ {step.command}")
        for line in step.output:
            out(line)
