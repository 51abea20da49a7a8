"""Domain configuration files, read without executing them.

Xen's config files are Python assignments (`name = "web"`, `memory = 128`,
`disk = ['phy:hda6,sda2,w']`, `access_control = ['policy=P,label=L']`).
Xen's tools executed them; we only *parse* them (`ast.parse`) and accept
nothing but `NAME = <literal>` statements, evaluated with
`ast.literal_eval`. Anything else (a call, an import, attribute access, an
expression) is an error naming its line, and nothing of the file runs.
"""

from __future__ import annotations

import ast
import fcntl
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acm.inputfile import MAX_TEXT_BYTES, InputFileError, read_input
from xm_core.errors import XmError
from xm_core.files.atomic import atomic_write, remove_leftovers
from xm_core.files.paths import HostPaths

DEV_NULL = "/dev/null"


@dataclass
class DomainConfig:
    path: str
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (first, last) line

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def _present(path: Path) -> bool:
    """There, and not a folder: a FIFO or device is found, so that reading
    it says what it is (read_config) instead of "not found"."""
    return path.exists() and not path.is_dir()


def find_config(paths: HostPaths, name: str, cwd: str | None = None) -> Path:
    """`/dev/null`, an absolute path, or a relative name looked up in `.`
    then `<root>/etc/xen`. XmError when it is in neither."""
    if name == DEV_NULL:
        return Path(DEV_NULL)
    candidate = Path(name)
    if candidate.is_absolute():
        if _present(candidate):
            return candidate
        raise XmError(f"Config file '{name}' not found.")
    here = Path(cwd or os.getcwd()) / name
    if _present(here):
        return here
    there = paths.etc_xen / name
    if _present(there):
        return there
    raise XmError(f"Config file '{name}' not found.")


def parse_config(text: str, file: str) -> DomainConfig:
    """Parse config text: literal assignments only."""
    try:
        tree = ast.parse(text, filename=file, mode="exec")
    except SyntaxError as exc:
        raise XmError(f"{file}:{exc.lineno or 0}: syntax error: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise XmError(f"{file}: cannot parse: {type(exc).__name__}") from None
    cfg = DomainConfig(file)
    for stmt in tree.body:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            raise XmError(
                f"{file}:{stmt.lineno}: only assignments of literal values "
                f"(NAME = value) are allowed, found {_describe(stmt)}"
            )
        name = stmt.targets[0].id
        try:
            value = ast.literal_eval(stmt.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise XmError(
                f"{file}:{stmt.lineno}: the value of '{name}' is not a literal "
                f"({_describe(stmt.value)}); config files are never executed"
            ) from None
        cfg.values[name] = value
        cfg.lines[name] = (stmt.lineno, stmt.end_lineno or stmt.lineno)
    return cfg


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Import: "an import",
        ast.ImportFrom: "an import",
        ast.Call: "a function call",
        ast.Attribute: "attribute access",
        ast.Expr: "an expression statement",
        ast.FunctionDef: "a function definition",
        ast.AugAssign: "an augmented assignment",
        ast.Name: "a variable reference",
        ast.BinOp: "an arithmetic expression",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                return "a function call"
            return text
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            return "a function call"
        if isinstance(sub, ast.Attribute):
            return "attribute access"
    return f"a {type(node).__name__} statement"


def read_config(path: str | Path) -> DomainConfig:
    path = Path(path)
    if str(path) == DEV_NULL:
        return DomainConfig(DEV_NULL)
    try:
        raw = read_input(path, MAX_TEXT_BYTES)
    except InputFileError as exc:
        raise XmError(f"Config file '{path}' {exc.reason}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise XmError(f"{path}: not UTF-8 text") from None
    return parse_config(text, str(path))


def load_config(
    paths: HostPaths, name: str, overrides: list[str] | tuple[str, ...] = ()
) -> DomainConfig:
    cfg = read_config(find_config(paths, name))
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: DomainConfig, overrides: list[str] | tuple[str, ...]) -> DomainConfig:
    """`name=value` words of `xm create`: a literal when the value is one
    (`memory=256`), else the plain string (`name=web`)."""
    for item in overrides:
        name, sep, raw = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise XmError(f"Invalid variable setting '{item}': expected name=value")
        try:
            value: Any = ast.literal_eval(raw)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = raw
        cfg.values[name] = value
    return cfg


# ------------------------------------------------------------ access_control

_ACCESS_ITEM = re.compile(r"\s*(policy|label)\s*=\s*([^,]*)\s*")


def parse_access_control(value: Any, file: str = "") -> tuple[str, str] | None:
    """(policy, label) of an `access_control` value, None when absent."""
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    if len(items) != 1 or not isinstance(items[0], str):
        raise XmError(f"{file}: access_control must be ['policy=<P>,label=<L>']")
    found: dict[str, str] = {}
    for part in items[0].split(","):
        m = _ACCESS_ITEM.fullmatch(part)
        if not m:
            raise XmError(f"{file}: malformed access_control entry {items[0]!r}")
        found[m.group(1)] = m.group(2).strip()
    if set(found) != {"policy", "label"} or not all(found.values()):
        raise XmError(f"{file}: access_control needs both policy= and label=")
    return found["policy"], found["label"]


def config_label(cfg: DomainConfig) -> tuple[str, str] | None:
    return parse_access_control(cfg.get("access_control"), cfg.path)


def access_control_line(policy: str, label: str) -> str:
    return f"access_control = ['policy={policy},label={label}']"


def append_access_control(data: bytes, policy: str, label: str) -> bytes:
    """The config with the access_control line appended; every other byte kept
    (a missing final newline is added first, in the file's own line ending)."""
    eol = b"\r\n" if b"\r\n" in data else b"\n"
    if data and not data.endswith(b"\n"):
        data += eol
    return data + access_control_line(policy, label).encode() + eol


def _decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise XmError(f"{file}: not UTF-8 text") from None


def comment_out_access_control(data: bytes, file: str = "") -> bytes:
    """Every line of every `access_control` assignment commented out with `#`;
    every other byte kept. Refused (XmError) when such a line also holds
    another statement (`name = 'x'; access_control = [...]`), since
    commenting it out would lose that statement too."""
    text = _decode(data, file)
    cfg = parse_config(text, file)
    if "access_control" not in cfg.values:
        return data
    tree = ast.parse(text)
    targets = [
        s for s in tree.body if isinstance(s, ast.Assign) and cfg_target(s) == "access_control"
    ]
    others = [s for s in tree.body if s not in targets]
    for stmt in targets:
        first, last = stmt.lineno, stmt.end_lineno or stmt.lineno
        if any(o.lineno <= last and (o.end_lineno or o.lineno) >= first for o in others):
            raise XmError(
                f"{file}:{first}: the access_control line also holds another "
                "statement; put it on a line of its own"
            )
    # The lines ast counts: split exactly as Python's tokenizer does.
    lines = _source_lines(data)
    for stmt in targets:
        for i in range(stmt.lineno - 1, stmt.end_lineno or stmt.lineno):
            lines[i] = b"#" + lines[i]
    return b"".join(lines)


def cfg_target(stmt: ast.Assign) -> str | None:
    """The assigned name of a `NAME = value` statement."""
    if len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    return None


def _source_lines(data: bytes) -> list[bytes]:
    """Physical lines with their endings, as Python numbers them (`\n`,
    `\r\n` and a lone `\r` end a line; form feeds and other separators
    that `bytes.splitlines` knows nothing of do not)."""
    return re.findall(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", data)


# ------------------------------------------------------------ devices


@dataclass(frozen=True)
class DiskSpec:
    """One `disk` entry: `phy:hda6,sda2,w` -> resource `phy:hda6`, frontend
    `sda2`, mode `w` (the resource is kept as written; see resources.canonical)."""

    written: str
    resource: str
    frontend: str
    mode: str


def parse_disk(entry: str, file: str = "") -> DiskSpec:
    parts = [p.strip() for p in entry.split(",")]
    if len(parts) < 3 or not all(parts[:3]):
        raise XmError(f"{file}: invalid disk entry {entry!r}: expected 'type:path,dev,mode'")
    resource, frontend, mode = parts[0], parts[1], parts[2]
    if mode not in ("r", "w", "w!"):
        raise XmError(f"{file}: invalid disk mode {mode!r} in {entry!r}")
    return DiskSpec(entry, resource, frontend, mode)


def config_disks(cfg: DomainConfig) -> list[DiskSpec]:
    value = cfg.get("disk", [])
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, str):
            raise XmError(f"{cfg.path}: every disk entry must be a string")
    return [parse_disk(item, cfg.path) for item in items]


def parse_vif(entry: str, file: str = "") -> dict[str, str]:
    """`'bridge=xenbr0,mac=00:16:3e:..'` -> {"bridge": "xenbr0", "mac": ...}."""
    result: dict[str, str] = {}
    for part in entry.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise XmError(f"{file}: invalid vif entry {entry!r}")
        result[key.strip()] = value.strip()
    return result


def config_vifs(cfg: DomainConfig) -> list[dict[str, str]]:
    value = cfg.get("vif", [])
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, str):
            raise XmError(f"{cfg.path}: every vif entry must be a string")
    return [parse_vif(item, cfg.path) for item in items]


# ------------------------------------------------------------ rewriting a config


def rewrite_config(path: Path, change: Callable[[bytes], bytes]) -> bytes:
    """Read-modify-write of a config file: `change(old bytes) -> new bytes`
    runs under an exclusive lock on the file, and the result replaces it
    atomically (keeping its mode and owner). Two `xm addlabel`s of one
    config therefore never both append. Returns the bytes written (or the
    old ones when `change` left them as they were). A symbolic link is
    followed: the file it names is changed and the link stays a link."""
    path = Path(os.path.realpath(path))
    while True:
        try:  # non-blocking: a FIFO must not hang the open
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise XmError(f"Config file '{path}' cannot be read: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise XmError(f"Config file '{path}' is not a regular file")
            fcntl.flock(fd, fcntl.LOCK_EX)
            # The file we locked may have been replaced meanwhile by another
            # writer's rename: lock the file that is there now instead.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                raise XmError(
                    f"Config file '{path}' disappeared while it was being changed"
                ) from None
            mine = os.fstat(fd)
            if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
                continue
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read(MAX_TEXT_BYTES + 1)
            if len(data) > MAX_TEXT_BYTES:
                raise XmError(f"Config file '{path}' is larger than the limit of 16 MiB")
            new = change(data)
            if new != data:
                remove_leftovers([path])  # of writers killed before; we hold the lock
                atomic_write(path, new)
            return new
        finally:
            os.close(fd)
