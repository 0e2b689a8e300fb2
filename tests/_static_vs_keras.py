"""Shared by the shape tests: a spec's static shapes and parameter counts
against the Keras model built from it."""

from __future__ import annotations

from typing import Any

from kspec.compiler.shapes import infer_spec
from kspec.spec import ir

__all__ = ["compare"]


def _keras_shape(shape: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in shape)


def compare(spec: ir.Spec) -> None:
    """Every layer known statically matches the built Keras model."""
    import kspec

    model = kspec.build(spec)
    shapes = infer_spec(spec)
    static = shapes.models[model.name]
    by_name = {layer.name: layer for layer in model.layers}
    for info in static.layers:
        if info.type == "InputLayer" and static.kind == "sequential":
            continue
        layer = by_name[info.name]
        assert info.params == layer.count_params(), (info.name, info.params, layer.count_params())
        if info.calls == 1 and info.type not in ("Functional", "Sequential"):
            outs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
            assert info.outputs == [_keras_shape(t.shape) for t in outs], info.name
    assert static.params == model.count_params()
    outs = model.outputs
    assert static.outputs == [_keras_shape(t.shape) for t in outs]
