"""Validation of ``compile`` and ``train`` sections (no keras import).

A :class:`~kspec.spec.ir.Section` holds plain values; this module checks
them and turns them into typed settings:

``compile`` (one per model)::

    optimizer:    adam | {fn: Adam, kwargs: {learning_rate: 0.001}}
                  (learning_rate may itself be a schedule call, e.g.
                  {fn: ExponentialDecay, kwargs: {initial_learning_rate: 0.01, decay_steps: 100, decay_rate: 0.9}})
    loss:         mse | {fn: Huber, kwargs: {delta: 2.0}} | {out_a: mse, out_b: binary_crossentropy}
    loss_weights: {out_a: 1.0, out_b: 0.5}   (or a list, one per output)
    metrics:      [mae, {fn: top_k_categorical_accuracy, kwargs: {k: 3}}] | {out_a: [mae], out_b: [accuracy]}
    weighted_metrics, run_eagerly, jit_compile, steps_per_execution

``train`` (one per model)::

    epochs: 10            batch_size: 32         shuffle: true        seed: 1
    validation_split: 0.2 | validation_data: val.npz
    class_weight: {0: 1.0, 1: 3.0}
    callbacks: [{fn: EarlyStopping, kwargs: {monitor: val_loss, patience: 3}},
                {fn: ModelCheckpoint, kwargs: {filepath: best.keras, save_best_only: true}},
                {fn: TensorBoard, kwargs: {log_dir: logs}}, CSVLogger(...), ReduceLROnPlateau(...)]
    history: run/history  (prefix of history.json / .csv / .png; default: beside the saved model)
    data:                 (CSV column mapping; see :class:`DataMapping`)
      inputs:  {x: [a, b, c]}     outputs: {y: target}     delimiter: ","     header: true

Every problem becomes a located :class:`Diagnostic` with a suggestion for
misspelled names. Name lists are static (kspec never imports keras to check
a spec); a test compares them with the installed Keras.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kspec.compiler.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec import ir
from kspec.spec.ir import Span

__all__ = [
    "CALLBACKS",
    "LOSSES",
    "METRICS",
    "OPTIMIZERS",
    "SCHEDULES",
    "CompileSettings",
    "DataMapping",
    "TrainSettings",
    "check_compile",
    "check_sections",
    "check_train",
    "compile_section",
    "output_names",
    "train_section",
]

#: ``keras.optimizers`` classes (a lower-case name such as ``adam`` works too).
OPTIMIZERS: tuple[str, ...] = (
    "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lamb", "Lion",
    "Muon", "Nadam", "RMSprop", "SGD", "ScheduleFreeAdamW",
)
#: ``keras.optimizers.schedules`` classes, usable as ``learning_rate``.
SCHEDULES: tuple[str, ...] = (
    "CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay",
    "PiecewiseConstantDecay", "PolynomialDecay",
)
_LOSS_CLASSES = (
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CTC", "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy", "CategoricalHinge", "Circle",
    "CosineSimilarity", "Dice", "Hinge", "Huber", "KLDivergence", "LogCosh", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
    "SparseCategoricalCrossentropy", "SquaredHinge", "Tversky",
)
_LOSS_FUNCTIONS = (
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_generalized_cross_entropy", "categorical_hinge", "circle",
    "cosine_similarity", "ctc", "dice", "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error", "poisson",
    "sparse_categorical_crossentropy", "squared_hinge", "tversky",
)
#: Every loss name a spec may use: Keras's classes and functions, the usual
#: short names, and kspec's own ``rmse`` (``RootMeanSquaredError``).
LOSSES: frozenset[str] = frozenset(
    _LOSS_CLASSES + _LOSS_FUNCTIONS
    + ("mse", "mae", "mape", "msle", "kld", "logcosh", "rmse", "root_mean_squared_error", "RootMeanSquaredError")
)
_METRIC_CLASSES = (
    "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "BinaryIoU", "CategoricalAccuracy",
    "CategoricalCrossentropy", "CategoricalHinge", "ConcordanceCorrelation", "CosineSimilarity", "F1Score",
    "FBetaScore", "FalseNegatives", "FalsePositives", "Hinge", "IoU", "KLDivergence", "LogCoshError", "Mean",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanIoU", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "OneHotIoU", "OneHotMeanIoU", "PearsonCorrelation", "Poisson", "Precision",
    "PrecisionAtRecall", "R2Score", "Recall", "RecallAtPrecision", "RootMeanSquaredError",
    "SensitivityAtSpecificity", "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy", "SpecificityAtSensitivity", "SquaredHinge", "Sum", "TopKCategoricalAccuracy",
    "TrueNegatives", "TruePositives",
)
_METRIC_FUNCTIONS = (
    "binary_accuracy", "binary_crossentropy", "binary_focal_crossentropy", "categorical_accuracy",
    "categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge", "concordance_correlation",
    "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_error", "mean_squared_logarithmic_error", "pearson_correlation", "poisson",
    "sparse_categorical_accuracy", "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy",
    "squared_hinge", "top_k_categorical_accuracy",
)
#: Every metric name a spec may use (plus snake-case forms of the classes,
#: e.g. ``auc``, ``precision``, ``root_mean_squared_error``).
METRICS: frozenset[str] = frozenset(
    _METRIC_CLASSES + _METRIC_FUNCTIONS
    + ("accuracy", "acc", "mse", "mae", "mape", "msle", "rmse", "auc", "precision", "recall", "f1_score",
       "r2_score", "root_mean_squared_error")
)
#: ``keras.callbacks`` classes a spec may list (those that take plain values).
CALLBACKS: tuple[str, ...] = (
    "BackupAndRestore", "CSVLogger", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "TensorBoard",
    "TerminateOnNaN",
)

_Setting = str | ir.Call


class _Strict(BaseModel):
    # defer_build: the validators are built on first use, so specs without
    # compile or train sections never pay for them.
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)


class CompileSettings(_Strict):
    """The checked ``compile`` section of one model."""

    optimizer: _Setting = "rmsprop"
    loss: _Setting | dict[str, _Setting | None] | list[_Setting] | None = None
    loss_weights: dict[str, float] | list[float] | None = None
    metrics: list[_Setting] | dict[str, list[_Setting] | _Setting] | None = None
    weighted_metrics: list[_Setting] | dict[str, list[_Setting] | _Setting] | None = None
    run_eagerly: bool = False
    jit_compile: bool | str = "auto"
    steps_per_execution: int = Field(default=1, ge=1)


class DataMapping(_Strict):
    """How CSV columns feed the model: ``inputs``/``outputs`` map each spec
    input/output name to one column or a list of columns (in order).

    With no mapping, a single-input, single-output model whose input is
    1-D of width N takes the first N columns as input, the rest as target."""

    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    outputs: dict[str, str | list[str]] = Field(default_factory=dict)
    delimiter: str = ","
    header: bool = True


class TrainSettings(_Strict):
    """The checked ``train`` section of one model."""

    epochs: int = Field(default=1, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    validation_split: float = Field(default=0.0, ge=0.0, lt=1.0)
    validation_data: str | None = None
    shuffle: bool = True
    class_weight: dict[str, float] | None = None
    callbacks: list[_Setting] = Field(default_factory=list)
    history: str | None = None
    verbose: int | str = "auto"
    seed: int | None = None
    data: DataMapping | None = None


_COMPILE_KEYS = tuple(CompileSettings.model_fields)
_TRAIN_KEYS = tuple(TrainSettings.model_fields)


def output_names(model: ir.Model) -> list[str]:
    """The output names a loss or metric may be keyed by (empty for a
    Sequential model, whose single output is not named in the spec)."""
    if isinstance(model, ir.FunctionalModel):
        return [o.name for o in model.outputs]
    return []


class _Checker:
    """Collects diagnostics for one section."""

    def __init__(self, section: ir.Section, what: str) -> None:
        self.section = section
        self.what = what
        self.diags: list[Diagnostic] = []

    def at(self, key: str | None = None) -> Span | None:
        return self.section.at(key)

    def error(self, code: str, message: str, key: str | None, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, self.at(key), hint))

    def known_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.section.settings:
            if key not in allowed:
                self.error("K301", f"unknown {self.what} setting '{key}'", key,
                           did_you_mean(key, allowed) or f"known settings: {', '.join(allowed)}")

    def validate(self, cls: type[_Strict], data: dict[str, Any]) -> Any:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                key = str(err["loc"][0]) if err["loc"] else None
                where = ".".join(str(p) for p in err["loc"])
                self.error("K302", f"invalid {self.what} setting '{where}': {err['msg']}", key)
            return None

    def name(self, value: Any, known: frozenset[str] | tuple[str, ...], kind: str, key: str) -> None:
        """Check one loss / metric / optimizer / callback given by name or call."""
        fn = value.fn if isinstance(value, ir.Call) else value
        if not isinstance(fn, str):
            self.error("K302", f"a {kind} is a name or a call, got {type(fn).__name__}", key)
            return
        pool = set(known)
        if kind == "optimizer":
            pool |= {n.lower() for n in known}
        if fn not in pool:
            self.error("K303", f"unknown {kind} '{fn}'", key, did_you_mean(fn, known))

    def outputs(self, mapping: dict[str, Any], outputs: list[str], key: str) -> None:
        for name in mapping:
            if name not in outputs:
                have = ", ".join(outputs) if outputs else "none (a sequential model has one unnamed output)"
                self.error("K304", f"'{key}' names an output '{name}' that model '{self.section.model}' does not have",
                           key, did_you_mean(name, outputs) or f"its outputs: {have}")


def _schedule_check(c: _Checker, optimizer: Any) -> None:
    if isinstance(optimizer, ir.Call):
        lr = optimizer.kwargs.get("learning_rate")
        if isinstance(lr, ir.Call):
            c.name(lr, SCHEDULES, "learning-rate schedule", "optimizer")


def _each(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check_compile(section: ir.Section, model: ir.Model) -> tuple[CompileSettings | None, list[Diagnostic]]:
    """Validate a ``compile`` section against its model."""
    c = _Checker(section, "compile")
    c.known_keys(_COMPILE_KEYS)
    data = {k: v for k, v in section.settings.items() if k in _COMPILE_KEYS}
    settings = c.validate(CompileSettings, data)
    if settings is None:
        return None, c.diags
    outs = output_names(model)
    c.name(settings.optimizer, OPTIMIZERS, "optimizer", "optimizer")
    _schedule_check(c, settings.optimizer)
    loss = settings.loss
    if isinstance(loss, dict):
        c.outputs(loss, outs, "loss")
        for v in loss.values():
            if v is not None:
                c.name(v, LOSSES, "loss", "loss")
    elif loss is not None:
        for v in _each(loss):
            c.name(v, LOSSES, "loss", "loss")
    if isinstance(settings.loss_weights, dict):
        c.outputs(settings.loss_weights, outs, "loss_weights")
    for key in ("metrics", "weighted_metrics"):
        metrics = getattr(settings, key)
        if isinstance(metrics, dict):
            c.outputs(metrics, outs, key)
            for v in metrics.values():
                for m in _each(v):
                    c.name(m, METRICS, "metric", key)
        elif metrics is not None:
            for m in metrics:
                c.name(m, METRICS, "metric", key)
    return (settings if not c.diags else None), c.diags


def check_train(section: ir.Section, model: ir.Model) -> tuple[TrainSettings | None, list[Diagnostic]]:
    """Validate a ``train`` section against its model."""
    c = _Checker(section, "train")
    c.known_keys(_TRAIN_KEYS)
    data = {k: v for k, v in section.settings.items() if k in _TRAIN_KEYS}
    if isinstance(data.get("class_weight"), dict):
        data["class_weight"] = {str(k): v for k, v in data["class_weight"].items()}
    settings = c.validate(TrainSettings, data)
    if settings is None:
        return None, c.diags
    for cb in settings.callbacks:
        c.name(cb, CALLBACKS, "callback", "callbacks")
    if settings.validation_split and settings.validation_data:
        c.error("K302", "give either 'validation_split' or 'validation_data', not both", "validation_data")
    if settings.data is not None and isinstance(model, ir.FunctionalModel):
        inputs = [i.name for i in model.inputs]
        for name in settings.data.inputs:
            if name not in inputs:
                c.error("K304", f"'data' maps columns to an input '{name}' that model '{model.name}' does not have",
                        "data", did_you_mean(name, inputs) or f"its inputs: {', '.join(inputs)}")
        c.outputs(settings.data.outputs, output_names(model), "data")
    return (settings if not c.diags else None), c.diags


def _find_model(spec: ir.Spec, section: ir.Section, what: str) -> tuple[ir.Model | None, list[Diagnostic]]:
    names = [m.name for m in spec.models]
    for m in spec.models:
        if m.name == section.model:
            return m, []
    return None, [Diagnostic("K305", f"'{what}' section for an unknown model '{section.model}'", section.span,
                             did_you_mean(section.model, names) or f"the spec's models: {', '.join(names)}")]


def check_sections(spec: ir.Spec) -> list[Diagnostic]:
    """Every problem in every ``compile`` and ``train`` section of ``spec``."""
    diags: list[Diagnostic] = []
    for what, sections, checker in (("compile", spec.compile, check_compile), ("train", spec.train, check_train)):
        seen: set[str] = set()
        for section in sections:
            if section.model in seen:
                diags.append(Diagnostic("K306", f"a second '{what}' section for model '{section.model}'",
                                        section.span))
            seen.add(section.model)
            model, found = _find_model(spec, section, what)
            diags.extend(found)
            if model is not None:
                diags.extend(checker(section, model)[1])
    return diags


def _section(sections: list[ir.Section], model: str) -> ir.Section | None:
    return next((s for s in sections if s.model == model), None)


def compile_section(spec: ir.Spec, model: str) -> CompileSettings | None:
    """The checked compile settings of ``model``, or ``None`` if it has none."""
    section = _section(spec.compile, model)
    if section is None:
        return None
    settings, diags = check_compile(section, spec.model(model))
    if settings is None:
        raise KspecError(diags)
    return settings


def train_section(spec: ir.Spec, model: str) -> TrainSettings:
    """The checked train settings of ``model`` (defaults if it has none)."""
    section = _section(spec.train, model)
    if section is None:
        return TrainSettings()
    settings, diags = check_train(section, spec.model(model))
    if settings is None:
        raise KspecError(diags)
    return settings
