"""Reading an input file with bounded work: opened once, checked to be a
regular file, read up to a size limit.

Every file the tools read (policies, `.bin`/`.map`, domain configs, the
resource label file, boot menus, test files, lint configs) comes through
`read_input`. A symbolic link is followed and then the file it names is
checked, so a `*-security_policy.xml` link to `/dev/zero` or a FIFO is
refused instead of read forever or waited on. The open is non-blocking (a
FIFO without a writer would block an ordinary open) and the check uses
`fstat` of the descriptor that is then read, so no other file can be put
in its place between the check and the read.

The limits are documented in docs/limits.md.
"""

from __future__ import annotations

import os
import stat

MIB = 1024 * 1024

GIB = 1024 * MIB

# Policies: generated policies of tens of thousands of labels are
# legitimate (a 65,535-type policy is ~3 MB of XML, 60,000 labels ~19 MB).
MAX_POLICY_BYTES = 256 * MIB
# What is compiled from them: the `.bin` holds labels x types cells, so a
# policy well inside MAX_POLICY_BYTES makes hundreds of MB (60,000 labels
# with 2,000 STE types: 270 MB; with 6,000: 812 MB). The compiler writes
# and loadpolicy compares it in pieces (their memory does not grow with
# it); cfgbootpolicy holds it whole. docs/compiler.md, ACM017.
MAX_COMPILED_BYTES = 1 * GIB
# The largest `.bin` the compilers write: its header's `len` is a uint32,
# and its readers take at most MAX_COMPILED_BYTES, the lower bound.
MAX_BINARY_SIZE = min(0xFFFFFFFF, MAX_COMPILED_BYTES)
# Hand-written text: domain configs, the resource label file, boot menus,
# policy tests, lint configurations.
MAX_TEXT_BYTES = 16 * MIB


def binary_size_problem(size: int) -> str | None:
    """Why a `.bin` of `size` bytes cannot be used, or None. The compiler
    refuses what its readers (loadpolicy, cfgbootpolicy, the analyses) would:
    the `.bin` header's 32-bit length and the readers' MAX_COMPILED_BYTES."""
    if size > MAX_COMPILED_BYTES:
        return (
            f"the binary policy would be {size} bytes; loadpolicy and cfgbootpolicy read "
            f"at most {MAX_COMPILED_BYTES} ({size_words(MAX_COMPILED_BYTES)})"
        )
    return None


class InputFileError(Exception):
    """A file that cannot be read as input; `reason` says why, in words
    that fit after the file's name ("is not a regular file (a FIFO)")."""

    def __init__(
        self, path: str, reason: str, missing: bool = False, too_large: bool = False
    ) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.missing = missing
        self.too_large = too_large  # past the size limit, not unreadable


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words (`a FIFO`)."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a plain file"


def size_words(limit: int) -> str:
    if limit % GIB == 0:
        return f"{limit // GIB} GiB"
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit} bytes"


def _too_large(name: str, limit: int) -> InputFileError:
    return InputFileError(name, f"is larger than the limit of {size_words(limit)}", too_large=True)


def read_input(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed), at most
    `limit` of them; InputFileError otherwise (missing, unreadable, not a
    regular file, larger than the limit)."""
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputFileError(name, "does not exist", missing=True) from None
    except OSError as exc:
        raise InputFileError(name, f"cannot be read ({exc.strerror or exc})") from None
    try:
        return read_open(fd, name, limit)
    finally:
        os.close(fd)


def read_open(fd: int, name: str, limit: int) -> bytes:
    """`read_input` of a file already open as `fd` (named `name` in errors),
    read from its current offset; the descriptor stays open."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(name, f"is not a regular file ({file_kind(st.st_mode)})")
        if st.st_size > limit:
            raise _too_large(name, limit)
        # One read of the whole file (and a byte more) into one buffer; then,
        # should the file have grown since fstat, up to one byte past the limit.
        chunks: list[bytes] = []
        total = 0
        want = min(st.st_size + 1, limit + 1)
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise _too_large(name, limit)
            want = min(limit + 1 - total, 4 * MIB)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError as exc:
        raise InputFileError(name, f"cannot be read ({exc.strerror or exc})") from None


class InputPieces:
    """A regular file opened as `read_input` opens it (same checks, same
    limit), whose bytes are read a piece at a time when asked for
    (`pieces[start:stop]`), never all at once: a reader that compares a
    large file piece by piece holds no copy of all of it. A file that
    shrinks while it is read is an InputFileError."""

    def __init__(self, path: str | os.PathLike[str], limit: int) -> None:
        self.name = os.fspath(path)
        try:
            self.fd = os.open(self.name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise InputFileError(self.name, "does not exist", missing=True) from None
        except OSError as exc:
            raise InputFileError(self.name, f"cannot be read ({exc.strerror or exc})") from None
        try:
            st = os.fstat(self.fd)
            if not stat.S_ISREG(st.st_mode):
                raise InputFileError(self.name, f"is not a regular file ({file_kind(st.st_mode)})")
            if st.st_size > limit:
                raise _too_large(self.name, limit)
        except OSError as exc:
            os.close(self.fd)
            raise InputFileError(self.name, f"cannot be read ({exc.strerror or exc})") from None
        except InputFileError:
            os.close(self.fd)
            raise
        self.size = st.st_size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: slice) -> bytes:
        start, stop, step = index.indices(self.size)
        if step != 1:
            raise ValueError("pieces are read in order")
        want = max(0, stop - start)
        try:
            got = os.pread(self.fd, want, start)
        except OSError as exc:
            raise InputFileError(self.name, f"cannot be read ({exc.strerror or exc})") from None
        if len(got) != want:
            raise InputFileError(self.name, "changed while it was read")
        return got

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> InputPieces:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
