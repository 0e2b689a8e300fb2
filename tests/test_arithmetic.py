"""Parameter arithmetic read without the .kspec front end
(:mod:`kspec.spec.arithmetic`) is what the .kspec parser makes of it
(``parse_expression``): the same IR values, types and spans; every other
text is left to the parser."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kspec.spec import ir, limits
from kspec.spec.arithmetic import _RESERVED, read_arithmetic
from kspec.spec.diagnostics import KspecError
from kspec.spec.kspec_form import parse_expression
from kspec.spec.yaml_form import load_yaml

GRAMMAR = Path(__file__).resolve().parent.parent / "src" / "kspec" / "grammars" / "kspec.lark"
WHERE = ir.Span("f.yaml", 7, 9, 7, 30)


def _dump(value: Any) -> Any:
    """A value as comparable data: IR nodes by type, span and fields; numbers with their type."""
    if isinstance(value, ir.IRNode):
        span = value.span
        fields = {name: _dump(getattr(value, name)) for name in value.semantic_fields}
        return type(value).__name__, span and (span.file, span.line, span.column, span.end_line, span.end_column), \
            fields
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return type(value).__name__, repr(value)


def _agrees(text: str) -> bool:
    """Property: the fast reading is None, or parse_expression's (which then
    reads the text without error). True if it read it."""
    fast = read_arithmetic(text, WHERE.file)
    if fast is None:
        return False
    assert _dump(fast) == _dump(parse_expression(text, WHERE)), text
    return True


def test_reserved_words_are_the_grammars() -> None:
    """Every word the grammar spells out (keywords, constants, dtypes) is
    reserved here: a name that is one is left to the parser."""
    grammar = GRAMMAR.read_text(encoding="utf-8")
    words = set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', grammar))
    dtypes = re.search(r"DTYPE\.\d+: /\(([^)]*)\)", grammar)
    assert dtypes is not None
    words |= set(dtypes.group(1).split("|"))
    assert words - _RESERVED == set()
    assert {"model", "true", "None", "float32", "for"} <= words


@pytest.mark.parametrize(
    "text",
    ["filters", "4 * filters", "-3", "- x", "--2", "+x", "-(2)", "-x ** 2", "2 ** -1", "2 ** -x", "(a + b) * 2",
     "a // 2 % 3", "1.5e-3 * x", "1_000", "10_", ".5", "1.", "1e5", "a - -b", "((x))", " x + 1 ", "x_1 / _y",
     "2 * 3", "a ** b ** c", "-a * -b", "1 - 2 - 3"],
)
def test_arithmetic_is_read_as_the_parser_reads_it(text: str) -> None:
    assert _agrees(text), text


@pytest.mark.parametrize(
    "text",
    ["true", "None", "float32", "model", "a.shape", "f(x)", "[1, 2]", "'s'", 'f"x{i}"', "a if b else c", "a < b",
     "not a", "a and b", "a @ b", "x[0]", "ops.mean", "a::B", "007", "2x", "1e", "x\t+ 1", "x +", "", "  ", "(x",
     "x)", str(2**63), "1" * 5000, "-" * 5000 + "x", "-" * 5000 + "1", "2 ** " * 3000 + "2", "a\n+ b", "# c"],
)
def test_anything_else_is_left_to_the_parser(text: str) -> None:
    assert read_arithmetic(text, "f.yaml") is None


def test_an_integer_of_thousands_of_digits_is_a_located_error() -> None:
    """int() refuses more than 4,300 digits: such an integer, written in an
    expr string, is the parser's located error, not an internal one."""
    text = ("models:\n  - name: m\n    inputs: {x: [4]}\n    outputs:\n"
            "      y: {from: x, apply: {Dense: [{expr: '%s'}]}}\n")
    with pytest.raises(KspecError, match="too large"):
        load_yaml(text % ("1" * 5000), "f.yaml")


def test_nesting_is_left_to_the_parser() -> None:
    chain = " + ".join(["x"] * 40)
    parens = "(" * 40 + "x" + ")" * 40
    assert read_arithmetic(chain, "f.yaml") is None and read_arithmetic(parens, "f.yaml") is None
    assert _agrees(" + ".join(["x"] * 20))
    with limits.using(limits.Limits(nesting=3)):
        assert read_arithmetic("x + x + x", "f.yaml") is not None
        assert read_arithmetic("x + x + x + x", "f.yaml") is None
        with pytest.raises(KspecError):
            parse_expression("x + x + x + x + x", WHERE)


_NAMES = st.sampled_from(["x", "filters", "_", "a1", "true", "None", "model", "float32", "ops", "shape", "e", "inf"])
_NUMBERS = st.sampled_from(["0", "7", "007", "1_000", "10_", "1__0", "1.", ".5", "1.5", "1e5", "1.5e-3", "2E+2",
                            "1_0.5", str(2**63 - 1), str(2**63), "0.0"])


@st.composite
def _expression(draw: st.DrawFn, depth: int = 0) -> str:
    """Arithmetic text with random spacing, parentheses and signs."""
    space = st.sampled_from(["", " ", "  "])
    if depth > 3 or draw(st.integers(0, 2)) == 0:
        atom = draw(st.one_of(_NAMES, _NUMBERS))
    else:
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]))
        atom = draw(_expression(depth + 1)) + draw(space) + op + draw(space) + draw(_expression(depth + 1))
    if draw(st.integers(0, 3)) == 0:
        atom = "(" + draw(space) + atom + draw(space) + ")"
    if draw(st.integers(0, 4)) == 0:
        atom = draw(st.sampled_from(["-", "+", "- ", "--"])) + atom
    return atom


@given(_expression(), st.sampled_from(["", " ", "  "]))
def test_any_arithmetic_reads_alike(text: str, pad: str) -> None:
    _agrees(pad + text + pad)


@given(_expression())
def test_arithmetic_on_plain_names_and_numbers_is_read(text: str) -> None:
    """Property: without reserved words or numbers the parser refuses, the
    fast reading always reads it."""
    if not re.search(r"\b(true|None|model|float32)\b|\b007\b|" + str(2**63), text):
        assert _agrees(text), text


@given(st.text(alphabet="x1 .+-*/%()_e", max_size=16))
def test_any_text_reads_alike(text: str) -> None:
    _agrees(text)
