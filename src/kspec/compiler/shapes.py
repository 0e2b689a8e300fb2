"""Static shape inference: every tensor's shape and every layer's parameter
count, computed from the spec with the registry's shape rules, without keras.

A shape is a tuple whose first entry is the batch size (``None``); an
unknown shape is ``None``. A layer without a rule gets an unknown output
shape and an unknown parameter count, and inference goes on around it
without reporting anything it cannot be sure of. A mismatch that Keras
would reject is a ``K401`` diagnostic at the layer, naming the shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kspec.catalogue import catalogue
from kspec.compiler.graph import model_order, tensor_order
from kspec.compiler.naming import LayerNames, name_functional, name_sequential
from kspec.compiler.registry.shape_rules import (
    MERGES,
    RULES,
    Args,
    Ctx,
    Result,
    Shape,
    ShapeError,
    TShape,
    Unknown,
    Unknowns,
    fmt_all,
    fmt_shape,
    unknowns,
)
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic
from kspec.spec.ir import Span

__all__ = ["LayerInfo", "ModelShapes", "SpecShapes", "fmt_shape", "infer_spec"]


# --------------------------------------------------------------------------
# Results


@dataclass
class LayerInfo:
    """One layer of a model as ``summary`` shows it."""

    name: str
    type: str
    outputs: list[TShape]
    params: int | None
    span: Span | None = None
    shared: bool = False  # a named layer or sub-model applied by reference
    calls: int = 0  # how many times it is applied
    inbound: list[str] = field(default_factory=list)  # names of the layers feeding it


@dataclass
class ModelShapes:
    """Inferred shapes of one model."""

    name: str
    kind: str
    inputs: list[TShape] = field(default_factory=list)
    outputs: list[TShape] = field(default_factory=list)
    layers: list[LayerInfo] = field(default_factory=list)
    tensors: dict[str, TShape] = field(default_factory=dict)
    #: The sub-models this model applies directly, by name.
    submodels: dict[str, ModelShapes] = field(default_factory=dict)

    @property
    def params(self) -> int | None:
        """Every weight counted once, as ``model.count_params()`` does: a
        sub-model used here and also inside another sub-model shares its
        weights, so each model's own layers are summed once, over this model
        and every model nested in it."""
        models: dict[str, ModelShapes] = {self.name: self}
        pending = [self]
        while pending:
            for name, sub in pending.pop().submodels.items():
                if name not in models:
                    models[name] = sub
                    pending.append(sub)
        total = 0
        for m in models.values():
            for layer in m.layers:
                if layer.type in ("Functional", "Sequential") and layer.name in m.submodels:
                    continue  # counted through its own layers
                if layer.params is None:
                    return None
                total += layer.params
        return total


@dataclass
class SpecShapes:
    """Inferred shapes of every model, and the diagnostics found."""

    models: dict[str, ModelShapes] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


# --------------------------------------------------------------------------
# Inference


class _Instance:
    """One layer object: built (weights sized) on its first application."""

    def __init__(self, info: LayerInfo, call: ir.LayerCall | None, model: ModelShapes | None) -> None:
        self.info = info
        self.call = call
        self.model = model
        self.built = False
        self.first_inputs: list[TShape] = []


class _Inferer:
    def __init__(self, spec: ir.Spec, skip: set[int]) -> None:
        self.spec = spec
        self.skip = skip
        self.cat = catalogue()
        self.result = SpecShapes()
        self.subs: dict[str, _Instance] = {}
        self.models_ir = {m.name: m for m in spec.models}

    def error(self, message: str, span: Span | None, hint: str | None = None, code: str = "K401") -> None:
        self.result.diagnostics.append(Diagnostic(code, message, span, hint))

    def destructure_error(self, st: ir.Assign, label: str, n: int) -> None:
        """As lowering words it: one name per result of the expression."""
        if len(st.targets) == 1:
            names = ", ".join(f"{st.targets[0]}{i + 1}" for i in range(n))
            self.error(f"{label} gives {n} tensors; name each of them: {names} = ...", st.span, code="K206")
            return
        self.error(f"{label} gives {n} tensor{'s' if n != 1 else ''}, but {len(st.targets)} names are given "
                   f"({', '.join(st.targets)})", st.span, "give one name per result", code="K206")

    # -- a single layer --------------------------------------------------------

    def rule_apply(self, call: ir.LayerCall | ir.Call, type_: str, ins: list[TShape],
                   call_kwargs: dict[str, Any]) -> Result:
        """Raises ShapeError; returns unknowns where no rule applies."""
        rule = RULES.get(type_)
        sig = self.cat.layers.get(type_)
        if rule is None or sig is None or id(call) in self.skip:
            return unknowns(), None
        if any(s is None for s in ins) or any(v is None for v in call_kwargs.values()):
            return unknowns(), None
        if type_ in MERGES and len(ins) < 2:
            raise ShapeError(f"{type_} merges several tensors, got {len(ins)}: {fmt_all(ins)}")
        known = [s for s in ins if s is not None]
        ctx = Ctx(type_, Args(call, sig), known, call_kwargs, self.sub)
        try:
            return rule(ctx)
        except ShapeError:
            raise
        except (Unknown, TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError):
            return unknowns(), None

    def sub(self, call: ir.Call, ins: list[TShape]) -> Result:
        """A wrapped layer (``Bidirectional(LSTM(8))``)."""
        return self.rule_apply(call, call.fn, ins, {})

    def apply(self, inst: _Instance, ins: list[TShape], call_kwargs: dict[str, Any], span: Span | None) -> list[TShape]:
        info = inst.info
        info.calls += 1
        if inst.model is not None:
            return self.apply_model(inst, ins, span)
        assert inst.call is not None
        try:
            outs, params = self.rule_apply(inst.call, inst.call.type, ins, call_kwargs)
        except ShapeError as exc:
            self.error(str(exc), span)
            outs, params = unknowns(), None
            if not inst.built:
                inst.built = True
                info.params = None
            return outs
        if not inst.built:
            inst.built = True
            inst.first_inputs = list(ins)
            info.params = params
            info.outputs = outs
        elif info.params is not None and params is not None and params != info.params:
            self.error(f"shared layer '{info.name}' ({info.type}) was built for {fmt_all(inst.first_inputs)} "
                       f"and cannot be applied to {fmt_all(ins)}", span)
            return [None] * len(outs)
        return outs

    def apply_model(self, inst: _Instance, ins: list[TShape], span: Span | None) -> list[TShape]:
        m = inst.model
        assert m is not None
        if len(ins) != len(m.inputs):
            self.error(f"model '{m.name}' takes {len(m.inputs)} input{'s' if len(m.inputs) != 1 else ''}, "
                       f"got {len(ins)}: {fmt_all(ins)}", span)
            return [None] * len(m.outputs)
        unknown: list[TShape] = [None] * len(m.outputs)
        for got, want in zip(ins, m.inputs, strict=True):
            if got is None or want is None:
                return unknown
            if abs(len(got) - len(want)) == 1 and (got[-1] == 1 or want[-1] == 1):
                return unknown  # Keras adds or drops a trailing axis of size 1 here
            if len(got) != len(want) or any(a is not None and b is not None and a != b
                                             for a, b in zip(got[1:], want[1:], strict=True)):
                self.error(f"model '{m.name}' expects input {fmt_shape(want)}, got {fmt_shape(got)}", span)
                return unknown
        if list(ins) == list(m.inputs):
            return list(m.outputs)
        return self.rerun(m, ins, span)

    def rerun(self, m: ModelShapes, ins: list[TShape], span: Span | None) -> list[TShape]:
        """Keras runs a sub-model's layers again on the tensors it is given:
        where they are more (or less) specific than its inputs, so are the
        outputs."""
        model = self.models_ir.get(m.name)
        if model is None:  # pragma: no cover - references are checked first
            return [None] * len(m.outputs)
        sub = _Inferer(self.spec, self.skip)
        sub.result.models = dict(self.result.models)
        shapes = sub.functional(model, ins) if isinstance(model, ir.FunctionalModel) else sub.sequential(model, ins)
        if sub.result.diagnostics:
            first = sub.result.diagnostics[0]
            self.error(f"model '{m.name}' cannot be applied to {fmt_all(ins)}: {first.message}", span)
            return [None] * len(m.outputs)
        return shapes.outputs

    # -- models ---------------------------------------------------------------

    def run(self) -> SpecShapes:
        order, diags = model_order(self.spec)
        if diags:
            return self.result
        models = {m.name: m for m in self.spec.models}
        for name in order:
            m = models[name]
            self.result.models[name] = self.functional(m) if isinstance(m, ir.FunctionalModel) else self.sequential(m)
        return self.result

    def input_shape(self, inp: ir.Input) -> Shape:
        return (inp.batch_size, *inp.shape)

    def model_instance(self, ref: str, span: Span | None) -> _Instance:
        """The one instance of sub-model ``ref`` in the model being built:
        every use shares its weights."""
        inst = self.subs.get(ref)
        if inst is None:
            inst = self.subs[ref] = self.new_model_instance(ref, span)
        return inst

    def new_model_instance(self, ref: str, span: Span | None) -> _Instance:
        m = self.result.models.get(ref)
        if m is None:
            m = ModelShapes(ref, "functional")
        info = LayerInfo(ref, "Functional" if m.kind == "functional" else "Sequential", list(m.outputs),
                         m.params, span, shared=True)
        return _Instance(info, None, m)

    def new(self, call: ir.LayerCall, name: str) -> _Instance:
        return _Instance(LayerInfo(name, call.type, [None], None, call.span), call, None)

    def functional(self, model: ir.FunctionalModel, given: list[TShape] | None = None) -> ModelShapes:
        """Shapes of a functional model; ``given`` replaces its input shapes
        (a sub-model applied to other tensors)."""
        out = ModelShapes(model.name, "functional")
        self.subs = {}
        names: LayerNames = name_functional(model, {m.name for m in self.spec.models})
        tensors: dict[str, TShape] = {}
        producer: dict[str, str] = {}
        for n, inp in enumerate(model.inputs):
            shape = self.input_shape(inp) if given is None else given[n]
            tensors[inp.name] = shape
            out.inputs.append(shape)
            out.layers.append(LayerInfo(inp.name, "InputLayer", [shape], 0, inp.span))
            producer[inp.name] = inp.name
        stacks: dict[str, list[_Instance]] = {}
        for i, d in enumerate(model.layers):
            stack: list[_Instance] = []
            for j, c in enumerate(d.stack):
                if isinstance(c, ir.LayerRef):
                    stack.extend(stacks[c.ref] if c.ref in stacks else [self.model_instance(c.ref, c.span)])
                else:
                    inst = self.new(c, names.names[("def", i, j)])
                    inst.info.shared = True
                    stack.append(inst)
            stacks[d.name] = stack
        registered: set[int] = set()
        statements: list[ir.Assign | ir.Output] = [*model.nodes, *model.outputs]
        position = {id(s): k for k, s in enumerate(statements)}
        for st in tensor_order(model):
            k = position[id(st)]
            expr = st.value
            current = [tensors.get(n) for n in expr.inputs]
            label = "this expression"
            feeders = [producer.get(n, n) for n in expr.inputs]
            for j, step in enumerate(expr.steps):
                ck = {key: self.call_arg(v, tensors) for key, v in step.call_kwargs.items()}
                if isinstance(step.layer, ir.LayerRef):
                    ref = step.layer.ref
                    insts = stacks[ref] if ref in stacks else [self.model_instance(ref, step.layer.span)]
                else:
                    insts = [self.new(step.layer, names.names[("stmt", k, j)])]
                span = step.layer.span or step.span or expr.span
                label = f"'{step.layer.ref}'" if isinstance(step.layer, ir.LayerRef) else step.layer.type
                for n, inst in enumerate(insts):
                    if id(inst.info) not in registered:
                        registered.add(id(inst.info))
                        out.layers.append(inst.info)
                    for f in feeders:
                        if f not in inst.info.inbound:
                            inst.info.inbound.append(f)
                    current = self.apply(inst, current, ck if n == 0 else {}, span)
                    feeders = [inst.info.name]
            if isinstance(st, ir.Assign):
                if len(st.targets) != len(current) and not isinstance(current, Unknowns):
                    self.destructure_error(st, label, len(current))
                    current = [None] * len(st.targets)
                for t, s in zip(st.targets, current, strict=False):
                    tensors[t] = s
                    producer[t] = feeders[0] if feeders else t
            else:
                if len(current) != 1 and all(s is not None for s in current):
                    self.error(f"output '{st.name}' must be one tensor, got {len(current)}", st.span,
                               "destructure the layer's results first, then output one of them", code="K206")
                result = current[0] if len(current) == 1 else None
                tensors[st.name] = result
                producer[st.name] = feeders[0] if feeders else st.name
                ident = names.identity.get(k - len(model.nodes))
                if ident is not None:
                    out.layers.append(LayerInfo(ident, "Identity", [result], 0, st.span, inbound=list(feeders),
                                                calls=1))
                    producer[st.name] = ident
        out.outputs = [tensors.get(o.name) for o in model.outputs]
        out.tensors = tensors
        out.submodels = {ref: inst.model for ref, inst in self.subs.items() if inst.model is not None}
        return out

    def call_arg(self, value: Any, tensors: dict[str, TShape]) -> Any:
        if isinstance(value, ir.Ref):
            return tensors.get(value.name)
        if isinstance(value, list):
            return [self.call_arg(v, tensors) for v in value]
        return value

    def sequential(self, model: ir.SequentialModel, given: list[TShape] | None = None) -> ModelShapes:
        """Shapes of a sequential model (``given``: see :meth:`functional`)."""
        out = ModelShapes(model.name, "sequential")
        self.subs = {}
        names = name_sequential(model)
        if model.input is None:
            return out
        shape: TShape = self.input_shape(model.input) if given is None else given[0]
        out.inputs = [shape]
        current: list[TShape] = [shape]
        feeder = model.input.name
        for j, c in enumerate(model.layers):
            if isinstance(c, ir.LayerRef):
                inst = self.model_instance(c.ref, c.span)
            else:
                inst = self.new(c, names.names[("seq", j)])
            inst.info.inbound.append(feeder)
            if all(layer is not inst.info for layer in out.layers):
                out.layers.append(inst.info)
            current = self.apply(inst, current, {}, c.span)
            feeder = inst.info.name
        out.outputs = [current[0] if len(current) == 1 else None]
        out.tensors = {}
        out.submodels = {ref: inst.model for ref, inst in self.subs.items() if inst.model is not None}
        return out


def infer_spec(spec: ir.Spec, skip: set[int] | None = None) -> SpecShapes:
    """Shapes and parameter counts of every model of a graph-checked spec.

    ``skip`` holds ``id()`` of layer calls whose arguments are wrong: their
    outputs are unknown, so one mistake is reported once."""
    return _Inferer(spec, skip or set()).run()
