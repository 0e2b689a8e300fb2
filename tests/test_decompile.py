"""kspec decompile: Keras models back into specs, compiled back to the same model.

Comparisons are "names aside" (see ``_decompile_compare.canonical``): same
layer classes with the same configurations, same topology, same parameter
count, and, with weights carried over, the same outputs. With
``keep_names=True`` the recompiled model's Keras config is compared exactly
(``model.get_config()`` equal, names included).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given

import kspec
from _decompile_compare import assert_same_model, assert_same_outputs, random_inputs
from kspec.cli import main
from kspec.compiler import pipeline
from kspec.runtime._quiet import import_keras
from kspec.runtime.decompile import decompile_model, rebuild
from kspec.spec import ir
from kspec.spec.kspec_printer import print_kspec
from kspec.spec.yaml_form import load_yaml
from kspec.spec.yaml_printer import dump_yaml
from strategies import specs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

keras = import_keras()
L = keras.layers


def _recompile(model: Any, keep_names: bool = False) -> tuple[ir.Spec, Any]:
    """Decompile, print as YAML, read back, build, carry the weights over."""
    result = decompile_model(model, keep_names=keep_names)
    spec = load_yaml(dump_yaml(result.spec))
    assert spec == result.spec
    return spec, rebuild(result)


# -- models built the way the Keras functional-API guide builds them --------------


def multi_io() -> Any:
    title = keras.Input((None,), dtype="int32", name="title")
    body = keras.Input((None,), dtype="int32", name="body")
    tags = keras.Input((12,), name="tags")
    t = L.LSTM(16)(L.Embedding(100, 8)(title))
    b = L.LSTM(8)(L.Embedding(100, 8)(body))
    x = L.concatenate([t, b, tags])
    priority = L.Dense(1, name="priority")(x)
    department = L.Dense(4, name="department", activation="softmax")(x)
    return keras.Model([title, body, tags], [priority, department], name="ticket")


def shared_layers() -> Any:
    a = keras.Input((None,), dtype="int32", name="a")
    b = keras.Input((None,), dtype="int32", name="b")
    emb = L.Embedding(50, 8, name="emb")
    lstm = L.LSTM(6, name="shared_lstm")
    ea, eb = lstm(emb(a)), lstm(emb(b))
    out = L.Dense(1, activation="sigmoid", name="same")(L.concatenate([ea, eb]))
    return keras.Model([a, b], out, name="siamese")


def shared_submodel() -> Any:
    inp = keras.Input((8,), name="vec")
    h = L.Dense(6, activation="relu")(inp)
    encoder = keras.Model(inp, L.Dense(3)(h), name="encoder")
    left = keras.Input((8,), name="left")
    right = keras.Input((8,), name="right")
    diff = L.Subtract()([encoder(left), encoder(right)])
    out = L.Dense(1, activation="sigmoid", name="score")(L.Dense(4, kernel_regularizer="l2")(diff))
    return keras.Model([left, right], out, name="matcher")


def autoencoder() -> Any:
    inp = keras.Input((12,), name="signal")
    encoder = keras.Model(inp, L.Dense(3, activation="relu")(L.Dense(6)(inp)), name="encoder")
    code_in = keras.Input((3,), name="code")
    decoder = keras.Sequential([code_in, L.Dense(6), L.Dense(12, activation="sigmoid")], name="decoder")
    x = keras.Input((12,), name="x")
    return keras.Model(x, decoder(encoder(x)), name="autoencoder")


def masked_text() -> Any:
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = L.Embedding(30, 6, mask_zero=True)(tokens)
    x = L.Bidirectional(L.LSTM(4, return_sequences=True))(x)
    x = L.LSTM(4)(x)
    return keras.Model(tokens, L.Dense(1, activation="sigmoid", name="score")(x), name="classifier")


def preprocessing() -> Any:
    inp = keras.Input((8, 8, 3), name="image")
    norm = L.Normalization()
    norm.adapt(np.random.default_rng(0).random((16, 8, 8, 3)).astype("float32"))
    x = L.RandomRotation(0.1)(L.RandomFlip("horizontal")(inp))
    x = L.SeparableConv2D(4, 3)(norm(L.Rescaling(1 / 255.0)(x)))
    return keras.Model(inp, L.Dense(2, name="logits")(L.GlobalAveragePooling2D()(x)), name="augmented")


def sequential_inside() -> Any:
    block = keras.Sequential([keras.Input((6,)), L.Dense(5, use_bias=False), L.BatchNormalization(), L.ReLU()],
                             name="block")
    inp = keras.Input((6,), name="x")
    out = L.Dense(2, name="y")(block(inp))
    return keras.Model(inp, out, name="outer")


def encoder_decoder_states() -> Any:
    enc_in = keras.Input((None, 7), name="encoder_inputs")
    dec_in = keras.Input((None, 9), name="decoder_inputs")
    _, h, c = L.LSTM(12, return_state=True, name="encoder")(enc_in)
    seq, _, _ = L.LSTM(12, return_sequences=True, return_state=True, name="decoder")(dec_in, initial_state=[h, c])
    out = L.Dense(9, activation="softmax", name="next_char")(seq)
    return keras.Model([enc_in, dec_in], out, name="seq2seq")


def gru_bidirectional() -> Any:
    inp = keras.Input((10, 4), name="seq")
    x = L.Bidirectional(L.GRU(5, return_sequences=True), merge_mode="sum")(inp)
    x = L.TimeDistributed(L.Dense(3))(x)
    out = L.GlobalAveragePooling1D(name="pooled")(x)
    return keras.Model(inp, out, name="tagger")


def attention() -> Any:
    q = keras.Input((5, 8), name="query")
    v = keras.Input((7, 8), name="value")
    a = L.MultiHeadAttention(num_heads=2, key_dim=4)(q, v)
    b = L.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(query=q, value=v, key=v)
    dot = L.Attention()([q, v])
    x = L.LayerNormalization(epsilon=1e-5)(L.Add()([a, b, dot, q]))
    out = L.Dense(3, name="logits")(L.GlobalMaxPooling1D()(x))
    return keras.Model([q, v], out, name="attend")


def residual() -> Any:
    inp = keras.Input((16, 16, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    for _ in range(2):
        y = L.Conv2D(8, 3, padding="same", use_bias=False)(x)
        y = L.BatchNormalization()(y)
        y = L.Activation("relu")(y)
        y = L.Conv2D(8, (3, 3), padding="same", kernel_initializer="he_normal")(y)
        x = L.add([x, y])
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(10, activation="softmax", name="class_probs")(L.Dropout(0.25)(x))
    return keras.Model(inp, out, name="toy_resnet")


def dense_connectivity() -> Any:
    inp = keras.Input((8, 8, 4), name="image")
    x = inp
    for _ in range(3):
        y = L.ReLU()(L.BatchNormalization()(x))
        y = L.Conv2D(4, 3, padding="same", kernel_regularizer=keras.regularizers.L1L2(l1=1e-4, l2=1e-3),
                     name=f"dense{_}_conv")(y)
        x = L.Concatenate(axis=-1, name=f"dense{_}_concat")([x, y])
    x = L.AveragePooling2D(2, strides=2)(x)
    out = L.Dense(2, name="logits")(L.Flatten()(x))
    return keras.Model(inp, out, name="densely")


def plain_sequential() -> Any:
    return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                             L.Flatten(), L.Dropout(0.5), L.Dense(10, activation="softmax")], name="convnet")


def multi_output_states() -> Any:
    inp = keras.Input((None, 3), name="tokens")
    seq, h = L.GRU(4, return_sequences=True, return_state=True)(inp)
    pooled = L.GlobalAveragePooling1D()(seq)
    merged = L.Concatenate(name="merged")([pooled, h])
    a = L.Dense(1, name="a")(merged)
    b = L.Dense(2, name="b")(L.Dense(3)(merged))
    return keras.Model(inp, [a, b], name="two_heads")


GUIDE_MODELS: list[Callable[[], Any]] = [
    multi_io, shared_layers, shared_submodel, autoencoder, masked_text, sequential_inside, encoder_decoder_states,
    gru_bidirectional, attention, residual, dense_connectivity, plain_sequential, multi_output_states, preprocessing,
]


@pytest.mark.parametrize("builder", GUIDE_MODELS, ids=lambda b: b.__name__)
def test_guide_models_round_trip(builder: Callable[[], Any]) -> None:
    model = builder()
    spec, rebuilt = _recompile(model)
    assert_same_model(model, rebuilt)
    assert_same_outputs(model, rebuilt)
    assert kspec.loads(print_kspec(spec)) == pipeline.check(pipeline.expand(spec))  # .kspec says the same


def test_guide_models_keep_every_name_with_keep_names() -> None:
    for builder in (residual, shared_submodel, encoder_decoder_states, plain_sequential):
        model = builder()
        _, rebuilt = _recompile(model, keep_names=True)
        assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]


def test_straight_runs_become_one_chain_with_only_non_default_arguments() -> None:
    spec = kspec.decompile(residual(), blocks=False)
    text = dump_yaml(spec)
    model = spec.model()
    assert isinstance(model, ir.FunctionalModel)
    first = model.nodes[0]
    assert first.value.inputs == ["image"]
    assert [s.layer.type for s in first.value.steps if isinstance(s.layer, ir.LayerCall)] == ["Conv2D"]
    chain = model.nodes[1].value
    assert [s.layer.type for s in chain.steps if isinstance(s.layer, ir.LayerCall)] == [
        "Conv2D", "BatchNormalization", "Activation", "Conv2D"]
    assert chain.steps[0].layer == ir.LayerCall(type="Conv2D", args=[8, 3],
                                                kwargs={"padding": "same", "use_bias": False})
    assert chain.steps[3].layer == ir.LayerCall(type="Conv2D", args=[8, 3],
                                                kwargs={"padding": "same", "kernel_initializer": "he_normal"})
    assert "glorot_uniform" not in text and "channels_last" not in text


def test_repeated_units_become_one_block_called_in_a_loop() -> None:
    spec = kspec.decompile(dense_connectivity())
    assert print_kspec(spec) == (
        "block dense_concat(x) {\n"
        "  h1 = x\n"
        "      -> BatchNormalization()\n"
        "      -> ReLU()\n"
        "      -> Conv2D(4, 3, padding=\"same\", kernel_regularizer=l1_l2(l1=0.0001, l2=0.001))\n"
        "  return Concatenate()(x, h1)\n"
        "}\n\n"
        "block repeat_dense_concat(x, n: int) {\n"
        "  y = x -> dense_concat()\n"
        "  for i in range(1, n) {\n"
        "    y = y -> dense_concat()\n"
        "  }\n"
        "  return y\n"
        "}\n\n"
        "model densely {\n"
        "  input image: (8, 8, 4)\n"
        "  dense1_concat = image -> repeat_dense_concat(2)\n"
        "  dense2_conv = dense1_concat\n"
        "      -> BatchNormalization()\n"
        "      -> ReLU()\n"
        "      -> Conv2D(4, 3, padding=\"same\", kernel_regularizer=l1_l2(l1=0.0001, l2=0.001))\n"
        "  output logits = Concatenate()(dense1_concat, dense2_conv)\n"
        "      -> AveragePooling2D(2)\n"
        "      -> Flatten()\n"
        "      -> Dense(2)\n"
        "}\n")


def test_shared_layers_and_submodels_stay_shared() -> None:
    spec = kspec.decompile(shared_submodel())
    assert [m.name for m in spec.models] == ["encoder", "matcher"]
    outer = spec.model("matcher")
    assert isinstance(outer, ir.FunctionalModel)
    refs = [s.layer.ref for n in outer.nodes for s in n.value.steps if isinstance(s.layer, ir.LayerRef)]
    assert refs == ["encoder", "encoder"]
    spec2 = kspec.decompile(shared_layers())
    model2 = spec2.model()
    assert isinstance(model2, ir.FunctionalModel)
    assert [d.name for d in model2.layers] == ["emb", "shared_lstm"]


def test_states_and_attention_values_are_call_arguments() -> None:
    model = kspec.decompile(encoder_decoder_states()).model()
    assert isinstance(model, ir.FunctionalModel)
    assert model.nodes[0].targets == ["encoder", "encoder_1", "encoder_2"]
    dec = model.nodes[1]
    assert dec.value.steps[0].call_kwargs == {"initial_state": [ir.Ref(name="encoder_1"), ir.Ref(name="encoder_2")]}
    att = kspec.decompile(attention()).model()
    assert isinstance(att, ir.FunctionalModel)
    kw = [s.call_kwargs for n in att.nodes for s in n.value.steps if s.call_kwargs]
    # mha(query=q, value=v, key=v) is written q -> MultiHeadAttention(...)(value=v, key=v)
    assert {"value": ir.Ref(name="value"), "key": ir.Ref(name="value")} in kw


def test_sequential_comes_back_sequential() -> None:
    spec = kspec.decompile(plain_sequential())
    model = spec.model()
    assert isinstance(model, ir.SequentialModel)
    assert [c.type for c in model.layers if isinstance(c, ir.LayerCall)] == [
        "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert model.input is not None and model.input.shape == [28, 28, 1]


def test_compiled_model_gives_compile_settings() -> None:
    model = multi_io()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss={"priority": "mse", "department": "categorical_crossentropy"}, metrics=["mae"])
    spec = kspec.decompile(model)
    assert len(spec.compile) == 1
    settings = spec.compile[0].settings
    assert spec.compile[0].model == "ticket"
    assert settings["optimizer"] == ir.Call(fn="Adam", kwargs={"learning_rate": 0.01})
    assert settings["loss"] == {"priority": "mse", "department": "categorical_crossentropy"}
    assert settings["metrics"] == ["mae"]


# -- what a spec cannot express ------------------------------------------------------


def test_lambda_layer_is_refused_with_its_name() -> None:
    inp = keras.Input((3,), name="x")
    out = L.Lambda(lambda t: t * 2, name="double")(inp)
    with pytest.raises(kspec.KspecError) as err:
        kspec.decompile(keras.Model(inp, out))
    d = err.value.diagnostics[0]
    assert (d.code, d.message) == (
        "K502", "layer 'double' is a Lambda layer, which a spec cannot express: a spec never runs Python code")


class Scale(keras.layers.Layer):  # an unregistered custom layer
    def call(self, x: Any) -> Any:
        return x * 2


def test_custom_layer_is_refused_with_its_name() -> None:
    inp = keras.Input((3,), name="x")
    out = Scale(name="scale")(inp)
    with pytest.raises(kspec.KspecError) as err:
        kspec.decompile(keras.Model(inp, out))
    d = err.value.diagnostics[0]
    assert (d.code, d.message, d.hint) == ("K503", "layer 'scale' has class 'Scale', which is not a keras.layers class",
                                           "if the class is registered with Keras, decompile with --allow-custom")


@keras.saving.register_keras_serializable(package="tests")
class Gain(keras.layers.Layer):  # a registered custom layer
    def __init__(self, factor: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x: Any) -> Any:
        return x * self.factor

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


def test_registered_custom_layer_is_referred_to_with_allow_custom() -> None:
    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, L.Dense(2, name="y")(Gain(3.0, name="gain")(inp)))
    with pytest.raises(kspec.KspecError):
        kspec.decompile(model)
    spec = kspec.decompile(model, allow_custom=True)
    out = spec.model()
    assert isinstance(out, ir.FunctionalModel)
    assert out.outputs[0].value.steps[0].layer == ir.LayerCall(type="tests>Gain", kwargs={"factor": 3.0})


# -- round trips of specs ----------------------------------------------------------


def _spec_round_trip(spec: ir.Spec) -> None:
    first = kspec.build(spec)
    again = kspec.build(kspec.decompile(first))
    assert_same_model(first, again)
    exact = kspec.build(kspec.decompile(first, keep_names=True))
    want, got = json.loads(first.to_json()), json.loads(exact.to_json())
    # Optimizer and metric objects take names from Keras's global counters.
    want.pop("compile_config", None)
    got.pop("compile_config", None)
    assert got == want


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip(path: Path) -> None:
    spec = kspec.load(path)
    _spec_round_trip(spec)
    back = kspec.decompile(kspec.build(spec))
    assert back.compile == spec.compile
    kspec.loads(dump_yaml(back), format="yaml")  # the printed spec passes every check


@given(specs())
def test_random_specs_round_trip(spec: ir.Spec) -> None:
    _spec_round_trip(spec)


# -- command line ------------------------------------------------------------------


def test_cli_decompile_writes_spec_and_weights_that_compile_back(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model = encoder_decoder_states()
    src = tmp_path / "m.keras"
    model.save(src)
    out = tmp_path / "m.yaml"
    assert main(["decompile", str(src), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out} (28 lines, 1 model) and {tmp_path / 'm.weights.h5'}\n"
    again = tmp_path / "again.keras"
    assert main(["compile", str(out), "--weights", str(tmp_path / "m.weights.h5"), "-o", str(again)]) == 0
    rebuilt = keras.models.load_model(again)
    xs = random_inputs(model)
    for a, b in zip([model(xs)], [rebuilt(xs)], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=0)


def test_cli_decompile_json_and_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "m.json"
    src.write_text(plain_sequential().to_json(), encoding="utf-8")
    assert main(["decompile", str(src), "-o", str(tmp_path / "m.yaml")]) == 0
    assert not (tmp_path / "m.weights.h5").exists()
    capsys.readouterr()
    assert main(["decompile", str(src), "-o", str(tmp_path / "m.kspec")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'm.kspec'} (8 lines, 1 model)\n"
    assert kspec.load(tmp_path / "m.kspec") == kspec.load(tmp_path / "m.yaml")
    assert main(["decompile", str(src), "-o", str(tmp_path / "m.txt")]) == 2
    assert capsys.readouterr().err == "kspec: error: unknown spec format '.txt': use .kspec or .yaml\n"
    assert main(["decompile", str(tmp_path / "nope.keras"), "-o", str(tmp_path / "m.yaml")]) == 2
    assert capsys.readouterr().err == f"kspec: error: cannot read '{tmp_path / 'nope.keras'}': no such file\n"


def test_cli_kspec_with_blocks_and_weights_gives_the_same_outputs(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    model = dense_connectivity()
    src = tmp_path / "net.h5"
    model.save(src)
    out = tmp_path / "net.kspec"
    assert main(["decompile", str(src), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("block dense_concat(x) {") and "  for i in range(1, n) {" in text
    again = tmp_path / "again.keras"
    assert main(["compile", str(out), "--weights", str(tmp_path / "net.weights.h5"), "-o", str(again)]) == 0
    capsys.readouterr()
    assert_same_outputs(model, keras.models.load_model(again))
    assert main(["compile", str(out), "--weights", str(tmp_path / "missing.weights.h5"), "-o", str(again)]) == 2
    missing = tmp_path / "missing.weights.h5"
    assert capsys.readouterr().err == f"kspec: error: cannot read weights '{missing}': no such file\n"


def _calls(model: Any, layer: str) -> list[list[str]]:
    """The layers whose tensors each call of ``layer`` takes, call by call
    (the order Keras numbers the calls in)."""
    entry = next(e for e in json.loads(model.to_json())["config"]["layers"] if e["name"] == layer)

    def sources(value: Any) -> list[str]:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return [value["config"]["keras_history"][0]]
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
        return [s for v in items for s in sources(v)]

    return [sources(node["args"]) for node in entry["inbound_nodes"]]


def test_a_shared_layer_is_called_in_the_order_it_was_called() -> None:
    """Keras lists a shared layer's calls together, at the layer; a call
    whose tensor comes from a layer listed later is still written after that
    layer's statement, and the calls keep their order, also when one of them
    ends an output (outputs are computed after every statement)."""
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    sub = keras.Sequential([keras.Input((2,)), L.Dense(2)], name="sub")
    shared = L.Dense(2, name="shared")
    summed = L.Add(name="summed")([a, a])
    first, second = shared(summed), shared(a)
    from_sub = sub(a)  # an output, called before the call whose tensor two layers use
    again = sub(b)
    deeper = L.Dense(1, name="d1")(L.Dense(2, name="d0")(second))  # (Keras then lists 'shared' before 'summed')
    model = keras.Model([a, b], [deeper, L.Dense(1, name="d2")(first), L.Dense(1, name="d5")(summed), from_sub,
                                 L.Add(name="d3")([L.Dense(2, name="d4")(again), again])], name="net")
    assert _calls(model, "shared") == [["summed"], ["a"]] and _calls(model, "sub") == [["a"], ["b"]]
    listed = [e["name"] for e in json.loads(model.to_json())["config"]["layers"]]
    assert listed.index("shared") < listed.index("summed")
    spec = kspec.decompile(model, keep_names=True)
    rebuilt = kspec.build(spec)
    assert _calls(rebuilt, "shared") == [["summed"], ["a"]]
    assert _calls(rebuilt, "sub") == [["a"], ["b"]]
    statements = [*spec.model("net").nodes, *spec.model("net").outputs]  # type: ignore[union-attr]
    defined = {i.name for i in spec.model("net").inputs}  # type: ignore[union-attr]
    for st in statements:  # each statement uses only tensors written above it
        assert set(st.value.inputs) <= defined, print_kspec(spec)
        defined |= set(st.targets) if isinstance(st, ir.Assign) else {st.name}
