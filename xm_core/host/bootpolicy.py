"""`xm cfgbootpolicy`: put a compiled policy into the boot configuration.

Everything is checked before anything is written: the policy's `.bin`
exists and decodes, the boot file is found (symlinks followed as if the host
root were `/`), and the menu edit is computed (xm_core.files.grub, pure). Only
then: the original menu is kept as `<file>_save`, and the `.bin` and the
new menu are written atomically, the `.bin` first so that the menu never
names a module that is not there. See docs/cfgbootpolicy.md.

Runs are serialized by an exclusive lock on `.<menu>.lock` beside the boot
file (the kind of lock the policy files take, xm_core.files.atomic): the
menu is read, edited and written under it, so two runs on different entries
both keep their edit. Under the lock the batch a killed run left between
its renames is finished and its temporaries are removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from acm.inputfile import MAX_COMPILED_BYTES, MAX_TEXT_BYTES, InputFileError, read_input
from xm_core.errors import XmError
from xm_core.files.atomic import (
    atomic_write,
    atomic_write_many,
    exclusive_lock,
    finish_pending,
    remove_leftovers,
)
from xm_core.files.grub import MenuEdit, edit_menu, module_folder, unified_diff
from xm_core.files.paths import HostPaths

BOOT_FILES = ("menu.lst", "grub.conf")
BACKUP_SUFFIX = "_save"
MAX_SYMLINKS = 40


@dataclass(frozen=True)
class BootPolicyResult:
    policy: str
    title: str
    boot_file: Path  # the file edited (the target when the menu is a symlink)
    bin_file: Path  # <root>/boot/<policy>.bin
    edit: MenuEdit
    dry_run: bool
    backup: Path | None  # written only when the menu changed (and not a dry run)
    diff: bytes
    warnings: list[str] = field(default_factory=list)

    @property
    def bin_name(self) -> str:
        return f"{self.policy}.bin"


def resolve_in_root(root: Path, path: Path) -> Path:
    """`path` (inside `root`) with every symlink followed as if `root` were
    `/`: absolute link targets start again at `root`, and `..` never climbs
    above it."""
    todo = list(path.relative_to(root).parts)
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", ".", "/"):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, part)
        if candidate.is_symlink():
            hops += 1
            if hops > MAX_SYMLINKS:
                raise XmError(f"Too many levels of symbolic links: '{path}'")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            todo[:0] = target.split("/")
        else:
            done.append(part)
    return root.joinpath(*done)


def find_boot_file(paths: HostPaths) -> Path:
    """The file to edit: `menu.lst`, else `grub.conf`, symlinks followed
    inside the root (a dangling `menu.lst` link falls back to `grub.conf`)."""
    for name in BOOT_FILES:
        target = resolve_in_root(paths.root, paths.grub_dir / name)
        if target.is_file():
            return target
    raise XmError(f"Boot file '{paths.grub_dir / BOOT_FILES[0]}' not found.")


def read_policy_binary(paths: HostPaths, policy: str) -> bytes:
    """The compiled `.bin` of `policy`, checked to decode as a policy."""
    from acm.binfmt import decode_binary

    files = paths.policy_files(policy).settled()  # checks the name (ACM005)
    if not os.path.isfile(files.bin):
        if os.path.isfile(files.xml):
            raise XmError(
                f"Cannot find binary file for policy '{policy}'. "
                "Please use makepolicy to create binary file."
            )
        raise XmError(f"Unknown policy '{policy}'")
    try:
        data = read_input(files.bin, MAX_COMPILED_BYTES)
    except InputFileError as exc:
        raise XmError(f"Binary policy file '{files.bin}' {exc.reason}") from None
    decode_binary(data, files.bin)  # a damaged .bin never reaches the boot loader
    return data


def _module_warning(edit: MenuEdit, policy: str) -> list[str]:
    """The module line names the hypervisor's folder; the `.bin` goes to
    /boot. Say so when these cannot be the same place."""
    assert edit.entry.hypervisor is not None
    folder = module_folder(edit.entry.hypervisor)
    if folder.startswith(b"("):  # a GRUB device: (hd0,1)/boot/
        folder = folder[folder.find(b")") + 1 :]
    if folder in (b"/", b"/boot/", b""):
        return []
    shown = folder.decode("utf-8", "replace")
    return [
        f"Warning: the boot entry loads '{shown}{policy}.bin' but the policy is "
        f"copied to /boot only; copy it to '{shown}' too if that is another folder."
    ]


def boot_lock(boot_file: Path) -> Path:
    """The lock file of the boot menu's writers, beside the menu."""
    return boot_file.with_name(f".{boot_file.name}.lock")


@contextlib.contextmanager
def _locked_menu(bin_file: Path, boot_file: Path) -> Iterator[None]:
    """Hold the menu's lock; then finish a batch a killed run left between
    its renames and remove the temporaries of killed runs. Where the folder
    cannot be written no writer can run: no lock (the write reports why)."""
    if not os.access(boot_file.parent, os.W_OK):
        yield
        return
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(boot_lock(boot_file)))
            finish_pending(bin_file)
        except OSError as exc:  # a symlink planted at the lock's name is not followed
            raise XmError(
                f"Cannot lock '{boot_lock(boot_file)}' for cfgbootpolicy: "
                f"{exc.strerror or exc}; nothing was changed"
            ) from None
        backup = boot_file.with_name(boot_file.name + BACKUP_SUFFIX)
        remove_leftovers([bin_file, boot_file, backup])
        yield


def cfg_boot_policy(
    paths: HostPaths, policy: str, title: str | None = None, dry_run: bool = False
) -> BootPolicyResult:
    """Copy the policy's `.bin` to /boot and configure it into the Xen entry
    of the boot menu. XmError/PolicyError before anything is changed."""
    binary = read_policy_binary(paths, policy)
    boot_file = find_boot_file(paths)
    # /boot may be a symlink (to a mounted boot partition): read it inside the root.
    bin_file = resolve_in_root(paths.root, paths.boot) / f"{policy}.bin"
    preview = _configure(policy, title, binary, boot_file, bin_file, True)
    if dry_run:
        return preview
    # Refused (no such entry, ...) before the lock: a refusal creates no lock file.
    with _locked_menu(bin_file, boot_file):
        return _configure(policy, title, binary, boot_file, bin_file, dry_run)


def _configure(
    policy: str,
    title: str | None,
    binary: bytes,
    boot_file: Path,
    bin_file: Path,
    dry_run: bool,
) -> BootPolicyResult:
    """Read, edit and (unless a dry run) write the menu: under the menu's
    lock, so that the menu read is the one replaced."""
    try:
        original = read_input(boot_file, MAX_TEXT_BYTES)
    except InputFileError as exc:
        raise XmError(f"Boot menu '{boot_file}' {exc.reason}; left as it is") from None
    edit = edit_menu(original, policy, title)
    result = BootPolicyResult(
        policy=policy,
        title=edit.entry.title_text,
        boot_file=boot_file,
        bin_file=bin_file,
        edit=edit,
        dry_run=dry_run,
        backup=None,
        diff=unified_diff(original, edit.edited, str(boot_file)),
        warnings=_module_warning(edit, policy),
    )
    if dry_run:
        return result
    if not edit.changed:
        atomic_write(bin_file, binary, mode=0o644)
        return result
    backup = boot_file.with_name(boot_file.name + BACKUP_SUFFIX)
    _write_backup(backup, original, stat.S_IMODE(boot_file.stat().st_mode))
    atomic_write_many([(bin_file, binary), (boot_file, edit.edited)], mode=0o644)
    return dataclasses.replace(result, backup=backup)


def _write_backup(backup: Path, original: bytes, mode: int) -> None:
    """`<file>_save` holds the menu as it was before this change, with the
    menu's mode (a menu with a GRUB password may be 0600)."""
    if os.path.lexists(backup) and (
        backup.is_symlink() or stat.S_IMODE(backup.lstat().st_mode) != mode
    ):
        # atomic_write keeps an existing file's mode; start afresh instead,
        # and never write through a symlink planted at the backup's name.
        backup.unlink()
    atomic_write(backup, original, mode=mode)
