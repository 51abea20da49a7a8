"""`xm top`: every domain and the ACM's live state, refreshed like xentop
(curses), or printed frame by frame in batch mode (`-b`)."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from xm_core.errors import UsageError
from xm_core.host.model import Host
from xm_core.host.monitor import sample_host
from xm_core.render import terminal as render

if TYPE_CHECKING:
    from xm_core.files.paths import HostPaths

KEY_WAIT_MS = 100  # how often the live view looks for a key
ESCAPE = 27


class _Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_top(
    paths: HostPaths,
    *,
    batch: bool = False,
    iterations: int | None = None,
    delay: float = 3.0,
    as_json: bool = False,
) -> int:
    """Returns the exit status. `iterations` None: until quit (or killed)."""
    if not batch and not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError("top needs a terminal; use -b for batch output")
    with Host(paths) as host:
        if batch:
            return _batch(paths, host, iterations, delay, as_json)
        import curses

        try:
            result: int = curses.wrapper(_live, paths, host, iterations, delay)
        except curses.error as exc:
            raise UsageError(f"top cannot drive this terminal ({exc}); use -b") from None
        except KeyboardInterrupt:  # Ctrl-C quits like q (the screen is restored)
            return 0
        return result


def _batch(
    paths: HostPaths, host: Host, iterations: int | None, delay: float, as_json: bool
) -> int:
    """xentop -b: a frame each `delay` seconds; SIGINT/SIGTERM end it quietly."""
    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    done = 0
    try:
        while iterations is None or done < iterations:
            render.top_batch(sample_host(paths, host), as_json)
            sys.stdout.flush()
            done += 1
            if iterations is None or done < iterations:
                time.sleep(delay)
    except _Stop:
        pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def _live(screen: Any, paths: HostPaths, host: Host, iterations: int | None, delay: float) -> int:
    import curses

    with contextlib.suppress(curses.error):
        curses.curs_set(0)
    screen.timeout(KEY_WAIT_MS)
    sort_index = 0
    first = 0  # the table's first row shown
    shown = 0
    due = 0.0
    key = -1
    while True:
        now = time.monotonic()
        if now >= due or key != -1:
            sort_key = render.SORT_KEYS[sort_index]
            sample = sample_host(paths, host)
            first = max(min(first, len(sample.domains) - 1), 0)
            lines, header = render.top_screen(sample, sort_key, first)
            _draw(screen, lines, header, render.top_status(sort_key, delay))
            due = now + delay
            shown += 1
            if iterations is not None and shown >= iterations:
                return 0
        key = screen.getch()
        if key in (ord("q"), ord("Q"), ESCAPE):
            return 0
        if key in (ord("s"), ord("S")):
            sort_index = (sort_index + 1) % len(render.SORT_KEYS)
        elif key == curses.KEY_DOWN:
            first += 1
        elif key == curses.KEY_UP:
            first = max(first - 1, 0)
        elif key == ord("+"):
            delay += 1
        elif key == ord("-"):
            delay = max(delay - 1, 1.0)


def _draw(screen: Any, lines: list[str], header: int, status: str) -> None:
    import curses

    screen.erase()
    height, width = screen.getmaxyx()
    for y, line in enumerate(lines[: max(height - 1, 0)]):
        attr = curses.A_REVERSE if y == header else curses.A_NORMAL
        with contextlib.suppress(curses.error):
            screen.addnstr(y, 0, line, max(width - 1, 1), attr)
    with contextlib.suppress(curses.error):
        screen.addnstr(height - 1, 0, status, max(width - 1, 1), curses.A_REVERSE)
    screen.refresh()
