"""Shape rules for the less common layer families, against Keras.

Each case is a small model. For the valid ones, every layer must get a
static shape and parameter count (no unknowns) and they must equal what
Keras builds; for the broken ones, ``kspec check`` must refuse the spec with
a shape error (K401) exactly as building it in Keras fails.
"""

from __future__ import annotations

import pytest

import kspec
from _static_vs_keras import compare
from kspec.compiler.pipeline import expand, parse_text
from kspec.compiler.shapes import infer_spec
from kspec.runtime.lower import lower_spec
from kspec.spec.diagnostics import KspecError

VALID = {
    "convlstm2d": "input x: (5, 16, 16, 3)\n output y = x -> ConvLSTM2D(4, 3)",
    "convlstm2d_states": """input x: (5, 16, 16, 3)
        seq, h, c = x -> ConvLSTM2D(4, 3, padding="same", return_sequences=true, return_state=true)
        output y = Concatenate()(h, c)
        output s = seq -> Identity()""",
    "convlstm1d_strides": "input x: (none, 16, 3)\n output y = x -> ConvLSTM1D(4, 3, strides=2)",
    "convlstm3d_no_bias": "input x: (5, 8, 8, 8, 1)\n output y = x -> ConvLSTM3D(2, (3, 3, 3), use_bias=false)",
    "convlstm2d_channels_first": "input x: (5, 3, 16, 16)\n"
                                 " output y = x -> ConvLSTM2D(4, 3, data_format=\"channels_first\", dilation_rate=2)",
    "einsum_plain": "input x: (32,)\n output y = x -> EinsumDense(\"ab,bc->ac\", output_shape=64, bias_axes=\"c\")",
    "einsum_heads": "input x: (10, 32)\n"
                    " output y = x -> EinsumDense(\"abc,cde->abde\", output_shape=(none, 4, 16), bias_axes=\"de\")",
    "einsum_ellipsis": "input x: (3, 10, 32)\n"
                       " output y = x -> EinsumDense(\"...b,bc->...c\", output_shape=64, bias_axes=\"c\")",
    "einsum_contract_two": "input x: (10, 4, 8)\n"
                           " output y = x -> EinsumDense(\"abcd,cde->abe\", output_shape=(none, 16))",
    "adaptive_pools": """input x: (32, 32, 3)
        a = x -> AdaptiveAveragePooling2D((4, 2)) -> Flatten()
        b = x -> AdaptiveMaxPooling2D(4, data_format="channels_first") -> Flatten()
        output y = Concatenate()(a, b)""",
    "normalization": """input x: (4, 5, 6)
        a = x -> Normalization()
        b = a -> Normalization(axis=(1, 2))
        c = b -> Normalization(axis=none)
        output y = c -> Normalization(mean=0.0, variance=1.0)""",
    "encodings": """input i: (3,) int32
        input f: (3,)
        output counts = i -> CategoryEncoding(num_tokens=5, output_mode="count")
        output onehot = i -> CategoryEncoding(num_tokens=5, output_mode="one_hot")
        output bins = f -> Discretization(bin_boundaries=[0.0, 1.0], output_mode="one_hot")
        output multi = f -> Discretization(num_bins=4, output_mode="multi_hot")
        output ints = f -> Discretization(bin_boundaries=[0.0, 1.0])
        output hashed = i -> Hashing(num_bins=4, output_mode="multi_hot")
        output looked = i -> IntegerLookup(vocabulary=[1, 2, 3])""",
    "grouped_query_attention": """input q: (10, 16)
        input v: (12, 16)
        input k: (12, 24)
        output y = GroupQueryAttention(head_dim=8, num_query_heads=4, num_key_value_heads=2)(q, v, k)
        output z = GroupQueryAttention(head_dim=4, num_query_heads=2, num_key_value_heads=1, use_bias=false)(q, v)""",
    "spectral_normalization": """input x: (8, 8, 2)
        h = x -> SpectralNormalization(Conv2D(5, 3)) -> Flatten()
        output y = h -> SpectralNormalization(Dense(7))""",
    "image_augmentation": """input x: (32, 32, 3)
        output y = x -> RandomGrayscale() -> RandomHue(0.2, value_range=(0, 255)) -> RandomSaturation(0.2)
            -> RandomSharpness(0.2) -> RandomShear(x_factor=0.2) -> RandomPerspective() -> RandomInvert()
            -> RandomGaussianBlur() -> RandomErasing() -> RandomColorJitter() -> RandomColorDegeneration(0.2)
            -> Solarization() -> AutoContrast() -> AugMix() -> RandAugment() -> CutMix()
            -> MixUp() -> RandomPosterization((1, 8), value_range=(0, 255)) -> RandomElasticTransform()""",
    "rnn_cells": """input x: (5, 8)
        o, h, c = x -> RNN(LSTMCell(4), return_state=true)
        s = x -> RNN(GRUCell(3, reset_after=false), return_sequences=true) -> RNN(SimpleRNNCell(2, use_bias=false))
        output y = Concatenate()(o, h, c, s)""",
    "cross_attention": """input q: (10, 48)
        input c: (25, 96)
        a, scores = MultiHeadAttention(num_heads=3, key_dim=16, value_dim=24, output_shape=40)(q, c,
            return_attention_scores=true)
        b = MultiHeadAttention(num_heads=2, key_dim=8, attention_axes=1, use_gate=true)(q, c, c)
        output y = a -> Dense(5)
        output s = scores -> Flatten()
        output z = b -> LayerNormalization() -> GlobalAveragePooling1D()""",
    "reversible_embedding": "input x: (5,) int32\n output y = x -> ReversibleEmbedding(100, 8)",
}

BROKEN = {
    "convlstm_rank": ("input x: (16, 16, 3)\n output y = x -> ConvLSTM2D(4, 3)", "expects an input of rank 5"),
    "convlstm_too_small": ("input x: (5, 2, 2, 3)\n output y = x -> ConvLSTM2D(4, 3)", "too small for kernel size 3"),
    "einsum_shared_dim": ("input x: (10, 32)\n"
                          " output y = x -> EinsumDense(\"abc,cd->abd\", output_shape=(12, 64))",
                          "do not match at shared dimension 'b'"),
    "einsum_bias_axis": ("input x: (32,)\n"
                         " output y = x -> EinsumDense(\"ab,bc->ac\", output_shape=64, bias_axes=\"d\")",
                         "bias dimension 'd' is not in the output 'ac'"),
    "einsum_equation": ("input x: (32,)\n output y = x -> EinsumDense(\"ab->b\", output_shape=64)",
                        "invalid einsum equation"),
    "gqa_feature_dims": ("input q: (10, 16)\n input v: (12, 32)\n"
                         " output y = GroupQueryAttention(head_dim=8, num_query_heads=4, num_key_value_heads=2)(q, v)",
                         "the last dimensions of query (None, 10, 16) and value (None, 12, 32) must be equal"),
    "equalization_in_a_model": ("input x: (32, 32, 3)\n output y = x -> Equalization()", "reports as a cycle"),
}


NESTED = """
model mlp {
  input x: (64,)
  output y = x -> Dense(64, activation="relu") -> Dense(64)
}
model encoder {
  input f: (32,)
  h = f -> Dense(64)
  r = h -> mlp
  output e = Add()(h, r) -> LayerNormalization()
}
model classifier {
  input a: (32,)
  input b: (32,)
  ea = a -> encoder
  eb = b -> encoder
  s = ea -> mlp
  output y = Concatenate()(s, eb) -> Dense(2, activation="softmax")
}
"""


def test_sub_model_shared_across_nesting_levels_is_counted_once() -> None:
    """``mlp`` is used inside ``encoder`` and again directly: one set of
    weights, as ``model.count_params()`` counts them."""
    spec = kspec.loads(NESTED, file="nested.kspec")
    assert infer_spec(spec).models["classifier"].params == 10_818
    compare(spec)


def _model(body: str) -> str:
    return "model m {\n  " + body.strip() + "\n}\n"


@pytest.mark.parametrize("name", sorted(VALID))
def test_rare_layers_match_keras(name: str) -> None:
    spec = kspec.loads(_model(VALID[name]), file=f"{name}.kspec")
    unknown = [info.name for info in infer_spec(spec).models["m"].layers
               if info.params is None or any(o is None for o in info.outputs)]
    assert unknown == []
    compare(spec)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_rare_layer_mistakes_are_shape_errors_as_in_keras(name: str) -> None:
    body, message = BROKEN[name]
    with pytest.raises(KspecError) as caught:
        kspec.loads(_model(body), file=f"{name}.kspec")
    (diag,) = caught.value.diagnostics
    assert (diag.code, diag.span.line if diag.span else None) == ("K401", 2 + body.strip().count("\n"))
    assert message in diag.message
    unchecked = expand(parse_text(_model(body), f"{name}.kspec"))  # no static checks: straight to Keras
    with pytest.raises(KspecError) as built:
        lower_spec(unchecked)
    assert built.value.diagnostics[0].code in ("K302", "K401", "K402")  # Keras refused it too
