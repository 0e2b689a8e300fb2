"""``kspec export``: ONNX, TFLite and SavedModel artifacts that compute what
Keras computes (checked here independently of kspec's own check, in
onnxruntime, the LiteRT interpreter and TensorFlow), atomic output, and the
exact messages of every refusal."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kspec.cli import main
from kspec.runtime._quiet import import_keras

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: Two inputs and two outputs, keyed by name, one input of integers for an embedding.
DICT_SPEC = """\
model tiny {
  inputs as dict
  outputs as dict
  input tokens: (None,) int32
  input extra: (3,)
  t = tokens -> Embedding(7, 4) -> GlobalAveragePooling1D()
  h = Concatenate()(t, extra) -> Dense(8, activation="relu")
  output score = h -> Dense(1)
  output klass = h -> Dense(3, activation="softmax")
}
"""

#: A recurrent layer over a free time axis: TFLite builtins only with a batch of 1.
LSTM_SPEC = """\
model reader {
  input chars: (None, 3)
  output next = chars -> LSTM(2)
}
"""

#: A check line: an output, its largest difference, the tolerance, the verdict.
_ROW = r"  {name} +(0|[0-9.]+(e-[0-9]+)?) +tolerance 0\.0001  ok\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def expected_stdout(runtime: str, rows: int, outputs: list[str], wrote: str, note: str = "") -> str:
    """The regex of a successful export's output."""
    head = (rf"checked with {re.escape(runtime)} against Keras on a random batch \({rows} rows?, seed 0\); "
            r"largest absolute difference per output:\n")
    body = "".join(_ROW.format(name=n) for n in outputs)
    return head + body + (f"note: {re.escape(note)}\n" if note else "") + re.escape(wrote) + r"\n"


# --------------------------------------------------------------------------
# running an artifact, independently of kspec


def feed_by_name(names: list[str], inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs keyed by an artifact's input names: by name, else in order."""
    if set(names) == set(inputs):
        return {n: inputs[n] for n in names}
    return dict(zip(names, inputs.values(), strict=True))


def run_onnx(path: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    ort = importlib.import_module("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = feed_by_name(names, inputs)
    values = session.run(None, feed)
    return dict(zip([o.name for o in session.get_outputs()], values, strict=True))


def run_tflite(path: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    interpreter = importlib.import_module("ai_edge_litert.interpreter").Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner("serving_default")
    names = list(interpreter.get_signature_list()["serving_default"]["inputs"])
    feed = feed_by_name(names, inputs)
    return dict(runner(**feed))


def run_saved_model(path: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    tf = importlib.import_module("tensorflow")
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    names = list(serve.structured_input_signature[1])
    feed = feed_by_name(names, inputs)
    return {k: v.numpy() for k, v in serve(**{k: tf.constant(v) for k, v in feed.items()}).items()}


RUNNERS = {"onnx": run_onnx, "tflite": run_tflite, "saved_model": run_saved_model}
OUTPUT = {"onnx": "m.onnx", "tflite": "m.tflite", "saved_model": "sm"}
RUNTIME = {"onnx": "onnxruntime", "tflite": "the LiteRT interpreter", "saved_model": "tf.saved_model"}
TITLE = {"onnx": "ONNX", "tflite": "TFLite", "saved_model": "SavedModel"}


def target(directory: Path, fmt: str) -> str:
    """The ``-o`` argument for ``fmt`` in ``directory`` (a SavedModel: a path ending in '/')."""
    return f"{directory / OUTPUT[fmt]}{'/' if fmt == 'saved_model' else ''}"


def by_position(got: dict[str, Any]) -> list[Any]:
    """An artifact's outputs in the model's order: ``output_0``, ``output_1`` ... or as listed."""
    keys = sorted(got, key=lambda k: int(m[1]) if (m := re.fullmatch(r"output_(\d+)", k)) else -1)
    return [got[k] for k in keys]


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def mnist_keras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mnist_convnet example compiled to a .keras file."""
    out = tmp_path_factory.mktemp("mnist") / "mnist.keras"
    assert main(["compile", str(EXAMPLES / "mnist_convnet.kspec"), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """The dict spec, a weights file for it, and the Keras model holding those weights."""
    import kspec

    work = tmp_path_factory.mktemp("tiny")
    spec = work / "tiny.kspec"
    spec.write_text(DICT_SPEC, encoding="utf-8")
    model = kspec.build(kspec.load(spec))
    weights = work / "tiny.weights.h5"
    model.save_weights(str(weights))
    return spec, weights, model


# --------------------------------------------------------------------------
# each format, checked numerically here


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "saved_model"])
def test_an_example_exported_to_each_format_computes_what_keras_predicts(
    fmt: str, mnist_keras: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = import_keras()
    out = tmp_path / OUTPUT[fmt]
    code, stdout, stderr = run(capsys, "export", str(mnist_keras), "-o", target(tmp_path, fmt))
    assert (code, stderr) == (0, "")
    wrote = f"wrote {out}{'/' if fmt == 'saved_model' else ''} ({TITLE[fmt]}, model 'mnist_convnet', " \
            "34,826 parameters, tensorflow backend)"
    assert re.fullmatch(expected_stdout(RUNTIME[fmt], 2, ["dense"], wrote), stdout), stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left beside it

    model = keras.models.load_model(mnist_keras)
    x = np.random.default_rng(7).random((3, 28, 28, 1), dtype=np.float32)
    want = model.predict(x, verbose=0)
    (got,) = by_position(RUNNERS[fmt](out, {model.inputs[0].name: x}))
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got - want).max() > 0 or fmt == "saved_model"  # a real comparison of two computations


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "saved_model"])
def test_a_spec_with_dict_inputs_and_outputs_and_weights_exports_by_name(
    fmt: str, tiny: tuple[Path, Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, weights, model = tiny
    out = tmp_path / OUTPUT[fmt]
    code, stdout, stderr = run(capsys, "export", str(spec), "--weights", str(weights), "-o", target(tmp_path, fmt))
    assert (code, stderr) == (0, "")
    wrote = f"wrote {out}{'/' if fmt == 'saved_model' else ''} ({TITLE[fmt]}, model 'tiny', 128 parameters, " \
            "tensorflow backend)"
    assert re.fullmatch(expected_stdout(RUNTIME[fmt], 2, ["klass", "score"], wrote), stdout), stdout

    rng = np.random.default_rng(3)
    x = {"tokens": rng.integers(0, 7, size=(4, 5)).astype("int32"), "extra": rng.random((4, 3), dtype=np.float32)}
    want = model.predict(x, verbose=0)
    got = RUNNERS[fmt](out, x)
    assert sorted(got) == ["klass", "score"]  # the outputs keep their names
    for name in ("klass", "score"):
        np.testing.assert_allclose(got[name], want[name], atol=1e-5)
    assert not np.allclose(want["klass"][0], want["klass"][1])  # the rows differ: the inputs are used


def test_a_recurrent_model_becomes_a_builtin_tflite_model_with_a_batch_of_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import kspec

    spec = tmp_path / "reader.kspec"
    spec.write_text(LSTM_SPEC, encoding="utf-8")
    model = kspec.build(kspec.load(spec))
    weights = tmp_path / "reader.weights.h5"
    model.save_weights(str(weights))
    out = tmp_path / "reader.tflite"
    code, stdout, stderr = run(capsys, "export", str(spec), "--weights", str(weights), "-o", str(out))
    assert (code, stderr) == (0, "")
    note = ("the TFLite model takes a batch of 1: with a free batch size, TensorFlow's converter keeps "
            "TensorFlow operations that a plain LiteRT interpreter cannot run")
    wrote = f"wrote {out} (TFLite, model 'reader', 48 parameters, tensorflow backend)"
    assert re.fullmatch(expected_stdout(RUNTIME["tflite"], 1, ["next"], wrote, note), stdout), stdout
    x = np.random.default_rng(5).standard_normal((1, 11, 3)).astype("float32")  # another length than kspec's check
    (got,) = run_tflite(out, {"chars": x}).values()
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)


# --------------------------------------------------------------------------
# nothing half-built


def test_an_export_that_differs_from_keras_is_not_written(
    mnist_keras: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    code, stdout, stderr = run(capsys, "export", str(mnist_keras), "-o", str(out), "--atol", "1e-30")
    assert code == 1
    assert re.fullmatch(r"checked with onnxruntime .*\n  dense  [0-9.e-]+  tolerance 1e-30  TOO LARGE\n", stdout)
    assert re.fullmatch(r"kspec: error: the exported model differs from Keras on output 'dense': by [0-9.e-]+, "
                        r"more than the tolerance 1e-30; nothing was written\n", stderr), stderr
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_a_model_keras_cannot_export_is_one_message(
    mnist_keras: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keras = import_keras()

    def refuse(self: Any, filepath: str, **kwargs: Any) -> None:
        Path(filepath).mkdir()  # half an artifact, then a failure
        raise ValueError("Unsupported op 'Foo'")

    monkeypatch.setattr(keras.Model, "export", refuse)
    code, stdout, stderr = run(capsys, "export", str(mnist_keras), "-o", f"{tmp_path / 'sm'}/")
    assert (code, stdout) == (1, "")
    assert stderr == ("kspec: error: Keras cannot export model 'mnist_convnet' to SavedModel: Unsupported op 'Foo'; "
                      "nothing was written\n")
    assert list(tmp_path.iterdir()) == []


def test_a_saved_model_directory_is_replaced_only_with_force_and_only_when_it_is_one(
    mnist_keras: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "served"
    (out / "variables").mkdir(parents=True)
    (out / "saved_model.pb").write_bytes(b"old")
    code, _, stderr = run(capsys, "export", str(mnist_keras), "-o", f"{out}/")
    assert (code, stderr) == (2, f"kspec: error: cannot write '{out}': the directory is not empty "
                                 "(--force replaces it when it holds a SavedModel)\n")
    code, stdout, stderr = run(capsys, "export", str(mnist_keras), "-o", f"{out}/", "--force")
    assert (code, stderr) == (0, "")
    assert (out / "saved_model.pb").read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    code, stdout, stderr = run(capsys, "export", str(mnist_keras), "-o", str(notes), "--force")
    assert (code, stdout) == (2, "")
    assert stderr == (f"kspec: error: cannot write '{notes}': it is not a SavedModel directory (it holds "
                      "'todo.txt'), and kspec replaces nothing else\n")
    assert [p.name for p in notes.iterdir()] == ["todo.txt"]


# --------------------------------------------------------------------------
# refusals, said before any model is built


@pytest.mark.parametrize(("argv", "message"), [
    (["-o", "m.pb"], "unknown export format '.pb': use .onnx, .tflite, or a directory for a SavedModel "
                     "(a path ending in '/'), or choose with --format onnx|tflite|saved_model"),
    (["-o", "exported"], "unknown export format of 'exported' (no suffix): use .onnx, .tflite, or a directory for "
                         "a SavedModel (a path ending in '/'), or choose with --format onnx|tflite|saved_model"),
    (["-o", "m.tflite", "--format", "onnx"], "-o 'm.tflite' names a TFLite file, but --format is onnx"),
    (["-o", "out/", "--format", "tflite"], "-o 'out/' names a directory, but --format is tflite"),
    (["-o", "m.onnx", "--atol", "0"], "--atol must be a positive number, got 0"),
    (["-o", "m.onnx", "--atol", "nan"], "--atol must be a positive number, got nan"),
])
def test_usage_mistakes_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run(capsys, "export", str(EXAMPLES / "mnist_convnet.kspec"), *argv)
    assert (code, stdout, stderr) == (2, "", f"kspec: error: {message}\n")
    assert list(tmp_path.iterdir()) == []


def test_spec_options_on_a_saved_model_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = run(capsys, "export", str(tmp_path / "m.keras"), "-D", "width=3", "-o",
                               str(tmp_path / "m.onnx"))
    assert (code, stdout) == (2, "")
    assert stderr == f"kspec: error: -D applies to a spec, and '{tmp_path / 'm.keras'}' is a saved model\n"


def test_an_output_that_cannot_be_written_is_refused_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    spec = str(EXAMPLES / "mnist_convnet.kspec")
    code, _, stderr = run(capsys, "export", spec, "-o", str(blocker / "m.onnx"))
    assert (code, stderr) == (2, f"kspec: error: cannot write '{blocker / 'm.onnx'}': '{blocker}' is not a "
                                 "directory\n")
    code, _, stderr = run(capsys, "export", spec, "-o", str(tmp_path / "missing" / "m.tflite"))
    assert (code, stderr) == (2, f"kspec: error: cannot write '{tmp_path / 'missing' / 'm.tflite'}': directory "
                                 f"'{tmp_path / 'missing'}' does not exist\n")
    code, _, stderr = run(capsys, "export", spec, "-o", str(blocker), "--format", "saved_model")
    assert (code, stderr) == (2, f"kspec: error: cannot write '{blocker}': it is a file, not a directory\n")
    code, _, stderr = run(capsys, "export", spec, "-o", f"{tmp_path / 'missing' / 'sm'}/")
    assert (code, stderr) == (2, f"kspec: error: cannot write '{tmp_path / 'missing' / 'sm'}': directory "
                                 f"'{tmp_path / 'missing'}' does not exist\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize(("backend", "absent", "output", "message"), [
    ("tensorflow", {"tf2onnx"}, "m.onnx",
     "ONNX export on the tensorflow backend needs the 'tf2onnx' package: pip install 'kspec[export]'"),
    ("tensorflow", {"onnx", "tf2onnx"}, "m.onnx",
     "ONNX export on the tensorflow backend needs the 'onnx' and 'tf2onnx' packages: pip install 'kspec[export]'"),
    ("tensorflow", {"onnxruntime"}, "m.onnx",
     "checking a ONNX export needs the 'onnxruntime' package: pip install 'kspec[export]' "
     "(or skip the check with --no-check)"),
    ("tensorflow", {"ai_edge_litert", "tensorflow"}, "m.tflite",
     "checking a TFLite export needs the 'ai-edge-litert' package: pip install 'kspec[export]' "
     "(or skip the check with --no-check)"),
    ("jax", {"jax2onnx"}, "m.onnx",
     "ONNX export on the jax backend needs the 'jax2onnx' package: pip install jax2onnx"),
    ("torch", {"litert_torch"}, "m.tflite",
     "TFLite export on the torch backend needs the 'litert-torch' package: pip install litert-torch"),
    ("torch", {"torch_xla"}, "sm/",
     "SavedModel export on the torch backend needs the 'torch_xla' package: pip install torch_xla"),
    ("jax", set(), "m.tflite",
     "Keras cannot export TFLite on the jax backend (only on tensorflow and torch): run with --backend tensorflow"),
])
def test_a_missing_package_or_an_unable_backend_is_named(
    backend: str, absent: set[str], output: str, message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import kspec.runtime._quiet
    import kspec.runtime.export

    real = kspec.runtime.export.installed
    monkeypatch.setattr(kspec.runtime.export, "installed", lambda module: module not in absent and real(module))
    monkeypatch.setattr(kspec.runtime._quiet, "backend_name", lambda: backend)
    out = f"{tmp_path / output}{'/' if output.endswith('/') else ''}"
    code, stdout, stderr = run(capsys, "export", str(EXAMPLES / "mnist_convnet.kspec"), "-o", out)
    assert (code, stdout, stderr) == (2, "", f"kspec: error: {message}\n")
    assert list(tmp_path.iterdir()) == []


def test_without_litert_the_check_falls_back_to_tensorflows_interpreter(
    mnist_keras: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import kspec.runtime.export

    real = kspec.runtime.export.installed
    monkeypatch.setattr(kspec.runtime.export, "installed", lambda module: module != "ai_edge_litert" and real(module))
    out = tmp_path / "m.tflite"
    code, stdout, stderr = run(capsys, "export", str(mnist_keras), "-o", str(out))
    assert (code, stderr) == (0, ""), stderr
    assert stdout.startswith("checked with tf.lite.Interpreter against Keras")


# --------------------------------------------------------------------------
# other backends: one process each


def _kspec(backend: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run([sys.executable, "-m", "kspec", *argv], capture_output=True, text=True, timeout=600,
                          env=env, cwd=cwd)


def test_a_backend_that_cannot_export_a_format_says_so_before_loading_keras(tmp_path: Path) -> None:
    result = _kspec("jax", "export", str(EXAMPLES / "siamese.kspec"), "-o", "m.tflite", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("kspec: error: Keras cannot export TFLite on the jax backend (only on tensorflow and "
                             "torch): run with --backend tensorflow\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_torch_exports_onnx_and_jax_a_saved_model(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.kspec"
    spec.write_text(DICT_SPEC, encoding="utf-8")
    for backend, out, runtime, title in (("torch", "m.onnx", "onnxruntime", "ONNX"),
                                         ("jax", "sm/", "tf.saved_model", "SavedModel")):
        result = _kspec(backend, "export", str(spec), "-o", out, cwd=tmp_path)
        assert (result.returncode, result.stderr) == (0, "")
        wrote = f"wrote {out} ({title}, model 'tiny', 128 parameters, {backend} backend)"
        assert re.fullmatch(expected_stdout(runtime, 2, ["klass", "score"], wrote), result.stdout), result.stdout
    got = run_onnx(tmp_path / "m.onnx", {"tokens": np.array([[1, 2, 3]], "int32"),
                                         "extra": np.ones((1, 3), "float32")})
    assert sorted(got) == ["klass", "score"]


@pytest.mark.slow
def test_a_torch_onnx_export_traced_at_length_one_is_caught(tmp_path: Path) -> None:
    result = _kspec("torch", "export", str(EXAMPLES / "lstm_seq2seq.kspec"), "-o", "m.onnx", cwd=tmp_path)
    assert result.returncode == 1
    assert "  next_char  shape (2, 1, 93), Keras gives (2, 8, 93)  tolerance 0.0001  DIFFERENT\n" in result.stdout
    assert result.stderr == (
        "kspec: error: the exported model differs from Keras on output 'next_char': shape (2, 1, 93), Keras gives "
        "(2, 8, 93) (the torch backend's exporter traces the model with each free dimension set to 1, and a loop "
        "over such a dimension stays that long; the tensorflow backend exports this model); nothing was written\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("example", ["siamese.kspec", "lstm_seq2seq.kspec", "ticket.yaml", "resnet_small.kspec"])
def test_every_format_of_the_larger_examples(example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in OUTPUT:
        code, stdout, stderr = run(capsys, "export", str(EXAMPLES / example), "-o", target(tmp_path, fmt))
        assert (code, stderr) == (0, ""), stdout
