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

import contextlib
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

__all__ = ["FitResult", "Placement", "batch_stream", "compile_model", "fit", "image_stream", "make_callbacks",
           "plot_history", "seed_everything", "start_distribution", "write_history"]


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
            metric_lists[key] = {k: None if v is None else [r.metric(m) for m in (v if isinstance(v, list) else [v])]
                                 for k, v in value.items()}
        elif value is not None:  # entries: a metric, or (one per output) a list of metrics or none
            metric_lists[key] = [None if m is None else [r.metric(x) for x in m] if isinstance(m, list)
                                 else r.metric(m) for m in value]
    try:
        model.compile(optimizer=optimizer, loss=loss, loss_weights=settings.loss_weights,
                      metrics=metric_lists.get("metrics"), weighted_metrics=metric_lists.get("weighted_metrics"),
                      run_eagerly=settings.run_eagerly, jit_compile=settings.jit_compile,
                      steps_per_execution=settings.steps_per_execution)
    except (TypeError, ValueError, KeyError) as exc:
        raise KspecError(Diagnostic("K311", f"Keras cannot compile model '{model.name}': {clean_keras_message(exc)}",
                                    section.span if section else None)) from None
    if settings.jit_compile == "auto":
        _save_jit_compile_as_auto(model)
    # Build the optimizer's slots now, so a model saved before training
    # reloads its optimizer state without Keras's "skipping variables" warning.
    model.optimizer.build(model.trainable_variables)
    return model


def _save_jit_compile_as_auto(model: Any) -> None:
    """Keras saves ``jit_compile="auto"`` as what it resolved to on the
    backend in use (XLA on JAX, eager on PyTorch); the saved model keeps the
    spec's ``"auto"`` instead, so it reloads compiled the same way on any
    backend (each resolves "auto" its own way)."""
    resolved = model.get_compile_config

    def get_compile_config() -> Any:
        config = resolved()
        if isinstance(config, dict) and "jit_compile" in config:
            config = {**config, "jit_compile": "auto"}
        return config

    model.get_compile_config = get_compile_config


#: What ``BackupAndRestore`` writes in its directory (and deletes with it when training ends).
_BACKUP_FILES = frozenset({"latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp",
                           "training_metadata.json.bkp"})


def _spec_paths(call: ir.Call, section: ir.Section | None, r: _Resolver) -> ir.Call:
    """A callback call whose path (``log_dir``, ``filepath`` ...) is resolved
    against the spec's directory, where the check pass confined it. A
    ``BackupAndRestore`` directory (which Keras deletes when training ends)
    must be new, empty, or hold only an earlier backup; anything else is
    refused, so kspec never deletes what it did not create."""
    from kspec.compiler.sections import CALLBACK_PATHS, callback_path, from_file
    from kspec.spec.source import confined_path

    value = callback_path(call)
    if value is None or section is None or not from_file(section.span):
        return call
    name = CALLBACK_PATHS[call.fn]
    try:
        path = confined_path(value, call.key_spans.get(name) or call.span or section.at("callbacks"))
    except ValueError as exc:  # the check pass says so first; a spec built by hand may not have run it
        raise r.fail(f"{call.fn}: {exc}") from None
    if call.fn == "BackupAndRestore" and path.exists():
        kept = sorted(p.name for p in path.iterdir()) if path.is_dir() else [path.name]
        if not path.is_dir() or set(kept) - _BACKUP_FILES:
            what = "is not a directory" if not path.is_dir() else "holds files kspec did not write: " + ", ".join(
                kept[:3]) + (" ..." if len(kept) > 3 else "")
            raise KspecError(Diagnostic(
                "K312", f"BackupAndRestore would delete '{value}' when training ends, and it {what}",
                call.key_spans.get(name) or call.span or section.at("callbacks"),
                "give a backup directory that does not exist yet (or is empty)"))
    if name in call.kwargs:
        return call.model_copy(update={"kwargs": {**call.kwargs, name: str(path)}})
    return call.model_copy(update={"args": [str(path), *call.args[1:]]})


def make_callbacks(settings: TrainSettings, section: ir.Section | None = None) -> list[Any]:
    """The ``callbacks`` of a train section as Keras callback objects, their
    paths relative to the spec's directory (:func:`_spec_paths`).

    Directories for checkpoint, TensorBoard and CSV files are created."""
    classes = _classes("callbacks")
    r = _Resolver(section.at("callbacks") if section else None)
    out = []
    for value in settings.callbacks:
        call = _spec_paths(value if isinstance(value, ir.Call) else ir.Call(fn=value), section, r)
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


@dataclass
class Placement:
    """Where one training process runs, from the train section's
    ``distribution`` and ``mixed_precision`` and the command line's process
    settings: ``scope()`` is entered to build and compile the model (a
    ``tf.distribute`` strategy's scope on TensorFlow; nothing on JAX, whose
    ``keras.distribution`` is set globally), ``replicas`` the number of model
    copies a global batch is split over, and ``process_id`` /
    ``num_processes`` this process among those of a multi-process run."""

    scope: Callable[[], Any] = contextlib.nullcontext
    replicas: int = 1
    process_id: int = 0
    num_processes: int = 1
    strategy: str = "single device"
    #: The ``tf.distribute.MirroredStrategy`` that splits the batches over local devices (TensorFlow).
    mirrored: Any = None

    def arrays(self, x: Any, y: Any, batch_size: int | None, *, shuffle: bool = False,
               seed: int | None = None, class_weight: Any = None) -> tuple[Any, Any]:
        """In-memory arrays ``(x, y)`` as ``model.fit`` should be given them:
        as they are, except under a ``MirroredStrategy``.

        There each device gets its share of each batch (a contiguous slice,
        as the strategy splits a batch) from a ``tf.data`` pipeline of its
        own with tf.data's autotuning off, so the batches are those Keras
        would make (in order, or shuffled again each epoch, the same order
        on every device). The arrays become tensors once; each pipeline
        shuffles row numbers and gathers its rows, as Keras does. Given
        arrays, Keras feeds the devices through per-device iterators whose
        autotuning thread can hold up their deletion at the end of every
        epoch, for up to a minute. The rows
        are a multiple of the replicas (:func:`kspec.commands.train`), so
        every batch splits evenly. With a ``class_weight`` (which Keras
        applies to arrays), they are left as they are."""
        if self.mirrored is None or class_weight:
            return x, y
        import numpy as np
        import tensorflow as tf

        def tensors(value: Any) -> Any:
            return tf.nest.map_structure(tf.convert_to_tensor, tuple(value) if isinstance(value, list) else value)

        size, replicas = batch_size or 32, self.replicas
        # One order for every device, drawn once (from ``seed`` if given).
        order_seed = int(np.random.default_rng(seed).integers(1 << 31)) if shuffle else None
        with tf.device("/cpu:0"):  # once, shared by every device's pipeline
            data = (tensors(x), tensors(y))
        rows = int(tf.nest.flatten(data)[0].shape[0])

        def share(context: Any) -> Any:
            part = context.input_pipeline_id

            def gather(batch: Any) -> Any:  # the rows of this device's share of one batch
                each = tf.shape(batch)[0] // replicas
                mine = batch[part * each:(part + 1) * each]
                return tf.nest.map_structure(lambda t: tf.gather(t, mine), data)

            order = tf.data.Dataset.range(rows)  # row numbers, shuffled, as Keras shuffles arrays
            if shuffle:
                order = order.shuffle(rows, seed=order_seed, reshuffle_each_iteration=True)
            batches = order.batch(size).map(gather).prefetch(2)
            options = tf.data.Options()
            options.autotune.enabled = False
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
            return batches.with_options(options)

        per_replica = tf.distribute.InputOptions(
            experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA,
            experimental_fetch_to_device=False)
        return self.mirrored.distribute_datasets_from_function(share, per_replica), None

    def global_batch(self, settings: TrainSettings) -> int | None:
        """The batch of one training step over every device of every
        process: ``batch_size`` as written, or ``batch_size_per_device``
        times the number of replicas."""
        if settings.batch_size_per_device is not None:
            return settings.batch_size_per_device * self.replicas
        return settings.batch_size

    def shard(self, rows: int) -> slice:
        """The rows of the training data this process feeds (every
        ``num_processes``-th row from its id; all rows with one process)."""
        return slice(self.process_id, rows, self.num_processes)


def _refuse(message: str, span: Span | None, hint: str | None = None) -> KspecError:
    return KspecError(Diagnostic("K312", message, span, hint))


def start_distribution(settings: TrainSettings, *, coordinator: str | None = None, num_processes: int = 1,
                       process_id: int = 0, span: Span | None = None) -> Placement:
    """Set up mixed precision and distribution before the model is built.

    - ``mixed_precision``: ``keras.mixed_precision.set_dtype_policy``.
    - a multi-process run (``coordinator``, JAX): ``keras.distribution.initialize``
      starts JAX's distributed runtime; on TensorFlow the workers come from
      ``TF_CONFIG``, as ``tf.distribute`` reads it.
    - ``distribution = "data_parallel"``: ``keras.distribution.DataParallel``
      over every device on JAX, ``tf.distribute.MirroredStrategy`` over the
      local devices on TensorFlow (``MultiWorkerMirroredStrategy`` when
      ``TF_CONFIG`` names several workers).
    - ``distribution = "model_parallel"`` (JAX): a ``DeviceMesh`` of axes
      ``batch`` x ``model`` (``model_devices`` wide) and a ``LayoutMap`` from
      the section's ``layout`` (variable-path pattern -> one axis name or
      none per dimension).

    A setting the backend cannot honour is a K312 error at ``span``."""
    keras = import_keras()
    backend = keras.backend.backend()
    if settings.mixed_precision is not None:
        keras.mixed_precision.set_dtype_policy(settings.mixed_precision)
    placement = Placement(process_id=process_id, num_processes=num_processes)
    if coordinator is not None:
        if backend != "jax":
            raise _refuse(f"--coordinator starts JAX's distributed runtime; the {backend} backend has its own "
                          "launcher", span, "on TensorFlow, describe the workers in TF_CONFIG" if backend ==
                          "tensorflow" else "train on several processes with the JAX or TensorFlow backend")
        if settings.distribution is None:
            raise _refuse("several processes need a 'distribution' in the train section", span,
                          'add distribution = "data_parallel"')
        keras.distribution.initialize(job_addresses=coordinator, num_processes=num_processes,
                                      process_id=process_id)
    if settings.distribution is None:
        return placement
    if backend == "jax":
        devices = keras.distribution.list_devices()
        if settings.distribution == "data_parallel":
            # kspec gives each process its own rows (Placement.shard), so Keras shards nothing again.
            keras.distribution.set_distribution(keras.distribution.DataParallel(
                devices=devices, auto_shard_dataset=coordinator is None))
            placement.replicas, placement.strategy = len(devices), f"data parallel over {len(devices)} devices"
        else:
            placement.replicas = _model_parallel(keras, settings, devices, span, coordinator is not None)
            placement.strategy = (f"model parallel over {len(devices)} devices ({placement.replicas} x "
                                  f"{len(devices) // placement.replicas})")
        if coordinator is not None:
            placement.strategy += f", process {process_id} of {num_processes}"
        return placement
    if backend == "tensorflow" and settings.distribution == "data_parallel":
        import tensorflow as tf

        if _tf_workers() > 1:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            placement.process_id, placement.num_processes = _tf_task_index(), _tf_workers()
        else:
            gpus = tf.config.list_logical_devices("GPU")
            strategy = tf.distribute.MirroredStrategy([d.name for d in gpus or tf.config.list_logical_devices("CPU")])
        placement.scope = strategy.scope
        if isinstance(strategy, tf.distribute.MirroredStrategy):
            placement.mirrored = strategy
        placement.replicas = int(strategy.num_replicas_in_sync)
        placement.strategy = f"{type(strategy).__name__} over {placement.replicas} devices"
        return placement
    raise _refuse(f"distribution = {settings.distribution!r} is not available on the {backend} backend", span,
                  "model parallelism needs the JAX backend; data parallelism JAX or TensorFlow"
                  if backend != "torch" else "train distributed with the JAX or TensorFlow backend")


def _model_parallel(keras: Any, settings: TrainSettings, devices: list[Any], span: Span | None,
                    sharded: bool) -> int:
    """Set a ``ModelParallel`` distribution; returns the size of the batch axis."""
    width = settings.model_devices or len(devices)
    if len(devices) % width:
        raise _refuse(f"model_devices = {width} does not divide the {len(devices)} devices", span,
                      f"give a divisor of {len(devices)}")
    dist = keras.distribution
    mesh = dist.DeviceMesh(shape=(len(devices) // width, width), axis_names=["batch", "model"], devices=devices)
    layout_map = dist.LayoutMap(mesh)
    for pattern, axes in (settings.layout or {}).items():
        layout_map[pattern] = tuple(axes)
    dist.set_distribution(dist.ModelParallel(layout_map=layout_map, batch_dim_name="batch",
                                             auto_shard_dataset=not sharded))
    return len(devices) // width


def _tf_config() -> dict[str, Any]:
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def _tf_workers() -> int:
    """How many workers ``TF_CONFIG`` names (chief included); 1 without it."""
    cluster = _tf_config().get("cluster", {})
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker")) or 1


def _tf_task_index() -> int:
    task = _tf_config().get("task", {})
    return int(task.get("index", 0)) + (1 if task.get("type") == "worker" and "chief" in
                                        _tf_config().get("cluster", {}) else 0)


def batch_stream(data: Any, batch_size: int | None, *, shuffle: bool = False, seed: int | None = None,
                 targets: bool = True) -> Any:
    """A ``keras.utils.PyDataset`` over a :class:`~kspec.runtime.data.Dataset`
    whose arrays stay on disk: each batch is read when Keras asks for it
    (``batch_size`` rows, 32 when not given), so memory holds a few batches,
    never the data. ``shuffle`` visits the batches in a new random order each
    epoch (rows within a batch stay together, which keeps reads sequential)."""
    import numpy as np

    base: Any = import_keras().utils.PyDataset
    size = batch_size or 32
    rows: int = data.rows
    count = math.ceil(rows / size)

    def one(arrays: dict[str, Any]) -> Any:
        return next(iter(arrays.values())) if len(arrays) == 1 else arrays

    class BatchStream(base):  # type: ignore[misc]  # keras is untyped
        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(count) if shuffle else np.arange(count)

        def __len__(self) -> int:
            return count

        def __getitem__(self, i: int) -> Any:
            start = int(self.order[i]) * size
            x = one(data.batch(data.x, start, start + size))
            return (x, one(data.batch(data.y, start, start + size))) if targets else (x,)

        def on_epoch_end(self) -> None:
            if shuffle:
                self.order = self.rng.permutation(count)

    return BatchStream()


def image_stream(folder: Any, batch_size: int | None, *, shuffle: bool = False, seed: int | None = None,
                 validation_split: float = 0.0, replicas: int = 1) -> tuple[Any, Any]:
    """The images of a checked :class:`~kspec.runtime.data.ImageFolder` as
    ``keras.utils.image_dataset_from_directory`` streams them (decoded a
    batch at a time, never all in memory), with the folder's image size,
    color mode, class names and label mode, ``batch_size`` images per batch
    (32 when not given), and with targets unless its label mode is None.
    With ``validation_split``, the utility's own split (``subset="both"``,
    the same ``seed`` for both parts; one is drawn when none is given) makes
    the second part, else it is None. With several ``replicas`` every batch
    is full, so it splits evenly over them (at most a batch less is seen).

    The utility returns a ``tf.data.Dataset`` on every backend, and
    ``model.fit`` takes one on JAX and PyTorch too; it needs TensorFlow.
    Where TensorFlow is not installed (JAX or PyTorch alone), the images
    are read with Pillow instead, by the same conventions
    (:func:`kspec.runtime.images.pillow_stream`)."""
    import numpy as np

    keras = import_keras()
    if validation_split and seed is None:
        seed = int(np.random.default_rng().integers(1 << 31))  # one seed, so both parts split the same listing
    size = batch_size or 32
    if importlib.util.find_spec("tensorflow") is None:
        from kspec.runtime.images import pillow_stream

        return pillow_stream(folder, size, shuffle=shuffle, seed=seed, validation_split=validation_split,
                             drop_remainder=replicas > 1)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the utility prints "Using N files for training."
            parts = keras.utils.image_dataset_from_directory(
                str(folder.path), labels="inferred" if folder.label_mode else None, label_mode=folder.label_mode,
                class_names=list(folder.classes) if folder.label_mode else None, color_mode=folder.color_mode,
                batch_size=size, image_size=folder.image_size, shuffle=shuffle, seed=seed,
                validation_split=validation_split or None, subset="both" if validation_split else None,
                verbose=False)
    except ValueError as exc:  # a split that leaves one part without images
        raise KspecError(Diagnostic("K401", f"{folder.path}: {clean_keras_message(exc)}", None)) from None
    train, validation = parts if validation_split else (parts, None)
    if replicas > 1:
        train = train.unbatch().batch(size, drop_remainder=True)
        validation = None if validation is None else validation.unbatch().batch(size, drop_remainder=True)
    return train, validation


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
    images = hasattr(x, "element_spec")  # a tf.data.Dataset (image_stream): shuffled by the dataset itself
    streamed = images or isinstance(x, keras.utils.PyDataset)  # batches come from the stream (see batch_stream)
    try:
        model.fit(x, y, epochs=settings.epochs, batch_size=None if streamed else settings.batch_size,
                  validation_split=settings.validation_split if validation is None and not streamed else 0.0,
                  validation_data=validation, shuffle=settings.shuffle and not images, class_weight=class_weight,
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
