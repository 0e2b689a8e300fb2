"""A spec cannot reach beyond itself: no layer that runs or loads code, no
file outside the spec's directory, whatever route the spec tries. An audit
hook watches every file a real ``kspec check``/``compile``/``train`` opens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kspec.compiler.pipeline import load_path
from kspec.spec.diagnostics import KspecError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("layer", "message"), [
    ('TFSMLayer("saved")', "TFSMLayer loads a TensorFlow SavedModel, whose graph can run code: "
                           "a spec never loads code"),
    ("Lambda()", "Lambda layers are not allowed: a spec never runs Python code"),
    ("TorchModuleWrapper()", "TorchModuleWrapper wraps a framework function or module: a spec never runs code"),
])
def test_layers_that_run_or_load_code_are_refused(tmp_path: Path, layer: str, message: str) -> None:
    spec = tmp_path / "m.kspec"
    spec.write_text(f"model m {{\n  input x: (3,)\n  output y = x -> {layer}\n}}\n")
    with pytest.raises(KspecError) as info:
        load_path(spec)
    assert str(info.value) == f"{spec}:3:19: error[K210]: {message}"


def test_a_vocabulary_outside_the_spec_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("a\nb\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    for value in ("../secret.txt", str(tmp_path / "secret.txt"), "/etc/passwd"):
        spec = inner / "m.kspec"
        layer = f'StringLookup(vocabulary="{value}")'
        spec.write_text(f"model m {{\n  input x: (1,) string\n  output y = x -> {layer}\n}}\n")
        with pytest.raises(KspecError) as info:
            load_path(spec)
        assert str(info.value) == (f"{spec}:3:32: error[K217]: StringLookup: the path '{value}' reaches outside "
                                   "the spec's directory")


def test_a_vocabulary_beside_the_spec_is_read_from_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kspec

    (tmp_path / "vocab.txt").write_text("a\nb\nc\n")
    spec = tmp_path / "m.kspec"
    spec.write_text('model m {\n  input x: (1,) string\n  output y = x -> StringLookup(vocabulary="vocab.txt")\n}\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative to the spec, not to the working directory
    model = kspec.build(kspec.load(spec))
    assert model.layers[-1].get_vocabulary() == ["[UNK]", "a", "b", "c"]


_AUDIT = """
import atexit, json, os, sys
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append([os.fsdecode(args[0]), str(args[1])])
sys.addaudithook(hook)
atexit.register(lambda: open(os.environ["AUDIT_LOG"], "w").write(json.dumps(opened)))
from kspec.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.exit(code)
"""

_MODEL = """\
model m {
  input x: (8,)
  v = x -> StringLookup(vocabulary=VOCAB)
  output price = x -> Dense(1)
}
compile m {
  optimizer = "adam"
  loss = "mse"
}
train m {
  epochs = 1
  callbacks = [CALLBACKS]
  history = HISTORY
}
"""
_SAFE = {"VOCAB": '"vocab.txt"', "CALLBACKS": "EarlyStopping()", "HISTORY": '"run/history"'}

#: Each route a spec may try to reach outside its directory.
ROUTES = {
    "use": {"PREFIX": 'use "../outside.kspec"\n'},
    "vocabulary": {"VOCAB": '"../secret.txt"'},
    "tensorboard": {"CALLBACKS": 'TensorBoard(log_dir="../logs")'},
    "checkpoint": {"CALLBACKS": 'ModelCheckpoint("../best.keras")'},
    "csv_logger": {"CALLBACKS": 'CSVLogger("/tmp/kspec-escape.csv")'},
    "backup": {"CALLBACKS": 'BackupAndRestore(backup_dir="../backup")'},
    "history": {"HISTORY": '"../history"'},
}


def _hostile(route: str) -> str:
    values = {**_SAFE, **ROUTES[route]}
    text = _MODEL
    for key in ("VOCAB", "CALLBACKS", "HISTORY"):
        text = text.replace(key, values[key])
    return values.get("PREFIX", "") + text


def _allowed(path: str, tmp: Path) -> bool:
    real = os.path.realpath(path)
    roots = [str(tmp), sys.prefix, sys.base_prefix, str(ROOT / "src"), "/proc", "/sys", "/dev/null", "/dev/urandom",
             "/usr/lib", "/usr/share/zoneinfo", "/etc/localtime"]
    return any(real == r or real.startswith(r.rstrip("/") + "/") for r in map(os.path.realpath, roots))


_CASES = [("check", route) for route in ROUTES] + [("compile", "vocabulary"), ("train", "use"),
                                                  ("train", "backup"), ("train", "history")]


@pytest.mark.parametrize(("command", "route"), _CASES)
def test_no_file_outside_the_test_directory_is_read_or_written(tmp_path: Path, command: str, route: str) -> None:
    box = tmp_path / "box"
    box.mkdir()
    (tmp_path / "outside.kspec").write_text("param k: int = 1\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    (box / "vocab.txt").write_text("a\nb\n")
    spec = box / "spec.kspec"
    spec.write_text(_hostile(route))
    data = box / "train.npz"
    np.savez(data, x=np.ones((8, 8), "float32"), price=np.ones((8, 1), "float32"))
    args = {"check": ["check", str(spec)], "compile": ["compile", str(spec), "-o", str(box / "m.keras")],
            "train": ["train", str(spec), "--data", str(data), "-o", str(box / "m.keras")]}[command]
    log = tmp_path / "audit.json"
    env = {**os.environ, "AUDIT_LOG": str(log), "KERAS_HOME": str(tmp_path / "keras_home"), "HOME": str(tmp_path),
           "MPLCONFIGDIR": str(tmp_path / "mpl")}
    result = subprocess.run([sys.executable, "-c", _AUDIT, *args], capture_output=True, text=True, env=env,
                            timeout=300, cwd=box)
    assert result.returncode == 1, result.stderr
    assert "error[K217]" in result.stderr  # refused, with a location, before anything ran
    opened = json.loads(log.read_text())
    outside = [p for p, _ in opened if not _allowed(p, tmp_path)]
    assert outside == []
    written = [p for p, mode in opened if any(c in mode for c in "wax+") and not _allowed(p, box)
               and p != str(log) and not p.startswith(str(tmp_path / "keras_home"))]
    assert written == []
    assert (tmp_path / "secret.txt").read_text() == "secret\n"
    assert not Path("/tmp/kspec-escape.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "keras_home") == [
        "audit.json", "box", "outside.kspec", "secret.txt"]


def test_compiling_writes_nothing_in_the_home_directory(tmp_path: Path) -> None:
    # Keras, and TensorFlow's tf.keras that Keras imports as a library on every
    # backend, would create ~/.keras/keras.json on import when it is missing
    home, box = tmp_path / "home", tmp_path / "box"
    home.mkdir()
    box.mkdir()
    (box / "m.kspec").write_text("model m {\n  input x: (3,)\n  output y = x -> Dense(2)\n}\n")
    log = tmp_path / "audit.json"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_HOME"}
    (tmp_path / "tmp").mkdir()
    env.update({"AUDIT_LOG": str(log), "HOME": str(home), "MPLCONFIGDIR": str(tmp_path / "mpl"),
                "TMPDIR": str(tmp_path / "tmp"), "KERAS_BACKEND": "jax"})
    result = subprocess.run([sys.executable, "-c", _AUDIT, "compile", "m.kspec", "-o", "m.keras"],
                            capture_output=True, text=True, env=env, timeout=300, cwd=box)
    assert result.returncode == 0, result.stderr
    opened = [(os.path.join(box, p), mode) for p, mode in json.loads(log.read_text())]
    written = [p for p, mode in opened if any(c in mode for c in "wax+")
               and not _allowed(p, box) and not p.startswith((str(tmp_path / "mpl"), str(tmp_path / "tmp")))
               and p != str(log)]
    assert written == [], [(p, m) for p, m in opened if p in written]
    assert list(home.iterdir()) == []
