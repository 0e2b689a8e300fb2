"""Run kspec's end-to-end path in one process on the backend ``KERAS_BACKEND``
names (a process holds one Keras backend), for ``tests/test_backend_e2e.py``.

``python tests/_backend_worker.py e2e WORKDIR``: compile every example, train
``regression_train`` on ``WORKDIR/train.npz``, evaluate and predict with the
saved model, decompile it and compile the result again. Prints one JSON
object: each compiled example's ``config.json`` digest, the exit codes, and
the recompiled model's config compared with the trained one's.

``python tests/_backend_worker.py predict MODEL DATA OUT``: load MODEL with
``kspec predict`` and write its predictions (the cross-backend check).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

from kspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _kspec(*args: str) -> int:
    """``kspec ARGS`` in this process, its output kept out of the JSON report."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    if code != 0:
        print(out.getvalue(), file=sys.stderr)
    return code


def _config(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json").decode()


def e2e(work: Path) -> dict[str, object]:
    """The end-to-end path of the module docstring."""
    report: dict[str, object] = {"backend": __import__("keras").backend.backend(), "compiled": {}, "codes": {}}
    codes: dict[str, int] = {}
    compiled: dict[str, str] = {}
    for spec in sorted(EXAMPLES.glob("*.kspec")):
        out = work / f"{spec.stem}.keras"
        codes[f"compile {spec.name}"] = _kspec("compile", str(spec), "-o", str(out))
        if out.exists():
            compiled[spec.name] = hashlib.sha256(_config(out).encode()).hexdigest()
    model = work / "regressor.keras"
    codes["train"] = _kspec("train", str(EXAMPLES / "regression_train.kspec"), "--data", str(work / "train.npz"),
                            "-o", str(model), "--epochs", "2", "--quiet")
    codes["evaluate"] = _kspec("evaluate", str(model), "--data", str(work / "train.npz"))
    codes["predict"] = _kspec("predict", str(model), "--data", str(work / "train.npz"), "-o",
                              str(work / "pred.npz"))
    codes["decompile"] = _kspec("decompile", str(model), "-o", str(work / "back.kspec"))
    codes["recompile"] = _kspec("compile", str(work / "back.kspec"), "--weights", str(work / "back.weights.h5"),
                                "-o", str(work / "again.keras"))
    if codes["recompile"] == 0:
        import keras
        import numpy as np

        first = keras.models.load_model(model)
        again = keras.models.load_model(work / "again.keras")
        x = np.load(work / "train.npz")["features"]
        report["recompiled_same_predictions"] = bool(np.allclose(first.predict(x, verbose=0),
                                                                 again.predict(x, verbose=0), atol=1e-6))
        sys.path.insert(0, str(ROOT / "tests"))
        from _decompile_compare import canonical

        report["recompiled_same_architecture"] = (canonical(json.loads(first.to_json())["config"])
                                                  == canonical(json.loads(again.to_json())["config"]))
    report["compiled"] = compiled
    report["codes"] = codes
    return report


if __name__ == "__main__":
    task = sys.argv[1]
    if task == "e2e":
        print("REPORT " + json.dumps(e2e(Path(sys.argv[2]))))
    elif task == "predict":
        sys.exit(_kspec("predict", *sys.argv[2:3], "--data", sys.argv[3], "-o", sys.argv[4]))
    else:
        sys.exit(f"unknown task {task}")
