"""Core layers: Dense, EinsumDense, the embeddings, Identity and Masking,
and the layers kspec cannot see into (Lambda, framework wrappers ...)."""

from __future__ import annotations

import math
import re

from kspec.compiler.calls import positive_int
from kspec.compiler.registry._base import Ctx, Family, Result, ShapeError, Unknown, fmt_shape
from kspec.compiler.registry._common import identity, last

family = Family("core")


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
    d = last(ctx, x)
    bias = units if ctx.args.get("use_bias", True) else 0
    return [(*x[:-1], units)], d * units + bias + _lora(ctx, (d, units))


family.add("Dense", args={"units": positive_int()}, shape=_dense, kernel=lambda a, x: a.get("units"))


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


family.add("EinsumDense", shape=_einsum_dense, kernel=lambda a, x: None)  # its kernel's layout follows the equation


def _embedding(ctx: Ctx) -> Result:
    x = ctx.one()
    n, dim = int(ctx.args.get("input_dim")), int(ctx.args.get("output_dim"))
    params = n * dim + _lora(ctx, (n, dim))
    if ctx.type == "ReversibleEmbedding" and not ctx.args.get("tie_weights", True):
        params += n * dim  # a separate (output_dim, input_dim) matrix for the reverse projection
    return [(*x, dim)], params


_EMBEDDING_ARGS = {"input_dim": positive_int(), "output_dim": positive_int()}
family.add("Embedding", args=_EMBEDDING_ARGS, shape=_embedding, kernel=lambda a, x: a.get("output_dim"))
family.add("ReversibleEmbedding", args=_EMBEDDING_ARGS, shape=_embedding)

family.add("Identity", shape=identity)
family.add("Masking", shape=identity)

family.add("InputLayer", unknown="declares a model input (written `input` in a spec); it is not applied to a tensor")
#: Layers a spec never builds: each would run or load code chosen by whoever wrote the spec.
_CODE_HINT = "use built-in layers, or register a custom layer class and load its module with --plugin"
family.add("Lambda", unknown="refused: a spec never runs Python code",
           refused=("Lambda layers are not allowed: a spec never runs Python code",
                    "use a built-in layer, or register a custom layer class"))
family.add("Layer", unknown="Keras's base class: it computes nothing of its own")
family.add("Wrapper", unknown="an abstract base; the wrappers built on it have rules of their own")
for _name in ("JaxLayer", "FlaxLayer", "TorchModuleWrapper"):
    family.add(_name, unknown="refused: it wraps a framework function or module, which is code",
               refused=(f"{_name} wraps a framework function or module: a spec never runs code", _CODE_HINT))
family.add("TFSMLayer", unknown="refused: it loads a SavedModel",
           refused=("TFSMLayer loads a TensorFlow SavedModel, whose graph can run code: a spec never loads code",
                    _CODE_HINT))
