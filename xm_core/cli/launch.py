"""The `xm` console script.

`xm makepolicy` must start in at most twice the time of a bare interpreter
(issue 2), `xm list` in two and a half (issue 23), and importing click
alone costs more than the interpreter does. So the plain forms of those
two commands,

    xm [--root DIR] makepolicy [-d DIR] POLICY
    xm [--root DIR] list

are recognised here and run without loading click. Anything else (help,
`--debug`, another command, an option of `list`, a value or argument that
starts with `-`, a repeated or unknown option, a missing argument) goes to
the click command line in `xm_core.cli.commands`, which stays the one
definition of every command. Both paths call the same functions (the host
paths of `xm_core.cli.command_paths`, the host's command, its renderer) and
handle errors alike; tests/test_launch.py checks that they answer alike.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself is not loaded for this
if TYPE_CHECKING:
    from typing import NoReturn

# makepolicy's arguments as click would hand them over: (root, policy_dir, policy).
MakePolicyCall = tuple[str | None, str | None, str]
# list's: (root,).
ListCall = tuple[str | None]


def _command_at(args: list[str]) -> tuple[str | None, int] | None:
    """(the --root option or None, where the command word is) of a command
    line whose global options are at most one plain `--root DIR`, else None."""
    root: str | None = None
    pos = 0
    while pos < len(args) and args[pos].startswith("--root"):
        if root is not None:
            return None
        token = args[pos]
        if token.startswith("--root="):
            root = token[len("--root=") :]
            pos += 1
        elif token == "--root" and pos + 1 < len(args):
            root = args[pos + 1]
            pos += 2
        else:
            return None
        if root.startswith("-") or not root:  # `--root ""` is refused by click's path
            return None
    return root, pos


def makepolicy_call(args: list[str]) -> MakePolicyCall | None:
    """The arguments of a plain `xm makepolicy` command line, or None for
    every other command line (which click then parses)."""
    found = _command_at(args)
    if found is None:
        return None
    root, pos = found
    if args[pos : pos + 1] != ["makepolicy"]:
        return None
    policy_dir: str | None = None
    policy: str | None = None
    rest = iter(args[pos + 1 :])
    for token in rest:
        if token == "-d" and policy_dir is None:
            policy_dir = next(rest, None)
            if policy_dir is None or policy_dir.startswith("-"):
                return None
        elif token.startswith("-") or policy is not None:
            return None
        else:
            policy = token
    if policy is None:
        return None
    return (root, policy_dir, policy)


def run_makepolicy(call: MakePolicyCall, retain: list[object] | None = None) -> int:
    """What the click command `makepolicy` does, with its error handling;
    returns the exit status. `retain`: see `make_policy`."""
    from acm.errors import PolicyError
    from xm_core import render
    from xm_core.errors import XmError
    from xm_core.host.policy import make_policy_under

    root, policy_dir, policy = call
    try:
        # `--no-wait` is not a plain form: click takes that command line.
        result = make_policy_under(
            root,
            policy,
            policy_dir,
            True,
            lambda: render.compile_waits(policy),
            retain,
            render.new_root,
        )
    except (PolicyError, XmError, OSError) as exc:
        return render.failure(exc)
    except KeyboardInterrupt:
        render.err("\nAborted!")  # as click answers an interrupt
        return 1
    render.warnings(result.warnings)
    return 0


def list_call(args: list[str]) -> ListCall | None:
    """The arguments of a plain `xm list` command line (no option, no
    domain), or None for every other command line."""
    found = _command_at(args)
    if found is None:
        return None
    root, pos = found
    return (root,) if args[pos:] == ["list"] else None


def run_list(call: ListCall) -> int:
    """What the click command `list` does without options, with its error
    handling; returns the exit status."""
    from acm.errors import PolicyError
    from xm_core import render
    from xm_core.cli import command_paths
    from xm_core.errors import XmError
    from xm_core.host.domains import list_domains
    from xm_core.render.domains import domain_list

    (root,) = call
    try:
        domain_list(list_domains(command_paths(root, False)), "brief", False)
    except (PolicyError, XmError, OSError) as exc:
        return render.failure(exc, False)
    except KeyboardInterrupt:
        render.err("\nAborted!")  # as click answers an interrupt
        return 1
    return 0


def end_process(status: int) -> NoReturn:
    """End the process now, once what was printed is flushed: the objects of
    a large compile (a parse tree of 400,000 nodes, 250,000 Python objects)
    are not freed one by one, the kernel takes the memory back at once. A
    failed flush ends with status 120, as the interpreter's own exit does."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            status = 120
    os._exit(status)


def main(argv: list[str] | None = None) -> None:
    """The console script. Given `argv` (tests), it ends with SystemExit like
    any click command; run as the process's own command line, a plain
    `makepolicy` ends the process with `end_process` instead."""
    args = sys.argv[1:] if argv is None else argv
    call = makepolicy_call(args)
    listing = list_call(args) if call is None else None
    if call is None and listing is None:
        from xm_core.cli.commands import main as click_main

        click_main(args)
        return
    from xm_core.render import quiet_on_closed_pipe

    quiet_on_closed_pipe()
    if listing is not None:
        status = run_list(listing)
        if argv is not None:
            sys.exit(status)
        end_process(status)
    assert call is not None
    if argv is not None:
        sys.exit(run_makepolicy(call))
    import gc

    # Nothing is freed before the exit, so there is nothing to collect: a
    # collection would only scan the compile's objects once more (10 ms).
    gc.disable()
    retained: list[object] = []  # alive until the process ends
    status = run_makepolicy(call, retained)
    end_process(status)
