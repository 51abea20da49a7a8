"""What every lint check gets: the policy in lint's form, the compiler's
result and the settings that change what a check looks at."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from acm.errors import DeferredDiagnostic, Diagnostic, Location
from acm.lint.model import LintPolicy
from acm.lint.rules import RULES
from acm.sourcecompiler import CompileResult


@dataclass(frozen=True)
class PolicyPlace:
    """The PolicyName a file's place asks for (see `acm.lint.checks.policy_name`)."""

    expected: str  # a full dotted name, or only its last part when `root` is None
    root: str | None  # the policy root the name was worked out from


@dataclass
class LintContext:
    policy: LintPolicy
    compiled: CompileResult
    trusted: frozenset[str] = frozenset()
    place: PolicyPlace | None = None

    def finding(self, code: str, message: str, location: Location) -> Diagnostic:
        """A finding with the rule's default severity (the configuration may change it)."""
        return Diagnostic(code, message, location, RULES[code].severity)

    def deferred_finding(
        self, code: str, write: Callable[[], str], location: Location
    ) -> Diagnostic:
        """A finding whose message `write` writes when it is read (see
        `acm.errors.DeferredDiagnostic`)."""
        return DeferredDiagnostic(code, write, location, RULES[code].severity)  # type: ignore[arg-type]

    @property
    def bootstrap_name(self) -> str | None:
        boot = self.policy.bootstrap
        return boot.text if boot is not None else None

    def is_bootstrap(self, i: int) -> bool:
        """Whether label `i` is the bootstrap label (a VM label of its name)."""
        return i < self.policy.labels.vm_count and self.policy.labels.names[i] == (
            self.bootstrap_name
        )
