"""What ``kspec viz`` needs from Keras: a model's layer graph, and what each
layer computes for given inputs.

- :func:`layer_graph` reads a built model's layers and connections from its
  config (the public, serialised form): one node per layer object, an edge
  per connection with the shape of the tensor it carries, parameter counts
  (trainable and not), shared layers and sub-models marked.
- :func:`read_images` reads image files with Pillow and resizes them to the
  model's image input, the way ``kspec train`` reads an image folder
  (bilinear, values 0-255 as floats).
- :func:`sample_views` runs the model on each input once and turns the
  outputs of the layers worth looking at into small palette PNGs: one
  sprite sheet per layer (a tile per channel) for image-shaped outputs, a
  heat map over time or units for sequences and vectors, each with the
  min/max that maps its pixels back to values; plus the top-k predictions
  and a Grad-CAM heat map (TensorFlow and torch, which can take gradients).

Everything here returns plain data (dicts of strings and numbers) that the
page renders; nothing is written to disk.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kspec.runtime.images import PILLOW_MODES

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageInput",
    "Probe",
    "Sample",
    "VizError",
    "VizLimits",
    "gradcam_support",
    "image_input",
    "layer_graph",
    "list_images",
    "read_images",
    "read_rows",
    "sample_views",
    "viewable_layers",
]

#: Files a directory given to ``--images`` contributes (others in it are skipped).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
#: Channels of an image input -> the Pillow mode its images are converted to.
#: Layer classes whose outputs the page shows for every input, by family.
_MAP_FAMILIES = ("Conv", "Pooling", "Normalization")
#: Layer classes shown as heat maps over time or units when their output is 2-D or 3-D.
_VECTOR_TYPES = frozenset({
    "Dense", "EinsumDense", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "RNN", "Embedding",
    "Attention", "MultiHeadAttention", "AdditiveAttention", "GroupQueryAttention",
    "ConvLSTM1D", "ConvLSTM2D", "Activation", "ReLU", "Softmax", "LeakyReLU", "ELU", "PReLU",
})


class VizError(Exception):
    """A mistake in what the user asked to visualise (a file that is not an
    image, a model without an image input): one sentence, exit 2."""


@dataclass(frozen=True)
class VizLimits:
    """Bounds on the page's size: images, channels per layer, tile side."""

    images: int = 16
    maps: int = 64
    tile: int = 64
    top_k: int = 5


@dataclass(frozen=True)
class ImageInput:
    """A model's single image input: its size and channels (channels last)."""

    height: int
    width: int
    channels: int


@dataclass
class Sample:
    """One input to look at: its label, the arrays fed to the model (batch of
    one) and, for an image, a preview PNG."""

    label: str
    inputs: list[np.ndarray]
    preview: str | None = None  # a data: URI
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# the graph


def _shape_text(shape: Any) -> str:
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _tensors_in(value: Any) -> list[tuple[str, Any]]:
    """The (source layer name, shape) of every Keras tensor in a node's serialised arguments."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            config = value.get("config", {})
            history = config.get("keras_history") or [None]
            found.append((str(history[0]), config.get("shape")))
            return found
        for item in value.values():
            found += _tensors_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += _tensors_in(item)
    return found


def _weights_size(weights: list[Any]) -> int:
    return int(sum(math.prod(int(d) for d in w.shape) for w in weights))


def _output_shape(layer: Any) -> str:
    """A layer's output shape as text; several outputs as a list; '?' for a
    layer applied more than once (one shape per application)."""
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return "?"
    if isinstance(out, (list, tuple)):
        return "[" + ", ".join(_shape_text(t.shape) for t in out) + "]"
    if isinstance(out, dict):
        return "{" + ", ".join(f"{k}: {_shape_text(t.shape)}" for k, t in out.items()) + "}"
    return _shape_text(out.shape)


def layer_graph(model: Any) -> dict[str, Any]:
    """The layers of ``model`` (one node per layer object) and their
    connections, with shapes and parameter counts, as plain data."""
    config = model.get_config()
    sequential = type(model).__name__ == "Sequential"
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    layers = list(model.layers)
    if sequential and model.inputs:
        shape = _shape_text(model.inputs[0].shape)
        nodes.append({"id": "input", "type": "InputLayer", "shape": shape, "params": 0, "trainable": 0,
                      "calls": 1, "sub": False})
        previous = ("input", shape)
        for layer in layers:
            nodes.append(_node(layer, 1))
            edges.append({"s": previous[0], "t": layer.name, "shape": previous[1]})
            previous = (layer.name, nodes[-1]["shape"])
        return {"nodes": nodes, "edges": edges}
    by_name = {layer.name: layer for layer in layers}
    for entry in config.get("layers", []):
        name = entry.get("name") or entry.get("config", {}).get("name")
        layer = by_name.get(name)
        if layer is None:
            continue
        calls = max(1, len(entry.get("inbound_nodes") or []))
        nodes.append(_node(layer, calls))
        seen: set[tuple[str, str]] = set()
        for call in entry.get("inbound_nodes") or []:
            for source, shape in _tensors_in(call):
                text = _shape_text(shape) if isinstance(shape, (list, tuple)) else "?"
                if source in by_name and (source, text) not in seen:
                    seen.add((source, text))
                    edges.append({"s": source, "t": name, "shape": text})
    return {"nodes": nodes, "edges": edges}


def _node(layer: Any, calls: int) -> dict[str, Any]:
    kind = type(layer).__name__
    return {
        "id": layer.name,
        "type": kind,
        "shape": _output_shape(layer),
        "params": int(layer.count_params()) if layer.built else 0,
        "trainable": _weights_size(layer.trainable_weights),
        "calls": calls,
        "sub": kind in ("Functional", "Sequential") or hasattr(layer, "layers"),
    }


# --------------------------------------------------------------------------
# inputs


def image_input(model: Any) -> ImageInput:
    """The model's image input, or a :class:`VizError` saying why it has none."""
    inputs = list(model.inputs or [])
    if len(inputs) != 1:
        raise VizError(f"the model has {len(inputs)} inputs; --images needs a model with one image input")
    shape = tuple(inputs[0].shape)[1:]
    if len(shape) != 3 or any(d is None for d in shape):
        raise VizError(f"the model's input has shape {_shape_text((None, *shape))}, not an image "
                       "(height, width, channels) with a known size; --images needs an image input")
    height, width, channels = (int(d) for d in shape)
    if channels not in PILLOW_MODES:
        raise VizError(f"the model's input has {channels} channels; images are read with 1 (grayscale), "
                       "3 (rgb) or 4 (rgba)")
    return ImageInput(height, width, channels)


def list_images(items: list[str], limit: int) -> tuple[list[Path], int]:
    """The image files named by ``items`` (files, or directories whose image
    files are taken in name order), at most ``limit`` of them, and how many
    there were in all."""
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists():
            files.append(path)
        else:
            raise VizError(f"no image file or directory '{item}'")
    if not files:
        raise VizError("--images names no image files (" + ", ".join(repr(i) for i in items) + ")")
    return files[:limit], len(files)


def read_images(files: list[Path], port: ImageInput) -> list[Sample]:
    """Each file read with Pillow, converted to the input's channels and
    resized to its size (bilinear): a :class:`VizError` naming a file that
    is not an image."""
    from PIL import UnidentifiedImageError

    from kspec.runtime.images import load_image, unreadable_image_errors

    samples: list[Sample] = []
    for file in files:
        try:
            converted, read = load_image(file, port.height, port.width, port.channels)
        except UnidentifiedImageError:
            raise VizError(f"'{file}' is not an image Pillow can read") from None
        except unreadable_image_errors() as exc:
            raise VizError(f"cannot read image '{file}': {exc}") from None
        notes = []
        if read != (port.width, port.height):
            notes.append(f"resized from {read[0]}x{read[1]} to {port.width}x{port.height}")
        array = np.asarray(converted, dtype=np.float32).reshape(port.height, port.width, port.channels)
        samples.append(Sample(file.name, [array[None]], _png_uri(converted), notes))
    return samples


def read_rows(path: Path, model: Any, limit: int) -> tuple[list[Sample], int]:
    """The first ``limit`` rows of an ``.npz`` of input arrays (keyed by input
    name, or one array for a one-input model) as samples, and the row count."""
    import zipfile

    from kspec.spec import limits

    size = path.stat().st_size
    if size > limits.current().data_bytes:
        raise VizError(f"'{path}' has {size} bytes, more than the limit data_bytes={limits.current().data_bytes}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise VizError(f"cannot read '{path}' as an .npz of arrays: {exc}") from None
    ports = [(t.name, tuple(t.shape)[1:]) for t in model.inputs]
    if len(arrays) == 1 and len(ports) == 1:
        chosen = list(arrays.values())
    else:
        absent = [name for name, _ in ports if name not in arrays]
        if absent:
            raise VizError(f"'{path}' has no array for input '{absent[0]}' (it has: {', '.join(arrays) or 'none'})")
        chosen = [arrays[name] for name, _ in ports]
    for (name, shape), array in zip(ports, chosen, strict=True):
        if array.shape[1:] != shape and not (len(array.shape) == len(shape) + 1 and all(
                d is None or d == a for d, a in zip(shape, array.shape[1:], strict=True))):
            raise VizError(f"'{path}': input '{name}' wants rows of shape {_shape_text((None, *shape))}, "
                           f"the array has shape {_shape_text(array.shape)}")
    total = min(int(a.shape[0]) for a in chosen)
    samples = [Sample(f"row {i}", [np.asarray(a[i:i + 1]) for a in chosen]) for i in range(min(total, limit))]
    return samples, total


# --------------------------------------------------------------------------
# pictures


def _palette() -> list[int]:
    """A viridis-like palette: 256 RGB entries from dark blue to yellow."""
    stops = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
    out: list[int] = []
    for i in range(256):
        t = i / 255 * (len(stops) - 1)
        k = min(int(t), len(stops) - 2)
        f = t - k
        out += [round(a + (b - a) * f) for a, b in zip(stops[k], stops[k + 1], strict=True)]
    return out


_PALETTE = _palette()


def _png_uri(img: Any) -> str:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _quantise(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values as 0-255 levels between ``low`` and ``high`` (all 0 when flat
    or not finite)."""
    if not high > low or not math.isfinite(high - low):
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float64) - low) / (high - low) * 255.0
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _bounds(values: np.ndarray) -> tuple[float, float]:
    """The finite min and max of ``values`` (0, 0 when none is finite)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def _palette_png(levels: np.ndarray) -> str:
    from PIL import Image

    img = Image.fromarray(levels, mode="P")
    img.putpalette(_PALETTE)
    return _png_uri(img)


def _resize_map(values: np.ndarray, side: int) -> tuple[np.ndarray, bool]:
    """A 2-D map shrunk (box filter) so neither side exceeds ``side``."""
    h, w = values.shape
    if max(h, w) <= side:
        return values, False
    from PIL import Image

    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    shrunk = Image.fromarray(values.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX)
    return np.asarray(shrunk, dtype=np.float32), True


def grid_view(output: np.ndarray, limits: VizLimits) -> dict[str, Any]:
    """One image-shaped output (H, W, C) as a sprite sheet: a tile per channel
    (at most ``limits.maps``), each scaled between its own min and max."""
    channels = output.shape[-1]
    shown = min(channels, limits.maps)
    maps = np.moveaxis(output[..., :shown], -1, 0)  # (C, H, W)
    resized = max(maps.shape[1:]) > limits.tile
    if resized:
        maps = np.stack([_resize_map(m, limits.tile)[0] for m in maps])
    _, th, tw = maps.shape
    finite = np.isfinite(maps)
    lows = np.where(finite, maps, np.inf).min(axis=(1, 2))
    highs = np.where(finite, maps, -np.inf).max(axis=(1, 2))
    empty = ~np.isfinite(lows)  # a channel with no finite value
    lows[empty], highs[empty] = 0.0, 0.0
    span = (highs - lows).astype(np.float64)
    flat = ~(span > 0) | ~np.isfinite(span)
    scale = np.where(flat, 0.0, 255.0 / np.where(flat, 1.0, span))
    levels = (maps.astype(np.float64) - lows[:, None, None]) * scale[:, None, None]
    levels = np.clip(np.rint(np.nan_to_num(levels, nan=0.0, posinf=255.0, neginf=0.0)), 0, 255).astype(np.uint8)
    cols = max(1, math.ceil(math.sqrt(shown)))
    rows = math.ceil(shown / cols)
    padded = np.zeros((rows * cols, th, tw), dtype=np.uint8)
    padded[:shown] = levels
    sheet = padded.reshape(rows, cols, th, tw).transpose(0, 2, 1, 3).reshape(rows * th, cols * tw)
    return {"kind": "grid", "src": _palette_png(sheet), "tile": [th, tw], "cols": cols, "count": shown,
            "total": channels, "min": [float(v) for v in lows], "max": [float(v) for v in highs],
            "resized": bool(resized), "source": [int(output.shape[0]), int(output.shape[1])]}


def heat_view(output: np.ndarray) -> dict[str, Any]:
    """A sequence (T, F) or a vector (U,) as one heat map, scaled between its
    min and max: time down, features across; a vector is one row."""
    values = output if output.ndim == 2 else output.reshape(1, -1)
    low, high = _bounds(values)
    return {"kind": "heat", "src": _palette_png(_quantise(values, low, high)), "size": list(values.shape),
            "min": [low], "max": [high], "axes": "time x features" if output.ndim == 2 else "units"}


def viewable_layers(model: Any) -> list[Any]:
    """The top-level layers whose outputs the page shows: convolutions,
    pooling and normalization layers, and (for sequence and vector models)
    dense, recurrent, embedding and activation layers; only layers applied
    once, whose output is one tensor of rank 2 to 4."""
    chosen = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        try:
            out = layer.output
        except (AttributeError, ValueError):
            continue  # a shared layer: one output per application
        if isinstance(out, (list, tuple, dict)) or not 2 <= len(out.shape) <= 4:
            continue
        if any(family in kind for family in _MAP_FAMILIES) or kind in _VECTOR_TYPES:
            chosen.append(layer)
    return chosen


def _view(output: np.ndarray, limits: VizLimits) -> dict[str, Any]:
    return grid_view(output, limits) if output.ndim == 3 else heat_view(output)


# --------------------------------------------------------------------------
# predictions and Grad-CAM


def gradcam_support(backend: str) -> str | None:
    """Why Grad-CAM is not available on ``backend`` (None: it is)."""
    if backend in ("tensorflow", "torch", "jax"):
        return None
    return (f"Grad-CAM needs gradients through the model; kspec computes them on the TensorFlow, JAX and torch "
            f"backends, not on '{backend}' (set KERAS_BACKEND=tensorflow to see it)")


def _gradcam_layer(model: Any) -> Any | None:
    """The last top-level layer with an image-shaped (rank 4) output, as the
    keras.io Grad-CAM example uses the last convolutional block."""
    last = None
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            out = layer.output
        except (AttributeError, ValueError):
            continue
        if not isinstance(out, (list, tuple, dict)) and len(out.shape) == 4:
            last = layer
    return last


def _forward(model: Any, layer: Any, x: Any) -> tuple[Any, Any]:
    """The output of ``layer`` and the model's output, computed in one pass
    (so the second depends on the first for the tape). A Sequential model is
    run layer by layer: its layers' symbolic outputs need not belong to the
    graph of its own outputs."""

    if type(model).__name__ == "Sequential":
        conv = None
        for step in model.layers:
            x = step(x, training=False)
            if step is layer:
                conv = x
        return conv, x
    return tuple(_split(model, layer, "both")([x], training=False))


#: Models built to take a model apart at a layer, kept per (model, layer, part):
#: building a functional model over ResNet-50 costs seconds.
_SPLITS: dict[tuple[int, str, str], tuple[Any, Any]] = {}


def _split(model: Any, layer: Any, part: str) -> Any:
    """A functional model over ``model``: ``both`` (input -> layer output and
    model output), ``features`` (input -> layer output) or ``head`` (layer
    output -> model output)."""
    import keras

    key = (id(model), layer.name, part)
    cached = _SPLITS.get(key)
    if cached is not None and cached[0] is model:
        return cached[1]
    if part == "both":
        built = keras.Model(model.inputs, [layer.output, model.outputs[0]])
    elif part == "features":
        built = keras.Model(model.inputs, layer.output)
    else:
        built = keras.Model(layer.output, model.outputs[0])
    _SPLITS[key] = (model, built)
    return built


def _gradients(model: Any, layer: Any, x: np.ndarray, index: int, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """The output of ``layer`` and the gradient of class ``index``'s score with respect to it."""
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            conv, preds = _forward(model, layer, tf.convert_to_tensor(x))
            score = preds[:, index]
        grads = tape.gradient(score, conv)
        return np.asarray(conv)[0], np.asarray(grads)[0]
    if backend == "jax":
        return _jax_gradients(model, layer, x, index)
    import torch

    with torch.enable_grad():
        conv, preds = _forward(model, layer, torch.as_tensor(x))
        (grads,) = torch.autograd.grad(preds[:, index].sum(), conv)
    return conv.detach().cpu().numpy()[0], grads.detach().cpu().numpy()[0]


def _jax_gradients(model: Any, layer: Any, x: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """JAX has no tape: the model is split at ``layer`` into a feature part
    and a head, and ``jax.grad`` differentiates the head's class score."""
    import jax

    if type(model).__name__ == "Sequential":
        steps = list(model.layers)
        cut = steps.index(layer) + 1
        conv: Any = x
        for step in steps[:cut]:
            conv = step(conv, training=False)

        def score(c: Any) -> Any:
            for step in steps[cut:]:
                c = step(c, training=False)
            return c[0, index]
    else:
        conv = _split(model, layer, "features")([x], training=False)
        head = _split(model, layer, "head")

        def score(c: Any) -> Any:
            return head(c, training=False)[0, index]

    grads = jax.grad(score)(conv)
    return np.asarray(conv)[0], np.asarray(grads)[0]


def _jet(levels: np.ndarray) -> np.ndarray:
    """The jet colour map (as the keras.io example uses) for 0-255 levels: (H, W, 3) uint8."""
    t = levels.astype(np.float64) / 255.0
    r = np.clip(1.5 - np.abs(4 * t - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * t - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * t - 1), 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def gradcam(model: Any, sample: Sample, index: int, backend: str) -> tuple[str | None, str]:
    """A Grad-CAM heat map over the sample's image for class ``index`` (a
    data: URI, or None) and a note on how it was made or why it is absent."""

    why = gradcam_support(backend)
    if why is not None:
        return None, why
    layer = _gradcam_layer(model)
    if layer is None:
        return None, "Grad-CAM needs a layer with an image-shaped output; this model has none"
    try:
        conv, grads = _gradients(model, layer, sample.inputs[0], index, backend)
    except ValueError as exc:  # a graph Keras cannot split at that layer (a path around it)
        return None, f"Grad-CAM is not available for this model on '{backend}': {exc}"
    weights = grads.mean(axis=(0, 1))
    heat = np.maximum(conv @ weights, 0)
    peak = float(heat.max())
    heat = heat / peak if peak > 0 else heat
    from PIL import Image

    base = sample.inputs[0][0]
    h, w = base.shape[:2]
    levels = Image.fromarray(np.uint8(np.rint(heat * 255)), mode="L").resize((w, h), Image.Resampling.BILINEAR)
    colour = _jet(np.asarray(levels)).astype(np.float32)
    picture = base if base.shape[-1] == 3 else np.repeat(base[..., :1], 3, axis=-1)
    blend = np.clip(colour * 0.4 + picture * 0.6, 0, 255).astype(np.uint8)
    return _png_uri(Image.fromarray(blend, mode="RGB")), f"Grad-CAM on layer '{layer.name}'"


def predictions(output: np.ndarray, classes: list[str] | None, top_k: int) -> list[dict[str, Any]]:
    """The ``top_k`` highest scores of a vector output, with class names when known."""
    scores = output.reshape(-1)
    if scores.size == 1 and classes is not None and len(classes) == 2:  # one sigmoid unit: P(second class)
        p = float(scores[0])
        pairs = sorted([(1, classes[1], p), (0, classes[0], 1.0 - p)], key=lambda t: -t[2])
        return [{"index": i, "label": label, "score": score} for i, label, score in pairs[:top_k]]
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [{"index": int(i), "label": classes[i] if classes else f"class {int(i)}", "score": float(scores[i])}
            for i in order]


def _numpy(value: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


class Probe:
    """What the server computes when the page asks: one layer's view for one
    sample, or a sample's predictions and Grad-CAM; each answer and each
    per-layer model is kept, so asking twice costs nothing."""

    def __init__(self, model: Any, samples: list[Sample], classes: list[str] | None, limits: VizLimits) -> None:
        self.model = model
        self.samples = samples
        self.classes = classes
        self.limits = limits
        self.viewable = {layer.name: layer for layer in viewable_layers(model)}
        self._answers: dict[tuple[str, int, str], dict[str, Any] | None] = {}

    def layer(self, index: int, name: str) -> dict[str, Any] | None:
        """The view of layer ``name`` for sample ``index`` (None: not a viewable layer)."""
        key = ("layer", index, name)
        if key not in self._answers:
            layer = self.viewable.get(name)
            if layer is None:
                self._answers[key] = None
            else:

                value = _numpy(_split(self.model, layer, "features")(list(self.samples[index].inputs), training=False))
                self._answers[key] = _view(value[0], self.limits)
        return self._answers[key]

    def sample(self, index: int) -> dict[str, Any]:
        """Sample ``index``'s predictions and Grad-CAM heat map."""
        key = ("sample", index, "")
        if key not in self._answers:
            entry = sample_views(self.model, [self.samples[index]], self.classes, self.limits, with_layers=False)[0]
            self._answers[key] = {k: v for k, v in entry.items() if k not in ("layers", "image", "label")}
        answer = self._answers[key]
        assert answer is not None
        return answer


def sample_views(model: Any, samples: list[Sample], classes: list[str] | None, limits: VizLimits,
                 *, with_gradcam: bool = True, with_layers: bool = True) -> list[dict[str, Any]]:
    """For each sample: the view of every viewable layer's output (unless
    ``with_layers`` is false), the top-k predictions (a model with one vector
    output) and Grad-CAM (an image model)."""
    import keras

    layers = viewable_layers(model) if with_layers else []
    outputs = list(model.outputs)
    probe = keras.Model(model.inputs, [layer.output for layer in layers] + outputs)
    backend = keras.backend.backend()
    views = []
    for sample in samples:
        values = probe(list(sample.inputs), training=False)
        values = [_numpy(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
        entry: dict[str, Any] = {"label": sample.label, "image": sample.preview, "notes": list(sample.notes),
                                 "layers": {layer.name: _view(v[0], limits)
                                            for layer, v in zip(layers, values, strict=False)}}
        final = values[len(layers):]
        if len(final) == 1 and final[0].ndim == 2:
            scores = final[0][0]
            entry["predictions"] = predictions(scores, classes, limits.top_k)
            if with_gradcam and sample.preview is not None:
                index = entry["predictions"][0]["index"] if scores.size > 1 else 0  # one unit: its own score
                entry["gradcam"], entry["gradcam_note"] = gradcam(model, sample, index, backend)
        views.append(entry)
    return views
