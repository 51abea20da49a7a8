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


# --- xm_core's folders (docs/architecture.md) --------------------------------

# What each folder of xm_core may import of xm_core. `errors` is the floor of
# all of them; `render` may name the records it prints, from any layer below
# the front ends; a front end never imports another, except that the command
# line starts the others (web, tui) lazily, inside the command that runs them.
LAYER_IMPORTS: dict[str, set[str]] = {
    "errors": set(),
    "files": {"errors", "files"},
    "host": {"errors", "files", "host"},
    "insight": {"errors", "files", "host", "insight"},
    "fleet": {"errors", "files", "host", "insight", "fleet"},
    "render": {"errors", "files", "host", "insight", "fleet", "render"},
    "cli": {"errors", "files", "host", "insight", "fleet", "render", "cli"},
    "web": {"errors", "files", "host", "insight", "render", "web"},
    "tui": {"errors", "files", "host", "insight", "render", "tui"},
}
FRONT_ENDS_STARTED_BY_CLI = {"web", "tui"}
MAX_MODULES_PER_FOLDER = 12


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in (REPO / package).rglob("*.py")}


def _xm_core_modules() -> dict[str, Path]:
    return _package_modules("xm_core")


def _xm_core_imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    return _package_imports(path, modules, "xm_core")


def _package_imports(
    path: Path, modules: dict[str, Path], package_name: str
) -> list[tuple[str, bool]]:
    """(imported module of `package_name`, whether the import is at module
    level) for every import in the file, lazy ones inside functions included."""
    tree = ast.parse(path.read_text(), str(path))
    package = (
        _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    )
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under `if TYPE_CHECKING:` count as module level
        if isinstance(node, ast.If):
            top_level.update(id(child) for child in node.body)
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the submodule when there is one
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for name in names:
            if name.split(".")[0] == package_name:
                found.append((name, id(node) in top_level))
    return found


def _folder(module: str) -> str:
    """The layer of an xm_core module: its folder, or its own name at the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_xm_core_folders_import_only_downwards() -> None:
    modules = _xm_core_modules()
    offenders = []
    for name, path in modules.items():
        layer = _folder(name)
        if layer not in LAYER_IMPORTS:
            continue  # xm_core itself and __main__ start the command line
        for target, at_module_level in _xm_core_imports(path, modules):
            target_layer = _folder(target)
            if target_layer in LAYER_IMPORTS[layer]:
                continue
            if layer == "cli" and target_layer in FRONT_ENDS_STARTED_BY_CLI and not at_module_level:
                continue
            offenders.append(f"{name} -> {target}")
    assert offenders == []


def test_every_xm_core_module_belongs_to_a_known_folder() -> None:
    top = {name for name in _xm_core_modules() if name.count(".") <= 1}
    folders = {f"xm_core.{layer}" for layer in LAYER_IMPORTS}
    assert top - folders == {"xm_core", "xm_core.__main__"}


def _import_circles(package_name: str) -> list[list[str]]:
    """The circles among a package's modules, lazy imports counted (a lazy
    import hides a circle from Python, not from the reader)."""
    import networkx as nx

    modules = _package_modules(package_name)
    graph = nx.DiGraph()
    for name, path in modules.items():
        for target, _ in _package_imports(path, modules, package_name):
            if target != name and target in modules:
                graph.add_edge(name, target)
    return sorted(sorted(cycle) for cycle in nx.simple_cycles(graph))


def test_no_import_circles_between_xm_core_modules() -> None:
    assert _import_circles("xm_core") == []


def test_no_import_circles_between_acm_modules() -> None:
    assert _import_circles("acm") == []


def test_at_most_a_dozen_modules_a_folder() -> None:
    crowded = {}
    for folder in [
        REPO / "acm",
        REPO / "xm_core",
        *(REPO / "acm").rglob("*/"),
        *(REPO / "xm_core").rglob("*/"),
    ]:
        if not (folder / "__init__.py").exists():
            continue
        count = len([p for p in folder.glob("*.py") if p.name != "__init__.py"])
        if count > MAX_MODULES_PER_FOLDER:
            crowded[str(folder.relative_to(REPO))] = count
    assert crowded == {}


def test_each_xm_core_folder_says_what_lives_there() -> None:
    missing = [
        str(init.relative_to(REPO))
        for init in (REPO / "xm_core").rglob("__init__.py")
        if not ast.get_docstring(ast.parse(init.read_text()))
    ]
    assert missing == []
