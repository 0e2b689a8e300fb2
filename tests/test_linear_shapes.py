"""The front half stays linear on spec shapes beyond the residual Dense
chains of ``bench/bench_check.py``: many models in one file, and chains of
models each applying the one before.

Work is counted, never timed (the machines are noisy): Python and builtin
calls for the parameter counts of nested models, and the names copied out of
the file's set of model names for the per-model checks (a set copy is one
builtin call, so its size is what is counted).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, MutableSet
from dataclasses import field, make_dataclass
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _counting import calls_made
from kspec.compiler import expand as expand_module
from kspec.compiler import graph as graph_module
from kspec.compiler import shapes as shapes_module
from kspec.compiler import spaces
from kspec.compiler.graph import _check_model, model_uses
from kspec.compiler.pipeline import expand, load_text, parse_text
from kspec.compiler.shapes import infer_spec
from kspec.spec import diagnostics, ir, kspec_form
from kspec.spec import ops as ops_module
from kspec.spec.diagnostics import KspecError

# -- helpers ---------------------------------------------------------------------


class _CountedNames(MutableSet[str]):
    """A set of names that counts the names read out of it by iteration:
    every copy, union or difference taken of it reads all of them."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names = set(names)
        self.read = 0

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        self.read += len(self._names)
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def add(self, name: str) -> None:
        self._names.add(name)

    def discard(self, name: str) -> None:
        self._names.discard(name)


def _many_models(n: int) -> str:
    """``n`` small models, the last applying the one before it."""
    models = [f"model m{i} {{\n  input x: (4,)\n  output o = x -> Dense(4)\n}}\n" for i in range(n - 1)]
    return "".join(models) + f"model top {{\n  input x: (4,)\n  output o = x -> m{n - 2}\n}}\n"


def _model_chain(n: int) -> str:
    """``n`` models, each applying the one before it."""
    lines = ["model m0 {", "  input x: (4,)", "  output o = x -> Dense(4)", "}"]
    for i in range(1, n):
        lines += [f"model m{i} {{", "  input x: (4,)", f"  output o = x -> m{i - 1} -> Dense(4)", "}"]
    return "\n".join(lines) + "\n"


# -- nested models' parameter counts ------------------------------------------------


def test_a_chain_of_models_counts_its_parameters_with_the_same_calls_per_model_at_any_size() -> None:
    """Each model applying the one before counts its parameters by adding its
    own layers to that model's count, not by walking every model below it
    again (which made the calls grow with the square of the chain)."""
    infer_spec(expand(parse_text(_model_chain(3), "warm.kspec")))  # the catalogue's lookups warmed
    calls = {}
    for n in (100, 200, 400):
        spec = expand(parse_text(_model_chain(n), "chain.kspec"))
        calls[n] = calls_made(lambda spec=spec: infer_spec(spec))  # type: ignore[misc]
    assert (calls[400] - calls[200]) / 200 == pytest.approx((calls[200] - calls[100]) / 100, rel=0.01)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_chain_of_models_counts_every_layer_once(n: int) -> None:
    """Dense(4) on 4 features has 20 weights; each model of the chain adds one."""
    shapes = infer_spec(load_text(_model_chain(n), "chain.kspec"))
    assert [shapes.models[f"m{i}"].params for i in range(n)] == [20 * (i + 1) for i in range(n)]
    assert [shapes.models[f"m{i}"].non_trainable for i in range(n)] == [0] * n


def test_a_model_sharing_a_sub_model_twice_over_counts_it_once() -> None:
    """A model applying a sub-model, and also a model that applies the same
    sub-model, holds its weights once (the walk over every nested model)."""
    text = """
model a {
  input x: (4,)
  output o = x -> Dense(4)
}
model b {
  input x: (4,)
  output o = x -> a -> Dense(4)
}
model c {
  input x: (4,)
  p = x -> a
  output o = p -> b
}
model d {
  input x: (4,)
  output o = x -> c -> Dense(4)
}
"""
    shapes = infer_spec(load_text(text, "share.kspec"))
    assert [shapes.models[m].params for m in "abcd"] == [20, 40, 40, 60]


def test_a_remembered_count_is_not_given_for_a_model_that_grew() -> None:
    spec = load_text(_model_chain(2), "chain.kspec")
    shapes = infer_spec(spec)
    top = shapes.models["m1"]
    assert top.params == 40
    extra = infer_spec(load_text(_model_chain(1), "one.kspec")).models["m0"].layers[-1]
    top.layers.append(extra)
    assert top.params == 60


# -- many models: nothing copies every model name per model ---------------------------


def test_reading_many_models_copies_no_set_of_every_model_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``.kspec`` reader resolves each model against the file's model
    names without copying them for each model."""
    n = 300
    spec, made = _parsed_counting(monkeypatch, "models", _many_models(n))
    assert len(spec.models) == n
    assert any(len(names) == n for names in made)
    assert sum(names.read for names in made) <= 2 * n


def _parsed_counting(monkeypatch: pytest.MonkeyPatch, which: str, text: str) -> tuple[ir.Spec, list[_CountedNames]]:
    """``text`` parsed with the reader's set of model or parameter names
    (``which``) counting the names read out of it."""
    made: list[_CountedNames] = []

    def counted() -> set[str]:
        made.append(_CountedNames())
        return cast(set[str], made[-1])  # read as a set: membership, iteration, len, add

    names = make_dataclass("Names", [(which, set[str], field(default_factory=counted))], bases=(kspec_form._Names,))
    monkeypatch.setattr(kspec_form, "_Names", names)
    return parse_text(text, "many.kspec"), made


def _blocks_and_params(n: int) -> str:
    """``n`` parameters, ``n`` blocks and ``n`` models, each using one parameter."""
    lines = [f"param p{i}: int = {i % 5 + 1}" for i in range(n)]
    lines += [f"block b{i}(x) {{\n  return x -> Dense(p{i})\n}}" for i in range(n)]
    lines += [f"model m{i} {{\n  input x: (4,)\n  output o = x -> b{i}()\n}}" for i in range(n)]
    return "\n".join(lines) + "\n"


def test_reading_many_parameters_and_blocks_copies_no_set_of_every_parameter_per_item(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each parameter, block and model resolves its names against the
    file's parameters without copying them."""
    n = 200
    spec, made = _parsed_counting(monkeypatch, "params", _blocks_and_params(n))
    assert (len(spec.params), len(spec.blocks), len(spec.models)) == (n, n, n)
    assert sum(names.read for names in made) <= 2 * n


def test_a_misspelt_parameter_among_many_is_still_suggested() -> None:
    text = _blocks_and_params(3) + "model last {\n  input x: (4,)\n  output o = x -> Dense(p00 * 2)\n}\n"
    with pytest.raises(KspecError) as info:
        load_text(text, "many.kspec")
    assert [(d.code, d.message, d.hint) for d in info.value.diagnostics] == [
        ("K212", "unknown parameter 'p00'", "did you mean 'p0'?")]


def test_the_graph_checks_of_many_models_copy_no_set_of_every_model_per_model() -> None:
    n = 300
    spec = expand(parse_text(_many_models(n), "many.kspec"))
    names = _CountedNames(m.name for m in spec.models)
    uses = {}
    for m in spec.models:
        assert isinstance(m, ir.FunctionalModel)
        assert _check_model(m, names) == []  # type: ignore[arg-type]
        uses[m.name] = [r.ref for r in model_uses(m, names)]  # type: ignore[arg-type]
    assert uses["top"] == [f"m{n - 2}"] and not any(uses[f"m{i}"] for i in range(n - 1))
    assert names.read <= 2 * n


def test_an_undefined_layer_among_many_models_is_still_suggested() -> None:
    text = _many_models(3) + "model last {\n  input x: (4,)\n  output o = x -> m00\n}\n"
    with pytest.raises(KspecError) as info:
        load_text(text, "many.kspec")
    messages = [(d.code, d.message, d.hint) for d in info.value.diagnostics]
    assert messages == [("K208", "undefined layer or model 'm00'", "did you mean 'm0'?")]


# -- x.shape read at each step of a loop ---------------------------------------------

#: Specs that read ``x.shape`` while a model expands: in loops, across block
#: calls, from plain statements written before and after, from sub-models,
#: with names used before they are defined, and with mistakes.
#: Blocks through which the specs below apply a model's named layer ``enc`` and read shapes.
_SHARED_READERS = """
block useenc(x) {
  return x -> enc
}
block widen(x) {
  return x -> Dense(x.shape[-1] + 1)
}
"""

_SHAPE_READS = [
    """
block grow(x, k: int) {
  for i in range(k) {
    x = x -> Dense(x.shape[-1] + 1)
  }
  return x
}
model m {
  input x: (4,)
  output o = x -> grow(6)
}
""",
    """
block widen(x) {
  y = x -> Dense(x.shape[-1] * 2)
  return y
}
model m {
  input x: (4,)
  a = x -> Dense(3)
  b = a -> widen()
  c = b -> Dense(b.shape[-1] + 1)
  d = c -> widen()
  e = Concatenate()(a, d) -> widen()
  output o = e -> Dense(e.shape[-1])
}
""",
    """
block widen(x) {
  y = x -> Dense(x.shape[-1] * 2)
  return y
}
model m {
  input x: (4,)
  p = q -> Dense(2)
  q = x -> widen()
  r = p -> widen()
  output o = Concatenate()(q, r)
}
""",
    """
block widen(x, t) {
  y = x -> Dense(t.shape[-1] + x.shape[-1])
  return y
}
model m {
  input x: (4,)
  later = x -> Dense(7)
  a = widen()(x, later)
  b = widen()(a, later)
  output o = b
}
""",
    """
sequential tower {
  input (5,)
  Dense(3)
}
block head(x) {
  y = x -> tower
  return y -> Dense(y.shape[-1] * 3)
}
model m {
  input x: (5,)
  a = x -> head()
  b = x -> Dense(5) -> head()
  output o = Add()(a, b)
}
""",
    """
block seq(x, k: int) {
  for i in range(k) {
    x = x -> LSTM(x.shape[-1], return_sequences=true)
  }
  return x
}
model m {
  input x: (None, 3)
  h, s, c = x -> LSTM(4, return_sequences=true, return_state=true)
  a = h -> seq(3)
  output o = ops.concatenate([a, ops.expand_dims(s, axis=1)], axis=1)
}
""",
    """
block grow(x, k: int) {
  for i in range(k) {
    x = x -> Dense(x.shape[-1] + 1)
  }
  return x
}
model m {
  input x: (4,)
  a = x -> Flatten2D()
  b = a -> grow(2)
  c = x -> grow(2)
  output o = Concatenate()(b, c)
}
""",
    """
block grow(x, k: int) {
  for i in range(k) {
    x = x -> Reshape((x.shape[-1], 1)) -> Flatten()
  }
  return x
}
model m {
  input x: (4,)
  a = x -> grow(3)
  a2 = x -> grow(2)
  output o = Add()(a, a2)
}
""",
    """
block widen(x) {
  y = x -> Dense(x.shape[-1] + 1)
  return y
}
model m {
  input x: (4,)
  p1 = q -> Dense(2)
  p2 = p1 -> Dense(p1.shape[-1] + 1)
  p3 = Concatenate()(p1, p2, q)
  q = x -> widen()
  r = p3 -> widen()
  s = Concatenate()(r, p2) -> widen()
  output o = s
}
""",
    """
block widen(x) {
  y = x -> Dense(x.shape[-1] + 1)
  return y
}
model m {
  input x: (4,)
  h = x -> widen()
  h = x -> Dense(3) -> widen()
  output o = h -> widen()
}
""",
    """
block widen(x) {
  y = x -> Dense(x.shape[-1] + 1)
  return y
}
model m {
  input x: (4,)
  a = b -> widen()
  b = a -> widen()
  output o = x -> widen()
}
""",
    """
block widen(x) {
  y = x -> Dense(x.shape[-1] + 1)
  return y
}
model m {
  input x: (4,)
  h0 = x -> widen()
  g0 = h0 -> Dense(3)
  h1 = g0 -> widen()
  g1 = h1 -> Dense(5)
  h2 = Concatenate()(g1, g0) -> widen()
  output o = h2 -> m
}
""",
    """
block widen(x) {
  y = x -> Dense(x.shape[-1] + 1)
  return y
}
sequential frame {
  input (6,)
  Dense(3)
}
model unrelated {
  input x: (2,)
  output o = x -> widen()
}
model inner {
  input x: (4, 6)
  output o = x -> TimeDistributed(frame) -> widen()
}
model outer {
  input x: (4, 6)
  a = x -> inner -> widen()
  b = x -> TimeDistributed(frame)
  c = Concatenate()(a, b) -> widen()
  output o = c -> unrelated2
}
model unrelated2 {
  input x: (4, 9)
  output o = x -> widen()
}
""",
    """
block grow(x) {
  return x -> Dense(x.shape[-1])
}
model sub {
  input a: (4,)
  output o = a -> Dense(4)
}
block app(x) {
  return x -> sub
}
model m {
  input x: (4,)
  a1 = grow(x)
  u1 = app(x)
  w1 = grow(u1)
  output y = Concatenate()(a1, w1)
}
""",
    """
block widen(x) {
  y = x -> Dense(x.shape[-1] + 1)
  return y
}
block seqb(x) {
  y = x -> LSTM(x.shape[-1], return_sequences=true)
  return y
}
model m {
  input x: (5,)
  t0 = x -> seqb()
  t1 = t0 -> widen()
  output o = t1
}
""",
    """
block opaque(x) {
  return x -> mylib::Scale(factor=0.5)
}
block widen(x) {
  y = x -> Dense(x.shape[-1] + 1)
  return y
}
model sub {
  input a: (5,)
  output o = a -> Dense(3)
}
model m {
  input x: (5,)
  a = x -> widen()
  u = opaque(x)
  v = opaque(u)
  s = v -> sub
  b = s -> widen()
  c = a -> widen()
  output o = Concatenate()(b, c)
}
""",
    _SHARED_READERS + """
model m {
  input x: (4,)
  enc = Dense(6)
  a = x -> widen()
  u1 = useenc(a)
  v1 = u1 -> widen()
  u2 = useenc(x)
  output y = Concatenate()(v1, u2)
}
""",
    # The shared layer called twice with other shapes, first through the block or first by a statement.
    *(_SHARED_READERS + f"""
model m {{
  input x: (4,)
  enc = Dense(6)
{first}  a = x -> widen()
  u1 = useenc(a)
  u2 = useenc(x)
  v = u2 -> widen()
  w = u1 -> widen()
  output y = Concatenate()(v, w{also})
}}
""" for first, also in [("", ""), ("  p = x -> enc\n", ", p")]),
    _SHARED_READERS + """
block ident(x) {
  return x -> Dense(5)
}
model m {
  input x: (4,)
  enc = Dense(6)
  p = q -> enc
  r = x -> enc
  a = x -> widen()
  q = ident(x)
  b = p -> widen()
  c = r -> widen()
  output y = Concatenate()(a, b, c)
}
""",
]


def _load_all(text: str) -> object:
    """The checked spec, or the diagnostics (all that ``kspec check`` shows)."""
    try:
        return load_text(text, "reads.kspec")
    except KspecError as exc:
        return [(d.code, d.message, d.span, d.hint, d.notes) for d in exc.diagnostics]


@pytest.mark.parametrize("text", _SHAPE_READS)
def test_shapes_read_statement_by_statement_are_those_of_a_whole_inference(
        text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Expansion with the known shapes brought up one statement at a time,
    and with only the models it uses, gives exactly what inferring the whole
    model with every model expanded before it, at each read, gives."""
    by_statement = _load_all(text)
    monkeypatch.setattr(expand_module._Expander, "extend_known", lambda self: False)
    monkeypatch.setattr(expand_module._Expander, "models_used",
                        lambda self, model: [m for m in self.done if m.name != model.name])
    whole = _load_all(text)
    assert by_statement == whole


#: Blocks and models that random models read shapes through.
_READERS = """
block widen(x) {
  y = x -> Dense(x.shape[-1] + 1)
  return y
}
block two(x, t) {
  y = x -> Dense(t.shape[-1] + x.shape[1])
  return y
}
block grow(x, k: int) {
  for i in range(k) {
    x = x -> Dense(x.shape[-1] + i)
  }
  return x
}
block seqb(x) {
  y = x -> LSTM(x.shape[-1], return_sequences=true)
  return y
}
block app(x) {
  return x -> sub
}
block useshared(x) {
  return x -> shared
}
sequential tower {
  input (5,)
  Dense(5)
}
model sub {
  input a: (5,)
  output o = a -> Dense(a.shape[-1]) -> widen()
}
"""

#: Right-hand sides of a random model's statements: ``{s}`` a tensor it
#: uses, ``{o}`` another; some read shapes, some hide them, some are mistakes.
_RIGHT_HAND_SIDES = [
    "{s} -> widen()", "{s} -> grow(0)", "{s} -> grow(3)", "two()({s}, {o})", "{s} -> Dense({s}.shape[-1] * 2)",
    "Concatenate()({s}, {o})", "{s} -> tower", "{s} -> sub", "{s} + {o}", "{s} -> seqb()", "{s} -> Dense(3)",
    "ops.expand_dims({s}, axis=1)", "{s} -> Flatten()", "{s} -> m", "{s} -> Unknown()",
    "{s} -> mylib::Scale(factor=0.5)", "app({s})", "{s} -> shared", "useshared({s})",
    "{s} -> app() -> widen()", "{s} -> useshared() -> widen()",
]


@st.composite
def _random_reading_models(draw: st.DrawFn) -> str:
    """A model of statements that read shapes through blocks, in any order,
    with names used before they are defined, names written twice, tensors
    of unknown rank, and the model applying itself."""
    names = ["x"]
    lines = ["  input x: (5,)", "  shared = Dense(4)"]
    if draw(st.booleans()):
        lines.append("  input z: (None, 3)")
        names.append("z")
    statements = []
    # A name written twice turns reading statement by statement off for the model: only some models do it.
    rewrites = draw(st.booleans())
    for i in range(draw(st.integers(1, 10))):
        used = draw(st.sampled_from([*names, f"t{i + 1}", "nope"]))
        other = draw(st.sampled_from(names))
        target = draw(st.sampled_from([f"t{i}", f"t{i}", f"t{i}", *names[1:]])) if rewrites else f"t{i}"
        statements.append(f"  {target} = " + draw(st.sampled_from(_RIGHT_HAND_SIDES)).format(s=used, o=other))
        names.append(target)
    lines += draw(st.permutations(statements)) if draw(st.booleans()) else statements
    lines.append(f"  output o = {names[-1]}")
    return _READERS + "model m {\n" + "\n".join(lines) + "\n}\n"


@given(_random_reading_models())
@settings(max_examples=40, deadline=None)
def test_random_models_read_the_shapes_of_a_whole_inference(text: str) -> None:
    """As above, on random models: every diagnostic, or the checked spec, is
    the same as when each read infers the whole model again."""
    by_statement = _load_all(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(expand_module._Expander, "extend_known", lambda self: False)
        patch.setattr(expand_module._Expander, "models_used",
                      lambda self, model: [m for m in self.done if m.name != model.name])
        whole = _load_all(text)
    assert by_statement == whole


def _whole_inferences(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list counting the whole shape inferences made from now on."""
    runs = [0]
    run = shapes_module._Inferer.run

    def counted(self: shapes_module._Inferer, *args: object) -> shapes_module.SpecShapes:
        runs[0] += 1
        return run(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(shapes_module._Inferer, "run", counted)
    return runs


def test_reads_beside_tensors_of_unknown_shape_infer_the_whole_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tensor of unknown shape (a custom layer's) is known to be unknown:
    the statements using it are inferred one at a time like any other (each
    read beside them walked the whole model again)."""
    runs = _whole_inferences(monkeypatch)
    text = ("block grow(x) {\n  return x -> Dense(x.shape[-1])\n}\n"
            "block opaque(x) {\n  return x -> mylib::Scale(factor=0.5)\n}\n"
            "model m {\n  input x: (4,)\n  a0 = x\n  u0 = x\n"
            + "".join(f"  a{i} = grow(a{i - 1})\n  u{i} = opaque(u{i - 1})\n" for i in range(1, 60))
            + "  output y = Concatenate()(a59, u59)\n}\n")
    spec = expand(parse_text(text, "reads.kspec"))
    model = spec.models[0]
    assert isinstance(model, ir.FunctionalModel)
    assert len(model.nodes) == 2 * 60
    assert runs[0] == 1


def test_the_shape_of_a_named_layers_result_is_known() -> None:
    """A named (shared) layer's results have the shapes of a whole inference,
    in a statement or through a block, before and after a second call."""
    text = _SHARED_READERS + """
model m {
  input x: (4,)
  enc = Dense(6)
  u1 = useenc(x)
  u2 = x -> enc
  v1 = u1 -> Dense(u1.shape[-1])
  v2 = u2 -> widen()
  output y = Concatenate()(v1, v2)
}
"""
    model = load_text(text, "named.kspec").models[0]
    assert isinstance(model, ir.FunctionalModel)
    units = [s.layer.args[0] for n in model.nodes for s in n.value.steps
             if isinstance(s.layer, ir.LayerCall) and s.layer.type == "Dense"]
    assert units == [6, 7]


def test_a_loop_applying_a_shared_layer_and_reading_shapes_infers_the_whole_model_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement applying a named layer is inferred on its own too, with
    the layer objects of the whole walk (built by their first call)."""
    runs = _whole_inferences(monkeypatch)
    text = ("block step(x) {\n  y = x -> norm\n  return y -> Dense(y.shape[-1])\n}\n"
            "block loop(x, k: int) {\n  for i in range(k) {\n    x = step(x)\n  }\n  return x\n}\n"
            "model m {\n  input x: (4,)\n  norm = LayerNormalization()\n  output y = loop(x, 60)\n}\n")
    spec = expand(parse_text(text, "reads.kspec"))
    model = spec.models[0]
    assert isinstance(model, ir.FunctionalModel)
    assert len(model.nodes) == 120
    assert runs[0] == 1


def test_a_loop_reading_shapes_infers_the_whole_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop that reads ``x.shape`` at each step walks the model once, then
    one statement per step (it walked every statement at every step)."""
    runs = _whole_inferences(monkeypatch)
    text = _SHAPE_READS[0].replace("grow(6)", "grow(60)")
    spec = expand(parse_text(text, "reads.kspec"))
    model = spec.models[0]
    assert isinstance(model, ir.FunctionalModel)
    assert len(model.nodes) == 60
    assert runs[0] == 1


def _models_reading_shapes(n: int) -> str:
    """``n`` models, each applying a block that reads ``x.shape``."""
    models = [f"model m{i} {{\n  input x: (4,)\n  output o = x -> widen()\n}}\n" for i in range(n)]
    return "block widen(x) {\n  y = x -> Dense(x.shape[-1])\n  return y\n}\n" + "".join(models)


def test_models_reading_shapes_make_the_same_calls_per_model_at_any_size() -> None:
    """Each model's shapes are inferred with the models it uses, not with
    every model expanded before it (which grew with the square of the models)."""
    expand(parse_text(_models_reading_shapes(2), "warm.kspec"))
    calls = {}
    for n in (50, 100, 200):
        spec = parse_text(_models_reading_shapes(n), "reads.kspec")
        calls[n] = calls_made(lambda spec=spec: expand(spec))  # type: ignore[misc]
    assert (calls[200] - calls[100]) / 100 == pytest.approx((calls[100] - calls[50]) / 50, rel=0.02)


def test_a_loop_reading_shapes_makes_the_same_calls_per_step_at_any_size() -> None:
    expand(parse_text(_SHAPE_READS[0], "warm.kspec"))
    calls = {}
    for n in (50, 100, 200):
        spec = parse_text(_SHAPE_READS[0].replace("grow(6)", f"grow({n})"), "reads.kspec")
        calls[n] = calls_made(lambda spec=spec: expand(spec))  # type: ignore[misc]
    assert (calls[200] - calls[100]) / 100 == pytest.approx((calls[100] - calls[50]) / 50, rel=0.02)


# -- search spaces: the corners of many parameters ------------------------------------


def _spaced(n: int) -> str:
    """``n`` parameters with a search space each, one layer each."""
    lines = [f"param p{i}: int = 16 in [8, 16]" for i in range(n)]
    lines += ["model m {", "  input x: (16,)"]
    prev = "x"
    for i in range(n):
        lines.append(f"  h{i} = {prev} -> Dense(p{i})")
        prev = f"h{i}"
    return "\n".join([*lines, f"  output o = {prev}", "}"]) + "\n"


def _corners_pairwise(spec: ir.Spec, limit: int = spaces.CORNER_LIMIT) -> list[dict[str, object]]:
    """:func:`kspec.compiler.spaces.corners` as a plain reference: every
    combination built whole, each compared with every one kept before it."""
    params = spaces.spaced_params(spec)
    ends = {p.name: spaces._ends(p) for p in params}
    defaults = {p.name: p.default for p in params}
    if not params:
        return []
    combos = [{**defaults, name: value} for name, values in ends.items() for value in values]
    combos += [{n: v[0] for n, v in ends.items()}, {n: v[-1] for n, v in ends.items()}]
    if math.prod(len(v) for v in ends.values()) <= limit:
        combos += [dict(zip(ends, values, strict=True)) for values in itertools.product(*ends.values())]
    out: list[dict[str, object]] = []
    for combo in combos:
        changed = {n: v for n, v in combo.items() if not spaces._same(v, defaults[n])}
        if changed and changed not in out:
            out.append(changed)
    out.sort(key=len)
    return out[:limit]


_SPACES = st.sampled_from([
    "int = 2 in [1, 2, 3]", "int = 1 in range(1, 4)", "float = 0.5 in range(0.0, 1.0, 0.5)",
    "float = 1.0 in [1.0, 2.0]", "bool = true in [true, false]", "str = \"a\" in [\"a\", \"b\"]",
    "any = 1 in [1, 2]", "any = true in [1, 2]", "int = 4 in log(1, 64, 2)", "float = 0.01 in log(0.001, 0.1)",
    "int = 8 in [8]", "any = 1 in [true, 1.0, 2]", "any = true in [1, 1.0, false]",
])


@given(st.lists(_SPACES, min_size=1, max_size=7), st.sampled_from([2, 5, 16, 40]))
@settings(max_examples=60, deadline=None)
def test_corners_are_those_of_comparing_every_pair(declared: list[str], limit: int) -> None:
    text = "".join(f"param p{i}: {d}\n" for i, d in enumerate(declared))
    try:
        spec = parse_text(text + "model m {\n  input x: (4,)\n  output o = x -> Dense(4)\n}\n", "c.kspec")
    except KspecError:
        return  # a space the language refuses: nothing to compare
    assert spaces.corners(spec, limit=limit) == _corners_pairwise(spec, limit)


def test_the_corners_of_many_parameters_compare_each_value_a_bounded_number_of_times(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each parameter's corners are compared with its default, not every
    combination with every other (which grew with the square of the
    parameters, for at most 16 combinations kept)."""
    compared = 0
    same = spaces._same

    def counted(a: object, b: object) -> bool:
        nonlocal compared
        compared += 1
        return same(a, b)

    n = 300
    spec = parse_text(_spaced(n), "spaced.kspec")
    monkeypatch.setattr(spaces, "_same", counted)
    found = spaces.corners(spec)
    assert found == [{f"p{i}": 8} for i in range(spaces.CORNER_LIMIT)]
    assert compared <= 6 * n


def _choice_problem_pairwise(param: ir.Param, space: ir.Space, kind: str | None) -> tuple[str, str | None] | None:
    """The duplicate-choice search of :func:`kspec.compiler.spaces._choice_problem`
    as a plain reference: each choice compared with every one before it."""
    seen: list[object] = []
    for v in space.values:
        if any(spaces._same(v, s) for s in seen):
            return f"the choice {spaces._show(v)} is listed twice", None
        seen.append(v)
    return None


_CHOICES = st.lists(st.one_of(st.integers(-2, 2), st.sampled_from([0.0, -0.0, 1.0, 2.5, math.nan]), st.booleans(),
                              st.sampled_from(["a", "b"])), min_size=1, max_size=8)


@given(_CHOICES)
@settings(max_examples=200, deadline=None)
def test_the_choice_listed_twice_is_that_of_comparing_every_pair(values: list[object]) -> None:
    """Choices are told apart through a set, as :func:`spaces._same` compares
    them: ``1`` and ``1.0`` are the same choice, ``1`` and ``true`` are not,
    and a NaN is never the same as anything."""
    param = ir.Param(name="p", space=ir.Space(kind="choice", values=values))
    assert param.space is not None
    kind = spaces.value_type(param)
    found = spaces._choice_problem(param, param.space, kind)
    if found is None or "listed twice" in found[0]:
        assert found == _choice_problem_pairwise(param, param.space, kind)
    else:  # refused before duplicates are looked for (mixed types, none)
        assert kind is None or any(v is None or not spaces._fits(kind, v) for v in values)


def test_a_space_of_many_choices_is_checked_with_the_same_calls_per_choice_at_any_size() -> None:
    """Each choice was compared with every one before it: quadratic in the
    choices of one space (``in [1, 2, ..., n]``)."""
    def made(n: int) -> int:
        text = f"param p: int = 1 in [{', '.join(str(i) for i in range(1, n + 1))}]\n"
        spec = parse_text(text + "model m {\n  input x: (4,)\n  output o = x -> Dense(p)\n}\n", "c.kspec")
        assert spaces.check_spaces(spec) == []
        return calls_made(lambda: spaces.check_spaces(spec))

    small, large = made(200), made(800)
    assert large <= 4.2 * small


def _dead_statements(n: int) -> str:
    """A block of ``n`` statements that never run (a false branch and a
    loop of no runs), called ``n`` times in a chain."""
    dead = "\n".join(f"    x = x -> Dense({i + 1})" for i in range(n))
    calls = "\n".join(f"  h{i} = {f'h{i - 1}' if i else 'x'} -> b(0)" for i in range(n))
    return (f"block b(x, k: int) {{\n  if k > 0 {{\n{dead}\n  }}\n  for i in range(k) {{\n{dead}\n  }}\n"
            f"  return x -> ReLU()\n}}\nmodel m {{\n  input x: (4,)\n{calls}\n  output y = h{n - 1}\n}}\n")


def test_statements_a_block_never_reaches_cost_nothing_at_each_call() -> None:
    """Each call copied the whole block to relocate its spans, the branch
    not taken and the loop that never runs too: n calls of a block of n
    dead statements were quadratic."""
    def made(n: int) -> int:
        spec = parse_text(_dead_statements(n), "d.kspec")
        model = expand(spec).models[0]
        assert isinstance(model, ir.FunctionalModel) and len(model.nodes) == n
        return calls_made(lambda: expand(spec))

    small, large = made(60), made(240)
    assert large <= 4.6 * small


def test_a_mistake_in_a_branch_a_call_takes_is_located_at_the_block_and_the_call() -> None:
    text = ("block b(x, k: int) {\n  if k > 0 {\n    x = x -> Dense(k - 2)\n  }\n  return x\n}\n"
            "model m {\n  input x: (4,)\n  h = x -> b(0)\n  output y = h -> b(1)\n}\n")
    with pytest.raises(KspecError) as info:
        load_text(text, "b.kspec")
    (diag,) = info.value.diagnostics
    assert diag.span is not None and (diag.span.line, diag.span.column) == (3, 14)
    assert diag.span.via is not None and (diag.span.via.line, diag.span.via_block) == (10, "b")  # the call b(1)
    assert diag.message.endswith("got -1")


# -- the order of models: a walk with its own stack ---------------------------------


def _model_order_recursive(spec: ir.Spec, target: str | None) -> tuple[list[str], list[str]]:
    """:func:`kspec.compiler.graph._model_order` as its definition reads: a
    recursive depth-first walk (which ran out of stack at about 1,000 models,
    each using the next)."""
    names = {m.name for m in spec.models}
    deps = {m.name: [r.ref for r in model_uses(m, names)] for m in spec.models}
    order: list[str] = []
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycles.append(" -> ".join([*trail[trail.index(name):], name]))
            return
        state[name] = 1
        for dep in deps.get(name, []):
            visit(dep, [*trail, name])
        state[name] = 2
        order.append(name)

    for name in [target] if target is not None else [m.name for m in spec.models]:
        visit(name, [])
    return order, cycles


@given(st.lists(st.lists(st.integers(0, 5), max_size=3), min_size=1, max_size=6), st.integers(-1, 5))
@settings(max_examples=150, deadline=None)
def test_models_are_ordered_as_a_recursive_walk_orders_them(uses: list[list[int]], target: int) -> None:
    n = len(uses)
    text = "".join(
        f"model m{i} {{\n  input x: (4,)\n  output y = x{''.join(f' -> m{j % n}' for j in used)} -> Dense(4)\n}}\n"
        for i, used in enumerate(uses))
    spec = parse_text(text, "order.kspec")
    name = f"m{target % n}" if target >= 0 else None
    order, diags = graph_module._model_order(spec, name)
    assert (order, [d.message.split(": ", 1)[1] for d in diags]) == _model_order_recursive(spec, name)


def test_a_chain_of_thousands_of_models_each_using_the_next_is_ordered() -> None:
    n = 3000
    text = "".join(f"sequential s{i} {{\n  input (4,)\n  s{i - 1}\n}}\n" for i in range(n, 0, -1))
    text += "sequential s0 {\n  input (4,)\n  Dense(4)\n}\n"
    order, diags = graph_module._model_order(parse_text(text, "chain.kspec"), None)
    assert (order, diags) == ([f"s{i}" for i in range(n + 1)], [])


# -- files used: a walk with its own stack -----------------------------------------


_MODEL = "model m {\n  input x: (3,)\n  output y = x -> Dense(1)\n}\n"


def _used_file(path: Path, uses: list[str]) -> None:
    lines = [f'use "{u}.kspec"' for u in uses]
    lines += [f"param p_{path.stem}: int = 1", f"block b_{path.stem}(x) {{", "  return x -> ReLU()", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_used_files_give_their_blocks_after_those_of_the_files_they_use(tmp_path: Path) -> None:
    """Each file once, after the files it uses, in the order of its uses
    (``d`` is used twice, through ``a`` and ``b``)."""
    for name, uses in {"a": ["c", "d"], "b": ["d", "e"], "c": [], "d": [], "e": []}.items():
        _used_file(tmp_path / f"{name}.kspec", uses)
    main = tmp_path / "main.kspec"
    main.write_text('use "a.kspec"\nuse "b.kspec"\n' + _MODEL, encoding="utf-8")
    blocks, params = expand_module._load_uses(parse_text(main.read_text(encoding="utf-8"), str(main)))
    assert [b.name for b in blocks] == ["b_c", "b_d", "b_a", "b_e", "b_b"]
    assert [p.name for p in params] == ["p_c", "p_d", "p_a", "p_e", "p_b"]


def test_a_chain_of_uses_as_long_as_the_limit_allows_is_read(tmp_path: Path) -> None:
    """Reading used files recursively ran out of Python's stack at about
    970 files in a chain, under the ``uses`` limit of 1,000."""
    n = 990
    for i in range(n):
        _used_file(tmp_path / f"f{i}.kspec", [f"f{i + 1}"] if i + 1 < n else [])
    main = tmp_path / "main.kspec"
    main.write_text('use "f0.kspec"\n' + _MODEL.replace("Dense(1)", f"b_f{n - 1}()"), encoding="utf-8")
    spec = load_text(main.read_text(encoding="utf-8"), str(main))
    (output,) = spec.models[0].outputs
    assert [step.layer.type for step in output.value.steps] == ["ReLU"]  # type: ignore[union-attr]


def test_a_block_of_a_used_file_is_applied_by_its_bare_name(tmp_path: Path) -> None:
    """``x -> mlp`` applies a block of this file; it applies a block of a
    used file too (the parser, which reads no other file, took it for a
    named layer: K208). A named layer of the same name keeps it."""
    (tmp_path / "lib.kspec").write_text("block mlp(x) { return x -> Dense(3) -> ReLU() }\n", encoding="utf-8")

    def load(model: str) -> ir.FunctionalModel:
        text = f'use "lib.kspec"\nblock twice(x) {{ return x -> mlp -> mlp }}\nmodel m {{\n  input x: (4,)\n{model}}}\n'
        spec = load_text(text, str(tmp_path / "main.kspec"))
        model_ir = spec.models[0]
        assert isinstance(model_ir, ir.FunctionalModel)
        return model_ir

    def types(m: ir.FunctionalModel) -> list[list[str]]:
        return [[getattr(s.layer, "type", None) or getattr(s.layer, "ref", "") for s in st.value.steps]
                for st in [*m.nodes, *m.outputs]]

    bare = load("  h = x -> mlp\n  output y = h -> twice -> Dense(1)\n")
    called = load("  h = x -> mlp()\n  output y = h -> twice() -> Dense(1)\n")
    assert types(bare) == types(called)
    assert sum(t.count("Dense") for t in types(bare)) == 4  # mlp three times, and the last Dense
    named = load("  mlp = Dense(2)\n  output y = x -> mlp\n")
    assert named.outputs[0].value.steps[0].layer == ir.LayerRef(ref="mlp")


def test_a_block_of_a_used_file_is_applied_in_the_head_form(tmp_path: Path) -> None:
    """``mlp(x)`` applies a used file's block, as ``x -> mlp()`` does; an
    unknown name close to this file's own names is still K208, any other is
    an unknown layer once the used files are read; without ``use``, K208."""
    (tmp_path / "lib.kspec").write_text("block mlp(x, k: int = 3) { return x -> Dense(k) }\n", encoding="utf-8")
    main = str(tmp_path / "main.kspec")

    def load(body: str, use: bool = True) -> ir.FunctionalModel:
        text = ('use "lib.kspec"\n' if use else "") + f"model m {{\n  input x: (4,)\n  enc = Dense(2)\n{body}}}\n"
        model = load_text(text, main).models[0]
        assert isinstance(model, ir.FunctionalModel)
        return model

    head = load("  h = mlp(x)\n  g = mlp(h, 5)\n  output y = Concatenate()(h, g)\n")
    chain = load("  h = x -> mlp()\n  g = h -> mlp(5)\n  output y = Concatenate()(h, g)\n")
    assert head == chain
    assert [s.layer.args for n in head.nodes for s in n.value.steps] == [[3], [5]]
    with pytest.raises(KspecError, match=r"main\.kspec:5:7: error\[K208\]: 'encc' is not a named layer"):
        load("  h = encc(x)\n  output y = h\n")
    with pytest.raises(KspecError, match=r"main\.kspec:5:7: error\[K203\]: unknown layer 'zzqq'"):
        load("  h = zzqq(x)\n  output y = h\n")
    with pytest.raises(KspecError, match=r"main\.kspec:5:7: error\[K203\]: unknown layer or block 'mlpz'"):
        load("  h = mlpz(x)\n  output y = h\n")
    with pytest.raises(KspecError, match=r"main\.kspec:4:7: error\[K208\]: 'mlp' is not a named layer"):
        load("  h = mlp(x)\n  output y = h\n", use=False)


def test_unknown_names_applied_in_a_file_with_use_cost_the_same_per_name_at_any_size(tmp_path: Path) -> None:
    """Whether ``f(x)`` may be a used file's block is decided by comparing
    ``f`` with the file's own names for the first ``MAX_SUGGESTIONS`` names
    only: n unknown names beside n named layers are not n**2 comparisons."""
    (tmp_path / "lib.kspec").write_text("block mlp(x) { return x -> Dense(3) }\n", encoding="utf-8")

    def text(n: int) -> str:
        return ('use "lib.kspec"\nmodel m {\n  input x: (4,)\n' + "".join(f"  enc{i} = Dense(4)\n" for i in range(n))
                + "".join(f"  h{i} = zq{i}w(x)\n" for i in range(n)) + "  output y = x -> Dense(1)\n}\n")

    def run(n: int) -> Callable[[], None]:
        def parse() -> None:
            parse_text(text(n), str(tmp_path / "main.kspec"))
        return parse

    small, large = calls_made(run(150)), calls_made(run(600))
    assert large <= 4.6 * small


def test_a_used_files_params_are_its_blocks_settings(tmp_path: Path) -> None:
    """As docs/language.md says: ``-D`` sets a used file's parameter, a
    ``param`` of this file replaces it, and otherwise it is no name here."""
    (tmp_path / "lib.kspec").write_text("param width: int = 8\nblock mlp(x) { return x -> Dense(width) }\n",
                                        encoding="utf-8")
    main = str(tmp_path / "main.kspec")

    def units(text: str, defines: dict[str, object] | None = None) -> list[object]:
        model = load_text('use "lib.kspec"\n' + text, main, defines=defines).models[0]
        assert isinstance(model, ir.FunctionalModel)
        return [s.layer.args[0] for n in [*model.nodes, *model.outputs] for s in n.value.steps
                if isinstance(s.layer, ir.LayerCall)]

    used = "model m {\n  input x: (4,)\n  output y = x -> mlp()\n}\n"
    assert units(used) == [8]
    assert units(used, {"width": 16}) == [16]
    assert units("param width: int = 32\nmodel m {\n  input x: (4,)\n  h = x -> mlp()\n"
                 "  output y = h -> Dense(width * 2)\n}\n") == [32, 64]
    with pytest.raises(KspecError, match=r"main\.kspec:4:25: error\[K212\]: unknown parameter 'width'"):
        load_text('use "lib.kspec"\nmodel m {\n  input x: (4,)\n  output y = x -> Dense(width * 2)\n}\n', main)


# -- cycles of statements ----------------------------------------------------------


def _cycles(n: int) -> str:
    """``n`` statements, each adding the next and the first: n cycles through ``s0``."""
    lines = [f"  s{i} = Add()(s{i + 1}, s0)" for i in range(n - 1)] + [f"  s{n - 1} = Add()(x, s0)"]
    return "model m {\n  input x: (4,)\n" + "\n".join(lines) + "\n  output y = s0 -> Dense(1)\n}\n"


def test_many_cycles_of_statements_are_reported_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each cycle is as long as the walk below it, so reporting every one
    of n cycles named n**2 statements (and printed as much)."""
    named = 0
    statement_name = graph_module._statement_name

    def counted(st: object) -> str:
        nonlocal named
        named += 1
        return statement_name(st)  # type: ignore[arg-type]

    monkeypatch.setattr(graph_module, "_statement_name", counted)
    for n in (200, 800):
        named = 0
        with pytest.raises(KspecError) as info:
            load_text(_cycles(n), "cycles.kspec")
        cycles = [d for d in info.value.diagnostics if d.code == "K204"]
        assert len(cycles) == graph_module._MAX_CYCLES
        assert cycles[0].message == f"cycle: {' -> '.join(f's{i}' for i in range(n))} -> s0"
        assert named <= graph_module._MAX_CYCLES * n  # not n cycles of up to n statements


# -- suggestions for many mistakes ---------------------------------------------------


_MISTAKES = {
    "unknown parameters": lambda n: "".join(f"param units{i}: int = {i + 1}\n" for i in range(n))
    + "model m {\n  input x: (4,)\n" + "".join(f"  h{i} = x -> Dense(unitz{i} * 2)\n" for i in range(n))
    + "  output y = x -> Dense(1)\n}\n",
    "misspelt shared layers": lambda n: "model m {\n  input x: (4,)\n"
    + "".join(f"  enc{i} = Dense(4)\n" for i in range(n)) + "".join(f"  h{i} = encc{i}(x)\n" for i in range(n))
    + "  output y = x -> Dense(1)\n}\n",
    "unknown layers beside many blocks": lambda n: "".join(f"block blk{i}(x) {{\n  return x -> ReLU()\n}}\n"
                                                           for i in range(n))
    + "model m {\n  input x: (4,)\n" + "".join(f"  h{i} = x -> Dens{i}()\n" for i in range(n))
    + "  output y = x -> Dense(1)\n}\n",
}


@pytest.mark.parametrize("make", _MISTAKES.values(), ids=list(_MISTAKES))
def test_many_mistakes_among_many_names_make_the_same_calls_per_mistake_at_any_size(
        make: Callable[[int], str]) -> None:
    """Each suggestion compares a name with every candidate: n mistakes
    among n names cost n**2 comparisons, until one check made at most
    ``MAX_SUGGESTIONS``; the first mistakes still get theirs."""
    def made(n: int) -> tuple[int, KspecError]:
        found: list[KspecError] = []

        def run() -> None:
            try:
                load_text(make(n), "many.kspec")
            except KspecError as exc:
                found.append(exc)

        return calls_made(run), found[0]

    (small, _), (large, error) = made(110), made(440)
    assert large <= 4.6 * small
    assert error.diagnostics[0].hint is not None and "did you mean" in error.diagnostics[0].hint


def _custom_layers_and_blocks(n: int) -> str:
    blocks = "".join(f"block blk{i}(x) {{\n  return x -> ReLU()\n}}\n" for i in range(n))
    return blocks + "sequential s {\n  input (4,)\n" + "  mylib::Scale(factor=0.5)\n" * n + "}\n"


def test_a_custom_layer_used_many_times_beside_many_blocks_is_compared_with_them_once() -> None:
    """Whether a layer type that is not Keras's is a misspelt block is worked
    out once per type, not at each use against every block."""
    small = calls_made(lambda: expand(parse_text(_custom_layers_and_blocks(150), "c.kspec")))
    large = calls_made(lambda: expand(parse_text(_custom_layers_and_blocks(600), "c.kspec")))
    assert large <= 4.3 * small


def test_a_misspelt_block_is_found_however_many_suggestions_were_made() -> None:
    """The bound on suggestions bounds hints only: what is an error is not
    decided by it."""
    text = "block blk(x) {\n  return x -> ReLU()\n}\nmodel m {\n  input x: (4,)\n  output y = x -> blkk()\n}\n"
    with diagnostics.suggestions_bounded(0), pytest.raises(KspecError) as info:
        expand(parse_text(text, "b.kspec"))
    assert str(info.value) == "b.kspec:6:19: error[K203]: unknown layer or block 'blkk'"


# -- operations: the canonical chain of a nested operation ---------------------------


def _op_chain_recursive(op: ir.Op) -> tuple[list[str], list[ir.Step]]:
    """The canonical chain as its definition reads, one level at a time
    (asking at each level whether everything below holds a tensor)."""
    first = op.args[0] if op.args else None
    rest = op.model_copy(update={"args": list(op.args[1:])})
    if isinstance(first, ir.Ref):
        return [first.name], [ir.Step(layer=rest, span=op.span)]
    if isinstance(first, ir.Op) and ops_module.has_tensor(first):
        inputs, steps = _op_chain_recursive(first)
        return inputs, [*steps, ir.Step(layer=rest, span=op.span)]
    return [], [ir.Step(layer=op, span=op.span)]


_LEAVES = st.one_of(st.builds(ir.Ref, name=st.sampled_from(["x", "y"])), st.integers(-2, 2), st.none())
_OPERATIONS = st.recursive(
    _LEAVES,
    lambda kids: st.one_of(
        st.lists(kids, max_size=2),
        st.builds(ir.Op, fn=st.sampled_from(["add", "multiply", "mean"]), args=st.lists(kids, max_size=3),
                  kwargs=st.dictionaries(st.sampled_from(["axis", "keepdims"]), kids, max_size=1)),
    ),
    max_leaves=25,
)


@given(st.builds(ir.Op, fn=st.sampled_from(["add", "subtract"]), args=st.lists(_OPERATIONS, max_size=3)))
@settings(max_examples=200, deadline=None)
def test_the_chain_of_an_operation_is_that_of_its_definition(op: ir.Op) -> None:
    assert ops_module.op_chain(op) == _op_chain_recursive(op)


def test_the_chain_of_a_long_sum_looks_at_each_term_a_bounded_number_of_times(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``x + x + ... + x``, n terms, nests n - 1 operations down their first
    arguments; asking at each whether all below holds a tensor was quadratic."""
    asked = 0
    has_tensor = ops_module.has_tensor

    def counted(value: object) -> bool:
        nonlocal asked
        asked += 1
        return has_tensor(value)

    monkeypatch.setattr(ops_module, "has_tensor", counted)
    for n in (50, 200):
        op: object = ir.Ref(name="x")
        for _ in range(n - 1):
            op = ir.Op(fn="add", args=[op, ir.Ref(name="x")])
        assert isinstance(op, ir.Op)
        asked = 0
        inputs, steps = ops_module.op_chain(op)
        assert (inputs, len(steps)) == (["x"], n - 1)
        assert asked <= 2 * n
