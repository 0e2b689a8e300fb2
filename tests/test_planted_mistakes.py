"""Mistakes a user may plant in a spec: ``kspec check`` must refuse each one
that Keras refuses when it builds the model, and accept the unusual but
valid models Keras builds.

Each mistake is checked both ways: the static checks (no keras) report it
at the layer, and lowering the same spec without the static checks makes
Keras refuse it too, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import warnings

import pytest

import kspec
from kspec.compiler.pipeline import expand, parse_text
from kspec.runtime.lower import lower_spec
from kspec.spec.diagnostics import KspecError

#: name -> (model body, what the static message says)
MISTAKES = {
    "units_float": ("input x: (8,)\n output y = x -> Dense(4.0)", "'units' must be a positive integer"),
    "lstm_units_float": ("input x: (5, 8)\n output y = x -> LSTM(32.0)", "'units' must be a positive integer"),
    "activation_number": ("input x: (8,)\n output y = x -> Dense(4, activation=3)", "'activation' must be a name"),
    "data_format": ("input x: (8, 8, 3)\n output y = x -> Conv2D(8, 3, data_format=\"channel_last\")",
                    "'data_format' must be one of 'channels_first', 'channels_last'"),
    "merge_mode": ("input x: (5, 8)\n output y = x -> Bidirectional(LSTM(8), merge_mode=\"add\")",
                   "'merge_mode' must be one of 'sum', 'mul', 'ave', 'concat' or none"),
    "score_mode": ("input q: (5, 8)\n input v: (6, 8)\n output y = Attention(score_mode=\"add\")(q, v)",
                   "'score_mode' must be one of 'dot', 'concat'"),
    "output_mode": ("input x: (3,) int32\n output y = x -> CategoryEncoding(num_tokens=10, output_mode=\"one_hoot\")",
                    "'output_mode' must be one of"),
    "dtype": ("input x: (8,)\n output y = x -> Dense(4, dtype=\"float33\")", "'dtype' must be a dtype"),
    "pool_padding": ("input x: (8, 8, 3)\n output y = x -> MaxPooling2D(2, padding=\"sam\")",
                     "'padding' must be one of 'valid', 'same'"),
    "pool_strides_zero": ("input x: (8, 8, 3)\n output y = x -> MaxPooling2D(2, strides=0)", "'strides' must be"),
    "pool_strides_length": ("input x: (8, 8, 3)\n output y = x -> MaxPooling2D(2, strides=(2, 2, 2))",
                            "'strides' must be"),
    "key_dim_zero": ("input x: (5, 8)\n output y = MultiHeadAttention(num_heads=2, key_dim=0)(x, x)",
                     "'key_dim' must be a positive integer"),
    "depth_multiplier_zero": ("input x: (8, 8, 3)\n output y = x -> SeparableConv2D(4, 3, depth_multiplier=0)",
                              "'depth_multiplier' must be a positive integer"),
    "negative_slope": ("input x: (8,)\n output y = x -> LeakyReLU(negative_slope=-1.0)",
                       "'negative_slope' must be a number of at least 0"),
    "relu_max_value": ("input x: (8,)\n output y = x -> ReLU(max_value=-1.0)", "'max_value' must be"),
    "noise_stddev": ("input x: (8,)\n output y = x -> GaussianNoise(-1.0)", "'stddev' must be a number between"),
    "rate_string": ("input x: (8,)\n output y = x -> Dropout(\"0.5\")", "'rate' must be a number between 0 and 1"),
    "cropping_negative": ("input x: (8, 8, 3)\n output y = x -> Cropping2D(cropping=-1)", "'cropping' must be"),
    "padding_count": ("input x: (8, 8, 3)\n output y = x -> ZeroPadding2D(padding=(1, 2, 3))", "'padding' must be"),
    "l2_negative": ("input x: (8,)\n output y = x -> Dense(4, kernel_regularizer=l2(-0.1))",
                    "'l2' must be a number of at least 0"),
    "groups_filters": ("input x: (8, 8, 6)\n output y = x -> Conv2D(8, 3, groups=3)",
                       "'filters' must be a multiple of 'groups'"),
    "output_padding": ("input x: (8, 8, 3)\n output y = x -> Conv2DTranspose(4, 3, strides=2, output_padding=2)",
                       "'output_padding' 2 must be smaller than 'strides'"),
    "gqa_heads": ("input x: (5, 8)\n"
                  " output y = GroupQueryAttention(head_dim=4, num_query_heads=3, num_key_value_heads=2)(x, x)",
                  "'num_query_heads' must be a multiple of 'num_key_value_heads'"),
    "time_distributed_string": ("input x: (5, 8)\n output y = x -> TimeDistributed(\"Dense\")",
                                "'layer' must be a layer"),
    "spectral_norm_recurrent": ("input x: (5, 8)\n output y = x -> SpectralNormalization(LSTM(4))",
                                "SpectralNormalization normalizes a layer with a kernel"),
    "identity_conv_kernel": ("input x: (8, 8, 3)\n output y = x -> Conv2D(8, 3, kernel_initializer=\"identity\")",
                             "the identity initializer only fits 2-D kernels"),
    "bn_axis_list": ("input x: (8, 8, 3)\n output y = x -> BatchNormalization(axis=(1, 3))",
                     "'axis' must be an integer"),
    "bn_axis_range": ("input x: (8, 3)\n output y = x -> BatchNormalization(axis=3)",
                      "axis 3 is out of range for input (None, 8, 3) of rank 3"),
    "layernorm_axis_range": ("input x: (8,)\n output y = x -> LayerNormalization(axis=-3)",
                             "axis -3 is out of range"),
    "concat_axis_range": ("input a: (4, 5)\n input b: (4, 5)\n output y = Concatenate(axis=5)(a, b)",
                          "axis 5 is out of range"),
    "dot_axes_range": ("input a: (5, 16)\n input b: (5, 16)\n output y = Dot(axes=3)(a, b)", "axis 3 is out of range"),
    "prelu_shared_axis": ("input x: (8, 3)\n output y = x -> PReLU(shared_axes=[3])", "shared axis 3 is out of range"),
    "einsum_rank": ("input x: (8,)\n output y = x -> EinsumDense(\"abc,cd->abd\", output_shape=(none, 4))",
                    "names 3 input axes"),
}

#: Mistakes Keras's model building lets through, and the model's first call
#: then fails: kspec check reports them before any tensor exists.
FIRST_CALL_MISTAKES = {
    "decoder_state_size": ("input x: (5, 8)\n seq, h, c = x -> LSTM(16, return_state=true)\n"
                           " output y = x -> LSTM(32)(initial_state=[h, c])",
                           "initial_state must be its 2 state tensors (None, 32) and (None, 32), got (None, 16) and "
                           "(None, 16)"),
    "decoder_one_state": ("input x: (5, 8)\n seq, h, c = x -> LSTM(16, return_state=true)\n"
                          " output y = x -> LSTM(16)(initial_state=[h])", "initial_state must be its 2 state tensors"),
    "attention_feature_dims": ("input q: (5, 64)\n input v: (7, 32)\n output y = AdditiveAttention()(q, v)",
                               "query (None, 5, 64) and key (None, 7, 32) must have the same last dimension"),
    "attention_key_length": ("input q: (5, 8)\n input v: (7, 8)\n input k: (6, 8)\n output y = Attention()(q, v, k)",
                             "value (None, 7, 8) and key (None, 6, 8) must have the same length"),
    "attention_ranks": ("input q: (5, 8)\n input m: (8,)\n output y = MultiHeadAttention(num_heads=2, key_dim=4)(q, m)",
                        "query (None, 5, 8) and value (None, 8) must have the same rank"),
}

#: Unusual models Keras builds: the static checks must accept them.
ACCEPTED = {
    "concat_batch_axis": "input a: (8,)\n input b: (8,)\n output y = Concatenate(axis=0)(a, b)",
    "resizing_one_image": "input x: (16, 3)\n output y = x -> Resizing(8, 8)",
    "rnn_cell_states": "input x: (5, 8)\n o, h, c = x -> RNN(LSTMCell(4), return_state=true)\n"
                       " output y = Concatenate()(o, h, c)",
    "attention_axes_scores": "input x: (4, 5, 8)\n"
                             " o, s = MultiHeadAttention(num_heads=2, key_dim=4, attention_axes=(1, 2))(x, x,"
                             " return_attention_scores=true)\n output y = o -> Flatten()\n output z = s -> Flatten()",
    "conv_padding_any_case": "input x: (8, 8, 3)\n output y = x -> Conv2D(4, 3, padding=\"SAME\")",
    "gru_extra_state": "input x: (5, 8)\n seq, h, c = x -> LSTM(16, return_state=true)\n"
                       " output y = x -> GRU(16)(initial_state=[h, c])",
    # legacy keywords constructors still take out of **kwargs (Keras warns about some)
    "legacy_keywords": "input x: (16,) int32\n output y = x -> Embedding(100, 8, input_length=16)"
                       " -> LSTM(4, implementation=1, return_sequences=true) -> LayerNormalization(rms_scaling=true)"
                       " -> LeakyReLU(alpha=0.2)",
}


def _model(body: str) -> str:
    return "model m {\n  " + body.strip() + "\n}\n"


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_planted_mistake_is_refused_by_check_and_by_keras(name: str) -> None:
    body, fragment = MISTAKES[name]
    text = _model(body)
    with pytest.raises(KspecError) as caught:
        kspec.loads(text, file=f"{name}.kspec")
    (diag,) = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert diag.code in ("K302", "K401") and fragment in diag.message, diag.message
    assert diag.span is not None and diag.span.line == 2 + body.strip().count("\n")
    with pytest.raises(KspecError):  # Keras itself refuses the same spec
        lower_spec(expand(parse_text(text, f"{name}.kspec")))


@pytest.mark.parametrize("name", sorted(FIRST_CALL_MISTAKES))
def test_mistake_keras_only_meets_at_the_first_call(name: str) -> None:
    import numpy as np

    body, fragment = FIRST_CALL_MISTAKES[name]
    text = _model(body)
    with pytest.raises(KspecError) as caught:
        kspec.loads(text, file=f"{name}.kspec")
    (diag,) = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert diag.code == "K401" and fragment in diag.message, diag.message
    model = lower_spec(expand(parse_text(text, f"{name}.kspec")))["m"]  # Keras builds it ...
    with pytest.raises(Exception):  # noqa: B017 - ... and the first call fails (the error type is the backend's)
        model([np.ones((2, *[d or 3 for d in t.shape[1:]]), "float32") for t in model.inputs])


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_unusual_models_keras_builds_pass_check(name: str) -> None:
    spec = kspec.loads(_model(ACCEPTED[name]), file=f"{name}.kspec")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's deprecation notices for the legacy keywords
        kspec.build(spec)
