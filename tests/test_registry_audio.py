"""The audio family (compiler/registry/audio.py): static shapes and
argument checks equal what Keras builds and refuses."""

from __future__ import annotations

import pytest

import kspec
from kspec.compiler.shapes import infer_spec
from kspec.spec.diagnostics import KspecError

CASES = [("", 16000), ("sequence_stride=160, num_mel_bins=64", 16000), ("fft_length=512, sequence_stride=128", 999),
         ("", None)]


@pytest.mark.parametrize(("args", "samples"), CASES)
def test_mel_spectrogram_shapes_equal_keras(args: str, samples: int | None) -> None:
    text = f"model m {{\n  input x: ({samples if samples else 'None'},)\n  output y = x -> MelSpectrogram({args})\n}}\n"
    spec = kspec.loads(text)
    shapes = infer_spec(spec).models["m"]
    model = kspec.build(spec)
    assert shapes.outputs == [tuple(model.outputs[0].shape)]
    assert shapes.params == model.count_params() == 0


def test_a_window_longer_than_the_fft_is_refused_as_keras_does() -> None:
    text = "model m {\n  input x: (16000,)\n  output y = x -> MelSpectrogram(fft_length=256, sequence_length=512)\n}\n"
    with pytest.raises(KspecError) as info:
        kspec.loads(text, file="a.kspec")
    assert str(info.value) == ("a.kspec:3:34: error[K302]: MelSpectrogram: 'fft_length' (256) must be at least "
                               "'sequence_length' (512)")
