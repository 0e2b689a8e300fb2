"""Hyperparameter search with KerasTuner over a spec's search spaces.

Each parameter with a search space (``param units: int = 64 in [32, 64]``)
becomes one KerasTuner hyperparameter (``hp.Choice``, ``hp.Int``,
``hp.Float``, ``hp.Boolean``); a trial builds the spec with the values the
tuner chose exactly as ``-D`` does (expand, check, lower, compile with the
spec's ``compile`` section) and trains it with the spec's ``train`` section
(epochs, batch size, callbacks, validation). The search itself, its
resumable directory and its distributed mode (``KERASTUNER_TUNER_ID``,
``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``) are KerasTuner's own.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from kspec.compiler.pipeline import check, expand
from kspec.compiler.sections import train_section
from kspec.compiler.spaces import spaced_params, value_type
from kspec.runtime import KerasUnavailable
from kspec.runtime._quiet import import_keras
from kspec.spec import ir
from kspec.spec.diagnostics import KspecError

__all__ = ["ALGORITHMS", "SearchJob", "TrialRow", "declare", "is_chief", "is_worker", "open_tuner", "trial_rows"]

#: The search algorithms ``--algorithm`` takes, and the KerasTuner class of each.
ALGORITHMS = {"random": "RandomSearch", "bayesian": "BayesianOptimization", "hyperband": "Hyperband"}

#: The file in each trial's directory where kspec notes how many epochs it ran.
_TRIAL_NOTE = "kspec_trial.json"


def is_chief() -> bool:
    """Whether this process is KerasTuner's chief (it runs the oracle, no trials)."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")


def is_worker() -> bool:
    """Whether this process is a KerasTuner worker that asks a chief for trials."""
    return "KERASTUNER_ORACLE_IP" in os.environ and not is_chief()


@lru_cache(maxsize=1)
def _kt() -> Any:
    """``keras_tuner``, imported after Keras (quietly, on the backend in use)."""
    import_keras()
    try:
        return importlib.import_module("keras_tuner")
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "keras_tuner":
            raise
        raise KerasUnavailable("kspec tune needs KerasTuner, which is not installed: pip install keras-tuner") \
            from None


def declare(hp: Any, param: ir.Param) -> Any:
    """Register ``param``'s search space with KerasTuner's ``hp`` and return
    the value it chose for this trial (the parameter's type)."""
    space = param.space
    assert space is not None
    kind = value_type(param)
    default = param.default if param.has_default and isinstance(param.default, (bool, int, float, str)) else None
    if space.kind == "choice":
        values = [float(v) if kind == "float" else v for v in space.values]
        if kind == "bool" and sorted(values) == [False, True]:
            return hp.Boolean(param.name, default=bool(default) if default is not None else False)
        return hp.Choice(param.name, values, default=float(default) if kind == "float" and default is not None
                         else default)
    low, high, *rest = space.values
    step = rest[0] if rest else None
    sampling = "log" if space.kind == "log" else "linear"
    if kind == "int":
        return hp.Int(param.name, int(low), int(high), step=int(step) if step is not None else None,
                      sampling=sampling, default=default)
    return hp.Float(param.name, float(low), float(high), step=float(step) if step is not None else None,
                    sampling=sampling, default=float(default) if default is not None else None)


@dataclass
class SearchJob:
    """Everything a search needs: the parsed (unexpanded) spec, which model,
    the ``-D`` values that stay fixed, the data, and how to train."""

    spec: ir.Spec
    model: str
    defines: dict[str, Any]
    x: Any
    y: Any
    validation: Any = None
    seed: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    #: Where progress lines go (KerasTuner's own prints are swallowed).
    out: TextIO = field(default_factory=lambda: sys.stdout)
    #: How many trials this process ran.
    ran: int = 0

    def spec_for(self, values: Mapping[str, Any]) -> ir.Spec:
        """The expanded, checked spec with ``values`` for the spaced parameters."""
        return check(expand(self.spec, {**self.defines, **values}))

    def values_of(self, hp: Any) -> dict[str, Any]:
        """The spaced parameters' values registered with (or chosen by) ``hp``."""
        return {p.name: declare(hp, p) for p in spaced_params(self.spec) if p.name not in self.defines}


def _hypermodel(job: SearchJob) -> Any:
    """A ``keras_tuner.HyperModel`` that builds and trains ``job``'s spec."""
    kt = _kt()
    keras = import_keras()

    base: Any = kt.HyperModel

    class SpecHyperModel(base):  # type: ignore[misc]  # keras_tuner is untyped
        """A trial: the spec built with the tuner's values, trained as its train section says."""

        def build(self, hp: Any) -> Any:
            from kspec.runtime.build import build_model
            from kspec.runtime.training import seed_everything

            try:
                spec = job.spec_for(job.values_of(hp))
            except KspecError as exc:  # a value the corner checks could not foresee
                raise kt.errors.FailedTrialError(exc.diagnostics[0].message) from None
            seed_everything(job.seed)
            return build_model(spec, job.model)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            from kspec.runtime.training import fit, make_callbacks

            spec = job.spec_for(job.values_of(hp))
            settings = train_section(spec, job.model)
            section = next((s for s in spec.train if s.model == job.model), None)
            epochs = int(kwargs.get("epochs") or job.epochs or settings.epochs)  # Hyperband says how many
            epochs -= int(kwargs.get("initial_epoch") or 0)
            updates: dict[str, Any] = {"epochs": max(1, epochs)}
            if job.batch_size is not None:
                updates["batch_size"] = job.batch_size
            if job.validation is not None:
                updates["validation_split"] = 0.0
            settings = settings.model_copy(update=updates)
            callbacks = [*make_callbacks(settings, section), *kwargs.get("callbacks", [])]
            result = fit(model, job.x, job.y, settings, validation=job.validation, callbacks=callbacks, verbose=0,
                         span=section.span if section else None)
            if result.interrupted:
                raise KeyboardInterrupt
            if result.diverged is not None:
                raise kt.errors.FailedTrialError(f"the loss became {result.diverged}")
            history = keras.callbacks.History()
            history.history = result.history
            return history

    return SpecHyperModel()


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """KerasTuner prints its progress (trial headers, tables, "Reloading
    Tuner"); kspec reports trials itself, so that output is swallowed.
    Warnings go to stderr and are kept."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _tuner_class(algorithm: str, job: SearchJob) -> Any:
    """The KerasTuner class for ``algorithm``, which also reports each trial
    as it ends and notes how many epochs it ran."""
    base: Any = getattr(_kt(), ALGORITHMS[algorithm])

    class Tuner(base):  # type: ignore[misc]  # keras_tuner is untyped
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            results = super().run_trial(trial, *args, **kwargs)
            histories = results if isinstance(results, list) else [results]
            epochs = max((len(v) for h in histories for v in getattr(h, "history", {}).values()), default=0)
            note = Path(self.get_trial_dir(trial.trial_id)) / _TRIAL_NOTE
            note.parent.mkdir(parents=True, exist_ok=True)
            note.write_text(json.dumps({"epochs": epochs}), encoding="utf-8")
            job.ran += 1
            values = ", ".join(f"{k}={_show(v)}" for k, v in _values(trial).items())
            print(f"trial {trial.trial_id}: {values} ({epochs} epoch(s), {time.perf_counter() - start:.1f} s)",
                  file=job.out, flush=True)
            return results

    return Tuner


def open_tuner(job: SearchJob, *, algorithm: str, objective: str, direction: str, trials: int, directory: Path,
               seed: int | None) -> Any:
    """A KerasTuner tuner over ``job``'s spaces, stored in ``directory``;
    an existing search there is resumed (never overwritten)."""
    kt = _kt()
    common: dict[str, Any] = {
        "hypermodel": _hypermodel(job), "objective": kt.Objective(objective, direction), "seed": seed,
        "directory": str(directory.parent), "project_name": directory.name, "overwrite": False,
    }
    cls = _tuner_class(algorithm, job)
    with _quiet_stdout():
        try:
            if algorithm == "hyperband":
                settings = train_section(job.spec_for({}), job.model)
                tuner = cls(max_epochs=max(2, job.epochs or settings.epochs), hyperband_iterations=1, **common)
                tuner.oracle.max_trials = trials
            else:
                tuner = cls(max_trials=trials, **common)
        except ImportError as exc:  # BayesianOptimization needs scikit-learn
            if "scikit-learn" not in str(exc) and "sklearn" not in str(exc):
                raise
            raise KerasUnavailable(f"--algorithm {algorithm} needs scikit-learn, which is not installed: "
                                   "pip install 'kspec[tune]'") from None
    return tuner


def search(tuner: Any) -> None:
    """Run (or resume) the search; KerasTuner's prints are swallowed."""
    with _quiet_stdout():
        tuner.search(verbose=0)


@dataclass
class TrialRow:
    """One trial of a search, for the report."""

    trial_id: str
    values: dict[str, Any]
    score: float | None
    epochs: int | None
    status: str
    message: str = ""


def _values(trial: Any) -> dict[str, Any]:
    return {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}


def trial_rows(tuner: Any) -> list[TrialRow]:
    """Every trial the search holds, in the order they were created."""
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        note = Path(tuner.get_trial_dir(trial_id)) / _TRIAL_NOTE
        epochs: int | None = None
        if note.is_file():
            with contextlib.suppress(OSError, ValueError, KeyError):
                epochs = int(json.loads(note.read_text(encoding="utf-8"))["epochs"])
        message = (trial.message or "").strip().splitlines()
        reason = message[-1].split(": ", 1)[-1] if message else ""
        rows.append(TrialRow(trial_id, _values(trial), trial.score, epochs, str(trial.status).lower(), reason))
    return rows


def best_trial(tuner: Any) -> TrialRow | None:
    """The best completed trial, or ``None``."""
    best = tuner.oracle.get_best_trials(1)
    if not best:
        return None
    return next((r for r in trial_rows(tuner) if r.trial_id == best[0].trial_id), None)


def best_model(tuner: Any) -> Any:
    """The best trial's model, with the weights of its best epoch."""
    import warnings

    with _quiet_stdout(), warnings.catch_warnings():
        # A checkpoint holds weights only; a freshly compiled optimizer has nothing to restore.
        warnings.filterwarnings("ignore", message=r"Skipping variable loading for optimizer")
        return tuner.get_best_models(1)[0]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


#: For tests and benchmarks: how one value is shown in progress lines.
show_value: Callable[[Any], str] = _show
