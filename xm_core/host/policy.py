"""Compiling policies into the host's policy tree (`xm makepolicy`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acm.errors import Diagnostics, PolicyError
from acm.records import NamedTuple
from xm_core.errors import XmError
from xm_core.files.atomic import (
    LockBusy,
    atomic_write_many,
    exclusive_lock,
    finish_pending,
    remove_leftovers,
)
from xm_core.files.paths import HostPaths, PolicyFiles

if TYPE_CHECKING:
    from acm.model import BinaryPolicy, PolicyMap


class MakePolicyResult(NamedTuple):
    files: PolicyFiles
    warnings: Diagnostics


def check_policy_dir(policy_dir: str | None) -> None:
    """A `-d` folder goes into the `.map` as given: a line break would break
    it, and a NUL cannot be opened. PolicyError (ACM005) for either."""
    if policy_dir is not None and any(c in policy_dir for c in "\n\r\0"):
        raise PolicyError.single(
            "ACM005",
            f"Invalid policy directory {policy_dir!r}: a line break or NUL cannot stand in "
            "the .map",
        )


def make_policy(
    paths: HostPaths,
    name: str,
    policy_dir: str | None = None,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    retain: list[object] | None = None,
) -> MakePolicyResult:
    """Compile `name` from the policy root (or `policy_dir`) into its `.map`
    and `.bin`. Every finding is collected; on any error (PolicyError) no
    output file is touched. The name is checked before anything is opened.
    `retain`: see `acm.compiler.compile_file`; it also receives the compiled
    policy.

    Compiles of one policy are serialized by the policy's lock file: a
    second one waits (`on_wait` is called once it has waited a second) or,
    with `wait=False`, fails at once. Under the lock an unfinished batch of
    a killed writer is finished and its temporaries are removed, so the
    `.map` and `.bin` always come from one compile."""
    check_policy_dir(policy_dir)
    files = paths.policy_files(name, policy_dir)  # raises ACM005 on a bad name
    lock: AbstractContextManager[None] = contextlib.nullcontext()
    # No folder (the compile reports the missing policy file) or a folder
    # this user cannot write (where no other writer can run either): no lock.
    if os.access(files.lock.parent, os.W_OK):
        lock = exclusive_lock(files.lock, wait, on_wait)
    try:
        with lock:
            return _make_locked(files, retain)
    except LockBusy:
        raise XmError(
            f"Policy '{name}' is being compiled by another process; nothing was "
            "changed (run again, or leave out --no-wait to wait for it)"
        ) from None
    except OSError as exc:  # the lock file itself (a symlink planted there is not followed)
        raise XmError(
            f"Cannot lock '{files.lock}' for makepolicy: {exc.strerror or exc}; nothing was changed"
        ) from None


def _make_locked(files: PolicyFiles, retain: list[object] | None) -> MakePolicyResult:
    # Everything is imported before the compile: an import after it waits
    # for the allocator to sort out the freed parse tree (about 10 ms).
    import acm.binfmt  # imported before the compile, see above
    import acm.mapfile  # noqa: F401  (the same)
    from acm.compiler import compile_file, gc_paused

    outputs = [Path(files.map), Path(files.bin), files.set_names]
    with gc_paused():
        kept: list[object] = []  # the parse tree, for the conflict sets' names
        compiled, findings = compile_file(files.xml, retain=kept)
        pmap = compiled.map._replace(policy_file=files.xml, binary_file=files.bin)
        binary = compiled.binary
        names = _set_names(binary, kept[0])
        batch = _compiled_batch(outputs, pmap, binary, names)
        try:
            finish_pending(outputs[0])
            remove_leftovers(outputs)
            # The `.bin` is made chunk by chunk and, when it is large, written
            # in a thread of its own while the `.map` is rendered
            # (atomic_write_many); the conflict sets' names (acm.mapfile) go
            # with them. A small one is written after the `.map`: starting
            # threads would cost more than the overlap saves.
            atomic_write_many(batch, in_threads=batch[1][1].size > acm.binfmt.CHUNK_BYTES)
            if names is None:
                outputs[2].unlink(missing_ok=True)  # names of another compile
        except OSError as exc:  # name the user's files, not the temporaries
            raise XmError(
                f"Cannot write '{files.map}' and '{files.bin}': {exc.strerror or exc}; "
                "both were left as they were"
            ) from None
        if retain is not None:
            retain.extend(kept)
            retain.append(compiled)
        del compiled, pmap, kept, batch, binary  # dropped while the collector still waits
    return MakePolicyResult(files, findings)


def _compiled_batch(
    outputs: list[Path], pmap: PolicyMap, binary: BinaryPolicy, names: list[str | None] | None
) -> list[tuple[Path, Any]]:
    """The `.map`, the `.bin` (made chunk by chunk) and, when the sets have
    names, the side file of their names: what `atomic_write_many` writes to
    `outputs[0..2]`."""
    from acm.binfmt import binary_chunks
    from acm.mapfile import map_chunks, set_names_bytes

    batch: list[tuple[Path, Any]] = [
        (outputs[0], map_chunks(pmap)),
        (outputs[1], binary_chunks(binary)),
    ]
    if names is not None:
        assert binary.chwall is not None
        sets = binary.chwall.conflict_sets
        batch.append((outputs[2], set_names_bytes(binary.reference_name, names, sets)))
    return batch


def _set_names(binary: BinaryPolicy, tree: object) -> list[str | None] | None:
    """The conflict sets' names, in the order of the `.bin`'s sets, from the
    schema-valid parse tree compile_file kept; None without sets."""
    from acm.source import conflict_set_names

    sets = binary.chwall.conflict_sets if binary.chwall is not None else ()
    if not sets:
        return None
    root: Any = tree
    names = conflict_set_names(root)
    return names if len(names) == len(sets) else None


def make_policy_under(
    root: str | None,
    name: str,
    policy_dir: str | None,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    retain: list[object] | None = None,
    on_new_root: Callable[[Path], None] | None = None,
) -> MakePolicyResult:
    """`xm makepolicy`: compile `name` into the policy tree of the host root
    chosen by `root` (the --root option, None when absent). `retain`: see
    `make_policy`; `on_new_root` is told when the root had to be created."""
    from acm.names import check_policy_name
    from xm_core.files.paths import HostPaths, host_paths, resolve_root

    # Both are checked before the host root is resolved: a new root would
    # otherwise be created and seeded for a command that is refused.
    check_policy_name(name)
    check_policy_dir(policy_dir)
    # With -d the host root is not used: it is left as it is (not created).
    if policy_dir is not None:
        paths = HostPaths(resolve_root(root)[0])
    else:
        paths = host_paths(root, True, on_new_root)
    return make_policy(paths, name, policy_dir, wait, on_wait, retain)


def save_policy(paths: HostPaths, name: str, xml: bytes) -> MakePolicyResult:
    """Write the policy source `xml` as NAME and compile it, the `.xml`,
    `.map`, `.bin` (and the conflict sets' names, as makepolicy writes them)
    renamed into place together (the studio's Save): when it does not
    compile (PolicyError with every finding) no file is touched, so the
    `.xml` beside a `.bin` is always the one it came from."""
    from acm.compiler import compile_document, gc_paused
    from acm.source import parse_policy_document

    files = paths.policy_files(name)  # raises ACM005 on a bad name
    with gc_paused():
        doc = parse_policy_document(xml, files.xml)
        compiled, findings = compile_document(doc)
        pmap = compiled.map._replace(policy_file=files.xml, binary_file=files.bin)
        binary = compiled.binary
        names = _set_names(binary, doc.root)
    # the `.map` first: an interrupted batch is found and finished by the
    # same journal as makepolicy's
    outputs = [Path(files.map), Path(files.bin), files.set_names, Path(files.xml)]
    batch = _compiled_batch(outputs, pmap, binary, names)
    batch.append((outputs[3], xml))
    try:
        Path(files.xml).parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(files.lock, True, None):
            finish_pending(outputs[0])
            remove_leftovers(outputs)
            atomic_write_many(batch)
            if names is None:
                outputs[2].unlink(missing_ok=True)  # names of another compile
    except OSError as exc:
        raise XmError(
            f"Cannot write '{files.xml}', '{files.map}' and '{files.bin}': "
            f"{exc.strerror or exc}; all were left as they were"
        ) from None
    return MakePolicyResult(files, findings)
