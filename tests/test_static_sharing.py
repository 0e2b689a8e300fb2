"""Work the static checks share between passes, and that sharing changes nothing.

- :class:`kspec.compiler.calls.PlainKeys` numbers calls exactly as
  :func:`~kspec.compiler.calls.plain_key` tells them apart, and works each
  call's key out once;
- inside :func:`kspec.compiler.graph.indexes_shared` the graph checks and
  the walk read one :class:`~kspec.compiler.graph.ModelIndex` per model;
  outside, and after, each asks for a fresh one;
- block expansion marks the spans of a block's body as expanded from the
  call site, nested calls included, exactly as ``dataclasses.replace`` would;
- checking with everything shared reports what each pass reports alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kspec.compiler.arguments import check_arguments
from kspec.compiler.calls import PlainKeys, plain_key
from kspec.compiler.expand import _mark, _relocate
from kspec.compiler.graph import ModelIndex, check_graph, indexes_shared, model_order
from kspec.compiler.pipeline import check, expand, parse_text, static_check
from kspec.compiler.shapes import infer_spec
from kspec.compiler.walk import Application
from kspec.spec import ir
from kspec.spec.diagnostics import KspecError
from kspec.spec.ir import Span

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.0, -0.0, 2.0]),
                     st.sampled_from(["relu", "2", ""]))
_PLAIN = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=2), max_leaves=4)
_CALL = st.tuples(st.sampled_from(["Dense", "Dropout"]), st.lists(_PLAIN, max_size=2),
                  st.dictionaries(st.sampled_from(["a", "b"]), _PLAIN, max_size=2))


@given(st.lists(_CALL, min_size=1, max_size=6))
def test_plain_key_numbers_are_equal_exactly_when_the_keys_are(
        calls: list[tuple[str, list[Any], dict[str, Any]]]) -> None:
    keys = PlainKeys()
    made = [ir.LayerCall(type=name, args=args, kwargs=kwargs) for name, args, kwargs in calls]
    numbers = [keys.of(c, c.type, c.args, c.kwargs) for c in made]
    plain = [plain_key(c.type, c.args, c.kwargs) for c in made]
    for i in range(len(made)):
        for j in range(len(made)):
            assert (numbers[i] == numbers[j]) == (plain[i] == plain[j])
    assert [keys.of(c, c.type, c.args, c.kwargs) for c in made] == numbers  # asked again: the same numbers


def test_a_call_that_is_not_plain_has_no_number_and_each_call_is_read_once() -> None:
    keys = PlainKeys()
    call = ir.LayerCall(type="Dense", args=[4], kwargs={"kernel_regularizer": ir.Call(fn="l2", args=[0.01])})
    assert keys.of(call, call.type, call.args, call.kwargs) is None
    plain = ir.LayerCall(type="Dense", args=[4])
    first = keys.of(plain, plain.type, plain.args, plain.kwargs)
    assert first is not None
    # what a call is asked with later is not read again: the call object's number stands
    assert keys.of(plain, "Dense", [5], {}) == first
    other = ir.LayerCall(type="Dense", args=[5])
    assert keys.of(other, other.type, other.args, other.kwargs) not in (None, first)


_MODEL = """
model m {
  input x: (4,)
  a = x -> Dense(4)
  b = Add()(a, x)
  output o = b -> Dense(2)
}
"""


def test_indexes_are_shared_only_inside_the_context() -> None:
    model = parse_text(_MODEL, "m.kspec").models[0]
    assert isinstance(model, ir.FunctionalModel)
    assert ModelIndex.of(model) is not ModelIndex.of(model)
    with indexes_shared():
        index = ModelIndex.of(model)
        assert ModelIndex.of(model) is index
        with indexes_shared():  # nested: still the same indexes
            assert ModelIndex.of(model) is index
        copy = model.model_copy()
        assert ModelIndex.of(copy) is not index  # another object: its own index
        assert ModelIndex.of(copy) == index
    assert ModelIndex.of(model) is not index


def test_the_order_of_models_is_worked_out_once_per_spec_and_target() -> None:
    text = "model a {\n  input x: (4,)\n  output o = x -> b\n}\nmodel b {\n  input x: (4,)\n  output o = x -> c\n}\n" \
        "model c {\n  input x: (4,)\n  output o = x -> b\n}\n"
    spec = parse_text(text, "m.kspec")
    alone = {target: model_order(spec, target) for target in (None, "a", "b")}
    assert alone[None][0] == ["c", "b", "a"] and len(alone[None][1]) == 1  # b and c use each other
    with indexes_shared():
        for _ in range(2):
            for target, answer in alone.items():
                order, diags = model_order(spec, target)
                assert (order, diags) == answer
                order.append("changed")  # a caller's copy: the answer kept stays as it was
                diags.clear()


def test_a_shared_index_answers_as_a_fresh_one() -> None:
    text = _MODEL.replace("  a = x -> Dense(4)\n", "") + "\n"
    text = text.replace("  output o", "  a = x -> Dense(4)\n  output o")  # a used above its definition
    model = parse_text(text, "m.kspec").models[0]
    assert isinstance(model, ir.FunctionalModel)
    fresh = ModelIndex.of(model)
    with indexes_shared():
        index = ModelIndex.of(model)
        for or_here in (True, False, True):
            assert index.defined_above(or_here=or_here) == fresh.defined_above(or_here=or_here) is False
    plain = parse_text(_MODEL, "m.kspec").models[0]
    assert isinstance(plain, ir.FunctionalModel)
    ordered = ModelIndex.of(plain)
    assert ordered.defined_above() is True
    assert ordered.defined_above(or_here=True) is True


_SPECS = [
    _MODEL,
    "model m {\n  input x: (4,)\n  input y: (4,)\n  output o = x -> Dense(2)\n}\n",  # a dead input
    "model m {\n  input x: (4,)\n  a = b -> Dense(4)\n  b = a -> Dense(4)\n  output o = b\n}\n",  # a cycle
    "model m {\n  input x: (4,)\n  a = x -> Dense(4)\n  a = x -> Dense(4)\n  output o = q\n}\n",
    "sequential s {\n  input (4,)\n  Dense(4)\n  Dense(4, activation=\"relux\")\n  Dense(4)\n  Reshape([3])\n}\n",
    "model m {\n  input x: (4,)\n  h = x -> Dense(4) -> Dense(4, unit=2) -> Dense(4)\n  output o = h -> Dense(4)\n}\n",
    "model m {\n  input x: (4,)\n  e = Dense(4)\n  h = x -> e -> Dense(4)\n  g = h -> e\n  output o = g + h\n}\n",
]


@pytest.mark.parametrize("text", _SPECS)
def test_checking_with_shared_work_reports_what_each_pass_reports_alone(text: str) -> None:
    spec = expand(parse_text(text, "m.kspec"))
    graph = check_graph(spec)
    alone = list(graph)
    if not any(d.severity == "error" for d in graph):
        diags, bad = check_arguments(spec)  # each pass works its keys out for itself
        alone += [*diags, *infer_spec(spec, bad).diagnostics]
        assert static_check(spec) == alone[len(graph):]
    errors = [d for d in alone if d.severity == "error"]
    if errors:
        with pytest.raises(KspecError) as raised:
            check(spec)
        assert list(raised.value.diagnostics) == alone
    else:
        assert check(spec) is spec


# -- spans of expanded blocks -------------------------------------------------------


def _reference_mark(span: Span, via: Span, block: str) -> Span:
    """The marking, made with the standard library's ``dataclasses.replace``
    (``Span.replace`` copies through a function of its own)."""
    if span.via is not None:
        return dataclasses.replace(span, via=_reference_mark(span.via, via, block))
    return dataclasses.replace(span, via=via, via_block=block)


def _spans(value: Any) -> list[Any]:
    """Every span in ``value`` with the whole chain of call sites it was expanded from."""
    found: list[Any] = []
    if isinstance(value, ir.IRNode):
        for name in type(value).model_fields:
            found += _spans(getattr(value, name))
    elif isinstance(value, Span):
        chain = []
        span: Span | None = value
        while span is not None:
            chain.append((span.file, span.line, span.column, span.end_line, span.end_column, span.via_block))
            span = span.via
        found.append(chain)
    elif isinstance(value, list):
        for v in value:
            found += _spans(v)
    elif isinstance(value, dict):
        for v in value.values():
            found += _spans(v)
    return found


def test_marking_a_span_is_what_replacing_its_fields_gives() -> None:
    site = Span("m.kspec", 9, 3, 9, 12)
    outer = Span("m.kspec", 20, 5, 20, 9)
    plain = Span("m.kspec", 2, 7, 2, 15)
    once = _mark(plain, site, "inner")
    assert once == _reference_mark(plain, site, "inner")
    assert (once.via, once.via_block) == (site, "inner")
    twice = _mark(once, outer, "outer")
    assert twice == _reference_mark(once, outer, "outer")
    assert twice.via is not None and twice.via.via == outer and twice.via_block == "inner"


_BLOCKS = """
param width: int = 4
block inner(x, units: int) {
  y = x -> Dense(units, activation="relu") -> Dense(units)
  return Add()(y, x)
}
block outer(x, n: int) {
  h = x
  for i in range(n) {
    h = h -> inner(width)
  }
  return h
}
model m {
  input x: (4,)
  h = x -> outer(2)
  output o = h -> Dense(1)
}
"""


def test_relocated_blocks_carry_every_call_site_as_replacing_spans_does() -> None:
    spec = parse_text(_BLOCKS, "b.kspec")
    block = spec.blocks[0]
    site = Span("b.kspec", 10, 10, 10, 22)
    moved = _relocate(block.body, site, block.name)
    assert moved == block.body
    assert _all_spans(moved) == [_reference_mark(s, site, block.name) for s in _all_spans(block.body)]
    expanded = expand(spec)
    chains = _spans(expanded.models[0])
    assert any(len(chain) == 3 for chain in chains)  # inside inner, inside outer, in the model
    assert check(expanded) is expanded


def _all_spans(value: Any) -> list[Span]:
    found: list[Span] = []
    if isinstance(value, ir.IRNode):
        for name in type(value).model_fields:
            found += _all_spans(getattr(value, name))
    elif isinstance(value, Span):
        found.append(value)
    elif isinstance(value, list):
        for v in value:
            found += _all_spans(v)
    elif isinstance(value, dict):
        for v in value.values():
            found += _all_spans(v)
    return found


def test_an_application_is_a_value() -> None:
    call = ir.LayerCall(type="Dense", args=[4])
    a = Application(call, "Dense", ("x",), None)
    b = Application(call, "Dense", ("x",), None)
    assert a == b
    assert a != Application(call, "Dense", ("y",), None)


# -- statements with nothing to expand ---------------------------------------------


def _dump(value: Any) -> Any:
    """``value`` with every field, spans and key spans included (what ``==`` leaves out)."""
    if isinstance(value, ir.IRNode):
        return (type(value).__name__, {name: _dump(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, Span):
        return (value.file, value.line, value.column, value.end_line, value.end_column, _dump(value.via),
                value.via_block)
    return (type(value).__name__, repr(value))


_PARAMETERS = """
param u: int = 4
block twice(x, n: int) {
  y = x -> Dense(n) -> Dense(n, name=f"b{n}")
  return y
}
model m {
  input x: (4,)
  input z: (4,)
  a = x -> Dense(4, activation="relu", kernel_regularizer=l2(0.01)) -> Dense(u)
  b = Add()(a, z)
  c = a + b * 2.0
  d = ops.mean(c, axis=1, keepdims=true)
  e = Attention()(a, b, use_causal_mask=false)
  f = e -> twice(u)
  g = f -> Dense(a.shape[-1])
  output o = b -> Dense(2, activation="relu")
  output p = d
}
sequential s {
  input (4,)
  Dense(4, name="first")
  Dense(u)
  Dropout(0.5, seed=1)
}
"""


def test_statements_with_nothing_to_expand_are_kept_as_expanding_them_would_make_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kspec.compiler import expand as expand_module

    spec = parse_text(_PARAMETERS, "p.kspec")
    kept = expand(spec)
    written, expanded = spec.models[0], kept.models[0]
    assert isinstance(written, ir.FunctionalModel) and isinstance(expanded, ir.FunctionalModel)
    assert expanded.nodes[1].value.steps[0] is written.nodes[1].value.steps[0]  # b: kept as written
    monkeypatch.setattr(expand_module._Expander, "settled", lambda self, expr: False)
    monkeypatch.setattr(expand_module._Expander, "settled_layer", lambda self, layer: False)
    rebuilt = expand(spec)
    assert kept == rebuilt
    assert _dump(kept) == _dump(rebuilt)
    assert check(kept) is kept
