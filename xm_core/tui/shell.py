"""`xm shell`: an `xm>` prompt. Each line is split like a shell would
(shlex) and run as `xm LINE` by the function the caller hands in, so this
module never imports the command line. GNU readline (or libedit) gives the
history (kept in a file) and Tab completion of subcommands and domain names.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from xm_core.render import err

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths

PROMPT = "xm> "
HISTORY_LENGTH = 1000
LEAVE = ("exit", "quit")
BUILTINS = (*LEAVE, "help")

RunLine = Callable[[list[str]], int]


def domain_names(paths: HostPaths) -> list[str]:
    """The domains' names, for completion (none when the host state cannot
    be read: completion must never fail the prompt)."""
    from xm_core.errors import XmError
    from xm_core.host.store import open_store

    try:
        with open_store(paths) as store:
            return [d.name for d in store.domains()]
    except XmError:
        return []


class Completer:
    """readline's completer: the first word from the subcommands, later
    words from the domain names (read afresh for each completion)."""

    def __init__(self, commands: Sequence[str], names: Callable[[], list[str]]) -> None:
        self.commands = sorted({*commands, *BUILTINS})
        self.names = names
        self.matches: list[str] = []

    def candidates(self, line: str, text: str) -> list[str]:
        before = line[: len(line) - len(text)] if line.endswith(text) else line
        words = before.split()
        if words and words[0] == "xm":
            words = words[1:]
        pool = self.commands if not words else self.names()
        return sorted(w for w in pool if w.startswith(text))

    def complete(self, text: str, state: int) -> str | None:
        if state == 0:
            import readline

            self.matches = self.candidates(
                readline.get_line_buffer()[: readline.get_endidx()], text
            )
        return self.matches[state] + " " if state < len(self.matches) else None


def _setup_readline(completer: Completer, history: Path | None) -> Callable[[], None]:
    """Completion and history; returns what saves the history."""
    try:
        import readline
    except ImportError:  # no readline on this Python: a plain prompt
        return _nothing
    readline.set_completer(completer.complete)
    readline.set_completer_delims(" \t\n")
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    readline.set_history_length(HISTORY_LENGTH)
    if history is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(history)

    def save() -> None:
        if history is not None:
            with contextlib.suppress(OSError):
                history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(history)

    return save


def run_shell(
    run_line: RunLine,
    commands: Sequence[str],
    names: Callable[[], list[str]],
    history: Path | None,
    stdin: TextIO | None = None,
) -> int:
    """The prompt loop. Interactive on a terminal; otherwise each line of
    stdin is run without a prompt (a script). Ends on `exit`, `quit` or
    end of input, with the status of the last command run."""
    stdin = stdin or sys.stdin
    interactive = stdin.isatty()
    save_history: Callable[[], None] = _nothing
    if interactive:
        save_history = _setup_readline(Completer(commands, names), history)
    status = 0
    try:
        while True:
            try:
                line = input(PROMPT) if interactive else _read_line(stdin)
            except EOFError:
                if interactive:
                    sys.stdout.write("\n")
                break
            except KeyboardInterrupt:
                sys.stdout.write("\n")  # as a shell does: a new prompt
                continue
            words = _split(line)
            if words is None:
                status = 2
                continue
            if words and words[0] == "xm":
                words = words[1:]
            if not words:
                continue
            if words[0] in LEAVE:
                break
            if words[0] == "shell":
                err("Error: 'already in the xm shell'")
                status = 1
                continue
            try:
                status = run_line(["--help"] if words == ["help"] else words)
            except KeyboardInterrupt:  # Ctrl-C stops the command, not the shell
                sys.stdout.write("\n")
                status = 130
            sys.stdout.flush()
    finally:
        save_history()
    return status


def _nothing() -> None:
    pass


def _read_line(stdin: TextIO) -> str:
    line = stdin.readline()
    if not line:
        raise EOFError
    return line


# shlex builds each word a character at a time, in time quadratic in its
# length: a line of megabytes (a pasted file) would hold the prompt for minutes.
MAX_LINE_CHARS = 64 * 1024


def _split(line: str) -> list[str] | None:
    if len(line) > MAX_LINE_CHARS:
        err(f"Error: 'line longer than {MAX_LINE_CHARS} characters; not run'")
        return None
    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        err(f"Error: {str(exc)!r}")
        return None
