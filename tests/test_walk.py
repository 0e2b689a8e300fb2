"""The one walk of a model's layer graph (``kspec.compiler.walk``).

A recording visitor shows what the walk does, event by event: the order of
inputs, layers and statements, the names it gives, named stacks (one layer
object each, call arguments on the first layer only), sub-models, output
``Identity`` layers and the K206 count checks. Then, over every example, the
layers shape inference reports are the layers of the Keras model that
lowering builds, first applied in the same order: both sides walk the model
with this one walker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kspec
from kspec.compiler.graph import check_graph
from kspec.compiler.pipeline import expand, parse_text
from kspec.compiler.shapes import infer_spec
from kspec.compiler.walk import Application, Model, ModelVisitor, Statement, Walked, walk_model, walk_models
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic
from kspec.spec.ir import Span

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.*"))

Event = tuple[Any, ...]


class Recorder:
    """Records a walk. A tensor is a string; a layer is its name and gives
    ``counts.get(name, 1)`` tensors (``name.0``, ``name.1`` ... when several)."""

    def __init__(self, counts: dict[str, int] | None = None, keep: bool = False) -> None:
        self.events: list[Event] = []
        self.counts = counts or {}
        self.keep = keep  # after a count mismatch, go on with the tensors given

    def input(self, inp: ir.Input, index: int) -> str:
        self.events.append(("input", inp.name, index))
        return inp.name

    def new_layer(self, call: ir.LayerCall, name: str, *, named: bool) -> str:
        self.events.append(("new", name, call.type, named))
        return name

    def model_ref(self, ref: ir.LayerRef) -> str:
        self.events.append(("model", ref.ref))
        return ref.ref

    def call_constant(self, value: Any, span: Span | None) -> Any:
        return f"const {value!r}"

    def apply(self, layer: str, inputs: list[str], call_kwargs: dict[str, Any], at: Application) -> list[str]:
        self.events.append(("apply", layer, inputs, call_kwargs, at.label, at.sources))
        n = self.counts.get(layer, 1)
        return [layer] if n == 1 else [f"{layer}.{i}" for i in range(n)]

    def identity(self, name: str, tensor: str, output: ir.Output, sources: tuple[str, ...]) -> str:
        self.events.append(("identity", name, tensor, sources))
        return f"{name}!"

    def mismatch(self, statement: Statement, problem: Diagnostic, got: list[str]) -> list[str]:
        self.events.append(("mismatch", problem.code, problem.message, problem.hint))
        if self.keep:
            return got
        return ["?"] * (len(statement.targets) if isinstance(statement, ir.Assign) else 1)

    def missing(self, name: str) -> str:
        self.events.append(("missing", name))
        return f"?{name}"

    def finish(self, walked: Walked[str]) -> list[Event]:
        self.events.append(("finish", walked.inputs, walked.outputs, walked.tensors))
        return self.events


def _walk(spec: ir.Spec, name: str, recorder: Recorder) -> list[Event]:
    model = next(m for m in spec.models if m.name == name)
    return walk_model(model, recorder, {m.name for m in spec.models})


def _unchecked(text: str) -> ir.Spec:
    """A spec that passes the graph checks (all the walk assumes), without
    the shape checks that would refuse a count mismatch first."""
    spec = expand(parse_text(text))
    assert check_graph(spec) == []
    return spec


SHARED = """
sequential enc {
  input (8,)
  Dense(4)
}
model m {
  input a: (8,)
  input b: (8,)
  proj = Dense(8, name="p") -> enc
  x = a -> proj
  y = b -> proj
  s = Add()(x, y)
  q, h, c = s -> Reshape((1, 4)) -> LSTM(3, return_state=true)
  r = s -> Reshape((1, 4)) -> LSTM(3)(initial_state=[h, c], training=false)
  output out = Concatenate()(q, r) -> Dense(2)
  output again = a -> enc
  output plain = y
}
"""


def test_functional_walk_order_names_stacks_and_outputs() -> None:
    events = _walk(kspec.loads(SHARED), "m", Recorder({"q": 3}))
    assert events == [
        ("input", "a", 0),
        ("input", "b", 1),
        # the named stack: one layer object per layer, made once, before any statement
        ("new", "p", "Dense", True),
        ("model", "enc"),
        ("apply", "p", ["a"], {}, "'proj'", ("a",)),
        ("apply", "enc", ["p"], {}, "'proj'", ("p",)),
        ("apply", "p", ["b"], {}, "'proj'", ("b",)),
        ("apply", "enc", ["p"], {}, "'proj'", ("p",)),
        ("new", "s", "Add", False),
        ("apply", "s", ["enc", "enc"], {}, "Add", ("enc", "enc")),
        ("new", "q_reshape", "Reshape", False),
        ("apply", "q_reshape", ["s"], {}, "Reshape", ("s",)),
        ("new", "q", "LSTM", False),
        ("apply", "q", ["q_reshape"], {}, "LSTM", ("q_reshape",)),
        ("new", "r_reshape", "Reshape", False),
        ("apply", "r_reshape", ["s"], {}, "Reshape", ("s",)),
        ("new", "r", "LSTM", False),
        # tensor references in call arguments are tensors; anything else goes through call_constant
        (
            "apply",
            "r",
            ["r_reshape"],
            {"initial_state": ["q.1", "q.2"], "training": "const False"},
            "LSTM",
            ("r_reshape",),
        ),
        ("new", "out_concatenate", "Concatenate", False),
        ("apply", "out_concatenate", ["q.0", "r"], {}, "Concatenate", ("q", "r")),
        ("new", "out", "Dense", False),
        ("apply", "out", ["out_concatenate"], {}, "Dense", ("out_concatenate",)),
        ("model", "enc"),
        ("apply", "enc", ["a"], {}, "'enc'", ("a",)),
        # outputs that end in a shared layer, or are a plain tensor, get an Identity layer with their name
        ("identity", "again", "enc", ("enc",)),
        ("identity", "plain", "enc", ("enc",)),
        (
            "finish",
            ["a", "b"],
            ["out", "again!", "plain!"],
            {
                "a": "a",
                "b": "b",
                "x": "enc",
                "y": "enc",
                "s": "s",
                "q": "q.0",
                "h": "q.1",
                "c": "q.2",
                "r": "r",
                "out": "out",
                "again": "again!",
                "plain": "plain!",
            },
        ),
    ]


def test_statements_follow_tensor_order_not_declaration_order() -> None:
    spec = _unchecked("""model m {
  input x: (4,)
  output y = h -> Dense(1)
  h = x -> Dense(4) -> ReLU()
}""")
    assert [e for e in _walk(spec, "m", Recorder()) if e[0] == "new"] == [
        ("new", "h_dense", "Dense", False),
        ("new", "h", "ReLU", False),
        ("new", "y", "Dense", False),
    ]


def test_stack_of_stacks_takes_call_arguments_on_its_first_layer_only() -> None:
    spec = _unchecked("""model m {
  input x: (4,)
  inner = Dense(4) -> Dense(4)
  outer = inner -> ReLU()
  output y = x -> outer(training=false)
}""")
    assert _walk(spec, "m", Recorder()) == [
        ("input", "x", 0),
        ("new", "inner_dense", "Dense", True),
        ("new", "inner_dense_2", "Dense", True),
        ("new", "outer_re_lu", "ReLU", True),  # a stack of two: 'inner' and a ReLU
        ("apply", "inner_dense", ["x"], {"training": "const False"}, "'outer'", ("x",)),
        ("apply", "inner_dense_2", ["inner_dense"], {}, "'outer'", ("inner_dense",)),
        ("apply", "outer_re_lu", ["inner_dense_2"], {}, "'outer'", ("inner_dense_2",)),
        ("identity", "y", "outer_re_lu", ("outer_re_lu",)),
        ("finish", ["x"], ["y!"], {"x": "x", "y": "y!"}),
    ]


def test_sequential_walk_names_layers_as_keras_does() -> None:
    spec = kspec.loads("""
sequential enc {
  input (8,)
  Dense(8)
}
sequential s {
  input z: (8,)
  Dense(8)
  enc
  Dense(2, name="last")
  Dense(2)
}""")
    assert _walk(spec, "s", Recorder()) == [
        ("input", "z", 0),
        ("new", "dense", "Dense", False),
        ("apply", "dense", ["z"], {}, "Dense", ("z",)),
        ("model", "enc"),
        ("apply", "enc", ["dense"], {}, "'enc'", ("dense",)),
        ("new", "last", "Dense", False),
        ("apply", "last", ["enc"], {}, "Dense", ("enc",)),
        ("new", "dense_1", "Dense", False),
        ("apply", "dense_1", ["last"], {}, "Dense", ("last",)),
        ("finish", ["z"], ["dense_1"], {}),
    ]


DESTRUCTURE = """model m {
  input x: (5, 4)
  %s = x -> LSTM(3, return_state=true)
  output y = seq -> Dense(1)
}"""


@pytest.mark.parametrize(
    ("targets", "message", "hint"),
    [
        ("seq", "LSTM gives 3 tensors; name each of them: seq1, seq2, seq3 = ...", None),
        ("seq, h", "LSTM gives 3 tensors, but 2 names are given (seq, h)", "give one name per result"),
        ("seq, h, c, d", "LSTM gives 3 tensors, but 4 names are given (seq, h, c, d)", "give one name per result"),
    ],
)
def test_destructuring_count_mismatch_is_one_k206(targets: str, message: str, hint: str | None) -> None:
    names = [t.strip() for t in targets.split(",")]
    events = _walk(_unchecked(DESTRUCTURE % targets), "m", Recorder({"seq": 3}))
    assert ("mismatch", "K206", message, hint) in events
    assert events[-1][3] == {"x": "x", **dict.fromkeys(names, "?"), "y": "y"}


def test_one_result_for_several_names_is_worded_in_the_singular() -> None:
    events = _walk(_unchecked(DESTRUCTURE % "seq, h"), "m", Recorder())
    assert (
        "mismatch",
        "K206",
        "LSTM gives 1 tensor, but 2 names are given (seq, h)",
        "give one name per result",
    ) in events


def test_names_left_unbound_after_a_mismatch_are_missing() -> None:
    events = _walk(
        _unchecked("""model m {
  input x: (5, 4)
  seq, h = x -> LSTM(3)
  output y = h -> Dense(1)
}"""),
        "m",
        Recorder(keep=True),
    )
    assert events[-5:] == [
        ("mismatch", "K206", "LSTM gives 1 tensor, but 2 names are given (seq, h)", "give one name per result"),
        ("missing", "h"),
        ("new", "y", "Dense", False),
        ("apply", "y", ["?h"], {}, "Dense", ("h",)),  # no layer made 'h': its name stands for its source
        ("finish", ["x"], ["y"], {"x": "x", "seq": "seq", "y": "y"}),
    ]


def test_an_output_must_be_one_tensor() -> None:
    events = _walk(
        _unchecked("""model m {
  input x: (5, 4)
  output y = x -> LSTM(3, return_state=true)
}"""),
        "m",
        Recorder({"y": 3}),
    )
    assert events[-2:] == [
        (
            "mismatch",
            "K206",
            "output 'y' must be one tensor, got 3",
            "destructure the layer's results first, then output one of them",
        ),
        ("finish", ["x"], ["?"], {"x": "x", "y": "?"}),
    ]


def test_models_are_walked_after_the_models_they_use() -> None:
    spec = kspec.loads("""
model top {
  input x: (8,)
  output y = x -> mid
}
sequential mid {
  input (8,)
  low
}
sequential low {
  input (8,)
  Dense(8)
}""")
    walked: list[str] = []

    def visitor_for(model: Model) -> ModelVisitor[str, str, list[Event]]:
        walked.append(model.name)
        return Recorder()

    results: dict[str, list[Event]] = {}
    assert walk_models(spec, visitor_for, results, "mid") == []
    assert walked == ["low", "mid"]
    assert list(results) == ["low", "mid"]
    assert walk_models(spec, visitor_for, results) == []
    assert walked == ["low", "mid", "low", "mid", "top"]


# --------------------------------------------------------------------------
# By construction: shape inference and lowering walk the same layers


class _Spy:
    """Lowering's visitor for one model, recording the name of each layer as
    lowering applies it (inputs first, in a functional model)."""

    def __init__(self, inner: Any, model: Model, order: list[str]) -> None:
        self.inner = inner
        self.model = model
        self.order = order

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def input(self, inp: ir.Input, index: int) -> Any:
        if isinstance(self.model, ir.FunctionalModel):
            self.order.append(inp.name)
        return self.inner.input(inp, index)

    def apply(self, layer: Any, inputs: list[Any], call_kwargs: dict[str, Any], at: Application) -> list[Any]:
        self.order.append(layer.name)
        results: list[Any] = self.inner.apply(layer, inputs, call_kwargs, at)
        return results

    def identity(self, name: str, tensor: Any, output: ir.Output, sources: tuple[str, ...]) -> Any:
        self.order.append(name)
        return self.inner.identity(name, tensor, output, sources)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_summary_and_lowering_walk_the_same_layers(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kspec.runtime import lower

    lowered: dict[str, list[str]] = {}
    real = lower._Lowerer.visitor

    def spy(self: lower._Lowerer, model: Model) -> Any:
        return _Spy(real(self, model), model, lowered.setdefault(model.name, []))

    monkeypatch.setattr(lower._Lowerer, "visitor", spy)
    spec = kspec.load(path)
    model = kspec.build(spec)
    shapes = infer_spec(spec)
    assert model.name in lowered
    for name, order in lowered.items():
        static = [layer.name for layer in shapes.models[name].layers]
        assert len(set(static)) == len(static)
        assert list(dict.fromkeys(order)) == static, name  # the same layers, first applied in the same order
    static = [layer.name for layer in shapes.models[model.name].layers]
    keras_names = [layer.name for layer in model.layers]
    assert sorted(keras_names) == sorted(static)
    if isinstance(spec.model(model.name), ir.SequentialModel):
        assert keras_names == static  # a functional model's layers Keras lists by depth instead
