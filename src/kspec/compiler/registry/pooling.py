"""Pooling: MaxPooling/AveragePooling 1D-3D, their global and adaptive forms."""

from __future__ import annotations

from kspec.compiler.calls import choice
from kspec.compiler.registry._base import Ctx, Family, Result, Rule, ShapeError, fmt_shape
from kspec.compiler.registry._common import ints, join, sizes, split

family = Family("pooling")


def _pool(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = split(ctx, x, rank)
        p = ints(ctx.args.get("pool_size", 2), rank)
        strides = ctx.args.get("strides")
        s = p if strides is None else ints(strides, rank)
        padding = str(ctx.args.get("padding", "valid")).lower()
        out: list[int | None] = []
        for i, n in enumerate(spatial):
            if n is None:
                out.append(None)
            elif padding == "valid":
                o = (n - p[i]) // s[i] + 1
                if o <= 0:
                    raise ShapeError(f"{ctx.type}: input {fmt_shape(x)} is too small for pool size {p[i]} "
                                     f"(output size would be {o})")
                out.append(o)
            else:
                out.append((n - 1) // s[i] + 1)
        return [join(ctx, x, out, c)], 0
    return rule


def _global_pool(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = split(ctx, x, rank)
        if ctx.args.get("keepdims", False):
            return [join(ctx, x, [1] * len(spatial), c)], 0
        return [(x[0], c)], 0
    return rule


def _adaptive_pool(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        _, c = split(ctx, x, rank)
        return [join(ctx, x, list(ints(ctx.args.get("output_size"), rank)), c)], 0
    return rule


for _r in (1, 2, 3):
    for _kind in ("Max", "Average"):
        # strides may be none: they default to the pool size
        family.add(f"{_kind}Pooling{_r}D", shape=_pool(_r), args={"padding": choice("valid", "same", comma_list=True)},
                   checks=(sizes(_r, "strides", "pool_size"),))
        family.add(f"Global{_kind}Pooling{_r}D", shape=_global_pool(_r))
        family.add(f"Adaptive{_kind}Pooling{_r}D", shape=_adaptive_pool(_r))
