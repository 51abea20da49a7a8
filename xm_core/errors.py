"""Host-level failures as values, printed the way Xen's `xm` printed them."""

from __future__ import annotations


class XmError(Exception):
    """An operation failed or was denied: `Error: <message>`, exit 1.

    `details` are further lines printed after the error line (for example
    every violation that made a `loadpolicy` refuse). Xen printed the
    errors of its security module quoted (`Error: '<message>'`, the repr
    its ACMError gave) and every other error bare: `acm` says which this is.
    The errors of Xen's ACM subcommands (labels, makepolicy, ...) all print
    quoted; elsewhere only an `AcmError` does.
    """

    exit_code = 1
    acm = False

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class AcmError(XmError):
    """A decision or failure of the access control module (a label that does
    not resolve, a denied create or attach, a refused policy load): printed
    quoted, as Xen's ACMError, whichever command met it."""

    acm = True


class UsageError(XmError):
    """The command line itself is wrong: exit 2."""

    exit_code = 2
