"""Import Keras on the backend in use, without start-up noise.

The backend is chosen the Keras way: ``KERAS_BACKEND``, else the
``backend`` of ``$KERAS_HOME/keras.json`` (``~/.keras/keras.json``), else
TensorFlow; the command line's ``--backend`` sets ``KERAS_BACKEND``. Only
that backend's framework is imported.

TensorFlow's C++ runtime writes INFO lines to file descriptor 2 while it
loads (oneDNN notices, "Could not find cuda drivers", absl's
"All log messages before absl::InitializeLog()"), and recent releases do so
before ``TF_CPP_MIN_LOG_LEVEL`` is read. On that backend only, we capture
descriptor 2 during the import and write back every line that is not one of
those known notices, so real warnings still reach the user. The other
backends import as they are.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from kspec.runtime import KerasUnavailable

__all__ = ["BACKENDS", "NOISE", "KerasUnavailable", "backend_name", "import_keras"]

#: The Keras backends kspec supports, with the extra that installs each.
BACKENDS = {"tensorflow": "kspec[tensorflow]", "jax": "kspec[jax]", "torch": "kspec[torch]"}


def backend_name() -> str:
    """The backend Keras will use, read without importing Keras."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    try:
        with open(Path(home) / "keras.json", encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return "tensorflow"
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) and backend else "tensorflow"

#: Start-up lines that carry no information for a kspec user.
NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers"
    r"|cudart_stub\.cc"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions"
    r"|computation placer already registered"
    r"|TF-TRT Warning"
    r"|failed call to cuInit"
    r"|Attempting to register factory for plugin"
)

_keras: ModuleType | None = None


def import_keras() -> ModuleType:
    """``import keras`` on the backend in use (quietly on TensorFlow); cached.

    Raises :class:`KerasUnavailable` when Keras or the backend's framework
    is not installed."""
    global _keras
    if _keras is not None:
        return _keras
    backend = backend_name()
    if backend not in BACKENDS:
        raise KerasUnavailable(f"unknown Keras backend '{backend}' (from KERAS_BACKEND or keras.json): "
                               f"use one of {', '.join(BACKENDS)}")
    try:
        _keras = _import_tensorflow_keras() if backend == "tensorflow" else _import(backend)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in ("keras", backend, "tensorflow", "jax", "jaxlib", "torch"):
            raise
        raise KerasUnavailable(f"this command needs Keras with the {backend} backend, and {missing} is not "
                               f"installed: pip install '{BACKENDS[backend]}'") from None
    return _keras


def _import(backend: str) -> ModuleType:
    importlib.import_module(backend)  # a missing framework is named before Keras reports it its own way
    return importlib.import_module("keras")


def _import_tensorflow_keras() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded use)
        return importlib.import_module("keras")
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            keras = importlib.import_module("keras")
            tf = importlib.import_module("tensorflow")  # loads the C++ runtime while captured
            tf.config.list_physical_devices()  # device start-up logs its notices now
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    kept = [line for line in text.splitlines() if line.strip() and not NOISE.search(line)]
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")
    return keras
