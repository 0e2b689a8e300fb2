"""Import TensorFlow and Keras without their start-up noise.

TensorFlow's C++ runtime writes INFO lines to file descriptor 2 while it
loads (oneDNN notices, "Could not find cuda drivers", absl's
"All log messages before absl::InitializeLog()"), and recent releases do so
before ``TF_CPP_MIN_LOG_LEVEL`` is read. We capture descriptor 2 during the
import and write back every line that is not one of those known notices, so
real warnings still reach the user.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from types import ModuleType

__all__ = ["NOISE", "import_keras"]

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
    """``import keras`` (TensorFlow backend), quietly; cached."""
    global _keras
    if _keras is not None:
        return _keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded use)
        import keras

        _keras = keras
        return _keras
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras
            import tensorflow as tf  # loads the C++ runtime while captured

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
    _keras = keras
    return _keras
