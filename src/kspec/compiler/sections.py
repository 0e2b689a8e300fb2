"""The section check pass: ``compile`` and ``train`` sections (no keras import).

A :class:`~kspec.spec.ir.Section` holds plain values; this pass checks
them and turns them into typed settings (:mod:`kspec.spec.settings`):

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
    data:                 (CSV column mapping; see :class:`~kspec.spec.settings.DataMapping`)
      inputs:  {x: [a, b, c]}     outputs: {y: target}     delimiter: ","     header: true

Every problem becomes a located :class:`Diagnostic` with a suggestion for
misspelled names. Name lists are static (kspec never imports keras to check
a spec); a test compares them with the installed Keras.

Calls (``Adam(learning_rate=1e-3)``, ``EarlyStopping(patience=3)``) are
checked against the constructor signatures in the shipped catalogue
(:mod:`kspec.catalogue`, generated from Keras) by the call checker every
pass shares (:mod:`kspec.compiler.calls`): unknown keywords, too many
positional arguments, missing ones; and a few argument values Keras refuses
when it builds the object (:data:`_VALUE_RULES`, value rules in the shared
form). Lists of losses, loss weights and metrics are checked against the
model's outputs as Keras pairs them up when training starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from kspec.catalogue import CallKind, Signature
from kspec.compiler.calls import (
    ValueRule,
    check_call,
    choice,
    depends_on_others,
    fraction,
    is_number,
    number_above,
    number_below,
    when_number,
    when_true,
)
from kspec.compiler.registry.settings import CALLBACKS, LOSSES, METRICS, OPTIMIZERS, SCHEDULES, call_kind
from kspec.spec import ir
from kspec.spec._core import core
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.ir import Span
from kspec.spec.kspec_printer import format_value
from kspec.spec.settings import CompileSettings, TrainSettings
from kspec.spec.source import confined_path

__all__ = [
    "CALLBACKS",
    "CALLBACK_PATHS",
    "LOSSES",
    "METRICS",
    "OPTIMIZERS",
    "SCHEDULES",
    "callback_path",
    "check_compile",
    "check_sections",
    "check_train",
    "compile_section",
    "from_file",
    "output_names",
    "train_section",
]

_COMPILE_KEYS = tuple(CompileSettings.model_fields)
_TRAIN_KEYS = tuple(TrainSettings.model_fields)


def output_names(model: ir.Model) -> list[str]:
    """The output names a loss or metric may be keyed by (empty for a
    Sequential model, whose single output is not named in the spec)."""
    if isinstance(model, ir.FunctionalModel):
        return [o.name for o in model.outputs]
    return []


def _checkpoint_path(v: Any, bound: Mapping[str, Any]) -> bool:
    if not isinstance(v, str):
        return True
    if bound.get("save_weights_only"):
        return v.endswith(".weights.h5")
    return v.endswith((".keras", ".h5"))


#: What each setting takes, in the spec's words, for a value of the wrong form.
_METRIC_FORMS = ("a list of metrics (names or calls; with several outputs, one entry per output: a metric, a list "
                 "of metrics or none), or a mapping of output names to a metric or a list of metrics")
_EXPECTED: dict[str, str] = {
    "optimizer": 'an optimizer name or call, such as "adam" or Adam(learning_rate=0.001)',
    "loss": "a loss name or call, a list of them (one per output), or a mapping of output names to them (or none)",
    "loss_weights": "a mapping of output names to numbers, or a list of numbers (one per output)",
    "metrics": _METRIC_FORMS,
    "weighted_metrics": _METRIC_FORMS,
    "run_eagerly": "true or false",
    "jit_compile": 'true, false or "auto"',
    "steps_per_execution": "a whole number of at least 1",
    "epochs": "a whole number of at least 1",
    "batch_size": "a whole number of at least 1",
    "batch_size_per_device": "a whole number of at least 1",
    "model_devices": "a whole number of at least 1",
    "validation_split": "a number from 0 up to (not including) 1",
    "validation_data": "a data file path",
    "shuffle": "true or false",
    "class_weight": "a mapping of class numbers to weights",
    "callbacks": "a list of callbacks (names or calls)",
    "history": "a path prefix for the history files",
    "verbose": '0, 1, 2 or "auto"',
    "seed": "a whole number",
    "data": "a mapping of CSV columns: {inputs: {...}, outputs: {...}, delimiter: \",\", header: true}",
    "distribution": '"data_parallel" or "model_parallel"',
    "layout": 'a mapping of variable-path patterns to lists of axis names ("batch", "model" or none)',
    "mixed_precision": '"mixed_float16", "mixed_bfloat16" or "float32"',
}


def _holds_node(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_holds_node(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_node(v) for v in value.values())
    return isinstance(value, ir.IRNode)


def _shown(value: Any) -> str:
    """A value in a message: plain values as Python writes them (``'epoch'``,
    ``1.5``), a value holding a call as the spec writes it (``foo(1)``)."""
    return format_value(value) if _holds_node(value) else repr(value)


def _spec_path(value: Any, loc: tuple[int | str, ...]) -> tuple[list[int | str], bool]:
    """The part of a validation error's location that indexes the value as
    written (list positions, mapping keys), and whether the rest holds the
    validator's own type tags (``list[union[str,Call]]``, ``str``)."""
    path: list[int | str] = []
    for part in loc:
        indexes = ((isinstance(value, dict) and part in value)
                   or (isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)))
        if not indexes:
            return path, True
        value = value[part]
        path.append(part)
    return path, False


#: Numbers above 0, and numbers from 0 to 1 (other values are Keras's to judge).
_ABOVE_0 = when_number(number_above(0))
_FROM_0_TO_1 = when_number(fraction(expect="a number from 0 to 1"))
#: A checkpoint callback's ``save_freq``.
_SAVE_FREQ = ValueRule(lambda v: v == "epoch" or isinstance(v, int), "'epoch' or a number of batches")


#: ``Loss.__init__``'s ``standardize_reduction``.
_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)

#: Argument values Keras 3 refuses in a constructor, by catalogue kind and
#: class ("*": every class of the kind). Each was checked against Keras
#: (``tests/test_training_keras.py`` builds the objects).
_VALUE_RULES: dict[tuple[str, str], dict[str, ValueRule]] = {
    ("losses", "*"): {"reduction": choice(*_REDUCTIONS)},
    ("optimizers", "*"): {
        # BaseOptimizer: a Python float, a schedule or a callable; an int is refused.
        "learning_rate": ValueRule(lambda v: isinstance(v, (float, ir.Call)),
                                   "a float (such as 0.001) or a learning-rate schedule"),
        "gradient_accumulation_steps": ValueRule(lambda v: not v or (is_number(v) and v >= 2),
                                                 "an integer of at least 2 (or none)"),
        "ema_momentum": when_true("use_ema", _FROM_0_TO_1),
    },
    ("schedules", "ExponentialDecay"): {"decay_steps": _ABOVE_0},
    ("schedules", "InverseTimeDecay"): {"decay_steps": _ABOVE_0},
    ("schedules", "PolynomialDecay"): {"decay_steps": _ABOVE_0},
    ("schedules", "CosineDecay"): {"decay_steps": _ABOVE_0},
    ("schedules", "CosineDecayRestarts"): {"first_decay_steps": _ABOVE_0},
    ("schedules", "PiecewiseConstantDecay"): {
        "values": depends_on_others(lambda v, b: not (isinstance(v, list) and isinstance(b.get("boundaries"), list))
                                    or len(b["boundaries"]) == len(v) - 1,
                                    "one value more than there are 'boundaries'"),
    },
    ("metrics", "AUC"): {
        "curve": choice("ROC", "PR", "PRGAIN", "roc", "pr", "prgain", expect="one of 'ROC', 'PR' or 'PRGAIN'"),
        "summation_method": choice("interpolation", "majoring", "minoring", "Interpolation", "Majoring", "Minoring",
                                   expect="one of 'interpolation', 'majoring' or 'minoring'"),
        "num_thresholds": depends_on_others(lambda v, b: b.get("thresholds") is not None or not is_number(v) or v > 1,
                                            "an integer above 1"),
    },
    ("metrics", "PrecisionAtRecall"): {"recall": _FROM_0_TO_1},
    ("metrics", "RecallAtPrecision"): {"precision": _FROM_0_TO_1},
    ("metrics", "SensitivityAtSpecificity"): {"specificity": _FROM_0_TO_1},
    ("metrics", "SpecificityAtSensitivity"): {"sensitivity": _FROM_0_TO_1},
    ("callbacks", "ReduceLROnPlateau"): {"factor": when_number(number_below(1.0))},
    ("callbacks", "ModelCheckpoint"): {
        "filepath": depends_on_others(_checkpoint_path,
                                      "a path ending in .keras or .h5 (.weights.h5 with save_weights_only=true)"),
        "save_freq": _SAVE_FREQ,
    },
    ("callbacks", "BackupAndRestore"): {
        "backup_dir": ValueRule(bool, "a directory path, not empty"),
        "save_freq": _SAVE_FREQ,
    },
}

#: ``BaseOptimizer`` takes at most one of these.
_CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")


class _Checker:
    """Collects diagnostics for one section."""

    def __init__(self, section: ir.Section, what: str) -> None:
        self.section = section
        self.what = what
        self.diags: list[Diagnostic] = []

    def at(self, key: str | None = None) -> Span | None:
        return self.section.at(key)

    def error(self, code: str, message: str, key: str | None, hint: str | None = None,
              span: Span | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span or self.at(key), hint))

    def known_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.section.settings:
            if key not in allowed:
                self.error("K301", f"unknown {self.what} setting '{key}'", key,
                           did_you_mean(key, allowed) or f"known settings: {', '.join(allowed)}")

    def validate(self, cls: type[ir.Record], data: dict[str, Any]) -> Any:
        """The settings record, or ``None`` with every problem reported in the
        spec's words: a value of the wrong form is one error per setting that
        says what forms it takes and shows the value as the spec writes it
        (never the validator's type paths or kspec's internal objects)."""
        try:
            return cls.model_validate(data)
        except core().ValidationError as exc:
            reported: set[str] = set()
            for err in exc.errors(include_url=False):
                key = str(err["loc"][0]) if err["loc"] else None
                path, typed = _spec_path(data.get(key) if key else None, err["loc"][1:])
                if key is not None and (typed or (key in _EXPECTED and err["type"].endswith("_type"))):
                    if key not in reported:
                        reported.add(key)
                        self.error("K302", f"invalid {self.what} setting '{key}': expected "
                                   f"{_EXPECTED.get(key, 'another value')}, got {format_value(data[key])}", key)
                    continue
                where = ".".join(str(p) for p in (key, *path))
                self.error("K302", f"invalid {self.what} setting '{where}': {err['msg']}", key)
            return None

    def name(self, value: Any, known: frozenset[str] | tuple[str, ...], kind: str, key: str,
             span: Span | None = None) -> bool:
        """Check one loss / metric / optimizer / callback given by name or
        call (located at the call, else at ``span``, else at the setting);
        whether the name is known."""
        fn = value.fn if isinstance(value, ir.Call) else value
        if isinstance(value, ir.Call) and value.span is not None:
            span = value.span
        if not isinstance(fn, str):
            self.error("K302", f"a {kind} is a name or a call, got {type(fn).__name__}", key, span=span)
            return False
        pool = set(known)
        if kind == "optimizer":
            pool |= {n.lower() for n in known}
        if fn not in pool:
            self.error("K303", f"unknown {kind} '{fn}'", key, did_you_mean(fn, known), span=span)
            return False
        return True

    def setting(self, value: Any, known: frozenset[str] | tuple[str, ...], kind: str, calls: str, key: str) -> None:
        """A loss / metric / optimizer / callback: its name, and if it is a
        call, its arguments (catalogue kind ``calls``)."""
        if self.name(value, known, kind, key) and isinstance(value, ir.Call):
            self.call(value, calls, kind, key)

    def call(self, call: ir.Call, calls: str, kind: str, key: str, span: Span | None = None) -> None:
        """The arguments of a call whose name is known, against the
        constructor kspec builds for it."""
        entry: CallKind = call_kind(calls)
        if call.fn not in entry.names:
            return  # a name the catalogue's Keras lacks: the name check says so
        here = call.span or span or self.at(key)

        def where(name: str) -> Span | None:
            return call.key_spans.get(name) or here

        sig = entry.signature(call.fn)
        if sig is None:
            self.error("K302", f"invalid {kind} {call.fn}(...): '{call.fn}' takes no arguments here", key,
                       "write it as a plain name, or use its class", span=here)
            return
        for name, value in sig.bind(list(call.args), {}).items():
            self.nested(value, key, where(name))
        for name, value in call.kwargs.items():
            self.nested(value, key, where(name))
        keywords = list(call.kwargs)
        # kspec's runtime names a metric written in lower case after itself (history keys as written).
        named_by_kspec = calls == "metrics" and "name" not in call.kwargs and not call.fn[:1].isupper() \
            and "name" in sig.accepted
        if named_by_kspec:
            keywords.append("name")
        problems = check_call(sig, len(call.args), keywords)
        for p in problems:
            hint: str | None = None
            if p.kind == "unknown":
                hint = p.hint or f"{call.fn} takes {', '.join(q.name for q in sig.params)}"
            elif p.kind == "twice" and named_by_kspec and p.name == "name":
                hint = f"kspec passes name='{call.fn}' to a metric written in lower case; give name=... instead"
            span = where(p.name) if p.kind in ("unknown", "twice") else here
            self.error("K302", f"invalid {kind} {call.fn}(...): {p.detail}", key, hint, span=span)
        if not problems:
            self.values(call, calls, kind, key, sig, entry.names[call.fn] or call.fn, where)

    def values(self, call: ir.Call, calls: str, kind: str, key: str, sig: Signature, cls: str,
               where: Callable[[str], Span | None]) -> None:
        """Argument values Keras refuses in the constructor."""
        given = sig.bind(list(call.args), dict(call.kwargs))
        bound = {**{p.name: p.default for p in sig.params if not p.required}, **given}
        for name, rule in (*_VALUE_RULES.get((calls, "*"), {}).items(), *_VALUE_RULES.get((calls, cls), {}).items()):
            if name in given and not rule.accepts(given[name], bound):
                v = given[name]
                self.error("K302", f"invalid {kind} {call.fn}(...): '{name}' must be {rule.expect}, got {_shown(v)}",
                           key, rule.hint(v), span=where(name))
        if calls == "optimizers":
            clips = [k for k in _CLIPS if given.get(k) is not None]
            if len(clips) > 1:
                self.error("K302", f"invalid {kind} {call.fn}(...): give only one of 'clipnorm', 'clipvalue' and "
                           f"'global_clipnorm', got {' and '.join(repr(k) for k in clips)}", key,
                           span=where(clips[1]))

    def nested(self, value: Any, key: str, span: Span | None) -> None:
        """A call inside a call's arguments: kspec builds only learning-rate
        schedules there (``Adam(learning_rate=CosineDecay(0.01, 1000))``)."""
        if isinstance(value, ir.Call):
            if self.name(value, SCHEDULES, "learning-rate schedule", key, span):
                self.call(value, "schedules", "learning-rate schedule", key, span)
        elif isinstance(value, list):
            for v in value:
                self.nested(v, key, span)
        elif isinstance(value, dict):
            for v in value.values():
                self.nested(v, key, span)

    def outputs(self, mapping: dict[str, Any], outputs: list[str], key: str) -> None:
        known = set(outputs)
        for name in mapping:
            if name not in known:
                have = ", ".join(outputs) if outputs else "none (a sequential model has one unnamed output)"
                self.error("K304", f"'{key}' names an output '{name}' that model '{self.section.model}' does not have",
                           key, did_you_mean(name, outputs) or f"its outputs: {have}")

    def counts(self, settings: CompileSettings, model: ir.Model) -> None:
        """Lists of losses, loss weights and metrics against the model's
        outputs, as Keras pairs them up when training starts."""
        outs = output_names(model)
        n = len(outs) if isinstance(model, ir.FunctionalModel) else 1
        named = ", ".join(outs)
        loss, weights = settings.loss, settings.loss_weights
        complete = True
        if isinstance(loss, list):
            if not loss:
                self.error("K302", "invalid compile setting 'loss': an empty list gives no loss", "loss",
                           "give a loss, or one per output")
            elif n > 1 and len(loss) > n:
                self.error("K304", f"'loss' lists {len(loss)} losses but model '{model.name}' has {n} outputs",
                           "loss", f"give one loss per output ({named}), or one loss for them all")
        elif isinstance(loss, dict) and not isinstance(model, ir.FunctionalModel):
            complete = False  # a sequential model's output has no name: reported already
        elif isinstance(loss, dict):
            missing = [o for o in outs if o not in loss]
            complete = not missing and set(loss) <= set(outs)
            for o in missing if set(loss) <= set(outs) else []:  # else a misspelt output, reported already
                self.error("K304", f"'loss' gives no loss for output '{o}' of model '{model.name}'", "loss",
                           "Keras needs every output in a loss mapping: map it to none to train it without a loss")
        if loss is not None and weights is not None and complete:
            if isinstance(loss, dict) and isinstance(weights, dict):
                for o in outs:
                    if o not in weights:
                        self.error("K304", f"'loss_weights' gives no weight for output '{o}' of model "
                                   f"'{model.name}'", "loss_weights",
                                   "'loss' maps every output to a loss, so each needs a weight")
            else:
                losses = len(loss) if isinstance(loss, (list, dict)) else 1
                if losses and len(weights) != losses:
                    if losses > 1:
                        hint = f"give one weight per loss, {losses} in all"
                    elif n > 1:
                        hint = ("a single loss is one loss for every output, with one weight: give one loss per "
                                "output to weight them")
                    else:
                        hint = "give one weight"
                    self.error("K304", f"'loss_weights' gives {len(weights)} weight{'s' if len(weights) != 1 else ''}"
                               f" for {losses} loss{'es' if losses != 1 else ''}", "loss_weights", hint)
        self.sorted_pairing(settings, model, outs)
        if n > 1:
            for key in ("metrics", "weighted_metrics"):
                metrics = getattr(settings, key)
                if isinstance(metrics, list) and metrics and len(metrics) != n:
                    self.error("K304", f"'{key}' lists {len(metrics)} metric{'s' if len(metrics) != 1 else ''} but "
                               f"model '{model.name}' has {n} outputs", key,
                               f"with several outputs Keras takes a list as one metric per output: give {n} "
                               f"(for {named}), or map outputs to lists of metrics")


    def sorted_pairing(self, settings: CompileSettings, model: ir.Model, outs: list[str]) -> None:
        """With ``outputs as dict`` Keras pairs a list of losses, weights or
        metrics with the outputs in sorted key order: a list is refused
        when that order is not the written one, as it would silently train
        each output with another output's loss."""
        if not isinstance(model, ir.FunctionalModel) or model.structure.outputs != "dict" or outs == sorted(outs):
            return
        for key in ("loss", "loss_weights", "metrics", "weighted_metrics"):
            value = getattr(settings, key)
            if isinstance(value, list) and len(value) > 1:
                self.error("K304", f"'{key}' is a list, but model '{model.name}' has its outputs as a dict, which "
                           f"Keras pairs with a list in sorted key order ({', '.join(sorted(outs))}), not in the "
                           f"written order ({', '.join(outs)})", key,
                           f"key '{key}' by output name: {{{', '.join(f'{o}: ...' for o in outs)}}}")


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
    c.setting(settings.optimizer, OPTIMIZERS, "optimizer", "optimizers", "optimizer")
    loss = settings.loss
    if isinstance(loss, dict):
        c.outputs(loss, outs, "loss")
        for v in loss.values():
            if v is not None:
                c.setting(v, LOSSES, "loss", "losses", "loss")
    elif loss is not None:
        for v in _each(loss):
            c.setting(v, LOSSES, "loss", "losses", "loss")
    if isinstance(settings.loss_weights, dict):
        c.outputs(settings.loss_weights, outs, "loss_weights")
    for key in ("metrics", "weighted_metrics"):
        metrics = getattr(settings, key)
        if isinstance(metrics, dict):
            c.outputs(metrics, outs, key)
            for v in metrics.values():
                for m in _each(v):
                    if m is not None:
                        c.setting(m, METRICS, "metric", "metrics", key)
        elif metrics is not None:
            for entry in metrics:
                for m in _each(entry):
                    if m is not None:
                        c.setting(m, METRICS, "metric", "metrics", key)
                if entry is None and len(outs) <= 1:
                    c.error("K302", f"invalid compile setting '{key}': none is not a metric", key,
                            "none skips an output only in a list of one entry per output of a model with several")
    c.counts(settings, model)
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
        c.setting(cb, CALLBACKS, "callback", "callbacks", "callbacks")
    _check_paths(c, settings)
    if settings.validation_split and settings.validation_data:
        c.error("K302", "give either 'validation_split' or 'validation_data', not both", "validation_data")
    if settings.class_weight and len(output_names(model)) > 1:
        c.error("K302", f"'class_weight' needs a model with one output (as in Keras); model '{model.name}' has "
                f"{len(output_names(model))}", "class_weight")
    _check_scale_out(c, settings)
    if settings.data is not None and isinstance(model, ir.FunctionalModel):
        inputs = [i.name for i in model.inputs]
        for name in settings.data.inputs:
            if name not in inputs:
                c.error("K304", f"'data' maps columns to an input '{name}' that model '{model.name}' does not have",
                        "data", did_you_mean(name, inputs) or f"its inputs: {', '.join(inputs)}")
        c.outputs(settings.data.outputs, output_names(model), "data")
    return (settings if not c.diags else None), c.diags


#: The argument of each callback that names a file or directory (always its first).
CALLBACK_PATHS: dict[str, str] = {"TensorBoard": "log_dir", "ModelCheckpoint": "filepath", "CSVLogger": "filename",
                                  "BackupAndRestore": "backup_dir"}


def callback_path(call: ir.Call) -> str | None:
    """The path a callback call writes to, as the spec gives it (``None`` if it names none)."""
    name = CALLBACK_PATHS.get(call.fn)
    if name is None:
        return None
    value = call.kwargs.get(name, call.args[0] if call.args else None)
    return value if isinstance(value, str) and value else None


def from_file(span: Span | None) -> bool:
    """Whether a spec value comes from a spec file (a spec given as text to
    ``kspec.loads`` has no directory: its caller is code, and its paths are
    taken as written, relative to the working directory)."""
    return span is not None and not span.file.startswith("<")


def _check_paths(c: _Checker, settings: TrainSettings) -> None:
    """Paths in a train section are data from a spec that may come from
    anyone: each resolves inside the spec file's directory or one the user
    allowed (``--allow-dir``), or it is a K217 error at the path."""
    if not from_file(c.section.span):
        return
    for cb in settings.callbacks:
        value = callback_path(cb) if isinstance(cb, ir.Call) else None
        if value is not None and isinstance(cb, ir.Call):
            span = cb.key_spans.get(CALLBACK_PATHS[cb.fn]) or cb.span or c.at("callbacks")
            try:
                confined_path(value, span)
            except ValueError as exc:
                c.error("K217", f"{cb.fn}: {exc}", "callbacks", "write a path inside the spec's directory, or "
                        "allow a directory with --allow-dir DIR", span=span)
    for key in ("history", "validation_data"):
        value = getattr(settings, key)
        if value:
            try:
                confined_path(value, c.at(key))
            except ValueError as exc:
                c.error("K217", f"'{key}': {exc}", key,
                        "write a path inside the spec's directory, or allow a directory with --allow-dir DIR")


#: The axes of the device mesh a ``layout`` may name.
_MESH_AXES = ("batch", "model")


def _check_scale_out(c: _Checker, settings: TrainSettings) -> None:
    """``distribution``, ``layout``, ``model_devices`` and the two batch sizes
    agree with each other."""
    if settings.batch_size is not None and settings.batch_size_per_device is not None:
        c.error("K302", "give either 'batch_size' (the global batch) or 'batch_size_per_device', not both",
                "batch_size_per_device")
    parallel = settings.distribution == "model_parallel"
    for key in ("layout", "model_devices"):
        if getattr(settings, key) is not None and not parallel:
            c.error("K302", f"'{key}' is a setting of model parallelism", key,
                    'add distribution = "model_parallel"')
    if parallel and not settings.layout:
        c.error("K302", "model parallelism needs a 'layout': which variables to split over the 'model' axis",
                "distribution", 'add layout = {"dense.*kernel": [none, "model"]}')
    for pattern, axes in (settings.layout or {}).items():
        try:
            re.compile(pattern)
        except re.error as exc:
            c.error("K302", f"invalid train setting 'layout': '{pattern}' is not a valid pattern ({exc})", "layout")
        for axis in axes:
            if axis is not None and axis not in _MESH_AXES:
                c.error("K302", f"invalid train setting 'layout': axis '{axis}' for '{pattern}' is not 'batch', "
                        "'model' or none", "layout", did_you_mean(axis, _MESH_AXES))


def _find_model(models: dict[str, ir.Model], section: ir.Section,
                what: str) -> tuple[ir.Model | None, list[Diagnostic]]:
    """The model ``section`` is for, from ``models`` (the spec's, by name, the first of each name)."""
    found = models.get(section.model)
    if found is not None:
        return found, []
    return None, [Diagnostic("K305", f"'{what}' section for an unknown model '{section.model}'", section.span,
                             did_you_mean(section.model, models) or f"the spec's models: {', '.join(models)}")]


def check_sections(spec: ir.Spec) -> list[Diagnostic]:
    """Every problem in every ``compile`` and ``train`` section of ``spec``."""
    diags: list[Diagnostic] = []
    models: dict[str, ir.Model] = {}
    for m in spec.models:
        models.setdefault(m.name, m)
    for what, sections, checker in (("compile", spec.compile, check_compile), ("train", spec.train, check_train)):
        seen: set[str] = set()
        for section in sections:
            if section.model in seen:
                diags.append(Diagnostic("K306", f"a second '{what}' section for model '{section.model}'",
                                        section.span))
            seen.add(section.model)
            model, found = _find_model(models, section, what)
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
