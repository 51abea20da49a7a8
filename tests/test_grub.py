"""xm_core.files.grub: parsing GRUB legacy menus and the one-line edit (pure, on bytes)."""

from __future__ import annotations

import pytest

from acm.errors import PolicyError
from xm_core.errors import XmError
from xm_core.files.grub import (
    AMBIGUOUS,
    NOT_FOUND,
    edit_menu,
    module_folder,
    parse_menu,
    split_lines,
    unified_diff,
)

P = "example.chwall_ste.client_v1"
LINE = b"\tmodule /boot/" + P.encode() + b".bin"


def entry(title: bytes, kernel: bytes | None = b"/boot/xen.gz", *body: bytes) -> bytes:
    lines = [b"title " + title]
    if kernel is not None:
        lines.append(b"kernel " + kernel)
    lines.extend(body)
    return b"\n".join(lines) + b"\n"


def xen_titles(menu: bytes) -> list[str]:
    return [e.title_text for e in parse_menu(menu).xen_entries()]


# ---------------------------------------------------------------- which entries are Xen


@pytest.mark.parametrize(
    "title",
    [b"Xen", b"XEN", b"xen 3.0.4", b"Xen-3.0.4 / Linux", b"Xen3.0", b"XEN_failsafe", b"  Xen"],
)
def test_title_starting_with_xen_is_a_xen_entry(title: bytes) -> None:
    menu = entry(title, b"/boot/vmlinuz-2.6.16-xen")
    assert xen_titles(menu) == [title.strip().decode()]


@pytest.mark.parametrize("title", [b"Xenial Xerus", b"Xenix", b"Debian (Xen)", b"My Xen"])
def test_other_titles_with_a_linux_kernel_are_not(title: bytes) -> None:
    assert xen_titles(entry(title, b"/boot/vmlinuz-2.6.18-xen")) == []


@pytest.mark.parametrize(
    "kernel",
    [
        b"/xen.gz-2.6.18-8.el5",  # Fedora / RHEL
        b"/boot/xen-3.0.3-1-i386-pae.gz dom0_mem=262144",  # Debian
        b"(hd0,1)/boot/xen.gz",  # SUSE with a device
        b"--no-mem-option /boot/XEN-3.0.4.GZ",  # an option first, capitals
    ],
)
def test_kernel_loading_a_xen_hypervisor_is_a_xen_entry(kernel: bytes) -> None:
    assert xen_titles(entry(b"Red Hat Enterprise Linux Server", kernel)) == [
        "Red Hat Enterprise Linux Server"
    ]


@pytest.mark.parametrize(
    "kernel", [b"/boot/vmlinuz-2.6.18-xen", b"/boot/xen/vmlinuz.gz", b"/boot/linux-xen.gz"]
)
def test_kernels_that_are_not_a_hypervisor(kernel: bytes) -> None:
    assert xen_titles(entry(b"Linux", kernel)) == []


def test_a_xen_title_without_kernel_line_cannot_take_a_module() -> None:
    menu = entry(b"Xen on the other disk", None, b"rootnoverify (hd1,0)", b"chainloader +1")
    with pytest.raises(XmError, match="Boot entry not found"):
        edit_menu(menu, P)


def test_title_and_kernel_keywords_as_grub_reads_them() -> None:
    # `=` separates like a blank; leading blanks before the keyword are skipped;
    # keywords are case-sensitive as in GRUB, comments are not commands.
    menu = (
        b"  title=Xen A\n kernel=/boot/xen.gz\n"
        b"#title Xen commented\n#kernel /boot/xen.gz\n"
        b"Title Xen capital keyword is no title\n"
    )
    menu_info = parse_menu(menu)
    assert [e.title for e in menu_info.entries] == [b"Xen A"]


# ---------------------------------------------------------------- choosing


def test_title_argument_is_a_case_insensitive_substring_among_xen_entries() -> None:
    menu = entry(b"Xen 3.0.4 (2.6.16)") + entry(b"Linux (2.6.16)", b"/boot/vmlinuz")
    edit = edit_menu(menu, P, "(2.6.16")
    assert edit.entry.title == b"Xen 3.0.4 (2.6.16)"
    assert edit_menu(menu, P, b"xen 3.0.4").entry.title == b"Xen 3.0.4 (2.6.16)"
    with pytest.raises(XmError) as raised:
        edit_menu(menu, P, "Linux (2.6.16)")
    assert raised.value.message == NOT_FOUND


def test_ambiguity_lists_the_matching_titles_like_xen() -> None:
    menu = entry(b"Xen A") + entry(b"Xen B") + entry(b"Linux", b"/boot/vmlinuz")
    with pytest.raises(XmError) as raised:
        edit_menu(menu, P)
    assert raised.value.message == AMBIGUOUS.format(titles=["Xen A", "Xen B"])
    assert raised.value.message == (
        "Following boot entries matched: ['Xen A', 'Xen B']. Please specify unique part "
        "of the boot title, or one whole title (an exact title wins)."
    )


def test_empty_menu_has_no_entry() -> None:
    with pytest.raises(XmError) as raised:
        edit_menu(b"", P)
    assert raised.value.message == NOT_FOUND


def test_bad_policy_name_is_refused() -> None:
    with pytest.raises(PolicyError):
        edit_menu(entry(b"Xen"), "../../etc/passwd")


# ---------------------------------------------------------------- the edit


def test_module_folder_keeps_the_device() -> None:
    assert module_folder(b"(hd0,1)/boot/xen.gz") == b"(hd0,1)/boot/"
    assert module_folder(b"/xen.gz-2.6.18-8.el5") == b"/"
    assert module_folder(b"(hd0,1)xen.gz") == b"(hd0,1)"
    assert module_folder(b"xen.gz") == b""


def test_insert_after_the_last_command_not_after_trailing_comments() -> None:
    menu = entry(
        b"Xen", b"/boot/xen.gz", b"module /boot/vmlinuz", b"# old: module /boot/x.bin", b""
    )
    menu += b"# next entry\n" + entry(b"Linux", b"/boot/vmlinuz")
    edit = edit_menu(menu, P)
    assert edit.edited.split(b"\n")[:4] == [
        b"title Xen",
        b"kernel /boot/xen.gz",
        b"module /boot/vmlinuz",
        LINE,
    ]
    assert edit.line_number == 4 and edit.replaced is None


def test_blank_line_inside_an_entry_does_not_end_it() -> None:
    # Xen put the line at the first blank line, i.e. before dom0's kernel: unbootable.
    menu = b"title Xen\nkernel /boot/xen.gz\n\nmodule /boot/vmlinuz\n\n"
    assert edit_menu(menu, P).edited == (
        b"title Xen\nkernel /boot/xen.gz\n\nmodule /boot/vmlinuz\n" + LINE + b"\n\n"
    )


def test_policy_line_replaced_in_place_any_case_and_modulenounzip() -> None:
    menu = entry(b"Xen", b"/boot/xen.gz", b"modulenounzip /boot/OLD.BIN", b"module /boot/initrd")
    edit = edit_menu(menu, P)
    assert edit.edited == entry(b"Xen", b"/boot/xen.gz", LINE, b"module /boot/initrd")
    assert edit.replaced == b"modulenounzip /boot/OLD.BIN"


def test_policy_lines_elsewhere_are_left_alone() -> None:
    other = entry(b"Linux", b"/boot/vmlinuz", b"module /boot/other.bin")
    commented = b"# module /boot/commented.bin\n"
    before_kernel = b"module /boot/forgotten-by-grub.bin\n"  # GRUB drops it at `kernel`
    menu = b"title Xen\n" + before_kernel + b"kernel /boot/xen.gz\n" + commented + other
    edit = edit_menu(menu, P)
    assert edit.replaced is None
    assert edit.edited == (
        b"title Xen\n" + before_kernel + b"kernel /boot/xen.gz\n" + LINE + b"\n" + commented + other
    )


def test_the_last_kernel_line_counts() -> None:
    menu = entry(b"Xen", b"/boot/old/xen.gz", b"module /boot/a.bin", b"kernel /xen.gz")
    edit = edit_menu(menu, P)
    assert edit.replaced is None
    assert edit.line.endswith(b"module /" + P.encode() + b".bin")


def test_two_policy_lines_are_refused() -> None:
    menu = entry(b"Xen", b"/boot/xen.gz", b"module /boot/a.bin", b"module /boot/b.bin")
    with pytest.raises(XmError, match="more than one policy"):
        edit_menu(menu, P)


def test_module_goes_before_an_explicit_boot() -> None:
    menu = b"title Xen\r\nkernel /boot/xen.gz\r\nmodule /boot/vmlinuz\r\n# go\r\nboot"
    assert edit_menu(menu, P).edited == (
        b"title Xen\r\nkernel /boot/xen.gz\r\nmodule /boot/vmlinuz\r\n# go\r\n" + LINE + b"\r\nboot"
    )


def test_line_ending_of_the_entry_in_a_mixed_file() -> None:
    menu = b"timeout 5\n\ntitle Xen\r\nkernel /boot/xen.gz\r\n"
    assert edit_menu(menu, P).edited == menu + LINE + b"\r\n"


def test_missing_final_newline_takes_the_files_ending() -> None:
    menu = b"timeout 5\r\ntitle Xen\r\nkernel /boot/xen.gz"
    assert edit_menu(menu, P).edited == menu + b"\r\n" + LINE + b"\r\n"


def test_replacing_the_last_line_keeps_it_without_newline() -> None:
    menu = b"title Xen\nkernel /boot/xen.gz\nmodule /boot/old.bin"
    assert edit_menu(menu, P).edited == b"title Xen\nkernel /boot/xen.gz\n" + LINE


def test_non_utf8_bytes_survive() -> None:
    menu = b"# Men\xfc (latin-1)\ntitle Xen \xe9t\xe9\nkernel /boot/xen.gz\n#\xff\n"
    edit = edit_menu(menu, P, b"\xe9t\xe9")
    assert edit.edited == b"# Men\xfc (latin-1)\ntitle Xen \xe9t\xe9\nkernel /boot/xen.gz\n" + (
        LINE + b"\n#\xff\n"
    )
    assert edit.entry.title_text == "Xen \ufffdt\ufffd"


def test_split_lines_round_trip_and_endings() -> None:
    data = b"a\r\nb\n\nc\r"
    lines = split_lines(data)
    assert [(x.body, x.ending) for x in lines] == [
        (b"a", b"\r\n"),
        (b"b", b"\n"),
        (b"", b"\n"),
        (b"c\r", b""),
    ]
    assert b"".join(x.raw for x in lines) == data


def test_unified_diff_marks_a_missing_final_newline() -> None:
    old = b"title Xen\nkernel /boot/xen.gz"
    new = edit_menu(old, P).edited
    assert unified_diff(old, new, "/boot/grub/menu.lst") == (
        b"--- /boot/grub/menu.lst\n+++ /boot/grub/menu.lst\n@@ -1,2 +1,3 @@\n"
        b" title Xen\n-kernel /boot/xen.gz\n\\ No newline at end of file\n"
        b"+kernel /boot/xen.gz\n+" + LINE + b"\n"
    )
    assert unified_diff(new, new, "x") == b""
