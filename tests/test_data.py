"""Training data checked against the spec before training; kspec train/evaluate/predict end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kspec.cli import main
from kspec.runtime.data import Port, check_arrays, load_data
from kspec.spec.diagnostics import KspecError
from kspec.spec.ir import Span
from kspec.spec.settings import DataMapping

INS = [Port("left", (100,), "int32", Span(file="m.yaml", line=5, column=13)),
       Port("image", (8, 8, 3), "float32", Span(file="m.yaml", line=6, column=14))]
OUTS = [Port("same", (1,), "float32"), Port("topic", (5,), "float32")]


def _good(n: int = 6) -> dict[str, np.ndarray]:
    return {"left": np.zeros((n, 100), "int32"), "image": np.zeros((n, 8, 8, 3), "float32"),
            "same": np.zeros((n, 1), "float32"), "topic": np.zeros((n,), "int64")}


def test_good_arrays_pass() -> None:
    data = check_arrays(_good(), INS, OUTS, "d.npz")
    assert (sorted(data.x), sorted(data.y), data.rows) == (["image", "left"], ["same", "topic"], 6)


@pytest.mark.parametrize(("change", "expected"), [
    ({"left": None},
     "m.yaml:5:13 d.npz: missing array for input 'left' (expected shape (None, 100)) | "
     "the file has: image, same, topic"),
    ({"image": np.zeros((6, 8, 8), "float32")},
     "m.yaml:6:14 d.npz: input 'image' has shape (6, 8, 8) but the model expects (None, 8, 8, 3) | None"),
    ({"left": np.zeros((6, 100), "float32")},
     "m.yaml:5:13 d.npz: input 'left' has dtype float32 but the model expects int32 | "
     "integer inputs (token ids) need integer arrays"),
    ({"image": np.zeros((5, 8, 8, 3), "float32")},
     "m.yaml:6:14 d.npz: input 'image' has 5 rows but 'left' has 6 | None"),
    ({"topic": np.zeros((6, 4), "float32")},
     "<no span> d.npz: output 'topic' has shape (6, 4) but the model expects (None, 5) | None"),
    ({"imag": np.zeros((6, 1))},
     "<no span> d.npz: array 'imag' is not an input or output of the model | did you mean 'image'?"),
])
def test_each_mismatch_is_one_clear_error(change: dict[str, np.ndarray | None], expected: str) -> None:
    arrays = _good()
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    with pytest.raises(KspecError) as info:
        check_arrays(arrays, INS, OUTS, "d.npz")
    [d] = info.value.diagnostics
    where = str(d.span) if d.span else "<no span>"
    assert f"{where} {d.message} | {d.hint}" == expected


def test_x_and_y_for_single_input_single_output(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((4, 3), "float32"), y=np.ones((4,), "float32"))
    data = load_data(path, [Port("inp", (3,), "float32")], [Port("out", (1,), "float32")])
    assert (list(data.x), list(data.y), data.rows) == (["inp"], ["out"], 4)


def test_csv_with_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,tok,target\n1.5,2,3,0.5\n0,1,7,1\n")
    mapping = DataMapping(inputs={"num": ["a", "b"], "ids": "tok"}, outputs={"out": "target"})
    data = load_data(path, [Port("num", (2,), "float32"), Port("ids", (1,), "int32")],
                     [Port("out", (1,), "float32")], mapping)
    assert data.x["num"].tolist() == [[1.5, 2.0], [0.0, 1.0]]
    assert data.x["ids"].dtype == np.int32 and data.x["ids"].tolist() == [[3], [7]]
    assert data.y["out"].tolist() == [[0.5], [1.0]]


def test_csv_unknown_column_suggests(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,target\n1,2,3\n")
    with pytest.raises(KspecError) as info:
        load_data(path, [Port("num", (2,), "float32")], [Port("out", (1,), "float32")],
                  DataMapping(inputs={"num": ["a", "bb"]}, outputs={"out": "target"}))
    d = info.value.diagnostics[0]
    assert (d.message, d.hint) == (f"{path}: no column 'bb' for 'num'", "did you mean 'b'?")


# --------------------------------------------------------------------------
# command line

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "regression_train.yaml"


def _regression_data(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    w = np.linspace(-1.0, 1.0, 8, dtype="float32")[:, None]
    y = x @ w + 0.05 * rng.normal(size=(n, 1)).astype("float32")
    np.savez(path, features=x, price=y)


def test_train_rejects_bad_data_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, features=np.zeros((10, 7), "float32"), price=np.zeros((10, 1), "float32"))
    out = tmp_path / "m.keras"
    code = main(["train", str(EXAMPLE), "--data", str(bad), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""  # no "training ..." line: training never started
    assert captured.err.splitlines()[0] == (
        f"{EXAMPLE}:9:17: error[K401]: {bad}: input 'features' has shape (10, 7) but the model expects (None, 8)")
    assert not out.exists()


def test_example_trains_below_threshold_then_evaluates_and_predicts(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "train.npz"
    _regression_data(data, 640, seed=0)
    out = tmp_path / "reg.keras"
    code = main(["train", str(EXAMPLE), "--data", str(data), "-o", str(out), "--epochs", "12", "--quiet"])
    text = capsys.readouterr().out
    assert code == 0, text
    history = json.loads((tmp_path / "reg.history.json").read_text())
    # Validation RMSE on y = x.w + noise(0.05): well under the target's spread (about 1.4) after 12 epochs.
    assert history["epochs"] == 12 and history["history"]["val_loss"][-1] < 0.25
    assert (tmp_path / "reg.history.csv").is_file() and (tmp_path / "reg.history.png").is_file()
    assert f"wrote {out}" in text.splitlines()

    test = tmp_path / "test.npz"
    _regression_data(test, 64, seed=1)
    assert main(["evaluate", str(out), "--data", str(test), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert sorted(scores) == ["loss", "mae", "mse"] and scores["loss"] < 0.3

    pred = tmp_path / "pred.npz"
    assert main(["predict", str(out), "--data", str(test), "-o", str(pred)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {pred} (64 rows: price (64, 1))"
    with np.load(pred) as p:
        assert p["price"].shape == (64, 1)


SEQUENTIAL = """\
models:
  - name: clf
    kind: sequential
    input: {name: pixels, shape: [6]}
    layers:
      - Dense: {units: 8, activation: relu}
      - Dense: {units: 3, activation: softmax}
compile:
  clf:
    optimizer: adam
    loss: sparse_categorical_crossentropy
    metrics: [accuracy]
train:
  clf:
    epochs: 2
    class_weight: {0: 1.0, 1: 2.0, 2: 1.0}
    validation_data: VAL
"""


def _csv(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = np.hstack([rng.normal(size=(n, 6)), rng.integers(0, 3, size=(n, 1))])
    np.savetxt(path, table, delimiter=",", header="a,b,c,d,e,f,label", comments="")


def test_sequential_model_on_csv_with_validation_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train, val = tmp_path / "t.csv", tmp_path / "v.csv"
    _csv(train, 40, 0)
    _csv(val, 12, 1)
    spec = tmp_path / "clf.yaml"
    spec.write_text(SEQUENTIAL.replace("VAL", str(val)))
    out = tmp_path / "clf.keras"
    assert main(["train", str(spec), "--data", str(train), "-o", str(out), "--quiet"]) == 0
    history = json.loads((tmp_path / "clf.history.json").read_text())["history"]
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"] and len(history["loss"]) == 2
    capsys.readouterr()
    pred = tmp_path / "p.npz"
    assert main(["predict", str(out), "--data", str(val), "-o", str(pred)]) == 0
    with np.load(pred) as p:
        [(name, array)] = list(p.items())
        assert name == "dense_1"  # a Sequential model's output is its last layer
        assert array.shape == (12, 3) and np.allclose(array.sum(axis=1), 1.0, atol=1e-5)


def test_train_needs_a_compile_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SEQUENTIAL.split("compile:")[0])
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((2, 6)), y=np.zeros((2,)))
    assert main(["train", str(spec), "--data", str(data)]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{spec}:2:5: error[K307]: model 'clf' has no compile section: kspec cannot train it")
