"""Xen's domain-config language, interpreted safely.

Xen's `xm create` ran a config with `execfile`. We walk its `ast` instead
and evaluate only the subset real configs use (docs/configs.md lists it):
assignments, literals, arithmetic, `%` and `+` on strings, lists, tuples and
dicts, comparisons, `if`/`else`, `for` over a bounded sequence, `def` and
calls of the functions defined, `raise ValueError`, `import` of `os`,
`os.path`, `re` and `sys`, a few builtins and string methods, and Xen's
`xm_vars.var(...)`/`xm_vars.check()`.

The whole tree is checked before anything runs: a construct outside the
subset is refused with `file:line:` and its name, and nothing of the file is
evaluated. While running, a step limit, a size limit for every value
(string length, items of a container, nesting), an integer limit and a call
depth limit turn a loop, a huge string or a runaway recursion into one
error, never a hang or a crash.
"""

from __future__ import annotations

import ast
import math
import platform
import posixpath
import re
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acm.errors import escape_controls
from xm_core.errors import XmError

MAX_STEPS = 100_000  # nodes evaluated: a loop that does not end stops here
MAX_SIZE = 65_536  # characters of a string, or items of a value counted through its nesting
MAX_VALUE_DEPTH = 32  # lists in lists ...
MAX_INT_BITS = 128  # |n| < 2**128: any setting fits, and int->str never meets Python's limit
MAX_NESTING = 50  # depth of the syntax tree
MAX_CALL_DEPTH = 20  # calls of the config's own functions inside each other
WORK_PER_STEP = 64  # characters or items an operation may touch for one step
REGEX_SECONDS = 1.0  # all re.search/match/sub of one config together (catastrophic backtracking)
# A compiled pattern unrolls its counted repeats (`a{1000000000}`: gigabytes
# before any match starts), which no match timeout sees: the product of a
# pattern's repeat counts times its length is bounded before it is compiled.
REGEX_EXPANSION = 100_000
_COUNTED_REPEAT = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")

ALLOWED_MODULES = ("os", "os.path", "re", "sys")
PREDEFINED_MODULES = ("os", "sys")  # Xen imported these before running the file


_TOO_LARGE = f"too large: a value of more than {MAX_SIZE} characters or items"
_TOO_BIG_INT = f"too large: an integer of more than {MAX_INT_BITS} bits"


class ConfigError(XmError):
    """A config that cannot be read: `file:line: what`."""


class ConfigLimitError(ConfigError):
    """A config past one of the interpreter's limits (nested too deeply, a
    value too large, too many steps): bad input, like a malformed value, so
    exit 2 (issue 13: deep or huge input ends in one error line, exit 2)."""

    exit_code = 2


class ConfigValueError(ConfigError):
    """A value of the wrong type or out of range (a setting, or a variable
    given as `name=value`): exit 2."""

    exit_code = 2


class _ScriptRaise(Exception):
    """An exception as the config's Python would have raised it (ValueError,
    TypeError, ...): the config may not catch it; a check function of
    `xm_vars` turns it into a refused variable."""

    def __init__(self, kind: str, message: str, line: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# ------------------------------------------------------------------ the subset

_STATEMENTS: tuple[type[ast.AST], ...] = (
    ast.Module, ast.Assign, ast.AugAssign, ast.Expr, ast.If, ast.For, ast.Break, ast.Continue,
    ast.Pass, ast.FunctionDef, ast.Return, ast.Raise, ast.Import, ast.ImportFrom,
)  # fmt: skip
_EXPRESSIONS: tuple[type[ast.AST], ...] = (
    ast.Constant, ast.Name, ast.List, ast.Tuple, ast.Dict, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.IfExp, ast.Call, ast.Attribute, ast.Subscript, ast.Slice, ast.keyword,
    ast.arguments, ast.arg, ast.alias, ast.Load, ast.Store,
)  # fmt: skip
_OPERATORS: tuple[type[ast.AST], ...] = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift,
    ast.BitAnd, ast.BitOr, ast.BitXor, ast.USub, ast.UAdd, ast.Not, ast.Invert, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)  # fmt: skip
_ALLOWED_NODES = _STATEMENTS + _EXPRESSIONS + _OPERATORS

# The construct's name in an error, as a config's author would call it.
_CONSTRUCT_NAMES: dict[type[ast.AST], str] = {
    ast.While: "'while'",
    ast.With: "'with'",
    ast.Try: "'try'",
    ast.ClassDef: "'class'",
    ast.Lambda: "'lambda'",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Global: "'global'",
    ast.Nonlocal: "'nonlocal'",
    ast.Delete: "'del'",
    ast.Assert: "'assert'",
    ast.Yield: "'yield'",
    ast.YieldFrom: "'yield from'",
    ast.Await: "'await'",
    ast.AsyncFunctionDef: "'async def'",
    ast.AsyncFor: "'async for'",
    ast.AsyncWith: "'async with'",
    ast.NamedExpr: "':='",
    ast.Set: "a set",
    ast.Starred: "'*' unpacking",
    ast.JoinedStr: "an f-string",
    ast.AnnAssign: "an annotated assignment",
    ast.Match: "'match'",
}

BUILTINS = ("int", "str", "len", "range", "float", "list")
EXCEPTIONS = ("ValueError", "TypeError")
STRING_METHODS = frozenset((
    "split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper", "replace", "startswith",
    "endswith", "join", "find", "rfind", "count", "isdigit", "isalpha", "isalnum", "isspace",
    "partition", "rpartition", "splitlines", "capitalize",
))  # fmt: skip
LIST_METHODS = frozenset({"index", "count"})
DICT_METHODS = frozenset({"get", "keys", "values", "items"})
MATCH_METHODS = frozenset({"group", "groups", "start", "end"})
XM_VARS_METHODS = frozenset({"var", "check"})


@dataclass(frozen=True)
class _Module:
    name: str
    members: Mapping[str, Any]


@dataclass(frozen=True)
class _Builtin:
    name: str
    call: Callable[..., Any]


@dataclass
class _Function:
    node: ast.FunctionDef
    defaults: list[Any]


@dataclass(frozen=True)
class DeclaredVariable:
    """`xm_vars.var(name, use=..., check=...)` of a config."""

    name: str
    use: str
    check: Any = None


@dataclass
class ConfigRun:
    """What running a config left: its variables holding data, the lines
    that last assigned them, and the variables it declared with xm_vars."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)
    declared: list[DeclaredVariable] = field(default_factory=list)


def _attribute_names() -> frozenset[str]:
    return (
        STRING_METHODS
        | LIST_METHODS
        | DICT_METHODS
        | MATCH_METHODS
        | XM_VARS_METHODS
        | {"uname", "path", "join", "basename", "dirname", "search", "match", "sub"}
    )


ATTRIBUTES = _attribute_names()


def parse_source(text: str, file: str) -> ast.Module:
    """The config's syntax tree, checked to hold nothing but the subset.
    ConfigError `file:line: ...` for a syntax error or a refused construct."""
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" and such: no stderr noise
            warnings.simplefilter("ignore")
            tree = ast.parse(text, filename=file, mode="exec")
    except SyntaxError as exc:
        msg = exc.msg.split(";")[0] if exc.msg else "invalid syntax"
        # Python's own limit on integer literals (4,300 digits) is a limit too
        kind = ConfigLimitError if "Exceeds the limit" in msg else ConfigError
        raise kind(f"{file}:{exc.lineno or 0}: syntax error: {msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        if isinstance(exc, RecursionError | MemoryError):
            raise ConfigLimitError(f"{file}:1: cannot parse: nesting too deep") from None
        raise ConfigError(f"{file}:1: cannot parse: {exc}") from None
    check_tree(tree, file)
    return tree


def _line(node: ast.AST) -> int:
    return int(getattr(node, "lineno", 1) or 1)


def check_tree(tree: ast.Module, file: str) -> None:
    """Refuse every construct outside the subset, before anything runs.
    Every node is checked (without recursion: a deep tree must end in an
    error, not in Python's stack limit); the first refusal in the text is
    reported, innermost first, with how many more there are."""
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)} | {
        a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    refused: list[tuple[int, int, int, str]] = []  # line, column, -depth, message
    stack: list[tuple[ast.AST, int, int, int]] = [(tree, 0, 1, 0)]
    while stack:
        node, depth, line, column = stack.pop()
        if hasattr(node, "lineno"):
            line, column = _line(node), int(getattr(node, "col_offset", 0) or 0)
        if depth > MAX_NESTING:
            raise ConfigLimitError(
                f"{file}:{line}: nested deeper than {MAX_NESTING} levels is not allowed "
                "in a domain config"
            )
        try:
            _check_node(node, file, line, defined)
        except ConfigError as exc:
            refused.append((line, column, -depth, exc.message))
            if not isinstance(node, _ALLOWED_NODES):
                continue  # its parts are part of the refused construct
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1, line, column))
    if refused:
        refused.sort()
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise ConfigError(refused[0][3] + more)


def _refuse(file: str, line: int, what: str) -> ConfigError:
    return ConfigError(f"{file}:{line}: {what} is not allowed in a domain config")


def _check_node(node: ast.AST, file: str, line: int, defined: set[str]) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        name = _CONSTRUCT_NAMES.get(type(node), f"'{type(node).__name__}'")
        raise _refuse(file, line, name)
    if isinstance(node, ast.Constant) and not isinstance(
        node.value, str | int | float | type(None)
    ):
        raise _refuse(file, line, f"a {type(node.value).__name__} literal")
    if isinstance(node, ast.Name) and _is_dunder(node.id):
        raise _refuse(file, line, f"the name '{node.id}'")
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        raise _refuse(file, line, f"the attribute '{node.attr}'")
    if isinstance(node, ast.Attribute) and node.attr not in ATTRIBUTES:
        raise _refuse(file, line, f"'{_dotted(node)}'")
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                raise _refuse(file, line, f"import of '{alias.name}'")
    if isinstance(node, ast.ImportFrom):
        if node.module not in ALLOWED_MODULES or node.level:
            raise _refuse(file, line, f"import from '{node.module}'")
        for alias in node.names:
            if alias.name == "*":
                raise _refuse(file, line, "'import *'")
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            fname = node.func.id
            if fname not in BUILTINS and fname not in EXCEPTIONS and fname not in defined:
                raise _refuse(file, line, f"a call of '{fname}'")
        elif not isinstance(node.func, ast.Attribute):
            raise _refuse(file, line, "a call of a computed function")
    if isinstance(node, ast.Assign | ast.AugAssign | ast.For):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Subscript | ast.Attribute | ast.Starred):
                    raise _refuse(file, line, "assignment to an item or attribute")
    if isinstance(node, ast.FunctionDef):
        a = node.args
        if node.decorator_list or a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
            raise _refuse(file, line, "a decorator, *args or **kwargs")
    if isinstance(node, ast.For) and node.orelse:
        raise _refuse(file, line, "'for ... else'")
    if isinstance(node, ast.Raise):
        exc = node.exc
        if isinstance(exc, ast.Call):
            exc = exc.func
        if node.cause is not None or not (isinstance(exc, ast.Name) and exc.id in EXCEPTIONS):
            raise _refuse(file, line, "'raise' of anything but ValueError or TypeError")
    if isinstance(node, ast.Dict) and any(k is None for k in node.keys):
        raise _refuse(file, line, "'**' unpacking")


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _dotted(node: ast.AST) -> str:
    """`os.path.exists` of an attribute chain (iterative: a chain may be deep)."""
    parts: list[str] = []
    while len(parts) < 8:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("(...)")
            node = node.func
        else:
            break
    if isinstance(node, ast.Name):
        head = node.id
    elif isinstance(node, ast.Constant):
        head = repr(node.value)[:20]
    else:
        head = "(...)"
    return ".".join([head, *reversed(parts)]).replace(".(...)", "(...)")


# ------------------------------------------------------------------ running


@dataclass(frozen=True)
class Uname:
    """`os.uname()` as the config sees it."""

    sysname: str
    nodename: str
    release: str
    version: str
    machine: str

    def as_tuple(self) -> tuple[str, str, str, str, str]:
        return (self.sysname, self.nodename, self.release, self.version, self.machine)


def host_uname() -> Uname:
    """The host's uname, as `xm info` reports it."""
    u = platform.uname()
    return Uname(u.system, u.node, u.release, u.version, u.machine)


def run_config(
    text: str,
    file: str,
    variables: Mapping[str, str] | None = None,
    uname: Uname | None = None,
) -> ConfigRun:
    """Run a config's text in the subset; `variables` are the `name=value`
    words of the command line that are no Xen setting (strings, as Xen put
    them into the script's namespace)."""
    tree = parse_source(text, file)
    machine = _Interpreter(file, dict(variables or {}), uname or host_uname())
    try:
        machine.run(tree)
    except RecursionError:
        raise ConfigLimitError(f"{file}:{machine.line}: nested too deeply") from None
    except _ScriptRaise as exc:
        # The config wrote this text: escaped, so a line break in it cannot
        # forge a second line of `xm create`'s error.
        raise ConfigError(
            f"{file}:{exc.line}: {exc.kind}: {escape_controls(exc.message)}"
        ) from None
    return machine.result()


def check_plain_value(value: Any, where: str) -> Any:
    """A literal from outside a config (a `name=value` word) within the same
    limits as a config's values; ConfigValueError (exit 2) otherwise."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    size = 0
    while stack:
        item, depth = stack.pop()
        if depth > MAX_VALUE_DEPTH:
            raise ConfigValueError(f"{where}: too deep: nested more than {MAX_VALUE_DEPTH} levels")
        if isinstance(item, bool) or item is None:
            size += 1
        elif isinstance(item, int):
            if item.bit_length() > MAX_INT_BITS:
                raise ConfigValueError(f"{where}: {_TOO_BIG_INT}")
            size += 1
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ConfigValueError(f"{where}: a float that is not finite")
            size += 1
        elif isinstance(item, str):
            size += len(item)
        elif isinstance(item, list | tuple):
            size += 1
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, dict):
            size += 1
            stack.extend((v, depth + 1) for pair in item.items() for v in pair)
        else:
            raise ConfigValueError(f"{where}: a {type(item).__name__} is not a config value")
        if size > MAX_SIZE:
            raise ConfigValueError(f"{where}: {_TOO_LARGE}")
    return value


class _Interpreter:
    def __init__(self, file: str, variables: dict[str, str], uname: Uname) -> None:
        self.file = file
        self.line = 1
        self.steps = 0
        self.calls = 0
        self.regex_seconds = 0.0
        self.lines: dict[str, tuple[int, int]] = {}
        self.declared: list[DeclaredVariable] = []
        self.measured: dict[int, tuple[Any, int, int]] = {}  # id -> (value, size, depth)
        self.modules = self._modules(uname)
        self.builtins: dict[str, Any] = {
            "int": _Builtin("int", self._int),
            "str": _Builtin("str", self._str),
            "len": _Builtin("len", self._len),
            "range": _Builtin("range", self._range),
            "float": _Builtin("float", self._float),
            "list": _Builtin("list", self._list),
        }
        xm_vars = _Module(
            "xm_vars", {"var": _Builtin("var", self._var), "check": _Builtin("check", self._check)}
        )
        self.globals: dict[str, Any] = {
            "os": self.modules["os"],
            "sys": self.modules["sys"],
            "xm_file": file,
            "xm_help": 0,
            "xm_vars": xm_vars,
        }
        self.predefined = set(self.globals)
        for name, value in variables.items():
            self.globals[name] = self._checked(value, None)
        self.scopes: list[dict[str, Any]] = [self.globals]

    # -------------------------------------------------------------- errors

    def fail(self, node: ast.AST | None, what: str) -> ConfigError:
        line = _line(node) if node is not None else self.line
        return ConfigError(f"{self.file}:{line}: {what}")

    def beyond(self, node: ast.AST | None, what: str) -> ConfigLimitError:
        """Past one of the limits (size, depth, steps, time): exit 2."""
        line = _line(node) if node is not None else self.line
        return ConfigLimitError(f"{self.file}:{line}: {what}")

    def raise_(self, kind: str, message: str) -> _ScriptRaise:
        return _ScriptRaise(kind, message, self.line)

    def step(self, node: ast.AST) -> None:
        self.steps += 1
        if hasattr(node, "lineno"):
            self.line = _line(node)
        if self.steps > MAX_STEPS:
            raise self.beyond(
                node, f"more than {MAX_STEPS} steps: a loop or recursion that does not end?"
            )

    def charge(self, *values: Any) -> None:
        """Work proportional to the values' sizes (a comparison, a copy, a
        search) counts as steps: 100,000 steps bound the time, not just the
        number of nodes."""
        self.steps += sum(self._size(v) for v in values) // WORK_PER_STEP
        if self.steps > MAX_STEPS:
            raise self.beyond(
                None, f"more than {MAX_STEPS} steps: a loop or recursion that does not end?"
            )

    # -------------------------------------------------------------- values

    def _measure(self, value: Any) -> tuple[int, int]:
        """(size, depth) of a value: characters and items, nesting."""
        if isinstance(value, str):
            return len(value), 0
        if isinstance(value, list | tuple | dict):
            known = self.measured.get(id(value))
            if known is not None and known[0] is value:
                return known[1], known[2]
            items = list(value.items()) if isinstance(value, dict) else value
            size, depth = 1, 0
            for item in items:
                s, d = self._measure(item)
                size += s
                depth = max(depth, d)
                if size > MAX_SIZE:
                    break
            self.steps += len(items) // 64
            self.measured[id(value)] = (value, size, depth + 1)
            return size, depth + 1
        return 1, 0

    def _checked(self, value: Any, node: ast.AST | None) -> Any:
        """A new value within the limits, else ConfigError."""
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                raise self.beyond(node, _TOO_BIG_INT)
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(node, "a float that is not finite (overflow)")
            return value
        size, depth = self._measure(value)
        if size > MAX_SIZE:
            raise self.beyond(node, _TOO_LARGE)
        if depth > MAX_VALUE_DEPTH:
            raise self.beyond(node, f"too deep: a value nested more than {MAX_VALUE_DEPTH} levels")
        return value

    def _size(self, value: Any) -> int:
        return self._measure(value)[0]

    # -------------------------------------------------------------- modules

    def _modules(self, uname: Uname) -> dict[str, _Module]:
        def os_uname() -> tuple[str, ...]:
            return uname.as_tuple()

        def join(*parts: Any) -> str:
            if not all(isinstance(p, str) for p in parts):
                raise self.raise_("TypeError", "os.path.join takes strings")
            return self._checked(posixpath.join(*parts), None)  # type: ignore[no-any-return]

        def basename(p: Any) -> str:
            return posixpath.basename(self._want_str(p))

        def dirname(p: Any) -> str:
            return posixpath.dirname(self._want_str(p))

        path = _Module(
            "os.path",
            {
                "join": _Builtin("join", join),
                "basename": _Builtin("basename", basename),
                "dirname": _Builtin("dirname", dirname),
            },
        )
        os_module = _Module("os", {"uname": _Builtin("uname", os_uname), "path": path})
        re_module = _Module(
            "re",
            {
                "search": _Builtin("search", self._re_search),
                "match": _Builtin("match", self._re_match),
                "sub": _Builtin("sub", self._re_sub),
            },
        )
        return {"os": os_module, "os.path": path, "re": re_module, "sys": _Module("sys", {})}

    def _want_str(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.raise_("TypeError", f"expected a string, not {type(value).__name__}")
        return value

    def _regex(self, run: Callable[..., Any], *args: Any) -> Any:
        import regex  # only configs that use `re` pay for its import

        self.charge(*args)
        left = REGEX_SECONDS - self.regex_seconds
        started = time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return run(*args, timeout=left)
        except TimeoutError:
            raise self.beyond(
                None, f"regular expressions ran longer than {REGEX_SECONDS}s"
            ) from None
        except (regex.error, TypeError, ValueError, IndexError, OverflowError) as exc:
            raise self.raise_("ValueError", f"regular expression: {exc}") from None
        finally:
            self.regex_seconds += time.monotonic() - started

    def _regex_call(self, name: str, *args: Any) -> Any:
        import regex

        self._check_expansion(args[0])
        return self._regex(getattr(regex, name), *args)

    def _check_expansion(self, pattern: str) -> None:
        """Refuse a pattern whose counted repeats would unroll past
        REGEX_EXPANSION items when compiled (counted as if all nested: an
        upper bound, so a pattern that passes compiles in bounded time)."""
        expansion = max(len(pattern), 1)
        for match in _COUNTED_REPEAT.finditer(pattern):
            counts = [int(g) for g in match.groups() if g]
            if any(len(g) > 12 for g in match.groups() if g):
                expansion = REGEX_EXPANSION + 1
            elif counts:
                expansion *= max(max(counts), 1)
            if expansion > REGEX_EXPANSION:
                raise self.beyond(
                    None,
                    "regular expression too large: its counted repeats would expand to "
                    f"more than {REGEX_EXPANSION} items",
                )

    def _re_search(self, pattern: Any, string: Any) -> Any:
        return self._regex_call("search", self._want_str(pattern), self._want_str(string))

    def _re_match(self, pattern: Any, string: Any) -> Any:
        return self._regex_call("match", self._want_str(pattern), self._want_str(string))

    def _re_sub(self, pattern: Any, repl: Any, string: Any, count: Any = 0) -> Any:
        pattern, repl, string = (self._want_str(v) for v in (pattern, repl, string))
        if not isinstance(count, int) or count < 0:
            raise self.raise_("TypeError", "count must be an integer >= 0")
        # The result is at most every position replaced: bound it before it is built.
        if (len(string) + 1) * (len(repl) + 1) > MAX_SIZE * 16:
            raise self.beyond(None, _TOO_LARGE)
        return self._checked(self._regex_call("sub", pattern, repl, string, count), None)

    # -------------------------------------------------------------- builtins

    def _int(self, value: Any = 0, base: Any = None) -> int:
        try:
            if base is None:
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    return self._checked(int(value), None)  # type: ignore[no-any-return]
                raise TypeError(f"int() of {type(value).__name__}")
            return self._checked(int(self._want_str(value), base), None)  # type: ignore[no-any-return]
        except (ValueError, OverflowError) as exc:
            raise self.raise_("ValueError", str(exc)) from None
        except TypeError as exc:
            raise self.raise_("TypeError", str(exc)) from None

    def _float(self, value: Any = 0.0) -> float:
        try:
            if isinstance(value, str) and len(value) > 400:
                raise ValueError("string too long for a float")
            return self._checked(float(value), None)  # type: ignore[no-any-return]
        except (ValueError, OverflowError) as exc:
            raise self.raise_("ValueError", str(exc)) from None
        except TypeError as exc:
            raise self.raise_("TypeError", str(exc)) from None

    def _str(self, value: Any = "") -> str:
        self.charge(value)
        if self._size(value) * 8 > MAX_SIZE * 16:
            raise self.beyond(None, _TOO_LARGE)
        return self._checked(str(_plain(value)), None)  # type: ignore[no-any-return]

    def _len(self, value: Any) -> int:
        if not isinstance(value, str | list | tuple | dict | range):
            raise self.raise_("TypeError", f"len() of {type(value).__name__}")
        return self._length(value)

    def _length(self, value: str | list[Any] | tuple[Any, ...] | dict[Any, Any] | range) -> int:
        """len(value); a range may be longer than len() can say (its lazy
        length past sys.maxsize): the config's OverflowError, as Python's."""
        if isinstance(value, range):
            length = _range_length(value)
            if length > sys.maxsize:
                raise self.raise_("OverflowError", "Python int too large to convert to C ssize_t")
            return length
        return len(value)

    def _range(self, *args: Any) -> range:
        if not 1 <= len(args) <= 3 or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in args
        ):
            raise self.raise_("TypeError", "range() takes 1 to 3 integers")
        try:
            return range(*args)
        except ValueError as exc:
            raise self.raise_("ValueError", str(exc)) from None

    def _list(self, value: Any = ()) -> list[Any]:
        if not isinstance(value, str | list | tuple | dict | range):
            raise self.raise_("TypeError", f"list() of {type(value).__name__}")
        if self._length(value) > MAX_SIZE:
            raise self.beyond(None, _TOO_LARGE)
        return self._checked(list(value), None)  # type: ignore[no-any-return]

    # -------------------------------------------------------------- xm_vars

    def _var(self, name: Any, use: Any = None, check: Any = None) -> None:
        if not isinstance(name, str):
            raise self.raise_("TypeError", "xm_vars.var: the name must be a string")
        if check is not None and not isinstance(check, _Function):
            raise self.raise_("TypeError", "xm_vars.var: check must be a function of the config")
        self.declared.append(DeclaredVariable(name, str(use or ""), check))

    def _check(self) -> None:
        """Each declared variable's check function, on the value given on the
        command line (None when none was): its result becomes the value."""
        where = self.line  # the line of `xm_vars.check()`
        for var in self.declared:
            if var.check is None:
                continue
            given = self.globals.get(var.name)
            try:
                self.globals[var.name] = self._call_function(var.check, [var.name, given], {})
            except _ScriptRaise:
                use = f" ({var.use})" if var.use else ""
                if given is None:
                    raise ConfigValueError(
                        f"{self.file}:{where}: variable '{var.name}' is not set: "
                        f"give {var.name}=...{use}"
                    ) from None
                shown = repr(given) if len(repr(given)) <= 40 else repr(given)[:37] + "..."
                raise ConfigValueError(
                    f"{self.file}:{where}: invalid value {shown} for variable '{var.name}'{use}"
                ) from None

    # -------------------------------------------------------------- statements

    def run(self, tree: ast.Module) -> None:
        try:
            self.block(tree.body)
        except (_Return, _Break, _Continue):
            raise self.fail(None, "'return', 'break' or 'continue' outside its place") from None

    def result(self) -> ConfigRun:
        values = {k: v for k, v in self.globals.items() if k not in self.predefined and _is_data(v)}
        return ConfigRun(
            values, {k: self.lines[k] for k in values if k in self.lines}, self.declared
        )

    def block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.statement(stmt)

    def statement(self, node: ast.stmt) -> None:
        self.step(node)
        if isinstance(node, ast.Assign):
            value = self.expr(node.value)
            for target in node.targets:
                self.assign(target, value, node)
        elif isinstance(node, ast.AugAssign):
            assert isinstance(node.target, ast.Name)
            current = self.lookup(node.target.id, node.target)
            self.assign(
                node.target, self.binop(node.op, current, self.expr(node.value), node), node
            )
        elif isinstance(node, ast.Expr):
            self.expr(node.value)
        elif isinstance(node, ast.If):
            self.block(node.body if _truth(self.expr(node.test)) else node.orelse)
        elif isinstance(node, ast.For):
            self.for_loop(node)
        elif isinstance(node, ast.Break):
            raise _Break
        elif isinstance(node, ast.Continue):
            raise _Continue
        elif isinstance(node, ast.Pass):
            pass
        elif isinstance(node, ast.FunctionDef):
            defaults = [self.expr(d) for d in node.args.defaults]
            self.assign(ast.Name(node.name, ast.Store()), _Function(node, defaults), node)
        elif isinstance(node, ast.Return):
            raise _Return(None if node.value is None else self.expr(node.value))
        elif isinstance(node, ast.Raise):
            self.raise_statement(node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.assign(ast.Name(alias.asname), self.modules[alias.name], node)
                else:
                    top = alias.name.split(".")[0]
                    self.assign(ast.Name(top), self.modules[top], node)
        elif isinstance(node, ast.ImportFrom):
            assert node.module is not None
            module = self.modules[node.module]
            for alias in node.names:
                if alias.name not in module.members:
                    raise self.fail(node, f"'{node.module}.{alias.name}' is not available")
                self.assign(ast.Name(alias.asname or alias.name), module.members[alias.name], node)
        else:  # check_tree let nothing else through
            raise self.fail(node, f"'{type(node).__name__}' is not allowed in a domain config")

    def raise_statement(self, node: ast.Raise) -> None:
        exc = node.exc
        message = ""
        if isinstance(exc, ast.Call):
            args = [self.expr(a) for a in exc.args]
            message = " ".join(str(_plain(a)) for a in args)[:200]
            exc = exc.func
        kind = exc.id if isinstance(exc, ast.Name) else "ValueError"
        raise _ScriptRaise(kind, message or "raised by the config", _line(node))

    def for_loop(self, node: ast.For) -> None:
        sequence = self.expr(node.iter)
        if not isinstance(sequence, str | list | tuple | dict | range):
            raise self.raise_("TypeError", f"cannot loop over {type(sequence).__name__}")
        self.charge(sequence)
        for item in list(sequence) if not isinstance(sequence, range) else sequence:
            self.step(node)
            self.assign(node.target, item, node)
            try:
                self.block(node.body)
            except _Break:
                break
            except _Continue:
                continue

    def assign(self, target: ast.expr, value: Any, node: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self.scopes[-1][target.id] = value
            if len(self.scopes) == 1:
                self.lines[target.id] = (
                    _line(node),
                    int(getattr(node, "end_lineno", 0) or _line(node)),
                )
            return
        if isinstance(target, ast.Tuple | ast.List):
            if not isinstance(value, list | tuple | str) or len(value) != len(target.elts):
                raise self.raise_("ValueError", "cannot unpack: wrong number of values")
            for sub, item in zip(target.elts, value, strict=True):
                self.assign(sub, item, node)
            return
        raise self.fail(node, "assignment to this target is not allowed in a domain config")

    def lookup(self, name: str, node: ast.AST) -> Any:
        for scope in (self.scopes[-1], self.globals, self.builtins):
            if name in scope:
                return scope[name]
        raise self.raise_("NameError", f"name '{name}' is not defined")

    # -------------------------------------------------------------- expressions

    def expr(self, node: ast.expr) -> Any:
        self.step(node)
        if isinstance(node, ast.Constant):
            return self._checked(node.value, node)
        if isinstance(node, ast.Name):
            return self.lookup(node.id, node)
        if isinstance(node, ast.List):
            return self._checked([self.expr(e) for e in node.elts], node)
        if isinstance(node, ast.Tuple):
            return self._checked(tuple(self.expr(e) for e in node.elts), node)
        if isinstance(node, ast.Dict):
            keys = [self.expr(k) for k in node.keys if k is not None]
            values = [self.expr(v) for v in node.values]
            try:
                return self._checked(dict(zip(keys, values, strict=True)), node)
            except TypeError as exc:
                raise self.raise_("TypeError", str(exc)) from None
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.expr(node.left), self.expr(node.right), node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BoolOp):
            result: Any = None
            for sub in node.values:
                result = self.expr(sub)
                if isinstance(node.op, ast.And) != _truth(result):
                    return result
            return result
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            return self.expr(node.body if _truth(self.expr(node.test)) else node.orelse)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.expr(node.value), node.attr, node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        raise self.fail(node, f"'{type(node).__name__}' is not allowed in a domain config")

    def unary(self, node: ast.UnaryOp) -> Any:
        value = self.expr(node.operand)
        if isinstance(node.op, ast.Not):
            return not _truth(value)
        if not isinstance(value, int | float) or (
            isinstance(node.op, ast.Invert) and not isinstance(value, int)
        ):
            raise self.raise_("TypeError", f"bad operand type for unary operator: {_kind(value)}")
        if isinstance(node.op, ast.USub):
            return self._checked(-value, node)
        if isinstance(node.op, ast.UAdd):
            return self._checked(+value, node)
        return self._checked(~int(value), node)

    def binop(self, op: ast.operator, left: Any, right: Any, node: ast.AST) -> Any:
        numbers = all(isinstance(v, int | float) for v in (left, right))
        if not numbers:
            self.charge(left, right)
        # Bound what would be built before Python builds it.
        if isinstance(op, ast.Mult) and not numbers:
            seq, count = (left, right) if isinstance(right, int) else (right, left)
            # A string's size is its length; a list's is 1 + its items'.
            unit = self._size(seq) - (0 if isinstance(seq, str) else 1)
            if (
                isinstance(count, int)
                and isinstance(seq, str | list | tuple)
                and max(count, 0) * unit > MAX_SIZE
            ):
                raise self.beyond(node, _TOO_LARGE)
        elif isinstance(op, ast.Add) and not numbers:
            if self._size(left) + self._size(right) > MAX_SIZE:
                raise self.beyond(node, _TOO_LARGE)
        elif isinstance(op, ast.Mod) and isinstance(left, str):
            self._check_format(left, node)
            if self._size(right) * 8 > MAX_SIZE * 16:
                raise self.beyond(node, _TOO_LARGE)
        elif isinstance(op, ast.Pow) and numbers:
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and abs(left) > 1
                and right * (abs(left).bit_length() - 1) > MAX_INT_BITS
            ):
                raise self.beyond(node, _TOO_BIG_INT)
        elif isinstance(op, ast.LShift) and isinstance(right, int) and right > MAX_INT_BITS:
            raise self.beyond(node, _TOO_BIG_INT)
        try:
            result = _BINARY[type(op)](left, right)
        except ZeroDivisionError:
            raise self.raise_("ZeroDivisionError", "division by zero") from None
        except OverflowError as exc:
            raise self.fail(node, f"arithmetic overflow ({exc})") from None
        except (TypeError, ValueError, KeyError) as exc:
            raise self.raise_(type(exc).__name__, str(exc)) from None
        return self._checked(result, node)

    def _check_format(self, template: str, node: ast.AST) -> None:
        for spec in _FORMAT_SPEC.finditer(template):
            width, precision = spec.group(1), spec.group(2)
            if "*" in (width, precision):
                raise self.fail(node, "a '*' width in a % format is not allowed in a domain config")
            for number in (width, precision):
                if number and (len(number) > 6 or int(number) > MAX_SIZE):
                    raise self.beyond(node, _TOO_LARGE)

    def compare(self, node: ast.Compare) -> bool:
        left = self.expr(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.expr(right_node)
            self.charge(left, right)
            try:
                ok = _COMPARE[type(op)](left, right)
            except TypeError as exc:
                raise self.raise_("TypeError", str(exc)) from None
            if not ok:
                return False
            left = right
        return True

    def subscript(self, node: ast.Subscript) -> Any:
        value = self.expr(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = [
                None if p is None else self.expr(p)
                for p in (node.slice.lower, node.slice.upper, node.slice.step)
            ]
            index: Any = slice(*parts)
        else:
            index = self.expr(node.slice)
        if not isinstance(value, str | list | tuple | dict | range) and not _is_match(value):
            raise self.raise_("TypeError", f"{_kind(value)} is not subscriptable")
        self.charge(index)
        try:
            result = value[index]
            self.charge(result)
            return self._checked(result, node)
        except (IndexError, KeyError) as exc:
            raise self.raise_(type(exc).__name__, str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise self.raise_(type(exc).__name__, str(exc)) from None

    def attribute(self, value: Any, name: str, node: ast.AST) -> Any:
        if isinstance(value, _Module):
            if name in value.members:
                return value.members[name]
        elif isinstance(value, str) and name in STRING_METHODS:
            return _Builtin(name, self._string_method(value, name))
        elif isinstance(value, list | tuple) and name in LIST_METHODS:
            return _Builtin(name, self._plain_method(value, name))
        elif isinstance(value, dict) and name in DICT_METHODS:
            return _Builtin(name, self._dict_method(value, name))
        elif _is_match(value) and name in MATCH_METHODS:
            return _Builtin(name, self._plain_method(value, name))
        raise self.raise_("AttributeError", f"{_kind(value)} has no attribute '{name}' here")

    def _string_method(self, text: str, name: str) -> Callable[..., Any]:
        method = getattr(text, name)

        def call(*args: Any) -> Any:
            self.charge(text, *args)
            if name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
                old, new = args[0], args[1]
                bound = (
                    len(text) + (len(text) + 1) * len(new)
                    if old == ""
                    else len(text) + text.count(old) * (len(new) - len(old))
                )
                if bound > MAX_SIZE:
                    raise self.beyond(None, _TOO_LARGE)
            if name == "join" and args:
                parts = args[0]
                if not isinstance(parts, list | tuple):
                    raise self.raise_("TypeError", "join takes a list of strings")
                if self._size(parts) + len(text) * len(parts) > MAX_SIZE:
                    raise self.beyond(None, _TOO_LARGE)
            try:
                return self._checked(method(*args), None)
            except (TypeError, ValueError, OverflowError) as exc:  # 'abc'.split(None, 10**30)
                raise self.raise_(type(exc).__name__, str(exc)) from None

        return call

    def _plain_method(self, value: Any, name: str) -> Callable[..., Any]:
        method = getattr(value, name)

        def call(*args: Any) -> Any:
            self.charge(value, *args)
            try:
                return self._checked(method(*args), None)
            except (TypeError, ValueError, IndexError, OverflowError) as exc:
                raise self.raise_(type(exc).__name__, str(exc)) from None

        return call

    def _dict_method(self, value: dict[Any, Any], name: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            self.charge(value, *args)
            try:
                if name == "get":
                    return value.get(*args)
                return self._checked(list(getattr(value, name)()), None)
            except TypeError as exc:
                raise self.raise_("TypeError", str(exc)) from None

        return call

    def call(self, node: ast.Call) -> Any:
        func = self.expr(node.func)
        args = [self.expr(a) for a in node.args]
        kwargs = {k.arg: self.expr(k.value) for k in node.keywords if k.arg is not None}
        if isinstance(func, _Function):
            return self._call_function(func, args, kwargs)
        if isinstance(func, _Builtin):
            self.line = _line(node)
            try:
                return func.call(*args, **kwargs)
            except TypeError as exc:  # wrong arguments to a builtin
                raise self.raise_("TypeError", str(exc)) from None
            except OverflowError as exc:  # an integer past what C takes (an index, a count)
                raise self.raise_("OverflowError", str(exc)) from None
        raise self.raise_("TypeError", f"{_kind(func)} is not callable")

    def _call_function(self, func: _Function, args: list[Any], kwargs: dict[str, Any]) -> Any:
        params = [a.arg for a in func.node.args.args]
        if len(args) > len(params):
            raise self.raise_("TypeError", f"{func.node.name}() takes {len(params)} arguments")
        local: dict[str, Any] = dict(zip(params, args, strict=False))
        for key, value in kwargs.items():
            if key not in params or key in local:
                raise self.raise_("TypeError", f"{func.node.name}() got a bad argument '{key}'")
            local[key] = value
        first_default = len(params) - len(func.defaults)
        for i, param in enumerate(params):
            if param not in local:
                if i < first_default:
                    raise self.raise_(
                        "TypeError", f"{func.node.name}() is missing the argument '{param}'"
                    )
                local[param] = func.defaults[i - first_default]
        if self.calls >= MAX_CALL_DEPTH:
            raise self.beyond(
                None, f"calls nested deeper than {MAX_CALL_DEPTH} (endless recursion?)"
            )
        self.calls += 1
        self.scopes.append(local)
        try:
            self.block(func.node.body)
        except _Return as ret:
            return ret.value
        except (_Break, _Continue):
            raise self.fail(func.node, "'break' or 'continue' outside a loop") from None
        finally:
            self.scopes.pop()
            self.calls -= 1
        return None


# ------------------------------------------------------------------ helpers

_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % (_plain_args(b) if isinstance(a, str) else b),
    ast.Pow: lambda a, b: a**b,
    ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b,
    ast.BitAnd: lambda a, b: a & b,
    ast.BitOr: lambda a, b: a | b,
    ast.BitXor: lambda a, b: a ^ b,
}

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
    ast.In: lambda a, b: a in _container(b),
    ast.NotIn: lambda a, b: a not in _container(b),
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
}


def _range_length(r: range) -> int:
    """len(r) without its overflow past sys.maxsize."""
    if r.step > 0 and r.start < r.stop:
        return (r.stop - r.start - 1) // r.step + 1
    if r.step < 0 and r.start > r.stop:
        return (r.start - r.stop - 1) // -r.step + 1
    return 0


def _container(value: Any) -> Any:
    if not isinstance(value, str | list | tuple | dict | range):
        raise TypeError(f"argument of type '{_kind(value)}' is not iterable")
    return value


def _plain(value: Any) -> Any:
    """A value as the config's Python would print it (our function, module
    and builtin stand-ins print as such)."""
    if isinstance(value, _Function):
        return f"<function {value.node.name}>"
    if isinstance(value, _Module):
        return f"<module '{value.name}'>"
    if isinstance(value, _Builtin):
        return f"<built-in function {value.name}>"
    return value


def _plain_args(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return _plain(value)


def _truth(value: Any) -> bool:
    if isinstance(value, _Function | _Module | _Builtin):
        return True
    return bool(value)


def _is_match(value: Any) -> bool:
    return type(value).__name__ == "Match" and hasattr(value, "groups")


def _kind(value: Any) -> str:
    if isinstance(value, _Module):
        return "module"
    if isinstance(value, _Function | _Builtin):
        return "function"
    return type(value).__name__


def _is_data(value: Any) -> bool:
    """A value a setting can hold: no module, function or match object."""
    if isinstance(value, list | tuple):
        return all(_is_data(v) for v in value)
    if isinstance(value, dict):
        return all(_is_data(k) and _is_data(v) for k, v in value.items())
    return isinstance(value, str | int | float | type(None))
