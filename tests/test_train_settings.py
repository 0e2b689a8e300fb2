"""compile/train settings: every metric form Keras 3 takes, errors in the
spec's words, and paths confined to the spec's directory.

- ``metrics`` as Keras 3.15 takes it for several outputs (a list of lists,
  a metric or list per output, none to skip one; a mapping with none) checks
  and trains; a value of the wrong form is one error that says which forms a
  setting takes, with the value as the spec writes it.
- Callback paths, ``history`` and ``validation_data`` resolve against the
  spec file's directory and stay inside it (or a directory given with
  ``--allow-dir``): a path outside is a located K217 error from ``kspec
  check``. A ``BackupAndRestore`` directory (Keras deletes it when training
  ends) must be new or empty, or hold only an earlier backup.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.cli import main
from kspec.spec import limits
from kspec.spec.diagnostics import KspecError

TWO_OUTPUTS = """\
model m {
  input a: (4,)
  output o1 = a -> Dense(units=1)
  output o2 = a -> Dense(units=3, activation="softmax")
}
compile m {
  optimizer = "adam"
  loss = ["mse", "categorical_crossentropy"]
  SETTING
}
"""


@pytest.mark.parametrize("setting", [
    'metrics = [["mae"], ["accuracy"]]',
    'metrics = ["mae", ["accuracy", "auc"]]',
    'metrics = [none, ["accuracy"]]',
    'metrics = {o1: none, o2: "accuracy"}',
    'weighted_metrics = [["mse"], none]',
])
def test_every_metric_form_keras_takes_checks_and_trains(setting: str) -> None:
    spec = kspec.loads(TWO_OUTPUTS.replace("SETTING", setting))
    model = kspec.build(spec)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = {"o1": rng.normal(size=(16, 1)).astype("float32"), "o2": np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]}
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history
    assert "loss" in history
    if setting.startswith("metrics = [[") or setting.startswith('metrics = ["mae"'):
        assert "o1_mae" in history
    if "accuracy" in setting:
        assert "o2_accuracy" in history


@pytest.mark.parametrize(("setting", "message"), [
    ("metrics = 5", "invalid compile setting 'metrics': expected a list of metrics (names or calls; with several "
                    "outputs, one entry per output: a metric, a list of metrics or none), or a mapping of output "
                    "names to a metric or a list of metrics, got 5"),
    ("metrics = AUC(curve=\"PR\")", "invalid compile setting 'metrics': expected a list of metrics (names or "
                                   "calls; with several outputs, one entry per output: a metric, a list of metrics "
                                   "or none), or a mapping of output names to a metric or a list of metrics, got "
                                   "AUC(curve=\"PR\")"),
    ("metrics = {o1: [3]}", "invalid compile setting 'metrics': expected a list of metrics (names or calls; with "
                            "several outputs, one entry per output: a metric, a list of metrics or none), or a "
                            "mapping of output names to a metric or a list of metrics, got {o1: [3]}"),
    ('loss_weights = {o1: "x", o2: 1.0}', "invalid compile setting 'loss_weights': expected a mapping of output "
                                          "names to numbers, or a list of numbers (one per output), got "
                                          '{o1: "x", o2: 1.0}'),
    ("jit_compile = 3", "invalid compile setting 'jit_compile': expected true, false or \"auto\", got 3"),
])
def test_a_setting_of_the_wrong_form_is_one_error_in_the_specs_words(setting: str, message: str) -> None:
    with pytest.raises(KspecError) as err:
        kspec.loads(TWO_OUTPUTS.replace("SETTING", setting), file="m.kspec")
    assert [(d.code, d.message) for d in err.value.diagnostics] == [("K302", message)]
    assert err.value.diagnostics[0].span is not None and err.value.diagnostics[0].span.line == 9


def test_none_is_not_a_metric_of_a_single_output() -> None:
    text = TWO_OUTPUTS.replace("  output o2 = a -> Dense(units=3, activation=\"softmax\")\n", "").replace(
        'loss = ["mse", "categorical_crossentropy"]', 'loss = "mse"')
    with pytest.raises(KspecError) as err:
        kspec.loads(text.replace("SETTING", 'metrics = ["mae", none]'))
    assert [d.message for d in err.value.diagnostics] == ["invalid compile setting 'metrics': none is not a metric"]


REGRESSOR = """\
model regressor {
  input features: (2,)
  output price = features -> Dense(units=1)
}
compile regressor {
  optimizer = SGD(learning_rate=0.01)
  loss = "mse"
}
train regressor {
  epochs = 2
  batch_size = 8
  SETTINGS
}
"""


def _spec(folder: Path, settings: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "r.kspec"
    path.write_text(REGRESSOR.replace("SETTINGS", settings))
    return path


@pytest.mark.parametrize(("setting", "message"), [
    ('callbacks = [ModelCheckpoint("../best.keras")]',
     "ModelCheckpoint: the path '../best.keras' reaches outside the spec's directory"),
    ('callbacks = [TensorBoard(log_dir="../logs")]',
     "TensorBoard: the path '../logs' reaches outside the spec's directory"),
    ('callbacks = [CSVLogger(filename="../log.csv")]',
     "CSVLogger: the path '../log.csv' reaches outside the spec's directory"),
    ('callbacks = [BackupAndRestore("../backup")]',
     "BackupAndRestore: the path '../backup' reaches outside the spec's directory"),
    ('history = "../run/history"', "'history': the path '../run/history' reaches outside the spec's directory"),
    ('validation_data = "../val.npz"', "'validation_data': the path '../val.npz' reaches outside the spec's directory"),
])
def test_a_path_outside_the_spec_directory_is_a_located_error(tmp_path: Path, setting: str, message: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path / "box", setting)
    with pytest.raises(KspecError) as err:
        kspec.load(spec)
    [diag] = err.value.diagnostics
    assert (diag.code, diag.message) == ("K217", message)
    assert diag.span is not None and (diag.span.file, diag.span.line) == (str(spec), 12)
    assert (diag.span.column > 3) == ("callbacks" in setting)  # a callback's path at its argument, else the setting
    assert main(["check", str(spec)]) == 1
    assert "error[K217]" in capsys.readouterr().err
    allowed = dataclasses.replace(limits.current(), allowed_dirs=(str(tmp_path),))
    with limits.using(allowed):
        assert kspec.load(spec).train  # inside a directory the user allowed


def test_an_absolute_path_elsewhere_is_refused(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 'callbacks = [CSVLogger("/etc/kspec-epochs.csv")]')
    with pytest.raises(KspecError) as err:
        kspec.load(spec)
    assert str(err.value) == (f"{spec}:12:16: error[K217]: CSVLogger: the path '/etc/kspec-epochs.csv' reaches "
                              "outside the spec's directory")


def _data(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)).astype("float32")
    np.savez(folder / "train.npz", features=x, price=x @ np.ones((2, 1), "float32"))
    return folder / "train.npz"


def test_train_paths_resolve_against_the_spec_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = tmp_path / "box"
    spec = _spec(box, 'history = "run/hist"\n  callbacks = [CSVLogger("logs/epochs.csv")]')
    data = _data(box)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["train", str(spec), "--data", str(data), "-o", "m.keras", "--quiet"]) == 0
    assert (box / "logs" / "epochs.csv").read_text().startswith("epoch,")
    assert (box / "run" / "hist.json").is_file()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["m.keras"]


def test_a_backup_directory_that_holds_other_files_is_refused(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    box = tmp_path / "box"
    spec = _spec(box, 'callbacks = [BackupAndRestore("keep")]')
    (box / "keep").mkdir()
    (box / "keep" / "notes.txt").write_text("mine\n")
    data = _data(box)
    assert main(["train", str(spec), "--data", str(data), "-o", str(box / "m.keras"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error[K312]: BackupAndRestore would delete 'keep' when training ends, and it holds files kspec did " \
           "not write: notes.txt" in err
    assert (box / "keep" / "notes.txt").read_text() == "mine\n"
    assert not (box / "m.keras").exists()


def test_a_new_backup_directory_is_used_and_removed(tmp_path: Path) -> None:
    box = tmp_path / "box"
    spec = _spec(box, 'callbacks = [BackupAndRestore("backup")]')
    data = _data(box)
    assert main(["train", str(spec), "--data", str(data), "-o", str(box / "m.keras"), "--quiet"]) == 0
    assert (box / "m.keras").is_file()
    assert not (box / "backup").exists()  # Keras deletes its backup when training ends; kspec created it
