"""Tensor operations in the IR: the operators of the language and the
``keras.ops`` functions they stand for, and the one canonical form of an
expression that starts with operations.

``x + y`` is ``keras.ops.add(x, y)``, exactly what Keras 3 builds for a
``KerasTensor``'s ``+`` (``x.__add__(y)`` is ``ops.Add().symbolic_call(x, y)``);
``x[:, 0]`` is ``ops.get_item``; ``-x`` is ``ops.negative``. Both front ends,
both printers and decompiling use these tables, so a spec means the same
thing in every form.

Canonical form: an operation whose first argument is a tensor (or another
operation on tensors) is a chain step applied to that tensor, so
``(x + 3.0) * 0.5`` is ``x`` then ``add(3.0)`` then ``multiply(0.5)``
(:func:`op_chain`). Parsing and decompiling give that form; printing
writes the leading operations of a chain back as operators.
"""

from __future__ import annotations

from typing import Any

from kspec.spec import ir

__all__ = ["BINARY", "INFIX", "MERGE_HELPERS", "OP_PREC", "UNARY", "has_tensor", "op_chain"]

#: Keras's lowercase merge helpers (``keras.layers.concatenate(inputs, axis=-1)``)
#: and the layer class each builds.
MERGE_HELPERS: dict[str, str] = {
    "add": "Add", "subtract": "Subtract", "multiply": "Multiply", "average": "Average", "maximum": "Maximum",
    "minimum": "Minimum", "concatenate": "Concatenate", "dot": "Dot",
}

#: Binary operators on tensors -> the ``keras.ops`` function Keras calls.
BINARY: dict[str, str] = {
    "+": "add", "-": "subtract", "*": "multiply", "/": "true_divide", "//": "floor_divide", "%": "mod",
    "**": "power", "@": "matmul", "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal",
    "==": "equal", "!=": "not_equal",
}
#: The operator that writes each binary ``keras.ops`` function.
INFIX: dict[str, str] = {fn: op for op, fn in BINARY.items()}
#: Unary operators on tensors.
UNARY: dict[str, str] = {"-": "negative"}
#: Binding strength of each operator as the printers write it (higher binds tighter).
OP_PREC: dict[str, int] = {"<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4, "+": 5, "-": 5, "*": 6, "/": 6,
                           "//": 6, "%": 6, "@": 6, "neg": 7, "**": 8}


def has_tensor(value: Any) -> bool:
    """Whether ``value`` holds a tensor (a :class:`~kspec.spec.ir.Ref`),
    directly or inside an operation or a list."""
    if isinstance(value, ir.Ref):
        return True
    if isinstance(value, ir.Op):
        return any(has_tensor(a) for a in value.args) or any(has_tensor(v) for v in value.kwargs.values())
    if isinstance(value, list):
        return any(has_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(has_tensor(v) for v in value.values())
    return False


def op_chain(op: ir.Op) -> tuple[list[str], list[ir.Step]]:
    """The canonical chain of an operation written with all its arguments:
    its first argument, when a tensor or an operation on tensors, becomes
    the chain's input (or the steps before it).

    The operations down the first arguments (``((x + a) + b) + c`` is three)
    are read once: whether each holds a tensor is worked out from the
    deepest up, so a long sum costs no more per term than a short one."""
    ops = [op]
    while ops[-1].args and isinstance(ops[-1].args[0], ir.Op):
        ops.append(ops[-1].args[0])
    holds = [False] * len(ops)  # has_tensor(ops[k]), each argument looked at once
    deepest = ops[-1]
    below = bool(deepest.args) and has_tensor(deepest.args[0])
    for k in range(len(ops) - 1, -1, -1):
        o = ops[k]
        below = below or any(has_tensor(a) for a in o.args[1:]) or any(has_tensor(v) for v in o.kwargs.values())
        holds[k] = below
    k = 0
    while k + 1 < len(ops) and holds[k + 1]:  # the first argument is an operation on tensors: a step before
        k += 1
    first = ops[k].args[0] if ops[k].args else None
    if isinstance(first, ir.Ref):
        inputs, steps = [first.name], [_rest(ops[k])]
    else:
        inputs, steps = [], [ir.Step(layer=ops[k], span=ops[k].span)]
    steps += [_rest(ops[j]) for j in range(k - 1, -1, -1)]
    return inputs, steps


def _rest(op: ir.Op) -> ir.Step:
    """The chain step of ``op`` applied to its first argument (the tensor before it)."""
    return ir.Step(layer=op.model_copy(update={"args": list(op.args[1:])}), span=op.span)
