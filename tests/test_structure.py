"""Inputs and outputs as ``keras.Model`` takes them: one tensor or a list
(the default), a list even of one (``inputs as list``), or a dict keyed by
their names (``outputs as dict``; YAML ``structure: {outputs: dict}``).

- the spec forms: random structured specs print and parse back equal, ``fmt``
  is idempotent, ``convert`` is lossless both ways;
- compiling: the Keras config holds the structure the spec chose, and a dict
  output adds no ``Identity`` layer, even after a sub-model;
- decompiling: the functional-API guide's ticket model built in Python with
  dict inputs and outputs comes back with the same structure and the same
  configuration (names aside), and compiles back to it;
- training: losses and metrics keyed by output names on a dict-output model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given

import kspec
from _decompile_compare import canonical
from kspec import KspecError
from kspec.cli import main
from kspec.commands.fmt import format_text
from kspec.runtime._quiet import import_keras
from kspec.spec import ir
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.kspec_printer import print_kspec
from kspec.spec.yaml_form import load_yaml
from kspec.spec.yaml_printer import dump_yaml
from strategies import structured_spec

keras = import_keras()
L = keras.layers

GAN = """sequential generator {
  input (8,)
  Dense(4, activation="relu")
}

sequential discriminator {
  input (4,)
  Dense(1, activation="sigmoid")
}

model gan {
  outputs as STRUCTURE
  input z: (8,)
  output validity = z -> generator -> discriminator
}
"""


def _shape_of(value: Any) -> Any:
    """The structure of ``input_layers``/``output_layers``, names aside:
    ``"tensor"``, a list's length, or a dict's keys in order."""
    if isinstance(value, dict):
        return list(value)
    if value and isinstance(value[0], str):
        return "tensor"
    return len(value)


def _listed(config: dict[str, Any]) -> dict[str, Any]:
    """A functional config with dict inputs and outputs as lists (in key
    order), nested models too, for :func:`canonical`."""
    out = dict(config)
    for key in ("input_layers", "output_layers"):
        if isinstance(out.get(key), dict):
            out[key] = list(out[key].values())
    if "layers" in out:
        out["layers"] = [{**e, "config": _listed(e["config"])} if e.get("class_name") == "Functional" else e
                         for e in out["layers"]]
    return out


def assert_same_structured_model(original: Any, rebuilt: Any) -> None:
    """Same structure of inputs and outputs (dict keys included), same
    layers, configurations and topology, names aside."""
    want, got = original.get_config(), rebuilt.get_config()
    for key in ("input_layers", "output_layers"):
        assert _shape_of(got[key]) == _shape_of(want[key]), key
    assert canonical(_listed(got)) == canonical(_listed(want))
    assert rebuilt.count_params() == original.count_params()


# -- the spec forms -------------------------------------------------------------------


@given(structured_spec())
def test_structured_specs_print_parse_and_fmt(spec: ir.Spec) -> None:
    text = print_kspec(spec)
    assert parse_kspec(text, "r.kspec") == spec
    assert format_text(text) == text
    assert format_text(format_text(text)) == format_text(text)


@given(structured_spec())
def test_structured_specs_convert_losslessly(spec: ir.Spec) -> None:
    as_yaml = dump_yaml(spec)
    assert load_yaml(as_yaml, "r.yaml") == spec
    as_kspec = print_kspec(load_yaml(as_yaml, "r.yaml"))
    assert parse_kspec(as_kspec, "r.kspec") == spec
    assert dump_yaml(parse_kspec(as_kspec, "r.kspec")) == as_yaml


def test_structure_is_written_canonically_in_both_forms() -> None:
    text = ("model m {\n  input x: (3,)\n  outputs as dict\n  inputs as list\n  output y = x -> Dense(1)\n}\n")
    spec = parse_kspec(text)
    model = spec.models[0]
    assert isinstance(model, ir.FunctionalModel)
    assert model.structure == ir.Structure(inputs="list", outputs="dict")
    assert format_text(text) == text  # fmt keeps the statements where they are written
    assert dump_yaml(spec).startswith("models:\n- name: m\n  structure: {inputs: list, outputs: dict}\n  inputs:\n")
    # without source positions (from YAML, or decompiled), inputs first, at the top of the model
    assert print_kspec(load_yaml(dump_yaml(spec))) == (
        "model m {\n  inputs as list\n  outputs as dict\n  input x: (3,)\n  output y = x -> Dense(1)\n}\n")
    # the default structure writes nothing
    plain = "model m {\n  input x: (3,)\n  output y = x -> Dense(1)\n}\n"
    assert "structure" not in dump_yaml(parse_kspec(plain))
    assert print_kspec(parse_kspec(plain)) == plain


def test_a_name_before_as_that_is_not_inputs_or_outputs_is_refused() -> None:
    with pytest.raises(KspecError) as info:
        kspec.loads("model m {\n  input x: (3,)\n  ouputs as dict\n  output y = x\n}\n", file="m.kspec")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.hint) == ("K103", "did you mean 'outputs' or 'inputs'?")
    # 'inputs' and 'outputs' stay usable as tensor names
    spec = kspec.loads("model m {\n  input x: (3,)\n  inputs = x -> Dense(2)\n  outputs = inputs -> Dense(1)\n"
                       "  output y = outputs\n}\n")
    assert [n.targets for n in spec.models[0].nodes] == [["inputs"], ["outputs"]]  # type: ignore[union-attr]


def test_a_sequential_model_has_no_structure_in_yaml() -> None:
    with pytest.raises(KspecError) as info:
        kspec.loads("models:\n- name: s\n  kind: sequential\n  structure: {inputs: dict}\n  input: [3]\n"
                    "  layers: [{Dense: [1]}]\n", format="yaml", file="s.yaml")
    (diag,) = info.value.diagnostics
    assert diag.message == "a sequential model has one input and one output: it has no 'structure'"
    assert (diag.span.line, diag.span.column) == (4, 3)  # type: ignore[union-attr]


# -- compiling --------------------------------------------------------------------------


@given(structured_spec())
def test_structured_specs_compile_to_their_structure_and_decompile_back(spec: ir.Spec) -> None:
    model = spec.models[-1]
    assert isinstance(model, ir.FunctionalModel)
    built = kspec.build(spec)
    config = built.get_config()
    for port, names in (("input", [i.name for i in model.inputs]), ("output", [o.name for o in model.outputs])):
        kind = getattr(model.structure, port + "s")
        want = names if kind == "dict" else 1 if kind == "list" and len(names) == 1 else \
            "tensor" if len(names) == 1 else len(names)
        assert _shape_of(config[port + "_layers"]) == want
    back = kspec.decompile(built)
    assert_same_structured_model(built, kspec.build(back))
    exact = kspec.build(kspec.decompile(built, keep_names=True))
    want_json, got_json = json.loads(built.to_json()), json.loads(exact.to_json())
    assert got_json == want_json


def test_a_dict_output_after_a_sub_model_adds_no_identity_layer() -> None:
    gan = kspec.build(kspec.loads(GAN.replace("STRUCTURE", "dict")))
    assert [layer.name for layer in gan.layers] == ["z", "generator", "discriminator"]
    assert gan.get_config()["output_layers"] == {"validity": ["discriminator", 0, 0]}
    back = kspec.decompile(gan)
    assert "output validity = z -> generator -> discriminator" in print_kspec(back)
    assert_same_structured_model(gan, kspec.build(back))


def test_a_list_output_after_a_sub_model_is_named_by_an_identity_layer() -> None:
    """With list outputs an output is named by its last layer, and a
    sub-model's last layer is the sub-model, named after it: an Identity
    layer carries the output's name (docs/language.md says so)."""
    gan = kspec.build(kspec.loads(GAN.replace("STRUCTURE", "list")))
    assert [layer.name for layer in gan.layers] == ["z", "generator", "discriminator", "validity"]
    assert type(gan.layers[-1]).__name__ == "Identity"
    assert gan.get_config()["output_layers"] == [["validity", 0, 0]]


# -- decompiling a model written in Python -------------------------------------------------


def ticket_with_dicts() -> Any:
    """The Functional API guide's ticket classifier, keyed as Keras 3 code keys it."""
    title = keras.Input(shape=(None,), dtype="int32", name="title")
    body = keras.Input(shape=(None,), dtype="int32", name="body")
    tags = keras.Input(shape=(12,), name="tags")
    title_features = L.LSTM(128)(L.Embedding(10000, 64)(title))
    body_features = L.LSTM(32)(L.Embedding(10000, 64)(body))
    x = L.concatenate([title_features, body_features, tags])
    priority = L.Dense(1, name="priority")(x)
    department = L.Dense(4, name="department")(x)
    return keras.Model(inputs={"title": title, "body": body, "tags": tags},
                       outputs={"priority": priority, "department": department}, name="ticket")


def test_ticket_model_with_dict_inputs_and_outputs_round_trips() -> None:
    model = ticket_with_dicts()
    spec = kspec.decompile(model)
    text = print_kspec(spec)
    assert text.startswith("model ticket {\n  inputs as dict\n  outputs as dict\n  input title: (None,) int32\n")
    assert "  output priority = " in text and "  output department = " in text
    assert load_yaml(dump_yaml(spec)) == spec
    rebuilt = kspec.build(kspec.loads(text))
    assert_same_structured_model(model, rebuilt)
    assert rebuilt.get_config()["input_layers"] == {"title": ["title", 0, 0], "body": ["body", 0, 0],
                                                    "tags": ["tags", 0, 0]}
    assert rebuilt.get_config()["output_layers"] == {"priority": ["priority", 0, 0],
                                                     "department": ["department", 0, 0]}
    rng = np.random.default_rng(0)
    feed = {"title": rng.integers(0, 10, (2, 5)).astype("int32"), "body": rng.integers(0, 10, (2, 7)).astype("int32"),
            "tags": rng.standard_normal((2, 12)).astype("float32")}
    rebuilt.set_weights(model.get_weights())
    a, b = model(feed), rebuilt(feed)
    assert list(a) == list(b) == ["priority", "department"]
    for key in a:
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), atol=1e-5, rtol=0)


def test_dict_outputs_keyed_apart_from_their_layers_are_named_by_their_keys() -> None:
    z = keras.Input((3,), name="z")
    h = L.Dense(4, name="hidden")(z)
    model = keras.Model(z, {"score": L.Dense(1, name="dense_head")(h), "features": h, "again": h})
    spec = kspec.decompile(model)
    fm = spec.models[0]
    assert isinstance(fm, ir.FunctionalModel)
    assert [o.name for o in fm.outputs] == ["score", "features", "again"]
    rebuilt = kspec.build(spec)
    assert list(rebuilt.get_config()["output_layers"]) == ["score", "features", "again"]
    assert_same_structured_model(model, rebuilt)


def test_a_list_of_one_stays_a_list_of_one() -> None:
    x = keras.Input((3,), name="x")
    model = keras.Model([x], [L.Dense(1, name="y")(x)])
    spec = kspec.decompile(model)
    assert spec.models[0].structure == ir.Structure(inputs="list", outputs="list")  # type: ignore[union-attr]
    assert kspec.build(spec).get_config()["output_layers"] == [["y", 0, 0]]
    single = kspec.decompile(keras.Model(x, L.Dense(1)(x)))
    assert single.models[0].structure == ir.Structure()  # type: ignore[union-attr]


def test_nested_outputs_are_refused_with_a_message() -> None:
    x = keras.Input((3,), name="x")
    model = keras.Model(x, {"pair": [L.Dense(1)(x), L.Dense(2)(x)]})
    with pytest.raises(KspecError) as info:
        kspec.decompile(model)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.message) == ("K501", f"model '{model.name}' gives its outputs as a nested structure")


# -- training ---------------------------------------------------------------------------------


TICKET_TRAIN = """model ticket {
  inputs as dict
  outputs as dict
  input title: (None,) int32
  input body: (None,) int32
  input tags: (12,)
  title_features = title -> Embedding(100, 8) -> LSTM(8)
  body_features = body -> Embedding(100, 8) -> LSTM(4)
  features = Concatenate()(title_features, body_features, tags)
  output priority = features -> Dense(1)
  output department = features -> Dense(4, activation="softmax")
}

compile ticket {
  optimizer = Adam(learning_rate=1e-3)
  loss = {priority: mse, department: categorical_crossentropy}
  loss_weights = {priority: 1.0, department: 0.2}
  metrics = {priority: [mae], department: [categorical_accuracy]}
}

train ticket {
  epochs = 2
  batch_size = 4
}
"""


def test_train_keys_losses_metrics_and_data_by_output_names(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ticket.kspec").write_text(TICKET_TRAIN, encoding="utf-8")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", title=rng.integers(0, 100, (8, 6)).astype("int32"),
             body=rng.integers(0, 100, (8, 9)).astype("int32"), tags=rng.random((8, 12)).astype("float32"),
             priority=rng.random((8, 1)).astype("float32"),
             department=np.eye(4, dtype="float32")[rng.integers(0, 4, 8)])
    assert main(["train", "ticket.kspec", "--data", "d.npz", "-o", "ticket.keras"]) == 0
    capsys.readouterr()
    history = json.loads((tmp_path / "ticket.history.json").read_text(encoding="utf-8"))
    assert {"loss", "priority_loss", "priority_mae", "department_loss",
            "department_categorical_accuracy"} <= set(history["history"])
    saved = keras.saving.load_model(tmp_path / "ticket.keras")
    assert list(saved.get_config()["output_layers"]) == ["priority", "department"]


def test_a_list_of_losses_for_dict_outputs_out_of_sorted_order_is_refused() -> None:
    # Keras pairs a list with dict outputs in sorted key order: here 'department'
    # would get the first loss, the one written for 'priority'
    listed = TICKET_TRAIN.replace("loss = {priority: mse, department: categorical_crossentropy}",
                                  "loss = [mse, categorical_crossentropy]")
    with pytest.raises(KspecError) as info:
        kspec.loads(listed)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.message, diag.hint) == (
        "K304", "'loss' is a list, but model 'ticket' has its outputs as a dict, which Keras pairs with a list in "
        "sorted key order (department, priority), not in the written order (priority, department)",
        "key 'loss' by output name: {priority: ..., department: ...}")
    # written in sorted order, a list pairs as written and is accepted
    in_order = listed.replace("output priority = features -> Dense(1)\n", "").replace(
        'output department = features -> Dense(4, activation="softmax")\n',
        'output department = features -> Dense(4, activation="softmax")\n  output priority = features -> Dense(1)\n')
    kspec.loads(in_order.replace("loss = [mse, categorical_crossentropy]", "loss = [categorical_crossentropy, mse]"))
