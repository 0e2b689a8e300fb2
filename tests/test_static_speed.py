"""The static checks do each piece of work once: what they remember, and
that remembering changes nothing.

- :func:`kspec.compiler.calls.plain_key` is equal for two calls exactly when
  they give the same plain values the same way (``16``, ``16.0`` and
  ``true`` differ, and so do ``0.0`` and ``-0.0``);
- the argument pass remembers the plain calls it found sound, and shape
  inference the answers of its rules: a spec of repeated calls gets the same
  diagnostics, shapes and parameter counts as checking each call alone;
- graph checks and the walk read each statement's tensors once: statement
  order, cycles and dead inputs agree with plain reference algorithms;
- ``wrapped_references`` finds a wrapper's named layer as binding the whole
  call would;
- the work per layer is flat: checking a spec of four times the layers
  makes four times the Python calls (counted, not timed, so the test is
  exact on a loaded machine).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _counting import calls_made
from kspec.catalogue import ALIASES, catalogue
from kspec.compiler.arguments import check_arguments, check_layer_call
from kspec.compiler.calls import plain_key
from kspec.compiler.expand import _has_exprs
from kspec.compiler.graph import ModelIndex, _cycle_diags, _dead_inputs, statement_order, tensor_order
from kspec.compiler.pipeline import check, expand, load_text, parse_text
from kspec.compiler.registry import REFERENCE_KEYS, wrapped_references
from kspec.compiler.shapes import infer_spec
from kspec.spec import ir

# -- plain keys ----------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, -0.0, 1.0, 16.0, 0.5]),
    st.sampled_from(["relu", "16", "", "True"]),
)
_PLAIN = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def _exact(value: Any) -> Any:
    """A value with every scalar's type and text: what two plain values
    must share to be the same argument."""
    if isinstance(value, list):
        return ("list", tuple(_exact(v) for v in value))
    return (type(value).__name__, repr(value))


@given(st.lists(_PLAIN, max_size=3), st.dictionaries(st.sampled_from(["a", "b"]), _PLAIN, max_size=2),
       st.lists(_PLAIN, max_size=3), st.dictionaries(st.sampled_from(["a", "b"]), _PLAIN, max_size=2))
def test_plain_keys_are_equal_exactly_for_the_same_plain_call(
        args1: list[Any], kw1: dict[str, Any], args2: list[Any], kw2: dict[str, Any]) -> None:
    same = ([_exact(v) for v in args1], [(k, _exact(v)) for k, v in kw1.items()]) == \
        ([_exact(v) for v in args2], [(k, _exact(v)) for k, v in kw2.items()])
    assert (plain_key("Dense", args1, kw1) == plain_key("Dense", args2, kw2)) == same
    assert plain_key("Dense", args1, kw1) == plain_key("Dense", list(args1), dict(kw1))
    assert plain_key("Dense", args1, kw1) != plain_key("Conv1D", args1, kw1)


@pytest.mark.parametrize(("a", "b"), [(16, 16.0), (1, True), (0, False), (0.0, -0.0), ("16", 16), (None, "None"),
                                    ([3, 3], [3, 3.0]), ([0.0], [-0.0]), ([1], 1), ([[1]], [1])])
def test_values_equal_as_numbers_are_different_arguments(a: Any, b: Any) -> None:
    assert plain_key("Dense", [a], {}) != plain_key("Dense", [b], {})
    assert plain_key("Dense", [], {"units": a}) != plain_key("Dense", [], {"units": b})
    assert plain_key("Dense", [a], {}) == plain_key("Dense", [a], {})


def test_a_keyword_is_not_a_positional_argument() -> None:
    assert plain_key("Dense", [16], {}) != plain_key("Dense", [], {"units": 16})
    assert plain_key("Dense", [16], {"a": 1, "b": 2}) != plain_key("Dense", [16], {"b": 2, "a": 1})


@pytest.mark.parametrize("value", [ir.Call(fn="l2", args=[0.01]), ir.Ref(name="x"), {"l2": 0.01}, (1, 2),
                                   [1, ir.Var(name="units")]])
def test_a_call_holding_anything_but_plain_values_has_no_key(value: Any) -> None:
    assert plain_key("Dense", [8], {"kernel_regularizer": value}) is None
    assert plain_key("Dense", [value], {}) is None


# -- remembered argument checks --------------------------------------------------

#: Layer calls, sound and not, some equal as numbers but not as arguments.
_CALLS = [
    "Dense(16)", "Dense(16.0)", "Dense(true)", "Dense(0)", "Dense(16, activation=\"relu\")",
    "Dense(16, activation=\"relux\")", "Dense(16, unit=3)", "Dense(16, 3, true, \"zeros\", \"ones\", 1, 2, 3, 4)",
    "Dropout(0.0)", "Dropout(-0.0)", "Dropout(1.5)", "Dropout(false)", "Dropout(0.5, seed=1)",
    "Reshape([4, 4])", "Reshape([4.0, 4])", "Conv1D(8, 3, padding=\"same\")", "Conv1D(8, 3, padding=\"sam\")",
    "Dense2D(4)", "Dense(4, kernel_regularizer=l2(0.01))", "Dense(4, kernel_regularizer=l2(-1))",
]


def _sequential(calls: list[str]) -> str:
    return "sequential s {\n  input (16,)\n" + "".join(f"  {c}\n" for c in calls) + "}\n"


@given(st.lists(st.sampled_from(_CALLS), min_size=1, max_size=12))
def test_remembered_argument_checks_report_what_checking_each_call_alone_reports(calls: list[str]) -> None:
    spec = parse_text(_sequential(calls), "s.kspec")
    model = spec.models[0]
    assert isinstance(model, ir.SequentialModel)
    alone = [d for c in model.layers if isinstance(c, ir.LayerCall) for d in check_layer_call(c, {"s"})]
    diags, bad = check_arguments(spec)
    assert diags == alone
    assert bad == {id(c) for c in model.layers if isinstance(c, ir.LayerCall) and check_layer_call(c, {"s"})}


def test_a_wrapper_is_checked_against_the_named_layers_of_each_model() -> None:
    """The same plain call ``TimeDistributed("enc")`` is sound in a model
    that names ``enc`` and wrong in one that does not."""
    text = """
model a {
  input x: (4, 8)
  enc = Dense(2)
  output o = x -> TimeDistributed("enc")
}
model b {
  input x: (4, 8)
  output o = x -> TimeDistributed("enc")
}
"""
    diags, _ = check_arguments(parse_text(text, "w.kspec"))
    assert [(d.code, d.span.line if d.span else None) for d in diags] == [("K302", 9)]


# -- remembered shape rules ----------------------------------------------------

_SHAPED = ["Dense(8)", "Dense(8, use_bias=false)", "Dense(8, lora_rank=2)", "Dense(4)", "Reshape([2, 4])",
           "Reshape([8])", "Flatten()", "Dropout(0.5)", "Dense(8.0)", "RepeatVector(2)", "LayerNormalization()"]


def _dims(shape: tuple[int | None, ...]) -> str:
    """A shape without its batch size, as an input declares it: ``(2, 4,)``."""
    return "(" + "".join(f"{'None' if d is None else d}, " for d in shape[1:]).rstrip(" ") + ")"


@given(st.lists(st.sampled_from(_SHAPED), min_size=1, max_size=10))
def test_remembered_shape_rules_give_what_inferring_each_layer_alone_gives(calls: list[str]) -> None:
    spec = parse_text(_sequential(calls), "s.kspec")
    _, bad = check_arguments(spec)
    shapes = infer_spec(spec, bad)
    shape: tuple[int | None, ...] | None = (None, 16)
    for call, info in zip(calls, shapes.models["s"].layers, strict=True):
        assert shape is not None
        one = parse_text(_sequential([call]).replace("(16,)", _dims(shape)), "one.kspec")  # nothing to remember
        _, one_bad = check_arguments(one)
        alone = infer_spec(one, one_bad)
        (only,) = alone.models["s"].layers
        assert (info.type, info.outputs, info.params, info.frozen) == (only.type, only.outputs, only.params,
                                                                        only.frozen)
        here = [d.message for d in shapes.diagnostics if d.span and info.span and d.span.line == info.span.line]
        assert here == [d.message for d in alone.diagnostics]
        shape = info.outputs[0]
        if shape is None:
            break


def test_a_shared_layer_applied_to_other_shapes_is_still_reported() -> None:
    """The answer remembered for one input shape is never given for another."""
    text = """
model m {
  input a: (8,)
  input b: (4,)
  d = Dense(3)
  x = a -> d
  y = b -> d
  output o = Concatenate()(x, y)
}
"""
    with pytest.raises(Exception) as raised:
        load_text(text, "m.kspec")
    assert "shared layer 'd' (Dense) was built for (None, 8) and cannot be applied to (None, 4)" in str(raised.value)


# -- the tensor graph, read once -----------------------------------------------


def _reference_order(model: ir.FunctionalModel) -> list[int]:
    """Kahn's algorithm, smallest declaration position first."""
    statements: list[ir.Assign | ir.Output] = [*model.nodes, *model.outputs]
    defined: dict[str, int] = {}
    for k, s in enumerate(statements):
        for t in s.targets if isinstance(s, ir.Assign) else [s.name]:
            defined.setdefault(t, k)
    deps = [{defined[n] for n in s.value.inputs if n in defined} - {k} for k, s in enumerate(statements)]
    ready = [k for k, d in enumerate(deps) if not d]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for j, d in enumerate(deps):
            if k in d:
                d.discard(k)
                if not d:
                    heapq.heappush(ready, j)
    return order


@st.composite
def _dags(draw: st.DrawFn) -> str:
    """A model whose statements form a random DAG, written in a random order."""
    n = draw(st.integers(1, 8))
    lines = []
    for i in range(n):
        used = draw(st.lists(st.sampled_from(["x", *[f"t{j}" for j in range(i)]]), min_size=1, max_size=3,
                             unique=True))
        lines.append(f"  t{i} = " + (f"{used[0]} -> Dense(4)" if len(used) == 1 else f"Add()({', '.join(used)})"))
    lines = draw(st.permutations(lines))
    return "model m {\n  input x: (4,)\n" + "\n".join(lines) + f"\n  output o = t{n - 1}\n}}\n"


@given(_dags())
def test_statement_order_is_the_first_ready_statement_each_time(text: str) -> None:
    model = parse_text(text, "m.kspec").models[0]
    assert isinstance(model, ir.FunctionalModel)
    assert statement_order(model) == _reference_order(model)
    statements = [*model.nodes, *model.outputs]
    assert tensor_order(model) == [statements[k] for k in _reference_order(model)]


def test_cycles_and_dead_inputs_are_found_over_the_statements_uses() -> None:
    text = """
model m {
  input x: (4,)
  input unused: (4,)
  a = b -> Dense(4)
  b = Add()(a, c)
  c = x -> Dense(4)
  q = q -> Dense(4)
  output o = a
}
"""
    model = parse_text(text, "m.kspec").models[0]
    assert isinstance(model, ir.FunctionalModel)
    index = ModelIndex.of(model)
    assert [d.message for d in _cycle_diags(model, index)] == ["cycle: a -> b -> a", "cycle: q -> q"]
    assert [d.message for d in _dead_inputs(model, index)] == ["input 'unused' is not used by any output"]


# -- wrapped references ----------------------------------------------------------


def _bound_references(call: ir.LayerCall) -> list[tuple[str, str]]:
    """The references as binding the whole call finds them."""
    sig = catalogue().layers.get(ALIASES.get(call.type, call.type))
    if sig is None:
        return []
    bound = sig.bind(list(call.args), dict(call.kwargs))
    return [(key, value) for key in REFERENCE_KEYS if isinstance(value := bound.get(key), str)]


_VALUES = st.one_of(st.sampled_from(["enc", "other"]), st.integers(0, 3), st.none())


@given(st.sampled_from(sorted(catalogue().layers)), st.lists(_VALUES, max_size=3),
       st.dictionaries(st.sampled_from([*REFERENCE_KEYS, "units", "name"]), _VALUES, max_size=3))
def test_wrapped_references_bind_as_the_signature_does(type_: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    call = ir.LayerCall(type=type_, args=list(args), kwargs=dict(kwargs))
    assert wrapped_references(call) == _bound_references(call)


@pytest.mark.parametrize("type_", ["Bidirectional", "TimeDistributed", "Dense", "NoSuchLayer"])
def test_wrapped_references_by_position_and_by_keyword(type_: str) -> None:
    for call in (ir.LayerCall(type=type_, args=["enc"]), ir.LayerCall(type=type_, kwargs={"layer": "enc"}),
                 ir.LayerCall(type=type_, args=["a"], kwargs={"layer": "b", "backward_layer": "c"})):
        assert wrapped_references(call) == _bound_references(call)


# -- parameter expressions -------------------------------------------------------


@pytest.mark.parametrize(("text", "found"), [
    ("model m {\n  input x: (4,)\n  output o = x -> Dense(4, activation=\"relu\")\n}\n", False),
    ("sequential s {\n  input (4,)\n  Dense(4)\n  Dropout(0.5)\n}\n", False),
    ("param n: int = 4\nmodel m {\n  input x: (n,)\n  output o = x -> Dense(4)\n}\n", True),
    ("param n: int = 4\nmodel m {\n  input x: (4,)\n  output o = x -> Dense(n * 2)\n}\n", True),
    ("param n: int = 4\nmodel m {\n  input x: (4,)\n  output o = x -> Dense(4, kernel_regularizer=l2(n / 10))\n}\n",
     True),
    ("model m {\n  input x: (4,)\n  output o = x -> Dense(int(4.0))\n}\n", True),
])
def test_has_exprs_finds_an_expression_wherever_it_is(text: str, found: bool) -> None:
    spec = parse_text(text, "m.kspec")
    spec = spec.model_copy(update={"params": []})  # the walk looks at values, not at declarations
    assert _has_exprs(spec) is found


# -- flat work per layer ---------------------------------------------------------


def _functional(n: int) -> str:
    lines = ["model big {", "  input x: (16,)"]
    prev = "x"
    for i in range(1, n // 4 + 1):
        lines.append(f'  h{i} = {prev} -> Dense(16, activation="relu") -> Dense(16) -> Dense(16)')
        lines.append(f"  s{i} = Add()(h{i}, {prev})")
        prev = f"s{i}"
    return "\n".join([*lines, f"  output out = {prev} -> Dense(1)", "}"]) + "\n"


@pytest.mark.parametrize("make", [_functional, lambda n: _sequential(["Dense(16)"] * n)],
                         ids=["functional", "sequential"])
def test_the_checks_make_the_same_calls_per_layer_at_any_size(make: Callable[[int], str]) -> None:
    """Each more layer costs as many calls in a spec of 800 layers as in one of 1,600."""
    calls = {}
    for n in (400, 800, 1600):
        spec = expand(parse_text(make(n), "big.kspec"))
        calls[n] = calls_made(partial(check, spec))
    assert (calls[1600] - calls[800]) / 800 == pytest.approx((calls[800] - calls[400]) / 400, rel=0.01)
