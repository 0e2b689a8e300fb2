"""Training a built model as its spec says: compile, callbacks, fit, history.

- :func:`compile_model` applies checked ``compile`` settings (optimizer with
  learning-rate schedule, losses, loss weights and metrics, per output where
  given) to a built model. ``rmse`` is kspec's registered
  :class:`~kspec.runtime.losses.RootMeanSquaredError`, so the saved model
  reloads compiled.
- :func:`fit` builds the callbacks, runs ``model.fit`` with Keras's
  progress bar, stops cleanly on Ctrl-C (the best checkpoint written so far
  stays), and :func:`write_history` saves the history as JSON, CSV and a PNG
  plot of every loss and metric per epoch.

Keras rejecting an argument (``Adam(learning_rat=...)``) becomes a located
:class:`Diagnostic` at the setting that holds it.
"""

from __future__ import annotations

import csv
import importlib.util
import inspect
import io
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from kspec._atomic import atomic_path, write_text_atomic
from kspec.compiler.naming import snake
from kspec.runtime._quiet import import_keras
from kspec.runtime.lower import clean_keras_message
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.ir import Span
from kspec.spec.settings import CompileSettings, TrainSettings

__all__ = ["FitResult", "compile_model", "fit", "make_callbacks", "plot_history", "seed_everything", "write_history"]


@cache
def _classes(module_name: str) -> dict[str, type]:
    """Public classes of a keras submodule by class name and by snake name."""
    keras = import_keras()
    module: Any = keras
    for part in module_name.split("."):
        module = getattr(module, part)
    out: dict[str, type] = {}
    for name in dir(module):
        obj = getattr(module, name)
        if not name.startswith("_") and inspect.isclass(obj):
            out[name] = obj
            out.setdefault(snake(name), obj)
    return out


class _Resolver:
    """Turns spec values (names and :class:`ir.Call`) into Keras objects."""

    def __init__(self, span: Span | None) -> None:
        self.span = span

    def fail(self, message: str, hint: str | None = None) -> KspecError:
        return KspecError(Diagnostic("K310", message, self.span, hint))

    def construct(self, cls: Callable[..., Any], call: ir.Call, what: str) -> Any:
        args = [self.plain(a) for a in call.args]
        kwargs = {k: self.plain(v) for k, v in call.kwargs.items()}
        try:
            return cls(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise self.fail(f"cannot create {what} '{call.fn}': {clean_keras_message(exc)}",
                            _kwarg_hint(cls, kwargs)) from None

    def plain(self, value: Any) -> Any:
        if isinstance(value, ir.Call):
            schedules = _classes("optimizers.schedules")
            if value.fn in schedules:
                return self.construct(schedules[value.fn], value, "learning-rate schedule")
            raise self.fail(f"'{value.fn}(...)' is not allowed here", "only learning-rate schedules are calls")
        if isinstance(value, list):
            return [self.plain(v) for v in value]
        if isinstance(value, dict):
            return {k: self.plain(v) for k, v in value.items()}
        return value

    def optimizer(self, value: str | ir.Call) -> Any:
        classes = {k.lower(): v for k, v in _classes("optimizers").items()}
        name = value.fn if isinstance(value, ir.Call) else value
        cls = classes.get(name.lower())
        if cls is None:
            raise self.fail(f"unknown optimizer '{name}'", did_you_mean(name, classes))
        return self.construct(cls, value if isinstance(value, ir.Call) else ir.Call(fn=name), "optimizer")

    def loss(self, value: str | ir.Call | None) -> Any:
        from kspec.runtime.losses import CUSTOM_LOSSES

        if value is None:
            return None
        name = value.fn if isinstance(value, ir.Call) else value
        if name in CUSTOM_LOSSES or name == "RootMeanSquaredError":
            cls = CUSTOM_LOSSES.get(name, CUSTOM_LOSSES["rmse"])
            return self.construct(cls, value if isinstance(value, ir.Call) else ir.Call(fn=name), "loss")
        return self._keras_object(value, "losses", "loss")

    def metric(self, value: str | ir.Call) -> Any:
        if isinstance(value, str) and value in _LOSS_DEPENDENT:
            return value  # Keras picks the right accuracy / crossentropy from the loss
        return self._keras_object(value, "metrics", "metric")

    def _keras_object(self, value: str | ir.Call, module: str, what: str) -> Any:
        """A Keras loss or metric object. Names are resolved to classes here
        (``mse`` -> ``MeanSquaredError``) rather than left to Keras: the
        legacy .h5 format cannot reload some short names."""
        name = value.fn if isinstance(value, ir.Call) else value
        classes = _classes(module)
        cls = classes.get(_ALIASES.get(name, name))
        if cls is None or (module == "losses" and not issubclass(cls, import_keras().losses.Loss)):
            if isinstance(value, str):
                return value
            raise self.fail(f"'{value.fn}' takes no arguments here", "write it as a plain name, or use its class")
        call = value if isinstance(value, ir.Call) else ir.Call(fn=name)
        if module == "metrics" and "name" not in call.kwargs and not name[:1].isupper():
            call = call.model_copy(update={"kwargs": {**call.kwargs, "name": name}})  # history keys as written
        return self.construct(cls, call, what)


#: Metric names whose meaning Keras derives from the loss.
_LOSS_DEPENDENT = frozenset({"accuracy", "acc", "crossentropy", "ce"})
#: Short names -> Keras class names.
_ALIASES = {
    "mse": "MeanSquaredError", "mae": "MeanAbsoluteError", "mape": "MeanAbsolutePercentageError",
    "msle": "MeanSquaredLogarithmicError", "kld": "KLDivergence", "logcosh": "LogCosh",
    "rmse": "RootMeanSquaredError", "log_cosh": "LogCosh",
}


def _kwarg_hint(cls: Callable[..., Any], kwargs: dict[str, Any]) -> str | None:
    try:
        params = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return None
    for key in kwargs:
        if key not in params:
            return did_you_mean(key, params) or f"it accepts: {', '.join(params)}"
    return None


def _per_output(value: Any, convert: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        return {k: convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [convert(v) for v in value]
    return convert(value)


def compile_model(model: Any, settings: CompileSettings, section: ir.Section | None = None) -> Any:
    """Compile ``model`` in place with checked settings; returns it."""
    r = _Resolver(section.at("optimizer") if section else None)
    optimizer = r.optimizer(settings.optimizer)
    r.span = section.at("loss") if section else None
    loss = _per_output(settings.loss, r.loss)
    metric_lists: dict[str, Any] = {}
    for key in ("metrics", "weighted_metrics"):
        r.span = section.at(key) if section else None
        value = getattr(settings, key)
        if isinstance(value, dict):
            metric_lists[key] = {k: [r.metric(m) for m in (v if isinstance(v, list) else [v])]
                                 for k, v in value.items()}
        elif value is not None:
            metric_lists[key] = [r.metric(m) for m in value]
    try:
        model.compile(optimizer=optimizer, loss=loss, loss_weights=settings.loss_weights,
                      metrics=metric_lists.get("metrics"), weighted_metrics=metric_lists.get("weighted_metrics"),
                      run_eagerly=settings.run_eagerly, jit_compile=settings.jit_compile,
                      steps_per_execution=settings.steps_per_execution)
    except (TypeError, ValueError, KeyError) as exc:
        raise KspecError(Diagnostic("K311", f"Keras cannot compile model '{model.name}': {clean_keras_message(exc)}",
                                    section.span if section else None)) from None
    # Build the optimizer's slots now, so a model saved before training
    # reloads its optimizer state without Keras's "skipping variables" warning.
    model.optimizer.build(model.trainable_variables)
    return model


def make_callbacks(settings: TrainSettings, section: ir.Section | None = None) -> list[Any]:
    """The ``callbacks`` of a train section as Keras callback objects.

    Directories for checkpoint, TensorBoard and CSV files are created."""
    classes = _classes("callbacks")
    r = _Resolver(section.at("callbacks") if section else None)
    out = []
    for value in settings.callbacks:
        call = value if isinstance(value, ir.Call) else ir.Call(fn=value)
        if call.fn == "TensorBoard" and importlib.util.find_spec("tensorboard") is None:
            raise r.fail("the TensorBoard callback needs the 'tensorboard' package, which is not installed",
                         "pip install tensorboard")
        cb = r.construct(classes[call.fn], call, "callback")
        for attr in ("filepath", "log_dir", "filename"):
            target = getattr(cb, attr, None)
            if isinstance(target, str) and target:
                path = Path(target)
                (path if attr == "log_dir" else path.parent).mkdir(parents=True, exist_ok=True)
        out.append(cb)
    return out


def seed_everything(seed: int | None) -> None:
    """``keras.utils.set_random_seed(seed)`` (Python, NumPy and backend), if given."""
    if seed is not None:
        import_keras().utils.set_random_seed(seed)


@dataclass
class FitResult:
    """What a training run produced. ``diverged`` says where the loss became
    NaN or infinite (``"NaN in epoch 3, batch 7"``); training stopped there
    and the model's weights are not worth saving."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_run: int = 0
    interrupted: bool = False
    diverged: str | None = None


class _NonFiniteLoss(Exception):
    """Raised from a callback to end training the moment the loss stops being
    a number (before any later callback, such as a checkpoint, sees the epoch)."""


def _stop_on_nonfinite_loss() -> Any:
    """A Keras callback that raises :class:`_NonFiniteLoss` at the first batch
    whose loss is NaN or infinite, naming the epoch and batch (from 1)."""
    base: Any = import_keras().callbacks.Callback

    class StopOnNonFiniteLoss(base):  # type: ignore[misc]  # keras is untyped
        epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                what = "NaN" if math.isnan(float(loss)) else "infinite"
                raise _NonFiniteLoss(f"{what} in epoch {self.epoch + 1}, batch {batch + 1}")

    return StopOnNonFiniteLoss()


def fit(model: Any, x: Any, y: Any, settings: TrainSettings, *, validation: tuple[Any, Any] | None = None,
        callbacks: list[Any] | None = None, verbose: int | str | None = None, span: Span | None = None) -> FitResult:
    """Run ``model.fit``; Ctrl-C ends training cleanly with the history so far,
    and so does a loss that becomes NaN or infinite (``result.diverged``).

    A setting Keras refuses only once training runs (``class_weight`` on a
    model with several outputs, a callback argument checked when training
    begins) is a K312 error at ``span`` (the train section), not a crash.
    The spec's ``seed`` is applied by :func:`seed_everything` before the
    model is built (as a hand-written Keras script would), not here."""
    keras = import_keras()
    history = keras.callbacks.History()
    class_weight = ({int(k): v for k, v in settings.class_weight.items()} if settings.class_weight else None)
    result = FitResult()
    try:
        model.fit(x, y, epochs=settings.epochs, batch_size=settings.batch_size,
                  validation_split=settings.validation_split if validation is None else 0.0,
                  validation_data=validation, shuffle=settings.shuffle, class_weight=class_weight,
                  callbacks=[_stop_on_nonfinite_loss(), *(callbacks or []), history],
                  verbose=settings.verbose if verbose is None else verbose)
    except KeyboardInterrupt:
        result.interrupted = True
    except _NonFiniteLoss as exc:
        result.diverged = str(exc)
    except (ValueError, TypeError, KeyError) as exc:
        detail = clean_keras_message(exc)
        if isinstance(exc, KeyError):  # str(KeyError) is just the missing key
            detail = f"nothing given for {detail}"
        raise KspecError(Diagnostic("K312", f"Keras stopped training model '{model.name}': {detail}", span)) from None
    result.history = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    result.epochs_run = max((len(v) for v in result.history.values()), default=0)
    return result


def write_history(history: dict[str, list[float]], prefix: str | Path,
                  inputs: Iterable[str | os.PathLike[str] | None] = ()) -> list[Path]:
    """Write ``prefix.json``, ``prefix.csv`` and ``prefix.png`` (none of them
    one of ``inputs``); returns the paths."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(history)
    epochs = max((len(v) for v in history.values()), default=0)
    json_path = prefix.with_name(prefix.name + ".json")
    write_text_atomic(json_path, json.dumps({"epochs": epochs, "history": history}, indent=2) + "\n",
                      inputs=inputs)
    csv_path = prefix.with_name(prefix.name + ".csv")
    rows = io.StringIO()
    w = csv.writer(rows)
    w.writerow(["epoch", *keys])
    for i in range(epochs):
        w.writerow([i + 1, *(repr(history[k][i]) if i < len(history[k]) else "" for k in keys)])
    write_text_atomic(csv_path, rows.getvalue(), inputs=inputs)
    png_path = prefix.with_name(prefix.name + ".png")
    with atomic_path(png_path, inputs=inputs) as tmp:
        plot_history(history, tmp)
    return [json_path, csv_path, png_path]


def _groups(history: dict[str, list[float]]) -> list[str]:
    """Base metric names (``loss``, ``mae`` ...), each plotted with its ``val_`` twin."""
    bases = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    bases += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]
    return sorted(set(bases), key=lambda k: (k != "loss", k))


def plot_history(history: dict[str, list[float]], path: str | Path) -> Path:
    """A PNG with one panel per loss/metric, training and validation curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(history) or ["loss"]
    cols = min(3, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, groups, strict=False):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = history.get(key)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(str(path), dpi=80)
    plt.close(fig)
    return Path(path)
