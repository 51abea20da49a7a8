"""`xm cfgbootpolicy` end to end on a host root: the files it reads and
writes, its output, dry runs, symlinks, refusals and injected failures."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import REPO
from xm_core.cli.commands import xm
from xm_core.files.paths import HostPaths

POLICY = "example.chwall_ste.client_v1"
MENU = b"""default 0
timeout 5

title Xen 3.0.4 / Linux 2.6.16.33-xen
\troot (hd0,0)
\tkernel /boot/xen-3.0.4-1.gz
\tmodule /boot/vmlinuz-2.6.16.33-xen root=/dev/sda1 ro
\tmodule /boot/initrd-2.6.16.33-xen.img

title Linux 2.6.16.33
\troot (hd0,0)
\tkernel /boot/vmlinuz-2.6.16.33 root=/dev/sda1 ro
"""
LINE = b"\tmodule /boot/example.chwall_ste.client_v1.bin\n"
EDITED = MENU.replace(b".img\n\n", b".img\n" + LINE + b"\n")
SUCCESS = (
    f"Boot entry 'Xen 3.0.4 / Linux 2.6.16.33-xen' extended and '{POLICY}.bin' copied to /boot\n"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(xm, list(args))


def compile_policy() -> None:
    result = run("makepolicy", POLICY)
    assert result.exit_code == 0, result.output


@pytest.fixture
def host(host_root: Path) -> HostPaths:
    """A host root with the example policy compiled and /boot/grub/menu.lst."""
    paths = HostPaths(host_root)
    compile_policy()
    paths.grub_dir.mkdir(parents=True)
    (paths.grub_dir / "menu.lst").write_bytes(MENU)
    return paths


def bin_of(paths: HostPaths) -> bytes:
    return Path(paths.policy_files(POLICY).bin).read_bytes()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------- the command


def test_help() -> None:
    result = run("cfgbootpolicy", "--help")
    assert result.exit_code == 0
    assert "Usage: xm cfgbootpolicy [OPTIONS] POLICY [BOOT-TITLE]" in result.output
    assert "--dry-run" in result.output
    assert "cfgbootpolicy" in run("--help").output


def test_configures_the_policy(host: HostPaths) -> None:
    result = run("cfgbootpolicy", POLICY)
    assert result.exit_code == 0, result.output
    assert result.stdout == SUCCESS
    assert result.stderr == ""
    assert (host.grub_dir / "menu.lst").read_bytes() == EDITED
    assert (host.grub_dir / "menu.lst_save").read_bytes() == MENU
    assert (host.boot / f"{POLICY}.bin").read_bytes() == bin_of(host)
    # no temporary left (the writers' lock file goes with its last holder)
    assert files_in(host.grub_dir) == ["menu.lst", "menu.lst_save"]


def test_real_xm_process_with_root_option(tmp_path: Path) -> None:
    root = tmp_path / "host"
    HostPaths(root).seed_example()
    (root / "boot" / "grub").mkdir(parents=True)
    (root / "boot" / "grub" / "menu.lst").write_bytes(MENU)
    env = {k: v for k, v in os.environ.items() if k != "XM_ROOT"}

    def xm_process(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "xm_core", "--root", str(root), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            check=False,
        )

    assert xm_process("makepolicy", POLICY).returncode == 0
    done = xm_process("cfgbootpolicy", POLICY, "xen 3.0.4")
    assert (done.returncode, done.stdout, done.stderr) == (0, SUCCESS, "")
    assert (root / "boot" / "grub" / "menu.lst").read_bytes() == EDITED


def test_second_run_changes_nothing_and_keeps_the_backup(host: HostPaths) -> None:
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    menu = host.grub_dir / "menu.lst"
    inode = menu.stat().st_ino
    again = run("cfgbootpolicy", POLICY)
    assert again.exit_code == 0 and again.stdout == SUCCESS
    assert menu.read_bytes() == EDITED
    assert menu.stat().st_ino == inode  # not even rewritten
    assert (host.grub_dir / "menu.lst_save").read_bytes() == MENU


def test_existing_backup_is_replaced_by_the_menu_before_this_change(host: HostPaths) -> None:
    (host.grub_dir / "menu.lst_save").write_bytes(b"an old backup\n")
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    assert (host.grub_dir / "menu.lst_save").read_bytes() == MENU


def test_mode_of_menu_and_backup_follow_the_menu(host: HostPaths) -> None:
    menu = host.grub_dir / "menu.lst"
    menu.chmod(0o600)  # a menu with a GRUB password
    backup = host.grub_dir / "menu.lst_save"
    backup.write_bytes(b"old")
    backup.chmod(0o644)
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    assert stat.S_IMODE(menu.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert backup.read_bytes() == MENU


def test_title_argument(host: HostPaths) -> None:
    menu = MENU + b"\ntitle Xen 3.0.3 old\n\tkernel /boot/xen-3.0.3.gz\n"
    (host.grub_dir / "menu.lst").write_bytes(menu)
    refused = run("cfgbootpolicy", POLICY)
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: \"Following boot entries matched: ['Xen 3.0.4 / Linux 2.6.16.33-xen', "
        "'Xen 3.0.3 old']. Please specify unique part of the boot title, or one whole "
        'title (an exact title wins)."\n'
    )
    assert (host.grub_dir / "menu.lst").read_bytes() == menu
    done = run("cfgbootpolicy", POLICY, "3.0.3")
    assert done.exit_code == 0
    assert done.stdout.startswith("Boot entry 'Xen 3.0.3 old' extended")
    assert (host.grub_dir / "menu.lst").read_bytes() == menu + (
        b"\tmodule /boot/example.chwall_ste.client_v1.bin\n"
    )


# ---------------------------------------------------------------- dry run


def test_dry_run_prints_a_diff_and_changes_nothing(host: HostPaths) -> None:
    result = run("cfgbootpolicy", "--dry-run", POLICY)
    assert result.exit_code == 0, result.output
    menu = host.grub_dir / "menu.lst"
    assert result.stdout == (
        f"--- {menu}\n+++ {menu}\n@@ -6,6 +6,7 @@\n"
        " \tkernel /boot/xen-3.0.4-1.gz\n"
        " \tmodule /boot/vmlinuz-2.6.16.33-xen root=/dev/sda1 ro\n"
        " \tmodule /boot/initrd-2.6.16.33-xen.img\n"
        "+\tmodule /boot/example.chwall_ste.client_v1.bin\n"
        " \n"
        " title Linux 2.6.16.33\n"
        " \troot (hd0,0)\n"
    )
    assert "nothing was changed" in result.stderr
    assert menu.read_bytes() == MENU
    assert files_in(host.grub_dir) == ["menu.lst"]
    assert not (host.boot / f"{POLICY}.bin").exists()


def test_dry_run_keeps_crlf_bytes(host: HostPaths) -> None:
    crlf = MENU.replace(b"\n", b"\r\n")
    (host.grub_dir / "menu.lst").write_bytes(crlf)
    result = run("cfgbootpolicy", "--dry-run", POLICY)
    assert result.exit_code == 0
    assert b"+\tmodule /boot/example.chwall_ste.client_v1.bin\r\n" in result.stdout_bytes
    assert (host.grub_dir / "menu.lst").read_bytes() == crlf


def test_dry_run_still_refuses(host: HostPaths) -> None:
    result = run("cfgbootpolicy", "--dry-run", POLICY, "Windows")
    assert result.exit_code == 1 and result.stdout == ""
    assert "Boot entry not found" in result.stderr


# ---------------------------------------------------------------- which file


def test_grub_conf_when_there_is_no_menu_lst(host: HostPaths) -> None:
    (host.grub_dir / "menu.lst").rename(host.grub_dir / "grub.conf")
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    assert (host.grub_dir / "grub.conf").read_bytes() == EDITED
    assert files_in(host.grub_dir) == ["grub.conf", "grub.conf_save"]


def test_menu_lst_wins_over_grub_conf(host: HostPaths) -> None:
    (host.grub_dir / "grub.conf").write_bytes(MENU)
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    assert (host.grub_dir / "menu.lst").read_bytes() == EDITED
    assert (host.grub_dir / "grub.conf").read_bytes() == MENU


@pytest.mark.parametrize("target", ["grub.conf", "./grub.conf", "/boot/grub/grub.conf"])
def test_symlink_is_followed_and_kept(host: HostPaths, target: str) -> None:
    # Fedora: menu.lst -> ./grub.conf. An absolute link is read inside the root.
    link = host.grub_dir / "menu.lst"
    link.unlink()
    (host.grub_dir / "grub.conf").write_bytes(MENU)
    link.symlink_to(target)
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == target
    assert (host.grub_dir / "grub.conf").read_bytes() == EDITED
    assert (host.grub_dir / "grub.conf_save").read_bytes() == MENU
    assert not (host.grub_dir / "menu.lst_save").exists()


def test_symlink_into_another_folder(host: HostPaths) -> None:
    link = host.grub_dir / "menu.lst"
    link.unlink()
    (host.root / "etc").mkdir(exist_ok=True)
    (host.root / "etc" / "grub.conf").write_bytes(MENU)
    link.symlink_to("../../../../../etc/grub.conf")  # `..` stops at the root
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    assert (host.root / "etc" / "grub.conf").read_bytes() == EDITED
    assert (host.root / "etc" / "grub.conf_save").read_bytes() == MENU


def test_dangling_menu_lst_falls_back_to_grub_conf(host: HostPaths) -> None:
    link = host.grub_dir / "menu.lst"
    link.unlink()
    link.symlink_to("nowhere.conf")
    (host.grub_dir / "grub.conf").write_bytes(MENU)
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    assert (host.grub_dir / "grub.conf").read_bytes() == EDITED


def test_symlink_loop_is_an_error(host: HostPaths) -> None:
    link = host.grub_dir / "menu.lst"
    link.unlink()
    link.symlink_to("menu.lst")
    result = run("cfgbootpolicy", POLICY)
    assert result.exit_code == 1
    assert result.stderr.startswith('Error: "Too many levels of symbolic links')
    assert link.is_symlink() and not (host.boot / f"{POLICY}.bin").exists()


def test_no_boot_file(host_root: Path) -> None:
    compile_policy()
    result = run("cfgbootpolicy", POLICY)
    assert result.exit_code == 1
    assert result.stderr == f"Error: \"Boot file '{host_root}/boot/grub/menu.lst' not found.\"\n"


# ---------------------------------------------------------------- the policy


def test_policy_not_compiled(host_root: Path) -> None:
    paths = HostPaths(host_root)
    paths.grub_dir.mkdir(parents=True)
    (paths.grub_dir / "menu.lst").write_bytes(MENU)
    result = run("cfgbootpolicy", POLICY)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: \"Cannot find binary file for policy '{POLICY}'. "
        'Please use makepolicy to create binary file."\n'
    )
    assert (paths.grub_dir / "menu.lst").read_bytes() == MENU
    assert files_in(paths.grub_dir) == ["menu.lst"]
    assert not paths.boot.joinpath(f"{POLICY}.bin").exists()


def test_unknown_policy(host: HostPaths) -> None:
    result = run("cfgbootpolicy", "example.nothing.here")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: \"Unknown policy 'example.nothing.here'\"\n",
    )


def test_bad_policy_name(host: HostPaths) -> None:
    result = run("cfgbootpolicy", "../etc")
    assert result.exit_code == 2  # a malformed name is a usage error
    assert "Invalid policy name" in result.stderr and "Traceback" not in result.output
    assert (host.grub_dir / "menu.lst").read_bytes() == MENU


def test_damaged_bin_never_reaches_boot(host: HostPaths) -> None:
    Path(host.policy_files(POLICY).bin).write_bytes(b"\x00\x01not a policy")
    result = run("cfgbootpolicy", POLICY)
    assert result.exit_code == 1
    assert "BIN001" in result.stderr
    assert (host.grub_dir / "menu.lst").read_bytes() == MENU
    assert not (host.boot / f"{POLICY}.bin").exists()


def test_module_folder_other_than_boot_is_warned(host: HostPaths) -> None:
    (host.grub_dir / "menu.lst").write_bytes(b"title Xen\nkernel /boot/xen/xen.gz\n")
    result = run("cfgbootpolicy", POLICY)
    assert result.exit_code == 0
    assert result.stderr.startswith(
        f"Warning: the boot entry loads '/boot/xen/{POLICY}.bin' but the policy is copied to /boot"
    )


# ---------------------------------------------------------------- failures while writing


def fail_replace_into(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    real = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).name == name:
            raise OSError(5, "Input/output error", str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("name", ["menu.lst", "menu.lst_save", f"{POLICY}.bin"])
def test_failed_rename_leaves_the_menu_byte_identical(
    host: HostPaths, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    fail_replace_into(monkeypatch, name)
    result = run("cfgbootpolicy", POLICY)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: 'Input/output error:")
    assert (host.grub_dir / "menu.lst").read_bytes() == MENU
    leftovers = [n for n in files_in(host.grub_dir) if n.endswith(".tmp")]
    assert leftovers == []
    assert [n for n in files_in(host.boot) if n.endswith(".tmp")] == []


def test_failed_write_of_the_new_menu(host: HostPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills while the new menu is written: nothing is renamed, not
    even the .bin, whose temporary was complete."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the file being synced")
    real = os.fsync
    synced: list[str] = []

    def fsync(fd: int) -> None:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        synced.append(name)
        if name.startswith(".menu.lst.") and name.endswith(".tmp"):
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    result = run("cfgbootpolicy", POLICY)
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert any(n.startswith(f".{POLICY}.bin.") for n in synced)  # the .bin came first
    assert (host.grub_dir / "menu.lst").read_bytes() == MENU
    assert not (host.boot / f"{POLICY}.bin").exists()
    assert [n for n in files_in(host.grub_dir) if n.endswith(".tmp")] == []
    assert [n for n in files_in(host.boot) if n.endswith(".tmp")] == []


def test_absolute_boot_symlink_stays_inside_the_root(host: HostPaths) -> None:
    # <root>/boot -> /mnt/bootpart must mean <root>/mnt/bootpart, never the real one.
    real_boot = host.root / "mnt" / "bootpart"
    real_boot.parent.mkdir()
    host.boot.rename(real_boot)
    host.boot.symlink_to("/mnt/bootpart")
    assert run("cfgbootpolicy", POLICY).exit_code == 0
    assert (real_boot / "grub" / "menu.lst").read_bytes() == EDITED
    assert (real_boot / f"{POLICY}.bin").read_bytes() == bin_of(host)
