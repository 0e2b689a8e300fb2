"""Compile settings, saved-and-reloaded compiled models, callbacks, history."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kspec
from kspec.spec import ir

TINY = """\
models:
  - name: tiny
    inputs:
      x: {{shape: [4]}}
    outputs:
      out: {{from: x, apply: {{Dense: {{units: {units}, activation: {activation}}}}}}}
compile:
  tiny:
{compile}
"""

# (loss, units, activation, target kind): every loss the issue names.
LOSSES = [
    ("mse", 1, "linear", "real"),
    ("mae", 1, "linear", "real"),
    ("mape", 1, "linear", "positive"),
    ("msle", 1, "relu", "positive"),
    ("hinge", 1, "tanh", "sign"),
    ("squared_hinge", 1, "tanh", "sign"),
    ("binary_crossentropy", 1, "sigmoid", "binary"),
    ("categorical_crossentropy", 3, "softmax", "onehot"),
    ("sparse_categorical_crossentropy", 3, "softmax", "sparse"),
    ("rmse", 1, "linear", "real"),
]
# (metric YAML, units, activation, target kind): metrics named in the issue, with arguments.
METRICS = [
    ("[rmse, mae]", 1, "linear", "real"),
    ("[{fn: top_k_categorical_accuracy, kwargs: {k: 2}}]", 3, "softmax", "onehot"),
    ("[{fn: sparse_top_k_categorical_accuracy, kwargs: {k: 2}}, accuracy]", 3, "softmax", "sparse"),
]


def _targets(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    labels = rng.integers(0, 3, size=(n,))
    return {
        "real": rng.normal(size=(n, 1)),
        "positive": rng.uniform(0.5, 2.0, size=(n, 1)),
        "sign": rng.choice([-1.0, 1.0], size=(n, 1)),
        "binary": rng.integers(0, 2, size=(n, 1)).astype("float32"),
        "onehot": np.eye(3)[labels],
        "sparse": labels,
    }[kind].astype("float32" if kind != "sparse" else "int32")


def _settings(model: Any) -> dict[str, Any]:
    """What must survive a save/reload: optimizer, loss and metrics (names and arguments)."""
    cfg = model.get_compile_config()

    def norm(v: Any) -> Any:
        if isinstance(v, dict) and "class_name" in v:
            conf = v.get("config")
            return (v["class_name"], {k: c for k, c in conf.items() if k not in ("dtype",)}) \
                if isinstance(conf, dict) else conf
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    metrics = [m.name for m in model.metrics] if model.metrics else []
    return {"optimizer": cfg["optimizer"], "loss": norm(cfg["loss"]), "metric_names": metrics,
            "loss_weights": cfg["loss_weights"]}


def _build(compile_yaml: str, units: int, activation: str) -> Any:
    spec = kspec.loads(TINY.format(units=units, activation=activation, compile=compile_yaml), format="yaml")
    return kspec.build(spec)


def _roundtrip(model: Any, kind: str, tmp_path: Path) -> None:
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = _targets(kind, 8, rng)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    before = _settings(model)
    loss_before = model.evaluate(x, y, verbose=0, return_dict=True)
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"m{suffix}"
        kspec.save(model, path)
        loaded = keras.models.load_model(path)
        loaded.evaluate(x, y, verbose=0)  # builds the metrics
        after = _settings(loaded)
        assert after["optimizer"] == before["optimizer"]
        assert after["loss_weights"] == before["loss_weights"]
        assert after["metric_names"] == before["metric_names"]
        assert after["loss"] == before["loss"]
        assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(loss_before, rel=1e-5)


@pytest.mark.parametrize(("loss", "units", "activation", "kind"), LOSSES, ids=[x[0] for x in LOSSES])
def test_every_loss_compiles_trains_saves_and_reloads(loss: str, units: int, activation: str, kind: str,
                                                     tmp_path: Path) -> None:
    model = _build(f"    optimizer: {{fn: SGD, kwargs: {{learning_rate: 0.01}}}}\n    loss: {loss}", units, activation)
    assert model.compiled
    _roundtrip(model, kind, tmp_path)


@pytest.mark.parametrize(("metrics", "units", "activation", "kind"), METRICS, ids=["rmse-mae", "top_k", "sparse_top_k"])
def test_metrics_with_arguments_compile_and_reload(metrics: str, units: int, activation: str, kind: str,
                                                   tmp_path: Path) -> None:
    loss = {"real": "mse", "onehot": "categorical_crossentropy", "sparse": "sparse_categorical_crossentropy"}[kind]
    model = _build(f"    optimizer: adam\n    loss: {loss}\n    metrics: {metrics}", units, activation)
    _roundtrip(model, kind, tmp_path)


def test_rmse_loss_equals_root_of_mse() -> None:
    from kspec.runtime.losses import RootMeanSquaredError

    y = np.array([[1.0], [2.0], [4.0]], dtype="float32")
    p = np.array([[0.0], [2.0], [2.0]], dtype="float32")
    assert float(RootMeanSquaredError()(y, p)) == pytest.approx(np.sqrt((1 + 0 + 4) / 3))


def test_optimizer_schedule_and_per_output_settings() -> None:
    spec = kspec.loads(
        "models:\n  - name: two\n    inputs:\n      x: {shape: [4]}\n    outputs:\n"
        "      a: {from: x, apply: {Dense: {units: 1}}}\n"
        "      b: {from: x, apply: {Dense: {units: 3, activation: softmax}}}\n"
        "compile:\n  two:\n    optimizer: {fn: Adam, kwargs: {learning_rate: {fn: ExponentialDecay, kwargs: "
        "{initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5}}}}\n"
        "    loss: {a: rmse, b: sparse_categorical_crossentropy}\n    loss_weights: {a: 2.0, b: 0.5}\n"
        "    metrics: {a: [mae], b: [{fn: sparse_top_k_categorical_accuracy, kwargs: {k: 2}}]}\n", format="yaml")
    model = kspec.build(spec)
    cfg = model.get_compile_config()
    assert cfg["optimizer"]["class_name"] == "Adam"
    assert cfg["optimizer"]["config"]["learning_rate"]["class_name"] == "ExponentialDecay"
    assert cfg["loss"]["a"]["registered_name"] == "kspec>RootMeanSquaredError"
    assert cfg["loss_weights"] == {"a": 2.0, "b": 0.5}
    assert cfg["metrics"]["b"][0]["config"]["k"] == 2


def test_bad_keras_argument_is_located() -> None:
    text = TINY.format(units=1, activation="linear", compile=(
        "    optimizer: {fn: Adam, kwargs: {learning_rat: 0.1}}\n    loss: mse"))
    with pytest.raises(kspec.KspecError) as info:  # kspec check knows Adam's signature (the catalogue)
        kspec.loads(text, format="yaml", file="c.yaml")
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line if d.span else None) == ("K302", 9)
    assert d.message == "invalid optimizer Adam(...): unexpected argument 'learning_rat'"
    assert d.hint == "did you mean 'learning_rate'?"
    # Keras refusing what the static check let through is located too.
    from kspec.runtime.training import compile_model
    from kspec.spec.settings import CompileSettings

    model = _build("    loss: mse", 1, "linear")
    section = ir.Section(model="tiny", settings={}, key_spans={"optimizer": ir.Span("c.yaml", 9, 16)})
    settings = CompileSettings(optimizer=ir.Call(fn="Adam", kwargs={"learning_rat": 0.1}), loss="mse")
    with pytest.raises(kspec.KspecError) as info:
        compile_model(model, settings, section)
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line if d.span else None) == ("K310", 9)
    assert d.message.startswith("cannot create optimizer 'Adam': ")
    assert d.hint == "did you mean 'learning_rate'?"


def test_clean_python_reloads_compiled_models_after_import_kspec(tmp_path: Path) -> None:
    model = _build("    optimizer: {fn: Adam, kwargs: {learning_rate: 0.002}}\n    loss: rmse\n    metrics: [mae]",
                   1, "linear")
    for suffix in (".keras", ".h5"):
        kspec.save(model, tmp_path / f"m{suffix}")
    code = (
        "import sys, kspec\nassert 'keras' not in sys.modules\nimport keras\n"
        f"for p in ['{tmp_path / 'm.keras'}', '{tmp_path / 'm.h5'}']:\n"
        "    m = keras.models.load_model(p)\n"
        "    print(type(m.loss).__name__, type(m.optimizer).__name__, round(float(m.optimizer.learning_rate), 4))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["RootMeanSquaredError Adam 0.002"] * 2


def test_static_name_lists_match_installed_keras() -> None:
    import keras

    from kspec.compiler.sections import CALLBACKS, LOSSES, METRICS, OPTIMIZERS, SCHEDULES

    assert {n for n in OPTIMIZERS} <= set(dir(keras.optimizers))
    assert {n for n in SCHEDULES} <= set(dir(keras.optimizers.schedules))
    assert {n for n in CALLBACKS} <= set(dir(keras.callbacks))
    keras_losses = {n for n in dir(keras.losses) if not n.startswith("_")} - {"Loss", "get", "serialize",
                                                                              "deserialize", "Reduction"}
    assert keras_losses <= LOSSES
    keras_metrics = {n for n in dir(keras.metrics) if not n.startswith("_")} - {
        "Metric", "get", "serialize", "deserialize", "MeanMetricWrapper"}
    assert keras_metrics <= METRICS


# --------------------------------------------------------------------------
# callbacks, history, plot

SEQ = """\
models:
  - name: lin
    inputs:
      x: {{shape: [2]}}
    outputs:
      y: {{from: x, apply: {{Dense: {{units: 1}}}}}}
compile:
  lin:
    optimizer: {{fn: SGD, kwargs: {{learning_rate: {lr}}}}}
    loss: mse
train:
  lin:
{train}
"""


def _train(tmp_path: Path, lr: float, train: str, epochs_data: int = 32) -> tuple[Any, Any]:
    from kspec.compiler.sections import train_section
    from kspec.runtime.training import fit, make_callbacks

    spec = kspec.loads(SEQ.format(lr=lr, train=train), format="yaml")
    model = kspec.build(spec)
    settings = train_section(spec, "lin")
    section = spec.train[0]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(epochs_data, 2)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0]], dtype="float32"))
    result = fit(model, x, y, settings, callbacks=make_callbacks(settings, section), verbose=0)
    return model, result


def test_early_stopping_stops_on_a_plateau(tmp_path: Path) -> None:
    _, result = _train(tmp_path, 0.0, "    epochs: 10\n    batch_size: 32\n    shuffle: false\n"
                                      "    callbacks: [{fn: EarlyStopping, kwargs: {monitor: loss, patience: 1}}]")
    assert result.epochs_run == 2  # epoch 2 does not improve on epoch 1 (learning rate 0)


@pytest.mark.parametrize(("lr", "writes"), [(0.0, 1), (0.1, 3)], ids=["plateau", "improving"])
def test_model_checkpoint_best_only_writes_on_improvement(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          lr: float, writes: int) -> None:
    best = tmp_path / "ck" / "best.keras"
    _train(tmp_path, lr, f"    epochs: 3\n    batch_size: 32\n    shuffle: false\n    callbacks:\n"
                         f"      - {{fn: ModelCheckpoint, kwargs: {{filepath: '{best}', monitor: loss, "
                         f"save_best_only: true, verbose: 1}}}}")
    out = capsys.readouterr().out
    assert out.count(" improved from ") == writes
    assert best.is_file()


def test_tensorboard_writes_event_files(tmp_path: Path) -> None:
    logs = tmp_path / "tb"
    _train(tmp_path, 0.1, f"    epochs: 1\n    callbacks:\n      - {{fn: TensorBoard, kwargs: {{log_dir: '{logs}', "
                          f"histogram_freq: 1, write_graph: true}}}}")
    events = sorted(p.relative_to(logs).parts[0] for p in logs.rglob("events.out.tfevents*"))
    assert events == ["train"]


def test_history_json_csv_and_plot_hold_every_epoch(tmp_path: Path) -> None:
    from kspec.runtime.training import write_history

    csv_log = tmp_path / "log.csv"
    _, result = _train(tmp_path, 0.1, f"    epochs: 3\n    validation_split: 0.25\n    callbacks:\n"
                                      f"      - {{fn: CSVLogger, kwargs: {{filename: '{csv_log}'}}}}\n"
                                      f"      - {{fn: ReduceLROnPlateau, kwargs: {{patience: 1}}}}")
    paths = write_history(result.history, tmp_path / "out" / "run")
    assert [p.name for p in paths] == ["run.json", "run.csv", "run.png"]
    data = json.loads(paths[0].read_text())
    assert data["epochs"] == 3 and sorted(data["history"]) == ["learning_rate", "loss", "val_loss"]
    rows = paths[1].read_text().splitlines()
    assert rows[0] == "epoch,learning_rate,loss,val_loss" and len(rows) == 4
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(csv_log.read_text().splitlines()) == 4


def test_ctrl_c_stops_cleanly_and_keeps_the_best_checkpoint(tmp_path: Path) -> None:
    import keras

    from kspec.compiler.sections import train_section
    from kspec.runtime.training import fit, make_callbacks

    class Interrupt(keras.callbacks.Callback):  # type: ignore[misc]  # keras is untyped
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if epoch == 2:  # as if Ctrl-C were pressed during the third epoch
                raise KeyboardInterrupt

    best = tmp_path / "best.keras"
    spec = kspec.loads(SEQ.format(lr=0.1, train=(
        f"    epochs: 10\n    callbacks: [{{fn: ModelCheckpoint, kwargs: {{filepath: '{best}', monitor: loss, "
        f"save_best_only: true}}}}]")), format="yaml")
    settings = train_section(spec, "lin")
    model = kspec.build(spec)
    x = np.ones((8, 2), "float32")
    result = fit(model, x, x[:, :1], settings, callbacks=[*make_callbacks(settings, spec.train[0]), Interrupt()],
                 verbose=0)
    assert (result.interrupted, result.epochs_run) == (True, 2)
    assert keras.models.load_model(best).count_params() == 3


def test_sections_are_ir_sections() -> None:
    spec = kspec.loads(SEQ.format(lr=0.1, train="    epochs: 2"), format="yaml")
    assert spec.train == [ir.Section(model="lin", settings={"epochs": 2})]


def test_setting_keras_refuses_only_in_fit_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback argument Keras only looks at once training runs passes
    every static check; Keras then fails inside fit: exit 1 at the train
    section, no internal error, no model file."""
    from kspec.cli import main

    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "one.kspec"
    spec.write_text("model one {\n  input x: (3,)\n  output a = x -> Dense(1)\n}\ncompile one {\n  optimizer = sgd\n"
                    "  loss = mse\n}\ntrain one {\n  epochs = 1\n"
                    "  callbacks = [TensorBoard(log_dir=\"logs\", update_freq=\"sometimes\")]\n}\n", encoding="utf-8")
    data = tmp_path / "d.npz"
    np.savez(data, x=np.ones((4, 3), "float32"), a=np.ones((4, 1), "float32"))
    out = tmp_path / "m.keras"
    assert main(["train", str(spec), "--data", str(data), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:9:1: error[K312]: Keras stopped training model 'one': ")
    assert not out.exists()


def test_class_weight_on_several_outputs_is_refused_statically() -> None:
    with pytest.raises(kspec.KspecError) as caught:
        kspec.loads("model two {\n  input x: (3,)\n  output a = x -> Dense(1)\n  output b = x -> Dense(1)\n}\n"
                    "compile two {\n  optimizer = sgd\n  loss = [mse, mse]\n}\n"
                    "train two {\n  class_weight = {\"0\": 1.0, \"1\": 2.0}\n}\n", file="two.kspec")
    (diag,) = caught.value.diagnostics
    assert (diag.code, diag.message) == ("K302", "'class_weight' needs a model with one output (as in Keras); "
                                                 "model 'two' has 2")
