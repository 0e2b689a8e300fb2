"""Wrappers given a named layer or a model (``TimeDistributed(frame_cnn)``),
and layers shared across sub-models: checked, lowered to the same layer
object, decompiled back to a name, and refused by the file formats that
cannot store the sharing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.compiler.pipeline import parse_text
from kspec.compiler.shapes import infer_spec
from kspec.spec.kspec_printer import print_kspec
from kspec.spec.yaml_printer import dump_yaml

VIDEO = """\
sequential frame_cnn {
  input (8, 8, 3)
  Conv2D(4, 3)
  Flatten()
}

model video {
  input frames: (5, 8, 8, 3)
  output y = frames -> TimeDistributed(frame_cnn) -> LSTM(8)
}
"""

SHARED_PROJ = """\
model m {
  input a: (5, 3)
  input b: (3,)
  proj = Dense(4)
  t = a -> TimeDistributed(proj) -> Flatten()
  u = b -> proj
  output y = Concatenate()(t, u)
}
"""


def _params(text: str, model: str) -> int | None:
    return infer_spec(kspec.loads(text)).models[model].params


def test_wrapper_names_a_model_in_both_forms() -> None:
    spec = kspec.loads(VIDEO)
    step = spec.model("video").outputs[0].value.steps[0].layer
    assert step.type == "TimeDistributed" and step.args == ["frame_cnn"]
    assert "TimeDistributed(frame_cnn)" in print_kspec(spec)
    assert kspec.loads(dump_yaml(spec), format="yaml") == spec
    shapes = infer_spec(spec).models["video"]
    assert [layer.outputs for layer in shapes.layers if layer.type == "TimeDistributed"] == [[(None, 5, 144)]]
    model = kspec.build(spec)
    wrapper = next(layer for layer in model.layers if layer.__class__.__name__ == "TimeDistributed")
    assert wrapper.layer.name == "frame_cnn"
    assert model.count_params() == shapes.params == 112 + 4 * 8 * (144 + 8) + 4 * 8


def test_wrapper_names_a_named_layer_and_shares_its_weights() -> None:
    spec = kspec.loads(SHARED_PROJ)
    model = kspec.build(spec)
    assert model.get_layer("t_time_distributed").layer is model.get_layer("proj")
    assert model.count_params() == _params(SHARED_PROJ, "m") == 16
    back = kspec.decompile(model)
    text = print_kspec(back)
    assert "proj = Dense(4)" in text and "TimeDistributed(proj)" in text
    rebuilt = kspec.build(back)
    assert rebuilt.count_params() == 16
    assert rebuilt.get_layer("t_time_distributed").layer is rebuilt.get_layer("proj")


def test_decompiled_wrapper_of_a_model_is_written_by_name() -> None:
    model = kspec.build(kspec.loads(VIDEO))
    text = print_kspec(kspec.decompile(model))
    assert "TimeDistributed(frame_cnn)" in text
    assert kspec.build(kspec.loads(text)).count_params() == model.count_params()


@pytest.mark.parametrize(("line", "message"), [
    ("TimeDistributed(fram_cnn)", "'layer' must be a layer such as LSTM(8), or a named layer or model of the spec; "
                                  "'fram_cnn' is neither"),
    ("TimeDistributed(stack)", "TimeDistributed: 'layer' names the stack 'stack' of 2 layers"),
])
def test_wrapper_given_a_wrong_name(line: str, message: str) -> None:
    text = VIDEO.replace("TimeDistributed(frame_cnn)", line).replace(
        "  input frames", "  stack = Dense(2) -> Dense(3)\n  input frames")
    with pytest.raises(kspec.KspecError) as info:
        kspec.loads(text)
    assert message in str(info.value)


def _towers() -> object:
    """A Dense layer used inside two sub-models (keras-team/keras#9571)."""
    keras = pytest.importorskip("keras")
    shared = keras.layers.Dense(8, name="shared")
    ia = keras.Input((4,), name="a_in")
    a = keras.Model(ia, keras.layers.Dense(3, name="a_out")(shared(ia)), name="tower_a")
    ib = keras.Input((4,), name="b_in")
    b = keras.Model(ib, keras.layers.Dense(5, name="b_out")(shared(ib)), name="tower_b")
    x = keras.Input((4,), name="x")
    out = keras.layers.Concatenate(name="cat")([a(x), b(x)])
    return keras.Model(x, out, name="top")


def test_layer_shared_across_sub_models_stays_one_set_of_weights() -> None:
    model = _towers()
    assert model.count_params() == 112  # type: ignore[attr-defined]
    spec = kspec.decompile(model)
    text = print_kspec(spec)
    assert text.count("Dense(8)") == 1
    again = kspec.loads(text)
    assert infer_spec(again).models["top"].params == 112
    assert kspec.build(again).count_params() == 112

    from kspec.runtime.decompile import decompile_model, rebuild

    rebuilt = rebuild(decompile_model(model))
    x = np.random.default_rng(0).random((2, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)  # type: ignore[operator]


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".json"])
def test_compile_refuses_a_format_that_cannot_store_the_sharing(tmp_path: Path, suffix: str) -> None:
    from kspec.cli import main

    spec = tmp_path / "towers.kspec"
    spec.write_text(print_kspec(kspec.decompile(_towers())))
    out = tmp_path / f"towers{suffix}"
    assert main(["compile", str(spec), "-o", str(out)]) == 2
    assert not out.exists()


def test_refusal_names_the_layer_and_the_alternative(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kspec.cli import main

    spec = tmp_path / "m.kspec"
    spec.write_text(SHARED_PROJ)
    assert main(["compile", str(spec), "-o", str(tmp_path / "m.keras")]) == 2
    err = capsys.readouterr().err
    assert "layer 'proj' is one set of weights used inside 't_time_distributed' and 'm'" in err
    assert "--weights" in err


def test_wrapper_reference_parses_back_from_fmt() -> None:
    spec = parse_text(SHARED_PROJ, "m.kspec")
    assert parse_text(print_kspec(spec), "m.kspec") == spec


LAYER_SCALE = """\
model scaled {
  input x: (4, 8)
  output y = x -> Dense(8) -> keras.applications::LayerScale(init_values=1e-6, projection_dim=8)
}
"""


def test_layer_class_keras_ships_round_trips_without_allow_custom(tmp_path: Path) -> None:
    from kspec.cli import main

    spec = tmp_path / "scaled.kspec"
    spec.write_text(LAYER_SCALE)
    out = tmp_path / "scaled.keras"
    assert main(["compile", str(spec), "-o", str(out)]) == 0
    back = print_kspec(kspec.decompile(out))
    assert "keras.applications::LayerScale(init_values=1e-6, projection_dim=8)" in back
    assert kspec.build(kspec.loads(back)).count_params() == 8 * 8 + 8 + 8


def test_only_classes_keras_ships_are_reachable() -> None:
    with pytest.raises(kspec.KspecError) as info:
        kspec.build(kspec.loads(LAYER_SCALE.replace("LayerScale", "Nope")))
    assert "custom layer 'keras.applications>Nope' is not registered" in str(info.value)
    with pytest.raises(kspec.KspecError):
        kspec.build(kspec.loads(LAYER_SCALE.replace("keras.applications::LayerScale", "os::system")))


LONG_BIDIRECTIONAL = """\
model m {
  input x: (5, 3)
  output y = x -> Bidirectional(LSTM(8, return_sequences=true), backward_layer=LSTM(8, return_sequences=true, \
go_backwards=true), merge_mode="sum")
}
"""


def test_long_calls_wrap_their_arguments() -> None:
    text = print_kspec(parse_text(LONG_BIDIRECTIONAL, "m.kspec"))
    assert text.splitlines()[2:7] == [
        "  output y = x",
        "      -> Bidirectional(",
        "          LSTM(8, return_sequences=true),",
        "          backward_layer=LSTM(8, return_sequences=true, go_backwards=true),",
        '          merge_mode="sum",',
    ]
    assert max(map(len, text.splitlines())) <= 100
    assert print_kspec(parse_text(text, "m.kspec")) == text


def _longest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_examples_and_decompiled_applications_stay_within_100_columns() -> None:
    root = Path(__file__).resolve().parents[1] / "examples"
    for path in sorted(root.glob("*.kspec")):
        assert _longest(print_kspec(parse_text(path.read_text(), str(path)))) <= 100, path.name
    from kspec.runtime._quiet import import_keras

    keras = import_keras()
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3))
    spec = kspec.decompile(model)
    assert _longest(print_kspec(spec)) <= 100
    assert _longest(dump_yaml(spec)) <= 100


def test_convnext_tiny_round_trips() -> None:
    """ConvNeXtTiny (LayerScale from keras.applications): the same
    configuration names aside, the same outputs with its weights (~15 s)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _decompile_compare import assert_same_model
    from kspec.runtime._quiet import import_keras
    from kspec.runtime.decompile import decompile_model, rebuild

    keras = import_keras()
    model = keras.applications.ConvNeXtTiny(weights=None)
    result = decompile_model(model)
    text = print_kspec(result.spec)
    assert "keras.applications::LayerScale(" in text
    assert _longest(text) <= 100 and _longest(dump_yaml(result.spec)) <= 100
    rebuilt = rebuild(result)
    assert_same_model(model, rebuilt)
    x = np.random.default_rng(0).random((1, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), atol=1e-5, rtol=0)
