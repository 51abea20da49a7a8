"""Host-level failures as values, printed the way Xen's `xm` printed them."""

from __future__ import annotations


class XmError(Exception):
    """An operation failed or was denied: `Error: '<message>'`, exit 1.

    `details` are further lines printed after the error line (for example
    every violation that made a `loadpolicy` refuse).
    """

    exit_code = 1

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class UsageError(XmError):
    """The command line itself is wrong: exit 2."""

    exit_code = 2
