"""The real-world menus of boot/grub-fixtures, byte for byte: once through
the pure edit (xm_core.files.grub) and once through `xm cfgbootpolicy` on a host root."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import REPO
from xm_core.cli.commands import xm
from xm_core.errors import XmError
from xm_core.files.grub import edit_menu

FIXTURES = REPO / "boot" / "grub-fixtures"
MANIFEST: dict[str, dict[str, Any]] = tomllib.loads((FIXTURES / "manifest.toml").read_text())
POLICY = "example.chwall_ste.client_v1"


def test_manifest_covers_the_required_styles() -> None:
    menus = {case["menu"] for case in MANIFEST.values()}
    assert len(menus) >= 8
    for case in MANIFEST.values():
        assert (FIXTURES / case["menu"]).is_file()
        assert ("expected" in case) != ("error" in case)
        if "expected" in case:
            assert (FIXTURES / case["expected"]).is_file()
    # the line-ending cases really are what they claim
    assert b"\r\n" in (FIXTURES / "crlf.menu.lst").read_bytes()
    assert not (FIXTURES / "no-final-newline.menu.lst").read_bytes().endswith(b"\n")


@pytest.mark.parametrize("case", sorted(MANIFEST))
def test_pure_edit(case: str) -> None:
    spec = MANIFEST[case]
    original = (FIXTURES / spec["menu"]).read_bytes()
    if "error" in spec:
        with pytest.raises(XmError) as raised:
            edit_menu(original, spec["policy"], spec.get("title"))
        assert raised.value.message == spec["error"]
        return
    edit = edit_menu(original, spec["policy"], spec.get("title"))
    assert edit.edited == (FIXTURES / spec["expected"]).read_bytes()
    assert edit.entry.title_text == spec["title_printed"]
    # running it again changes nothing
    assert edit_menu(edit.edited, spec["policy"], spec.get("title")).edited == edit.edited


@pytest.fixture(scope="module")
def compiled_bin(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The example policy compiled once by `xm makepolicy`."""
    from xm_core.files.paths import HostPaths

    root = tmp_path_factory.mktemp("compile")
    HostPaths(root).seed_example()
    result = CliRunner().invoke(xm, ["--root", str(root), "makepolicy", POLICY])
    assert result.exit_code == 0, result.output
    return Path(HostPaths(root).policy_files(POLICY).bin).read_bytes()


@pytest.mark.parametrize("case", sorted(MANIFEST))
def test_cli(case: str, host_root: Path, compiled_bin: bytes) -> None:
    from xm_core.files.paths import HostPaths

    spec = MANIFEST[case]
    paths = HostPaths(host_root)
    Path(paths.policy_files(POLICY).bin).write_bytes(compiled_bin)
    paths.grub_dir.mkdir(parents=True)
    menu = paths.grub_dir / spec.get("boot_file", "menu.lst")
    original = (FIXTURES / spec["menu"]).read_bytes()
    menu.write_bytes(original)
    args = ["cfgbootpolicy", spec["policy"], *([spec["title"]] if "title" in spec else [])]
    result = CliRunner().invoke(xm, args)
    if "error" in spec:
        assert result.exit_code == 1
        assert result.stderr == f"Error: {spec['error']!r}\n"
        assert result.stdout == ""
        assert menu.read_bytes() == original
        assert sorted(p.name for p in paths.grub_dir.iterdir()) == [menu.name]
        assert not (paths.boot / f"{POLICY}.bin").exists()
        return
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Boot entry '{spec['title_printed']}' extended and '{POLICY}.bin' copied to /boot\n"
    )
    assert menu.read_bytes() == (FIXTURES / spec["expected"]).read_bytes()
    assert (paths.grub_dir / f"{menu.name}_save").read_bytes() == original
    assert (paths.boot / f"{POLICY}.bin").read_bytes() == compiled_bin
