"""Domain labels in config files: addlabel/getlabel/rmlabel dom, byte
preservation, lookup order, and configs that must never be executed."""

from __future__ import annotations

import keyword
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.labels_support import POLICY, compiled_root, copy_data, xm  # noqa: F401
from xm_core.errors import XmError
from xm_core.files.config import (
    access_control_line,
    append_access_control,
    comment_out_access_control,
    config_label,
    parse_config,
)

LINE = access_control_line(POLICY, "dom_Fun").encode()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory of the typed commands: a fresh folder."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    return here


# ------------------------------------------------------------------ round trips


def test_addlabel_appends_the_line_and_keeps_every_byte(
    compiled_root: Path,  # noqa: F811
    workdir: Path,
) -> None:
    cfg = copy_data("plain.cfg", workdir)
    before = cfg.read_bytes()
    r = xm("addlabel", "dom_Fun", "dom", "plain.cfg", POLICY)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert cfg.read_bytes() == before + LINE + b"\n"

    r = xm("getlabel", "dom", "plain.cfg")
    assert (r.exit_code, r.stdout) == (0, f"policy={POLICY},label=dom_Fun\n")

    r = xm("rmlabel", "dom", "plain.cfg")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert cfg.read_bytes() == before + b"#" + LINE + b"\n"

    r = xm("getlabel", "dom", "plain.cfg")
    assert (r.exit_code, r.stderr) == (1, "Error: 'Domain not labeled'\n")

    # labeled again after the removal: the commented-out line is not a label
    assert xm("addlabel", "dom_HomeBanking", "dom", "plain.cfg", POLICY).exit_code == 0
    assert xm("getlabel", "dom", "plain.cfg").stdout == (f"policy={POLICY},label=dom_HomeBanking\n")


def test_addlabel_completes_a_missing_final_newline(
    compiled_root: Path,  # noqa: F811
    workdir: Path,
) -> None:
    cfg = copy_data("no_final_newline.cfg", workdir)
    before = cfg.read_bytes()
    assert xm("addlabel", "dom_Fun", "dom", str(cfg), POLICY).exit_code == 0
    assert cfg.read_bytes() == before + b"\n" + LINE + b"\n"


def test_addlabel_keeps_crlf_line_endings(compiled_root: Path, workdir: Path) -> None:  # noqa: F811
    cfg = copy_data("crlf.cfg", workdir)
    before = cfg.read_bytes()
    assert xm("addlabel", "dom_Fun", "dom", str(cfg), POLICY).exit_code == 0
    assert cfg.read_bytes() == before + LINE + b"\r\n"
    assert xm("rmlabel", "dom", str(cfg)).exit_code == 0
    assert cfg.read_bytes() == before + b"#" + LINE + b"\r\n"


def test_addlabel_keeps_the_file_mode(compiled_root: Path, workdir: Path) -> None:  # noqa: F811
    cfg = copy_data("plain.cfg", workdir)
    cfg.chmod(0o640)
    assert xm("addlabel", "dom_Fun", "dom", str(cfg), POLICY).exit_code == 0
    assert cfg.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in workdir.iterdir()] == ["plain.cfg"]  # no temporary left


def test_rmlabel_comments_out_every_line_of_a_multiline_label(
    compiled_root: Path,  # noqa: F811
    workdir: Path,
) -> None:
    cfg = copy_data("multiline_label.cfg", workdir)
    assert xm("getlabel", "dom", str(cfg)).stdout == f"policy={POLICY},label=dom_Fun\n"
    assert xm("rmlabel", "dom", str(cfg)).exit_code == 0
    assert cfg.read_text() == (
        'name = "multi"\n'
        "#access_control = [\n"
        f"#    'policy={POLICY},label=dom_Fun'\n"
        "#]\n"
        "memory = 64\n"
    )


def test_rmlabel_refuses_a_label_sharing_its_line(
    compiled_root: Path,  # noqa: F811
    workdir: Path,
) -> None:
    cfg = copy_data("shared_line.cfg", workdir)
    before = cfg.read_bytes()
    r = xm("rmlabel", "dom", str(cfg))
    assert r.exit_code == 1
    assert "put it on a line of its own" in r.stderr
    assert cfg.read_bytes() == before


def test_already_labeled_is_refused(compiled_root: Path, workdir: Path) -> None:  # noqa: F811
    cfg = copy_data("multiline_label.cfg", workdir)
    before = cfg.read_bytes()
    r = xm("addlabel", "dom_HomeBanking", "dom", "multiline_label.cfg", POLICY)
    assert r.exit_code == 1
    assert r.stderr == "Error: \"Config file 'multiline_label.cfg' is already labeled.\"\n"
    assert cfg.read_bytes() == before


def test_unknown_label_is_refused_and_changes_nothing(
    compiled_root: Path,  # noqa: F811
    workdir: Path,
) -> None:
    cfg = copy_data("plain.cfg", workdir)
    before = cfg.read_bytes()
    r = xm("addlabel", "dom_Nope", "dom", "plain.cfg", POLICY)
    assert (r.exit_code, r.stderr) == (1, "Error: \"Label 'dom_Nope' not found.\"\n")
    # a resource label is not a domain label
    r = xm("addlabel", "res_HardDrive(hda)", "dom", "plain.cfg", POLICY)
    assert (r.exit_code, r.stderr) == (
        1,
        "Error: \"Label 'res_HardDrive(hda)' is a resource label (res) of policy "
        f"'{POLICY}', but a domain label (dom) is needed here.\"\n",
    )
    assert cfg.read_bytes() == before


def test_malformed_label_is_reported(compiled_root: Path, workdir: Path) -> None:  # noqa: F811
    cfg = copy_data("malformed_label.cfg", workdir)
    r = xm("getlabel", "dom", str(cfg))
    assert r.exit_code == 1
    assert "access_control needs both policy= and label=" in r.stderr


def test_not_utf8_config_is_reported(compiled_root: Path, workdir: Path) -> None:  # noqa: F811
    cfg = copy_data("not_utf8.cfg", workdir)
    before = cfg.read_bytes()
    for args in (("addlabel", "dom_Fun", "dom", str(cfg), POLICY), ("getlabel", "dom", str(cfg))):
        r = xm(*args)
        assert r.exit_code == 1
        assert "not UTF-8 text" in r.stderr
    assert cfg.read_bytes() == before


# ------------------------------------------------------------------ lookup


def test_relative_names_are_looked_up_in_cwd_then_etc_xen(
    compiled_root: Path,  # noqa: F811
    workdir: Path,
) -> None:
    etc_xen = compiled_root / "etc" / "xen"
    etc_xen.mkdir(parents=True, exist_ok=True)
    in_etc = copy_data("plain.cfg", etc_xen)
    assert xm("addlabel", "dom_Fun", "dom", "plain.cfg", POLICY).exit_code == 0
    assert in_etc.read_bytes().endswith(LINE + b"\n")

    # a file of the same name in the current directory comes first
    here = copy_data("plain.cfg", workdir)
    assert xm("addlabel", "dom_HomeBanking", "dom", "plain.cfg", POLICY).exit_code == 0
    assert b"label=dom_HomeBanking" in here.read_bytes()
    assert b"label=dom_HomeBanking" not in in_etc.read_bytes()


def test_missing_config_is_reported(compiled_root: Path, workdir: Path) -> None:  # noqa: F811
    for args in (
        ("addlabel", "dom_Fun", "dom", "nowhere.cfg", POLICY),
        ("getlabel", "dom", "nowhere.cfg"),
        ("rmlabel", "dom", "nowhere.cfg"),
    ):
        r = xm(*args)
        assert (r.exit_code, r.stderr) == (1, "Error: \"Config file 'nowhere.cfg' not found.\"\n")


# ------------------------------------------------------------------ never executed


@pytest.mark.parametrize(
    ("name", "marker", "what"),
    [
        ("call.cfg", "PWNED-call", "a call of 'open' is not allowed"),
        ("import.cfg", "PWNED-import", "'os.mkdir' is not allowed"),
        ("attribute.cfg", "PWNED-attribute", "the name '__builtins__' is not allowed"),
        ("dunder_import.cfg", "PWNED-dunder", "the name '__import__' is not allowed"),
        ("expression.cfg", "PWNED-expression", "a call of 'print' is not allowed"),
    ],
)
def test_configs_with_code_are_refused_and_never_executed(
    compiled_root: Path,  # noqa: F811
    workdir: Path,
    name: str,
    marker: str,
    what: str,
) -> None:
    cfg = copy_data(name, workdir)
    before = cfg.read_bytes()
    for args in (
        ("addlabel", "dom_Fun", "dom", name, POLICY),
        ("getlabel", "dom", name),
        ("rmlabel", "dom", name),
    ):
        r = xm(*args)
        assert r.exit_code == 1, args
        assert r.stderr.count("\n") == 1  # one clear line, no traceback
        assert what in r.stderr
        assert str(cfg) in r.stderr  # the error names the file (and its line)
    assert cfg.read_bytes() == before
    # Executing the file would have created the marker (the data files say so).
    assert marker in before.decode()
    assert not (workdir / marker).exists()
    assert sorted(p.name for p in workdir.iterdir()) == [name]


# ------------------------------------------------------------------ properties

# names a config may assign: not a keyword, and not a dunder name like
# `__0__` (the config language refuses those)
_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: (
        n != "access_control"
        and not keyword.iskeyword(n)
        and not (len(n) > 4 and n.startswith("__") and n.endswith("__"))
    )
)
_values = st.one_of(
    st.integers(-(10**6), 10**6).map(repr),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n\\'\x0c\x0b"), max_size=12).map(
        lambda s: repr(s)
    ),
    st.lists(st.text("abcxyz:/,=", max_size=8), max_size=3).map(repr),
)
_assignment = st.tuples(_names, _values, st.sampled_from(["", "  # note"])).map(
    lambda t: f"{t[0]} = {t[1]}{t[2]}"
)
_line = st.one_of(_assignment, st.just(""), st.just("# a comment"), st.just("   "))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_line, max_size=8),
    eol=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
)
def test_label_round_trip_keeps_every_other_byte(
    lines: list[str], eol: str, final_newline: bool
) -> None:
    text = eol.join(lines) + (eol if final_newline and lines else "")
    original = text.encode()
    parse_config(text, "gen.cfg")  # the generated config is valid

    labeled = append_access_control(original, POLICY, "dom_Fun")
    # every byte of the original stays, in front
    assert labeled.startswith(original)
    added = labeled[len(original) :]
    assert added.rstrip(b"\r\n").lstrip(b"\r\n") == LINE
    cfg = parse_config(labeled.decode(), "gen.cfg")
    assert config_label(cfg) == (POLICY, "dom_Fun")

    removed = comment_out_access_control(labeled, "gen.cfg")
    assert removed == labeled[: len(labeled) - len(added)] + added.replace(LINE, b"#" + LINE, 1)
    assert config_label(parse_config(removed.decode(), "gen.cfg")) is None
    # the other assignments read exactly as before
    assert parse_config(removed.decode(), "gen.cfg").values == parse_config(text, "g").values


def test_comment_out_without_label_changes_nothing() -> None:
    data = b'name = "x"\n# access_control = [1]\n'
    assert comment_out_access_control(data) == data


def test_parse_config_names_the_offending_line() -> None:
    with pytest.raises(XmError) as info:
        parse_config('name = "x"\n\nmemory = open("3")\n', "f.cfg")
    assert info.value.message.startswith("f.cfg:3: ")


def test_concurrent_addlabels_of_one_config_label_it_once(
    compiled_root: Path,  # noqa: F811
    workdir: Path,
) -> None:
    import subprocess
    import sys

    cfg = copy_data("plain.cfg", workdir)
    before = cfg.read_bytes()
    env = dict(os.environ, XM_ROOT=str(compiled_root))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "xm_core", "addlabel", label, "dom", str(cfg), POLICY],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for label in ("dom_Fun", "dom_HomeBanking", "dom_BoincClient", "dom_StorageDomain")
    ]
    codes = sorted(p.wait(timeout=60) for p in procs)
    for p in procs:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        p.stderr.close()
    assert codes == [0, 1, 1, 1]
    data = cfg.read_bytes()
    assert data.startswith(before)
    assert data.count(b"access_control") == 1


def test_a_symlinked_config_stays_a_link(compiled_root: Path, workdir: Path) -> None:  # noqa: F811
    real = copy_data("plain.cfg", workdir)
    link = workdir / "link.cfg"
    link.symlink_to(real.name)
    assert xm("addlabel", "dom_Fun", "dom", "link.cfg", POLICY).exit_code == 0
    assert link.is_symlink()
    assert real.read_bytes().endswith(LINE + b"\n")
    assert xm("rmlabel", "dom", "link.cfg").exit_code == 0
    assert link.is_symlink()
    assert real.read_bytes().endswith(b"#" + LINE + b"\n")


def test_rewriting_a_config_reads_it_with_the_same_limit(tmp_path: Path) -> None:
    """rewrite_config reads the file it has locked through the same bounded
    reader as every input: past the limit it stops with one line (exit 2)
    and the file stays as it was."""
    from xm_core.files.config import MAX_CONFIG_BYTES, ConfigLimitError, rewrite_config

    big = tmp_path / "big.cfg"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigLimitError, match=r"big.cfg' is larger than the limit of 1 MiB$"):
        rewrite_config(big, lambda data: data + LINE)
    assert big.stat().st_size == MAX_CONFIG_BYTES + 1
    small = tmp_path / "small.cfg"
    small.write_bytes(b"name = 'a'\n")
    assert rewrite_config(small, lambda data: data + LINE) == b"name = 'a'\n" + LINE
