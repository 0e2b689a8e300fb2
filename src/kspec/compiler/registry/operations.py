"""Operations on tensors (``keras.ops``): ``x + y``, ``x[:, 0]``,
``ops.mean(x, axis=1)``. Their argument rules (the catalogue's signature of
each ``keras.ops`` function) and their shape rules, side by side.

A shape rule sees the operation's arguments with every tensor a
:class:`Tensor` (its static shape, batch first) and every other argument a
plain value, and gives the output shapes; it raises
:class:`~kspec.compiler.registry._base.ShapeError` with Keras's own message
for what Keras refuses, and :class:`~kspec.compiler.registry._base.Unknown`
when it cannot tell. An operation without a rule has unknown outputs.
Operations have no weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from kspec._records import record
from kspec.catalogue import catalogue
from kspec.compiler.registry._base import Shape, ShapeError, TShape, Unknown
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic, did_you_mean

__all__ = ["OP_RULES", "OpRule", "Tensor", "class_name", "infer_operation", "operation_problems"]


@record(frozen=True)
class Tensor:
    """A tensor argument of an operation: its static shape (``None``: unknown)."""

    shape: TShape


#: A shape rule: (bound arguments by parameter name) -> output shapes.
OpRule = Callable[[dict[str, Any]], list[Shape]]
OP_RULES: dict[str, OpRule] = {}


def class_name(fn: str) -> str:
    """The class of Keras's operation layer for ``keras.ops.<fn>``
    (``true_divide`` -> ``TrueDivide``), as ``kspec summary`` shows it."""
    return "".join(part[:1].upper() + part[1:] for part in fn.split("_"))


def _shape(value: Any) -> Shape:
    """The shape of an argument: a tensor's, or ``()`` for a number."""
    if isinstance(value, Tensor):
        if value.shape is None:
            raise Unknown
        return value.shape
    if isinstance(value, (bool, int, float)):
        return ()
    raise Unknown


def _fmt(shape: Shape) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def broadcast(a: Shape, b: Shape) -> Shape:
    """Keras's ``broadcast_shapes``: the shape of an element-wise result."""
    s1: list[int | None] = list(a)
    s2: list[int | None] = list(b)
    if len(s1) > len(s2):
        s2 = [*([1] * (len(s1) - len(s2))), *s2]
    if len(s1) < len(s2):
        s1 = [*([1] * (len(s2) - len(s1))), *s1]
    out: list[int | None] = list(s1)
    for i, (x, y) in enumerate(zip(s1, s2, strict=True)):
        if x == 1:
            out[i] = y
        elif x is None:
            out[i] = None if y == 1 else y
        elif y == 1 or y is None or y == x:
            out[i] = x
        else:
            raise ShapeError(f"Cannot broadcast shape, the failure dim has value {x}, which cannot be broadcasted "
                             f"to {y}. Input shapes are: {_fmt(a)} and {_fmt(b)}.")
    return tuple(out)


def _elementwise(args: dict[str, Any]) -> list[Shape]:
    values = list(args.values())
    out = _shape(values[0])
    for v in values[1:2]:
        out = broadcast(out, _shape(v))
    return [out]


def _same(args: dict[str, Any]) -> list[Shape]:
    return [_shape(next(iter(args.values())))]


def _axes(axis: Any, rank: int) -> list[int]:
    items = axis if isinstance(axis, list) else [axis]
    out = []
    for a in items:
        if not isinstance(a, int) or isinstance(a, bool) or not -rank <= a < rank:
            raise Unknown
        out.append(a % rank)
    return out


def _reduce(args: dict[str, Any]) -> list[Shape]:
    shape = _shape(args.get("x"))
    axis = args.get("axis")
    keep = bool(args.get("keepdims", False))
    if axis is None:
        return [tuple(1 for _ in shape) if keep else ()]
    axes = set(_axes(axis, len(shape)))
    return [tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)]


def _concatenate(args: dict[str, Any]) -> list[Shape]:
    xs = args.get("xs")
    if not isinstance(xs, list) or not xs:
        raise Unknown
    shapes = [_shape(x) for x in xs]
    first = shapes[0]
    axis = _axes(args.get("axis", 0), len(first))[0]
    total: int | None = 0
    for s in shapes:
        if len(s) != len(first) or any(a is not None and b is not None and a != b
                                       for i, (a, b) in enumerate(zip(s, first, strict=True)) if i != axis):
            raise ShapeError("Every value in `xs` must have the same shape except on the `axis` dim. But found "
                             f"element of shape {_tuple(s)}, which is different from the first element's shape "
                             f"{_tuple(first)}.")
        total = None if total is None or s[axis] is None else total + s[axis]  # type: ignore[operator]
    out = list(first)
    out[axis] = total
    return [tuple(out)]


def _tuple(shape: Shape) -> str:
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _reshape(args: dict[str, Any]) -> list[Shape]:
    shape = _shape(args.get("x"))
    new = args.get("newshape")
    if isinstance(new, int):
        new = [new]
    if not isinstance(new, list) or not all(isinstance(d, int) for d in new):
        raise Unknown
    if -1 in new:
        known = [d for d in shape if d is not None]
        if len(known) != len(shape):
            return [tuple(None if d == -1 else d for d in new)]
        rest = math.prod(d for d in new if d != -1)
        total = math.prod(known)
        if rest == 0 or total % rest:
            raise Unknown
        return [tuple(total // rest if d == -1 else d for d in new)]
    return [tuple(new)]


def _expand_dims(args: dict[str, Any]) -> list[Shape]:
    shape = list(_shape(args.get("x")))
    for a in sorted(_axes(args.get("axis"), len(shape) + 1)):
        shape.insert(a, 1)
    return [tuple(shape)]


def _squeeze(args: dict[str, Any]) -> list[Shape]:
    shape = _shape(args.get("x"))
    axis = args.get("axis")
    if axis is None:
        if None in shape:
            raise Unknown
        return [tuple(d for d in shape if d != 1)]
    axes = set(_axes(axis, len(shape)))
    return [tuple(d for i, d in enumerate(shape) if i not in axes)]


def _transpose(args: dict[str, Any]) -> list[Shape]:
    shape = _shape(args.get("x"))
    axes = args.get("axes")
    order = list(reversed(range(len(shape)))) if axes is None else _axes(list(axes), len(shape))
    return [tuple(shape[i] for i in order)]


def _matmul(args: dict[str, Any]) -> list[Shape]:
    a, b = _shape(args.get("x1")), _shape(args.get("x2"))
    if len(a) < 2 or len(b) < 2:
        raise Unknown
    if a[-1] is not None and b[-2] is not None and a[-1] != b[-2]:
        raise ShapeError("Inner dimensions (`x1.shape[-1]` and `x2.shape[-2]`) must be equal, but received "
                         f"`x1.shape={_tuple(a)}` and `x2.shape={_tuple(b)}`.")
    batch = broadcast(a[:-2], b[:-2])
    return [(*batch, a[-2], b[-1])]


def _get_item(args: dict[str, Any]) -> list[Shape]:
    shape = list(_shape(args.get("x")))
    key = args.get("key")
    items = key if isinstance(key, list) else [key]
    if sum(isinstance(i, ir.EllipsisValue) for i in items) > 1:
        raise Unknown
    used = sum(1 for i in items if not (i is None or isinstance(i, ir.EllipsisValue)))
    if used > len(shape):
        raise ShapeError(f"Too many indices for array: {used} indices for a tensor of rank {len(shape)}")
    out: list[int | None] = []
    pos = 0
    for item in items:
        if item is None:
            out.append(1)
        elif isinstance(item, ir.EllipsisValue):
            take = len(shape) - used
            out.extend(shape[pos:pos + take])
            pos += take
        elif isinstance(item, ir.Slice):
            d = shape[pos]
            pos += 1
            parts = [item.start, item.stop, item.step]
            if not all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
                raise Unknown
            if d is None:
                whole = item.start is None and item.stop is None and item.step in (None, 1)
                out.append(None)
                if not whole and (item.start is None or item.start >= 0) and (item.stop is not None
                                                                              and item.stop >= 0):
                    out[-1] = None
                continue
            out.append(len(range(*slice(item.start, item.stop, item.step).indices(d))))
        elif isinstance(item, int) and not isinstance(item, bool):
            d = shape[pos]
            if d is not None and not -d <= item < d:
                raise ShapeError(f"index {item} is out of bounds for axis {pos} with size {d}")
            pos += 1
        else:
            raise Unknown
    out.extend(shape[pos:])
    return [tuple(out)]


def _register(fns: str, rule: OpRule) -> None:
    for fn in fns.split():
        OP_RULES[fn] = rule


_register("add subtract multiply true_divide divide floor_divide mod power maximum minimum equal not_equal less "
          "less_equal greater greater_equal logical_and logical_or logical_xor arctan2 hypot", _elementwise)
_register("negative abs absolute exp expm1 log log1p log2 log10 sqrt rsqrt square sin cos tan sinh cosh tanh sigmoid "
          "relu relu6 hard_sigmoid hard_silu hard_swish silu swish gelu softplus softsign elu selu leaky_relu "
          "log_sigmoid sparse_sigmoid round floor ceil sign logical_not reciprocal erf cast clip softmax log_softmax "
          "stop_gradient celu glu tanh_shrink soft_shrink hard_shrink hard_tanh squareplus sparse_plus "
          "nan_to_num copy conj real imag", _same)
_register("mean sum max min prod amax amin std var any all logsumexp", _reduce)
_register("concatenate", _concatenate)
_register("reshape", _reshape)
_register("expand_dims", _expand_dims)
_register("squeeze", _squeeze)
_register("transpose", _transpose)
_register("matmul", _matmul)
_register("get_item", _get_item)


def infer_operation(fn: str, args: list[Any], kwargs: dict[str, Any]) -> list[TShape]:
    """The output shapes of ``keras.ops.<fn>`` on these arguments (tensors as
    :class:`Tensor`); ``[None]`` when not known. Raises ShapeError."""
    sig = catalogue().ops.get(fn)
    rule = OP_RULES.get(fn)
    if sig is None or rule is None:
        return [None]
    try:
        return list(rule(sig.bind(args, kwargs)))
    except ShapeError:
        raise
    except (Unknown, TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError):
        return [None]


def operation_problems(op: ir.Op, chained: bool, where: ir.Span | None) -> Iterator[Diagnostic]:
    """What Python would refuse calling ``keras.ops.<fn>`` as written (an
    unknown function, an unknown keyword, too many or too few arguments);
    ``chained``: the chain's tensor is its first argument."""
    ops = catalogue().ops
    sig = ops.get(op.fn)
    span = op.span or where
    if sig is None:
        yield Diagnostic("K203", f"unknown operation 'ops.{op.fn}'", span,
                         did_you_mean(f"ops.{op.fn}", [f"ops.{n}" for n in ops]))
        return
    for key in op.kwargs:
        if key not in sig.accepted:
            yield Diagnostic("K301", f"ops.{op.fn} has no argument '{key}'", op.at(key) or span,
                             did_you_mean(key, sig.accepted))
    n = len(op.args) + (1 if chained else 0)
    problem = sig.bind_problem(n, [k for k in op.kwargs if k in sig.accepted])
    if problem is not None:
        kind, name = problem
        if kind == "missing":
            yield Diagnostic("K303", f"ops.{op.fn} needs argument '{name}'", span)
        elif kind == "too_many":
            yield Diagnostic("K301", f"ops.{op.fn} takes at most {len(sig.positional)} positional arguments "
                             f"({', '.join(sig.positional)}), got {n}", span)
        else:
            yield Diagnostic("K301", f"ops.{op.fn}: argument '{name}' is given twice", op.at(name) or span)
    for value in [*op.args, *op.kwargs.values()]:
        yield from _nested(value, where)


def _nested(value: Any, where: ir.Span | None) -> Iterator[Diagnostic]:
    if isinstance(value, ir.Op):
        yield from operation_problems(value, False, where)
    elif isinstance(value, list):
        for v in value:
            yield from _nested(v, where)
