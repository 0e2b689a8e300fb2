"""Preprocessing layers: rescaling and normalization, resizing and
cropping, image augmentation, and the encodings of categories (hashing,
lookups, discretization)."""

from __future__ import annotations

import math

from kspec.compiler.calls import choice, positive_int
from kspec.compiler.registry._base import Ctx, Family, Result, Shape, ShapeError, Unknown
from kspec.compiler.registry._common import axes, channels_first, identity, known

family = Family("preprocessing")

family.add("Rescaling", shape=identity)


def _normalization(ctx: Ctx) -> Result:
    """Normalization keeps its mean, variance and count as (non-trainable)
    weights unless both mean and variance are given."""
    x = ctx.one()
    if ctx.args.get("mean") is not None and ctx.args.get("variance") is not None:
        return [x], 0
    axis = ctx.args.get("axis", -1)
    kept = [] if axis is None else axes(ctx, x, axis)
    dims = [known(ctx, x, x[a], f"dimension {a}") for a in kept]
    return [x], 2 * math.prod(dims) + 1


family.add("Normalization", shape=_normalization)


def _resize(ctx: Ctx) -> Result:
    x = ctx.one()
    h, w = int(ctx.args.get("height")), int(ctx.args.get("width"))
    if len(x) == 3:  # Keras takes a rank-3 tensor for one image without a batch axis
        return [(x[0], h, w) if channels_first(ctx) else (h, w, x[2])], 0
    ctx.rank(x, 4)
    if channels_first(ctx):
        return [(x[0], x[1], h, w)], 0
    return [(x[0], h, w, x[3])], 0


for _name in ("Resizing", "CenterCrop", "RandomCrop"):
    family.add(_name, shape=_resize)

#: Image augmentations: each output is shaped like its input.
_AUGMENTATIONS = (
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness",
    "RandomGrayscale", "RandomHue", "RandomSaturation", "RandomSharpness", "RandomShear", "RandomPerspective",
    "RandomPosterization", "RandomInvert", "RandomGaussianBlur", "RandomErasing", "RandomElasticTransform",
    "RandomColorJitter", "RandomColorDegeneration", "Solarization", "AutoContrast", "AugMix", "RandAugment",
    "CutMix", "MixUp",
)
for _name in _AUGMENTATIONS:
    family.add(_name, shape=identity)


def _equalization(ctx: Ctx) -> Result:
    """Keras 3.15's Equalization hands back its own input tensor when called
    symbolically, so any model through it fails to build (as a cycle)."""
    raise ShapeError("Equalization cannot be part of a model in this Keras: its symbolic output is its own input "
                     "tensor, which Keras reports as a cycle (apply it to data, outside the model)")


family.add("Equalization", shape=_equalization)
family.add("ContrastLimitedAdaptiveHistogramEqualization", unknown="not modelled yet")
family.add("MaxNumBoundingBoxes", unknown="acts on bounding-box data, not on one image tensor")
family.add("Pipeline", unknown="runs a list of layer objects, which a spec cannot write as arguments")


# --------------------------------------------------------------------------
# Categories

_ENCODINGS = ("one_hot", "multi_hot", "count")


def _encode(x: Shape, mode: str, depth: int) -> Shape:
    """Keras's encoding of integer indices into ``depth`` slots."""
    if mode == "int":
        return x
    if mode == "one_hot":
        if len(x) >= 2 and x[-1] == 1:
            return (*x[:-1], depth)
        return (*x, depth)
    if len(x) == 1:
        return (depth,)  # as Keras has it: a rank-1 input loses its batch axis
    if len(x) == 2:
        return (x[0], depth)
    return (*x[:-1], depth)


def _category_encoding(ctx: Ctx) -> Result:
    x = ctx.one()
    return [_encode(x, str(ctx.args.get("output_mode", "multi_hot")), int(ctx.args.get("num_tokens")))], 0


family.add("CategoryEncoding", shape=_category_encoding,
           args={"num_tokens": positive_int(), "output_mode": choice(*_ENCODINGS, comma_list=True)})


def _discretization(ctx: Ctx) -> Result:
    x = ctx.one()
    mode = str(ctx.args.get("output_mode", "int"))
    if mode == "int":
        return [x], 0
    bins = ctx.args.get("bin_boundaries")
    depth = len(bins) + 1 if isinstance(bins, list) else int(ctx.args.get("num_bins"))
    return [_encode(x, mode, depth)], 0


family.add("Discretization", shape=_discretization, args={"output_mode": choice("int", *_ENCODINGS, comma_list=True)})


def _hashing(ctx: Ctx) -> Result:
    x = ctx.one()
    mode = str(ctx.args.get("output_mode", "int"))
    return [x if mode == "int" else _encode(x, mode, int(ctx.args.get("num_bins")))], 0


family.add("Hashing", shape=_hashing,
           args={"num_bins": positive_int(), "output_mode": choice("int", *_ENCODINGS, comma_list=True)})
family.add("HashedCrossing",
           args={"num_bins": positive_int(), "output_mode": choice("int", "one_hot", comma_list=True)},
           unknown="crosses several feature tensors given together; not modelled yet")


def _lookup(ctx: Ctx) -> Result:
    """StringLookup/IntegerLookup: the vocabulary size (and so any output
    mode but ``int``) may come from a file or ``adapt``."""
    x = ctx.one()
    if str(ctx.args.get("output_mode", "int")) != "int":
        raise Unknown()
    return [x], 0


for _name in ("IntegerLookup", "StringLookup"):
    family.add(_name, shape=_lookup, args={"output_mode": choice("int", *_ENCODINGS, "tf_idf", comma_list=True)},
               paths=("vocabulary",))
family.add("TextVectorization", args={"output_mode": choice("int", "multi_hot", "count", "tf_idf", comma_list=True)},
           unknown="its output length and vocabulary size may come from adapt() or a vocabulary file",
           paths=("vocabulary",))
