"""Pass 2: expand blocks, loops and parameters into the core IR.

After :func:`expand_spec` a spec has no ``params``, ``blocks`` or ``uses``
and no :class:`~kspec.spec.ir.Var`/:class:`~kspec.spec.ir.BinOp` values:
only what lowering understands.

Naming: a block call ``conv2 = x -> stage(64, 3)`` expands with the prefix
``conv2``; a tensor ``y`` assigned inside the block becomes ``conv2_y``,
and inside a loop ``for i in range(1, 3)`` it becomes ``conv2_y1``,
``conv2_y2``. The block's returned expression is assigned to ``conv2``
itself. Layer names then follow :mod:`kspec.compiler.naming` (the last
layer of ``conv2_y`` is named ``conv2_y``). Names are deterministic; a
clash with a name of the model gets ``_2``, ``_3`` ...

Errors inside an expanded block point at the line inside the block, with a
note pointing at the call site (spans carry ``via``).
"""

from __future__ import annotations

import math
import operator
import types
import typing
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, Union

from kspec.catalogue import ALIASES, catalogue
from kspec.compiler.graph import _expr_names, model_uses
from kspec.compiler.naming import NameAllocator
from kspec.spec import ir, limits
from kspec.spec.diagnostics import MAX_SUGGESTIONS, Diagnostic, KspecError, close_matches, did_you_mean
from kspec.spec.ir import Span
from kspec.spec.kspec_printer import format_value
from kspec.spec.source import YAML_SUFFIXES, read_spec_text, spec_suffix

if TYPE_CHECKING:
    from pathlib import Path

    from kspec.compiler.shapes import SpecInference

__all__ = ["evaluate", "expand_spec"]

class _Error(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(diag.message)
        self.diag = diag


def _notes(span: Span | None) -> tuple[tuple[str, Span | None], ...]:
    notes: list[tuple[str, Span | None]] = []
    while span is not None and span.via is not None:
        notes.append((f"in block '{span.via_block}', expanded from this call", span.via))
        span = span.via
    return tuple(notes)


def _fail(code: str, message: str, span: Span | None, hint: str | None = None) -> _Error:
    return _Error(Diagnostic(code, message, span, hint, notes=_notes(span)))


# ---------------------------------------------------------------------------
# values


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
    "%": operator.mod, "**": operator.pow, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _too_long(span: Span | None) -> _Error:
    return _fail("K213", limits.exceeded("value_length", "the result is too large"), span)


#: What the expansion running may still compute, in characters and items
#: (``computed_items``; none: no bound), set by :func:`expand_spec`.
_COMPUTED: ContextVar[list[int] | None] = ContextVar("kspec_computed", default=None)


def _check_size(result: Any, span: Span | None) -> Any:
    if isinstance(result, int) and not isinstance(result, bool) and abs(result) >= limits.INT_LIMIT:
        raise _fail("K213", "the result is too large", span)
    if isinstance(result, (str, list)):
        weight = _weight(result, limits.current().value_length)
        if weight > limits.current().value_length:
            raise _too_long(span)
        left = _COMPUTED.get()
        if left is not None:
            left[0] -= weight
            if left[0] < 0:
                raise _fail("K213", limits.exceeded("computed_items", "the spec computes too many values in all"),
                            span)
    return result


def _weight(value: Any, limit: int) -> int:
    """Characters and items in ``value``, nested lists counted in full (a
    list may hold one big string many times over); counting stops past
    ``limit``, so this is cheap however large the value claims to be."""
    total = 0
    pending = [value]
    while pending and total <= limit:
        v = pending.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, list):
            total += len(v)
            pending.extend(v[: limit + 1])
        else:
            total += 1
    return total


def _binop(v: ir.BinOp, left: Any, right: Any) -> Any:
    if v.op == "and":
        return left and right
    if v.op == "or":
        return left or right
    if v.op == "**" and isinstance(right, (int, float)) and abs(right) > 64:
        raise _fail("K213", f"exponent {right} is too large", v.span)
    if v.op == "*" and isinstance(right, int) and isinstance(left, (str, list)) \
            and len(left) * right > limits.current().value_length:
        raise _too_long(v.span)  # refused before the repetition is built
    if v.op == "*" and isinstance(left, int) and isinstance(right, (str, list)) \
            and left * len(right) > limits.current().value_length:
        raise _too_long(v.span)
    try:
        return _check_size(_BINOPS[v.op](left, right), v.span)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise _fail("K213", f"cannot compute {_show(left)} {v.op} {_show(right)}: {exc}", v.span) from None


def _show(value: Any) -> str:
    """``value`` as a spec writes it (``"relu"``, ``[1, 2]``, ``l2(0.01)``),
    cut short past 40 characters."""
    try:
        text = format_value(value)
    except ValueError:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: A tensor's static shape by its name in the model (batch dimension first),
#: for ``x.shape``; raises a located error when it is not known.
ShapeOf = Callable[[str, str, "Span | None"], tuple[int | None, ...]]


def evaluate(value: Any, env: Mapping[str, Any], tensors: Mapping[str, str] | None = None,
             *, names: Mapping[str, str] | None = None, shapes: ShapeOf | None = None) -> Any:
    """``value`` with parameters substituted and arithmetic done.

    ``tensors`` renames :class:`~kspec.spec.ir.Ref` tensors (call arguments
    inside blocks); ``names`` maps the tensors a block sees to the model's
    (``None``: the model's own names) and ``shapes`` gives their static
    shapes, for ``x.shape``."""
    return _Evaluator(env, tensors, names, shapes).value(value)


class _Evaluator:
    """The whitelist evaluator of values: literals, parameters, arithmetic,
    comparisons, conditionals, f-strings, indexing, ``x.shape`` and the
    functions of :data:`kspec.spec.ir.BUILTINS`; nothing else runs."""

    def __init__(self, env: Mapping[str, Any], tensors: Mapping[str, str] | None,
                 names: Mapping[str, str] | None, shapes: ShapeOf | None) -> None:
        self.env = env
        self.tensors = tensors
        self.names = names
        self.shapes = shapes

    def value(self, value: Any) -> Any:
        """One value, computed."""
        if isinstance(value, ir.Var):
            if value.name not in self.env:
                raise _fail("K212", f"unknown parameter '{value.name}'", value.span, did_you_mean(value.name, self.env))
            return self.env[value.name]
        if isinstance(value, ir.Ref):
            if self.tensors is None:
                return value
            if value.name not in self.tensors:
                raise _fail("K212", f"unknown tensor '{value.name}'", value.span,
                            did_you_mean(value.name, self.tensors))
            return value.model_copy(update={"name": self.tensors[value.name]})
        if isinstance(value, ir.BinOp):
            left = self.value(value.left)
            if value.op == "and" and not left:
                return left
            if value.op == "or" and left:
                return left
            return _binop(value, left, self.value(value.right))
        if isinstance(value, ir.UnaryOp):
            operand = self.value(value.operand)
            if value.op == "not":
                return not operand
            if isinstance(operand, bool) or not isinstance(operand, (int, float)):
                raise _fail("K213", f"cannot negate {_show(operand)}", value.span)
            return -operand
        if isinstance(value, ir.Cond):
            test = self.value(value.test)
            return self.value(value.then if test else value.otherwise)
        if isinstance(value, ir.Format):
            pieces = [self.value(p) for p in value.parts]
            if sum(_weight(p, limits.current().value_length) for p in pieces) > limits.current().value_length:
                raise _too_long(value.span)
            return _check_size("".join(str(p) for p in pieces), value.span)
        if isinstance(value, ir.Index):
            return self.index(value)
        if isinstance(value, ir.Attr):
            return list(self.shape(value))
        if isinstance(value, ir.Op):  # a tensor operation: its tensors renamed, its values computed
            return value.model_copy(update={"args": [self.value(a) for a in value.args],
                                            "kwargs": {k: self.value(v) for k, v in value.kwargs.items()}})
        if isinstance(value, ir.Slice):
            return value.model_copy(update={k: self.value(getattr(value, k)) for k in ("start", "stop", "step")})
        if isinstance(value, ir.Call):
            args = [self.value(a) for a in value.args]
            kwargs = {k: self.value(v) for k, v in value.kwargs.items()}
            if value.fn in ir.BUILTINS:
                if kwargs:
                    raise _fail("K213", f"{value.fn}() takes no keyword arguments", value.span)
                return _check_size(_builtin(value.fn, args, value.span), value.span)
            return value.model_copy(update={"args": args, "kwargs": kwargs})
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def shape(self, attr: ir.Attr) -> tuple[int | None, ...]:
        """``x.shape``: the static shape of the tensor ``x``."""
        ref = attr.value
        if not isinstance(ref, ir.Ref):
            raise _fail("K213", "'.shape' is read from a tensor's name", attr.span, "write x.shape, x.shape[-1]")
        if self.shapes is None:
            raise _fail("K213", f"'{ref.name}.shape' can be read only in a model or a block, where tensors are",
                        attr.span)
        name = ref.name
        if self.names is not None:
            if name not in self.names:
                raise _fail("K212", f"unknown tensor '{name}'", attr.span, did_you_mean(name, self.names))
            name = self.names[name]
        return self.shapes(ref.name, name, attr.span)

    def index(self, node: ir.Index) -> Any:
        """``value[index]``, with a located error for an index out of range
        or a dimension of ``x.shape`` that is not known statically."""
        base = self.value(node.value)
        key = self.value(node.index)
        if isinstance(base, dict):
            if not isinstance(key, str) or key not in base:
                raise _fail("K213", f"{_show(base)} has no key {_show(key)}", node.span,
                            did_you_mean(key, base) if isinstance(key, str) else None)
            return base[key]
        if not isinstance(base, (list, str)):
            raise _fail("K213", f"cannot index {_show(base)}: only lists, tuples, strings and dictionaries have items",
                        node.span)
        if isinstance(key, bool) or not isinstance(key, int):
            raise _fail("K213", f"an index is a whole number, got {_show(key)}", node.span)
        if not -len(base) <= key < len(base):
            raise _fail("K213", f"index {key} is out of range for {_show(base)}, which has {len(base)} "
                        f"item{'s' if len(base) != 1 else ''}", node.span)
        item = base[key]
        if item is None and isinstance(base, list) and isinstance(node.value, ir.Attr) \
                and isinstance(node.value.value, ir.Ref):
            name = node.value.value.name
            raise _fail("K213", f"dimension {key} of '{name}' is not known statically: its shape is "
                        f"{_fmt_shape(base)}", node.span,
                        "give the input that size, or pass the size as a parameter")
        return item


def _fmt_shape(shape: list[Any]) -> str:
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _number(fn: str, value: Any, span: Span | None) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail("K213", f"{fn}() takes a number, got {_show(value)}", span)
    return value


def _builtin(fn: str, args: list[Any], span: Span | None) -> Any:
    """``int``, ``float``, ``round``, ``min``, ``max`` and ``len``, as Python
    computes them on numbers, lists and strings."""
    if fn == "len":
        if len(args) != 1:
            raise _fail("K213", f"len() takes one value, got {len(args)}", span)
        if not isinstance(args[0], (list, str, dict)):
            raise _fail("K213", f"len() takes a list, a tuple or a string, got {_show(args[0])}", span)
        return len(args[0])
    if fn in ("min", "max"):
        items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        if not items:
            raise _fail("K213", f"{fn}() of nothing", span, f"give it numbers: {fn}(a, b) or a list: {fn}(sizes)")
        for item in items:
            _number(fn, item, span)
        return min(items) if fn == "min" else max(items)
    if fn == "round":
        if len(args) not in (1, 2) or (len(args) == 2 and (isinstance(args[1], bool) or not isinstance(args[1], int))):
            raise _fail("K213", "round() takes a number and, optionally, a whole number of digits", span)
        if len(args) == 2 and abs(args[1]) > 64:
            raise _fail("K213", f"round() to {args[1]} digits is too many", span)
        number = _number(fn, args[0], span)
        try:
            return round(number) if len(args) == 1 else round(number, args[1])
        except (OverflowError, ValueError) as exc:
            raise _fail("K213", f"cannot compute round({_show(number)}): {exc}", span) from None
    if len(args) != 1:
        raise _fail("K213", f"{fn}() takes one value, got {len(args)}", span)
    value = args[0]
    if isinstance(value, str):
        value = value.strip()
        if len(value) > 64:
            raise _fail("K213", f"{fn}() of a string longer than 64 characters", span)
        try:
            return int(value) if fn == "int" else _finite(float(value), span)
        except ValueError:
            raise _fail("K213", f"{fn}() cannot read a number from {_show(args[0])}", span) from None
    number = _number(fn, value, span)
    if fn == "float":
        return float(number)
    if isinstance(number, float) and not math.isfinite(number):
        raise _fail("K213", f"int() of {_show(number)}", span)
    return int(number)


def _finite(value: float, span: Span | None) -> float:
    if not math.isfinite(value):
        raise _fail("K213", "float() gives a number that is not finite", span)
    return value


def _relocate(node: Any, via: Span, block: str) -> Any:
    """A copy of ``node`` whose spans say they were expanded from ``via``
    (every node, list and dict copied; scalars kept)."""
    if isinstance(node, ir.IRNode):
        new = node.model_copy()  # a copy of this node alone, whose fields are set below
        for name in _copied_fields(type(node)):
            value = getattr(node, name)
            if isinstance(value, (ir.IRNode, list, dict)):
                setattr(new, name, _relocate(value, via, block))
        if node.span is not None:
            new.span = _mark(node.span, via, block)
        if node.key_spans:
            new.key_spans = {k: _mark(s, via, block) for k, s in node.key_spans.items()}
        return new
    if isinstance(node, list):
        return [v if type(v) in _SCALARS else _relocate(v, via, block) for v in node]
    if isinstance(node, dict):
        return {k: v if type(v) in _SCALARS else _relocate(v, via, block) for k, v in node.items()}
    return node


class _Moved:
    """A called block's statements, each relocated (:func:`_relocate`) when
    expansion first reaches it, once per call: a branch not taken or a loop
    that never runs costs nothing, however often the block is called. A
    loop's or an ``if``'s own values are relocated; its statements are
    left to be reached."""

    __slots__ = ("block", "done", "via")

    def __init__(self, via: Span, block: str) -> None:
        self.via = via
        self.block = block
        self.done: dict[int, Any] = {}

    def __call__(self, st: Any) -> Any:
        got = self.done.get(id(st))
        if got is None:
            if isinstance(st, (ir.For, ir.If)):
                inner = {"body": st.body, **({"orelse": st.orelse} if isinstance(st, ir.If) else {})}
                head = _relocate(st.model_copy(update={key: [] for key in inner}), self.via, self.block)
                got = head.model_copy(update=inner)
            else:
                got = _relocate(st, self.via, self.block)
            self.done[id(st)] = got
        return got


#: For each node class met by :func:`_relocate`, its fields that may hold a node, a list or a dict.
_COPIED: dict[type, tuple[str, ...]] = {}


def _copied_fields(cls: type[ir.IRNode]) -> tuple[str, ...]:
    """The fields of ``cls`` but its spans and those declared to hold only
    a scalar (a name, a number, a flag, a tag): those :func:`_relocate` copies."""
    fields = _COPIED.get(cls)
    if fields is None:
        declared = typing.get_type_hints(cls)
        fields = _COPIED[cls] = tuple(name for name in cls.semantic_fields if not _scalar(declared[name]))
    return fields


def _scalar(declared: Any) -> bool:
    """Whether a field declared with type ``declared`` holds only a scalar
    (``str``, ``int | None``, a ``Literal`` tag ...), never a list, a dict or a node."""
    if declared in _SCALARS:
        return True
    origin = typing.get_origin(declared)
    if origin is Literal:
        return True
    if origin in (Union, types.UnionType):
        return all(_scalar(arg) for arg in typing.get_args(declared))
    return False


def _mark(span: Span, via: Span, block: str) -> Span:
    """``span``, marked as expanded from ``via`` in ``block`` (the first
    call site, for a span that is already marked)."""
    if span.via is not None:
        return span.replace(via=_mark(span.via, via, block))
    return span.replace(via=via, via_block=block)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "any": lambda v: True,
}


def _check_type(param: ir.Param, value: Any, span: Span | None) -> None:
    check = _TYPES.get(param.type or "any", _TYPES["any"])
    if not check(value):
        raise _fail("K211", f"parameter '{param.name}' is {param.type}, got {_show(value)}", span)


# ---------------------------------------------------------------------------
# the expander


class _Expander:
    def __init__(self, blocks: dict[str, ir.Block], env: dict[str, Any],
                 models: AbstractSet[str] = frozenset()) -> None:
        self.blocks = blocks
        self.env = env
        #: The spec's models, and the named layers of the model being expanded:
        #: a bare name that is one of these is not a block (:meth:`as_block`).
        self.models = models
        self.named: set[str] = set()
        #: Per layer type that is not Keras's, whether it is close to a block's name (:meth:`near_block`).
        self.near_blocks: dict[str, bool] = {}
        self.count = 0
        self.iterations = 0
        self.limits = limits.current()
        self.stack: list[str] = []
        #: The models expanded so far (sub-models for ``x.shape``), and the
        #: model being expanded: its inputs, named layers and plain nodes.
        self.done: list[ir.FunctionalModel | ir.SequentialModel] = []
        #: The same models by name (with their place in ``done``).
        self.done_by_name: dict[str, list[tuple[int, ir.FunctionalModel | ir.SequentialModel]]] = {}
        self.current: ir.FunctionalModel | None = None
        self.plain: list[ir.Assign] = []
        self.known: tuple[int, dict[str, Any]] | None = None
        #: What :meth:`extend_known` reads: the last whole inference, the
        #: targets of the plain statements it took in, and the statements
        #: using each name (its statements and those added since).
        self.inference: tuple[SpecInference, set[str], dict[str, list[ir.Assign]]] | None = None
        #: Whether the model being expanded writes each name once (see :meth:`functional`).
        self.one_definition = True
        self.inferring = False
        #: The named layers of the model being expanded, by name, as expanded.
        self.current_layers: dict[str, ir.LayerDef] = {}
        #: The names that stand for a shared layer or another model there.
        self.shared_names: AbstractSet[str] = set()

    # -- one model ----------------------------------------------------------

    def functional(self, m: ir.FunctionalModel) -> tuple[ir.FunctionalModel, list[Diagnostic]]:
        written = [*(i.name for i in m.inputs), *(d.name for d in m.layers), *(o.name for o in m.outputs),
                   *(t for n in m.nodes for t in n.targets)]
        self.names = NameAllocator(set(written))
        # A name written twice (an error the graph check reports) makes which
        # statement a shape comes from depend on the order of inference:
        # then only whole inferences answer ``x.shape`` (see :meth:`extend_known`).
        self.one_definition = len(self.names.taken) == len(written)
        self.nodes: list[ir.Assign] = []
        errors: list[Diagnostic] = []
        inputs = []
        for inp in m.inputs:
            try:
                inputs.append(self.input(inp))
            except _Error as exc:
                errors.append(exc.diag)
        self.current = m.model_copy(update={"inputs": inputs, "layers": [], "nodes": [], "outputs": []})
        self.named = {d.name for d in m.layers}
        self.plain = [n for n in m.nodes if not self.has_blocks(n.value)]
        self.known = self.inference = None
        layers = []
        for d in m.layers:
            try:
                for c in d.stack:
                    if isinstance(c, ir.LayerCall) and c.type in self.blocks:
                        raise _fail("K214", f"block '{c.type}' cannot be part of a named layer", c.span,
                                    "apply the block to a tensor: y = x -> block(...)")
                layers.append(d.model_copy(update={"stack": [self.callee(c, self.env) for c in d.stack]}))
            except _Error as exc:
                errors.append(exc.diag)
        # The statements' x.shape reads see the named layers' results (their own arguments read inputs only).
        self.current = self.current.model_copy(update={"layers": layers})
        self.current_layers = {d.name: d for d in layers}
        self.shared_names = self.done_by_name.keys() | self.named
        for n in m.nodes:
            try:
                self.assign(n.targets, n.value, self.env, None, n.span, keep_targets=True)
            except _Error as exc:
                errors.append(exc.diag)
        outputs = []
        for o in m.outputs:
            try:
                residuals = self.lower(o.value, self.env, None, o.name)
                if len(residuals) != 1:
                    raise _fail("K215", f"output '{o.name}' gets {len(residuals)} tensors from a block", o.span)
                outputs.append(o.model_copy(update={"value": residuals[0]}))
            except _Error as exc:
                errors.append(exc.diag)
        model = m.model_copy(update={"inputs": inputs, "layers": layers, "nodes": self.nodes, "outputs": outputs})
        self.current = None
        self.finished(model)
        return model, errors

    def sequential(self, m: ir.SequentialModel) -> ir.SequentialModel:
        for c in m.layers:
            if isinstance(c, ir.LayerCall) and c.type in self.blocks:
                raise _fail("K214", f"block '{c.type}' can only be used in a functional model", c.span,
                            "write the model as 'model NAME { ... }' and chain the block: x -> block(...)")
        inp = self.input(m.input) if m.input is not None else None
        layers = [c if self.settled_layer(c) else self.callee(c, self.env) for c in m.layers]
        model = m.model_copy(update={"input": inp, "layers": layers})
        self.finished(model)
        return model

    def input(self, inp: ir.Input) -> ir.Input:
        """An input with its shape's parameter expressions computed."""
        if all(d is None or isinstance(d, int) for d in inp.shape):
            return inp
        shape: list[int | None] = []
        for d in inp.shape:
            value = evaluate(d, self.env)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise _fail("K213", f"a dimension is a positive whole number or None, got {_show(value)}",
                            getattr(d, "span", None) or inp.span)
            shape.append(value)
        return inp.model_copy(update={"shape": shape})

    # -- static shapes, for x.shape -------------------------------------------

    def has_blocks(self, expr: ir.Expr) -> bool:
        """Whether ``expr`` applies a block."""
        return any(isinstance(layer, ir.LayerCall) and layer.type in self.blocks
                   for layer in (self.as_block(s.layer) for s in expr.steps))

    def shape_of(self, written: str, name: str, span: Span | None) -> tuple[int | None, ...]:
        """The static shape of the model's tensor ``name`` (written
        ``written`` where it is read), from shape inference over what is
        expanded so far: the model's inputs, its named layers, the
        statements emitted, and its plain statements (without blocks)."""
        if self.current is None:
            raise _fail("K213", f"'{written}.shape' can be read only in a functional model or a block", span)
        if self.known is None or (self.known[0] != len(self.nodes) and not self.extend_known()):
            from kspec.compiler.shapes import SpecInference  # only specs that read shapes pay for it

            emitted = {t for n in self.nodes for t in n.targets}
            plain = []
            self.inferring = True  # a plain statement that reads shapes itself is left out
            try:
                for n in self.plain:
                    if emitted.isdisjoint(n.targets):
                        try:
                            plain.append(n.model_copy(update={"value": self.lower(n.value, self.env, None,
                                                                                    n.targets[0])[0]}))
                        except _Error:
                            continue
            finally:
                self.inferring = False
            model = self.current.model_copy(update={"nodes": [*self.nodes, *plain]})
            spec = ir.Spec(models=[*self.models_used(model), model])
            inference = SpecInference(spec)
            self.known = (len(self.nodes), dict(inference.shapes.models[model.name].tensors))
            users: dict[str, list[ir.Assign]] = {}
            for n in model.nodes:
                for used in _expr_names(n.value):
                    users.setdefault(used, []).append(n)
            self.inference = (inference, {t for n in plain for t in n.targets}, users) if self.one_definition else None
        shape: tuple[int | None, ...] | None = self.known[1].get(name)
        if shape is None:
            raise _fail("K213", f"the shape of '{written}' is not known statically", span,
                        "a layer kspec has no shape rule for, or a tensor defined after this use, hides it")
        return shape

    def models_used(self, model: ir.FunctionalModel) -> list[ir.FunctionalModel | ir.SequentialModel]:
        """The models expanded so far that ``model`` uses, directly or not
        (as sub-models or wrapped by name), in the order they were expanded:
        all that inferring ``model``'s shapes reads of them, so a file of
        many models does not infer every earlier model again for each."""
        names = self.done_by_name.keys()  # a use of ``model`` itself is no model to add
        found: dict[int, tuple[int, ir.FunctionalModel | ir.SequentialModel]] = {}
        pending: list[ir.FunctionalModel | ir.SequentialModel] = [model]
        while pending:
            for ref in model_uses(pending.pop(), names):
                for k, used in self.done_by_name.get(ref.ref, ()):
                    if used.name != model.name and k not in found:
                        found[k] = (k, used)
                        pending.append(used)
        return [used for _, used in sorted(found.values(), key=lambda item: item[0])]

    def finished(self, model: ir.FunctionalModel | ir.SequentialModel) -> None:
        """Record ``model`` as expanded (a sub-model for ``x.shape`` from now on)."""
        self.done_by_name.setdefault(model.name, []).append((len(self.done), model))
        self.done.append(model)

    def extend_known(self) -> bool:
        """Bring the known shapes up to the statements emitted since the
        last whole inference, one statement at a time from the shapes of the
        tensors it uses (:meth:`SpecInference.statement`), so a block that
        reads ``x.shape`` at each step does not walk the model again at each
        step. A statement that used a name before it was emitted (and saw it
        missing) is inferred again, and so are the statements using what it
        defines, as far as their shapes change. A statement's shapes depend
        on nothing but the tensors it uses and, for a named (shared) layer,
        on the layer's first call: the layer objects of the whole walk are
        applied again, built by that call. So this gives what a whole
        inference would; ``False`` where it might not (the caller then
        infers the whole model): a statement defines a name already known,
        uses a name not defined yet, its own model, a model the inference
        did not take in or a named stack of names, a statement applying a
        named layer would be inferred again (its first call may change), or
        the statements inferred again are more than the model has. A tensor
        of unknown shape is known, as ``None``, as the whole walk knows it."""
        if self.known is None or self.inference is None:
            return False
        _, plain, users = self.inference
        count, known = self.known
        budget = 2 * (len(known) + len(self.nodes))  # statements inferred again: a cycle runs out of it
        for node in self.nodes[count:]:
            if plain.issuperset(node.targets):
                continue  # taken in as a plain statement already: the same statement, the same shapes
            if any(t in known for t in node.targets) or not self.infer_statement(node, known):
                return False
            for name in _expr_names(node.value):
                users.setdefault(name, []).append(node)
            pending = [user for t in node.targets for user in users.get(t, ())]
            while pending:
                budget -= 1
                statement = pending.pop()
                before = [known.get(t) for t in statement.targets]
                if budget < 0 or not self.infer_statement(statement, known, again=True):
                    return False
                pending += [user for t, old in zip(statement.targets, before, strict=True) if known.get(t) != old
                            for user in users.get(t, ())]
        self.known = (len(self.nodes), known)
        return True

    def infer_statement(self, node: ir.Assign, known: dict[str, Any], *, again: bool = False) -> bool:
        """Put the shapes of ``node``'s targets into ``known``, from the
        known shapes of the tensors it uses (``None`` for an unknown one);
        ``False`` (and ``known`` as it was) when one is not defined yet,
        when it applies its own model, what :meth:`named_layers` refuses,
        or, inferred ``again``, a named layer."""
        assert self.inference is not None and self.current is not None
        model = self.current.name
        if any(isinstance(s.layer, ir.LayerRef) and s.layer.ref == model for s in node.value.steps):
            return False
        layers = self.named_layers(node)
        # Inferred ``again``, a shared layer's first call may have been this one, with unknown inputs.
        if layers is None or (again and layers):
            return False
        inputs = {}
        for name in _expr_names(node.value):
            if name not in known:  # not defined yet (a tensor of unknown shape is known, as None)
                return False
            inputs[name] = known[name]
        known.update(self.inference[0].statement(self.current, node, inputs, layers))
        return True

    def named_layers(self, node: ir.Assign) -> list[ir.LayerDef] | None:
        """The named layers ``node`` applies, directly or wrapped, each a
        stack of layers of its own; ``None`` when the last whole inference
        cannot take ``node`` in alone: it applies a named stack that names
        another layer or model, or a model that inference left out (applied
        since, through a block)."""
        assert self.inference is not None and self.current is not None
        inferred = self.inference[0].shapes.models
        one = self.current.model_copy(update={"layers": [], "nodes": [node], "outputs": []})
        defs: dict[str, ir.LayerDef] = {}
        for ref in model_uses(one, self.shared_names):
            if ref.ref in self.named:
                d = self.current_layers.get(ref.ref)
                if d is None or any(isinstance(c, ir.LayerRef) for c in d.stack):  # a mistake, or a stack of names
                    return None
                defs[d.name] = d
            elif ref.ref not in inferred:
                return None
        return list(defs.values())

    # -- helpers ------------------------------------------------------------

    def callee(self, c: ir.LayerCall | ir.LayerRef | ir.Op, env: Mapping[str, Any],
               tensors: Mapping[str, str] | None = None) -> ir.LayerCall | ir.LayerRef | ir.Op:
        if isinstance(c, ir.LayerRef):
            return c
        if isinstance(c, ir.Op):  # tensors in an operation's arguments are renamed like call arguments
            op: ir.Op = evaluate(c, env, tensors, names=tensors, shapes=None if self.inferring else self.shape_of)
            return op
        layers = catalogue().layers
        if c.type not in layers and c.type not in ALIASES and self.blocks and self.near_block(c.type):
            raise _fail("K203", f"unknown layer or block '{c.type}'", c.span,
                        did_you_mean(c.type, [*self.blocks, *layers]))
        return c.model_copy(update={"args": [self.value(a, env, tensors) for a in c.args],
                                    "kwargs": {k: self.value(v, env, tensors) for k, v in c.kwargs.items()}})

    def near_block(self, layer_type: str) -> bool:
        """Whether a layer type that is not Keras's is close to a block's
        name (a misspelt block call), worked out once per type: a custom
        layer is used many times over, and each look compares it with every
        block."""
        near = self.near_blocks.get(layer_type)
        if near is None:
            # Each type met here is an error (a registered custom class has a
            # '>'): past the first MAX_SUGGESTIONS, the rest are taken as
            # unknown layers, so a spec of thousands of unknown types among
            # thousands of blocks is not their product in comparisons.
            near = ">" not in layer_type and len(self.near_blocks) < MAX_SUGGESTIONS \
                and bool(close_matches(layer_type, self.blocks))
            self.near_blocks[layer_type] = near
        return near

    def value(self, v: Any, env: Mapping[str, Any], tensors: Mapping[str, str] | None) -> Any:
        """An argument value computed where ``tensors`` are the names in
        scope (``None``: the model's own), so ``x.shape`` can be read."""
        return evaluate(v, env, names=tensors, shapes=None if self.inferring else self.shape_of)

    def emit(self, assign: ir.Assign) -> None:
        self.count += 1
        if self.count > self.limits.layers:
            raise _fail("K216", limits.exceeded("layers", "expansion produces too many statements"), assign.span)
        self.nodes.append(assign)

    def tensor(self, name: str, tensors: Mapping[str, str] | None, span: Span | None) -> str:
        if tensors is None:
            return name
        if name not in tensors:
            raise _fail("K212", f"unknown tensor '{name}' in this block", span, did_you_mean(name, tensors))
        return tensors[name]

    # -- expressions --------------------------------------------------------

    def assign(self, targets: list[str], expr: ir.Expr, env: Mapping[str, Any], tensors: Mapping[str, str] | None,
               span: Span | None, keep_targets: bool, prefix: str = "") -> None:
        residuals = self.lower(expr, env, tensors, targets[0])
        if len(residuals) == 1:
            self.emit(ir.Assign(targets=targets, value=residuals[0], span=span))
            return
        if len(residuals) != len(targets):
            raise _fail("K215", f"the block returns {len(residuals)} tensors but {len(targets)} "
                        f"name{'s are' if len(targets) != 1 else ' is'} given", span)
        for t, r in zip(targets, residuals, strict=True):
            self.emit(ir.Assign(targets=[t], value=r, span=span))

    def lower(self, expr: ir.Expr, env: Mapping[str, Any], tensors: Mapping[str, str] | None,
              hint: str) -> list[ir.Expr]:
        """Expand the block calls of ``expr``; the result expressions (one,
        or one per value a final block returns) use no blocks."""
        if tensors is None and self.settled(expr):  # its steps as written: copies would be equal, spans and all
            return [ir.Expr(inputs=list(expr.inputs), steps=list(expr.steps), span=expr.span)]
        inputs = [self.tensor(n, tensors, expr.span) for n in expr.inputs]
        pending: list[ir.Step] = []
        steps = expr.steps
        for k, step in enumerate(steps):
            layer = self.as_block(step.layer)
            if not (isinstance(layer, ir.LayerCall) and layer.type in self.blocks):
                pending.append(step.model_copy(update={
                    "layer": self.callee(layer, env, tensors),
                    "call_kwargs": {key: evaluate(v, env, tensors) for key, v in step.call_kwargs.items()},
                }))
                continue
            if step.call_kwargs:
                raise _fail("K214", f"block '{layer.type}' takes no call arguments", step.span)
            if pending:
                tmp = self.names.fresh(f"{hint}_{k}")
                self.emit(ir.Assign(targets=[tmp], value=ir.Expr(inputs=inputs, steps=pending, span=expr.span),
                                    span=expr.span))
                inputs, pending = [tmp], []
            last = k == len(steps) - 1
            prefix = hint if last else self.names.fresh(f"{hint}_{layer.type}")
            returns = self.call_block(layer, inputs, env, tensors, prefix, step.span or layer.span)
            if last:
                return returns
            if len(returns) != 1:
                raise _fail("K215", f"block '{layer.type}' returns {len(returns)} tensors; a chain continues "
                            "with one", step.span)
            if returns[0].steps:
                name = prefix
                self.emit(ir.Assign(targets=[name], value=returns[0], span=step.span))
                inputs = [name]
            else:
                inputs = list(returns[0].inputs)
        return [ir.Expr(inputs=inputs, steps=pending, span=expr.span)]

    def settled(self, expr: ir.Expr) -> bool:
        """Whether ``expr``, written in a model (not in a block), has
        nothing to expand: no block call, no layer that may be a misspelt
        block, no parameter or other expression in any value. Most
        statements of a spec with a few parameters are so."""
        return not any(self.block_like(step.layer) for step in expr.steps) and not _has_exprs(expr)

    def settled_layer(self, layer: ir.LayerCall | ir.LayerRef | ir.Op) -> bool:
        """Whether :meth:`callee` would only copy ``layer`` (a layer of a
        sequential model, as written): no value holds an expression."""
        return not self.block_like(layer) and not _has_exprs(layer)

    def block_like(self, layer: ir.LayerCall | ir.LayerRef | ir.Op) -> bool:
        """Whether ``layer`` calls a block, or a layer that may be a misspelt
        block (:meth:`callee` reports it)."""
        if isinstance(layer, ir.LayerRef):
            return self.as_block(layer) is not layer
        return isinstance(layer, ir.LayerCall) and (layer.type in self.blocks or bool(
            self.blocks and layer.type not in catalogue().layers and layer.type not in ALIASES))

    def as_block(self, layer: ir.LayerCall | ir.LayerRef | ir.Op) -> ir.LayerCall | ir.LayerRef | ir.Op:
        """``layer``, or the block call a bare name stands for: ``x -> mlp``
        where ``mlp`` is a block of a used file (the parser, which reads no
        other file, knew only this file's blocks). A named layer of the
        model and a model keep the name, as written."""
        if isinstance(layer, ir.LayerRef) and layer.ref in self.blocks and layer.ref not in self.named \
                and layer.ref not in self.models:
            return ir.LayerCall(type=layer.ref, span=layer.span)
        return layer

    def call_block(self, call: ir.LayerCall, inputs: list[str], env: Mapping[str, Any],
                   tensors: Mapping[str, str] | None, prefix: str, span: Span | None) -> list[ir.Expr]:
        block = self.blocks[call.type]
        if call.type in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(call.type):], call.type])
            raise _fail("K214", f"block '{call.type}' calls itself ({chain})", span,
                        "blocks cannot be recursive; use a loop")
        if len(self.stack) >= limits.current().nesting:  # each call expands within the one before
            raise _fail("K216", limits.exceeded("nesting", "blocks call blocks too deeply"), span)
        self.stack.append(call.type)
        try:
            return self._call_block(block, call, inputs, env, tensors, prefix, span)
        finally:
            self.stack.pop()

    def _call_block(self, block: ir.Block, call: ir.LayerCall, inputs: list[str], env: Mapping[str, Any],
                    caller: Mapping[str, str] | None, prefix: str, span: Span | None) -> list[ir.Expr]:
        if len(inputs) != len(block.inputs):
            want = len(block.inputs)
            raise _fail("K214", f"block '{block.name}' takes {want} tensor{'s' if want != 1 else ''}, "
                        f"got {len(inputs)}", span)
        args = [self.value(a, env, caller) for a in call.args]
        kwargs = {k: self.value(v, env, caller) for k, v in call.kwargs.items()}
        local = self.bind(block, args, kwargs, call, span)
        via = span or Span()
        returns = _relocate(block.returns, via, block.name)
        tensors = dict(zip(block.inputs, inputs, strict=True))
        self.walk(block.body, local, tensors, prefix, "", _Moved(via, block.name))
        out: list[ir.Expr] = []
        for r in returns:
            out += self.lower(r, local, tensors, prefix)
        return out

    def bind(self, block: ir.Block, args: list[Any], kwargs: dict[str, Any], call: ir.LayerCall,
             span: Span | None) -> dict[str, Any]:
        params = block.params
        if len(args) > len(params):
            raise _fail("K214", f"block '{block.name}' takes {len(params)} value argument"
                        f"{'s' if len(params) != 1 else ''}, got {len(args)}", span)
        names = {p.name for p in params}
        for k in kwargs:
            if k not in names:
                raise _fail("K214", f"block '{block.name}' has no parameter '{k}'", call.at(k),
                            did_you_mean(k, names))
        local: dict[str, Any] = dict(self.env)
        for i, p in enumerate(params):
            if i < len(args):
                if p.name in kwargs:
                    raise _fail("K214", f"parameter '{p.name}' is given twice", call.at(p.name))
                value = args[i]
            elif p.name in kwargs:
                value = kwargs[p.name]
            elif p.has_default:
                value = evaluate(_relocate(p.default, span or Span(), block.name), local)
            else:
                raise _fail("K214", f"block '{block.name}' needs a value for '{p.name}'", span,
                            f"{block.name}({', '.join(q.name + '=...' for q in params if not q.has_default)})")
            _check_type(p, value, call.at(p.name) if p.name in kwargs else span)
            local[p.name] = value
        return local

    def walk(self, body: list[Any], env: dict[str, Any], tensors: dict[str, str], prefix: str, suffix: str,
             moved: _Moved | None = None) -> None:
        """Expand the statements ``body`` of a block; ``moved`` relocates
        each of a called block's statements where it is reached."""
        for st in body:
            if moved is not None:
                st = moved(st)
            if isinstance(st, ir.For):
                values = self.loop_values(st, env, tensors)
                for k, item in enumerate(values):
                    inner = {**env, st.var: item}
                    step = item if st.range else k  # a list loop names its tensors by position
                    self.walk(st.body, inner, tensors, prefix, f"{suffix}_{step}" if suffix else str(step), moved)
                continue
            if isinstance(st, ir.If):
                branch = st.body if self.test(st, env, tensors) else st.orelse
                self.walk(branch, env, tensors, prefix, suffix, moved)
                continue
            names = [self.names.fresh(f"{prefix}_{t}{suffix}") for t in st.targets]
            self.assign(names, st.value, env, tensors, st.span, keep_targets=False)
            for t, n in zip(st.targets, names, strict=True):
                tensors[t] = n

    def loop_values(self, st: ir.For, env: dict[str, Any], tensors: dict[str, str]) -> range | list[Any]:
        """The values a loop runs over (``range(...)`` or a list or tuple),
        counted toward the ``loop_iterations`` limit before any run."""
        values: range | list[Any]
        if st.range:
            bounds = [self.value(b, env, tensors) for b in st.range]
            if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
                raise _fail("K213", "range() takes whole numbers", st.span)
            if len(bounds) == 3 and bounds[2] == 0:
                raise _fail("K213", "range() step cannot be zero", st.span)
            values = range(*bounds)
        else:
            over = self.value(st.over, env, tensors)
            if isinstance(over, str) and over in tensors:
                raise _fail("K213", f"a loop runs over a list or a tuple, not the tensor '{over}'",
                            getattr(st.over, "span", None) or st.span)
            if not isinstance(over, list):
                raise _fail("K213", f"a loop runs over a list or a tuple, got {_show(over)}",
                            getattr(st.over, "span", None) or st.span, "for units in [64, 32] { ... }")
            values = over
        try:
            runs = len(values)
        except OverflowError:  # more runs than a machine word counts
            runs = limits.INT_LIMIT
        if self.iterations + runs > self.limits.loop_iterations:
            if runs > self.limits.loop_iterations:
                what = f"the loop runs {runs} times" if runs < limits.INT_LIMIT else "the loop runs too many times"
            else:
                what = f"the loops run {self.iterations + runs} times in all"
            raise _fail("K216", limits.exceeded("loop_iterations", what), st.span)
        self.iterations += runs
        return values

    def test(self, st: ir.If, env: dict[str, Any], tensors: dict[str, str]) -> bool:
        """The truth of an ``if`` test: a value known before the model runs
        (parameters, loop indices, static shapes), never a tensor."""
        for ref in _refs(st.test):
            if ref.name in tensors:
                raise _fail("K213", f"'if' tests a value known before the model runs, not the tensor '{ref.name}'",
                            ref.span or st.span, f"a static shape can be tested: if {ref.name}.shape[-1] != 64 {{")
            raise _fail("K212", f"unknown name '{ref.name}'", ref.span or st.span,
                        did_you_mean(ref.name, [*env, *tensors]))
        return bool(self.value(st.test, env, tensors))


def _refs(value: Any) -> list[ir.Ref]:
    """The tensors a value names, except those whose shape it reads."""
    if isinstance(value, ir.Ref):
        return [value]
    if isinstance(value, ir.Attr):
        return []
    if isinstance(value, ir.IRNode):
        return [r for name in type(value).model_fields if name not in ("span", "key_spans")
                for r in _refs(getattr(value, name))]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


# ---------------------------------------------------------------------------
# entry point


def _load_uses(spec: ir.Spec) -> tuple[list[ir.Block], list[ir.Param]]:
    """The blocks and parameters of every file ``spec`` uses, directly or
    through the files it uses, each file read once."""
    if not spec.uses:  # pathlib loads only for a spec that reaches other files
        return [], []
    from pathlib import Path

    file = spec.span.file if spec.span is not None else "<string>"
    root = Path.cwd().resolve() if file.startswith("<") else Path(file).resolve()
    loader = _Uses(root if file.startswith("<") else root.parent)
    return loader.load(spec, root)


class _Uses:
    """``use`` statements, confined: a used file must be a spec file
    (``.kspec``, ``.yaml``, ``.yml``) inside the using spec's directory or a
    directory the user allowed (``--allow-dir``), symlinks resolved first;
    it is read within the ``source_bytes`` limit, at most ``uses`` files in
    all, and a cycle of uses is an error."""

    def __init__(self, base: Path) -> None:
        from pathlib import Path

        self.roots = [base, *(Path(d).resolve() for d in limits.current().allowed_dirs)]
        self.seen: set[Path] = set()

    def load(self, spec: ir.Spec, root: Path) -> tuple[list[ir.Block], list[ir.Param]]:
        """The blocks and parameters of the files ``spec`` (read from
        ``root``) uses: each file's after those of the files it uses, in the
        order of its uses. A depth-first walk with its own stack, as a chain
        of uses may be as long as the ``uses`` limit."""
        from kspec.spec.kspec_form import parse_kspec  # Lark loads only for specs that use .kspec files

        blocks: list[ir.Block] = []
        params: list[ir.Param] = []
        chain = [root]  # the files being read, outermost first
        at = {root: 0}  # the place of each in the chain
        todo = [(spec, iter(spec.uses))]
        while todo:
            current, uses = todo[-1]
            file = current.span.file if current.span is not None else "<string>"
            base = chain[-1].parent if not file.startswith("<") else self.roots[0]
            where = current.span or Span(file=file)
            for use in uses:
                path = (base / use).resolve()
                if path in at:
                    cycle = " -> ".join(p.name for p in [*chain[at[path]:], path])
                    raise _fail("K217", f"'use' cycle: {cycle}", where,
                                "a file cannot use itself, even through others")
                if path in self.seen:
                    continue
                self.check(use, path, where)
                self.seen.add(path)
                try:
                    text = read_spec_text(path)
                except (OSError, UnicodeDecodeError) as exc:
                    raise _fail("K217", f"cannot read '{use}': {getattr(exc, 'strerror', None) or exc}",
                                where) from None
                if path.suffix.lower() in YAML_SUFFIXES:
                    from kspec.spec.yaml_form import load_yaml

                    used = load_yaml(text, str(path))
                else:
                    used = parse_kspec(text, str(path))
                at[path] = len(chain)
                chain.append(path)
                todo.append((used, iter(used.uses)))
                break
            else:  # every file it uses is read: its own blocks and parameters follow theirs
                todo.pop()
                del at[chain.pop()]
                if todo:  # a used file, not the spec itself
                    blocks += current.blocks
                    params += current.params
        return blocks, params

    def check(self, use: str, path: Path, where: Span) -> None:
        if not spec_suffix(path):
            raise _fail("K217", f"'use' takes a spec file (.kspec, .yaml or .yml), not '{use}'", where)
        if not any(path.is_relative_to(r) for r in self.roots):
            raise _fail("K217", f"'use' of '{use}' reaches outside the spec's directory", where,
                        "keep used specs beside the spec (or below it), or allow a directory with --allow-dir DIR")
        if len(self.seen) >= limits.current().uses:
            raise _fail("K217", limits.exceeded("uses", "the spec uses too many files"), where)


def _environment(spec: ir.Spec, params: list[ir.Param], defines: Mapping[str, Any]) -> dict[str, Any]:
    declared = {p.name: p for p in params}
    for name in defines:
        if name not in declared:
            hint = did_you_mean(name, declared)
            if not declared:
                raise _fail("K211", f"-D {name}: this spec has no parameters to set", spec.span)
            raise _fail("K211", f"-D {name}: the spec has no parameter '{name}'", spec.span,
                        hint or f"its parameters: {', '.join(sorted(declared))}")
    env: dict[str, Any] = {}
    for p in params:
        if p.name in defines:
            value = defines[p.name]
            if p.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if p.type == "str" and not isinstance(value, str):
                value = str(value)
            _check_type(p, value, p.span)
        else:
            value = evaluate(p.default, env)
            _check_type(p, value, p.span)
        env[p.name] = value
    return env


def expand_spec(spec: ir.Spec, defines: Mapping[str, Any]) -> ir.Spec:
    """The core IR of ``spec``: blocks expanded, loops unrolled, parameters
    (overridden by ``defines``) substituted. Raises :class:`KspecError`."""
    if not (spec.blocks or spec.params or spec.uses or defines or _has_exprs(spec)):
        return spec
    token = _COMPUTED.set([limits.current().computed_items])
    try:
        return _expand_spec(spec, defines)
    finally:
        _COMPUTED.reset(token)


def _expand_spec(spec: ir.Spec, defines: Mapping[str, Any]) -> ir.Spec:
    if any(p.space is not None for p in spec.params):
        from kspec.compiler.spaces import check_spaces

        bad_spaces = check_spaces(spec)
        if bad_spaces:
            raise KspecError(bad_spaces)
    errors: list[Diagnostic] = []
    try:
        used_blocks, used_params = _load_uses(spec)
        blocks: dict[str, ir.Block] = {}
        for b in [*used_blocks, *spec.blocks]:
            if b.name in blocks and b in spec.blocks:
                raise _fail("K214", f"block '{b.name}' is defined twice", b.span)
            blocks[b.name] = b
        own = {p.name for p in spec.params}
        params = [p for p in used_params if p.name not in own] + list(spec.params)
        env = _environment(spec, params, defines)
    except _Error as exc:
        raise KspecError(exc.diag) from None
    expander = _Expander(blocks, env, {m.name for m in spec.models})
    models: list[ir.FunctionalModel | ir.SequentialModel] = []
    for m in spec.models:
        try:
            if isinstance(m, ir.SequentialModel):
                models.append(expander.sequential(m))
            else:
                model, errs = expander.functional(m)
                errors += errs
                models.append(model)
        except _Error as exc:
            errors.append(exc.diag)
    sections: dict[str, list[ir.Section]] = {"compile": [], "train": []}
    for what in ("compile", "train"):
        for s in getattr(spec, what):
            try:
                sections[what].append(s.model_copy(update={
                    "settings": {k: evaluate(v, env) for k, v in s.settings.items()}}))
            except _Error as exc:
                errors.append(exc.diag)
    if errors:
        raise KspecError(errors)
    return spec.model_copy(update={"models": models, "compile": sections["compile"], "train": sections["train"],
                                   "params": [], "blocks": [], "uses": []})


_EXPRESSIONS = (ir.Var, ir.BinOp, ir.UnaryOp, ir.Cond, ir.Format, ir.Index, ir.Attr)
#: Values that hold nothing: the walk of :func:`_has_exprs` drops them first.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _has_exprs(spec: ir.Spec | ir.IRNode) -> bool:
    """Whether any value of ``spec`` (or of one node) still holds a parameter expression.

    This runs on every spec, blocks or not, so it is an iterative walk that
    dispatches on exact types: scalars are dropped first, lists and dicts
    spread, and each other class is looked at once per process, for whether
    it is an expression and for what it holds (:func:`_values_getter`)."""
    stack: list[Any] = [spec]
    while stack:
        v = stack.pop()
        cls = type(v)
        if cls in _SCALARS:
            continue
        if cls is list:
            stack.extend(v)
        elif cls is dict:
            stack.extend(v.values())
        elif cls is ir.Call and v.fn in ir.BUILTINS:
            return True
        else:
            if cls not in _GETTERS:
                if issubclass(cls, _EXPRESSIONS):
                    return True
                _GETTERS[cls] = _values_getter(cls)
            values = _GETTERS[cls]
            if values is not None:
                stack.extend(filter(None, values(v)))  # what is false (empty, zero, none) holds nothing
    return False


#: What :func:`_values_getter` found for each class met so far.
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]] | None] = {}


def _values_getter(cls: type) -> Callable[[Any], tuple[Any, ...]] | None:
    """For :func:`_has_exprs`: the values an object of class ``cls`` holds,
    as a tuple (``None``: it holds none). A node's are its fields, but not
    those declared to hold only names, numbers, flags or tags
    (:func:`_holds_values`)."""
    if issubclass(cls, ir.IRNode):
        declared = typing.get_type_hints(cls)
        names = [name for name in cls.semantic_fields if _holds_values(declared[name])]
        if len(names) == 1:
            get = operator.attrgetter(names[0])
            return lambda node: (get(node),)
        return operator.attrgetter(*names) if names else None
    if issubclass(cls, list):
        return tuple
    if issubclass(cls, dict):
        return lambda d: tuple(d.values())
    return None


def _holds_values(declared: Any) -> bool:
    """Whether a field declared with type ``declared`` may hold a value (and
    so an expression): not one declared as ``str``, ``list[str]``,
    ``int | None``, a ``Literal`` tag and the like."""
    if declared in _SCALARS:
        return False
    origin = typing.get_origin(declared)
    if origin is Literal:
        return False
    if origin in (list, Union, types.UnionType):
        return any(_holds_values(arg) for arg in typing.get_args(declared))
    return True
