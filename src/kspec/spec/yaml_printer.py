"""IR -> canonical YAML text (the layout ``kspec convert`` writes).

``load_yaml(dump_yaml(spec))`` equals ``spec``; parameter arithmetic is
written in ``.kspec`` syntax under ``{expr: ...}``. The YAML twin of
:mod:`kspec.spec.kspec_printer`.
"""

from __future__ import annotations

from typing import Any

import yaml

from kspec.spec import ir
from kspec.spec.kspec_printer import format_value

__all__ = ["dump_yaml", "spec_to_data"]

# ---------------------------------------------------------------------------
# IR -> canonical YAML


def _dump_value(value: Any) -> Any:
    if isinstance(value, (ir.Var, ir.BinOp, ir.UnaryOp, ir.Cond, ir.Format, ir.Index, ir.Attr)) or (
            isinstance(value, ir.Call) and value.fn in ir.BUILTINS):
        return _ExprData(expr=format_value(value))  # parameter arithmetic in .kspec syntax
    if isinstance(value, ir.Ref):
        return {"ref": value.name}  # a tensor inside an operation's arguments
    if isinstance(value, ir.Op):
        return _dump_op(value)
    if isinstance(value, ir.Call):
        out: dict[str, Any] = {"fn": value.fn}
        if value.args:
            out["args"] = _dump_value(value.args)
        if value.kwargs:
            out["kwargs"] = _dump_value(value.kwargs)
        return out
    if isinstance(value, ir.IRNode):
        dumped = value.model_dump(mode="python")
        return {k: _dump_value(getattr(value, k)) if k != "kind" else v for k, v in dumped.items()}
    if isinstance(value, list):
        return [_dump_value(v) for v in value]
    if isinstance(value, dict):
        items = {k: _dump_value(v) for k, v in value.items()}
        if "kind" in value or "fn" in value or "op" in value or list(value) in (["expr"], ["ref"]):
            return {"kind": "dict", "items": items}
        return items
    return value


def _dump_op(op: ir.Op) -> dict[str, Any]:
    """``{op: add, args: [3.0]}``: an operation (tensors in its arguments as ``{ref: x}``)."""
    out: dict[str, Any] = {"op": op.fn}
    if op.args:
        out["args"] = _dump_value(op.args)
    if op.kwargs:
        out["kwargs"] = _dump_value(op.kwargs)
    return out


def _dump_callee(callee: ir.LayerCall | ir.LayerRef | ir.Op, named: set[str]) -> Any:
    if isinstance(callee, ir.Op):
        return _dump_op(callee)
    if isinstance(callee, ir.LayerRef):
        return callee.ref if callee.ref in named else {"ref": callee.ref}
    if not callee.args and not callee.kwargs:
        return callee.type if callee.type not in named else {callee.type: None}
    if callee.args and not callee.kwargs:
        return {callee.type: _dump_value(callee.args)}
    body: dict[str, Any] = {}
    if callee.args:
        body["args"] = _dump_value(callee.args)
    if "args" in callee.kwargs:
        return {"layer": callee.type, "args": _dump_value(callee.args), "kwargs": _dump_value(callee.kwargs)}
    body.update({k: _dump_value(v) for k, v in callee.kwargs.items()})
    return {callee.type: body}


def _dump_call_arg(value: Any) -> Any:
    if isinstance(value, ir.Ref):
        return value.name
    if isinstance(value, list):
        return [_dump_call_arg(v) for v in value]
    return _dump_value(value)


def _dump_expr(expr: ir.Expr, named: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if expr.inputs:
        out["from"] = expr.inputs[0] if len(expr.inputs) == 1 else list(expr.inputs)
    steps = []
    for step in expr.steps:
        callee = _dump_callee(step.layer, named)
        if step.call_kwargs:
            if isinstance(callee, str):
                callee = {"ref": callee} if isinstance(step.layer, ir.LayerRef) else {callee: None}
            callee = {**callee, "call": {k: _dump_call_arg(v) for k, v in step.call_kwargs.items()}}
        steps.append(callee)
    if steps:
        out["apply"] = steps[0] if len(steps) == 1 else steps
    return out


def _dump_input(inp: ir.Input) -> Any:
    extra = inp.model_dump(exclude={"name", "shape"}, exclude_defaults=True)
    if not extra:
        return _dump_value(list(inp.shape))
    return {"shape": _dump_value(list(inp.shape)), **extra}


def spec_to_data(spec: ir.Spec) -> dict[str, Any]:
    """The canonical YAML-form data of a spec (plain dicts and lists)."""
    named = {m.name for m in spec.models}
    for m in spec.models:
        if isinstance(m, ir.FunctionalModel):
            named.update(d.name for d in m.layers)
    models = []
    for m in spec.models:
        if isinstance(m, ir.SequentialModel):
            seq: dict[str, Any] = {"name": m.name, "kind": "sequential"}
            if m.input is not None:
                seq["input"] = _dump_input(m.input)
                if m.input.name != "input":
                    shape = seq["input"]
                    seq["input"] = {"name": m.input.name, **(shape if isinstance(shape, dict) else {"shape": shape})}
            seq["layers"] = [_dump_callee(c, named) for c in m.layers]
            models.append(seq)
            continue
        fm: dict[str, Any] = {"name": m.name}
        structure = {port: kind for port in ("inputs", "outputs") if (kind := getattr(m.structure, port)) is not None}
        if structure:
            fm["structure"] = _FlowMap(structure)  # structure: {inputs: dict, outputs: dict}
        fm["inputs"] = {i.name: _dump_input(i) for i in m.inputs}
        if m.layers:
            fm["layers"] = {
                d.name: (
                    _dump_callee(d.stack[0], named) if len(d.stack) == 1 else [_dump_callee(c, named) for c in d.stack]
                )
                for d in m.layers
            }
        if m.nodes:
            fm["nodes"] = [
                {"name": n.targets[0] if len(n.targets) == 1 else list(n.targets), **_dump_expr(n.value, named)}
                for n in m.nodes
            ]
        outputs: dict[str, Any] = {}
        for o in m.outputs:
            if not o.value.steps:
                outputs[o.name] = o.value.inputs[0]
            else:
                outputs[o.name] = _dump_expr(o.value, named)
        fm["outputs"] = outputs
        models.append(fm)
    out: dict[str, Any] = {}
    if spec.uses:
        out["uses"] = list(spec.uses)
    if spec.params:
        out["params"] = _dump_params(spec.params)
    if spec.blocks:
        out["blocks"] = {b.name: _dump_block(b, named) for b in spec.blocks}
    out["models"] = models
    for what in ("compile", "train"):
        sections = getattr(spec, what)
        if sections:
            out[what] = {sec.model: {k: _dump_value(v) for k, v in sec.settings.items()} for sec in sections}
    return out


def _dump_params(params: list[ir.Param]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in params:
        body: dict[str, Any] = {}
        if p.type is not None:
            body["type"] = p.type
        if p.has_default:
            body["default"] = _dump_value(p.default)
        if p.space is not None:
            values = [_dump_value(v) for v in p.space.values]
            body["in"] = values if p.space.kind == "choice" else _FlowSpace({p.space.kind: values})
        out[p.name] = body
    return out


def _dump_body(body: list[Any], named: set[str]) -> list[Any]:
    out: list[Any] = []
    for st in body:
        if isinstance(st, ir.For) and not st.range:
            out.append({"for": st.var, "in": _dump_value(st.over), "body": _dump_body(st.body, named)})
        elif isinstance(st, ir.For):
            out.append({"for": st.var, "range": _dump_value(st.range), "body": _dump_body(st.body, named)})
        elif isinstance(st, ir.If):
            branch: dict[str, Any] = {"if": _dump_value(st.test), "then": _dump_body(st.body, named)}
            if st.orelse:
                branch["else"] = _dump_body(st.orelse, named)
            out.append(branch)
        else:
            out.append(
                {"name": st.targets[0] if len(st.targets) == 1 else list(st.targets), **_dump_expr(st.value, named)}
            )
    return out


def _dump_block(b: ir.Block, named: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"inputs": list(b.inputs)}
    if b.params:
        out["params"] = _dump_params(b.params)
    out["body"] = _dump_body(b.body, named)
    returns = [r.inputs[0] if not r.steps else _dump_expr(r, named) for r in b.returns]
    out["return"] = returns[0] if len(returns) == 1 else returns
    return out


class _ExprData(dict[str, str]):
    """``{expr: ...}``, always written in flow style."""


class _FlowMap(dict[str, str]):
    """A short mapping written in flow style (``structure: {outputs: dict}``)."""


class _Dumper(yaml.SafeDumper):
    pass


def _repr_expr(dumper: yaml.SafeDumper, data: _ExprData) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", dict(data), flow_style=True)


_Dumper.add_representer(_ExprData, _repr_expr)


class _FlowSpace(dict[str, list[Any]]):
    """A search range written in flow style (``in: {log: [0.0001, 0.01]}``)."""


def _repr_flow(dumper: yaml.SafeDumper, data: _FlowMap | _FlowSpace) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", dict(data), flow_style=True)


_Dumper.add_representer(_FlowMap, _repr_flow)
_Dumper.add_representer(_FlowSpace, _repr_flow)


def _repr_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, _ExprData) or not isinstance(v, (dict, list)) for v in data) and len(data) <= 8
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _repr_list)


def dump_yaml(spec: ir.Spec) -> str:
    """Canonical YAML text for ``spec``; ``load_yaml`` reads it back equal."""
    return yaml.dump(spec_to_data(spec), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
