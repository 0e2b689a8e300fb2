"""Import Keras on the backend in use, without start-up noise.

The backend is chosen the Keras way: ``KERAS_BACKEND``, else the
``backend`` of ``$KERAS_HOME/keras.json`` (``~/.keras/keras.json``), else
TensorFlow; the command line's ``--backend`` sets ``KERAS_BACKEND``. Only
that backend's framework is imported.

TensorFlow's C++ runtime writes INFO lines to file descriptor 2 while it
loads (oneDNN notices, "Could not find cuda drivers", absl's
"All log messages before absl::InitializeLog()"), and recent releases do so
before ``TF_CPP_MIN_LOG_LEVEL`` is read. On that backend, we capture
descriptor 2 during the import and write back every line that is not one of
those known notices, so real warnings still reach the user. The other
backends import as they are; but Keras itself imports TensorFlow, when it is
installed, as a library on any backend (saving checks for its types, and
``tf.data`` feeds image folders), so on those backends the first import of
``tensorflow``, whoever makes it, goes through the same filter
(:class:`_QuietTensorFlowFinder`), and never happens because of kspec alone.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from kspec.runtime import KerasUnavailable

__all__ = ["BACKENDS", "NOISE", "KerasUnavailable", "backend_name", "filtered_stderr", "import_keras"]

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
        with _keras_home_untouched():
            _keras = _import_tensorflow_keras() if backend == "tensorflow" else _import(backend)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in ("keras", backend, "tensorflow", "jax", "jaxlib", "torch"):
            raise
        raise KerasUnavailable(f"this command needs Keras with the {backend} backend, and {missing} is not "
                               f"installed: pip install '{BACKENDS[backend]}'") from None
    return _keras


@contextmanager
def _keras_home_untouched() -> Iterator[None]:
    """Import Keras (or TensorFlow, whose ``tf.keras`` does the same)
    without letting it create ``~/.keras/keras.json``.

    Keras writes its settings file on import when there is none; kspec
    writes only where the user asked. When the file is missing (so there
    are no settings to read) ``KERAS_HOME`` points, for the import only,
    at a directory that cannot exist under ``/dev/null``: Keras's attempts
    to create it fail quietly and it keeps its defaults (the backend still
    comes from ``KERAS_BACKEND``)."""
    if "KERAS_HOME" in os.environ:
        yield
        return
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):  # where Keras itself would look
        base = "/tmp"
    if os.path.exists(os.path.join(base, ".keras", "keras.json")):
        yield
        return
    os.environ["KERAS_HOME"] = os.path.join(os.devnull, "keras")
    try:
        yield
    finally:
        os.environ.pop("KERAS_HOME", None)


def _import(backend: str) -> ModuleType:
    importlib.import_module(backend)  # a missing framework is named before Keras reports it its own way
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
    return importlib.import_module("keras")


@contextmanager
def filtered_stderr(extra: re.Pattern[str] | None = None, *, drop_all: bool = False) -> Iterator[None]:
    """Capture descriptor 2 for the block, then write back every line that
    is not a known start-up notice (:data:`NOISE`) nor matched by ``extra``;
    with ``drop_all``, nothing (a trial whose failure the caller handles)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded use)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [] if drop_all else [line for line in text.splitlines() if line.strip() and not NOISE.search(line)
                                        and (extra is None or not extra.search(line))]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def _import_tensorflow_keras() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with filtered_stderr():
        keras = importlib.import_module("keras")
        tf = importlib.import_module("tensorflow")  # loads the C++ runtime while captured
        tf.config.list_physical_devices()  # device start-up logs its notices now
    return keras


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with its start-up notices filtered."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with filtered_stderr(), _keras_home_untouched():  # tf.keras, too, writes keras.json
            self.inner.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """On the JAX and PyTorch backends: the first import of ``tensorflow``
    (Keras makes it lazily, as a library) runs through :func:`filtered_stderr`.
    A look-up without import (``importlib.util.find_spec``) is answered too."""

    def __init__(self) -> None:
        self.looking = False

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow" or self.looking:
            return None
        self.looking = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.looking = False
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuietLoader(spec.loader)
        return spec
