"""The shipped tables are current: the run-time parser's
(``kspec/spec/_kspec_tables.py``) are exactly what the grammar gives. On
text that is not in the language the run-time parser raises the syntax
error Lark raises, attribute for attribute (kind, position, the token
found, the terminals expected), on every ``.kspec`` file in the repository
and on random mutations of them, without Lark. Stale tables are rebuilt
from the grammar."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark

from _lark_oracle import described, lark_error
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
    assert vars(parser._fast().parser.tables) == vars(Tables(vars(shipped_tables())))


def test_shipped_files_are_exactly_what_the_generator_writes() -> None:
    """Two generations write the same text (Lark numbers its states
    differently on each build; the generator renumbers them), so the
    shipped files are exactly a fresh generation's, to the character."""
    script = _script()
    first, second = script.sources(), script.sources()
    assert first == second
    for path, text in first.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run python scripts/gen_parser_tables.py"


def shipped_tables() -> Any:
    from kspec.spec import _kspec_tables

    return _kspec_tables


def _ours(text: str, start: str = "start") -> Any:
    return described(parser._syntax_error_in(text, start))


@pytest.mark.parametrize("index", range(len(SPECS)), ids=[p.name for p in SPECS])
def test_repository_specs_fail_as_lark_does(index: int) -> None:
    assert _ours(TEXTS[index]) == described(lark_error(TEXTS[index]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TEXTS), st.integers(0, 10_000), st.integers(0, 12), st.text(max_size=6))
def test_mutated_specs_fail_as_lark_does(text: str, at: int, cut: int, insert: str) -> None:
    at %= len(text) + 1
    mutated = text[:at] + insert + text[at + cut:]
    assert _ours(mutated) == described(lark_error(mutated))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abxf0123456789_.,:;()[]{}<>=+-*/%@#'\"\\ \n\tinpudtmoel")),
               max_size=40))
def test_values_fail_as_lark_does(text: str) -> None:
    """The value rule alone (the YAML form's ``{expr: ...}``), on text made
    of the language's characters."""
    assert _ours(text, "value") == described(lark_error(text, "value"))


def test_shipped_run_time_tables_are_what_the_grammar_gives() -> None:
    """The run-time parser's literals equal a fresh export (states are
    renumbered canonically, so two generations agree exactly)."""
    from kspec.spec import _kspec_tables as shipped

    assert {name: getattr(shipped, name) for name in EXPORTED} == EXPORTED
    assert vars(parser._tables()) == vars(Tables(EXPORTED))


def test_stale_tables_are_rebuilt_from_the_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables made from another grammar are not used: the parser's are
    built from the grammar in force (here the same language, one comment
    longer)."""
    grammar = parser._grammar() + "// another grammar\n"
    monkeypatch.setattr(parser, "_grammar", lambda: grammar)
    assert not parser._shipped(shipped_tables())
    assert vars(parser._tables()) == vars(Tables(EXPORTED))


def test_the_shipped_tables_serve_any_installed_lark(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables are the whole parser, syntax errors included: they are
    used whichever Lark is installed, and running them imports none."""
    import lark

    monkeypatch.setattr(lark, "__version__", "9.9.9")
    assert parser._shipped(shipped_tables())
    assert vars(parser._tables()) == vars(Tables(vars(shipped_tables())))


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
