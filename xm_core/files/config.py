"""Domain configuration files: Xen's config language, never executed.

Xen's config files are small Python programs (`name = "VM%d" % vmid`,
`if re.search('64', arch): ...`, `xm_vars.var('vmid', ...)`). Xen's tools
ran them with `execfile`; we interpret the subset real configs use with
`xm_core.files.configlang`, which checks the whole syntax tree first and
refuses anything else with `file:line:` and the construct's name.

This module owns the format: finding and reading a config (once, a regular
file, at most MAX_CONFIG_BYTES), the `name=value` words of the command line,
the settings Xen takes from a config, and the `access_control` line that
`addlabel` appends, `rmlabel` comments out and `xm acm flask --configs`
turns into xl's `seclabel` line, without rewriting the rest of the file.
"""

from __future__ import annotations

import ast
import fcntl
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acm.inputfile import InputFileError, read_input, read_open
from xm_core.errors import UsageError, XmError
from xm_core.files.atomic import atomic_write, remove_leftovers
from xm_core.files.configlang import (
    ConfigLimitError,
    DeclaredVariable,
    Uname,
    check_plain_value,
    parse_source,
    run_config,
)
from xm_core.files.configlang import (
    ConfigValueError as ConfigValueError,
)
from xm_core.files.paths import HostPaths

DEV_NULL = "/dev/null"
MAX_CONFIG_BYTES = 1 << 20  # a domain config is a few lines; larger files are refused

# The variables Xen 3.0.4's `xm create` took from a config (create.py's
# `gopts.var`s); any other variable is the script's own (`vmid`, `arch`).
# 3.0.4 declared no `cdrom` (an HVM CD-ROM is a `disk` entry) and no
# `ssidref` (a label is `access_control`): both are the script's own.
XEN_SETTINGS = frozenset((
    "access_control", "acpi", "apic", "blkif", "boot", "bootargs", "bootentry", "bootloader",
    "builder", "cpu", "cpu_cap", "cpu_weight", "cpus", "device_model", "dhcp", "disk",
    "display", "extra", "fda", "fdb", "features", "gateway", "hostname", "interface",
    "ioports", "ip", "irq", "isa", "kernel", "keymap", "localtime", "maxmem", "memory",
    "monitor", "name", "netif", "netmask", "nfs_root", "nfs_server", "nics", "nographic",
    "on_crash", "on_poweroff", "on_reboot", "on_xend_start", "on_xend_stop", "pae", "pci",
    "ramdisk", "restart", "root", "rtc_timeoffset", "sdl", "serial", "shadow_memory",
    "soundhw", "stdvga", "tpmif", "usb", "usbdevice", "usbport", "uuid", "vcpu_avail",
    "vcpus", "vfb", "vif", "vnc", "vncconsole", "vncdisplay", "vnclisten", "vncpasswd",
    "vncunused", "vncviewer", "vtpm", "xauthority",
))  # fmt: skip
# Xen kept a config variable as a setting only when its type was one of
# these (Python 2's `type(v) in [str, list, int, float]`: no bool, tuple, dict).
_SETTING_TYPES = (str, list, int, float)


@dataclass
class DomainConfig:
    path: str
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (first, last) line
    declared: list[DeclaredVariable] = field(default_factory=list)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def settings(self) -> dict[str, Any]:
        """The values Xen's `xm create` would have taken from this config."""
        return {
            k: v
            for k, v in sorted(self.values.items())
            if k in XEN_SETTINGS and type(v) in _SETTING_TYPES
        }


def _present(path: Path) -> bool:
    """There, and not a folder: a FIFO or device is found, so that reading
    it says what it is (read_config) instead of "not found"."""
    return path.exists() and not path.is_dir()


def find_config(paths: HostPaths, name: str, cwd: str | None = None) -> Path:
    """`/dev/null`, an absolute path, or a relative name looked up in `.`
    then `<root>/etc/xen`. XmError when it is in neither (or is a folder)."""
    if name == DEV_NULL:
        return Path(DEV_NULL)
    candidate = Path(name)
    places = [candidate] if candidate.is_absolute() else [Path(cwd or os.getcwd()) / name]
    if not candidate.is_absolute():
        places.append(paths.etc_xen / name)
    for place in places:
        if _present(place):
            return place
    if any(place.is_dir() for place in places):
        raise XmError(f"Config file '{name}' is a folder: give a domain config file.")
    raise XmError(f"Config file '{name}' not found.")


def parse_config(
    text: str, file: str, variables: Mapping[str, str] | None = None, uname: Uname | None = None
) -> DomainConfig:
    """Run config text in the safe subset; `variables` are command-line
    `name=value` words that are no Xen setting (strings, as Xen gave them)."""
    run = run_config(text, file, variables, uname)
    return DomainConfig(file, run.values, run.lines, run.declared)


def read_config_bytes(path: str | Path) -> bytes:
    """The file's bytes, read once: a regular file of at most MAX_CONFIG_BYTES."""
    try:
        return read_input(path, MAX_CONFIG_BYTES)
    except InputFileError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: str | Path, exc: InputFileError) -> XmError:
    kind = ConfigLimitError if exc.too_large else XmError
    return kind(f"Config file '{path}' {exc.reason}")


def config_text(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise XmError(f"{file}: not UTF-8 text") from None


def read_config(
    path: str | Path, variables: Mapping[str, str] | None = None, uname: Uname | None = None
) -> DomainConfig:
    if str(path) == DEV_NULL:
        return DomainConfig(DEV_NULL)
    text = config_text(read_config_bytes(path), str(path))
    return parse_config(text, str(path), variables, uname)


def split_overrides(
    overrides: Sequence[str],
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """`name=value` words: (script variables, Xen settings). As Xen's
    create.py: a setting given on the command line wins over the config;
    any other name becomes a string variable the config runs with
    (`xm create xmexample2 vmid=1`)."""
    variables: dict[str, str] = {}
    settings: list[tuple[str, str]] = []
    for item in overrides:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name.startswith("__"):
            raise UsageError(f"Invalid variable setting '{item}': expected name=value")
        if name in XEN_SETTINGS:
            settings.append((name, raw.strip()))
        else:
            variables[name] = raw.strip()
    return variables, settings


def load_config(
    paths: HostPaths,
    name: str,
    overrides: Sequence[str] = (),
    uname: Uname | None = None,
) -> DomainConfig:
    variables, _ = split_overrides(overrides)
    cfg = read_config(find_config(paths, name), variables, uname)
    return apply_overrides(cfg, overrides)


def _whole_literal(raw: str) -> Any:
    """The value of `raw` when all of it is one Python literal; ValueError
    when anything follows it, such as a comment (`vcpus=1#` is not 1: Xen's
    int() refused it)."""
    tree = ast.parse(raw.strip(), mode="eval")
    if ast.get_source_segment(raw.strip(), tree.body) != raw.strip():
        raise ValueError(raw)
    return ast.literal_eval(tree.body)


def apply_overrides(cfg: DomainConfig, overrides: Sequence[str]) -> DomainConfig:
    """The settings among `name=value` words, over the config's: a literal
    when the value is one (`memory=256`), else the plain string (`name=web`).
    Other names were the config's variables (see split_overrides)."""
    variables, settings = split_overrides(overrides)
    for name, raw in settings:
        value: Any
        if len(raw) > 4096:
            raise UsageError(f"The value of '{name}' on the command line is too long")
        try:
            value = _whole_literal(raw)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = raw
        if not isinstance(value, str | int | float | list | tuple | type(None)):
            value = raw  # a set, bytes or complex literal: the plain string
        cfg.values[name] = check_plain_value(value, f"{name}= on the command line")
        cfg.lines.pop(name, None)  # the value is the command line's now
    for name, raw in variables.items():
        cfg.values.setdefault(name, raw)
    return cfg


# ------------------------------------------------------------ the label, read without running


def _assignments(tree: ast.Module, setting: str) -> list[ast.stmt]:
    """Every statement anywhere in the tree that assigns `setting`."""
    found: list[ast.stmt] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.For):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(
                isinstance(n, ast.Name) and n.id == setting for t in targets for n in ast.walk(t)
            ):
                found.append(node)
        elif isinstance(node, ast.FunctionDef | ast.Import | ast.ImportFrom):
            names = (
                [node.name]
                if isinstance(node, ast.FunctionDef)
                else [(a.asname or a.name).split(".")[0] for a in node.names]
            )
            if setting in names:
                found.append(node)
    return found


def _label_assignments(tree: ast.Module) -> list[ast.stmt]:
    return _assignments(tree, "access_control")


def is_labeled(text: str, file: str) -> bool:
    """The config assigns access_control somewhere (checked, not run)."""
    return bool(_label_assignments(parse_source(text, file)))


def sets_ssidref(text: str, file: str) -> bool:
    """The config assigns ssidref somewhere (checked, not run)."""
    return bool(_assignments(parse_source(text, file), "ssidref"))


def declared_label(text: str, file: str) -> tuple[str, str] | None:
    """(policy, label) of a config. A label written as a literal (as
    addlabel writes it) is read without running the file, so a config that
    needs `vmid=...` still shows its label; a computed one is run."""
    tree = parse_source(text, file)
    assigns = _label_assignments(tree)
    if not assigns:
        return None
    literal = all(
        s in tree.body and isinstance(s, ast.Assign) and cfg_target(s) == "access_control"
        for s in assigns
    )
    if literal:
        last = assigns[-1]
        assert isinstance(last, ast.Assign)
        try:
            value = ast.literal_eval(last.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = None
        else:
            return parse_access_control(value, file)
    return config_label(parse_config(text, file))


# ------------------------------------------------------------ access_control

_ACCESS_ITEM = re.compile(r"\s*(policy|label)\s*=\s*([^,]*)\s*")


def parse_access_control(value: Any, file: str = "") -> tuple[str, str] | None:
    """(policy, label) of an `access_control` value, None when absent."""
    if value is None:
        return None
    items = as_list(value)
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


def _access_control_statements(data: bytes, file: str) -> list[ast.Assign]:
    """The top-level `access_control = ...` statements, each on lines of its
    own; XmError when one is nested or shares a line with another statement
    (changing its lines would change that statement too)."""
    text = config_text(data, file)
    tree = parse_source(text, file)
    assigns = _label_assignments(tree)
    targets = [
        s for s in tree.body if isinstance(s, ast.Assign) and cfg_target(s) == "access_control"
    ]
    if len(targets) != len(assigns):
        odd = next(s for s in assigns if s not in targets)
        raise XmError(
            f"{file}:{odd.lineno}: access_control is not set by a line of its own "
            "(NAME = value at the top level); edit the file by hand"
        )
    others = [s for s in tree.body if s not in targets]
    for stmt in targets:
        first, last = stmt.lineno, stmt.end_lineno or stmt.lineno
        if any(o.lineno <= last and (o.end_lineno or o.lineno) >= first for o in others):
            raise XmError(
                f"{file}:{first}: the access_control line also holds another "
                "statement; put it on a line of its own"
            )
    return targets


def comment_out_access_control(data: bytes, file: str = "") -> bytes:
    """Every line of every `access_control` assignment commented out with `#`;
    every other byte kept. Refused (XmError) when such a line also holds
    another statement (`name = 'x'; access_control = [...]`), since
    commenting it out would lose that statement too."""
    targets = _access_control_statements(data, file)
    if not targets:
        return data
    # The lines ast counts: split exactly as Python's tokenizer does.
    lines = _source_lines(data)
    for stmt in targets:
        for i in range(stmt.lineno - 1, stmt.end_lineno or stmt.lineno):
            lines[i] = b"#" + lines[i]
    return b"".join(lines)


_SECLABEL_SAFE = re.compile(r"[A-Za-z0-9_.:-]+")


def seclabel_line(context: str) -> str:
    """The line `xl` reads a domain's FLASK label from."""
    return f"seclabel = '{context}'"


def access_control_to_seclabel(data: bytes, context: str, file: str = "") -> bytes:
    """The config with its (last) `access_control` assignment replaced by
    `seclabel = '<context>'` and earlier ones commented out; every other byte
    kept. Unchanged when there is no access_control; refused (XmError) when
    the config already sets seclabel, or as `comment_out_access_control`."""
    if not _SECLABEL_SAFE.fullmatch(context):
        raise XmError(f"{file}: {context!r} is not a security context")
    targets = _access_control_statements(data, file)
    if not targets:
        return data
    if _assignments(parse_source(config_text(data, file), file), "seclabel"):
        raise XmError(f"{file}: the config already sets seclabel; edit the file by hand")
    lines = _source_lines(data)
    *earlier, last = targets
    for stmt in earlier:
        for i in range(stmt.lineno - 1, stmt.end_lineno or stmt.lineno):
            lines[i] = b"#" + lines[i]
    first = lines[last.lineno - 1]
    eol = first[len(first.rstrip(b"\r\n")) :] or (b"\r\n" if b"\r\n" in data else b"\n")
    lines[last.lineno - 1] = seclabel_line(context).encode() + eol
    for i in range(last.lineno, last.end_lineno or last.lineno):
        lines[i] = b""
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


# The modes Xen's block script took: `r`/`ro` read-only, `w`/`rw`
# read-write, a trailing `!` read-write without the sharing check.
BLOCK_MODES = ("r", "ro", "w", "rw", "w!", "rw!")


@dataclass(frozen=True)
class DiskSpec:
    """One `disk` entry: `phy:hda6,sda2,w` -> resource `phy:hda6`, frontend
    `sda2`, mode `w` (the resource is kept as written; see resources.canonical)."""

    written: str
    resource: str
    frontend: str
    mode: str


def parse_disk(entry: str, file: str = "") -> DiskSpec:
    """One entry; an empty resource is an HVM CD-ROM drive with no medium
    (`',hdc:cdrom,r'`), the only device that may have none."""
    parts = [p.strip() for p in entry.split(",")]
    cdrom = len(parts) >= 3 and parts[1].endswith(":cdrom")
    if len(parts) < 3 or not all(parts[1:3]) or not (parts[0] or cdrom):
        raise XmError(f"{file}: invalid disk entry {entry!r}: expected 'type:path,dev,mode'")
    resource, frontend, mode = parts[0], parts[1], parts[2]
    if mode not in BLOCK_MODES:
        raise XmError(
            f"{file}: invalid disk mode {mode!r} in {entry!r}: expected {', '.join(BLOCK_MODES)}"
        )
    return DiskSpec(entry, resource, frontend, mode)


def as_list(value: Any) -> list[Any]:
    """A setting Xen read as a list: a single value counts as a list of it."""
    return list(value) if isinstance(value, list | tuple) else [value]


def _string_entries(cfg: DomainConfig, key: str) -> list[str]:
    items = as_list(cfg.get(key, []))
    if not all(isinstance(item, str) for item in items):
        raise XmError(f"{cfg.path}: every {key} entry must be a string")
    return items


def config_disks(cfg: DomainConfig) -> list[DiskSpec]:
    return [parse_disk(item, cfg.path) for item in _string_entries(cfg, "disk")]


def xen_disk_fields(entry: Any, file: str = "") -> tuple[str, str, str, str | None]:
    """A `disk` entry as Xen's create.py split it: `uname,dev,mode[,backend]`
    (fields may be empty: `',hdc:cdrom,r'` is an HVM CD-ROM drive)."""
    if not isinstance(entry, str):
        raise ConfigValueError(f"{file}: every disk entry must be a string")
    fields = entry.split(",")
    if len(fields) not in (3, 4):
        raise ConfigValueError(f"{file}: Invalid disk specifier: {entry!r}")
    backend = fields[3] if len(fields) == 4 else None
    return fields[0], fields[1], fields[2], backend


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
    """The vif entries; `vif = ''` (or `vif=` on the command line) is no
    network at all, as the man page's `/dev/null` example uses it, while
    `vif = ['']` asks for one interface with every default."""
    value = cfg.get("vif", [])
    if isinstance(value, str) and not value.strip():
        return []
    return [parse_vif(item, cfg.path) for item in _string_entries(cfg, "vif")]


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
            try:
                data = read_open(fd, str(path), MAX_CONFIG_BYTES)
            except InputFileError as exc:
                raise _unreadable(path, exc) from None
            new = change(data)
            if new != data:
                remove_leftovers([path])  # of writers killed before; we hold the lock
                atomic_write(path, new)
            return new
        finally:
            os.close(fd)
