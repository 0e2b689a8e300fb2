"""Shape arithmetic and argument checks that several layer families share:
integer tuples, channel layouts, axes, convolution output sizes, and the
sizes of spatial arguments (``kernel_size``, ``strides``, ``pool_size`` ...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kspec.compiler.calls import is_positive_int
from kspec.compiler.registry._base import (
    Check,
    Ctx,
    Given,
    Problem,
    Result,
    Rule,
    Shape,
    ShapeError,
    fmt_shape,
    spec_text,
)

__all__ = ["axes", "axis", "channels_first", "conv_out", "differ", "identity", "int_tuple", "ints", "join", "known",
           "last", "ranked_identity", "sizes", "split"]


def ints(value: Any, n: int) -> tuple[int, ...]:
    """``3`` / ``[3, 3]`` / ``[3]`` as ``n`` integers (``TypeError`` otherwise)."""
    if isinstance(value, bool):
        raise TypeError("not an int")
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, list) and len(value) == n and all(isinstance(v, int) for v in value):
        return tuple(value)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int):
        return (value[0],) * n
    raise TypeError(f"expected {n} integers, got {value!r}")


def int_tuple(v: Any, n: int) -> bool:
    """A positive integer, or a list of ``n`` of them."""
    if is_positive_int(v):
        return True
    return isinstance(v, list) and len(v) == n and all(is_positive_int(x) for x in v)


def known(ctx: Ctx, shape: Shape, d: int | None, what: str) -> int:
    """A dimension that sizes weights: Keras refuses ``None`` there."""
    if d is None:
        raise ShapeError(f"{ctx.type}: the {what} of input {fmt_shape(shape)} must be known: it sizes the weights")
    return d


def last(ctx: Ctx, shape: Shape) -> int:
    """The last dimension, which must be known."""
    return known(ctx, shape, shape[-1], "last dimension")


def differ(a: int | None, b: int | None) -> bool:
    """Two known dimensions that are not equal."""
    return a is not None and b is not None and a != b


def axis(ctx: Ctx, x: Shape, value: Any) -> int:
    """``value`` as a non-negative axis of input ``x``; out of range is an
    error, as in Keras (which never wraps around)."""
    a = int(value)
    if not -len(x) <= a < len(x):
        raise ShapeError(f"{ctx.type}: axis {a} is out of range for input {fmt_shape(x)} of rank {len(x)}")
    return a % len(x)


def axes(ctx: Ctx, x: Shape, value: Any) -> list[int]:
    """One axis or a list of them, each as :func:`axis`."""
    return [axis(ctx, x, a) for a in (value if isinstance(value, list) else [value])]


def identity(ctx: Ctx) -> Result:
    """A layer whose output is shaped like its one input, without weights."""
    return [ctx.one()], 0


def ranked_identity(rank: int) -> Rule:
    """:func:`identity` for inputs of exactly ``rank`` dimensions."""
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        ctx.rank(x, rank)
        return [x], 0
    return rule


# --------------------------------------------------------------------------
# Spatial layouts: (batch, *spatial, channels) or (batch, channels, *spatial)


def channels_first(ctx: Ctx) -> bool:
    """Whether the layer's ``data_format`` puts channels before the spatial axes."""
    return bool(ctx.args.get("data_format") == "channels_first")


def split(ctx: Ctx, x: Shape, rank: int) -> tuple[list[int | None], int | None]:
    """The spatial sizes and the channel count of an input with ``rank`` spatial axes."""
    ctx.rank(x, rank + 2)
    if channels_first(ctx):
        return list(x[2:]), x[1]
    return list(x[1:-1]), x[-1]


def join(ctx: Ctx, x: Shape, spatial: list[int | None], channels: int | None) -> Shape:
    """The inverse of :func:`split`, with ``x``'s batch size."""
    if channels_first(ctx):
        return (x[0], channels, *spatial)
    return (x[0], *spatial, channels)


def _conv_len(ctx: Ctx, x: Shape, n: int | None, k: int, s: int, d: int, padding: str) -> int | None:
    if n is None:
        return None
    if padding == "valid":
        out = (n - d * (k - 1) - 1) // s + 1
        if out <= 0:
            raise ShapeError(f"{ctx.type}: input {fmt_shape(x)} is too small for kernel size {k}"
                             + (f" with dilation {d}" if d != 1 else "") + " (output size would be "
                             f"{out})")
        return out
    return (n - 1) // s + 1


def conv_out(ctx: Ctx, x: Shape, spatial: list[int | None], rank: int) -> list[int | None]:
    """The spatial sizes a convolution (``kernel_size``, ``strides``,
    ``dilation_rate``, ``padding``) makes of ``spatial``."""
    k = ints(ctx.args.get("kernel_size"), rank)
    s = ints(ctx.args.get("strides", 1), rank)
    d = ints(ctx.args.get("dilation_rate", 1), rank)
    padding = str(ctx.args.get("padding", "valid")).lower()
    return [_conv_len(ctx, x, n, k[i], s[i], d[i], padding) for i, n in enumerate(spatial)]


def sizes(rank: int, *keys: str) -> Check:
    """Each of ``keys`` (when given and not none) is a positive integer or a
    list of ``rank`` of them, as Keras's spatial layers require."""
    def check(given: Given) -> Iterator[Problem]:
        for key in keys:
            value = given.args.get(key)
            if value is not None and not int_tuple(value, rank):
                yield Problem(f"{given.type}: '{key}' must be a positive integer or a list of {rank} positive "
                              f"integer{'s' if rank > 1 else ''}, got {spec_text(value)}", key)
    return check
