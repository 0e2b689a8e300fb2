"""Image folders streamed without TensorFlow: a ``keras.utils.PyDataset``
that decodes a batch of images at a time with Pillow.

``keras.utils.image_dataset_from_directory`` builds a ``tf.data`` pipeline,
so it needs TensorFlow whatever the backend. On JAX or PyTorch without
TensorFlow installed, :func:`kspec.runtime.training.image_stream` uses
:func:`pillow_stream` instead. It keeps the utility's conventions:

- the same listing (class folders sorted, files sorted within each) and
  labels (the index of an image's class folder; one-hot for
  ``categorical``, a float column for ``binary``);
- pixels as float32 in 0..255, ``grayscale``/``rgb``/``rgba``, resized
  bilinearly to the folder's image size when they differ (the resampling
  filter is Pillow's, so resized pixels differ slightly from TensorFlow's);
- a validation split as the utility makes it: the listing (shuffled once
  with the seed when shuffling) with its last ``int(split * n)`` images
  kept apart;
- with ``shuffle``, a new order every epoch drawn from the seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kspec.runtime._quiet import import_keras
from kspec.spec.diagnostics import Diagnostic, KspecError

__all__ = ["pillow_stream"]

def _labels(folder: Any) -> np.ndarray | None:
    """The label of each image of ``folder`` as the utility gives it."""
    if not folder.label_mode:
        return None
    index = {name: i for i, name in enumerate(folder.classes)}
    ids = np.array([index[Path(f).relative_to(folder.path).parts[0]] for f in folder.files], dtype="int32")
    if folder.label_mode == "categorical":
        one_hot: np.ndarray = np.eye(len(folder.classes), dtype="float32")[ids]
        return one_hot
    if folder.label_mode == "binary":
        return ids.astype("float32").reshape(-1, 1)
    return ids


#: Pillow's mode for an image of 1, 3 or 4 channels.
PILLOW_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def unreadable_image_errors() -> tuple[type[Exception], ...]:
    """What Pillow raises for a file it cannot decode (a truncated or
    foreign file, a decompression bomb)."""
    from PIL import Image

    return OSError, SyntaxError, ValueError, Image.DecompressionBombError


def load_image(path: Path, height: int, width: int, channels: int) -> tuple[Any, tuple[int, int]]:
    """One image file as a Pillow image of ``channels`` channels and the
    given size (resized bilinearly when it differs), with its size as read
    (width, height). Pillow's errors (:func:`unreadable_image_errors`,
    ``UnidentifiedImageError`` among them) are the caller's to report."""
    from PIL import Image

    with Image.open(path) as opened:
        opened.load()
        image = opened.convert(PILLOW_MODES[channels])
    read = image.size
    if read != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return image, read


def _decode(path: Path, size: tuple[int, int], color_mode: str) -> np.ndarray:
    """One image as a float32 (height, width, channels) array."""
    channels = _CHANNELS[color_mode]
    try:
        image, _ = load_image(path, size[0], size[1], channels)
    except unreadable_image_errors() as exc:
        raise KspecError(Diagnostic("K401", f"{path}: cannot read the image ({exc})", None)) from None
    return np.asarray(image, dtype="float32").reshape(size[0], size[1], channels)


def pillow_stream(folder: Any, batch_size: int, *, shuffle: bool, seed: int | None, validation_split: float,
                  drop_remainder: bool) -> tuple[Any, Any]:
    """(training batches, validation batches or None) of a checked
    :class:`~kspec.runtime.data.ImageFolder`; see the module's docstring."""
    keras = import_keras()
    files = [Path(f) for f in folder.files]
    labels = _labels(folder)
    rows = np.arange(len(files))
    parts = [rows]
    if shuffle:  # the utility shuffles its listing once, before splitting it
        np.random.RandomState(seed).shuffle(rows)
    if validation_split:
        kept = int(validation_split * len(rows))
        if kept == 0 or kept == len(rows):
            raise KspecError(Diagnostic("K401", f"{folder.path}: a validation split of {validation_split} of "
                                        f"{len(rows)} images leaves one part without images", None))
        parts = [rows[:-kept], rows[-kept:]]

    class _Batches(keras.utils.PyDataset):  # type: ignore[misc,name-defined]
        """Batches of decoded images (and their labels), in order or
        shuffled anew every epoch."""

        def __init__(self, order: np.ndarray, reshuffle: bool) -> None:
            super().__init__()
            self.order = order.copy()
            self.reshuffle = reshuffle
            self.rng = np.random.default_rng(seed)
            self.file_paths = [str(files[i]) for i in self.order]
            if reshuffle:
                self.on_epoch_end()

        def __len__(self) -> int:
            whole, rest = divmod(len(self.order), batch_size)
            return whole if drop_remainder or not rest else whole + 1

        def __getitem__(self, index: int) -> Any:
            chosen = self.order[index * batch_size:(index + 1) * batch_size]
            x = np.stack([_decode(files[i], folder.image_size, folder.color_mode) for i in chosen])
            return x if labels is None else (x, labels[chosen])

        def on_epoch_end(self) -> None:
            if self.reshuffle:
                self.rng.shuffle(self.order)

    train = _Batches(parts[0], shuffle)
    return train, (_Batches(parts[1], False) if len(parts) > 1 else None)
