"""Normalization layers: BatchNormalization, LayerNormalization,
GroupNormalization, RMSNormalization, UnitNormalization, and the
SpectralNormalization wrapper."""

from __future__ import annotations

import math
from collections.abc import Iterator

from kspec.catalogue import catalogue
from kspec.compiler.calls import integer, positive_int
from kspec.compiler.registry._base import (
    Args,
    Ctx,
    Family,
    Given,
    Problem,
    Result,
    ShapeError,
    Unknown,
    fmt_shape,
    lookup,
)
from kspec.compiler.registry._common import axes, axis, identity, known
from kspec.spec import ir

family = Family("normalization")


def _batchnorm(ctx: Ctx) -> Result:
    x = ctx.one()
    dims = [known(ctx, x, x[a], f"dimension {a}") for a in axes(ctx, x, ctx.args.get("axis", -1))]
    c = math.prod(d for d in dims if d is not None)
    n = 2 + int(bool(ctx.args.get("center", True))) + int(bool(ctx.args.get("scale", True)))
    return [x], n * c


family.add("BatchNormalization", shape=_batchnorm, args={"axis": integer()})


def _layernorm(ctx: Ctx) -> Result:
    x = ctx.one()
    dims = [known(ctx, x, x[a], f"dimension {a}") for a in axes(ctx, x, ctx.args.get("axis", -1))]
    c = math.prod(d for d in dims if d is not None)
    n = int(bool(ctx.args.get("center", True))) + int(bool(ctx.args.get("scale", True)))
    if ctx.args.get("rms_scaling", False):
        n = 1
    return [x], n * c


family.add("LayerNormalization", shape=_layernorm)


def _group_norm(ctx: Ctx) -> Result:
    x = ctx.one()
    a = axis(ctx, x, ctx.args.get("axis", -1))
    c = known(ctx, x, x[a], f"dimension {a}")
    groups = int(ctx.args.get("groups", 32))
    if groups <= 0 or c % groups:
        raise ShapeError(f"GroupNormalization: {c} channels of input {fmt_shape(x)} cannot be split into "
                         f"{groups} groups")
    n = int(bool(ctx.args.get("center", True))) + int(bool(ctx.args.get("scale", True)))
    return [x], n * c


family.add("GroupNormalization", shape=_group_norm, args={"groups": positive_int()})


def _rms_norm(ctx: Ctx) -> Result:
    x = ctx.one()
    dims = [known(ctx, x, x[a], f"dimension {a}") for a in axes(ctx, x, ctx.args.get("axis", -1))]
    return [x], math.prod(dims)


family.add("RMSNormalization", shape=_rms_norm)
family.add("UnitNormalization", shape=identity)


def _spectral_inner(given: Given) -> Iterator[Problem]:
    """The wrapped layer has a kernel or embeddings (registered with ``kernel=``)."""
    inner = given.args.get("layer")
    if isinstance(inner, ir.Call) and inner.fn in catalogue().layers:
        layer = lookup(inner.fn)
        if layer is None or layer.kernel is None:
            yield Problem(f"SpectralNormalization normalizes a layer with a kernel or embeddings (Dense, "
                          f"Conv2D, Embedding ...), not {inner.fn}", "layer", inner.span)


def _spectral_norm(ctx: Ctx) -> Result:
    """SpectralNormalization(layer): the wrapped layer, plus the power
    iteration vector ``u`` of shape (1, last dimension of the kernel or the
    embeddings)."""
    inner = ctx.args.get("layer")
    if not isinstance(inner, ir.Call) or inner.fn not in catalogue().layers:
        raise Unknown()
    x = ctx.one()
    outs, params = ctx.sub(inner, [x])
    layer = lookup(inner.fn)
    if layer is None or layer.kernel is None:
        raise Unknown()
    last = layer.kernel(Args(inner, catalogue().layers[inner.fn]), x)
    if params is None or not isinstance(last, int):
        raise Unknown()
    return outs, params + last


family.add("SpectralNormalization", shape=_spectral_norm, checks=(_spectral_inner,))
