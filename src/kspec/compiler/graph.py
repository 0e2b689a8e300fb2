"""Static graph checks on the IR: names, references, cycles, dead inputs.

These run before any Keras import, on the IR after block expansion. Each
function is a pass ``(spec) -> diagnostics``; :func:`check_graph` runs
them all and collects what they find.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kspec.compiler.naming import explicit_name
from kspec.spec import ir, limits
from kspec.spec.diagnostics import Diagnostic, Hints, did_you_mean
from kspec.spec.ir import Span

__all__ = ["ModelIndex", "call_refs", "check_graph", "model_callees", "model_order", "model_uses", "tensor_order"]


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


def _expr_uses(expr: ir.Expr) -> Iterator[tuple[str, Span | None]]:
    for name in expr.inputs:
        yield name, expr.span
    for step in expr.steps:
        for value in step.call_kwargs.values():
            for ref in call_refs(value):
                yield ref.name, ref.span or step.span or expr.span
        if isinstance(step.layer, ir.Op):
            for ref in call_refs(step.layer):
                yield ref.name, ref.span or step.span or expr.span


Statement = ir.Assign | ir.Output


@dataclass
class ModelIndex:
    """What a functional model defines, by name."""

    inputs: dict[str, ir.Input]
    layers: dict[str, ir.LayerDef]
    producers: dict[str, Statement]  # tensor name -> statement that defines it

    @classmethod
    def of(cls, model: ir.FunctionalModel) -> ModelIndex:
        producers: dict[str, Statement] = {}
        for node in model.nodes:
            for t in node.targets:
                producers.setdefault(t, node)
        for out in model.outputs:
            producers.setdefault(out.name, out)
        return cls(
            inputs={i.name: i for i in model.inputs},
            layers={d.name: d for d in model.layers},
            producers=producers,
        )

    def tensors(self) -> set[str]:
        return set(self.inputs) | set(self.producers)


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
        primary = st.targets[0] if isinstance(st, ir.Assign) else st.name
        for j, step in enumerate(st.value.steps):
            claim_layer_name(step.layer, primary if j == len(st.value.steps) - 1 else None)
    return diags


def _check_refs(model: ir.FunctionalModel, index: ModelIndex, model_names: set[str]) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    tensors = index.tensors()
    callables = set(index.layers) | model_names
    hints = Hints()

    def check_expr(expr: ir.Expr) -> None:
        for name, span in _expr_uses(expr):
            if name in tensors:
                continue
            if name in callables:
                diags.append(
                    Diagnostic(
                        "K201", f"'{name}' is a layer, not a tensor", span, hint=f"apply it to a tensor: x -> {name}"
                    )
                )
            else:
                diags.append(Diagnostic("K201", f"undefined tensor '{name}'", span, hints.did_you_mean(name, tensors)))
        for step in expr.steps:
            check_callee(step.layer)

    def check_callee(callee: ir.LayerCall | ir.LayerRef | ir.Op) -> None:
        if isinstance(callee, ir.LayerRef):
            if callee.ref == model.name:
                diags.append(Diagnostic("K204", f"model '{model.name}' uses itself as a layer", callee.span))
            elif callee.ref not in callables:
                hint = hints.did_you_mean(callee.ref, callables | tensors)
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
    for node in model.nodes:
        check_expr(node.value)
    for out in model.outputs:
        check_expr(out.value)
    return diags


def _cycle_diags(model: ir.FunctionalModel, index: ModelIndex) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    state: dict[int, int] = {}  # id(statement) -> 1 visiting, 2 done
    statements: list[Statement] = [*model.nodes, *model.outputs]
    reported: set[frozenset[str]] = set()

    def name_of(st: Statement) -> str:
        return st.targets[0] if isinstance(st, ir.Assign) else st.name

    # Iterative DFS so that very deep graphs cannot exhaust the stack.
    for root in statements:
        if state.get(id(root)):
            continue
        stack: list[tuple[Statement, Iterator[tuple[str, Span | None]]]] = [(root, _expr_uses(root.value))]
        path: list[Statement] = [root]
        state[id(root)] = 1
        while stack:
            st, uses = stack[-1]
            advanced = False
            for name, _span in uses:
                dep = index.producers.get(name)
                if dep is None:
                    continue
                mark = state.get(id(dep))
                if mark == 1:
                    cyc = path[path.index(dep) :]
                    names = [name_of(s) for s in cyc]
                    key = frozenset(names)
                    if key not in reported:
                        reported.add(key)
                        chain = " -> ".join([*names, names[0]])
                        diags.append(
                            Diagnostic("K204", f"cycle: {chain}", dep.span, hint="a tensor cannot depend on itself")
                        )
                    continue
                if mark == 2:
                    continue
                state[id(dep)] = 1
                stack.append((dep, _expr_uses(dep.value)))
                path.append(dep)
                advanced = True
                break
            if not advanced:
                state[id(st)] = 2
                stack.pop()
                path.pop()
    return diags


def _dead_inputs(model: ir.FunctionalModel, index: ModelIndex) -> list[Diagnostic]:
    used: set[str] = set()
    todo: list[Statement] = list(model.outputs)
    seen: set[int] = set()
    while todo:
        st = todo.pop()
        if id(st) in seen:
            continue
        seen.add(id(st))
        for name, _ in _expr_uses(st.value):
            used.add(name)
            dep = index.producers.get(name)
            if dep is not None:
                todo.append(dep)
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


def model_uses(model: ir.FunctionalModel | ir.SequentialModel, model_names: set[str]) -> list[ir.LayerRef]:
    """Every use of another model of the spec (a shared sub-model) in ``model``."""
    from kspec.compiler.registry import wrapped_references

    local = {d.name for d in model.layers} if isinstance(model, ir.FunctionalModel) else set()
    callees = model_callees(model)
    wrapped = [ir.LayerRef(ref=name, span=c.span) for c in callees if isinstance(c, ir.LayerCall)
               for _, name in wrapped_references(c)]  # TimeDistributed(frame_cnn)
    return [
        c
        for c in [*callees, *wrapped]
        if isinstance(c, ir.LayerRef) and c.ref in model_names and c.ref not in local and c.ref != model.name
    ]


def model_order(spec: ir.Spec, target: str | None = None) -> tuple[list[str], list[Diagnostic]]:
    """Model names so that every model comes after the models it uses,
    and a diagnostic for each cycle of models using each other. With
    ``target``, only that model and the models it uses (directly or not)."""
    names = {m.name for m in spec.models}
    deps: dict[str, list[tuple[str, Span | None]]] = {
        m.name: [(r.ref, r.span) for r in model_uses(m, names)] for m in spec.models
    }
    order: list[str] = []
    state: dict[str, int] = {}
    diags: list[Diagnostic] = []

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cyc = [*trail[trail.index(name) :], name]
            diags.append(Diagnostic("K204", f"models use each other in a cycle: {' -> '.join(cyc)}", None))
            return
        state[name] = 1
        for dep, _ in deps.get(name, []):
            visit(dep, [*trail, name])
        state[name] = 2
        order.append(name)

    for name in [target] if target is not None else [m.name for m in spec.models]:
        visit(name, [])
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
    index = ModelIndex.of(model)
    statements: list[Statement] = [*model.nodes, *model.outputs]
    position = {id(s): i for i, s in enumerate(statements)}
    indegree = {id(s): 0 for s in statements}
    users: dict[int, list[Statement]] = {id(s): [] for s in statements}
    for st in statements:
        deps = {id(index.producers[n]) for n, _ in _expr_uses(st.value) if n in index.producers}
        deps.discard(id(st))
        indegree[id(st)] = len(deps)
        for d in deps:
            users[d].append(st)
    import heapq

    ready = [(position[id(s)], id(s), s) for s in statements if indegree[id(s)] == 0]
    heapq.heapify(ready)
    order: list[Statement] = []
    while ready:
        _, _, st = heapq.heappop(ready)
        order.append(st)
        for user in users[id(st)]:
            indegree[id(user)] -= 1
            if indegree[id(user)] == 0:
                heapq.heappush(ready, (position[id(user)], id(user), user))
    return order
