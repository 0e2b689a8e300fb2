"""The shipped LALR tables (``kspec/spec/_kspec_tables.py``) are current
and parse exactly as a parser freshly built from the grammar does: same
trees, same positions, same errors, on every ``.kspec`` file in the
repository and on random mutations of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lark import Lark, Tree, UnexpectedInput

from _scripts import load_script
from kspec.spec import kspec_form as parser

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(p for p in ROOT.glob("**/*.kspec") if ".venv" not in p.parts)
TEXTS = [p.read_text(encoding="utf-8") for p in SPECS]


def _script() -> Any:
    return load_script("gen_parser_tables")


FRESH = Lark(parser._grammar(), **parser.LARK_OPTIONS)


def test_shipped_tables_are_current_and_used() -> None:
    assert _script().stale_reason() is None, "run python scripts/gen_parser_tables.py"
    assert parser._lark().source_path == "<deserialized>"  # loaded from the tables, not rebuilt


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
