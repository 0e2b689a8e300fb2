"""Overhead of ``kspec tune`` per trial against the same search written by
hand with KerasTuner, as a ratio, in one run.

Both searches run in this process, on the same data (512 random rows, the
target equal to the input), with the same space (units in [1, 32], learning
rate on a log scale), the same algorithm (random, same seed), the same
training (5 epochs, batch 32, a quarter of the rows for validation) and a
fresh directory each time:

- by hand: a ``keras_tuner.HyperModel`` that builds ``Dense(units) ->
  Dense(4)`` with ``keras.Sequential`` and compiles it with Adam and MSE;
- kspec: the spec below, searched by :mod:`kspec.runtime.tune` (each trial
  expands, checks, lowers and compiles the spec, then trains with the
  spec's train section), and also the whole ``kspec tune`` command (reading
  the data, checking the corners of the space, the report, writing the best
  spec and model), run in process.

Last, the part of a trial that differs (building the model: kspec expands,
checks, lowers and compiles the spec; by hand, ``keras.Sequential`` and
``compile``) is timed alone, 20 times, since it is far below the noise of
whole trials.

Each search runs ``--trials`` trials; the three kinds take turns ``--runs``
times (each going first in turn) after one warm-up round, and the time per
trial is the median.

    python bench/bench_tune.py [--trials 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SPEC = """\
param units: int = 1 in [1, 32]
param lr: float = 0.01 in log(0.001, 0.05)

model mlp {
  input x: (4,)
  output y = x -> Dense(units) -> Dense(4)
}

compile mlp {
  optimizer = Adam(learning_rate=lr)
  loss = mse
}

train mlp {
  epochs = 5
  batch_size = 32
  validation_split = 0.25
}
"""


def by_hand(x: np.ndarray, directory: Path, trials: int, seed: int) -> float:
    """Seconds per trial of the search written directly with KerasTuner."""
    import importlib

    import keras

    keras_tuner: Any = importlib.import_module("keras_tuner")
    base: Any = keras_tuner.HyperModel

    class Mlp(base):  # type: ignore[misc]  # keras_tuner is untyped
        def build(self, hp: Any) -> Any:
            units = hp.Choice("units", [1, 32], default=1)
            lr = hp.Float("lr", 0.001, 0.05, sampling="log", default=0.01)
            keras.utils.set_random_seed(seed)
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), keras.layers.Dense(4)])
            model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse")
            return model

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.pop("verbose", None)
            return model.fit(x, x, epochs=5, batch_size=32, validation_split=0.25, verbose=0, **kwargs)

    tuner = keras_tuner.RandomSearch(Mlp(), objective="val_loss", max_trials=trials, seed=seed,
                                     directory=str(directory), project_name="hand", overwrite=False)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        tuner.search(verbose=0)
    return (time.perf_counter() - start) / len(tuner.oracle.trials)


def with_kspec(x: np.ndarray, spec_path: Path, directory: Path, trials: int, seed: int) -> float:
    """Seconds per trial of the same search through kspec's runtime."""
    from kspec.compiler.pipeline import check, expand, parse_text
    from kspec.runtime import tune

    parsed = parse_text(spec_path.read_text(), str(spec_path))
    check(expand(parsed))
    job = tune.SearchJob(spec=parsed, model="mlp", defines={}, x=x, y=x, seed=seed, out=io.StringIO())
    tuner = tune.open_tuner(job, algorithm="random", objective="val_loss", direction="min", trials=trials,
                            directory=directory / "kspec", seed=seed)
    start = time.perf_counter()
    tune.search(tuner)
    return (time.perf_counter() - start) / len(tuner.oracle.trials)


def whole_command(spec_path: Path, data: Path, directory: Path, trials: int, seed: int) -> float:
    """Seconds per trial of the whole ``kspec tune`` command, in process."""
    from kspec.cli import main

    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["tune", str(spec_path), "--data", str(data), "--trials", str(trials), "--seed", str(seed),
                     "--dir", str(directory / "cmd"), "-o", str(directory / "best.keras"),
                     "--best-spec", str(directory / "best.kspec")])
    if code != 0:
        raise SystemExit(f"kspec tune exited with {code}")
    return (time.perf_counter() - start) / trials


def build_times(spec_path: Path, reps: int) -> tuple[float, float]:
    """Seconds per trial spent building the model: kspec's part of a trial
    (the spec expanded and checked twice, for build and fit, the train
    section read, the model lowered and compiled) against building and
    compiling the same model by hand; the rest of a trial (KerasTuner,
    ``fit``) is the same code either way."""
    import keras

    from kspec.compiler.pipeline import check, expand, parse_text
    from kspec.compiler.sections import train_section
    from kspec.runtime import tune
    from kspec.runtime.build import build_model

    parsed = parse_text(spec_path.read_text(), str(spec_path))
    check(expand(parsed))
    job = tune.SearchJob(spec=parsed, model="mlp", defines={}, x=None, y=None)
    values = {"units": 32, "lr": 0.01}
    start = time.perf_counter()
    for _ in range(reps):
        build_model(job.spec_for(values), "mlp")
        train_section(job.spec_for(values), "mlp")
    ours = (time.perf_counter() - start) / reps
    start = time.perf_counter()
    for _ in range(reps):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(32), keras.layers.Dense(4)])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    return ours, (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from kspec.runtime._quiet import backend_name, import_keras

    import_keras()
    x = np.random.default_rng(0).normal(size=(512, 4)).astype("float32")
    times: dict[str, list[float]] = {"hand": [], "kspec": [], "command": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec_path = root / "mlp.kspec"
        spec_path.write_text(SPEC)
        data = root / "d.npz"
        np.savez(data, x=x, y=x)
        for run in range(args.runs + 1):  # run 0 warms up
            seed = 100 + run
            order = list(times)[run % 3:] + list(times)[:run % 3]  # each kind goes first in turn
            for kind in order:
                where = root / f"{kind}{run}"
                if kind == "hand":
                    seconds = by_hand(x, where, args.trials, seed)
                elif kind == "kspec":
                    seconds = with_kspec(x, spec_path, where, args.trials, seed)
                else:
                    seconds = whole_command(spec_path, data, where, args.trials, seed)
                if run:
                    times[kind].append(seconds)
        build_ours, build_hand = build_times(spec_path, 20)
    h, k, c = (statistics.median(times[kind]) for kind in ("hand", "kspec", "command"))
    print(f"backend {backend_name()}, {args.trials} trials per search, median of {args.runs} runs")
    print(f"KerasTuner by hand:        {h:.3f} s per trial")
    print(f"kspec runtime (search):    {k:.3f} s per trial  ratio {k / h:.2f}  overhead {k - h:+.3f} s")
    print(f"kspec tune (whole command): {c:.3f} s per trial  ratio {c / h:.2f}  overhead {c - h:+.3f} s")
    print(f"building the model per trial: kspec {build_ours * 1000:.1f} ms, by hand {build_hand * 1000:.1f} ms "
          f"(kspec's own work: {(build_ours - build_hand) * 1000:+.1f} ms per trial)")


if __name__ == "__main__":
    main()
