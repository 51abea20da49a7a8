"""Workload descriptions: organizations, their departments and run-time
exclusion rules, the input of policy generation (`acm.authoring.generate`).

One module owns the three ways to write a workload down:

* our JSON and TOML description (`{"organizations": [...], "rules": [...]}`,
  see docs/generate.md), read with `json`/`tomllib` and written back here;
* Xen 3.0.4 ezPolicy's `.wld` file, `ezpolicy = {'orgs': [[org, [depts]]],
  'cons': [[rule, [types]]]}`: a Python dict literal. It is parsed with `ast`
  and only a single assignment of a literal (or a bare literal) is taken;
  nothing in it is ever run.

Checks collect every finding (code, message, place); `check_workload` holds
ezPolicy's rules. The edit functions (`rename_organization`, `add_rule`, ...)
are pure: they return a new `Workload` or raise `PolicyError` with one
finding, with ezPolicy's semantics (a rename is carried into every rule,
deleting a type takes it out of every rule, ...).

Codes:
  WLD001 unreadable file            WLD002 file over MAX_WORKLOAD_BYTES
  WLD003 not JSON / TOML / a Python literal (syntax), or nested too deeply
  WLD004 a `.wld` that is more than one literal assignment
  WLD005 wrong shape: a missing or unknown key, a value of the wrong kind
  WLD010 empty name                 WLD011 a character a name cannot hold
  WLD012 two siblings with one name WLD013 a reserved name
  WLD014 two organizations/departments that give one type name
  WLD015 (acm.authoring.generate) a header Date XML cannot carry
  WLD020 a rule names an unknown type
  WLD021 a rule holds an organization and one of its departments
  WLD022 a rule holds one type twice
  WLD023 (warning) a rule with fewer than two types is skipped
  WLD030 an edit that ezPolicy refused (unknown item, empty selection, ...)
  WLD099 (acm.authoring.generate) the generated policy failed its own compile and lint
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from acm.errors import Diagnostic, Diagnostics, Location, PolicyError, Severity

# A workload names a few dozen things; a megabyte is far beyond any real one
# and keeps a hostile file from costing time or memory.
MAX_WORKLOAD_BYTES = 1 << 20
# The deepest a valid description goes is 5 (dict, list, list, list, str).
MAX_DEPTH = 8

# ezPolicy's bootstrap label and type: every generated policy has it.
BOOTSTRAP = "SystemManagement"
# What ezPolicy wrote for a rule without a name.
UNNAMED_RULE = "RER"
# The name of SSID 0 in a `.map`; no label may take it.
NULL_LABEL_NAME = "__NULL_LABEL__"
WLD_VARIABLE = "ezpolicy"
FORMAT_VERSION = 1


class WorkloadFormat(StrEnum):
    JSON = "json"
    TOML = "toml"
    WLD = "wld"  # ezPolicy's Python dict literal


class Organization(NamedTuple):
    name: str
    departments: tuple[str, ...] = ()

    def types(self) -> list[str]:
        """The organization's type, then one `Org.Dept` type per department."""
        return [self.name, *(department_type(self.name, d) for d in self.departments)]


class Rule(NamedTuple):
    """A run-time exclusion rule: of its types, one may run at a time."""

    name: str  # "" for an unnamed rule (written as `RER`)
    types: tuple[str, ...]


class Workload(NamedTuple):
    organizations: tuple[Organization, ...] = ()
    rules: tuple[Rule, ...] = ()

    def types(self) -> list[str]:
        """Every workload type in ezPolicy's order: each organization, then its departments."""
        return [t for org in self.organizations for t in org.types()]

    def organization(self, name: str) -> Organization | None:
        return next((o for o in self.organizations if o.name == name), None)


def department_type(organization: str, department: str) -> str:
    return f"{organization}.{department}"


# ------------------------------------------------------------------ reading


def format_of(path: str, data: bytes = b"") -> WorkloadFormat:
    """By the file's suffix (.json, .toml, .wld); else by its first character:
    `{` is JSON, a Python name followed by `=` or a `#` comment is a `.wld`,
    anything else TOML."""
    suffix = Path(path).suffix.lower()
    for fmt in WorkloadFormat:
        if suffix == "." + fmt.value:
            return fmt
    head = data.lstrip()
    if head.startswith(b"{"):
        return WorkloadFormat.JSON
    if head.startswith(WLD_VARIABLE.encode()) and head[len(WLD_VARIABLE) :].lstrip()[:1] == b"=":
        return WorkloadFormat.WLD
    return WorkloadFormat.TOML


def read_workload(path: str, display: str | None = None) -> Workload:
    """Read, parse and check a workload file; PolicyError with every finding
    (warnings are not errors: `check_workload` returns them)."""
    from acm.inputfile import InputFileError, read_input

    file = display if display is not None else path
    try:  # the bounded reader: a FIFO or a device is refused, never waited on
        data = read_input(path, MAX_WORKLOAD_BYTES)
    except InputFileError as exc:
        if exc.too_large:
            raise PolicyError.single(
                "WLD002",
                f"the workload is larger than {MAX_WORKLOAD_BYTES} bytes; refused",
                Location(file),
            ) from None
        why = "No such file or directory" if exc.missing else f"it {exc.reason}"
        raise PolicyError.single(
            "WLD001", f"cannot read the workload: {why}", Location(file)
        ) from None
    return parse_workload(data, format_of(path, data), file)


def parse_workload(data: bytes, fmt: WorkloadFormat, file: str = "<workload>") -> Workload:
    """The workload in `data`, shape-checked (not yet `check_workload`ed)."""
    if len(data) > MAX_WORKLOAD_BYTES:
        raise PolicyError.single(
            "WLD002",
            f"the workload is larger than {MAX_WORKLOAD_BYTES} bytes; refused",
            Location(file),
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError.single(
            "WLD003", f"the workload is not UTF-8 text (byte {exc.start})", Location(file)
        ) from None
    if fmt is WorkloadFormat.WLD:
        return _from_wld(text, file)
    doc = _load_json(text, file) if fmt is WorkloadFormat.JSON else _load_toml(text, file)
    return _from_description(doc, file)


def _load_json(text: str, file: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError.single(
            "WLD003", f"not JSON: {exc.msg}", Location(file, exc.lineno, exc.colno)
        ) from None
    except RecursionError:
        raise _too_deep(file) from None


def _load_toml(text: str, file: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return _toml_failure(exc, file)
    except RecursionError:
        raise _too_deep(file) from None


def _toml_failure(exc: Exception, file: str) -> Any:
    # tomllib puts the place into the message: "... (at line 3, column 7)".
    message = str(exc)
    line = column = 0
    if message.endswith(")") and "(at line " in message:
        message, _, where = message.rpartition(" (at line ")
        line_text, _, column_text = where.rstrip(")").partition(", column ")
        if line_text.isdigit() and column_text.isdigit():
            line, column = int(line_text), int(column_text)
    raise PolicyError.single("WLD003", f"not TOML: {message}", Location(file, line, column))


def _too_deep(file: str, limit: int | None = None) -> PolicyError:
    """A document nested deeper than `limit` levels, or (None) too deep for
    the parser's recursion."""
    depth = f"more than {limit} levels" if limit is not None else "too deeply to be read"
    return PolicyError.single("WLD003", f"the workload is nested {depth}", Location(file))


def _from_wld(text: str, file: str) -> Workload:
    """ezPolicy's `ezpolicy = {...}`, taken as a literal: the file must be that
    one assignment (or the bare dict); any other statement, call, name or
    operator is refused before anything is evaluated."""
    try:
        module = ast.parse(text, file)
    except SyntaxError as exc:
        raise PolicyError.single(
            "WLD003",
            f"not a Python literal: {exc.msg}",
            Location(file, exc.lineno or 0, exc.offset or 0),
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise _too_deep(file) from None
    value = _wld_value(module, file)
    _check_literal_nodes(value, file)
    try:
        literal = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as exc:
        raise PolicyError.single(
            "WLD004", f"the .wld holds something other than a literal: {exc}", _at(file, value)
        ) from None
    return _from_wld_dict(literal, file)


def _at(file: str, node: ast.AST) -> Location:
    return Location(file, getattr(node, "lineno", 0), getattr(node, "col_offset", -1) + 1)


def _wld_value(module: ast.Module, file: str) -> ast.expr:
    body = module.body
    if len(body) != 1:
        where = _at(file, body[1]) if len(body) > 1 else Location(file)
        raise PolicyError.single(
            "WLD004",
            f"a .wld holds exactly one statement, `{WLD_VARIABLE} = {{...}}`; "
            f"this one holds {len(body)}",
            where,
        )
    stmt = body[0]
    if isinstance(stmt, ast.Expr):
        return stmt.value
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and stmt.targets[0].id == WLD_VARIABLE
    ):
        return stmt.value
    raise PolicyError.single(
        "WLD004", f"a .wld holds only `{WLD_VARIABLE} = {{...}}`", _at(file, stmt)
    )


# The nodes a dict literal of strings and lists is made of; anything else
# (a call, a name, an operator, a comprehension) is refused by name.
_LITERAL_NODES = (ast.Dict, ast.List, ast.Tuple, ast.Constant, ast.expr_context)


def _node_word(node: ast.AST) -> str:
    words = {ast.Call: "a call", ast.Name: "a name", ast.BinOp: "an operator"}
    return words.get(type(node), f"code ({type(node).__name__})")


def _check_literal_nodes(value: ast.expr, file: str) -> None:
    stack: list[tuple[ast.AST, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(file, MAX_DEPTH)
        if not isinstance(node, _LITERAL_NODES):
            raise PolicyError.single(
                "WLD004",
                f"the .wld holds {_node_word(node)} where only literals may stand "
                "(it is read, never run)",
                _at(file, node),
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _py2_bytes(text: str) -> str:
    """A later ezPolicy wrote names as Python 2 UTF-8 byte strings, whose repr
    (`'\\xc3\\xa4'`) Python 3 reads as Latin-1 characters: put them back."""
    if text.isascii() or any(ord(c) > 0xFF for c in text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return text


def _from_wld_dict(doc: object, file: str) -> Workload:
    shape = _Shape(file)
    if not isinstance(doc, dict):
        shape.fail("the .wld value", "a dict {'orgs': [...], 'cons': [...]}")
        raise shape.error()
    shape.keys(doc, "the .wld dict", required=("orgs", "cons"), optional=())
    orgs: list[Organization] = []
    for i, entry in enumerate(shape.seq(doc.get("orgs", []), "orgs")):
        where = f"orgs[{i}]"
        pair = shape.seq(entry, where, "[organization, [departments]]")
        if len(pair) != 2:
            shape.fail(where, "a pair [organization, [departments]]")
            continue
        name = shape.string(pair[0], f"{where}[0]")
        depts = shape.strings(pair[1], f"{where}[1]")
        orgs.append(Organization(_py2_bytes(name), tuple(_py2_bytes(d) for d in depts)))
    rules: list[Rule] = []
    for i, entry in enumerate(shape.seq(doc.get("cons", []), "cons")):
        where = f"cons[{i}]"
        pair = shape.seq(entry, where, "[rule name, [types]]")
        if len(pair) != 2:
            shape.fail(where, "a pair [rule name, [types]]")
            continue
        name = "" if pair[0] is None else shape.string(pair[0], f"{where}[0]")
        types = shape.strings(pair[1], f"{where}[1]")
        rules.append(Rule(_py2_bytes(name), tuple(_py2_bytes(t) for t in types)))
    return shape.result(Workload(tuple(orgs), tuple(rules)))


def _from_description(doc: object, file: str) -> Workload:
    shape = _Shape(file)
    if not isinstance(doc, dict):
        shape.fail("the workload", "an object with 'organizations' and 'rules'")
        raise shape.error()
    shape.keys(doc, "the workload", required=(), optional=("organizations", "rules", "version"))
    if "version" in doc and (type(doc["version"]) is not int or doc["version"] != FORMAT_VERSION):
        shape.fail("version", f"{FORMAT_VERSION} (the only version so far)")
    orgs: list[Organization] = []
    for i, entry in enumerate(shape.seq(doc.get("organizations", []), "organizations")):
        where = f"organizations[{i}]"
        if not isinstance(entry, dict):
            shape.fail(where, "an object with 'name' and 'departments'")
            continue
        shape.keys(entry, where, required=("name",), optional=("departments",))
        name = shape.string(entry.get("name", ""), f"{where}.name")
        depts = shape.strings(entry.get("departments", []), f"{where}.departments")
        orgs.append(Organization(name, tuple(depts)))
    rules: list[Rule] = []
    for i, entry in enumerate(shape.seq(doc.get("rules", []), "rules")):
        where = f"rules[{i}]"
        if not isinstance(entry, dict):
            shape.fail(where, "an object with 'name' and 'types'")
            continue
        shape.keys(entry, where, required=("types",), optional=("name",))
        name = shape.string(entry.get("name", ""), f"{where}.name")
        types = shape.strings(entry.get("types", []), f"{where}.types")
        rules.append(Rule(name, tuple(types)))
    return shape.result(Workload(tuple(orgs), tuple(rules)))


class _Shape:
    """Collects WLD005 findings while a parsed document is turned into records."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.found = Diagnostics()

    def fail(self, where: str, expected: str) -> None:
        self.found.add("WLD005", f"{where}: expected {expected}", Location(self.file))

    def keys(
        self, doc: dict[Any, Any], where: str, required: Sequence[str], optional: Sequence[str]
    ) -> None:
        for key in required:
            if key not in doc:
                self.fail(where, f"the key {key!r}")
        for key in doc:
            if key not in required and key not in optional:
                known = ", ".join(repr(k) for k in (*required, *optional))
                self.found.add(
                    "WLD005", f"{where}: unknown key {key!r} (known: {known})", Location(self.file)
                )

    def seq(self, value: object, where: str, expected: str = "a list") -> list[Any]:
        if isinstance(value, list | tuple):
            return list(value)
        self.fail(where, expected)
        return []

    def string(self, value: object, where: str) -> str:
        if isinstance(value, str):
            return value
        self.fail(where, "a string")
        return ""

    def strings(self, value: object, where: str) -> list[str]:
        """A list of strings, each checked where it stands (`where[j]`)."""
        return [self.string(item, f"{where}[{j}]") for j, item in enumerate(self.seq(value, where))]

    def error(self) -> PolicyError:
        return PolicyError(self.found)

    def result(self, workload: Workload) -> Workload:
        if self.found:
            raise self.error()
        return workload


# ------------------------------------------------------------------ checking


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an organization or department, or None."""
    from acm.lint.checks.names import bad_character

    if name == "":
        return "is empty"
    if "\n" in name or "\r" in name:
        return "holds a line break"
    problem = bad_character(name)
    return f"holds {problem}" if problem else None


def free_text_problem(text: str) -> str | None:
    """Why free text (a rule's name, which never reaches the `.map`; the
    header's Date) cannot go into the policy, or None: XML cannot carry
    control characters."""
    for ch in text:
        if (ord(ch) < 0x20 and ch != "\t") or 0xD800 <= ord(ch) <= 0xDFFF or ch in "\ufffe\uffff":
            return f"holds the control character U+{ord(ch):04X}"
    return None


def check_workload(workload: Workload, file: str = "") -> Diagnostics:
    """Every finding of ezPolicy's rules and of what the compiler needs.

    Errors: empty or unwritable names, siblings with one name, reserved names,
    two items giving one type, unknown types in a rule, a rule with an
    organization and one of its departments, a type twice in a rule.
    Warning: a rule with fewer than two types (generation skips it)."""
    found = Diagnostics()
    at = Location(file)

    def error(code: str, message: str) -> None:
        found.add(code, message, at)

    seen_orgs: set[str] = set()
    for i, org in enumerate(workload.organizations):
        where = f"organization {i + 1}"
        problem = name_problem(org.name)
        if problem:
            error(
                "WLD010" if org.name == "" else "WLD011",
                f"{where}: the name {org.name!r} {problem}",
            )
        elif org.name in (BOOTSTRAP, NULL_LABEL_NAME):
            error("WLD013", f"{where}: {org.name!r} is reserved for the generated policy")
        if org.name in seen_orgs:
            error("WLD012", f"{where}: a second organization named {org.name!r}")
        seen_orgs.add(org.name)
        seen_depts: set[str] = set()
        for j, dept in enumerate(org.departments):
            dwhere = f"department {j + 1} of {org.name!r}"
            problem = name_problem(dept)
            if problem:
                error(
                    "WLD010" if dept == "" else "WLD011", f"{dwhere}: the name {dept!r} {problem}"
                )
            if dept in seen_depts:
                error("WLD012", f"{dwhere}: a second department {dept!r} in {org.name!r}")
            seen_depts.add(dept)

    # A department's type has a dot, so only organizations can take the
    # reserved names (WLD013 above); dots in names can make two items clash.
    owners = _type_owners(workload)
    for type_name, items in owners.items():
        if len(set(items)) > 1:
            error("WLD014", f"the type {type_name!r} would come from " + " and from ".join(items))

    parent = _parents(workload)
    for i, rule in enumerate(workload.rules):
        where = f"rule {i + 1}" + (f" {rule.name!r}" if rule.name else "")
        problem = free_text_problem(rule.name)
        if problem:
            error("WLD011", f"{where}: its name {problem}")
        seen: set[str] = set()
        for type_name in rule.types:
            if type_name in seen:
                error("WLD022", f"{where}: holds {type_name!r} twice")
            seen.add(type_name)
            if type_name not in owners:
                error("WLD020", f"{where}: {type_name!r} is no organization or department")
        for type_name in rule.types:
            owner = parent.get(type_name)
            if owner is not None and owner in seen:
                error(
                    "WLD021",
                    f"{where}: holds the organization {owner!r} and its department "
                    f"{type_name!r}; a rule takes either",
                )
        if len(rule.types) < 2:
            found.add(
                "WLD023",
                f"{where}: has fewer than two types and is skipped",
                at,
                Severity.WARNING,
            )
    return found


def _type_owners(workload: Workload) -> dict[str, list[str]]:
    """Each generated type name -> the items that give it (`org X`, `X / D`)."""
    owners: dict[str, list[str]] = {}
    for org in workload.organizations:
        owners.setdefault(org.name, []).append(f"organization {org.name!r}")
        for dept in org.departments:
            owners.setdefault(department_type(org.name, dept), []).append(
                f"department {dept!r} of {org.name!r}"
            )
    return owners


def _parents(workload: Workload) -> dict[str, str]:
    """`Org.Dept` type -> `Org`."""
    return {
        department_type(org.name, d): org.name
        for org in workload.organizations
        for d in org.departments
    }


def checked(workload: Workload, file: str = "") -> Diagnostics:
    """`check_workload`, raising PolicyError with every finding when one is an error."""
    found = check_workload(workload, file)
    if found.has_errors:
        raise PolicyError(found)
    return found


# ------------------------------------------------------------------ writing


def as_document(workload: Workload) -> dict[str, Any]:
    """The JSON/TOML description as plain data."""
    return {
        "version": FORMAT_VERSION,
        "organizations": [
            {"name": o.name, "departments": list(o.departments)} for o in workload.organizations
        ],
        "rules": [{"name": r.name, "types": list(r.types)} for r in workload.rules],
    }


def to_json(workload: Workload) -> str:
    return json.dumps(as_document(workload), indent=2, ensure_ascii=False) + "\n"


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(ch, f"\\u{code:04X}"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_toml_string(i) for i in items) + "]"


def to_toml(workload: Workload) -> str:
    lines = [f"version = {FORMAT_VERSION}"]
    for org in workload.organizations:
        lines += ["", "[[organizations]]", f"name = {_toml_string(org.name)}"]
        lines.append(f"departments = {_toml_list(org.departments)}")
    for rule in workload.rules:
        lines += ["", "[[rules]]", f"name = {_toml_string(rule.name)}"]
        lines.append(f"types = {_toml_list(rule.types)}")
    return "\n".join(lines) + "\n"


def to_text(workload: Workload, fmt: WorkloadFormat) -> str:
    """The description in JSON or TOML (saving a `.wld` is not offered: it is
    ezPolicy's format, read for migration only)."""
    if fmt is WorkloadFormat.JSON:
        return to_json(workload)
    if fmt is WorkloadFormat.TOML:
        return to_toml(workload)
    raise PolicyError.single("WLD030", "workloads are saved as JSON or TOML, not as .wld")


# ------------------------------------------------------------------ editing
# ezPolicy's edit operations, as pure functions. Each raises PolicyError
# (WLD030, or the name codes) where ezPolicy showed an error dialog.


def _refuse(message: str, code: str = "WLD030") -> PolicyError:
    return PolicyError(Diagnostic(code, message))


def _check_new_name(name: str, siblings: Iterable[str], what: str) -> None:
    problem = name_problem(name)
    if problem:
        raise _refuse(f"the {what} name {name!r} {problem}", "WLD010" if not name else "WLD011")
    if name in siblings:
        raise _refuse(f"an item with the name {name!r} already exists", "WLD012")


def _org_index(workload: Workload, name: str) -> int:
    for i, org in enumerate(workload.organizations):
        if org.name == name:
            return i
    raise _refuse(f"no organization {name!r}")


def _replace_in_rules(rules: Iterable[Rule], renames: dict[str, str]) -> tuple[Rule, ...]:
    return tuple(r._replace(types=tuple(renames.get(t, t) for t in r.types)) for r in rules)


def _check_organization_name(name: str) -> None:
    """A department's type is `Org.Dept`: an organization named `A.B` would
    read as department B of A, so an edit refuses the dot."""
    if "." in name:
        raise _refuse(
            f"the organization name {name!r} holds a dot, which separates an organization "
            "from its department in type names",
            "WLD011",
        )


def add_organization(workload: Workload, name: str) -> Workload:
    """ezPolicy's "New Org": appended after the others."""
    _check_new_name(name, (o.name for o in workload.organizations), "organization")
    _check_organization_name(name)
    return workload._replace(organizations=(*workload.organizations, Organization(name)))


def add_department(workload: Workload, organization: str, name: str) -> Workload:
    """ezPolicy's "Add Department": appended to the organization's departments."""
    i = _org_index(workload, organization)
    org = workload.organizations[i]
    _check_new_name(name, org.departments, "department")
    orgs = list(workload.organizations)
    orgs[i] = org._replace(departments=(*org.departments, name))
    return workload._replace(organizations=tuple(orgs))


def rename_organization(workload: Workload, old: str, new: str) -> Workload:
    """Rename, carried into every rule: the organization's type and each of
    its `Org.Dept` types."""
    i = _org_index(workload, old)
    org = workload.organizations[i]
    _check_new_name(new, (o.name for o in workload.organizations if o.name != old), "organization")
    _check_organization_name(new)
    renames = {old: new} | {
        department_type(old, d): department_type(new, d) for d in org.departments
    }
    orgs = list(workload.organizations)
    orgs[i] = org._replace(name=new)
    return Workload(tuple(orgs), _replace_in_rules(workload.rules, renames))


def rename_department(workload: Workload, organization: str, old: str, new: str) -> Workload:
    """Rename, carried into every rule (`Org.Old` becomes `Org.New`)."""
    i = _org_index(workload, organization)
    org = workload.organizations[i]
    if old not in org.departments:
        raise _refuse(f"no department {old!r} in {organization!r}")
    _check_new_name(new, (d for d in org.departments if d != old), "department")
    orgs = list(workload.organizations)
    orgs[i] = org._replace(departments=tuple(new if d == old else d for d in org.departments))
    renames = {department_type(organization, old): department_type(organization, new)}
    return Workload(tuple(orgs), _replace_in_rules(workload.rules, renames))


def _drop_types(rules: Iterable[Rule], gone: set[str]) -> tuple[Rule, ...]:
    """Take `gone` out of every rule; a rule left empty goes too (ezPolicy
    kept one left with a single type, and generation skips it)."""
    kept = (r._replace(types=tuple(t for t in r.types if t not in gone)) for r in rules)
    return tuple(r for r in kept if r.types)


def delete_organization(workload: Workload, name: str) -> Workload:
    i = _org_index(workload, name)
    gone = set(workload.organizations[i].types())
    orgs = workload.organizations[:i] + workload.organizations[i + 1 :]
    return Workload(orgs, _drop_types(workload.rules, gone))


def delete_department(workload: Workload, organization: str, name: str) -> Workload:
    i = _org_index(workload, organization)
    org = workload.organizations[i]
    if name not in org.departments:
        raise _refuse(f"no department {name!r} in {organization!r}")
    orgs = list(workload.organizations)
    orgs[i] = org._replace(departments=tuple(d for d in org.departments if d != name))
    gone = {department_type(organization, name)}
    return Workload(tuple(orgs), _drop_types(workload.rules, gone))


def _check_selection(workload: Workload, selection: Sequence[str], already: Sequence[str]) -> None:
    """ezPolicy's selection checks: known types, and never an organization
    together with one of its departments (in the selection or the rule)."""
    if not selection:
        raise _refuse("select at least one organization or department first")
    known = set(workload.types())
    for t in selection:
        if t not in known:
            raise _refuse(f"{t!r} is no organization or department", "WLD020")
    parent = _parents(workload)
    together = [*already, *selection]
    for t in together:
        org = parent.get(t)
        if org is not None and org in together:
            raise _refuse(
                f"invalid selection [{org}, {t}]: a rule holds either an organization "
                "or specific departments of it",
                "WLD021",
            )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def add_rule(workload: Workload, name: str, selection: Sequence[str]) -> Workload:
    """ezPolicy's "Create run-time exclusion rule from selection" (appended;
    an empty name is allowed and written as `RER`)."""
    problem = free_text_problem(name)
    if problem:
        raise _refuse(f"the rule name {problem}", "WLD011")
    _check_selection(workload, selection, ())
    types = _unique(selection)
    for i, rule in enumerate(workload.rules):
        if set(rule.types) == set(types):
            raise _refuse(f"rule {i + 1} already holds exactly these types", "WLD012")
    return workload._replace(rules=(*workload.rules, Rule(name, types)))


def _rule_at(workload: Workload, index: int) -> Rule:
    if not 0 <= index < len(workload.rules):
        raise _refuse(f"no rule number {index + 1}")
    return workload.rules[index]


def _with_rule(workload: Workload, index: int, rule: Rule | None) -> Workload:
    rules = list(workload.rules)
    if rule is None:
        del rules[index]
    else:
        rules[index] = rule
    return workload._replace(rules=tuple(rules))


def add_to_rule(workload: Workload, index: int, selection: Sequence[str]) -> Workload:
    """ezPolicy's "Add": types already in the rule are ignored."""
    rule = _rule_at(workload, index)
    _check_selection(workload, selection, rule.types)
    return _with_rule(workload, index, rule._replace(types=_unique([*rule.types, *selection])))


def remove_from_rule(workload: Workload, index: int, types: Sequence[str]) -> Workload:
    """ezPolicy's "Del". A rule left with fewer than two types stays (ezPolicy
    asked; a caller that wants it gone calls `delete_rule`)."""
    rule = _rule_at(workload, index)
    drop = set(types)
    return _with_rule(
        workload, index, rule._replace(types=tuple(t for t in rule.types if t not in drop))
    )


def rename_rule(workload: Workload, index: int, name: str) -> Workload:
    problem = free_text_problem(name)
    if problem:
        raise _refuse(f"the rule name {problem}", "WLD011")
    return _with_rule(workload, index, _rule_at(workload, index)._replace(name=name))


def delete_rule(workload: Workload, index: int) -> Workload:
    _rule_at(workload, index)
    return _with_rule(workload, index, None)
