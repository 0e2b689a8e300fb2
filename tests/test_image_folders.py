"""Image folders as data: one sub-directory of images per class, checked
against the model's input and output before training, and streamed by
``keras.utils.image_dataset_from_directory`` to ``fit``, ``evaluate`` and
``predict`` on TensorFlow and (in a subprocess) JAX; without TensorFlow
installed, read by Pillow (``kspec.runtime.images``) the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kspec.runtime.data import Port, is_image_folder, read_image_folder, sparse_loss
from kspec.spec.diagnostics import KspecError

IMAGE = [Port("image", (8, 8, 3), "float32")]


def _units(n: int) -> list[Port]:
    return [Port("out", (n,), "float32")]


def _folder(root: Path, classes: tuple[str, ...] = ("a", "b", "c"), per_class: int = 4) -> Path:
    """``root`` with ``per_class`` random 8x8 RGB PNGs in each class folder."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype="uint8")).save(root / name / f"{i}.png")
    return root


def _message(err: pytest.ExceptionInfo[KspecError]) -> str:
    return err.value.diagnostics[0].message


def test_a_folder_sets_the_image_size_color_mode_and_labels(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    assert is_image_folder(root) and not is_image_folder(root / "a" / "0.png")
    folder = read_image_folder(root, IMAGE, _units(3))
    assert (folder.classes, folder.rows, folder.image_size, folder.color_mode, folder.label_mode) == (
        ("a", "b", "c"), 12, (8, 8), "rgb", "categorical")
    assert folder.files[:2] == (root / "a" / "0.png", root / "a" / "1.png")
    assert read_image_folder(root, IMAGE, _units(3), sparse=True).label_mode == "int"
    gray = read_image_folder(root, [Port("image", (4, 6, 1), "float32")], _units(3))
    assert (gray.image_size, gray.color_mode) == ((4, 6), "grayscale")
    two = _folder(tmp_path / "two", ("cat", "dog"))
    assert read_image_folder(two, IMAGE, _units(1)).label_mode == "binary"
    inputs_only = read_image_folder(root, IMAGE, [], need_targets=False)
    assert inputs_only.label_mode is None and inputs_only.rows == 12


def test_the_loss_says_whether_labels_are_class_indices() -> None:
    assert sparse_loss("sparse_categorical_crossentropy")
    assert sparse_loss({"out": "SparseCategoricalCrossentropy"})
    assert not sparse_loss(["categorical_crossentropy"])
    assert not sparse_loss(None)


def test_the_output_must_fit_the_class_folders(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    with pytest.raises(KspecError) as err:
        read_image_folder(root, IMAGE, _units(4))
    assert _message(err) == f"{root}: output 'out' has 4 units but the folder has 3 class folders (a, b, c)"
    assert err.value.diagnostics[0].hint == "give the output one unit per class (3), or 1 unit for 2 classes"
    with pytest.raises(KspecError) as err:
        read_image_folder(root, IMAGE, _units(1))
    assert _message(err) == f"{root}: output 'out' has 1 unit (binary labels) but the folder has 3 class folders " \
                            "(a, b, c)"
    with pytest.raises(KspecError) as err:
        read_image_folder(root, IMAGE, _units(2), sparse=True)
    assert _message(err) == f"{root}: output 'out' has 2 units but the folder has 3 class folders (a, b, c)"
    assert err.value.diagnostics[0].hint == "with a sparse loss the labels are class indices: give the output 3 units"


def test_the_input_must_be_a_known_image_shape(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    with pytest.raises(KspecError) as err:
        read_image_folder(root, [Port("image", (None, None, 3), "float32")], _units(3))
    assert _message(err) == (f"{root}: input 'image' has shape (None, None, None, 3) but an image folder needs a "
                             "fully known (height, width, channels) shape")
    with pytest.raises(KspecError) as err:
        read_image_folder(root, [Port("image", (8, 8, 2), "float32")], _units(3))
    assert _message(err) == (f"{root}: input 'image' has 2 channels but images are read with 1 (grayscale), "
                             "3 (rgb) or 4 (rgba)")
    with pytest.raises(KspecError) as err:
        read_image_folder(root, [*IMAGE, Port("extra", (3,), "float32")], _units(3))
    assert _message(err) == (f"{root}: an image folder feeds a model with one input and one output, and this one "
                             "has 2 inputs and 1 output")


def test_an_unreadable_image_is_named(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    bad = root / "b" / "broken.png"
    bad.write_bytes(b"this is no image")
    with pytest.raises(KspecError) as err:
        read_image_folder(root, IMAGE, _units(3))
    assert _message(err) == f"{bad}: Pillow cannot open the image (not a known image format)"
    bad.write_bytes((root / "a" / "0.png").read_bytes()[:60])  # a PNG cut short
    with pytest.raises(KspecError) as err:
        read_image_folder(root, IMAGE, _units(3))
    assert _message(err).startswith(f"{bad}: Pillow cannot open the image (")


def test_a_folder_without_images_is_refused(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    (root / "d").mkdir()
    (root / "d" / "notes.txt").write_text("no images here\n")
    with pytest.raises(KspecError) as err:
        read_image_folder(root, IMAGE, _units(4))
    assert _message(err) == f"{root / 'd'}: the class folder holds no images"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KspecError) as err:
        read_image_folder(empty, IMAGE, _units(3))
    assert _message(err) == f"{empty}: the directory holds no class folders"
    with pytest.raises(KspecError) as err:
        read_image_folder(empty, IMAGE, [], need_targets=False)
    assert _message(err) == f"{empty}: the directory holds no images"


_SPEC = """
sequential tiny {{
  input (8, 8, 3)
  Rescaling(scale=1/255)
  Conv2D(filters=4, kernel_size=[3, 3], activation="relu")
  Flatten()
  Dense(units={units}, activation="softmax")
}}
compile tiny {{
  optimizer = "adam"
  loss = "{loss}"
  metrics = ["accuracy"]
}}
train tiny {{
  epochs = 1
  batch_size = 4
  validation_split = 0.25
  seed = 1
}}
"""


def _spec(path: Path, units: int = 3, loss: str = "categorical_crossentropy") -> Path:
    path.write_text(_SPEC.format(units=units, loss=loss))
    return path


def test_train_evaluate_and_predict_on_an_image_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kspec.cli import main

    root = _folder(tmp_path / "imgs")
    spec = _spec(tmp_path / "tiny.kspec")
    out = tmp_path / "tiny.keras"
    assert main(["train", str(spec), "--data", str(root), "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"training 'tiny' on 9 images of 3 classes from {root} for 1 epoch(s)" in printed
    assert out.is_file()
    history = json.loads((tmp_path / "tiny.history.json").read_text())
    assert history["epochs"] == 1
    assert sorted(history["history"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]

    assert main(["evaluate", str(out), "--data", str(root), "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)) == ["accuracy", "loss"]
    pred = tmp_path / "pred.npz"
    assert main(["predict", str(out), "--data", str(root), "-o", str(pred)]) == 0
    with np.load(pred) as saved:
        assert saved["files"].tolist() == [f"{c}/{i}.png" for c in "abc" for i in range(4)]
        assert saved["dense"].shape == (12, 3)


def test_sparse_labels_and_a_validation_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kspec.cli import main

    root = _folder(tmp_path / "imgs")
    val = _folder(tmp_path / "val", per_class=1)
    spec = _spec(tmp_path / "tiny.kspec", loss="sparse_categorical_crossentropy")
    assert main(["train", str(spec), "--data", str(root), "--val", str(val), "-o", str(tmp_path / "m.keras"),
                 "--quiet"]) == 0
    assert "on 12 images of 3 classes" in capsys.readouterr().out
    history = json.loads((tmp_path / "m.history.json").read_text())["history"]
    assert "val_loss" in history


def test_a_class_mismatch_stops_train_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kspec.cli import main

    root = _folder(tmp_path / "imgs", ("a", "b"))
    spec = _spec(tmp_path / "tiny.kspec", units=3)
    out = tmp_path / "tiny.keras"
    assert main(["train", str(spec), "--data", str(root), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"error[K401]: {root}: output 'dense' has 3 units but the folder has 2 class folders (a, b)" in err
    assert not out.exists()


_ON_JAX = """
import importlib.abc, importlib.util, json, sys
import numpy as np
spec, root, out, pred, hide = sys.argv[1:]
if hide == "hide":  # JAX alone, as `pip install 'kspec[jax]'` installs it: no TensorFlow to import

    class NoTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] == "tensorflow":
                raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")
            return None

    sys.meta_path.insert(0, NoTensorFlow())
    find_spec = importlib.util.find_spec  # a look-up answers None, as for a package not installed
    importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] == "tensorflow" else find_spec(name, *a)
from kspec.cli import main
assert main(["train", spec, "--data", root, "-o", out, "--quiet"]) == 0
assert main(["predict", out, "--data", root, "-o", pred]) == 0
import keras
print("BACKEND", keras.backend.backend())
print("TENSORFLOW", "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("tensorflow", ["installed", "missing"])
def test_an_image_folder_trains_on_jax(tmp_path: Path, tensorflow: str) -> None:
    root = _folder(tmp_path / "imgs")
    spec = _spec(tmp_path / "tiny.kspec")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_CONFIG")}
    env["KERAS_BACKEND"] = "jax"
    done = subprocess.run([sys.executable, "-c", _ON_JAX, str(spec), str(root), str(tmp_path / "m.keras"),
                           str(tmp_path / "p.npz"), "hide" if tensorflow == "missing" else "keep"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BACKEND jax" in done.stdout
    if tensorflow == "missing":  # the images were read with Pillow (kspec.runtime.images)
        assert "TENSORFLOW False" in done.stdout
    assert "on 9 images of 3 classes" in done.stdout
    history = json.loads((tmp_path / "m.history.json").read_text())["history"]
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    with np.load(tmp_path / "p.npz") as saved:
        assert len(saved["files"]) == 12


def test_without_tensorflow_images_stream_as_the_keras_utility_streams_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from kspec.runtime import training

    root = _folder(tmp_path / "imgs", per_class=5)
    folder = read_image_folder(root, IMAGE, _units(3))
    by_keras, _ = training.image_stream(folder, 4)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a))
    by_pillow, none = training.image_stream(folder, 4)
    assert none is None and type(by_pillow).__name__ == "_Batches"
    expected = [(np.asarray(x), np.asarray(y)) for x, y in by_keras]
    assert len(by_pillow) == len(expected) == 4  # 15 images: three batches of 4 and one of 3
    for i, (x, y) in enumerate(expected):
        got_x, got_y = by_pillow[i]
        assert got_x.dtype == np.float32 and np.array_equal(got_x, x) and np.array_equal(got_y, y)
    # a seeded validation split keeps apart the images the utility keeps apart
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    keras_train, keras_val = training.image_stream(folder, 4, shuffle=True, seed=7, validation_split=0.4)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a))
    train, val = training.image_stream(folder, 4, shuffle=True, seed=7, validation_split=0.4)
    assert sorted(val.file_paths) == sorted(keras_val.file_paths) and len(val.file_paths) == 6
    assert sorted(train.file_paths) == sorted(keras_train.file_paths)
    gray = read_image_folder(root, [Port("image", (4, 6, 1), "float32")], _units(3), sparse=True)
    x, y = training.image_stream(gray, 32)[0][0]
    assert x.shape == (15, 4, 6, 1) and y.tolist() == [0] * 5 + [1] * 5 + [2] * 5
