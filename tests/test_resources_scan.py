"""The resource label file is read in one linear pass when it has the usual
form (a 16 MiB file used to take a minute and gigabytes through `ast`); any
other spelling is read by `ast` in small files only. Both readings agree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xm_core.errors import XmError
from xm_core.files import resources
from xm_core.files.resources import (
    AST_PARSE_MAX_BYTES,
    parse_resource_labels,
    read_resource_labels,
    render_resource_labels,
)

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@given(st.dictionaries(_text, st.tuples(_text, _text), max_size=8))
def test_the_scan_reads_what_ast_reads(labels: dict[str, tuple[str, str]]) -> None:
    text = render_resource_labels(labels).decode("utf-8")
    scanned = resources._scan(text)
    tree = ast.parse(text)
    assert isinstance(tree.body[0], ast.Assign)
    assert scanned == ast.literal_eval(tree.body[0].value)


@pytest.mark.parametrize(
    "text",
    [
        "resources = {}\n",
        "# a comment\nresources = {\n    'phy:hda1': ['p', 'l'],\n}\n",
        "resources = {'phy:hda1': ('p', 'l'), 'phy:hda2': (\"p\", \"l2\",)}",
        "resources = {\n  u'phy:hda1' : ( r'p' , 'l\\\\x41' ) , # note\n}\n",
    ],
)
def test_spellings_a_person_writes_are_scanned_like_ast_reads_them(text: str) -> None:
    scanned = resources._scan(text)
    assert scanned is not None
    tree = ast.parse(text)
    assert isinstance(tree.body[0], ast.Assign)
    expected = ast.literal_eval(tree.body[0].value)
    assert scanned == {k: tuple(v) for k, v in expected.items()}


@pytest.mark.parametrize(
    "text",
    [
        "resources = {'a' 'b': ('p', 'l')}\n",  # string concatenation
        "resources = {'''a''': ('p', 'l')}\n",  # triple quotes
        "resources = {'a': ('p', 'l')}\nother = 1\n",  # more than the assignment
        "resources = {'a': ('p', 'l']}\n",  # brackets that do not match
    ],
)
def test_other_spellings_go_to_ast(text: str) -> None:
    assert resources._scan(text) is None


def test_a_large_file_in_another_spelling_is_refused_not_parsed(tmp_path: Path) -> None:
    entry = "    'phy:/dev/x%d' 'y': ('p', 'l'),\n"  # concatenation: not the usual form
    body = "".join(entry % i for i in range(AST_PARSE_MAX_BYTES // len(entry) + 10))
    path = tmp_path / "resource_labels"
    path.write_text("resources = {\n" + body + "}\n")
    with pytest.raises(XmError, match="is not in the usual form .* too large to read otherwise"):
        read_resource_labels(path)


def test_a_large_file_in_the_usual_form_is_read_in_one_pass(tmp_path: Path) -> None:
    labels = {f"phy:/dev/vg/lv{i}": ("example.chwall_ste.client_v1", "res_x") for i in range(60000)}
    path = tmp_path / "resource_labels"
    path.write_bytes(render_resource_labels(labels))
    assert path.stat().st_size > AST_PARSE_MAX_BYTES
    assert read_resource_labels(path) == labels
    assert parse_resource_labels(path.read_text(), str(path)) == labels
