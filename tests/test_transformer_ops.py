"""The keras.io Transformer encoder block, written with ``x + attn``.

keras.io writes the block with tensor operators (``layernorm1(inputs +
attn_output)``), and so does the spec: MultiHeadAttention, Dropout,
``x + attn``, LayerNormalization, a Dense feed-forward, ``x + ffn``,
LayerNormalization. Built both ways, the two models have the same layer
classes, configurations (names aside), topology, parameter counts and, with
the same weights, outputs. The Python model decompiles to a spec that
writes the residuals as ``+`` and compiles back to an identical
configuration with the same outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import kspec
from _decompile_compare import assert_same_model, assert_same_outputs, random_inputs
from kspec.compiler.pipeline import load_text
from kspec.compiler.shapes import infer_spec
from kspec.runtime._quiet import import_keras
from kspec.runtime.decompile import decompile_model, rebuild
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.kspec_printer import print_kspec

keras = import_keras()
layers = keras.layers

SEQ, EMBED, HEADS, FF = 10, 16, 2, 32

SPEC = f"""\
block transformer_block(x, embed_dim: int, num_heads: int, ff_dim: int, rate: float = 0.1) {{
  attn = MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)(x, x) -> Dropout(rate)
  x = x + attn -> LayerNormalization(epsilon=1e-6)
  ffn = x -> Dense(ff_dim, activation="relu") -> Dense(embed_dim) -> Dropout(rate)
  return x + ffn -> LayerNormalization(epsilon=1e-6)
}}

model encoder {{
  input x: ({SEQ}, {EMBED})
  output out = x -> transformer_block({EMBED}, {HEADS}, {FF})
}}
"""


def keras_io_block(embed_dim: int = EMBED, num_heads: int = HEADS, ff_dim: int = FF, rate: float = 0.1) -> Any:
    """The block as keras.io writes it (``TransformerBlock.call``), in the
    functional API."""
    inputs = keras.Input((SEQ, embed_dim), name="x")
    attn_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)(inputs, inputs)
    attn_output = layers.Dropout(rate)(attn_output)
    out1 = layers.LayerNormalization(epsilon=1e-6)(inputs + attn_output)
    ffn_output = layers.Dense(ff_dim, activation="relu")(out1)
    ffn_output = layers.Dense(embed_dim)(ffn_output)
    ffn_output = layers.Dropout(rate)(ffn_output)
    return keras.Model(inputs, layers.LayerNormalization(epsilon=1e-6)(out1 + ffn_output))


def _weighted(model: Any) -> list[Any]:
    return [layer for layer in model.layers if layer.weights]


def test_spec_builds_the_keras_io_block() -> None:
    want = keras_io_block()
    built = kspec.build(kspec.loads(SPEC))
    assert [type(op).__name__ for op in built.operations] == [type(op).__name__ for op in want.operations]
    for got_layer, want_layer in zip(_weighted(built), _weighted(want), strict=True):
        assert type(got_layer) is type(want_layer)
        assert got_layer.count_params() == want_layer.count_params()
        got_layer.set_weights(want_layer.get_weights())
    assert_same_model(want, built)  # classes, configurations (names aside), topology, parameter count
    assert_same_outputs(want, built)
    static = infer_spec(load_text(SPEC, "transformer.kspec")).models["encoder"]
    assert static.params == want.count_params()
    assert static.outputs == [tuple(want.outputs[0].shape)]


def test_keras_io_block_decompiles_to_x_plus_attn_and_back() -> None:
    model = keras_io_block()
    result = decompile_model(model)
    text = print_kspec(result.spec)
    assert parse_kspec(text) == result.spec
    assert text.count(" + ") == 2 and "Add(" not in text, text  # the residuals stay operators
    again = rebuild(result)
    assert_same_model(model, again)
    assert_same_outputs(model, again)
    # the printed spec, compiled from its text, is the same model too
    from_text = kspec.build(kspec.loads(text))
    assert_same_model(model, from_text)
    xs = random_inputs(model)
    for got_layer, want_layer in zip(_weighted(from_text), _weighted(model), strict=True):
        got_layer.set_weights(want_layer.get_weights())
    np.testing.assert_allclose(np.asarray(from_text(xs[0], training=False)),
                               np.asarray(model(xs[0], training=False)), atol=1e-5, rtol=0)
