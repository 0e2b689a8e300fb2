"""compile/train section validation: located errors with suggestions (no keras)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kspec
from kspec.compiler.diagnostics import KspecError
from kspec.spec import ir
from kspec.spec.training import check_sections, compile_section, train_section

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
        "train:\n  net:\n    epochs: 3\n    batch_size: 8\n    class_weight: {0: 1.0, 1: 2.0}\n"
        "    callbacks: [{fn: EarlyStopping, kwargs: {patience: 2}}, TerminateOnNaN]\n")
    c = compile_section(spec, "net")
    assert c is not None
    assert c.loss == {"score": "rmse", "label": "sparse_categorical_crossentropy"}
    assert isinstance(c.optimizer, ir.Call) and c.optimizer.fn == "Adam"
    t = train_section(spec, "net")
    assert (t.epochs, t.batch_size, t.class_weight) == (3, 8, {"0": 1.0, "1": 2.0})
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
    ("compile:\n  net:\n    metrics: [{fn: top_k_categorical_acuracy, kwargs: {k: 3}}]\n",
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
])
def test_section_errors_are_located_with_suggestions(sections: str, expected: str) -> None:
    assert _errors(sections) == [expected]


def test_import_kspec_and_check_do_not_import_keras() -> None:
    code = ("import sys, kspec\n"
            "kspec.loads(open('examples/regression_train.yaml').read(), format='yaml')\n"
            "print('keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
