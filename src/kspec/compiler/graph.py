"""Static graph checks on the IR: names, references, cycles, dead inputs.

These run before any Keras import, on the IR after block expansion. Each
function is a pass ``(spec) -> diagnostics``; :func:`check_graph` runs
them all and collects what they find.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import field
from itertools import chain

from kspec._records import record
from kspec.compiler.naming import explicit_name
from kspec.spec import ir, limits
from kspec.spec.diagnostics import Diagnostic, Hints, did_you_mean
from kspec.spec.ir import Span

__all__ = ["ModelIndex", "call_refs", "check_graph", "indexes_shared", "model_callees", "model_order", "model_uses",
           "ordered_by_position", "statement_order", "tensor_order"]


def call_refs(value: object) -> Iterator[ir.Ref]:
    """Every tensor :class:`~kspec.spec.ir.Ref` inside a call argument
    (or an operation's arguments, operations nested in them included)."""
    if isinstance(value, ir.Ref):
        yield value
    elif isinstance(value, ir.Op):
        yield from call_refs(value.args)
        yield from call_refs(value.kwargs)
    elif isinstance(value, list):
        for v in value:
            yield from call_refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from call_refs(v)


def _expr_uses(expr: ir.Expr) -> list[tuple[str, Span | None]]:
    """Every tensor ``expr`` uses, in the order written, with where: its
    inputs, then the tensors in each step's call arguments and operations."""
    uses = [(name, expr.span) for name in expr.inputs]
    for step in expr.steps:
        for value in step.call_kwargs.values():
            for ref in call_refs(value):
                uses.append((ref.name, ref.span or step.span or expr.span))
        if isinstance(step.layer, ir.Op):
            for ref in call_refs(step.layer):
                uses.append((ref.name, ref.span or step.span or expr.span))
    return uses


def _expr_names(expr: ir.Expr) -> list[str]:
    """The tensors ``expr`` uses, in order (:func:`_expr_uses`, without
    where): its inputs (the expression's own list, to read only), unless a
    step has call arguments or is an operation."""
    for step in expr.steps:
        if step.call_kwargs or isinstance(step.layer, ir.Op):
            return [name for name, _ in _expr_uses(expr)]
    return expr.inputs


Statement = ir.Assign | ir.Output


def _statement_name(st: Statement) -> str:
    """The tensor a statement is known by: its first target, or the output's name."""
    return st.targets[0] if isinstance(st, ir.Assign) else st.name


@record
class ModelIndex:
    """What a functional model defines, by name, and what each of its
    statements uses (every pass over the tensor graph reads these, so the
    graph is read once)."""

    inputs: dict[str, ir.Input]
    layers: dict[str, ir.LayerDef]
    producers: dict[str, Statement]  # tensor name -> statement that defines it
    #: The statements, nodes first, then outputs, in declaration order.
    statements: list[Statement] = field(default_factory=list)
    #: For each statement, the tensors it uses, in order (:func:`_expr_names`; read only).
    used: list[list[str]] = field(default_factory=list)
    #: Tensor name -> position in ``statements`` of the statement that defines it.
    position: dict[str, int] = field(default_factory=dict)
    #: :meth:`defined_above`'s answers, by ``or_here`` (the index is read only).
    _above: dict[bool, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def of(cls, model: ir.FunctionalModel) -> ModelIndex:
        """The index of ``model``: made once per model object inside
        :func:`indexes_shared` (the graph checks and the walk read the same
        one), else made afresh."""
        shared = _SHARED.get()
        if shared is None:
            return cls._make(model)
        found = shared.indexes.get(id(model))
        if found is not None and found[0] is model:
            return found[1]
        index = cls._make(model)
        shared.indexes[id(model)] = (model, index)  # the model is kept, so its id names no other object meanwhile
        return index

    @classmethod
    def _make(cls, model: ir.FunctionalModel) -> ModelIndex:
        statements: list[Statement] = [*model.nodes, *model.outputs]
        producers: dict[str, Statement] = {}
        position: dict[str, int] = {}
        for k, st in enumerate(statements):
            for t in st.targets if isinstance(st, ir.Assign) else (st.name,):
                if t not in producers:
                    producers[t] = st
                    position[t] = k
        return cls(
            inputs={i.name: i for i in model.inputs},
            layers={d.name: d for d in model.layers},
            producers=producers,
            statements=statements,
            used=[_expr_names(st.value) for st in statements],
            position=position,
        )

    def tensors(self) -> set[str]:
        return set(self.inputs) | set(self.producers)

    def defined_above(self, *, or_here: bool = False) -> bool:
        """Whether every statement uses only tensors that statements above
        it define (``or_here``: or that it defines itself), as specs are
        usually written."""
        known = self._above.get(or_here)
        if known is None:
            # what holds without or_here holds with it
            known = self._above[or_here] = (or_here and self._above.get(False, False)) or self._defined_above(or_here)
        return known

    def _defined_above(self, or_here: bool) -> bool:
        position = self.position
        for k, used in enumerate(self.used):
            above = k + 1 if or_here else k
            for name in used:
                if position.get(name, -1) >= above:
                    return False
        return True

    def dependencies(self) -> list[list[int]]:
        """For each statement, the positions of the statements that define
        the tensors it uses, in the order it uses them (repeats kept)."""
        position = self.position
        return [[position[name] for name in used if name in position] for used in self.used]


@record
class _Shared:
    """What :func:`indexes_shared` keeps, by ``id()`` of the object each
    answer is about (kept with it, so that its id names no other object
    meanwhile)."""

    indexes: dict[int, tuple[ir.FunctionalModel, ModelIndex]] = field(default_factory=dict)
    #: :func:`model_order`'s answers, by spec and target.
    orders: dict[tuple[int, str | None], tuple[ir.Spec, tuple[list[str], list[Diagnostic]]]] = \
        field(default_factory=dict)


_SHARED: ContextVar[_Shared | None] = ContextVar("_SHARED", default=None)


@contextmanager
def indexes_shared() -> Iterator[None]:
    """Inside, :meth:`ModelIndex.of` makes one index per model object, and
    :func:`model_order` one order per spec, and gives it to every pass that
    asks (the graph checks, then the walk of shape inference); they are
    dropped on leaving. The IR is never changed while a spec is checked, so
    the answer read later is the one that would be made then."""
    token = _SHARED.set(_SHARED.get() or _Shared())
    try:
        yield
    finally:
        _SHARED.reset(token)


def _check_names(model: ir.FunctionalModel, model_names: set[str]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    seen: dict[str, Span | None] = {}

    longest = limits.current().name_length

    def claim(name: str, span: Span | None, what: str) -> None:
        if len(name) > longest:
            long = f"a {what} name is {len(name)} characters long"
            diags.append(Diagnostic("K202", limits.exceeded("name_length", long), span))
        if name in seen:
            first = seen[name]
            diags.append(
                Diagnostic(
                    "K202", f"duplicate name '{name}'", span, notes=(("first definition", first),) if first else ()
                )
            )
        else:
            seen[name] = span
        if name in model_names and what == "layer":
            diags.append(
                Diagnostic(
                    "K202", f"layer '{name}' has the name of a model", span, hint="rename the layer or the model"
                )
            )

    for inp in model.inputs:
        claim(inp.name, inp.at("name"), "input")
    for d in model.layers:
        claim(d.name, d.span, "layer")
    for node in model.nodes:
        for t in node.targets:
            claim(t, node.span, "tensor")
    for out in model.outputs:
        claim(out.name, out.span, "output")

    # Explicit name="..." arguments become Keras layer names too: they must
    # not take a name the model already uses (the last layer of a statement
    # may repeat the statement's own name).
    def claim_layer_name(callee: ir.LayerCall | ir.LayerRef | ir.Op, own: str | None) -> None:
        name = explicit_name(callee)
        if name is None or name == own:
            return
        if name in seen:
            first = seen[name]
            diags.append(
                Diagnostic(
                    "K202",
                    f"layer name '{name}' is already used in model '{model.name}'",
                    callee.at("name"),
                    notes=(("first use", first),) if first else (),
                )
            )
        else:
            seen[name] = callee.at("name")

    for d in model.layers:
        for c in d.stack:
            claim_layer_name(c, d.name if len(d.stack) == 1 else None)
    statements: list[Statement] = [*model.nodes, *model.outputs]
    for st in statements:
        steps = st.value.steps
        for j, step in enumerate(steps):
            if isinstance(step.layer, ir.LayerCall) and "name" in step.layer.kwargs:  # else it names itself nothing
                claim_layer_name(step.layer, _statement_name(st) if j == len(steps) - 1 else None)
    return diags


def _check_refs(model: ir.FunctionalModel, index: ModelIndex, model_names: set[str]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    tensors = index.tensors()
    layer_names = index.layers

    def callable_name(name: str) -> bool:
        """Whether ``name`` is a named layer of the model or a model of the
        spec (read from both, not copied per model: a spec may hold
        thousands of models)."""
        return name in layer_names or name in model_names

    hints = Hints()

    def check_expr(expr: ir.Expr, used: list[str]) -> None:
        # Where a tensor is used matters only when it is not defined.
        uses: list[tuple[str, Span | None]] = [] if tensors.issuperset(used) else _expr_uses(expr)
        for name, span in uses:
            if name in tensors:
                continue
            if callable_name(name):
                diags.append(
                    Diagnostic(
                        "K201", f"'{name}' is a layer, not a tensor", span, hint=f"apply it to a tensor: x -> {name}"
                    )
                )
            else:
                diags.append(Diagnostic("K201", f"undefined tensor '{name}'", span, hints.did_you_mean(name, tensors)))
        for step in expr.steps:
            if isinstance(step.layer, ir.LayerRef):
                check_callee(step.layer)

    def check_callee(callee: ir.LayerCall | ir.LayerRef | ir.Op) -> None:
        if isinstance(callee, ir.LayerRef):
            if callee.ref == model.name:
                diags.append(Diagnostic("K204", f"model '{model.name}' uses itself as a layer", callee.span))
            elif not callable_name(callee.ref):
                hint = hints.did_you_mean(callee.ref, chain(layer_names, model_names, tensors))
                what = "tensor" if callee.ref in tensors else "layer or model"
                msg = (
                    f"'{callee.ref}' is a tensor, not a layer"
                    if callee.ref in tensors
                    else f"undefined {what} '{callee.ref}'"
                )
                diags.append(Diagnostic("K208", msg, callee.span, hint))

    for d in model.layers:
        for c in d.stack:
            if isinstance(c, ir.LayerRef) and c.ref == d.name:
                diags.append(Diagnostic("K204", f"layer '{d.name}' refers to itself", c.span))
            else:
                check_callee(c)
    for st, used in zip(index.statements, index.used, strict=True):  # nodes, then outputs
        check_expr(st.value, used)
    return diags


def _cycle_diags(model: ir.FunctionalModel, index: ModelIndex) -> list[Diagnostic]:
    """A ``K204`` for each cycle of statements using each other's tensors
    (each set of statements once), found by a depth-first walk from each
    statement in declaration order."""
    diags: list[Diagnostic] = []
    if index.defined_above():
        return diags  # a cycle would need a statement that uses a tensor defined below it
    statements = index.statements
    deps = index.dependencies()
    state = [0] * len(statements)  # 1 visiting, 2 done
    reported: set[frozenset[str]] = set()
    at: dict[int, int] = {}  # the place in ``path`` of each statement being visited

    # Iterative DFS so that very deep graphs cannot exhaust the stack.
    for root in range(len(statements)):
        if state[root]:
            continue
        stack: list[tuple[int, Iterator[int]]] = [(root, iter(deps[root]))]
        path: list[int] = [root]
        at[root] = 0
        state[root] = 1
        while stack:
            k, pending = stack[-1]
            advanced = False
            for dep in pending:
                mark = state[dep]
                if mark == 1:
                    if len(reported) >= _MAX_CYCLES:
                        continue  # each cycle is as long as the walk below it: a few say what is wrong
                    names = [_statement_name(statements[j]) for j in path[at[dep] :]]
                    key = frozenset(names)
                    if key not in reported:
                        reported.add(key)
                        chain = " -> ".join([*names, names[0]])
                        diags.append(Diagnostic("K204", f"cycle: {chain}", statements[dep].span,
                                                hint="a tensor cannot depend on itself"))
                    continue
                if mark == 2:
                    continue
                state[dep] = 1
                stack.append((dep, iter(deps[dep])))
                at[dep] = len(path)
                path.append(dep)
                advanced = True
                break
            if not advanced:
                state[k] = 2
                stack.pop()
                del at[path.pop()]
    return diags


#: The most cycles of statements reported in one model.
_MAX_CYCLES = 20


def _dead_inputs(model: ir.FunctionalModel, index: ModelIndex) -> list[Diagnostic]:
    """A ``K205`` for each input that no output depends on."""
    used: set[str] = set()
    todo = list(range(len(model.nodes), len(index.statements)))  # the outputs
    seen: set[int] = set()
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        for name in index.used[k]:
            used.add(name)
            if name in index.position:
                todo.append(index.position[name])
    return [
        Diagnostic(
            "K205",
            f"input '{inp.name}' is not used by any output",
            inp.span,
            hint="remove it, or connect it to an output",
        )
        for inp in model.inputs
        if inp.name not in used
    ]


def _check_model(model: ir.FunctionalModel, model_names: set[str]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    if not model.inputs:
        diags.append(Diagnostic("K206", f"model '{model.name}' has no inputs", model.span))
    if not model.outputs:
        diags.append(Diagnostic("K206", f"model '{model.name}' has no outputs", model.span))
    index = ModelIndex.of(model)
    diags += _check_names(model, model_names)
    diags += _check_refs(model, index, model_names)
    if diags:
        return diags
    diags += _cycle_diags(model, index)
    if not diags:
        diags += _dead_inputs(model, index)
    return diags


def _check_sequential(model: ir.SequentialModel, model_names: set[str]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    if model.input is None:
        diags.append(
            Diagnostic(
                "K206",
                f"sequential model '{model.name}' needs an input shape",
                model.span,
                hint="add 'input (784,)' (or 'input: {shape: [784]}' in YAML)",
            )
        )
    for c in model.layers:
        if isinstance(c, ir.LayerRef):
            if c.ref == model.name:
                diags.append(Diagnostic("K204", f"model '{model.name}' uses itself as a layer", c.span))
            elif c.ref not in model_names:
                diags.append(
                    Diagnostic("K208", f"undefined layer or model '{c.ref}'", c.span, did_you_mean(c.ref, model_names))
                )
    if not model.layers:
        diags.append(Diagnostic("K206", f"sequential model '{model.name}' has no layers", model.span))
    return diags


def model_callees(model: ir.FunctionalModel | ir.SequentialModel) -> list[ir.LayerCall | ir.LayerRef | ir.Op]:
    """Every layer of ``model``, named or inline, in declaration order."""
    if isinstance(model, ir.SequentialModel):
        return list(model.layers)
    statements: list[Statement] = [*model.nodes, *model.outputs]
    return [c for d in model.layers for c in d.stack] + [s.layer for st in statements for s in st.value.steps]


def model_uses(model: ir.FunctionalModel | ir.SequentialModel, model_names: AbstractSet[str]) -> list[ir.LayerRef]:
    """Every use of another model of the spec (a shared sub-model) in
    ``model``: the references among its layers, then the models its
    wrappers are given by name (``TimeDistributed(frame_cnn)``)."""
    from kspec.compiler.registry import wrapped_references

    local = {d.name for d in model.layers} if isinstance(model, ir.FunctionalModel) else set()
    if len(model_names) <= len(local) + 1 and not model_names - local - {model.name}:
        return []  # no name can stand for another model (the set difference is small when taken)

    def other_model(name: str) -> bool:
        """Whether ``name`` may stand for another model: a model's name
        that is neither this model nor one of its named layers."""
        return name in model_names and name not in local and name != model.name

    direct: list[ir.LayerRef] = []
    wrapped: list[ir.LayerRef] = []
    for c in model_callees(model):
        if isinstance(c, ir.LayerRef):
            if other_model(c.ref):
                direct.append(c)
        elif isinstance(c, ir.LayerCall) and (refs := wrapped_references(c)):
            wrapped += [ir.LayerRef(ref=name, span=c.span) for _, name in refs if other_model(name)]
    return direct + wrapped


def model_order(spec: ir.Spec, target: str | None = None) -> tuple[list[str], list[Diagnostic]]:
    """Model names so that every model comes after the models it uses,
    and a diagnostic for each cycle of models using each other. With
    ``target``, only that model and the models it uses (directly or not).
    Worked out once per spec and target inside :func:`indexes_shared`."""
    shared = _SHARED.get()
    if shared is None:
        return _model_order(spec, target)
    found = shared.orders.get((id(spec), target))
    if found is None or found[0] is not spec:
        found = shared.orders[(id(spec), target)] = (spec, _model_order(spec, target))
    order, diags = found[1]
    return list(order), list(diags)  # copies: the answer kept is never changed


def _model_order(spec: ir.Spec, target: str | None) -> tuple[list[str], list[Diagnostic]]:
    names = {m.name for m in spec.models}
    deps: dict[str, list[tuple[str, Span | None]]] = {
        m.name: [(r.ref, r.span) for r in model_uses(m, names)] for m in spec.models
    }
    order: list[str] = []
    diags: list[Diagnostic] = []
    done: set[str] = set()
    # A depth-first walk with its own stack (a file may chain thousands of
    # models): ``trail`` holds the models being visited, outermost first,
    # ``at`` the place of each in it, ``todo`` what each has left to visit.
    trail: list[str] = []
    at: dict[str, int] = {}
    todo: list[Iterator[tuple[str, Span | None]]] = []
    for root in [target] if target is not None else [m.name for m in spec.models]:
        if root in done:
            continue
        at[root] = 0
        trail.append(root)
        todo.append(iter(deps.get(root, [])))
        while todo:
            for dep, _ in todo[-1]:
                if dep in done:
                    continue
                if dep in at:
                    cyc = [*trail[at[dep] :], dep]
                    diags.append(Diagnostic("K204", f"models use each other in a cycle: {' -> '.join(cyc)}", None))
                    continue
                at[dep] = len(trail)
                trail.append(dep)
                todo.append(iter(deps.get(dep, [])))
                break
            else:  # every model it uses is placed: place it
                name = trail.pop()
                del at[name]
                todo.pop()
                done.add(name)
                order.append(name)
    return order, diags


def check_graph(spec: ir.Spec) -> list[Diagnostic]:
    """Every static graph problem in ``spec`` (empty when it is sound)."""
    diags: list[Diagnostic] = []
    names: dict[str, ir.FunctionalModel | ir.SequentialModel] = {}
    for m in spec.models:
        if len(m.name) > limits.current().name_length:
            what = f"a model name is {len(m.name)} characters long"
            diags.append(Diagnostic("K202", limits.exceeded("name_length", what), m.span))
        if m.name in names:
            diags.append(Diagnostic("K202", f"duplicate model name '{m.name}'", m.span))
        names[m.name] = m
    model_names = set(names)
    if not spec.models:
        diags.append(Diagnostic("K206", "the spec defines no model", spec.span))
    for m in spec.models:
        if isinstance(m, ir.FunctionalModel):
            diags += _check_model(m, model_names)
        else:
            diags += _check_sequential(m, model_names)
    _, cycle_diags = model_order(spec)
    diags += cycle_diags
    return diags


def tensor_order(model: ir.FunctionalModel) -> list[Statement]:
    """Statements sorted so each comes after the tensors it uses; ties keep
    declaration order (so lowering is deterministic). Assumes the model
    passed :func:`check_graph`."""
    statements: list[Statement] = [*model.nodes, *model.outputs]
    return [statements[k] for k in statement_order(model)]


def statement_order(model: ir.FunctionalModel) -> list[int]:
    """:func:`tensor_order` as positions among the statements (nodes first,
    then outputs, in declaration order).

    This is the first statement whose tensors are all defined, again and
    again; when every statement uses only tensors defined above it (as
    specs are usually written), that is the declaration order itself."""
    index = ModelIndex.of(model)
    if index.defined_above(or_here=True):  # (a statement that uses its own tensor is reported by check_graph)
        return list(range(len(index.statements)))
    return ordered_by_position([set(used) - {k} for k, used in enumerate(index.dependencies())])


def ordered_by_position(after: Sequence[AbstractSet[int]]) -> list[int]:
    """The positions ``0 .. len(after) - 1`` ordered so each comes after the
    positions ``after[k]`` names, taking the first ready position again and
    again (so ties keep the given order); positions on a cycle, or after
    one, are left out."""
    waiting = [len(first) for first in after]
    then: list[list[int]] = [[] for _ in after]
    for k, first in enumerate(after):
        for j in first:
            then[j].append(k)
    ready = [k for k, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for user in then[k]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    return order
