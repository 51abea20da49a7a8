"""The Chinese Wall guard: a small Python 3 program, written beside the
module, that the toolstack runs before `xl create CONFIG`.

FLASK decisions keep no state, so the Chinese Wall (which depends on the
domains running now) cannot live in the policy. The guard reads the running
domains' labels (`xl list -Z`), adds them up as ACM's create hook did
(enforcement.md: a running domain adds one to every type of every conflict
set it meets that it does not hold), and refuses a domain whose Chinese Wall
type is then blocked, with the message `xm create` gives. It reads the
config's `seclabel` line as text (the config is never run). The table it
needs is embedded as JSON; the program itself is the same for every policy.
"""

from __future__ import annotations

import json
import re
from typing import Any

from acm.flask.naming import DOM0_TYPE
from acm.flask.plan import FlaskPlan

_PROGRAM = r'''#!/usr/bin/env python3
"""Chinese Wall guard for the FLASK policy exported from ACM policy %(policy)s.

usage: %(name)s CONFIG        check the domain config CONFIG (its seclabel line)
       %(name)s --label CTX   check a security context or type
Run it before `xl create CONFIG`; exit status 0: permitted, 1: refused,
2: the check could not be made. `xl` is taken from PATH (or $XL).
"""
import json, os, re, subprocess, sys

TABLE = json.loads(%(table)r)
SECLABEL = re.compile(r"^[ \t]*seclabel[ \t]*=[ \t]*(['\"])([^'\"\r\n]*)\1", re.M)


def fail(message, status):
    sys.stderr.write("Error: " + message + "\n")
    sys.exit(status)


def type_of(context):
    parts = context.strip().split(":")
    return parts[2] if len(parts) >= 3 else parts[0]


def label_of_config(path):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as exc:
        fail("cannot read %%s: %%s" %% (path, exc.strerror), 2)
    found = SECLABEL.findall(data.decode("utf-8", "replace"))
    return found[-1][1] if found else "system_u:system_r:domU_t"


def running():
    xl = os.environ.get("XL", "xl")
    try:
        out = subprocess.run([xl, "list", "-Z"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        fail("cannot run '%%s list -Z': %%s" %% (xl, exc), 2)
    if out.returncode != 0:
        fail("'%%s list -Z' failed: %%s" %% (xl, out.stderr.strip()), 2)
    domains = []
    for line in out.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[1].isdigit():
            domains.append((fields[0], int(fields[1]), type_of(fields[-1])))
    return domains


def main(argv):
    if len(argv) == 2 and argv[0] == "--label":
        new = type_of(argv[1])
    elif len(argv) == 1 and not argv[0].startswith("-"):
        new = type_of(label_of_config(argv[0]))
    else:
        sys.stderr.write(__doc__)
        return 2
    types, sets = TABLE["types"], TABLE["conflict_sets"]
    if new in TABLE["never"]:
        fail("Permission denied: label '%%s' can never run under policy %%s (%%s)"
             %% (TABLE["names"].get(new, new), TABLE["policy"], TABLE["never"][new]), 1)
    mine = types.get(new)
    if not mine:
        return 0  # no Chinese Wall type: nothing to check
    aggregate = {}
    for name, domid, t in running():
        held = set(types.get(t, ()))
        for index, members in enumerate(sets):
            if held & set(members):
                for u in members:
                    if u not in held:
                        aggregate.setdefault(u, []).append((index, name, domid))
    for t in mine:
        if t in aggregate:
            index, name, domid = aggregate[t][0]
            where = (t, TABLE["set_names"][index], name, domid)
            fail("Permission denied: Chinese Wall conflict in type '%%s' (conflict set %%s) "
                 "with running domain '%%s' (id %%d)" %% where, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def guard_table(plan: FlaskPlan) -> dict[str, Any]:
    """What the guard needs: each domain type's Chinese Wall types (Domain-0's
    are the bootstrap label's), the conflict sets, the labels that never run."""
    policy = plan.policy
    types: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    never: dict[str, str] = {}
    for vm in plan.vms:
        if not vm.declared:
            continue
        names[vm.flask_type] = vm.label.name
        if vm.startable:
            types[vm.flask_type] = policy.chwall_names(vm.label.chwall)
        else:
            never[vm.flask_type] = vm.why_not
    if plan.bootstrap is not None:
        types[DOM0_TYPE] = policy.chwall_names(plan.bootstrap.label.chwall)
    return {
        "policy": policy.name,
        "types": types,
        "names": names,
        "never": never,
        "conflict_sets": [policy.chwall_names(c) for c in policy.conflict_sets],
        "set_names": [policy.conflict_set_title(c) for c in range(len(policy.conflict_sets))],
    }


def guard_file_name(plan: FlaskPlan) -> str:
    return f"{plan.module}-cw-guard"


def guard_program(plan: FlaskPlan) -> str:
    table = json.dumps(guard_table(plan), sort_keys=True, separators=(",", ":"))
    shown = re.sub(r"[^A-Za-z0-9._-]", "?", plan.policy.name)  # it sits in a docstring
    return _PROGRAM % {"policy": shown, "name": guard_file_name(plan), "table": table}
