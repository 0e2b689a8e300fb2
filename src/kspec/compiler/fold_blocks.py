"""Repeated structure in a decompiled model, written as blocks and loops.

A pass over a flat functional model (``infer_blocks(spec) -> spec``):

1. Cut the statement list where exactly one tensor is alive: each piece
   between two such cuts is a one-tensor-in, one-tensor-out subgraph (a
   ResNet unit, a DenseNet layer, a MobileNet inverted residual).
2. Pieces with the same structure (same layers, arguments and wiring, only
   plain argument values differing) become one ``block``; the differing
   values become its parameters (one parameter per distinct column of
   values, named after the argument).
3. A run of calls to the same block with the same arguments, each applied
   to the previous one's result, becomes one call of a ``repeat`` block that
   loops over it.

Expanding the result (``kspec.compiler.expand``) gives back the same graph.
The pass never changes a model it cannot fully account for: pieces holding
shared layers, sub-models, destructuring or call arguments stay flat.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import field
from typing import Any

from kspec._records import record
from kspec.catalogue import catalogue
from kspec.spec import ir

__all__ = ["infer_blocks"]

_MIN_LAYERS = 3


def _leaf(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, list) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value)


@record
class _Piece:
    start: int
    end: int  # exclusive
    source: str
    result: str
    key: str = ""
    leaves: list[Any] = field(default_factory=list)
    leaf_names: list[str] = field(default_factory=list)
    layers: int = 0


def _uses(st: ir.Assign | ir.Output) -> list[str]:
    out = list(st.value.inputs)
    for step in st.value.steps:
        out += [r.name for r in _refs(step.call_kwargs)]
    return out


def _refs(value: Any) -> list[ir.Ref]:
    if isinstance(value, ir.Ref):
        return [value]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def _pieces(model: ir.FunctionalModel) -> list[_Piece]:
    nodes = model.nodes
    n = len(nodes)
    defined = {i.name: -1 for i in model.inputs}
    for k, st in enumerate(nodes):
        for t in st.targets:
            defined[t] = k
    last_use: dict[str, int] = {}
    statements: list[ir.Assign | ir.Output] = [*nodes, *model.outputs]
    for k, statement in enumerate(statements):
        for t in _uses(statement):
            last_use[t] = max(last_use.get(t, -1), k)
    # live tensors across the cut after statement k
    cuts: list[tuple[int, str]] = []
    births = sorted((k, t) for t, k in defined.items())
    for k in range(-1, n):
        live = [t for b, t in births if b <= k and last_use.get(t, -1) > k]
        if len(live) == 1:
            cuts.append((k, live[0]))
    pieces = []
    for (a, src), (b, res) in itertools.pairwise(cuts):
        if b > a and defined.get(res, -2) > a:
            pieces.append(_Piece(a + 1, b + 1, src, res))
    return pieces


def _describe(model: ir.FunctionalModel, piece: _Piece) -> bool:
    """Fill ``piece.key`` (structure) and ``piece.leaves`` (values); False
    when the piece holds something blocks cannot carry."""
    local = {piece.source: "x"}
    parts: list[Any] = []
    for k in range(piece.start, piece.end):
        st = model.nodes[k]
        if len(st.targets) != 1:
            return False
        ins = []
        for t in st.value.inputs:
            if t not in local:
                return False
            ins.append(local[t])
        steps = []
        for step in st.value.steps:
            layer = step.layer
            if not isinstance(layer, ir.LayerCall) or step.call_kwargs or "name" in layer.kwargs:
                return False
            sig_args = []
            for i, a in enumerate(layer.args):
                if _leaf(a):
                    piece.leaves.append(a)
                    piece.leaf_names.append(_arg_name(layer.type, i))
                    sig_args.append("?")
                else:
                    sig_args.append(_dump(a))
            sig_kwargs = {}
            for key, v in layer.kwargs.items():
                if _leaf(v):
                    piece.leaves.append(v)
                    piece.leaf_names.append(key)
                    sig_kwargs[key] = "?"
                else:
                    sig_kwargs[key] = _dump(v)
            steps.append([layer.type, sig_args, sig_kwargs])
            piece.layers += 1
        local[st.targets[0]] = f"h{len(local)}"
        parts.append([ins, steps])
    if local.get(piece.result) != f"h{len(local) - 1}":
        return False
    piece.key = json.dumps(parts, sort_keys=True)
    return True


def _dump(value: Any) -> Any:
    if isinstance(value, ir.IRNode):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _arg_name(layer_type: str, index: int) -> str:
    """The name of a layer's ``index``-th required positional parameter
    (``units`` for ``Dense``), from the catalogue."""
    sig = catalogue().layers.get(layer_type)
    names = [p.name for p in sig.params if p.positional and p.required] if sig is not None else []
    return names[index] if index < len(names) else f"arg{index}"


def _type_of(values: list[Any]) -> str | None:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, str) for v in values):
        return "str"
    return None


def _block_name(result: str, taken: set[str]) -> str:
    base = re.sub(r"_+", "_", re.sub(r"\d+", "", result)).strip("_") or "unit"
    if not base.isidentifier():
        base = "unit"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}{i}", i + 1
    taken.add(name)
    return name


def _substitute(value: Any, column: int, columns: dict[int, str | None], literal: list[Any]) -> Any:
    name = columns.get(column)
    return ir.Var(name=name) if name else literal[column]


def _make_block(model: ir.FunctionalModel, group: list[_Piece], name: str) -> tuple[ir.Block, list[list[Any]]]:
    first = group[0]
    ncols = len(first.leaves)
    params: list[ir.Param] = []
    columns: dict[int, str | None] = {}
    seen_vectors: dict[str, str] = {}
    used_names: set[str] = {"x"}
    for c in range(ncols):
        vec = [p.leaves[c] for p in group]
        if all(json.dumps(v) == json.dumps(vec[0]) for v in vec):
            columns[c] = None
            continue
        key = json.dumps(vec)
        if key in seen_vectors:
            columns[c] = seen_vectors[key]
            continue
        base = first.leaf_names[c] if first.leaf_names[c].isidentifier() else "value"
        pname, i = base, 2
        while pname in used_names:
            pname, i = f"{base}_{i}", i + 1
        used_names.add(pname)
        seen_vectors[key] = pname
        columns[c] = pname
        params.append(ir.Param(name=pname, type=_type_of(vec)))
    # rewrite the first piece's statements with local names and parameters
    local = {first.source: "x"}
    body: list[ir.Assign] = []
    col = 0
    for k in range(first.start, first.end):
        st = model.nodes[k]
        steps = []
        for step in st.value.steps:
            layer = step.layer
            assert isinstance(layer, ir.LayerCall)
            args = []
            for a in layer.args:
                if _leaf(a):
                    args.append(_substitute(a, col, columns, first.leaves))
                    col += 1
                else:
                    args.append(a)
            kwargs = {}
            for key, v in layer.kwargs.items():
                if _leaf(v):
                    kwargs[key] = _substitute(v, col, columns, first.leaves)
                    col += 1
                else:
                    kwargs[key] = v
            steps.append(ir.Step(layer=ir.LayerCall(type=layer.type, args=args, kwargs=kwargs)))
        target = f"h{len(local)}"
        expr = ir.Expr(inputs=[local[t] for t in st.value.inputs], steps=steps)
        local[st.targets[0]] = target
        body.append(ir.Assign(targets=[target], value=expr))
    statements: list[ir.BlockStatement] = [*body[:-1]]
    block = ir.Block(name=name, inputs=["x"], params=params, body=statements, returns=[body[-1].value])
    calls = [[p.leaves[c] for c in range(ncols) if columns[c] is not None and _first_col(columns, c)]
             for p in group]
    return block, calls


def _first_col(columns: dict[int, str | None], c: int) -> bool:
    name = columns[c]
    return all(columns[d] != name for d in range(c))


def infer_blocks(spec: ir.Spec) -> ir.Spec:
    """``spec`` with repeated subgraphs of its functional models written as
    blocks, and runs of identical block calls as loops."""
    taken = {m.name for m in spec.models} | {b.name for b in spec.blocks}
    blocks: list[ir.Block] = list(spec.blocks)
    models: list[ir.FunctionalModel | ir.SequentialModel] = []
    for m in spec.models:
        if isinstance(m, ir.FunctionalModel):
            taken |= {t for st in m.nodes for t in st.targets} | {o.name for o in m.outputs}
            taken |= {i.name for i in m.inputs} | {d.name for d in m.layers}
    for m in spec.models:
        if not isinstance(m, ir.FunctionalModel):
            models.append(m)
            continue
        new_model, new_blocks = _model_blocks(m, taken)
        models.append(new_model)
        blocks += new_blocks
    return spec.model_copy(update={"models": models, "blocks": blocks})


def _model_blocks(m: ir.FunctionalModel, taken: set[str]) -> tuple[ir.FunctionalModel, list[ir.Block]]:
    pieces = [p for p in _pieces(m) if _describe(m, p)]
    groups: dict[str, list[_Piece]] = {}
    for p in pieces:
        groups.setdefault(p.key, []).append(p)
    replaced: dict[int, tuple[int, ir.Assign]] = {}  # start -> (end, statement)
    blocks: list[ir.Block] = []
    for group in groups.values():
        if len(group) < 2 or group[0].layers < _MIN_LAYERS:
            continue
        name = _block_name(group[0].result, taken)
        block, calls = _make_block(m, group, name)
        blocks.append(block)
        for p, args in zip(group, calls, strict=True):
            call = ir.Assign(targets=[p.result], value=ir.Expr(
                inputs=[p.source], steps=[ir.Step(layer=ir.LayerCall(type=name, args=args))]))
            replaced[p.start] = (p.end, call)
    if not blocks:
        return m, []
    nodes: list[ir.Assign] = []
    k = 0
    while k < len(m.nodes):
        if k in replaced:
            end, st = replaced[k]
            nodes.append(st)
            k = end
        else:
            nodes.append(m.nodes[k])
            k += 1
    nodes, loops = _loops(nodes, m, taken, {b.name: b for b in blocks})
    return m.model_copy(update={"nodes": nodes}), [*blocks, *loops]


def _loops(nodes: list[ir.Assign], m: ir.FunctionalModel, taken: set[str],
           blocks: dict[str, ir.Block]) -> tuple[list[ir.Assign], list[ir.Block]]:
    """Runs of ``y = x -> b(args)`` applied one after another, each result
    used only by the next, become ``y = x -> repeat_b(n, args)``."""
    uses: dict[str, int] = {}
    statements: list[ir.Assign | ir.Output] = [*nodes, *m.outputs]
    for st in statements:
        for t in _uses(st):
            uses[t] = uses.get(t, 0) + 1

    def call_of(st: ir.Assign) -> ir.LayerCall | None:
        steps = st.value.steps
        if len(steps) == 1 and isinstance(steps[0].layer, ir.LayerCall) and steps[0].layer.type in blocks \
                and len(st.value.inputs) == 1:
            return steps[0].layer
        return None

    out: list[ir.Assign] = []
    loop_blocks: dict[str, ir.Block] = {}
    k = 0
    while k < len(nodes):
        st = nodes[k]
        call = call_of(st)
        j = k + 1
        while call is not None and j < len(nodes):
            nxt = call_of(nodes[j])
            prev = nodes[j - 1]
            if nxt != call or nodes[j].value.inputs != prev.targets or uses.get(prev.targets[0], 0) != 1:
                break
            j += 1
        if call is None or j - k < 2:
            out.append(st)
            k += 1
            continue
        block = blocks[call.type]
        if call.type not in loop_blocks:
            rname = f"repeat_{call.type}"
            if rname in taken:
                i = 2
                while f"{rname}{i}" in taken:
                    i += 1
                rname = f"{rname}{i}"
            taken.add(rname)
            params = [ir.Param(name="n", type="int"), *[p.model_copy() for p in block.params]]
            inner = ir.LayerCall(type=call.type, args=[ir.Var(name=p.name) for p in block.params])
            loop_blocks[call.type] = ir.Block(
                name=rname, inputs=["x"], params=params,
                body=[ir.Assign(targets=["y"], value=ir.Expr(inputs=["x"], steps=[ir.Step(layer=inner)])),
                      ir.For(var="i", range=[1, ir.Var(name="n")], body=[
                          ir.Assign(targets=["y"], value=ir.Expr(inputs=["y"], steps=[ir.Step(layer=inner)]))])],
                returns=[ir.Expr(inputs=["y"])])
        lb = loop_blocks[call.type]
        out.append(ir.Assign(targets=nodes[j - 1].targets, value=ir.Expr(
            inputs=st.value.inputs, steps=[ir.Step(layer=ir.LayerCall(type=lb.name, args=[j - k, *call.args]))])))
        k = j
    return out, list(loop_blocks.values())
