"""House rules that are cheap to check mechanically."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

FORBIDDEN_IN_ACM = {"xm_core", "click", "sqlite3"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_acm_is_a_pure_library() -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(_imports(p) & FORBIDDEN_IN_ACM)
        for p in (REPO / "acm").rglob("*.py")
        if _imports(p) & FORBIDDEN_IN_ACM
    }
    assert offenders == {}


def test_acm_never_prints() -> None:
    printing = []
    for p in (REPO / "acm").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                printing.append(f"{p.relative_to(REPO)}:{node.lineno}")
    assert printing == []


def test_no_code_execution_of_user_files() -> None:
    calls = []
    for pkg in ("acm", "xm_core"):
        for p in (REPO / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(p.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {
                    "eval",
                    "exec",
                    "execfile",
                    "compile",
                }:
                    calls.append(f"{p.relative_to(REPO)}:{node.lineno}")
    assert calls == []
