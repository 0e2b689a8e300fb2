"""The layer registry: what kspec knows about each layer family beyond the
generated catalogue (argument rules and shape rules, side by side).

One module per family (:mod:`.core`, :mod:`.convolution`, :mod:`.recurrent`
...) registers each of its layers by catalogue name with
:meth:`~kspec.compiler.registry._base.Family.add`; :mod:`._base` holds the
building blocks. The passes read the registry through the names below:
:func:`rule_for` (one layer, aliases resolved), :func:`argument_problems`
(the argument checks), and the views :data:`RULES`, :data:`MERGES` and
:data:`SHAPE_UNKNOWN` that shape inference uses.
"""

from __future__ import annotations

from types import ModuleType

from kspec.catalogue import ALIASES
from kspec.compiler.registry import (
    activations,
    attention,
    audio,
    convolution,
    core,
    merging,
    normalization,
    pooling,
    preprocessing,
    recurrent,
    regularization,
    reshaping,
)
from kspec.compiler.registry._base import (
    REFERENCE_KEYS,
    WRAPPED_LAYER_KEYS,
    Args,
    Ctx,
    Family,
    Layer,
    Problem,
    Result,
    Rule,
    Shape,
    ShapeError,
    TShape,
    Unknown,
    Unknowns,
    argument_problems,
    families,
    fmt_all,
    fmt_shape,
    lookup,
    spec_text,
    unknowns,
    wrapped_references,
)

__all__ = [
    "FAMILY_MODULES", "MERGES", "REFERENCE_KEYS", "RULES", "SHAPE_UNKNOWN", "WRAPPED_LAYER_KEYS", "Args", "Ctx",
    "Family", "Layer",
    "Problem", "Result", "Rule", "Shape", "ShapeError", "TShape", "Unknown", "Unknowns", "argument_problems",
    "families", "fmt_all", "fmt_shape", "rule_for", "spec_text", "unknowns",
    "wrapped_references",
]

#: The family modules, each of which registers its layers when imported.
FAMILY_MODULES: tuple[ModuleType, ...] = (activations, attention, audio, convolution, core, merging, normalization,
                                          pooling, preprocessing, recurrent, regularization, reshaping)


def rule_for(type_name: str) -> Layer | None:
    """Everything registered for a layer type (Keras's aliases resolved)."""
    return lookup(type_name)


def _layers() -> dict[str, Layer]:
    return {name: layer for family in families() for name, layer in family.layers.items()}


#: Shape rules by layer type, aliases included.
RULES: dict[str, Rule] = {
    name: layer.shape
    for name in [*_layers(), *ALIASES]
    if (layer := lookup(name)) is not None and layer.shape is not None
}
#: Layers that merge two or more tensors.
MERGES = frozenset(name for name, layer in _layers().items() if layer.merges)
#: Catalogue layers deliberately without a shape rule, with the reason:
#: inference gives them unknown outputs and goes on around them.
SHAPE_UNKNOWN: dict[str, str] = {
    name: layer.unknown for name, layer in _layers().items() if layer.unknown is not None
}
