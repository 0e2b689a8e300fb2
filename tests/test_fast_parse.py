"""The run-time ``.kspec`` parser (``kspec/spec/_lalr.py``: Lark's LALR
tables and contextual lexer shipped as literals, driven without Lark,
building the IR on each reduction) reads what Lark reads: the same tokens
at the same positions, the same rule spans, and on broken text the same
syntax errors, on every ``.kspec`` file in the repository and on random
mutations of them; and parsing valid text does not import Lark."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lark import Tree, UnexpectedInput

from _lark_oracle import LARK, from_lark
from kspec.spec import _lalr, kspec_form
from kspec.spec.diagnostics import KspecError

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(p for p in ROOT.glob("**/*.kspec") if ".venv" not in p.parts)
TEXTS = [p.read_text(encoding="utf-8") for p in SPECS]

Where = tuple[str, str, int | None, int | None, int | None, int | None, int | None]


def _where(tok: Any) -> Where:
    return (tok.type, str(tok), tok.start_pos, tok.line, tok.column, tok.end_line, tok.end_column)


def _lark_tokens(text: str) -> list[Where] | str:
    """The tokens Lark's own parser reads from ``text``, or its error's kind."""
    interactive = LARK.parse_interactive(text, start="start")
    try:
        return [_where(tok) for tok in interactive.iter_parse()]
    except UnexpectedInput as exc:
        return type(exc).__name__


def _our_tokens(text: str, monkeypatch: pytest.MonkeyPatch) -> list[Where] | str:
    """The tokens the run-time parser shifts, or ``"error"``."""
    seen: list[Where] = []
    depth = [0]

    def recording(fast: kspec_form._Fast, text: str, start: str) -> Any:
        depth[0] += 1
        try:  # not the holes of f-strings, parsed on their own
            trace = (lambda tok: seen.append(_where(tok))) if depth[0] == 1 else None
            return fast.parser.parse(text, start, trace)
        finally:
            depth[0] -= 1

    with monkeypatch.context() as patch:
        patch.setattr(kspec_form, "_run", recording)
        try:
            kspec_form.parse_kspec(text)
        except KspecError:
            return "error"
    return seen


def _lark_spans(text: str) -> set[tuple[int, int, int | None, int | None]]:
    """Every node's span in Lark's tree (``propagate_positions``)."""
    tree = LARK.parse(text, start="start")
    out: set[tuple[int, int, int | None, int | None]] = set()
    for node in tree.iter_subtrees():
        if isinstance(node, Tree) and not node.meta.empty:
            m = node.meta
            out.add((m.line, m.column, m.end_line, m.end_column))
    return out


def _our_spans(text: str, monkeypatch: pytest.MonkeyPatch) -> set[tuple[int, int, int | None, int | None]]:
    """Every rule span the tree-less parser gives its builder."""
    out: set[tuple[int, int, int | None, int | None]] = set()
    depth = [0]
    span, run = kspec_form._Builder._span, kspec_form._run

    def recording(self: kspec_form._Builder) -> Any:
        cur = self.cur
        if cur is not None and depth[0] == 1:  # not the holes of f-strings, parsed on their own
            out.add((cur[0].line or 0, cur[0].column or 0, cur[1].end_line, cur[1].end_column))
        return span(self)

    def counting(*args: Any) -> Any:
        depth[0] += 1
        try:
            return run(*args)
        finally:
            depth[0] -= 1

    with monkeypatch.context() as patch:
        patch.setattr(kspec_form._Builder, "_span", recording)
        patch.setattr(kspec_form, "_run", counting)
        kspec_form.parse_kspec(text)
    return out


@pytest.mark.parametrize("index", range(len(SPECS)), ids=[p.name for p in SPECS])
def test_repository_specs_lex_as_lark_does(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    theirs = _lark_tokens(TEXTS[index])
    ours = _our_tokens(TEXTS[index], monkeypatch)
    if isinstance(theirs, str):
        assert ours == "error"
    elif ours != "error":  # a spec Lark reads may still break a rule of the language
        assert ours == theirs


@pytest.mark.parametrize("index", range(len(SPECS)), ids=[p.name for p in SPECS])
def test_repository_spans_are_larks(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        theirs = _lark_spans(TEXTS[index])
        ours = _our_spans(TEXTS[index], monkeypatch)
    except (UnexpectedInput, KspecError):
        return
    assert ours <= theirs  # every span the builder reads is the span of a node of Lark's tree


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TEXTS), st.integers(0, 10_000), st.integers(0, 12), st.text(max_size=6))
def test_mutated_specs_lex_and_fail_as_lark_does(text: str, at: int, cut: int, insert: str) -> None:
    at %= len(text) + 1
    mutated = text[:at] + insert + text[at + cut:]
    with pytest.MonkeyPatch.context() as monkeypatch:
        theirs = _lark_tokens(mutated)
        ours = _our_tokens(mutated, monkeypatch)
    if isinstance(theirs, str):
        assert ours == "error"
        with pytest.raises(KspecError) as ours_error:
            kspec_form.parse_kspec(mutated)
        try:
            LARK.parse(mutated, start="start")
        except UnexpectedInput as exc:
            expected = kspec_form._syntax_diagnostic(from_lark(exc), mutated, "<string>")
        assert ours_error.value.diagnostics[0] == expected
    elif ours != "error":
        assert ours == theirs


_IN_A_FRESH_PROCESS = """
import json, sys
from kspec.spec import _lalr, kspec_form
from kspec.spec.diagnostics import KspecError
valid, broken = json.loads(sys.stdin.read())
spec = kspec_form.parse_kspec(valid, "valid.kspec")
value = kspec_form.parse_expression('f"stage{i + 1}" if i > 0 else 16 * 2')
without_lark = "lark" not in sys.modules
try:
    kspec_form.parse_kspec(broken, "broken.kspec")
except KspecError as exc:
    d = exc.diagnostics[0]
    error = [d.code, d.message, d.span.line, d.span.column, d.span.end_line, d.span.end_column]
without_lark = without_lark and "lark" not in sys.modules
print(json.dumps([without_lark, len(spec.models), repr(value), error]))
"""


def test_text_parses_without_lark_and_errors_read_as_larks() -> None:
    valid = (ROOT / "examples" / "mnist_convnet.kspec").read_text(encoding="utf-8")
    broken = valid.replace("Dense(", "Dense((", 1)
    proc = subprocess.run([sys.executable, "-c", _IN_A_FRESH_PROCESS], input=json.dumps([valid, broken]),
                          capture_output=True, text=True, timeout=60, check=True)
    without_lark, models, value, error = json.loads(proc.stdout)
    assert without_lark
    assert models == len(kspec_form.parse_kspec(valid).models) >= 1
    assert value == repr(kspec_form.parse_expression('f"stage{i + 1}" if i > 0 else 16 * 2'))
    try:
        LARK.parse(broken, start="start")
    except UnexpectedInput as exc:
        d = kspec_form._syntax_diagnostic(from_lark(exc), broken, "broken.kspec")
    assert d.span is not None and d.span.line is not None and d.span.line > 1 and d.code == "K103"
    assert error == [d.code, d.message, d.span.line, d.span.column, d.span.end_line, d.span.end_column]


def test_patterns_are_compiled_on_first_use_only() -> None:
    """A parser compiles no pattern until it lexes, then one per list of
    terminals that can start at a character it met."""
    b = kspec_form._Builder()
    parser = _lalr.Parser(kspec_form._tables(), kspec_form._callbacks(b), {}, b)
    assert parser._patterns == {}
    text = (ROOT / "examples" / "mnist_convnet.kspec").read_text(encoding="utf-8")
    with kspec_form._fast().lock:
        b.file, b.names = "x.kspec", kspec_form._Names()
        parser.parse(text, "start")
    met = set(text)
    assert 0 < len(parser._patterns) <= sum(len(d) for d in {id(d): d for d in parser.dispatch}.values())
    assert all(set(d) <= met for d in parser.dispatch)


# ---------------------------------------------------------------------------
# the builder's work grows with the text, not faster


def _fixpoint(resolver: Any, stmts: list[Any]) -> set[str]:
    """The named layers of a model as the plain fixpoint finds them: read
    every statement again until a reading adds nothing."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for stmt in stmts:
            if stmt.kind != "assign" or len(stmt.data["targets"]) != 1 or stmt.data["targets"][0] in found:
                continue
            head = stmt.data["expr"].head
            if isinstance(head, kspec_form._Name):
                is_def = head.name in resolver.shared or head.name in found
            else:
                is_def = isinstance(head, kspec_form._RawCall) and resolver._defines(head, found)
            if is_def:
                found.add(stmt.data["targets"][0])
                changed = True
    return found


# chains from a name (named before or after), new layers (``{n}()`` is one only while {n} is
# no named layer), applied layers, two targets, a merge helper, block calls, a shared model
_FORMS = ["{t} = {n}", "{t} = {n} -> Dense(2)", "{t} = Dense(2)", "{t} = {n}()", "{t} = {n}(x)",
          "{t} = x -> Dense(2)", "{t}, {n} = Dense(2)", "{t} = concatenate({n}, x)", "{t} = blk({n})",
          "{t} = blk(x, 2)", "{t} = other -> Dense(2)"]
_PRELUDE = ("block blk(y, k: int = 1) {\n  return y -> Dense(k)\n}\n"
            "model other {\n  input z: (2,)\n  output o = z -> Dense(2)\n}\n")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_FORMS), st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=12))
@example([("{t} = {n} -> Dense(2)", 0, 1), ("{t} = {n}", 2, 0), ("{t} = Dense(2)", 1, 0)])
@example([("{t} = {n}()", 0, 1), ("{t} = {n}", 1, 3), ("{t} = Dense(2)", 3, 0), ("{t} = {n}()", 2, 1)])
def test_named_layers_are_the_fixpoint_of_rereading(lines: list[tuple[str, int, int]]) -> None:
    """Names assigned a layer stack (``enc = Dense(4)``, ``stack = enc ->
    Dense(2)`` before or after ``enc``) are found in one reading of the
    statements: the same names as rereading them until nothing changes."""
    names = ["a", "b", "c", "d", "x", "other"]
    body = "\n".join("  " + form.format(t=names[t], n=names[n]) for form, t, n in lines)
    text = f"{_PRELUDE}model m {{\n  input x: (2,)\n{body}\n}}\n"
    compared: list[set[str]] = []
    found = kspec_form._ModelResolver._layer_def_names

    def both(self: Any, stmts: list[Any]) -> set[str]:
        ours = found(self, stmts)
        assert ours == _fixpoint(self, stmts)
        compared.append(ours)
        return ours

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kspec_form._ModelResolver, "_layer_def_names", both)
        with contextlib.suppress(KspecError):  # a broken model is still read: its named layers were compared
            kspec_form.parse_kspec(text)
    assert len(compared) == 2  # the two models


class _Readings(list):  # type: ignore[type-arg]
    """A list that counts how often it is read through."""

    readings = 0

    def __iter__(self) -> Any:
        self.readings += 1
        return super().__iter__()


def test_named_layers_defined_backwards_are_found_in_one_reading() -> None:
    """``l0 = l1 -> Dense(4)``, ``l1 = l2 -> Dense(4)``, ... ``ln = Dense(4)``:
    every name is a named layer, found in one reading of the statements
    (rereading until nothing changes reads them n times)."""
    n = 300
    lines = [f"  l{i} = l{i + 1} -> Dense(4)" for i in range(n)] + [f"  l{n} = Dense(4)", "  output o = x -> l0"]
    text = "model m {\n  input x: (4,)\n" + "\n".join(lines) + "\n}\n"
    seen: list[tuple[set[str], int]] = []
    found = kspec_form._ModelResolver._layer_def_names

    def counted(self: Any, stmts: list[Any]) -> set[str]:
        readings = _Readings(stmts)
        names = found(self, readings)
        seen.append((names, readings.readings))
        return names

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kspec_form._ModelResolver, "_layer_def_names", counted)
        spec = kspec_form.parse_kspec(text)
    assert seen == [({f"l{i}" for i in range(n + 1)}, 1)]
    assert [d.name for d in spec.models[0].layers] == [f"l{i}" for i in range(n + 1)]  # type: ignore[union-attr]


def test_a_long_sum_of_tensors_is_read_once() -> None:
    """Whether each operand of ``x + x + ... + x`` computes on tensors is
    asked a few times per operand, not once per enclosing operation."""
    asked = [0]
    tensorish = kspec_form._ModelResolver.tensorish

    def counting(self: Any, v: Any, seen: Any = None) -> bool:
        asked[0] += 1
        return tensorish(self, v, seen)

    for n in (50, 200):
        asked[0] = 0
        text = "model m {\n  input x: (4,)\n  h = " + " + ".join(["x"] * n) + " -> Dense(2)\n  output o = h\n}\n"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(kspec_form._ModelResolver, "tensorish", counting)
            spec = kspec_form.parse_kspec(text)
        assert spec.models[0].nodes[0].value.inputs == ["x"]  # type: ignore[union-attr]
        assert asked[0] <= 4 * n
