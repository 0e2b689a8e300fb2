"""Audio layers: spectrograms computed from a batch of waveforms."""

from __future__ import annotations

from collections.abc import Iterator

from kspec.compiler.calls import positive_int
from kspec.compiler.registry._base import Ctx, Family, Given, Problem, Result

family = Family("audio")


def _frames(samples: int | None, stride: int) -> int | None:
    """Frames Keras reports for ``samples`` audio samples: one per stride,
    the signal padded at both ends (``MelSpectrogram.compute_output_shape``)."""
    return None if samples is None else (samples + stride + 1) // stride


def _mel_spectrogram(ctx: Ctx) -> Result:
    """(batch, samples) -> (batch, num_mel_bins, frames); no weights (the mel
    filter bank is computed, not learned)."""
    x = ctx.one()
    ctx.rank(x, 2)
    stride = int(ctx.args.get("sequence_stride"))
    return [(x[0], int(ctx.args.get("num_mel_bins")), _frames(x[1], stride))], 0


def _fft_covers_the_window(given: Given) -> Iterator[Problem]:
    """Keras refuses a window (``sequence_length``) longer than the FFT."""
    fft, window = given.args.get("fft_length", 2048), given.args.get("sequence_length")
    if isinstance(fft, int) and isinstance(window, int) and not isinstance(window, bool) and fft < window:
        yield Problem(f"{given.type}: 'fft_length' ({fft}) must be at least 'sequence_length' ({window})",
                      "fft_length")


family.add("MelSpectrogram", shape=_mel_spectrogram, checks=(_fft_covers_the_window,),
           args={"fft_length": positive_int(), "sequence_stride": positive_int(),
                 "sequence_length": positive_int(none=True), "num_mel_bins": positive_int(),
                 "sampling_rate": positive_int()})
family.add("STFTSpectrogram", unknown="its output depends on the mode and on expand_dims; not modelled yet")
