"""Hypothesis strategies for random, valid kspec IR.

``specs()`` draws a spec holding a functional DAG (random depth and width,
shared layers applied several times, merges, shared sub-models, several
outputs) or a sequential stack. Every spec it draws passes the static checks
and builds in Keras; tensors stay rank 2 so shapes are easy to track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from kspec.spec import ir

ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "linear"]
MERGES_SAME = ["Add", "Average", "Multiply", "Maximum", "Minimum"]


def _dense(draw: st.DrawFn, units: int) -> ir.LayerCall:
    kwargs: dict[str, object] = {}
    act = draw(st.sampled_from(ACTIVATIONS))
    if act is not None:
        kwargs["activation"] = act
    if draw(st.booleans()):
        kwargs["use_bias"] = False
    reg = draw(st.sampled_from([None, "l2", "l1_l2"]))
    if reg == "l2":
        kwargs["kernel_regularizer"] = ir.Call(fn="l2", args=[0.01])
    elif reg == "l1_l2":
        kwargs["bias_regularizer"] = ir.Call(fn="l1_l2", kwargs={"l1": 0.001, "l2": 0.01})
    if draw(st.booleans()):
        return ir.LayerCall(type="Dense", args=[units], kwargs=kwargs)
    return ir.LayerCall(type="Dense", kwargs={"units": units, **kwargs})


def _step(layer: ir.LayerCall | ir.LayerRef) -> ir.Step:
    return ir.Step(layer=layer)


@dataclass
class _Graph:
    dims: dict[str, int] = field(default_factory=dict)
    nodes: list[ir.Assign] = field(default_factory=list)
    layers: list[ir.LayerDef] = field(default_factory=list)
    counter: int = 0

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


@st.composite
def sub_model(draw: st.DrawFn, name: str, in_dim: int) -> tuple[ir.SequentialModel, int]:
    """A small sequential model usable as a shared layer."""
    out_dim = draw(st.integers(1, 5))
    layers: list[ir.LayerCall | ir.LayerRef] = [_dense(draw, draw(st.integers(1, 5)))]
    layers.append(ir.LayerCall(type="Dense", args=[out_dim]))
    model = ir.SequentialModel(name=name, input=ir.Input(name=f"{name}_in", shape=[in_dim]), layers=layers)
    return model, out_dim


def canonical_expr(tree: ir.Op, steps: list[ir.Step] | None = None) -> ir.Expr:
    """The expression a parser gives for an operation written with all its
    arguments: while the first argument is a tensor or an operation on
    tensors, it becomes the chain's input (``(x + 1.0) * 2.0`` is ``x`` then
    ``add(1.0)`` then ``multiply(2.0)``); ``steps`` follow it."""
    chain: list[ir.Step] = []
    op: ir.Op | ir.Ref = tree
    while isinstance(op, ir.Op):
        first = op.args[0] if op.args else None
        if not isinstance(first, (ir.Ref, ir.Op)) or (isinstance(first, ir.Op) and not _has_ref(first)):
            chain.insert(0, ir.Step(layer=op))
            return ir.Expr(inputs=[], steps=[*chain, *(steps or [])])
        chain.insert(0, ir.Step(layer=op.model_copy(update={"args": list(op.args[1:])})))
        op = first
    return ir.Expr(inputs=[op.name], steps=[*chain, *(steps or [])])


def _has_ref(value: object) -> bool:
    if isinstance(value, ir.Ref):
        return True
    if isinstance(value, ir.Op):
        return any(_has_ref(a) for a in value.args) or any(_has_ref(v) for v in value.kwargs.values())
    if isinstance(value, list):
        return any(_has_ref(v) for v in value)
    return False


_ALL = ir.Slice()


@st.composite
def tensor_operation(draw: st.DrawFn, dims: dict[str, int]) -> tuple[ir.Op, int]:
    """An operation on rank-2 tensors (``dims``: name -> last dimension)
    that Keras builds, written with all its arguments, and the last
    dimension of its result: arithmetic between tensors (broadcasting a
    dimension of 1) and with constants, unary minus, reductions with
    ``keepdims``, slices, ``ops.concatenate``, ``@`` between expanded
    vectors, and activations applied as operations."""
    names = sorted(dims)
    a = draw(st.sampled_from(names))
    ref_a = ir.Ref(name=a)
    kind = draw(st.sampled_from(["binary", "constant", "negative", "reduce", "slice", "concat", "inner", "outer",
                                 "unary"]))
    if kind == "binary":
        fits = [n for n in names if dims[n] in (dims[a], 1) or dims[a] == 1]
        b = draw(st.sampled_from(fits))
        fn = draw(st.sampled_from(["add", "subtract", "multiply", "maximum"]))
        op = ir.Op(fn=fn, args=[ref_a, ir.Ref(name=b)])
        if draw(st.booleans()):  # a constant on the other side, or around it
            op = ir.Op(fn=draw(st.sampled_from(["add", "multiply"])), args=[op, draw(_constants)])
        return op, max(dims[a], dims[b])
    if kind == "constant":
        c = draw(_constants)
        fn = draw(st.sampled_from(["add", "subtract", "multiply", "true_divide", "power"]))
        if fn == "true_divide":
            return ir.Op(fn=fn, args=[ref_a, draw(st.sampled_from([2.0, 4, -0.5]))]), dims[a]
        if fn == "power":
            return ir.Op(fn=fn, args=[ref_a, 2]), dims[a]
        args: list[ir.Value] = [c, ref_a] if draw(st.booleans()) else [ref_a, c]
        return ir.Op(fn=fn, args=args), dims[a]
    if kind == "negative":
        return ir.Op(fn="negative", args=[ref_a]), dims[a]
    if kind == "reduce":
        fn = draw(st.sampled_from(["mean", "sum", "max", "min"]))
        return ir.Op(fn=fn, args=[ref_a], kwargs={"axis": draw(st.sampled_from([1, -1])), "keepdims": True}), 1
    if kind == "slice":
        start = draw(st.integers(0, dims[a] - 1))
        stop = draw(st.integers(start + 1, dims[a]))
        head: ir.Value = _ALL if draw(st.booleans()) else ir.EllipsisValue()
        part = ir.Slice(start=start or None, stop=None if stop == dims[a] else stop)
        return ir.Op(fn="get_item", args=[ref_a, [head, part]]), stop - start
    if kind == "concat":
        b = draw(st.sampled_from(names))
        return ir.Op(fn="concatenate", args=[[ref_a, ir.Ref(name=b)]], kwargs={"axis": -1}), dims[a] + dims[b]
    if kind == "inner":  # a[:, None] @ b[:, :, None], back to rank 2
        b = draw(st.sampled_from([n for n in names if dims[n] == dims[a]]))
        prod = ir.Op(fn="matmul", args=[ir.Op(fn="get_item", args=[ref_a, [_ALL, None]]),
                                        ir.Op(fn="get_item", args=[ir.Ref(name=b), [_ALL, _ALL, None]])])
        return ir.Op(fn="get_item", args=[prod, [_ALL, 0]]), 1
    if kind == "outer":  # ops.reshape(a[:, :, None] @ b[:, None], (-1, da * db))
        b = draw(st.sampled_from(names))
        prod = ir.Op(fn="matmul", args=[ir.Op(fn="get_item", args=[ref_a, [_ALL, _ALL, None]]),
                                        ir.Op(fn="get_item", args=[ir.Ref(name=b), [_ALL, None]])])
        return ir.Op(fn="reshape", args=[prod, [-1, dims[a] * dims[b]]]), dims[a] * dims[b]
    fn = draw(st.sampled_from(["hard_sigmoid", "relu6", "abs", "square", "tanh"]))
    return ir.Op(fn=fn, args=[ref_a]), dims[a]


_constants = st.sampled_from([3.0, 0.5, -1.0, 2, 1 / 6])


@st.composite
def functional_spec(draw: st.DrawFn) -> ir.Spec:
    g = _Graph()
    inputs = []
    for i in range(draw(st.integers(1, 3))):
        d = draw(st.integers(1, 6))
        name = f"in{i}"
        inputs.append(ir.Input(name=name, shape=[d]))
        g.dims[name] = d
    extra_models: list[ir.SequentialModel] = []

    for _ in range(draw(st.integers(1, 6))):
        names = sorted(g.dims)
        kind = draw(st.sampled_from(["chain", "shared", "merge", "concat", "submodel", "op", "op"]))
        if kind == "op":
            tree, dim = draw(tensor_operation(g.dims))
            t = g.fresh()
            g.nodes.append(ir.Assign(targets=[t], value=canonical_expr(tree)))
            g.dims[t] = dim
        elif kind == "chain":
            src = draw(st.sampled_from(names))
            steps = [_step(_dense(draw, u)) for u in draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))]
            last = steps[-1].layer
            assert isinstance(last, ir.LayerCall)
            units = last.args[0] if last.args else last.kwargs["units"]
            t = g.fresh()
            g.nodes.append(ir.Assign(targets=[t], value=ir.Expr(inputs=[src], steps=steps)))
            g.dims[t] = int(units)
        elif kind == "shared":
            src = draw(st.sampled_from(names))
            same = [n for n in names if g.dims[n] == g.dims[src]]
            users = draw(st.lists(st.sampled_from(same), min_size=2, max_size=3))
            units = draw(st.integers(1, 6))
            lname = g.fresh("shared")
            g.layers.append(ir.LayerDef(name=lname, stack=[_dense(draw, units)]))
            for u in users:
                t = g.fresh()
                expr = ir.Expr(inputs=[u], steps=[_step(ir.LayerRef(ref=lname))])
                g.nodes.append(ir.Assign(targets=[t], value=expr))
                g.dims[t] = units
        elif kind == "merge":
            src = draw(st.sampled_from(names))
            same = [n for n in names if g.dims[n] == g.dims[src]]
            merge = draw(st.sampled_from(MERGES_SAME))
            ins = draw(st.lists(st.sampled_from(same), min_size=2, max_size=3))
            t = g.fresh()
            g.nodes.append(ir.Assign(targets=[t], value=ir.Expr(inputs=ins, steps=[_step(ir.LayerCall(type=merge))])))
            g.dims[t] = g.dims[src]
        elif kind == "concat":
            ins = draw(st.lists(st.sampled_from(names), min_size=2, max_size=3))
            t = g.fresh()
            expr = ir.Expr(inputs=ins, steps=[_step(ir.LayerCall(type="Concatenate"))])
            g.nodes.append(ir.Assign(targets=[t], value=expr))
            g.dims[t] = sum(g.dims[n] for n in ins)
        else:
            src = draw(st.sampled_from(names))
            mname = f"sub{len(extra_models)}"
            model, out_dim = draw(sub_model(mname, g.dims[src]))
            extra_models.append(model)
            same = [n for n in names if g.dims[n] == g.dims[src]]
            for u in draw(st.lists(st.sampled_from(same), min_size=1, max_size=2)):
                t = g.fresh()
                g.nodes.append(ir.Assign(targets=[t], value=ir.Expr(inputs=[u], steps=[_step(ir.LayerRef(ref=mname))])))
                g.dims[t] = out_dim

    produced = [n.targets[0] for n in g.nodes]
    pool = produced or [i.name for i in inputs]
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    outputs = [
        ir.Output(name=f"out{k}", value=ir.Expr(inputs=[src], steps=[_step(_dense(draw, draw(st.integers(1, 4))))]))
        for k, src in enumerate(chosen)
    ]
    # Connect every input that no output depends on yet.
    used = _ancestors(g.nodes, chosen)
    for inp in inputs:
        if inp.name not in used:
            expr = ir.Expr(inputs=[inp.name], steps=[_step(ir.LayerCall(type="Dense", args=[1]))])
            outputs.append(ir.Output(name=f"out{len(outputs)}", value=expr))
    # Drop shared layers that ended up unused? They are all used by construction.
    main = ir.FunctionalModel(name="net", inputs=inputs, layers=g.layers, nodes=g.nodes, outputs=outputs)
    return ir.Spec(models=[*extra_models, main])


def _ancestors(nodes: list[ir.Assign], roots: list[str]) -> set[str]:
    producers = {n.targets[0]: n for n in nodes}
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producers.get(name)
        if node is not None:
            todo.extend(node.value.inputs)
    return seen


@st.composite
def sequential_spec(draw: st.DrawFn) -> ir.Spec:
    d = draw(st.integers(1, 8))
    layers: list[ir.LayerCall | ir.LayerRef] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["dense", "dense", "dropout", "bn", "act", "ln"]))
        if kind == "dense":
            layers.append(_dense(draw, draw(st.integers(1, 8))))
        elif kind == "dropout":
            layers.append(ir.LayerCall(type="Dropout", args=[draw(st.sampled_from([0.1, 0.25, 0.5]))]))
        elif kind == "bn":
            layers.append(ir.LayerCall(type="BatchNormalization"))
        elif kind == "ln":
            layers.append(ir.LayerCall(type="LayerNormalization"))
        else:
            layers.append(ir.LayerCall(type="Activation", args=[draw(st.sampled_from(["relu", "tanh"]))]))
    layers.append(ir.LayerCall(type="Dense", args=[draw(st.integers(1, 4))]))
    return ir.Spec(models=[ir.SequentialModel(name="stack", input=ir.Input(name="input", shape=[d]), layers=layers)])


def specs() -> st.SearchStrategy[ir.Spec]:
    """Random valid specs, functional or sequential."""
    return st.one_of(functional_spec(), sequential_spec())


STRUCTURES: st.SearchStrategy[ir.StructureKind | None] = st.sampled_from([None, "list", "dict"])


@st.composite
def structured_spec(draw: st.DrawFn) -> ir.Spec:
    """A :func:`functional_spec` whose main model gives ``keras.Model`` its
    inputs and its outputs as drawn: by default (one tensor, or a list of
    several), as a list, or as a dict keyed by their names."""
    spec = draw(functional_spec())
    main = spec.models[-1]
    structure = ir.Structure(inputs=draw(STRUCTURES), outputs=draw(STRUCTURES))
    return spec.model_copy(update={"models": [*spec.models[:-1], main.model_copy(update={"structure": structure})]})
