"""What every lint check gets: the source, the compiler's result and the
settings that change what a check looks at."""

from __future__ import annotations

from dataclasses import dataclass

from acm.compiler import CompileResult
from acm.errors import Diagnostic, Location
from acm.lint.rules import RULES
from acm.source import LabelKind, LabelSource, PolicySource


@dataclass(frozen=True)
class PolicyPlace:
    """The PolicyName a file's place asks for (see `acm.lint.checks.policy_name`)."""

    expected: str  # a full dotted name, or only its last part when `root` is None
    root: str | None  # the policy root the name was worked out from


@dataclass
class LintContext:
    src: PolicySource
    compiled: CompileResult
    trusted: frozenset[str] = frozenset()
    place: PolicyPlace | None = None

    def finding(self, code: str, message: str, location: Location) -> Diagnostic:
        """A finding with the rule's default severity (the configuration may change it)."""
        return Diagnostic(code, message, location, RULES[code].severity)

    @property
    def bootstrap_name(self) -> str | None:
        return self.src.bootstrap.text if self.src.bootstrap is not None else None

    def is_bootstrap(self, label: LabelSource) -> bool:
        return label.kind is LabelKind.VM and label.name.text == self.bootstrap_name


def label_word(label: LabelSource) -> str:
    return "VM label" if label.kind is LabelKind.VM else "resource label"
