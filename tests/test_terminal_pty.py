"""The terminal programs as a person uses them: each runs in a
pseudo-terminal (Python's pty module: no system package needed), the test
reads the screen's bytes and types keys."""

from __future__ import annotations

import fcntl
import functools
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.hosttools import loaded_host, xm_run

WAIT_S = 60.0  # generous: the CI machine is shared
DETACH = b"\x1d"  # Ctrl-]
UP = b"\x1b[A"


def _take_the_terminal() -> None:
    """In the child, after setsid: the pty becomes its controlling terminal,
    so Ctrl-C sends SIGINT as in a real terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A program in a pty of 40 x 200 characters, as `xm --root ROOT ARGS`."""

    def __init__(self, root: Path, *args: str) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        env = {**os.environ, "TERM": "xterm", "LINES": "40", "COLUMNS": "200"}
        env.pop("XM_ROOT", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xm_core", "--root", str(root), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=REPO,
            start_new_session=True,
            preexec_fn=_take_the_terminal,
        )
        os.close(slave)
        self.master = master
        self.seen = b""

    def _read(self, timeout: float) -> bool:
        readable, _, _ = select.select([self.master], [], [], timeout)
        if not readable:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the program ended and closed the pty
            return False
        self.seen += chunk
        return bool(chunk)

    def expect(self, pattern: bytes, after: int = 0) -> int:
        """Read until `pattern` (a regex) shows up after offset `after`;
        the offset just past it."""
        deadline = time.monotonic() + WAIT_S
        while True:
            found = re.compile(pattern).search(self.seen, after)
            if found:
                return found.end()
            if time.monotonic() > deadline or not self._read(0.1):
                raise AssertionError(f"{pattern!r} never appeared; the screen had:\n{self.seen!r}")

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self) -> int:
        """The exit status, reading the rest of the output meanwhile."""
        deadline = time.monotonic() + WAIT_S
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; the screen had:\n{self.seen!r}")
            self._read(0.1)
        while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
            pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


@functools.cache
def _xterm_known() -> bool:
    probe = "import curses; curses.setupterm('xterm', 1)"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def need_curses() -> None:
    pytest.importorskip("curses", reason="this Python has no curses module")
    if not _xterm_known():
        pytest.skip("no terminfo entry for xterm on this machine (package ncurses-base)")


def need_readline() -> None:
    pytest.importorskip("readline", reason="this Python has no readline module")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = loaded_host(tmp_path / "root").root
    assert xm_run(root, "create", "bank").code == 0
    assert xm_run(root, "create", "boinc").code == 0
    return root


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for term in started:
        term.close()


def start(terminals: list[Terminal], root: Path, *args: str) -> Terminal:
    term = Terminal(root, *args)
    terminals.append(term)
    return term


# ------------------------------------------------------------------ top


def test_top_shows_every_domain_and_quits_on_q(root: Path, terminals: list[Terminal]) -> None:
    need_curses()
    term = start(terminals, root, "top", "-d", "0.5")
    at = term.expect(rb"xm top - \d\d:\d\d:\d\d")
    for shown in (rb"Domain-0", rb"bank", rb"dom_HomeBanking", rb"boinc", rb"dom_BoincClient"):
        term.expect(shown, at)
    term.expect(rb"3 domains: 3 running")
    term.expect(rb"Chinese Wall running types: cw_SystemManagement \(1\), cw_Sensitive \(1\)")
    # it refreshes: a domain created meanwhile shows up without a key
    assert xm_run(root, "create", "storage").code == 0
    term.expect(rb"dom_StorageDomain", len(term.seen))
    term.type(b"q")
    assert term.wait() == 0


def test_top_stops_after_its_iterations(root: Path, terminals: list[Terminal]) -> None:
    need_curses()
    term = start(terminals, root, "top", "-i", "2", "-d", "0.1")
    term.expect(rb"dom_HomeBanking")
    assert term.wait() == 0


# ------------------------------------------------------------------ console


def test_console_follows_until_ctrl_bracket(root: Path, terminals: list[Terminal]) -> None:
    term = start(terminals, root, "console", "bank")
    term.expect(rb"Domain 'bank' \(id 1\) created")
    term.expect(rb"Ctrl-\] to detach")
    mark = len(term.seen)
    assert xm_run(root, "sysrq", "bank", "s").code == 0
    term.expect(rb"SysRq : Emergency Sync", mark)
    term.type(b"x")  # other keys go nowhere: no guest reads them
    term.type(DETACH)
    term.expect(rb"Detached\.")
    assert term.wait() == 0


def test_console_ends_when_the_domain_is_gone(root: Path, terminals: list[Terminal]) -> None:
    term = start(terminals, root, "console", "boinc")
    term.expect(rb"Ctrl-\] to detach")
    assert xm_run(root, "destroy", "boinc").code == 0
    term.expect(rb"Domain 'boinc' \(id 2\) destroyed")
    term.expect(rb"Domain 'boinc' is gone; console closed\.")
    assert term.wait() == 0


def test_console_q_does_not_follow(root: Path, terminals: list[Terminal]) -> None:
    term = start(terminals, root, "console", "-q", "bank")
    term.expect(rb"vif eth0 connected")
    assert term.wait() == 0
    assert b"detach" not in term.seen


def test_create_c_attaches_the_console(root: Path, terminals: list[Terminal]) -> None:
    term = start(terminals, root, "create", "-c", "storage")
    term.expect(rb"Started domain storage")
    term.expect(rb"Domain 'storage' \(id 3\) created: 128 MiB")
    term.expect(rb"Ctrl-\] to detach")
    term.type(DETACH)
    assert term.wait() == 0


# ------------------------------------------------------------------ shell


def test_shell_completion_and_history(root: Path, terminals: list[Terminal]) -> None:
    need_readline()
    term = start(terminals, root, "shell")
    at = term.expect(rb"xm> ")
    term.type(b"list\r")
    at = term.expect(rb"boinc\s+2\s+64", at)
    at = term.expect(rb"xm> ", at)
    # Tab completes a domain name: `bo` alone names no domain
    term.type(b"domid bo\t")
    at = term.expect(rb"inc ", at)
    term.type(b"\r")
    at = term.expect(rb"\r\n2\r\n", at)
    at = term.expect(rb"xm> ", at)
    # ... and a subcommand
    term.type(b"dmes\t\r")
    at = term.expect(rb"acm_set_policy: policy 'example.chwall_ste.client_v1' loaded", at)
    at = term.expect(rb"xm> ", at)
    # up-arrow walks back: the line before last is `domid boinc`, whose answer is 2
    term.type(UP + UP + b"\r")
    at = term.expect(rb"\r\n2\r\nxm> ", at)
    term.type(b"exit\r")
    assert term.wait() == 0
    history = (root / "var/lib/xm-acm/shell_history").read_text().splitlines()
    assert history == ["list", "domid boinc ", "dmesg ", "domid boinc ", "exit"]


def test_shell_ends_on_ctrl_d_and_keeps_history(root: Path, terminals: list[Terminal]) -> None:
    need_readline()
    term = start(terminals, root, "shell")
    term.expect(rb"xm> ")
    term.type(b"domname 1\r")
    term.expect(rb"\r\nbank\r\nxm> ")
    term.type(b"\x04")
    assert term.wait() == 0
    # a new shell reads the history back: the up arrow brings the old line
    again = start(terminals, root, "shell")
    at = again.expect(rb"xm> ")
    again.type(UP + b"\r")
    at = again.expect(rb"\r\nbank\r\nxm> ", at)
    again.type(b"\x04")
    assert again.wait() == 0


def test_console_json_follows_line_by_line(root: Path, terminals: list[Terminal]) -> None:
    term = start(terminals, root, "console", "--json", "boinc")
    term.expect(rb"Ctrl-\] to detach")
    mark = len(term.seen)
    assert xm_run(root, "sysrq", "boinc", "h").code == 0
    end = term.expect(
        rb'\{"seq": \d+, "time": [0-9.]+, "domid": 2, "text": "SysRq : HELP"\}\r\n', mark
    )
    assert end > mark
    term.type(DETACH)
    assert term.wait() == 0


def test_top_sort_key(root: Path, terminals: list[Terminal]) -> None:
    need_curses()
    term = start(terminals, root, "top", "-d", "30")
    at = term.expect(rb"\[sort: id, delay: 30s\]")
    term.type(b"s")
    # curses redraws only what changed on the status line
    term.expect(rb"name, delay: 30s\]", at)
    term.type(b"\x1b")  # Esc quits too
    assert term.wait() == 0


def test_console_and_top_inside_the_shell(root: Path, terminals: list[Terminal]) -> None:
    term = start(terminals, root, "shell")
    at = term.expect(rb"xm> ")
    term.type(b"console bank\r")
    at = term.expect(rb"Ctrl-\] to detach", at)
    term.type(DETACH)
    at = term.expect(rb"Detached\.\r\nxm> ", at)
    term.type(b"domid bank\r")
    at = term.expect(rb"\r\n1\r\nxm> ", at)
    term.type(b"exit\r")
    assert term.wait() == 0


def test_ctrl_c_quits_top_and_stops_only_the_command_in_the_shell(
    root: Path, terminals: list[Terminal]
) -> None:
    need_curses()
    top = start(terminals, root, "top", "-d", "30")
    top.expect(rb"dom_HomeBanking")
    top.type(b"\x03")
    assert top.wait() == 0
    assert b"Traceback" not in top.seen
    term = start(terminals, root, "shell")
    at = term.expect(rb"xm> ")
    term.type(b"console bank\r")
    at = term.expect(rb"Ctrl-\] to detach", at)
    term.type(b"\x03")
    at = term.expect(rb"Detached\.\r\nxm> ", at)
    term.type(b"exit\r")
    assert term.wait() == 0


def test_a_followed_console_piped_into_head_restores_the_terminal(
    root: Path, tmp_path: Path
) -> None:
    """`xm console bank | head -1`: when the reader goes away the console
    closes, and the terminal it put in cbreak mode gets its modes back."""
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(
        [sys.executable, "-m", "xm_core", "--root", str(root), "console", "bank"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert b"created" in proc.stdout.readline()
        assert b"Ctrl-]" in proc.stderr.readline()  # cbreak mode is on now
        assert termios.tcgetattr(slave)[3] & termios.ICANON == 0
        proc.stdout.close()  # head has read its line
        assert xm_run(root, "sysrq", "bank", "s").code == 0
        assert proc.wait(timeout=WAIT_S) == 0
        assert proc.stderr.read() == b""
        assert termios.tcgetattr(slave) == before
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(slave)
        os.close(master)
