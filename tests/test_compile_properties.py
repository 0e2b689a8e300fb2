"""Properties of compilation over random valid specs (see strategies.py):

- every generated spec passes the static checks and compiles;
- compiling twice gives byte-identical Keras JSON (names never come from
  Keras's global counters);
- ``to_json`` -> ``keras.models.model_from_json`` gives the identical JSON;
- with the same weights, both models give the same outputs.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given

import kspec
from kspec.compiler.graph import check_graph
from kspec.runtime._quiet import import_keras
from kspec.spec import ir
from kspec.spec.yaml_form import load_yaml
from kspec.spec.yaml_printer import dump_yaml
from strategies import specs


def _random_inputs(model: object, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, *t.shape[1:])).astype("float32") for t in model.inputs]  # type: ignore[attr-defined]


def _as_list(y: object) -> list[np.ndarray]:
    return [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


@given(specs())
def test_random_specs_compile_and_round_trip_through_json(spec: ir.Spec) -> None:
    keras = import_keras()
    assert check_graph(spec) == []
    model = kspec.build(spec)
    text = model.to_json()
    assert kspec.build(spec).to_json() == text  # deterministic names and config

    clone = keras.models.model_from_json(text)
    assert clone.to_json() == text
    assert clone.count_params() == model.count_params()

    clone.set_weights(model.get_weights())
    xs = _random_inputs(model, seed=0)
    feed = xs[0] if len(xs) == 1 else xs
    expected = _as_list(model.predict(feed, verbose=0))
    got = _as_list(clone.predict(feed, verbose=0))
    assert len(expected) == len(got)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@given(specs())
def test_yaml_form_round_trips(spec: ir.Spec) -> None:
    assert load_yaml(dump_yaml(spec)) == spec
