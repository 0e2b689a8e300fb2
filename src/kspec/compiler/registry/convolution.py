"""Convolutions: Conv1D-3D, their transposes, SeparableConv1D/2D and
DepthwiseConv1D/2D, with the constraints Keras's constructors check between
their arguments."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from kspec.compiler.calls import ValueRule, choice, is_positive_int, positive_int
from kspec.compiler.registry._base import (
    Args,
    Check,
    Ctx,
    Family,
    Given,
    Problem,
    Result,
    Rule,
    Shape,
    ShapeError,
    spec_text,
)
from kspec.compiler.registry._common import conv_out, ints, join, known, sizes, split

family = Family("convolution")


# --------------------------------------------------------------------------
# Argument checks


def _padding(causal: bool = False) -> ValueRule:
    """Keras's padding modes, in any case (``causal``: Conv1D's too)."""
    return choice("valid", "same", *(("causal",) if causal else ()), fold=True, comma_list=True)


def _ints_or_none(v: Any, n: int) -> tuple[int, ...] | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return (v,) * n
    if isinstance(v, list) and len(v) == n and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(v)
    return None


def _max_int(v: Any) -> int:
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return max(v, default=0)
    return 0


def _groups(given: Given) -> Iterator[Problem]:
    """``filters`` splits evenly into ``groups``."""
    filters, groups = given.args.get("filters", 0), given.args.get("groups", 1)
    if is_positive_int(filters) and is_positive_int(groups) and filters % groups:
        yield Problem(f"{given.type}: {filters} filters cannot be split into {groups} groups: 'filters' "
                      "must be a multiple of 'groups'", "groups")


def _output_padding(rank: int) -> Check:
    """A transposed convolution's ``output_padding`` is below its ``strides``."""
    def check(given: Given) -> Iterator[Problem]:
        bound = given.args
        if bound.get("output_padding") is None:
            return
        pads, strides = _ints_or_none(bound["output_padding"], rank), _ints_or_none(bound.get("strides", 1), rank)
        if pads is not None and strides is not None and any(p >= s for p, s in zip(pads, strides, strict=True)):
            yield Problem(f"{given.type}: 'output_padding' {spec_text(bound['output_padding'])} must be smaller than "
                          f"'strides' {spec_text(bound.get('strides', 1))} in every dimension", "output_padding")
    return check


def _identity_kernel(rank: int) -> Check:
    """Keras's identity initializer makes 2-D matrices only."""
    def check(given: Given) -> Iterator[Problem]:
        for key, value in given.args.items():
            if key.endswith("initializer") and isinstance(value, str) and value.lower() == "identity":
                yield Problem(f"{given.type}: the identity initializer only fits 2-D kernels; "
                              f"'{key}' here has {rank + 2} dimensions", key)
    return check


def _strided_dilation(given: Given) -> Iterator[Problem]:
    """Keras refuses strides and dilation both above 1."""
    strides, dilation = given.args.get("strides", 1), given.args.get("dilation_rate", 1)
    if _max_int(strides) > 1 and _max_int(dilation) > 1:
        yield Problem(f"{given.type}: strides > 1 cannot be combined with dilation_rate > 1 "
                      f"(strides={spec_text(strides)}, dilation_rate={spec_text(dilation)})", "dilation_rate")


def _spatial_checks(rank: int) -> tuple[Check, Check]:
    return _identity_kernel(rank), sizes(rank, "kernel_size", "strides", "dilation_rate")


# --------------------------------------------------------------------------
# Shape rules


def _conv(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = split(ctx, x, rank)
        c = known(ctx, x, c, "channel dimension")
        filters = int(ctx.args.get("filters"))
        groups = int(ctx.args.get("groups", 1) or 1)
        if c % groups:
            raise ShapeError(f"{ctx.type}: {c} input channels cannot be split into {groups} groups")
        k = math.prod(ints(ctx.args.get("kernel_size"), rank))
        bias = filters if ctx.args.get("use_bias", True) else 0
        out = conv_out(ctx, x, spatial, rank)
        return [join(ctx, x, out, filters)], k * (c // groups) * filters + bias
    return rule


def _conv_transpose(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = split(ctx, x, rank)
        c = known(ctx, x, c, "channel dimension")
        filters = int(ctx.args.get("filters"))
        ks = ints(ctx.args.get("kernel_size"), rank)
        ss = ints(ctx.args.get("strides", 1), rank)
        ds = ints(ctx.args.get("dilation_rate", 1), rank)
        op = ctx.args.get("output_padding")
        ops_ = ints(op, rank) if op is not None else None
        padding = str(ctx.args.get("padding", "valid")).lower()
        out: list[int | None] = []
        for i, n in enumerate(spatial):
            if n is None:
                out.append(None)
                continue
            k = ks[i] + (ks[i] - 1) * (ds[i] - 1)
            if ops_ is None:
                out.append(n * ss[i] + max(k - ss[i], 0) if padding == "valid" else n * ss[i])
            else:
                pad = k // 2 if padding == "same" else 0
                out.append((n - 1) * ss[i] + k - 2 * pad + ops_[i])
        bias = filters if ctx.args.get("use_bias", True) else 0
        return [join(ctx, x, out, filters)], math.prod(ks) * c * filters + bias
    return rule


def _transpose_kernel(a: Args, x: Shape) -> Any:
    """A transposed kernel is (..., filters, input channels)."""
    return x[1] if a.get("data_format") == "channels_first" else x[-1]


def _separable(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = split(ctx, x, rank)
        c = known(ctx, x, c, "channel dimension")
        filters = int(ctx.args.get("filters"))
        dm = int(ctx.args.get("depth_multiplier", 1))
        k = math.prod(ints(ctx.args.get("kernel_size"), rank))
        bias = filters if ctx.args.get("use_bias", True) else 0
        out = conv_out(ctx, x, spatial, rank)
        return [join(ctx, x, out, filters)], k * c * dm + c * dm * filters + bias
    return rule


def _depthwise(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = split(ctx, x, rank)
        c = known(ctx, x, c, "channel dimension")
        dm = int(ctx.args.get("depth_multiplier", 1))
        k = math.prod(ints(ctx.args.get("kernel_size"), rank))
        bias = c * dm if ctx.args.get("use_bias", True) else 0
        out = conv_out(ctx, x, spatial, rank)
        return [join(ctx, x, out, c * dm)], k * c * dm + bias
    return rule


# --------------------------------------------------------------------------
# The layers

for _r in (1, 2, 3):
    family.add(f"Conv{_r}D", shape=_conv(_r),
               args={"filters": positive_int(), "groups": positive_int(), "padding": _padding(causal=_r == 1)},
               checks=(_groups, *_spatial_checks(_r), _strided_dilation),
               kernel=lambda a, x: a.get("filters"))
    family.add(f"Conv{_r}DTranspose", shape=_conv_transpose(_r),
               args={"filters": positive_int(), "padding": _padding()},
               checks=(_output_padding(_r), *_spatial_checks(_r), _strided_dilation),
               kernel=_transpose_kernel)
for _r in (1, 2):
    family.add(f"SeparableConv{_r}D", shape=_separable(_r),
               args={"filters": positive_int(), "depth_multiplier": positive_int(), "padding": _padding()},
               checks=_spatial_checks(_r))
    family.add(f"DepthwiseConv{_r}D", shape=_depthwise(_r),
               args={"depth_multiplier": positive_int(), "padding": _padding()},
               checks=_spatial_checks(_r),
               kernel=lambda a, x: a.get("depth_multiplier", 1))
