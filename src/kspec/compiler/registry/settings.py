"""kspec's policy for the calls of ``compile`` and ``train`` sections.

The catalogue records what Keras has (each loss, metric, optimizer,
learning-rate schedule and callback class with its constructor, and the
functions); this module says which names a spec may write and which class a
call of each name builds: Keras's classes by name or snake-case name, the
usual short names (``mse``), kspec's own ``rmse`` loss, and the names kspec
only hands to Keras as strings.
"""

from __future__ import annotations

import re
from functools import cache

from kspec.catalogue import CallFacts, CallKind, Param, Signature, catalogue

__all__ = ["CALLBACKS", "KSPEC_CLASSES", "LOSSES", "METRICS", "OPTIMIZERS", "SCHEDULES", "SHORT_NAMES", "SPEC_NAMES",
           "call_kind", "kspec_call_kind"]

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

#: Every name a spec may write for a call, by kind: Keras's classes and
#: functions, the usual short names, and kspec's own ``rmse`` loss.
SPEC_NAMES: dict[str, frozenset[str]] = {
    "losses": LOSSES,
    "metrics": METRICS,
    "optimizers": frozenset(name for cls in OPTIMIZERS for name in (cls, cls.lower())),
    "schedules": frozenset(SCHEDULES),
    "callbacks": frozenset(CALLBACKS),
}
#: Short names kspec resolves to a Keras class (as ``kspec.runtime.training``
#: does), for losses and metrics.
SHORT_NAMES: dict[str, str] = {
    "mse": "MeanSquaredError", "mae": "MeanAbsoluteError", "mape": "MeanAbsolutePercentageError",
    "msle": "MeanSquaredLogarithmicError", "kld": "KLDivergence", "logcosh": "LogCosh",
    "rmse": "RootMeanSquaredError", "log_cosh": "LogCosh",
}
#: kspec's own classes, by registered name, with their constructors: the
#: ``rmse`` loss (``kspec.runtime.losses.RootMeanSquaredError``).
KSPEC_CLASSES: dict[str, dict[str, Signature]] = {
    "losses": {
        "kspec>RootMeanSquaredError": Signature(
            params=(Param("name", True, False, "rmse"), Param("reduction", True, False, "sum_over_batch_size"),
                    Param("dtype", True, False, None)),
            varargs=False, varkw=False, extra=frozenset()),
    },
}
#: Names that build one of kspec's own classes, by kind.
KSPEC_NAMES: dict[str, dict[str, str]] = {
    "losses": {n: "kspec>RootMeanSquaredError" for n in ("rmse", "root_mean_squared_error", "RootMeanSquaredError")},
}
#: Names kspec hands to Keras as plain strings and never builds from a call
#: (Keras derives their meaning from the loss), by kind.
STRING_ONLY: dict[str, tuple[str, ...]] = {"metrics": ("accuracy", "acc", "crossentropy", "ce")}


def _snake(name: str) -> str:
    """Keras's class-name to snake-case rule: ``MeanSquaredError`` ->
    ``mean_squared_error``."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()


def kspec_call_kind(kind: str, facts: CallFacts) -> CallKind:
    """The names a spec may write for one kind (:data:`SPEC_NAMES`) and what
    kspec builds for a call of each, from the Keras facts: a class found by
    its name or its snake-case name (for optimizers, its lower-case name),
    through :data:`SHORT_NAMES`, or one of kspec's own classes; a name Keras
    has only as a function, or kspec passes only as a string, builds nothing
    from a call (``None``). A name the catalogue's Keras lacks is left out."""
    names: dict[str, str | None] = {}
    for cls in sorted(facts.classes):
        names[cls] = cls
    for cls in sorted(facts.classes):
        names.setdefault(_snake(cls), cls)
        if kind == "optimizers":
            names.setdefault(cls.lower(), cls)
    if kind in ("losses", "metrics"):
        for short, cls in SHORT_NAMES.items():
            names[short] = cls if cls in facts.classes else None
    names.update(KSPEC_NAMES.get(kind, {}))
    for name in (*sorted(facts.functions), *STRING_ONLY.get(kind, ())):
        names.setdefault(name, None)
    writable = SPEC_NAMES.get(kind, frozenset())
    return CallKind(names={n: c for n, c in names.items() if n in writable},
                    classes={**facts.classes, **KSPEC_CLASSES.get(kind, {})})


@cache
def call_kind(kind: str) -> CallKind:
    """The names of one kind a spec may write and what each builds, over the
    shipped catalogue's facts (computed once per process)."""
    return kspec_call_kind(kind, catalogue().calls[kind])


