"""Training time per epoch of ``examples/regression_train.kspec`` on each Keras
backend, as ratios to TensorFlow, in one run.

Each backend trains in its own process (``KERAS_BACKEND``): the spec is
built and compiled by kspec, then ``model.fit`` runs on the same 20,000
random rows for 6 epochs (batch 32, as the spec says, no early stopping);
the time per epoch is the median of epochs 2 to 6 (the first one includes
tracing and compiling). A backend whose framework is not installed is
reported as skipped.

    python bench/bench_train.py [--rows N] [--epochs E]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "regression_train.kspec"

_WORKER = """
import json, statistics, sys, time
import numpy as np
import kspec
from kspec.runtime._quiet import import_keras

rows, epochs = int(sys.argv[1]), int(sys.argv[2])
keras = import_keras()
keras.utils.set_random_seed(7)
model = kspec.build(kspec.load(sys.argv[3]))
rng = np.random.default_rng(0)
x = rng.normal(size=(rows, 8)).astype("float32")
y = (x @ rng.normal(size=(8, 1))).astype("float32")
times = []

class Clock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.start)

model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[Clock()])
print("RESULT " + json.dumps({"epoch": statistics.median(times[1:]), "first": times[0]}))
"""


def run_backend(backend: str, rows: int, epochs: int) -> dict[str, float] | str:
    """Seconds per epoch on ``backend``, or why it could not run."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_CONFIG")}
    env["KERAS_BACKEND"] = backend
    done = subprocess.run([sys.executable, "-c", _WORKER, str(rows), str(epochs), str(SPEC)],
                          capture_output=True, text=True, env=env, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    result: dict[str, float] = json.loads(lines[-1][len("RESULT "):])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    results = {b: run_backend(b, args.rows, args.epochs) for b in ("tensorflow", "jax", "torch")}
    reference = results["tensorflow"]
    print(f"regression_train: {args.rows:,} rows, batch 32, median of epochs 2-{args.epochs}")
    for backend, result in results.items():
        if isinstance(result, str):
            print(f"  {backend:<10}  skipped: {result}")
            continue
        ratio = result["epoch"] / reference["epoch"] if not isinstance(reference, str) else float("nan")
        print(f"  {backend:<10}  {result['epoch']:7.3f} s/epoch  (first epoch {result['first']:.2f} s)"
              f"  ratio to tensorflow {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
