"""The one walk of a model's layer graph, shared by shape inference and
lowering, so ``kspec summary`` and ``kspec compile`` describe the same model
by construction.

The walk owns what both need to agree on: the order of models
(:func:`~kspec.compiler.graph.model_order`) and of statements
(:func:`~kspec.compiler.graph.tensor_order`), layer names
(:mod:`kspec.compiler.naming`), named stacks (one layer object per layer of
a ``model.layers`` definition, applied wherever the stack is referenced),
call arguments with their tensor references resolved (given only to the
first layer of a referenced stack), destructuring several results into
several names, and the ``Identity`` layers that carry output names. The
``K206`` wording for a count mismatch lives here, once.

What a tensor and a layer *are* belongs to the side that walks: a
:class:`ModelVisitor` makes inputs and layers, applies a layer to tensors,
and decides what a count mismatch does (shape inference records it and goes
on with unknown shapes; lowering stops there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from kspec._records import record
from kspec.compiler.graph import model_order, statement_order
from kspec.compiler.naming import LayerNames, NameAllocator, name_functional, name_sequential
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic
from kspec.spec.ir import Span

__all__ = ["Application", "Model", "ModelVisitor", "Operand", "Statement", "Walked", "walk_model", "walk_models"]

T = TypeVar("T")  # a tensor as one side sees it: a static shape, a Keras tensor
L = TypeVar("L")  # a layer object as one side sees it
R = TypeVar("R")  # what walking one model gives
R_co = TypeVar("R_co", covariant=True)

Model = ir.FunctionalModel | ir.SequentialModel
Statement = ir.Assign | ir.Output


@record(slots=True, unsafe_hash=True)
class Application:
    """One application of a layer, as the walk meets it: a value, never
    changed once made (not ``frozen`` only because a frozen dataclass takes
    four times as long to make, and the walk makes one per layer applied)."""

    #: The callee as written: an inline layer, or a reference to a named
    #: stack (once for each of its layers) or to another model.
    callee: ir.LayerCall | ir.LayerRef | ir.Op
    #: How messages name it: the layer type, or the quoted reference.
    label: str
    #: Names of the layers (or inputs) that produced the tensors it is applied to.
    sources: tuple[str, ...]
    #: Where the step is written: the step, else its expression (the callee in a sequential model).
    span: Span | None


@record(frozen=True)
class Operand(Generic[T]):
    """A tensor among an operation's arguments (the other arguments are
    plain values: numbers, lists, :class:`~kspec.spec.ir.Slice` ...)."""

    tensor: T


@record
class Walked(Generic[T]):
    """The tensors a walk of one model ends with."""

    inputs: list[T]  # one per input, in declaration order
    outputs: list[T]  # functional: one per output, in declaration order; sequential: the last layer's results
    tensors: dict[str, T]  # every named tensor of a functional model (empty for a sequential one)


class ModelVisitor(Protocol[T, L, R_co]):
    """One side of the walk of one model: what tensors and layers are."""

    def input(self, inp: ir.Input, index: int) -> T:
        """The tensor for input number ``index`` of the model."""
        ...

    def new_layer(self, call: ir.LayerCall, name: str, *, named: bool) -> L:
        """A new layer called ``name``; ``named``: a layer of a named stack
        (one set of weights, applied wherever the stack is referenced)."""
        ...

    def model_ref(self, ref: ir.LayerRef) -> L:
        """The layer for another model of the spec used here (every use is
        the same layer)."""
        ...

    def call_constant(self, value: Any, span: Span | None) -> Any:
        """A call argument that is not a tensor reference, as ``apply`` takes it."""
        ...

    def apply(self, layer: L, inputs: list[T], call_kwargs: dict[str, Any], at: Application) -> list[T]:
        """The results of ``layer`` applied to ``inputs``."""
        ...

    def operation(self, op: ir.Op, name: str, args: list[Any], kwargs: dict[str, Any], at: Application) -> list[T]:
        """The results of operation ``op`` (``keras.ops.<fn>``), named
        ``name``, on ``args`` and ``kwargs``: the operation's own arguments
        with every tensor an :class:`Operand` (a chain's tensor first)."""
        ...

    def identity(self, name: str, tensor: T, output: ir.Output, sources: tuple[str, ...]) -> T:
        """``tensor`` through an ``Identity`` layer called ``name``, which
        carries the output's name."""
        ...

    def mismatch(self, statement: Statement, problem: Diagnostic, got: list[T]) -> list[T]:
        """``statement`` names a different number of tensors than its
        expression gives (``problem`` says so). Returns the tensors to go on
        with (one per target of an assignment, one for an output; fewer
        leaves the last targets unbound), or raises to stop here."""
        ...

    def missing(self, name: str) -> T:
        """The tensor for ``name`` when no statement bound it (a target left
        unbound by :meth:`mismatch`)."""
        ...

    def finish(self, walked: Walked[T]) -> R_co:
        """The result of the walk of the model."""
        ...


def _count_problem(st: ir.Assign, label: str, count: int) -> Diagnostic:
    """``st`` gives a different number of names than ``label`` gives tensors."""
    if len(st.targets) == 1:
        names = ", ".join(f"{st.targets[0]}{i + 1}" for i in range(count))
        return Diagnostic("K206", f"{label} gives {count} tensors; name each of them: {names} = ...", st.span)
    return Diagnostic(
        "K206",
        f"{label} gives {count} tensor{'s' if count != 1 else ''}, but {len(st.targets)} names are given "
        f"({', '.join(st.targets)})",
        st.span,
        "give one name per result",
    )


def _output_problem(st: ir.Output, count: int) -> Diagnostic:
    """Output ``st`` is given ``count`` tensors rather than one."""
    return Diagnostic(
        "K206",
        f"output '{st.name}' must be one tensor, got {count}",
        st.span,
        "destructure the layer's results first, then output one of them",
    )


def _label(callee: ir.LayerCall | ir.LayerRef | ir.Op) -> str:
    if isinstance(callee, ir.Op):
        return f"ops.{callee.fn}"
    return f"'{callee.ref}'" if isinstance(callee, ir.LayerRef) else callee.type


class _FunctionalWalk(Generic[T, L, R]):
    """The state of one walk of a functional model."""

    def __init__(self, model: ir.FunctionalModel, visitor: ModelVisitor[T, L, R], model_names: set[str]) -> None:
        self.model = model
        self.v = visitor
        self.names: LayerNames = name_functional(model, model_names)
        self.tensors: dict[str, T] = {}
        self.producer: dict[str, str] = {}  # tensor name -> the layer (or input) that made it
        self.stacks: dict[str, list[tuple[L, str]]] = {}  # named stack -> its layers, with their names
        self._nested: NameAllocator | None = None

    @property
    def nested(self) -> NameAllocator:
        """Names of operations nested in another's arguments, apart from
        every name the model has (made when the first one is needed)."""
        if self._nested is None:
            model, names = self.model, self.names
            self._nested = NameAllocator({
                *names.names.values(), *names.identity.values(), *(i.name for i in model.inputs),
                *(d.name for d in model.layers), *(o.name for o in model.outputs),
                *(t for n in model.nodes for t in n.targets)})
        return self._nested

    def run(self) -> R:
        inputs: list[T] = []
        for n, inp in enumerate(self.model.inputs):
            tensor = self.v.input(inp, n)
            inputs.append(tensor)
            self.tensors[inp.name] = tensor
            self.producer[inp.name] = inp.name
        self.define_stacks()
        statements: list[Statement] = [*self.model.nodes, *self.model.outputs]
        for k in statement_order(self.model):
            self.statement(statements[k], k)
        outputs = [self.lookup(o.name) for o in self.model.outputs]
        return self.v.finish(Walked(inputs, outputs, self.tensors))

    def define_stacks(self) -> None:
        """One layer object per layer of each ``model.layers`` definition."""
        for i, d in enumerate(self.model.layers):
            stack: list[tuple[L, str]] = []
            for j, c in enumerate(d.stack):
                if isinstance(c, ir.LayerRef):
                    stack.extend(self.stacks[c.ref] if c.ref in self.stacks else [(self.v.model_ref(c), c.ref)])
                else:
                    name = self.names.names[("def", i, j)]
                    stack.append((self.v.new_layer(c, name, named=True), name))
            self.stacks[d.name] = stack

    def lookup(self, name: str) -> T:
        return self.tensors[name] if name in self.tensors else self.v.missing(name)

    def resolve(self, value: Any, span: Span | None) -> Any:
        """A call argument with its tensor references replaced by tensors."""
        if isinstance(value, ir.Ref):
            return self.lookup(value.name)
        if isinstance(value, list):
            return [self.resolve(v, span) for v in value]
        return self.v.call_constant(value, span)

    def operand(self, value: Any, owner: str, span: Span | None, sources: list[str]) -> Any:
        """An operation's argument with its tensors as :class:`Operand`:
        named tensors looked up, nested operations applied (each named
        after ``owner``); ``sources`` collects the producers."""
        if isinstance(value, ir.Ref):
            sources.append(self.producer.get(value.name, value.name))
            return Operand(self.lookup(value.name))
        if isinstance(value, ir.Op):
            name = self.nested.fresh(f"{owner}_{value.fn}")
            inner: list[str] = []
            args = [self.operand(a, owner, span, inner) for a in value.args]
            kwargs = {k: self.operand(v, owner, span, inner) for k, v in value.kwargs.items()}
            results = self.v.operation(value, name, args, kwargs, Application(value, _label(value), tuple(inner),
                                                                               value.span or span))
            sources.append(name)
            return Operand(results[0]) if len(results) == 1 else [Operand(r) for r in results]
        if isinstance(value, list):
            return [self.operand(v, owner, span, sources) for v in value]
        if isinstance(value, dict):
            return {k: self.operand(v, owner, span, sources) for k, v in value.items()}
        return value

    def operation(self, op: ir.Op, name: str, current: list[T], sources: tuple[str, ...],
                  span: Span | None) -> list[T]:
        """A chain step that is an operation: the chain's tensor (if any) is
        its first argument."""
        found: list[str] = list(sources) if current else []
        args = [self.operand(a, name, span, found) for a in op.args]
        kwargs = {k: self.operand(v, name, span, found) for k, v in op.kwargs.items()}
        if current:
            args = [Operand(current[0]) if len(current) == 1 else [Operand(t) for t in current], *args]
        at = Application(op, _label(op), tuple(dict.fromkeys(found)), span)
        return self.v.operation(op, name, args, kwargs, at)

    def layers(self, callee: ir.LayerCall | ir.LayerRef, key: tuple[object, ...]) -> list[tuple[L, str]]:
        """The layers a step applies, in order, with their names."""
        if isinstance(callee, ir.LayerCall):
            name = self.names.names[key]
            return [(self.v.new_layer(callee, name, named=False), name)]
        if callee.ref in self.stacks:
            return self.stacks[callee.ref]
        return [(self.v.model_ref(callee), callee.ref)]

    def statement(self, st: Statement, k: int) -> None:
        """Statement ``k`` (nodes first, then outputs): its steps, then its names."""
        expr = st.value
        current = list(map(self.lookup, expr.inputs))
        sources = tuple(map(self.producer.get, expr.inputs, expr.inputs))  # a name its own source when no layer made it
        label = "this expression"
        names, v = self.names.names, self.v
        for j, step in enumerate(expr.steps):
            callee = step.layer
            where = step.span or expr.span
            if isinstance(callee, ir.Op):
                name = names[("stmt", k, j)]
                current = self.operation(callee, name, current, sources, where)
                sources, label = (name,), _label(callee)
                continue
            call_kwargs = {key: self.resolve(value, step.span) for key, value in step.call_kwargs.items()} \
                if step.call_kwargs else {}
            if isinstance(callee, ir.LayerCall):  # an inline layer: a new layer, applied once
                label = callee.type  # as _label gives it
                name = names[("stmt", k, j)]
                layer = v.new_layer(callee, name, named=False)
                current = v.apply(layer, current, call_kwargs, Application(callee, label, sources, where))
                sources = (name,)
                continue
            label = _label(callee)
            for n, (layer, name) in enumerate(self.layers(callee, ("stmt", k, j))):
                at = Application(callee, label, sources, where)
                current = self.v.apply(layer, current, call_kwargs if n == 0 else {}, at)
                sources = (name,)
        if isinstance(st, ir.Assign):
            if len(current) != len(st.targets):
                current = self.v.mismatch(st, _count_problem(st, label, len(current)), current)
            for target, tensor in zip(st.targets, current, strict=False):
                self.tensors[target] = tensor
                self.producer[target] = sources[0] if sources else target
            return
        if len(current) != 1:
            current = self.v.mismatch(st, _output_problem(st, len(current)), current)
        result = current[0]
        self.producer[st.name] = sources[0] if sources else st.name
        ident = self.names.identity.get(k - len(self.model.nodes))
        if ident is not None:
            result = self.v.identity(ident, result, st, sources)
            self.producer[st.name] = ident
        self.tensors[st.name] = result


def _walk_sequential(model: ir.SequentialModel, visitor: ModelVisitor[T, L, R]) -> R:
    """A sequential model: each layer applied to the last one's results. A
    model without an input (before graph checks) walks no layer."""
    if model.input is None:
        return visitor.finish(Walked([], [], {}))
    names = name_sequential(model)
    current = [visitor.input(model.input, 0)]
    inputs = list(current)
    source = model.input.name
    for j, c in enumerate(model.layers):
        if isinstance(c, ir.LayerRef):
            layer, name, label = visitor.model_ref(c), c.ref, _label(c)
        else:
            name = names.names[("seq", j)]
            layer, label = visitor.new_layer(c, name, named=False), c.type  # as _label gives it
        current = visitor.apply(layer, current, {}, Application(c, label, (source,), c.span))
        source = name
    return visitor.finish(Walked(inputs, current, {}))


def walk_model(model: Model, visitor: ModelVisitor[T, L, R], model_names: set[str]) -> R:
    """Walk one model of a graph-checked spec with ``visitor``;
    ``model_names``: every model of the spec (a reference to one is a
    sub-model)."""
    if isinstance(model, ir.FunctionalModel):
        return _FunctionalWalk(model, visitor, model_names).run()
    return _walk_sequential(model, visitor)


def walk_models(
    spec: ir.Spec,
    visitor_for: Callable[[Model], ModelVisitor[Any, Any, R]],
    results: dict[str, R],
    target: str | None = None,
) -> list[Diagnostic]:
    """Walk ``target`` and the models it uses (every model when None), each
    after the models it uses, with a fresh visitor each; every result goes
    into ``results`` as soon as it is made, so later visitors can read it.
    Returns the model-order diagnostics (a cycle), and then walks nothing."""
    order, diags = model_order(spec, target)
    if diags:
        return diags
    models = {m.name: m for m in spec.models}
    model_names = set(models)
    for name in order:
        results[name] = walk_model(models[name], visitor_for(models[name]), model_names)
    return []
