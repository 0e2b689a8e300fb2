"""The shipped tables are current: the run-time parser's
(``kspec/spec/_kspec_tables.py``) are exactly what the grammar gives, and
Lark's own (``kspec/spec/_kspec_lark_tables.py``, for error descriptions)
parse exactly as a parser freshly built from the grammar does: same trees,
same positions, same errors, on every ``.kspec`` file in the repository and
on random mutations of them. Stale tables are rebuilt from the grammar."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark, Tree, UnexpectedInput

from _scripts import load_script
from kspec.spec import kspec_form as parser
from kspec.spec._lalr import Tables
from kspec.spec._lalr_export import ExportError, export, first_chars

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(p for p in ROOT.glob("**/*.kspec") if ".venv" not in p.parts)
TEXTS = [p.read_text(encoding="utf-8") for p in SPECS]


def _script() -> Any:
    return load_script("gen_parser_tables")


FRESH = Lark(parser._grammar(), **parser.LARK_OPTIONS)
EXPORTED = export(FRESH)


def test_shipped_tables_are_current_and_used() -> None:
    assert _script().stale_reason() is None, "run python scripts/gen_parser_tables.py"
    assert parser._lark().source_path == "<deserialized>"  # loaded from the tables, not rebuilt


def test_shipped_files_are_exactly_what_the_generator_writes() -> None:
    """Two generations write the same text (Lark numbers its states
    differently on each build; the generator renumbers them), so the
    shipped files are exactly a fresh generation's, to the character."""
    script = _script()
    first, second = script.sources(), script.sources()
    assert first == second
    for path, text in first.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run python scripts/gen_parser_tables.py"


def _outcome(lark: Lark, text: str) -> Any:
    """A parse tree with every node's position, or the error's kind,
    position and expected tokens."""
    try:
        tree = lark.parse(text, start="start")
    except UnexpectedInput as exc:
        expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or set()
        return type(exc).__name__, exc.line, exc.column, sorted(expected)

    def located(t: Any) -> Any:
        if isinstance(t, Tree):
            m = t.meta
            where = None if m.empty else (m.line, m.column, m.end_line, m.end_column)
            return t.data, where, [located(c) for c in t.children]
        return t if t is None else (t.type, str(t), t.line, t.column)

    return located(tree)


@pytest.mark.parametrize("index", range(len(SPECS)), ids=[p.name for p in SPECS])
def test_repository_specs_parse_alike(index: int) -> None:
    assert _outcome(parser._lark(), TEXTS[index]) == _outcome(FRESH, TEXTS[index])


@given(st.sampled_from(TEXTS), st.integers(0, 10_000), st.integers(0, 12), st.text(max_size=6))
def test_mutated_specs_parse_alike(text: str, at: int, cut: int, insert: str) -> None:
    at %= len(text) + 1
    mutated = text[:at] + insert + text[at + cut:]
    assert _outcome(parser._lark(), mutated) == _outcome(FRESH, mutated)


def test_shipped_run_time_tables_are_what_the_grammar_gives() -> None:
    """The run-time parser's literals equal a fresh export (states are
    renumbered canonically, so two generations agree exactly)."""
    from kspec.spec import _kspec_tables as shipped

    assert {name: getattr(shipped, name) for name in EXPORTED} == EXPORTED
    assert vars(parser._tables()) == vars(Tables(EXPORTED))


def test_stale_tables_are_rebuilt_from_the_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "_lark_version", lambda: "0.0.0")
    rebuilt = parser._tables()
    assert vars(rebuilt) == vars(Tables(EXPORTED))
    assert parser._lark().source_path == "<deserialized>"  # cached: built before the patch
    parser._lark.cache_clear()
    try:
        assert parser._lark().source_path != "<deserialized>"  # Lark's own, from the grammar
    finally:
        parser._lark.cache_clear()


def test_lark_version_is_read_without_importing_lark(monkeypatch: pytest.MonkeyPatch) -> None:
    import lark

    monkeypatch.delitem(sys.modules, "lark")
    assert parser._lark_version() == lark.__version__
    assert "lark" not in sys.modules


TERMINALS = sorted(name for name, first in EXPORTED["FIRSTS"].items() if first is not None)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(TERMINALS), st.data())
def test_a_terminal_starts_with_one_of_its_first_characters(name: str, data: st.DataObject) -> None:
    """The lexer tries only the terminals that can start with the character
    at hand: every text a terminal matches starts with one of them."""
    regexp = EXPORTED["TERMINALS"][name]
    text = data.draw(st.from_regex(regexp, fullmatch=True).filter(lambda s: re.fullmatch(regexp, s) is not None))
    assert text and text[0] in EXPORTED["FIRSTS"][name]


def test_first_characters_of_patterns() -> None:
    assert first_chars(r"(?!x)ab|c+", 0) == "ac"
    assert first_chars(r"a*b", 0) == "ab"
    assert first_chars(r"[^a]", 0) is None  # any character, as far as it is worked out
    assert first_chars(r"x?", 0) is None  # may match nothing
    with pytest.raises(ExportError):
        first_chars(r"(a)\1", 0)
