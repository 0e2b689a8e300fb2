"""Static argument checks from the layer catalogue: exact messages and
locations, before any tensor exists (and without keras)."""

from __future__ import annotations

import textwrap

import pytest

from kspec.compiler.arguments import check_layer_call
from kspec.compiler.pipeline import load_text
from kspec.spec import ir
from kspec.spec.diagnostics import KspecError


def _errors(body: str) -> list[str]:
    """``line:col code message | hint`` for every diagnostic of a one-model spec."""
    text = textwrap.dedent(body)
    try:
        load_text(text, "t.yaml")
    except KspecError as exc:
        return [f"{d.span.line}:{d.span.column} {d.code} {d.message}" + (f" | {d.hint}" if d.hint else "")
                for d in exc.diagnostics if d.span is not None]
    return []


def _seq(*layers: str, shape: str = "[16]") -> str:
    rows = "\n".join(f"      - {layer}" for layer in layers)
    return f"models:\n  - name: m\n    kind: sequential\n    input: {shape}\n    layers:\n{rows}\n"


@pytest.mark.parametrize(("layer", "expected"), [
    ("Dense2D: [4]", "6:9 K203 unknown layer 'Dense2D' | did you mean 'Dense'?"),
    ("Dense: {units: 4, activaton: relu}", "6:38 K301 Dense has no argument 'activaton' | did you mean 'activation'?"),
    ("Dense: {activation: relu}", "6:9 K303 Dense needs argument 'units'"),
    ("Dense: {args: [4], units: 8}", "6:35 K301 Dense: argument 'units' is given twice"),
    ("Dropout: [0.1, null, null, 3]",
     "6:9 K301 Dropout takes at most 3 positional arguments (rate, noise_shape, seed), got 4"),
    ("Dense: {units: 4, activation: rleu}", "6:39 K302 Dense: unknown activation 'rleu' for 'activation' | "
     "did you mean 'relu' or 'relu6'?"),
    ("Dense: {units: 4, kernel_initializer: glorot_unifrom}",
     "6:47 K302 Dense: unknown initializer 'glorot_unifrom' for 'kernel_initializer' | "
     "did you mean 'glorot_uniform', 'GlorotUniform' or 'glorot_normal'?"),
    ("Dense: {units: 4, kernel_regularizer: {fn: l3, args: [0.1]}}",
     "6:47 K304 unknown regularizer 'l3' in 'kernel_regularizer'"),
    ("Dense: {units: 4, kernel_regularizer: {fn: l2, kwargs: {l3: 0.1}}}",
     "6:47 K302 invalid regularizer l2(...): unexpected argument 'l3'"),
    ("Dense: {units: 4, activation: {fn: relu}}",
     "6:39 K304 activation 'relu' takes no arguments here | "
     "write activation=\"relu\", or use an activation layer such as LeakyReLU(...)"),
    ("Dense: [-3]", "6:9 K302 Dense: 'units' must be a positive integer, got -3"),
    ("Conv1D: {filters: 0, kernel_size: 3}", "6:27 K302 Conv1D: 'filters' must be a positive integer, got 0"),
    ("Dropout: {rate: 1.5}", "6:25 K302 Dropout: 'rate' must be a number between 0 and 1, got 1.5"),
    ("Conv1D: {filters: 2, kernel_size: 3, padding: casual}",
     "6:55 K302 Conv1D: 'padding' must be one of 'valid', 'same', 'causal', got 'casual' | did you mean 'causal'?"),
    ("Conv1D: {filters: 2, kernel_size: 3, strides: 2, dilation_rate: 2}",
     "6:73 K302 Conv1D: strides > 1 cannot be combined with dilation_rate > 1 (strides=2, dilation_rate=2)"),
    ("Conv1D: {filters: 2, kernel_size: [3, 3]}",
     "6:43 K302 Conv1D: 'kernel_size' must be a positive integer or a list of 1 positive integer, got [3, 3]"),
    ("MaxPooling1D: {pool_size: 0}",
     "6:35 K302 MaxPooling1D: 'pool_size' must be a positive integer or a list of 1 positive integer, got 0"),
    ("Lambda: {function: x}", "6:9 K210 Lambda layers are not allowed: a spec never runs Python code | "
     "use a built-in layer, or register a custom layer class"),
])
def test_argument_mistakes(layer: str, expected: str) -> None:
    assert _errors(_seq(layer, "Dense: [1]")) == [expected]


def test_wrapped_layer_is_checked_as_a_layer() -> None:
    body = _seq("Bidirectional: {layer: {fn: LSTM, args: [4], kwargs: {return_sequence: true}}}",
                shape="[5, 3]")
    assert _errors(body) == [
        "6:32 K301 LSTM has no argument 'return_sequence' | did you mean 'return_sequences' or 'return_state'?"]


def test_bidirectional_wraps_only_recurrent_layers() -> None:
    body = _seq("Bidirectional: {layer: {fn: Dense, args: [4]}}", shape="[5, 3]")
    assert _errors(body) == ["6:32 K302 Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN ...), not Dense"]


def test_wrapped_layer_unknown_name() -> None:
    body = _seq("TimeDistributed: {layer: {fn: Dens, args: [4]}}", shape="[5, 3]")
    assert _errors(body) == ["6:34 K304 unknown layer 'Dens' in 'layer' | did you mean 'Dense'?"]


def test_every_mistake_is_reported_together() -> None:
    body = _seq("Dense: {unit: 4}", "Dense2D: [4]", "Dense: [4]")
    assert [e.split(" ", 2)[1] for e in _errors(body)] == ["K301", "K203"]


def test_layer_with_argument_error_gets_no_shape_error() -> None:
    # The wrong Dense has an unknown shape: no cascade onto the Add.
    body = """\
    models:
      - name: m
        inputs:
          a: [8]
          b: [4]
        nodes:
          - {name: x, from: a, apply: {Dense: {units: 4, kernel_regularise: 3}}}
          - {name: s, from: [x, b], apply: Add}
        outputs:
          out: {from: s, apply: {Dense: [1]}}
    """
    assert _errors(body) == ["7:73 K301 Dense has no argument 'kernel_regularise' | "
                             "did you mean 'kernel_regularizer' or 'bias_regularizer'?"]


def test_merge_needs_several_tensors() -> None:
    body = """\
    models:
      - name: m
        inputs:
          a: [8]
        nodes:
          - {name: s, from: a, apply: Add}
        outputs:
          out: {from: s, apply: {Dense: [1]}}
    """
    assert _errors(body) == ["6:35 K401 Add merges several tensors, got 1: (None, 8)"]


def test_destructuring_count_uses_static_shapes() -> None:
    body = """\
    models:
      - name: m
        inputs:
          a: [5, 3]
        nodes:
          - name: [seq, h]
            from: a
            apply: {LSTM: {units: 4, return_sequences: true, return_state: true}}
        outputs:
          out: {from: seq, apply: {Dense: [1]}}
    """
    assert _errors(body) == ["6:9 K206 LSTM gives 3 tensors, but 2 names are given (seq, h) | "
                             "give one name per result"]


def test_check_layer_call_on_ir() -> None:
    call = ir.LayerCall(type="Conv2D", args=[8], kwargs={"kernel_sise": 3})
    diags = check_layer_call(call)
    assert [(d.code, d.message, d.hint) for d in diags] == [
        ("K301", "Conv2D has no argument 'kernel_sise'",
         "did you mean 'kernel_size', 'kernel_constraint' or 'kernel_initializer'?")]


def test_valid_arguments_pass() -> None:
    body = _seq("Dense: {units: 4, activation: relu, kernel_regularizer: {fn: L1L2, kwargs: {l1: 0.1}},"
                " kernel_initializer: {fn: GlorotUniform, kwargs: {seed: 1}}, name: d}", "Dropout: [0.5]",
                "Dense: [2, softmax]")
    assert _errors(body) == []
