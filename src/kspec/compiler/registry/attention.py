"""Attention layers: MultiHeadAttention, GroupQueryAttention, Attention,
AdditiveAttention."""

from __future__ import annotations

import math
from collections.abc import Iterator

from kspec.compiler.calls import choice, is_positive_int, positive_int
from kspec.compiler.registry._base import (
    Ctx,
    Family,
    Given,
    Problem,
    Result,
    Shape,
    ShapeError,
    TShape,
    Unknown,
    fmt_all,
    fmt_shape,
)
from kspec.compiler.registry._common import differ, last

family = Family("attention")


def _query_value_key(ctx: Ctx) -> tuple[Shape, Shape, Shape]:
    """The query, value and key shapes of an attention layer's call, given
    positionally or as ``query=``/``value=``/``key=``; the key defaults to
    the value, and must match it in every dimension but the last."""
    ins = list(ctx.inputs)
    shapes: dict[str, Shape] = dict(zip(["query", "value", "key"], ins, strict=False))
    for n in ("query", "value", "key"):
        if n in ctx.call:
            shapes[n] = ctx.call[n]
    if "query" not in shapes or "value" not in shapes:
        raise ShapeError(f"{ctx.type} needs a query and a value tensor, got {fmt_all(list(ins))}")
    q, v = shapes["query"], shapes["value"]
    k = shapes.get("key", v)
    if v[1:-1] != k[1:-1]:
        raise ShapeError(f"{ctx.type}: value {fmt_shape(v)} and key {fmt_shape(k)} must agree in every "
                         "dimension but the last")
    return q, v, k


def _mha(ctx: Ctx) -> Result:
    q, v, k = _query_value_key(ctx)
    if len(q) != len(v):  # Keras builds this; the first call fails
        raise ShapeError(f"MultiHeadAttention: query {fmt_shape(q)} and value {fmt_shape(v)} must have the same "
                         "rank")
    heads, kd = int(ctx.args.get("num_heads")), int(ctx.args.get("key_dim"))
    vd_ = ctx.args.get("value_dim")
    vd = kd if vd_ is None else int(vd_)
    qd, vdim, kdim = q[-1], v[-1], k[-1]
    if qd is None or vdim is None or kdim is None:
        raise Unknown()
    out_shape = ctx.args.get("output_shape")
    if out_shape is None:
        tail: tuple[int, ...] = (qd,)
    else:
        tail = tuple(out_shape) if isinstance(out_shape, list) else (int(out_shape),)
    b = 1 if ctx.args.get("use_bias", True) else 0
    params = (qd * heads * kd + b * heads * kd) + (kdim * heads * kd + b * heads * kd) + \
        (vdim * heads * vd + b * heads * vd) + (heads * vd * math.prod(tail) + b * math.prod(tail))
    if ctx.args.get("use_gate", False):  # a sigmoid projection of the query, sized like the values
        params += qd * heads * vd + b * heads * vd
    outs: list[TShape] = [(*q[:-1], *tail)]  # attention_axes change neither the output nor the weights
    if ctx.call.get("return_attention_scores") is True:
        # Keras's symbolic scores are (batch, heads, query length, query length)
        # whatever the key's length and the attention axes; kspec reports the
        # shapes Keras gives, so it says the same.
        outs.append((q[0], heads, q[1], q[1]))
    return outs, params


family.add("MultiHeadAttention", shape=_mha,
           args={"num_heads": positive_int(), "key_dim": positive_int(), "value_dim": positive_int(none=True)})


def _gqa_heads(given: Given) -> Iterator[Problem]:
    """Query heads share key/value heads in equal groups."""
    q, kv = given.args.get("num_query_heads", 0), given.args.get("num_key_value_heads", 0)
    if is_positive_int(q) and is_positive_int(kv) and q % kv:
        yield Problem(f"{given.type}: {q} query heads cannot be shared by {kv} key/value heads: "
                      "'num_query_heads' must be a multiple of 'num_key_value_heads'", "num_key_value_heads")


def _gqa(ctx: Ctx) -> Result:
    q, v, k = _query_value_key(ctx)
    if q[-1] != v[-1]:
        raise ShapeError(f"{ctx.type}: the last dimensions of query {fmt_shape(q)} and value {fmt_shape(v)} "
                         "must be equal")
    hd, hq, hkv = (int(ctx.args.get(n)) for n in ("head_dim", "num_query_heads", "num_key_value_heads"))
    qd, kd, vd = q[-1], k[-1], v[-1]
    if qd is None or kd is None or vd is None:
        raise Unknown()
    b = 1 if ctx.args.get("use_bias", True) else 0
    params = (qd + b) * hq * hd + (kd + b) * hkv * hd + (vd + b) * hkv * hd + hq * hd * qd + b * qd
    outs: list[TShape] = [q]
    if ctx.call.get("return_attention_scores") is True:
        outs.append((q[0], hq, q[1], k[1]) if len(q) == 3 else None)
    return outs, params


family.add("GroupQueryAttention", shape=_gqa, checks=(_gqa_heads,),
           args={"head_dim": positive_int(), "num_query_heads": positive_int(), "num_key_value_heads": positive_int()})


def _attention(ctx: Ctx) -> Result:
    ins = ctx.inputs
    if len(ins) not in (2, 3):
        raise ShapeError(f"{ctx.type} takes 2 or 3 tensors (query, value[, key]), got {len(ins)}")
    q, v = ins[0], ins[1]
    k = ins[2] if len(ins) == 3 else v
    # Keras builds these without comparing shapes; the first call fails.
    if differ(q[-1], k[-1]):
        raise ShapeError(f"{ctx.type}: query {fmt_shape(q)} and key {fmt_shape(k)} must have the same last "
                         "dimension (scores compare them feature by feature)")
    if len(ins) == 3 and (len(v) != len(k) or differ(v[-2], k[-2])):
        raise ShapeError(f"{ctx.type}: value {fmt_shape(v)} and key {fmt_shape(k)} must have the same length")
    if ctx.type == "AdditiveAttention":  # a scale vector over the query's features
        params = last(ctx, q) if ctx.args.get("use_scale", True) else 0
    else:
        params = int(bool(ctx.args.get("use_scale", False)))
        if ctx.args.get("score_mode", "dot") == "concat":
            params += 1
    outs: list[TShape] = [(*q[:-1], v[-1])]
    if ctx.call.get("return_attention_scores") is True:
        outs.append((*q[:-1], v[-2]))
    return outs, params


family.add("Attention", shape=_attention, args={"score_mode": choice("dot", "concat", comma_list=True)})
family.add("AdditiveAttention", shape=_attention)
