"""`xm console DOMAIN`: print a domain's console log and follow it, like
`tail -f`, until Ctrl-] detaches or the domain is gone."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import termios
import tty
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from xm_core.host.console import ConsoleFollower, read_console
from xm_core.render import err
from xm_core.render import terminal as render

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths
    from xm_core.host.store import ConsoleLine

DETACH = 0x1D  # Ctrl-], as Xen's console client (and telnet) detach
POLL_SECONDS = 0.2


@contextlib.contextmanager
def _keys_one_by_one(fd: int) -> Iterator[None]:
    """The terminal hands over every key at once, unechoed (cbreak mode:
    Ctrl-C still interrupts); restored on the way out, whatever happens."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _write(lines: list[ConsoleLine], as_json: bool, stdout: TextIO) -> None:
    for line in lines:
        stdout.write(render.console_json_line(line) if as_json else render.console_line(line))
        stdout.write("\n")
    stdout.flush()


def run_console(
    paths: HostPaths,
    ref: str,
    *,
    follow: bool = True,
    as_json: bool = False,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Show DOMAIN's console log. It is followed only when asked and stdin is
    a terminal (a script gets the log and the command ends). Returns the
    exit status."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    log = read_console(paths, ref)
    following = follow and stdin.isatty()
    if not following:
        render.console_log(log, as_json)
        return 0
    _write(log.lines, as_json, stdout)
    follower = ConsoleFollower(paths, log)
    fd = stdin.fileno()
    # a reader that goes away (`| head`) must not kill us before the terminal
    # is restored: the write fails instead, and the console closes
    sigpipe = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        with _keys_one_by_one(fd):
            # said once the keys are read one by one: a Ctrl-] typed now detaches
            err(f"Connected to the console of '{log.domain.name}' (Ctrl-] to detach).")
            while True:
                readable, _, _ = select.select([fd], [], [], POLL_SECONDS)
                if readable and DETACH in os.read(fd, 64):
                    err("Detached.")
                    return 0
                lines, dom = follower.poll()
                _write(lines, as_json, stdout)
                if dom is None:
                    err(f"Domain '{log.domain.name}' is gone; console closed.")
                    return 0
    except KeyboardInterrupt:
        err("Detached.")
        return 0
    except BrokenPipeError:
        # nothing more can be written; keep the interpreter's last flush quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return 0
    finally:
        signal.signal(signal.SIGPIPE, sigpipe)
        follower.close()
