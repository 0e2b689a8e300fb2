"""compile/train section validation: located errors with suggestions (no keras)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kspec
from _training_cases import CASES, Case
from kspec.catalogue import catalogue
from kspec.compiler.registry.settings import call_kind
from kspec.compiler.sections import (
    CALLBACKS,
    LOSSES,
    METRICS,
    OPTIMIZERS,
    SCHEDULES,
    check_sections,
    compile_section,
    train_section,
)
from kspec.spec import ir
from kspec.spec.diagnostics import KspecError

MODEL = """\
models:
  - name: net
    inputs:
      x: {shape: [4]}
    nodes:
      - {name: h, from: x, apply: {Dense: {units: 8}}}
    outputs:
      score: {from: h, apply: {Dense: {units: 1}}}
      label: {from: h, apply: {Dense: {units: 3, activation: softmax}}}
"""


def _load(sections: str) -> ir.Spec:
    return kspec.loads(MODEL + sections, format="yaml", file="t.yaml")


def _errors(sections: str) -> list[str]:
    with pytest.raises(KspecError) as info:
        _load(sections)
    return [f"{d.span.line}:{d.span.column} {d.code} {d.message} | {d.hint}" for d in info.value.diagnostics
            if d.span is not None]


def test_valid_sections_give_typed_settings() -> None:
    spec = _load(
        "compile:\n  net:\n    optimizer: {fn: Adam, kwargs: {learning_rate: {fn: ExponentialDecay, kwargs: "
        "{initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5}}}}\n"
        "    loss: {score: rmse, label: sparse_categorical_crossentropy}\n"
        "    loss_weights: {score: 1.0, label: 0.5}\n"
        "    metrics: {label: [{fn: sparse_top_k_categorical_accuracy, kwargs: {k: 2}}], score: mae}\n"
        "train:\n  net:\n    epochs: 3\n    batch_size: 8\n"
        "    callbacks: [{fn: EarlyStopping, kwargs: {patience: 2}}, TerminateOnNaN]\n")
    c = compile_section(spec, "net")
    assert c is not None
    assert c.loss == {"score": "rmse", "label": "sparse_categorical_crossentropy"}
    assert isinstance(c.optimizer, ir.Call) and c.optimizer.fn == "Adam"
    t = train_section(spec, "net")
    assert (t.epochs, t.batch_size, t.class_weight) == (3, 8, None)  # class_weight: single-output models only
    assert [cb.fn if isinstance(cb, ir.Call) else cb for cb in t.callbacks] == ["EarlyStopping", "TerminateOnNaN"]
    assert check_sections(spec) == []


@pytest.mark.parametrize(("sections", "expected"), [
    ("compile:\n  net:\n    optimiser: adam\n",
     "12:16 K301 unknown compile setting 'optimiser' | did you mean 'optimizer'?"),
    ("compile:\n  net:\n    loss: binary_crossentropyy\n",
     "12:11 K303 unknown loss 'binary_crossentropyy' | did you mean 'binary_crossentropy', 'BinaryCrossentropy' or "
     "'binary_focal_crossentropy'?"),
    ("compile:\n  net:\n    optimizer: Adamm\n",
     "12:16 K303 unknown optimizer 'Adamm' | did you mean 'Adam', 'Nadam' or 'AdamW'?"),
    ("compile:\n  net:\n    loss: {scores: mse}\n",
     "12:11 K304 'loss' names an output 'scores' that model 'net' does not have | did you mean 'score'?"),
    ("compile:\n  net:\n    metrics: {label: [acuracy]}\n",
     "12:14 K303 unknown metric 'acuracy' | did you mean 'accuracy', 'BinaryAccuracy' or 'binary_accuracy'?"),
    ("compile:\n  net:\n    metrics: {label: [{fn: top_k_categorical_acuracy, kwargs: {k: 3}}]}\n",
     "12:14 K303 unknown metric 'top_k_categorical_acuracy' | did you mean "
     "'top_k_categorical_accuracy', 'TopKCategoricalAccuracy' or 'sparse_top_k_categorical_accuracy'?"),
    ("compile:\n  net:\n    optimizer: {fn: Adam, kwargs: {learning_rate: {fn: ExponentialDecai}}}\n",
     "12:16 K303 unknown learning-rate schedule 'ExponentialDecai' | "
     "did you mean 'ExponentialDecay' or 'PolynomialDecay'?"),
    ("train:\n  net:\n    epoch: 3\n",
     "12:12 K301 unknown train setting 'epoch' | did you mean 'epochs'?"),
    ("train:\n  net:\n    epochs: 0\n",
     "12:13 K302 invalid train setting 'epochs': Input should be greater than or equal to 1 | None"),
    ("train:\n  net:\n    callbacks: [{fn: EarlyStoping}]\n",
     "12:16 K303 unknown callback 'EarlyStoping' | did you mean 'EarlyStopping'?"),
    ("train:\n  net:\n    data: {inputs: {xx: [a]}}\n",
     "12:11 K304 'data' maps columns to an input 'xx' that model 'net' does not have | did you mean 'x'?"),
    ("compile:\n  nett:\n    loss: mse\n",
     "11:3 K305 'compile' section for an unknown model 'nett' | did you mean 'net'?"),
    # In YAML a call's keywords have no location of their own: the setting's value holds them.
    ("compile:\n  net:\n    optimizer: {fn: RMSprop, kwargs: {learnig_rate: 0.001}}\n",
     "12:16 K302 invalid optimizer RMSprop(...): unexpected argument 'learnig_rate' | did you mean 'learning_rate'?"),
    ("compile:\n  net:\n    optimizer: {fn: Adam, kwargs: {learning_rate: {fn: CosineDecay, args: [0.01]}}}\n",
     "12:16 K302 invalid learning-rate schedule CosineDecay(...): needs argument 'decay_steps' | None"),
    ("compile:\n  net:\n    loss: {score: mse, label: mse}\n    loss_weights: [1.0]\n",
     "13:19 K304 'loss_weights' gives 1 weight for 2 losses | give one weight per loss, 2 in all"),
    ("compile:\n  net:\n    loss: [mse, mse, mse]\n",
     "12:11 K304 'loss' lists 3 losses but model 'net' has 2 outputs | "
     "give one loss per output (score, label), or one loss for them all"),
    ("compile:\n  net:\n    loss: {score: mse, label: mse}\n    metrics: [mae]\n",
     "13:14 K304 'metrics' lists 1 metric but model 'net' has 2 outputs | with several outputs Keras takes a list "
     "as one metric per output: give 2 (for score, label), or map outputs to lists of metrics"),
    ("train:\n  net:\n    callbacks: [{fn: ReduceLROnPlateau, kwargs: {factor: 1.5}}]\n",
     "12:16 K302 invalid callback ReduceLROnPlateau(...): 'factor' must be a number below 1.0, got 1.5 | None"),
])
def test_section_errors_are_located_with_suggestions(sections: str, expected: str) -> None:
    assert _errors(sections) == [expected]


def _diagnostics(text: str) -> list[str | None]:
    try:
        kspec.loads(text, file="t.kspec")
    except KspecError as exc:
        return [f"{d.span.line}:{d.span.column} {d.code} {d.message} | {d.hint}" if d.span else d.message
                for d in exc.diagnostics]
    return [None]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_calls_and_lists_against_keras_signatures_and_outputs(case: Case) -> None:
    """Every mistake of tests/_training_cases.py is one located diagnostic
    (at the keyword when the call has one, else at the call, else at the
    setting); every other case passes. tests/test_training_keras.py shows
    Keras agrees on each."""
    assert _diagnostics(case.text) == [case.expected]


def test_valid_keyword_settings_pass() -> None:
    spec = kspec.loads(
        "model net {\n  input x: (4,)\n  output y = x -> Dense(1)\n}\n"
        "compile net {\n  optimizer = Adam(learning_rate=CosineDecay(0.01, 1000), beta_1=0.8)\n"
        "  loss = BinaryCrossentropy(from_logits=true)\n  metrics = [SparseTopKCategoricalAccuracy(k=3)]\n}\n"
        "train net {\n  callbacks = [EarlyStopping(monitor=\"val_loss\", patience=3, restore_best_weights=true),\n"
        "               ModelCheckpoint(\"best.keras\", save_best_only=true)]\n}\n", file="t.kspec")
    settings = compile_section(spec, "net")
    assert settings is not None and isinstance(settings.optimizer, ir.Call)
    assert [c.fn for c in train_section(spec, "net").callbacks if isinstance(c, ir.Call)] == [
        "EarlyStopping", "ModelCheckpoint"]


def test_catalogue_records_constructors_of_compile_and_train_calls() -> None:
    calls = {kind: call_kind(kind) for kind in catalogue().calls}
    adam = calls["optimizers"].signature("adam")
    assert adam is not None and adam == calls["optimizers"].signature("Adam")
    assert adam.positional[:3] == ["learning_rate", "beta_1", "beta_2"]
    assert adam.defaults["learning_rate"] == 0.001
    assert adam.extra == {"decay"} and not adam.open  # BaseOptimizer pops decay, refuses anything else
    plateau = calls["callbacks"].signature("ReduceLROnPlateau")
    assert plateau is not None and plateau.open  # **kwargs taken and ignored
    checkpoint = calls["callbacks"].signature("ModelCheckpoint")
    assert checkpoint is not None and [p.name for p in checkpoint.params if p.required] == ["filepath"]
    assert calls["losses"].names["mse"] == "MeanSquaredError"
    assert calls["losses"].names["rmse"] == "kspec>RootMeanSquaredError"  # kspec's own loss
    assert calls["metrics"].names["huber"] is None  # a function only: refused as a call
    assert calls["schedules"].signature("CosineDecay") is not None
    # every name a spec may write is in the catalogue
    assert set(calls["losses"].names) == LOSSES and set(calls["metrics"].names) == METRICS
    assert set(calls["callbacks"].names) == set(CALLBACKS) and set(calls["schedules"].names) == set(SCHEDULES)
    assert set(calls["optimizers"].names) == {*OPTIMIZERS, *(n.lower() for n in OPTIMIZERS)}


def test_import_kspec_and_check_do_not_import_keras() -> None:
    code = ("import sys, kspec\n"
            "kspec.loads(open('examples/regression_train.yaml').read(), format='yaml')\n"
            "print('keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
