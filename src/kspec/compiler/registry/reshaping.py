"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, and the
spatial resizes (Cropping, ZeroPadding, UpSampling 1D-3D)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from kspec.compiler.calls import is_positive_int, positive_int
from kspec.compiler.registry._base import (
    Check,
    Ctx,
    Family,
    Given,
    Problem,
    Result,
    Rule,
    Shape,
    ShapeError,
    fmt_shape,
    spec_text,
)
from kspec.compiler.registry._common import ints, join, sizes, split

family = Family("reshaping")


def _flatten(ctx: Ctx) -> Result:
    x = ctx.one()
    rest = x[1:]
    if not rest:
        return [(x[0], 1)], 0
    return [(x[0], None if any(d is None for d in rest) else math.prod(d for d in rest if d is not None))], 0


family.add("Flatten", shape=_flatten)


def _reshape(ctx: Ctx) -> Result:
    x = ctx.one()
    target = [int(v) for v in ctx.args.get("target_shape")]
    if target.count(-1) > 1 or any(t == 0 or t < -1 for t in target):
        raise ShapeError(f"Reshape: target_shape {fmt_shape(tuple(target))} may hold positive sizes and at most "
                         "one -1")
    rest = x[1:]
    if any(d is None for d in rest):
        return [(x[0], *(None if t == -1 else t for t in target))], 0
    size = math.prod(d for d in rest if d is not None)
    known = math.prod(t for t in target if t != -1)
    if -1 not in target:
        if size != known:
            raise ShapeError(f"Reshape: cannot reshape {fmt_shape(x)} ({size} values) to "
                             f"{fmt_shape((None, *target))} ({known} values)")
        return [(x[0], *target)], 0
    if known == 0 or size % known:
        raise ShapeError(f"Reshape: cannot reshape {fmt_shape(x)} ({size} values) to "
                         f"{fmt_shape((None, *target))}: {size} is not a multiple of {known}")
    return [(x[0], *(size // known if t == -1 else t for t in target))], 0


family.add("Reshape", shape=_reshape)


def _permute(ctx: Ctx) -> Result:
    x = ctx.one()
    dims = [int(d) for d in ctx.args.get("dims")]
    if sorted(dims) != list(range(1, len(x))):
        raise ShapeError(f"Permute: dims {tuple(dims)} do not match input {fmt_shape(x)}")
    return [(x[0], *(x[d] for d in dims))], 0


family.add("Permute", shape=_permute)


def _repeat(ctx: Ctx) -> Result:
    x = ctx.one()
    ctx.rank(x, 2)
    return [(x[0], int(ctx.args.get("n")), x[1])], 0


family.add("RepeatVector", shape=_repeat, args={"n": positive_int()})


# --------------------------------------------------------------------------
# Spatial resizes

Resize = Callable[[Ctx, Shape, list[int | None]], list[int | None]]


def _spatial(rank: int, resize: Resize) -> Rule:
    """A layer that changes only the spatial sizes (cropping, padding,
    upsampling): ``resize`` maps them; channels and batch stay. The 1D forms
    take (batch, steps, features) and have no ``data_format``."""
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        if rank == 1:
            ctx.rank(x, 3)
            spatial, c = [x[1]], x[2]
        else:
            spatial, c = split(ctx, x, rank)
        out = resize(ctx, x, spatial)
        if rank == 1:
            return [(x[0], out[0], c)], 0
        return [join(ctx, x, out, c)], 0
    return rule


def _pairs(value: Any, n: int) -> tuple[tuple[int, int], ...]:
    """``1`` / ``(1, 2)`` / ``((1, 1), (2, 2))`` cropping or padding specs."""
    if isinstance(value, int) and not isinstance(value, bool):
        return ((value, value),) * n
    if isinstance(value, list) and len(value) == n:
        out = []
        for v in value:
            if isinstance(v, int):
                out.append((v, v))
            elif isinstance(v, list) and len(v) == 2:
                out.append((int(v[0]), int(v[1])))
            else:
                raise TypeError("bad pair")
        return tuple(out)
    if n == 1 and isinstance(value, list) and len(value) == 2:
        return ((int(value[0]), int(value[1])),)
    raise TypeError(f"expected {n} pairs, got {value!r}")


def _pads_ok(v: Any, rank: int) -> bool:
    """Padding or cropping for ``rank`` spatial axes: one size, one per
    axis (two for 1D: before and after), or a (before, after) pair per axis."""
    def size(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    if size(v):
        return True
    if not isinstance(v, list):
        return False
    if rank == 1:
        return len(v) == 2 and all(size(x) for x in v)
    return len(v) == rank and all(size(x) or (isinstance(x, list) and len(x) == 2 and all(size(y) for y in x))
                                  for x in v)


def _pads(rank: int, key: str) -> Check:
    """The form of a cropping or padding argument."""
    def check(given: Given) -> Iterator[Problem]:
        if key in given.args and not _pads_ok(given.args[key], rank):
            count = "two" if rank == 1 else f"{rank}"
            yield Problem(f"{given.type}: '{key}' must be an integer of at least 0, {count} of them, or "
                          f"{rank} pairs (before, after), got {spec_text(given.args[key])}", key)
    return check


def _crop(rank: int) -> Rule:
    def resize(ctx: Ctx, x: Shape, spatial: list[int | None]) -> list[int | None]:
        pairs = _pairs(ctx.args.get("cropping", 1 if rank == 1 else 0), rank)
        out: list[int | None] = []
        for n, (a, b) in zip(spatial, pairs, strict=False):
            if n is None:
                out.append(None)
                continue
            if n - a - b <= 0:
                raise ShapeError(f"{ctx.type}: cropping {a + b} from a dimension of size {n} in {fmt_shape(x)} "
                                 "leaves nothing")
            out.append(n - a - b)
        return out
    return _spatial(rank, resize)


def _pad(rank: int) -> Rule:
    def resize(ctx: Ctx, x: Shape, spatial: list[int | None]) -> list[int | None]:
        pairs = _pairs(ctx.args.get("padding", 1), rank)
        return [None if n is None else n + a + b for n, (a, b) in zip(spatial, pairs, strict=False)]
    return _spatial(rank, resize)


def _upsample(rank: int) -> Rule:
    def resize(ctx: Ctx, x: Shape, spatial: list[int | None]) -> list[int | None]:
        size = ints(ctx.args.get("size", 2), rank)
        return [None if n is None else n * f for n, f in zip(spatial, size, strict=False)]
    return _spatial(rank, resize)


def _steps_size(given: Given) -> Iterator[Problem]:
    """UpSampling1D repeats each step ``size`` times: one positive integer."""
    if not is_positive_int(given.args.get("size", 2)):
        yield Problem(f"{given.type}: 'size' must be a positive integer, got {spec_text(given.args['size'])}", "size")


for _r in (1, 2, 3):
    family.add(f"Cropping{_r}D", shape=_crop(_r), checks=(_pads(_r, "cropping"),))
    family.add(f"ZeroPadding{_r}D", shape=_pad(_r), checks=(_pads(_r, "padding"),))
    family.add(f"UpSampling{_r}D", shape=_upsample(_r), checks=(_steps_size,) if _r == 1 else (sizes(_r, "size"),))
