"""All output of `xm`: text in Xen's formats and `--json`, in one place.

Submodules render one area each (`render.policy`, ...); this module holds
what they share: error lines and JSON emission.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from acm.errors import Diagnostic, Diagnostics, PolicyError, escape_controls
from xm_core.errors import XmError


def printable(text: str) -> str:
    """One value on one line: every control character escaped (a label read
    from a config may hold a line break or a terminal escape)."""
    return escape_controls(text)


def out(text: str = "") -> None:
    text = escape_controls(text, keep="\n\t")  # what callers did not escape already
    sys.stdout.write(text + "\n" if not text.endswith("\n") else text)


def err(text: str) -> None:
    text = escape_controls(text, keep="\n\t")
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def emit_json(doc: Any) -> None:
    import json  # only the --json paths pay for it

    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def xm_error(exc: XmError, quoted: bool = True) -> None:
    """Xen's forms: `Error: '<message>'` (the repr of the message) for the
    access control module's errors, `Error: <message>` for the others."""
    err(f"Error: {exc.message!r}" if quoted else f"Error: {exc.message}")
    for line in exc.details:
        err(line)


# Text output shows at most this many findings of one file, then "and N more"
# (all are still found, and all are in --json / SARIF).
MAX_FINDINGS_PER_FILE = 100


def capped(
    items: Iterable[Diagnostic],
    line: Callable[[Diagnostic], str],
    most: int = MAX_FINDINGS_PER_FILE,
) -> Iterator[str]:
    """`line(d)` of each finding, at most `most` of one file; then for each
    such file a line saying how many more there were."""
    counts: dict[str, int] = {}
    for d in items:
        count = counts[d.location.file] = counts.get(d.location.file, 0) + 1
        if count <= most:
            yield line(d)
    for file, count in counts.items():
        if count > most:
            more = count - most
            yield f"{escape_controls(file) or '<input>'}: ... and {more} more findings"


def policy_error(exc: PolicyError) -> None:
    """Every finding of a failed stage, one a line: `file:line:col: error CODE: message`.
    A failure that has no place in a file prints like any `xm` error."""
    items = list(exc.diagnostics)
    if all(not d.location.file for d in items):
        for d in items:
            if d.is_error:
                err(f"Error: {d.message!r}")
        return
    for text in capped(items, Diagnostic.format):
        err(text)


USAGE_CODE = "ACM005"  # an invalid policy name


def failure(exc: PolicyError | XmError | OSError, acm_command: bool = True) -> int:
    """Print a failed command's error the way every `xm` command does and
    return its exit status (2 for usage errors, else 1). In one of Xen's
    ACM subcommands (`acm_command`) every error is quoted, elsewhere only
    the access control module's own (`XmError.acm`)."""
    if isinstance(exc, PolicyError):
        policy_error(exc)
        # A malformed policy name (ACM005) is the command line's mistake.
        codes = exc.diagnostics.codes()
        return 2 if codes and all(code == USAGE_CODE for code in codes) else 1
    if isinstance(exc, XmError):
        xm_error(exc, quoted=acm_command or exc.acm)
        return exc.exit_code
    text = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    xm_error(XmError(text), quoted=acm_command)
    return 1


def warnings(found: Diagnostics) -> None:
    """Warnings of a successful stage go to stderr; stdout stays silent."""
    for text in capped(found, Diagnostic.format):
        err(text)


def new_root(root: Path) -> None:
    """Said once when a command created the host root it was given."""
    err(f"Created host root '{root}', installed like a Xen host.")


def compile_waits(policy: str) -> None:
    """Said once a makepolicy has waited a second for another one's lock."""
    err(f"Waiting for another makepolicy of '{policy}' to finish...")


def quiet_on_closed_pipe() -> None:
    """`xm list | head` ends like any Unix tool when head closes the pipe:
    killed by SIGPIPE, with no error message or traceback."""
    # Through `_signal`, the C module that `signal` wraps: importing `signal`
    # makes an enum member of every signal number (about 1 ms, a thirtieth
    # of the start-up budget of `xm makepolicy`).
    try:
        import _signal as signals  # type: ignore[import-not-found]
    except ImportError:  # an interpreter without it
        import signal as signals

    signals.signal(signals.SIGPIPE, signals.SIG_DFL)
