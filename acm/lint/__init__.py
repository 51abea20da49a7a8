"""`acm lint`: checks of policy XML beyond what the compiler refuses.

Findings are `acm.errors.Diagnostic` values with stable codes (see
`acm.lint.rules.RULES`); formatting them (text, JSON, SARIF, GitHub) is the
business of `xm_core.render.lint`.
"""

from __future__ import annotations

from acm.lint.config import LintConfig, LintUsageError, find_config, load_config
from acm.lint.engine import (
    LintReport,
    LintTarget,
    find_targets,
    lint_paths,
    lint_source,
    lint_target,
)
from acm.lint.rules import RULES, Rule

__all__ = [
    "RULES",
    "LintConfig",
    "LintReport",
    "LintTarget",
    "LintUsageError",
    "Rule",
    "find_config",
    "find_targets",
    "lint_paths",
    "lint_source",
    "lint_target",
    "load_config",
]
