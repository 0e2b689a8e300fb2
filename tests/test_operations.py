"""Operations on tensors (``x + y``, ``x[:, 0]``, ``ops.mean(x, axis=1)``)
and Keras's lowercase merge helpers (``concatenate(a, b)``).

Each operation is built both ways, from a spec and by the same Python Keras
code, and the two models must have the same configuration (names aside),
the same static shapes as ``kspec summary`` infers, and the same outputs.
Both forms of the language round-trip them, and a model written with
operations decompiles and recompiles to an identical configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import kspec
from _decompile_compare import assert_same_model
from kspec.compiler.pipeline import load_text
from kspec.compiler.shapes import infer_spec
from kspec.runtime._quiet import import_keras
from kspec.runtime.decompile import decompile_model, rebuild
from kspec.spec.diagnostics import KspecError
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.kspec_printer import print_kspec
from kspec.spec.yaml_form import load_yaml
from kspec.spec.yaml_printer import dump_yaml

keras = import_keras()
ops = keras.ops

#: (the statement in a spec, the same in Python; inputs x: (4, 3), y: (4, 3), v: (3,)).
CASES: list[tuple[str, Callable[..., Any]]] = [
    ("x + y", lambda x, y, v: x + y),
    ("x + 3.0", lambda x, y, v: x + 3.0),
    ("3.0 - x", lambda x, y, v: 3.0 - x),
    ("x * (1 / 6)", lambda x, y, v: x * (1 / 6)),
    ("(x + 3.0) * 0.5", lambda x, y, v: (x + 3.0) * 0.5),
    ("x / 2.0", lambda x, y, v: x / 2.0),
    ("x // 2.0", lambda x, y, v: x // 2.0),
    ("x ** 2", lambda x, y, v: x**2),
    ("-x", lambda x, y, v: -x),
    ("x > 0.5", lambda x, y, v: x > 0.5),
    ("x + ops.expand_dims(v, 1)", lambda x, y, v: x + ops.expand_dims(v, 1)),
    ("x @ ops.transpose(y, axes=[0, 2, 1])", lambda x, y, v: x @ ops.transpose(y, axes=[0, 2, 1])),
    ("x[:, 0]", lambda x, y, v: x[:, 0]),
    ("x[..., 1:3]", lambda x, y, v: x[..., 1:3]),
    ("x[:, None]", lambda x, y, v: x[:, None]),
    ("ops.mean(x, axis=1)", lambda x, y, v: ops.mean(x, axis=1)),
    ("ops.sum(x, axis=-1, keepdims=true)", lambda x, y, v: ops.sum(x, axis=-1, keepdims=True)),
    ("ops.hard_sigmoid(x)", lambda x, y, v: ops.hard_sigmoid(x)),
    ("ops.concatenate([x, y], axis=-1)", lambda x, y, v: ops.concatenate([x, y], axis=-1)),
    ("ops.reshape(x, (-1, 12))", lambda x, y, v: ops.reshape(x, (-1, 12))),
    ("x -> Dense(3) -> ops.expand_dims(axis=1)", lambda x, y, v: ops.expand_dims(keras.layers.Dense(3)(x), axis=1)),
    ("concatenate(x, y, axis=1)", lambda x, y, v: keras.layers.concatenate([x, y], axis=1)),
    ("add([x, y])", lambda x, y, v: keras.layers.add([x, y])),
]


_SHAPES = {"x": (4, 3), "y": (4, 3), "v": (3,)}


def _used(statement: str) -> list[str]:
    return [n for n in _SHAPES if re.search(rf"\b{n}\b", statement)]


def _spec(statement: str) -> str:
    inputs = "".join(f"  input {n}: ({', '.join(map(str, _SHAPES[n]))}{',' if len(_SHAPES[n]) == 1 else ''})\n"
                     for n in _used(statement))
    return f"model m {{\n{inputs}  output out = {statement}\n}}\n"


def _python(statement: str, build: Callable[..., Any]) -> Any:
    tensors = {n: keras.Input(_SHAPES[n], name=n) for n in _SHAPES}
    used = [tensors[n] for n in _used(statement)]
    return keras.Model(used if len(used) > 1 else used[0], build(*tensors.values()))


def _inputs(statement: str, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2, *_SHAPES[n])).astype("float32") for n in _used(statement)]


@pytest.mark.parametrize(("statement", "build"), CASES, ids=[c[0] for c in CASES])
def test_operation_builds_what_keras_builds(statement: str, build: Callable[..., Any]) -> None:
    text = _spec(statement)
    spec = load_text(text, "ops.kspec")
    built = kspec.build(kspec.loads(text))
    want = _python(statement, build)
    for layer in want.layers:  # the same weights, where there are any
        if layer.weights:
            built.get_layer(index=[type(lay) for lay in want.layers].index(type(layer))).set_weights(
                layer.get_weights())
    assert_same_model(want, built)
    static = infer_spec(spec).models["m"].outputs[0]
    assert static == tuple(want.outputs[0].shape)
    np.testing.assert_allclose(np.asarray(built.predict(_inputs(statement), verbose=0), dtype="float32"),
                               np.asarray(want.predict(_inputs(statement), verbose=0), dtype="float32"), atol=1e-6)


@pytest.mark.parametrize("statement", [c[0] for c in CASES])
def test_operation_round_trips_in_both_forms(statement: str) -> None:
    text = _spec(statement)
    spec = parse_kspec(text)
    printed = print_kspec(spec)
    assert parse_kspec(printed) == spec
    assert print_kspec(parse_kspec(printed)) == printed
    assert load_yaml(dump_yaml(spec)) == spec


def test_operators_print_as_written() -> None:
    text = _spec("(x + 3.0) * (1 / 6) -> ReLU() -> ops.mean(axis=1)")
    assert "output out = (x + 3.0) * (1 / 6) -> ReLU() -> ops.mean(axis=1)" in print_kspec(parse_kspec(text))


def test_broadcast_mismatch_has_keras_message() -> None:
    text = "model m {\n  input x: (4, 3)\n  input z: (5,)\n  output out = x + z\n}\n"
    with pytest.raises(KspecError) as err:
        load_text(text, "bad.kspec")
    message = err.value.diagnostics[0].message
    assert message == ("ops.add cannot be applied to (None, 4, 3) and (None, 5): Cannot broadcast shape, the failure "
                       "dim has value 3, which cannot be broadcasted to 5. Input shapes are: [None, 4, 3] and "
                       "[None, 5].")


def test_unknown_operation_is_located_with_a_suggestion() -> None:
    with pytest.raises(KspecError) as err:
        load_text(_spec("ops.meen(x, axis=1)"), "bad.kspec")
    diag = err.value.diagnostics[0]
    assert (diag.code, diag.message) == ("K203", "unknown operation 'ops.meen'")
    assert diag.hint is not None and diag.hint.startswith("did you mean 'ops.mean'")
    assert diag.span is not None and diag.span.line == 3


def test_parameter_arithmetic_is_not_an_operation() -> None:
    text = ("param k: float = 2.0\nmodel m {\n  input x: (3,)\n  output out = x * (k + 1) -> Dense(2)\n}\n")
    built = kspec.build(kspec.loads(text))
    entry = next(e for e in built.get_config()["layers"] if e["name"] == "out_multiply")
    assert entry["class_name"] == "Multiply"
    assert entry["inbound_nodes"][0]["args"][1] == 3.0  # computed when the spec is expanded


def test_an_output_that_is_an_operation_adds_no_layer() -> None:
    built = kspec.build(kspec.loads(_spec("x + y")))
    assert [layer.name for layer in built.layers if "Identity" in type(layer).__name__] == []
    assert built.output_names == ["out"] if hasattr(built, "output_names") else True


def test_decompiled_operations_recompile_to_the_same_model() -> None:
    x = keras.Input((8,), name="x")
    h = keras.layers.Dense(4)(x)
    y = keras.layers.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)
    z = ops.mean(ops.expand_dims(y, 1), axis=1) + h
    model = keras.Model(x, [z, z[:, :2], ops.concatenate([z, h], axis=-1)])
    result = decompile_model(model)
    text = print_kspec(result.spec)
    assert re.search(r"dense(_\d+)? \+ 3.0", text) and "Rescaling" not in text
    assert parse_kspec(text) == result.spec
    again = rebuild(result)
    assert_same_model(model, again)
    sample = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    for a, b in zip(model.predict(sample, verbose=0), again.predict(sample, verbose=0), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_decompiling_with_names_keeps_each_operation_name() -> None:
    """An operation takes no ``name=``: with ``keep_names`` it is a statement
    of its own, its target giving it its Keras name."""
    text = "model net {\n  input x: (3,)\n  t1 = -x\n  t2 = (x + 3.0) * 0.5\n  output out = t1 + t2 -> Dense(1)\n}\n"
    first = kspec.build(kspec.loads(text))
    exact = kspec.build(kspec.decompile(first, keep_names=True))
    assert exact.to_json() == first.to_json()


def test_a_long_subscript_wraps_without_becoming_a_tuple() -> None:
    """``kspec fmt`` wraps a long line at a call or a list, never inside a
    subscript or parentheses of one item, where a trailing comma would make
    a tuple (``x[i,]``, ``(a + b,)``)."""
    name = "a_rather_long_tensor_name_" * 2
    text = (f"model m {{\n  input {name}: (4, 3)\n"
            f"  output out = ({name} + {name} * 2.0)[{name}.shape[-1] - 1 if {name}.shape[-1] > 1 else 0:]\n}}\n")
    spec = parse_kspec(text)
    printed = print_kspec(spec)
    assert max(len(line) for line in printed.splitlines()) > 100  # nothing safe to wrap: the line stays long
    assert parse_kspec(printed) == spec
