"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum
(broadcast element-wise), Concatenate and Dot. Each takes two or more tensors."""

from __future__ import annotations

from kspec.compiler.registry._base import Ctx, Family, Result, Shape, ShapeError, fmt_all
from kspec.compiler.registry._common import axis

family = Family("merging")

#: How a message says each element-wise merge combines shapes.
_VERBS = {"Add": "added", "Subtract": "subtracted", "Multiply": "multiplied", "Average": "averaged",
          "Maximum": "compared", "Minimum": "compared"}


def _elemwise(ctx: Ctx, a: Shape, b: Shape, ins: list[Shape]) -> Shape:
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return a
    out = list(a[: -len(b)])
    for i, j in zip(a[-len(b):], b, strict=False):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ShapeError(f"{ctx.type}: shapes {fmt_all(list(ins))} cannot be {_VERBS.get(ctx.type, 'merged')}")
    return tuple(out)


def _merge(ctx: Ctx) -> Result:
    ins = ctx.inputs
    if ctx.type == "Subtract" and len(ins) != 2:
        raise ShapeError(f"Subtract takes exactly 2 tensors, got {len(ins)}")
    out: Shape = ins[0][1:]
    for s in ins[1:]:
        out = _elemwise(ctx, out, s[1:], ins)
    batch = {s[0] for s in ins} - {None}
    return [(next(iter(batch)) if len(batch) == 1 else None, *out)], 0


for _name in _VERBS:
    family.add(_name, shape=_merge, merges=True)


def _concatenate(ctx: Ctx) -> Result:
    ins = ctx.inputs
    along = int(ctx.args.get("axis", -1))
    ranks = {len(s) for s in ins}
    if len(ranks) != 1:
        raise ShapeError(f"Concatenate: shapes {fmt_all(list(ins))} have different ranks")
    rank = len(ins[0])
    ax = axis(ctx, ins[0], along)
    for i in range(1, rank):
        if i == ax:
            continue
        dims = {s[i] for s in ins} - {None}
        if len(dims) > 1:
            raise ShapeError(f"Concatenate: shapes {fmt_all(list(ins))} differ outside axis {along} "
                             "and cannot be concatenated")
    out = list(ins[0])
    total: int | None = 0
    for s in ins:
        total = None if total is None or s[ax] is None else total + s[ax]  # type: ignore[operator]
    out[ax] = total
    return [tuple(out)], 0


family.add("Concatenate", shape=_concatenate, merges=True)


def _dot(ctx: Ctx) -> Result:
    if len(ctx.inputs) != 2:
        raise ShapeError(f"Dot takes exactly 2 tensors, got {len(ctx.inputs)}")
    a, b = list(ctx.inputs[0]), list(ctx.inputs[1])
    given = ctx.args.get("axes")
    pair = [given, given] if isinstance(given, int) else [int(given[0]), int(given[1])]
    ax = [axis(ctx, ctx.inputs[0], pair[0]), axis(ctx, ctx.inputs[1], pair[1])]
    if a[ax[0]] is not None and b[ax[1]] is not None and a[ax[0]] != b[ax[1]]:
        raise ShapeError(f"Dot: shapes {fmt_all(list(ctx.inputs))} cannot be multiplied along axes "
                         f"({ax[0]}, {ax[1]}): {a[ax[0]]} != {b[ax[1]]}")
    a.pop(ax[0])
    b.pop(ax[1])
    b.pop(0)
    out = a + b
    if len(out) == 1:
        out.append(1)
    return [tuple(out)], 0


family.add("Dot", shape=_dot, merges=True)
