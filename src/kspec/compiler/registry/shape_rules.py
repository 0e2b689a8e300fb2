"""Shape rules: every layer's output shapes and parameter count, computed
with the rules Keras applies, without keras.

A shape is a tuple whose first entry is the batch size (``None``); an
unknown shape is ``None``. A layer without a rule here gets an unknown
output shape and an unknown parameter count, and inference goes on around
it without reporting anything it cannot be sure of. A mismatch that Keras
would reject is a ``K401`` diagnostic at the layer, naming the shapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kspec.catalogue import ALIASES, Signature, catalogue
from kspec.spec import ir

__all__ = ["MERGES", "RULES", "Args", "Ctx", "Result", "Rule", "Shape", "ShapeError", "TShape", "Unknown", "Unknowns",
           "fmt_all", "fmt_shape", "unknowns"]

Shape = tuple[int | None, ...]
TShape = Shape | None


class ShapeError(Exception):
    """A shape mismatch Keras would reject (the message names the shapes)."""


def fmt_shape(shape: TShape) -> str:
    """``(None, 32)``, ``(None,)``, or ``?`` for an unknown shape."""
    if shape is None:
        return "?"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def fmt_all(shapes: list[TShape]) -> str:
    return " and ".join(fmt_shape(s) for s in shapes) if shapes else "no tensors"


# --------------------------------------------------------------------------
# Arguments


class Args:
    """A layer's arguments by name, with the catalogue's defaults."""

    def __init__(self, call: ir.LayerCall | ir.Call, sig: Signature) -> None:
        self.sig = sig
        self.values: dict[str, Any] = dict(call.kwargs)
        for name, value in zip(sig.positional, call.args, strict=False):
            self.values.setdefault(name, value)

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.values:
            return self.values[name]
        d = self.sig.default(name)
        return default if d is None else d

    def given(self, name: str) -> bool:
        return name in self.values


def _ints(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise TypeError("not an int")
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, list) and len(value) == n and all(isinstance(v, int) for v in value):
        return tuple(value)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int):
        return (value[0],) * n
    raise TypeError(f"expected {n} integers, got {value!r}")


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


# --------------------------------------------------------------------------
# Rules: (layer type, args, input shapes, call kwargs) -> (outputs, params)

Result = tuple[list[TShape], int | None]
Rule = Callable[["Ctx"], Result]


@dataclass
class Ctx:
    """What a rule sees: the layer type, its arguments, the input shapes
    (all known), and the call's keyword arguments (tensors as shapes)."""

    type: str
    args: Args
    inputs: list[Shape]
    call: dict[str, Any]
    sub: Callable[[ir.Call, list[TShape]], Result]

    def one(self) -> Shape:
        if len(self.inputs) != 1:
            raise ShapeError(f"{self.type} takes one tensor, got {len(self.inputs)}: {fmt_all(list(self.inputs))}")
        return self.inputs[0]

    def rank(self, shape: Shape, rank: int) -> None:
        if len(shape) != rank:
            raise ShapeError(f"{self.type} expects an input of rank {rank}, got {fmt_shape(shape)}")

    def min_rank(self, shape: Shape, rank: int) -> None:
        if len(shape) < rank:
            raise ShapeError(f"{self.type} expects an input of rank {rank} or more, got {fmt_shape(shape)}")


def _last(ctx: Ctx, shape: Shape) -> int:
    return _known(ctx, shape, shape[-1], "last dimension")


def _known(ctx: Ctx, shape: Shape, d: int | None, what: str) -> int:
    """A dimension that sizes weights: Keras refuses ``None`` there."""
    if d is None:
        raise ShapeError(f"{ctx.type}: the {what} of input {fmt_shape(shape)} must be known: it sizes the weights")
    return d


class Unknown(Exception):
    """A rule cannot tell: the result is unknown (never an error)."""


class Unknowns(list[TShape]):
    """The results of a layer kspec cannot infer: not even how many there
    are, so destructuring them is never reported as a count mismatch."""


def unknowns() -> list[TShape]:
    return Unknowns([None])


def _identity(ctx: Ctx) -> Result:
    return [ctx.one()], 0


def _ranked_identity(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        ctx.rank(x, rank)
        return [x], 0
    return rule


def _lora(ctx: Ctx, kernel: tuple[int, ...]) -> int:
    """LoRA's two extra matrices: (kernel[:-1], rank) and (rank, kernel[-1])."""
    rank = ctx.args.get("lora_rank")
    if not rank:
        return 0
    return math.prod(kernel[:-1]) * int(rank) + int(rank) * kernel[-1]


def _dense(ctx: Ctx) -> Result:
    x = ctx.one()
    ctx.min_rank(x, 2)
    units = int(ctx.args.get("units"))
    d = _last(ctx, x)
    bias = units if ctx.args.get("use_bias", True) else 0
    return [(*x[:-1], units)], d * units + bias + _lora(ctx, (d, units))


def _embedding(ctx: Ctx) -> Result:
    x = ctx.one()
    n, dim = int(ctx.args.get("input_dim")), int(ctx.args.get("output_dim"))
    params = n * dim + _lora(ctx, (n, dim))
    if ctx.type == "ReversibleEmbedding" and not ctx.args.get("tie_weights", True):
        params += n * dim  # a separate (output_dim, input_dim) matrix for the reverse projection
    return [(*x, dim)], params


def _channels_first(ctx: Ctx) -> bool:
    return bool(ctx.args.get("data_format") == "channels_first")


def _split(ctx: Ctx, x: Shape, rank: int) -> tuple[list[int | None], int | None]:
    ctx.rank(x, rank + 2)
    if _channels_first(ctx):
        return list(x[2:]), x[1]
    return list(x[1:-1]), x[-1]


def _join(ctx: Ctx, x: Shape, spatial: list[int | None], channels: int | None) -> Shape:
    if _channels_first(ctx):
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


def _conv_out(ctx: Ctx, x: Shape, spatial: list[int | None], rank: int) -> list[int | None]:
    k = _ints(ctx.args.get("kernel_size"), rank)
    s = _ints(ctx.args.get("strides", 1), rank)
    d = _ints(ctx.args.get("dilation_rate", 1), rank)
    padding = str(ctx.args.get("padding", "valid")).lower()
    return [_conv_len(ctx, x, n, k[i], s[i], d[i], padding) for i, n in enumerate(spatial)]


def _conv(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = _split(ctx, x, rank)
        c = _known(ctx, x, c, "channel dimension")
        filters = int(ctx.args.get("filters"))
        groups = int(ctx.args.get("groups", 1) or 1)
        if c % groups:
            raise ShapeError(f"{ctx.type}: {c} input channels cannot be split into {groups} groups")
        k = math.prod(_ints(ctx.args.get("kernel_size"), rank))
        bias = filters if ctx.args.get("use_bias", True) else 0
        out = _conv_out(ctx, x, spatial, rank)
        return [_join(ctx, x, out, filters)], k * (c // groups) * filters + bias
    return rule


def _conv_transpose(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = _split(ctx, x, rank)
        c = _known(ctx, x, c, "channel dimension")
        filters = int(ctx.args.get("filters"))
        ks = _ints(ctx.args.get("kernel_size"), rank)
        ss = _ints(ctx.args.get("strides", 1), rank)
        ds = _ints(ctx.args.get("dilation_rate", 1), rank)
        op = ctx.args.get("output_padding")
        ops_ = _ints(op, rank) if op is not None else None
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
        return [_join(ctx, x, out, filters)], math.prod(ks) * c * filters + bias
    return rule


def _separable(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = _split(ctx, x, rank)
        c = _known(ctx, x, c, "channel dimension")
        filters = int(ctx.args.get("filters"))
        dm = int(ctx.args.get("depth_multiplier", 1))
        k = math.prod(_ints(ctx.args.get("kernel_size"), rank))
        bias = filters if ctx.args.get("use_bias", True) else 0
        out = _conv_out(ctx, x, spatial, rank)
        return [_join(ctx, x, out, filters)], k * c * dm + c * dm * filters + bias
    return rule


def _depthwise(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = _split(ctx, x, rank)
        c = _known(ctx, x, c, "channel dimension")
        dm = int(ctx.args.get("depth_multiplier", 1))
        k = math.prod(_ints(ctx.args.get("kernel_size"), rank))
        bias = c * dm if ctx.args.get("use_bias", True) else 0
        out = _conv_out(ctx, x, spatial, rank)
        return [_join(ctx, x, out, c * dm)], k * c * dm + bias
    return rule


def _pool(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = _split(ctx, x, rank)
        p = _ints(ctx.args.get("pool_size", 2), rank)
        strides = ctx.args.get("strides")
        s = p if strides is None else _ints(strides, rank)
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
        return [_join(ctx, x, out, c)], 0
    return rule


def _global_pool(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        spatial, c = _split(ctx, x, rank)
        if ctx.args.get("keepdims", False):
            return [_join(ctx, x, [1] * len(spatial), c)], 0
        return [(x[0], c)], 0
    return rule


def _flatten(ctx: Ctx) -> Result:
    x = ctx.one()
    rest = x[1:]
    if not rest:
        return [(x[0], 1)], 0
    return [(x[0], None if any(d is None for d in rest) else math.prod(d for d in rest if d is not None))], 0


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


def _permute(ctx: Ctx) -> Result:
    x = ctx.one()
    dims = [int(d) for d in ctx.args.get("dims")]
    if sorted(dims) != list(range(1, len(x))):
        raise ShapeError(f"Permute: dims {tuple(dims)} do not match input {fmt_shape(x)}")
    return [(x[0], *(x[d] for d in dims))], 0


def _repeat(ctx: Ctx) -> Result:
    x = ctx.one()
    ctx.rank(x, 2)
    return [(x[0], int(ctx.args.get("n")), x[1])], 0


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
            spatial, c = _split(ctx, x, rank)
        out = resize(ctx, x, spatial)
        if rank == 1:
            return [(x[0], out[0], c)], 0
        return [_join(ctx, x, out, c)], 0
    return rule


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
        size = _ints(ctx.args.get("size", 2), rank)
        return [None if n is None else n * f for n, f in zip(spatial, size, strict=False)]
    return _spatial(rank, resize)


def _axis(ctx: Ctx, x: Shape, axis: Any) -> int:
    """``axis`` of input ``x`` as a non-negative index; out of range is an
    error, as in Keras (which never wraps around)."""
    a = int(axis)
    if not -len(x) <= a < len(x):
        raise ShapeError(f"{ctx.type}: axis {a} is out of range for input {fmt_shape(x)} of rank {len(x)}")
    return a % len(x)


def _axes(ctx: Ctx, x: Shape, value: Any) -> list[int]:
    return [_axis(ctx, x, a) for a in (value if isinstance(value, list) else [value])]


def _batchnorm(ctx: Ctx) -> Result:
    x = ctx.one()
    axes = _axes(ctx, x, ctx.args.get("axis", -1))
    dims = [_known(ctx, x, x[a], f"dimension {a}") for a in axes]
    c = math.prod(d for d in dims if d is not None)
    n = 2 + int(bool(ctx.args.get("center", True))) + int(bool(ctx.args.get("scale", True)))
    return [x], n * c


def _layernorm(ctx: Ctx) -> Result:
    x = ctx.one()
    axes = _axes(ctx, x, ctx.args.get("axis", -1))
    dims = [_known(ctx, x, x[a], f"dimension {a}") for a in axes]
    c = math.prod(d for d in dims if d is not None)
    n = int(bool(ctx.args.get("center", True))) + int(bool(ctx.args.get("scale", True)))
    if ctx.args.get("rms_scaling", False):
        n = 1
    return [x], n * c


def _prelu(ctx: Ctx) -> Result:
    x = ctx.one()
    shape = list(x[1:])
    shared = ctx.args.get("shared_axes")
    if shared is not None:
        for i in shared if isinstance(shared, list) else [shared]:
            if not 1 <= int(i) < len(x):
                raise ShapeError(f"PReLU: shared axis {int(i)} is out of range for input {fmt_shape(x)}")
            shape[int(i) - 1] = 1
    if any(d is None for d in shape):
        raise Unknown()
    return [x], math.prod(d for d in shape if d is not None)


def _merge_names(type_: str) -> str:
    return {"Add": "added", "Subtract": "subtracted", "Multiply": "multiplied", "Average": "averaged",
            "Maximum": "compared", "Minimum": "compared"}.get(type_, "merged")


def _merge(ctx: Ctx) -> Result:
    ins = ctx.inputs
    if ctx.type == "Subtract" and len(ins) != 2:
        raise ShapeError(f"Subtract takes exactly 2 tensors, got {len(ins)}")
    out: Shape = ins[0][1:]
    for s in ins[1:]:
        out = _elemwise(ctx, out, s[1:], ins)
    batch = {s[0] for s in ins} - {None}
    return [(next(iter(batch)) if len(batch) == 1 else None, *out)], 0


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
            raise ShapeError(f"{ctx.type}: shapes {fmt_all(list(ins))} cannot be {_merge_names(ctx.type)}")
    return tuple(out)


def _concatenate(ctx: Ctx) -> Result:
    ins = ctx.inputs
    axis = int(ctx.args.get("axis", -1))
    ranks = {len(s) for s in ins}
    if len(ranks) != 1:
        raise ShapeError(f"Concatenate: shapes {fmt_all(list(ins))} have different ranks")
    rank = len(ins[0])
    ax = _axis(ctx, ins[0], axis)
    for i in range(1, rank):
        if i == ax:
            continue
        dims = {s[i] for s in ins} - {None}
        if len(dims) > 1:
            raise ShapeError(f"Concatenate: shapes {fmt_all(list(ins))} differ outside axis {axis} "
                             "and cannot be concatenated")
    out = list(ins[0])
    total: int | None = 0
    for s in ins:
        total = None if total is None or s[ax] is None else total + s[ax]  # type: ignore[operator]
    out[ax] = total
    return [tuple(out)], 0


def _dot(ctx: Ctx) -> Result:
    if len(ctx.inputs) != 2:
        raise ShapeError(f"Dot takes exactly 2 tensors, got {len(ctx.inputs)}")
    a, b = list(ctx.inputs[0]), list(ctx.inputs[1])
    axes = ctx.args.get("axes")
    pair = [axes, axes] if isinstance(axes, int) else [int(axes[0]), int(axes[1])]
    ax = [_axis(ctx, ctx.inputs[0], pair[0]), _axis(ctx, ctx.inputs[1], pair[1])]
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


_RNN_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def _rnn(ctx: Ctx) -> Result:
    """SimpleRNN/GRU/LSTM, and RNN(cell) around one of their cells (the
    cell's arguments size the weights; the layer's say what it returns)."""
    x = ctx.inputs[0]
    ctx.rank(x, 3)
    cell: Args = ctx.args
    kind = ctx.type
    if kind == "RNN":
        inner = ctx.args.get("cell")
        if not isinstance(inner, ir.Call) or inner.fn not in _RNN_CELLS or inner.fn not in catalogue().layers:
            raise Unknown()
        cell, kind = Args(inner, catalogue().layers[inner.fn]), _RNN_CELLS[inner.fn]
    units = int(cell.get("units"))
    d = _last(ctx, x)
    gates = _RNN_GATES[kind]
    bias = gates * units if cell.get("use_bias", True) else 0
    if kind == "GRU" and cell.get("reset_after", True) and bias:
        bias *= 2
    params = gates * units * (d + units) + bias
    n_states = 2 if kind == "LSTM" else 1
    _check_initial_state(ctx, n_states, units)
    out: Shape = (x[0], x[1], units) if ctx.args.get("return_sequences", False) else (x[0], units)
    if ctx.args.get("return_state", False):
        return [out, *[(x[0], units)] * n_states], params
    return [out], params


def _check_initial_state(ctx: Ctx, n_states: int, units: int) -> None:
    """``initial_state=[...]`` must be the layer's own states: ``n_states``
    tensors of shape (batch, units). Keras builds the model either way; the
    first call fails."""
    given = ctx.call.get("initial_state")
    if given is None:
        return
    states = given if isinstance(given, list) else [given]
    # Too few states fail; extra ones are ignored by Keras (a GRU given [h, c] runs).
    wrong = len(states) < n_states or any(
        s is not None and (len(s) != 2 or _differ(s[-1], units)) for s in states[:n_states])
    if wrong:
        want = " and ".join([f"(None, {units})"] * n_states)
        raise ShapeError(f"{ctx.type}: initial_state must be its {n_states} state tensor"
                         f"{'s' if n_states > 1 else ''} {want}, got {fmt_all(states)}")


def _differ(a: int | None, b: int | None) -> bool:
    """Two known dimensions that are not equal."""
    return a is not None and b is not None and a != b


_RNN_CELLS = {"SimpleRNNCell": "SimpleRNN", "GRUCell": "GRU", "LSTMCell": "LSTM"}


def _bidirectional(ctx: Ctx) -> Result:
    inner = ctx.args.get("layer")
    if not isinstance(inner, ir.Call):
        raise Unknown()
    outs, params = ctx.sub(inner, [ctx.inputs[0]])
    if params is None or any(o is None for o in outs):
        raise Unknown()
    back = ctx.args.get("backward_layer")
    if back is not None:
        raise Unknown()
    out, states = outs[0], outs[1:]
    assert out is not None
    mode = ctx.args.get("merge_mode", "concat")
    if mode == "concat":
        first: list[TShape] = [(*out[:-1], None if out[-1] is None else out[-1] * 2)]
    elif mode is None:
        first = [out, out]
    else:
        first = [out]
    return [*first, *states, *states], 2 * params


def _time_distributed(ctx: Ctx) -> Result:
    inner = ctx.args.get("layer")
    x = ctx.one()
    ctx.min_rank(x, 3)
    if not isinstance(inner, ir.Call):
        raise Unknown()
    outs, params = ctx.sub(inner, [(x[0], *x[2:])])
    if len(outs) != 1 or outs[0] is None:
        raise Unknown()
    o = outs[0]
    return [(o[0], x[1], *o[1:])], params


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


def _attention(ctx: Ctx) -> Result:
    ins = ctx.inputs
    if len(ins) not in (2, 3):
        raise ShapeError(f"{ctx.type} takes 2 or 3 tensors (query, value[, key]), got {len(ins)}")
    q, v = ins[0], ins[1]
    k = ins[2] if len(ins) == 3 else v
    # Keras builds these without comparing shapes; the first call fails.
    if _differ(q[-1], k[-1]):
        raise ShapeError(f"{ctx.type}: query {fmt_shape(q)} and key {fmt_shape(k)} must have the same last "
                         "dimension (scores compare them feature by feature)")
    if len(ins) == 3 and (len(v) != len(k) or _differ(v[-2], k[-2])):
        raise ShapeError(f"{ctx.type}: value {fmt_shape(v)} and key {fmt_shape(k)} must have the same length")
    if ctx.type == "AdditiveAttention":  # a scale vector over the query's features
        params = _last(ctx, q) if ctx.args.get("use_scale", True) else 0
    else:
        params = int(bool(ctx.args.get("use_scale", False)))
        if ctx.args.get("score_mode", "dot") == "concat":
            params += 1
    outs: list[TShape] = [(*q[:-1], v[-1])]
    if ctx.call.get("return_attention_scores") is True:
        outs.append((*q[:-1], v[-2]))
    return outs, params


RULES: dict[str, Rule] = {
    "Dense": _dense, "Embedding": _embedding, "Flatten": _flatten, "Reshape": _reshape, "Permute": _permute,
    "RepeatVector": _repeat, "BatchNormalization": _batchnorm, "LayerNormalization": _layernorm,
    "PReLU": _prelu, "Concatenate": _concatenate, "Dot": _dot,
    "SimpleRNN": _rnn, "GRU": _rnn, "LSTM": _rnn, "RNN": _rnn, "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed, "MultiHeadAttention": _mha, "Attention": _attention,
    "AdditiveAttention": _attention,
}
for _n in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    RULES[_n] = _merge
for _n in ("Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Activation",
           "ReLU", "LeakyReLU", "ELU", "Softmax",
           "Identity", "Masking"):
    RULES[_n] = _identity
for _r in (1, 2, 3):
    RULES[f"SpatialDropout{_r}D"] = _ranked_identity(_r + 2)
    RULES[f"Conv{_r}D"] = _conv(_r)
    RULES[f"Conv{_r}DTranspose"] = _conv_transpose(_r)
    RULES[f"MaxPooling{_r}D"] = _pool(_r)
    RULES[f"AveragePooling{_r}D"] = _pool(_r)
    RULES[f"GlobalMaxPooling{_r}D"] = _global_pool(_r)
    RULES[f"GlobalAveragePooling{_r}D"] = _global_pool(_r)
    RULES[f"Cropping{_r}D"] = _crop(_r)
    RULES[f"ZeroPadding{_r}D"] = _pad(_r)
    RULES[f"UpSampling{_r}D"] = _upsample(_r)
for _r in (1, 2):
    RULES[f"SeparableConv{_r}D"] = _separable(_r)
    RULES[f"DepthwiseConv{_r}D"] = _depthwise(_r)


def _resize(ctx: Ctx) -> Result:
    x = ctx.one()
    h, w = int(ctx.args.get("height")), int(ctx.args.get("width"))
    if len(x) == 3:  # Keras takes a rank-3 tensor for one image without a batch axis
        return [(x[0], h, w) if _channels_first(ctx) else (h, w, x[2])], 0
    ctx.rank(x, 4)
    if _channels_first(ctx):
        return [(x[0], x[1], h, w)], 0
    return [(x[0], h, w, x[3])], 0


def _group_norm(ctx: Ctx) -> Result:
    x = ctx.one()
    axis = _axis(ctx, x, ctx.args.get("axis", -1))
    c = _known(ctx, x, x[axis], f"dimension {axis}")
    groups = int(ctx.args.get("groups", 32))
    if groups <= 0 or c % groups:
        raise ShapeError(f"GroupNormalization: {c} channels of input {fmt_shape(x)} cannot be split into "
                         f"{groups} groups")
    n = int(bool(ctx.args.get("center", True))) + int(bool(ctx.args.get("scale", True)))
    return [x], n * c


def _rms_norm(ctx: Ctx) -> Result:
    x = ctx.one()
    axes = _axes(ctx, x, ctx.args.get("axis", -1))
    dims = [_known(ctx, x, x[a], f"dimension {a}") for a in axes]
    return [x], math.prod(dims)



def _conv_lstm(rank: int) -> Rule:
    """ConvLSTM1D/2D/3D: (batch, time, *spatial, channels) -> a convolution
    per step; the recurrent kernel has the same size, padded 'same'."""
    def rule(ctx: Ctx) -> Result:
        x = ctx.inputs[0]
        ctx.rank(x, rank + 3)
        step = (x[0], *x[2:])
        spatial, c = _split(ctx, step, rank)
        c = _known(ctx, x, c, "channel dimension")
        filters = int(ctx.args.get("filters"))
        k = math.prod(_ints(ctx.args.get("kernel_size"), rank))
        bias = 4 * filters if ctx.args.get("use_bias", True) else 0
        state = _join(ctx, step, _conv_out(ctx, x, spatial, rank), filters)
        out: Shape = (x[0], x[1], *state[1:]) if ctx.args.get("return_sequences", False) else state
        outs: list[TShape] = [out, state, state] if ctx.args.get("return_state", False) else [out]
        return outs, 4 * (k * c * filters + k * filters * filters) + bias
    return rule


_EINSUM_PLAIN = re.compile("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)")
_EINSUM_LEFT = re.compile("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)")
_EINSUM_RIGHT = re.compile("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0")


def _einsum_dense(ctx: Ctx) -> Result:
    """EinsumDense, following Keras's ``_analyze_einsum_string`` step by step
    (including how it orders elided dimensions)."""
    x = ctx.one()
    equation = str(ctx.args.get("equation"))
    partial = ctx.args.get("output_shape")
    bias_axes = ctx.args.get("bias_axes")
    eq = equation.replace("...", "0")
    forms = ((_EINSUM_PLAIN, False), (_EINSUM_LEFT, True), (_EINSUM_RIGHT, False))
    found = next(((m, left) for pattern, left in forms if (m := pattern.match(eq))), None)
    if found is None:
        raise ShapeError(f"EinsumDense: invalid einsum equation '{equation}'. Equations must be in the form "
                         "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")
    m, left = found
    in_spec, w_spec, out_spec = m.group(1), m.group(2), m.group(3)
    elided = len(x) - len(in_spec)
    if elided < 0:
        raise ShapeError(f"EinsumDense: the equation '{equation}' names {len(in_spec)} input axes, but the input "
                         f"{fmt_shape(x)} has rank {len(x)}")
    out: list[int | None] = [int(partial)] if isinstance(partial, int) else list(partial)
    out.insert(0, x[0])
    if elided > 0 and left:
        for i in range(1, elided):
            out.insert(1, x[i])
    elif elided > 0:
        out.extend(x[len(x) - elided:])
    if left:
        in_map = {d: (i + elided) - len(x) for i, d in enumerate(in_spec)}
        out_map = {d: i + elided for i, d in enumerate(out_spec)}
    else:
        in_map = {d: i for i, d in enumerate(in_spec)}
        out_map = {d: i for i, d in enumerate(out_spec)}
    for d in in_spec:
        if d in out_map and out[out_map[d]] is not None and out[out_map[d]] != x[in_map[d]]:
            raise ShapeError(f"EinsumDense: input {fmt_shape(x)} and output shape do not match at shared "
                             f"dimension '{d}': {x[in_map[d]]} != {out[out_map[d]]}")
    for d in out_spec:
        if d not in in_spec and d not in w_spec:
            raise ShapeError(f"EinsumDense: dimension '{d}' of the output '{out_spec}' is in neither the input "
                             f"'{in_spec}' nor the weights '{w_spec}'")
    kernel: list[int | None] = []
    for d in w_spec:
        if d in out_map:
            kernel.append(out[out_map[d]])
        elif d in in_map:
            kernel.append(x[in_map[d]])
        else:
            raise ShapeError(f"EinsumDense: weight dimension '{d}' is in neither the input '{in_spec}' nor "
                             f"the output '{out_spec}'")
    if any(k is None for k in kernel):
        raise Unknown()
    params = math.prod(k for k in kernel if k is not None) + _lora(ctx, tuple(k for k in kernel if k is not None))
    if bias_axes is not None:
        shift = elided if left else 0
        sizes = {d: out[i + shift] for i, d in enumerate(out_spec)}
        for d in str(bias_axes):
            if d not in out_spec:
                raise ShapeError(f"EinsumDense: bias dimension '{d}' is not in the output '{out_spec}'")
        dims = [sizes[d] for d in str(bias_axes)]
        if any(d is None for d in dims):
            raise Unknown()
        params += math.prod(d for d in dims if d is not None)
    return [tuple(out)], params


def _adaptive_pool(rank: int) -> Rule:
    def rule(ctx: Ctx) -> Result:
        x = ctx.one()
        _, c = _split(ctx, x, rank)
        return [_join(ctx, x, list(_ints(ctx.args.get("output_size"), rank)), c)], 0
    return rule


def _normalization(ctx: Ctx) -> Result:
    """Normalization keeps its mean, variance and count as (non-trainable)
    weights unless both mean and variance are given."""
    x = ctx.one()
    if ctx.args.get("mean") is not None and ctx.args.get("variance") is not None:
        return [x], 0
    axis = ctx.args.get("axis", -1)
    axes = [] if axis is None else _axes(ctx, x, axis)
    dims = [_known(ctx, x, x[a], f"dimension {a}") for a in axes]
    return [x], 2 * math.prod(dims) + 1


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


def _discretization(ctx: Ctx) -> Result:
    x = ctx.one()
    mode = str(ctx.args.get("output_mode", "int"))
    if mode == "int":
        return [x], 0
    bins = ctx.args.get("bin_boundaries")
    depth = len(bins) + 1 if isinstance(bins, list) else int(ctx.args.get("num_bins"))
    return [_encode(x, mode, depth)], 0


def _hashing(ctx: Ctx) -> Result:
    x = ctx.one()
    mode = str(ctx.args.get("output_mode", "int"))
    return [x if mode == "int" else _encode(x, mode, int(ctx.args.get("num_bins")))], 0


def _lookup(ctx: Ctx) -> Result:
    """StringLookup/IntegerLookup: the vocabulary size (and so any output
    mode but ``int``) may come from a file or ``adapt``."""
    x = ctx.one()
    if str(ctx.args.get("output_mode", "int")) != "int":
        raise Unknown()
    return [x], 0


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


def _spectral_norm(ctx: Ctx) -> Result:
    """SpectralNormalization(layer): the wrapped layer, plus the power
    iteration vector ``u`` of shape (1, last dimension of the kernel or the
    embeddings)."""
    inner = ctx.args.get("layer")
    if not isinstance(inner, ir.Call) or inner.fn not in catalogue().layers:
        raise Unknown()
    x = ctx.one()
    outs, params = ctx.sub(inner, [x])
    kind = ALIASES.get(inner.fn, inner.fn)
    a = Args(inner, catalogue().layers[inner.fn])
    if kind == "Dense":
        last = a.get("units")
    elif kind == "Embedding":
        last = a.get("output_dim")
    elif kind.startswith("DepthwiseConv"):
        last = a.get("depth_multiplier", 1)
    elif kind.startswith("Conv") and kind.endswith("Transpose"):  # kernel (..., filters, input channels)
        last = x[1] if a.get("data_format") == "channels_first" else x[-1]
    elif kind.startswith("Conv"):
        last = a.get("filters")
    else:
        raise Unknown()
    if params is None or not isinstance(last, int):
        raise Unknown()
    return outs, params + last


def _equalization(ctx: Ctx) -> Result:
    """Keras 3.15's Equalization hands back its own input tensor when called
    symbolically, so any model through it fails to build (as a cycle)."""
    raise ShapeError("Equalization cannot be part of a model in this Keras: its symbolic output is its own input "
                     "tensor, which Keras reports as a cycle (apply it to data, outside the model)")


_SHAPE_PRESERVING = (
    "Rescaling", "UnitNormalization", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
    "RandomContrast", "RandomBrightness", "RandomGrayscale", "RandomHue", "RandomSaturation", "RandomSharpness",
    "RandomShear", "RandomPerspective", "RandomPosterization", "RandomInvert", "RandomGaussianBlur",
    "RandomErasing", "RandomElasticTransform", "RandomColorJitter", "RandomColorDegeneration", "Solarization",
    "AutoContrast", "AugMix", "RandAugment", "CutMix", "MixUp",
)

RULES.update({"Resizing": _resize, "CenterCrop": _resize, "RandomCrop": _resize, "GroupNormalization": _group_norm,
              "RMSNormalization": _rms_norm, "EinsumDense": _einsum_dense, "Normalization": _normalization,
              "CategoryEncoding": _category_encoding, "Discretization": _discretization, "Hashing": _hashing,
              "StringLookup": _lookup, "IntegerLookup": _lookup, "GroupQueryAttention": _gqa,
              "SpectralNormalization": _spectral_norm, "ReversibleEmbedding": _embedding,
              "Equalization": _equalization})
for _n in _SHAPE_PRESERVING:
    RULES[_n] = _identity
for _r in (1, 2, 3):
    RULES[f"ConvLSTM{_r}D"] = _conv_lstm(_r)
    RULES[f"AdaptiveAveragePooling{_r}D"] = _adaptive_pool(_r)
    RULES[f"AdaptiveMaxPooling{_r}D"] = _adaptive_pool(_r)

for _alias, _name in ALIASES.items():
    RULES[_alias] = RULES[_name]

MERGES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"})
