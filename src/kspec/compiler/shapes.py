"""Static shape inference: every tensor's shape and every layer's parameter
count, computed from the spec with the registry's shape rules, without keras.

A shape is a tuple whose first entry is the batch size (``None``); an
unknown shape is ``None``. A layer without a rule gets an unknown output
shape and an unknown parameter count, and inference goes on around it
without reporting anything it cannot be sure of. A mismatch that Keras
would reject is a ``K401`` diagnostic at the layer, naming the shapes.

Models are walked by :mod:`kspec.compiler.walk`, the walk lowering uses
too: the layers, names and order reported here are those of the Keras model
that ``kspec compile`` builds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any

from kspec._records import record
from kspec.catalogue import catalogue
from kspec.compiler.calls import PlainKeys
from kspec.compiler.registry import (
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
from kspec.compiler.registry.operations import Tensor, class_name, infer_operation
from kspec.compiler.walk import Application, Model, Operand, Statement, Walked, walk_model, walk_models
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic
from kspec.spec.ir import Span

__all__ = ["LayerInfo", "ModelShapes", "SpecInference", "SpecShapes", "fmt_shape", "infer_spec"]


# --------------------------------------------------------------------------
# Results


@record(slots=True)  # one per layer of every model: slots make them cheaper to build
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
    #: Layer objects a wrapper holds by reference (``TimeDistributed(proj)``),
    #: with their parameter counts: counted once, wherever else they are used.
    reuses: list[tuple[object, int]] = field(default_factory=list)
    #: Of ``params``, how many are not trained (``non_trainable_weights``):
    #: BatchNormalization's moving statistics, Normalization's mean and
    #: variance, every weight of a layer built with ``trainable=false``.
    frozen: int | None = 0


@record
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
    #: Counts already made (:meth:`_count`), by ``frozen``, each with the
    #: numbers of layers and sub-models it was made over.
    _counted: dict[bool, tuple[int, int, int | None]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def params(self) -> int | None:
        """Every weight counted once, as ``model.count_params()`` does: a
        sub-model used here and also inside another sub-model shares its
        weights, so each model's own layers are summed once, over this model
        and every model nested in it."""
        return self._count(frozen=False)

    @property
    def non_trainable(self) -> int | None:
        """The weights that training leaves alone, counted once as
        :attr:`params` counts them (``model.summary()``'s "Non-trainable params")."""
        return self._count(frozen=True)

    def _count(self, *, frozen: bool) -> int | None:
        """:attr:`params` or :attr:`non_trainable`. A model that applies
        one sub-model and holds no shared layer or reused object of its own
        counts its own layers plus that sub-model's count, so a chain of
        models each applying the one before is counted once per model, not
        once per model and sub-model; any other model walks every model
        nested in it (:meth:`_count_nested`). Each count is remembered."""
        chain: list[tuple[ModelShapes, int | None]] = []  # (model, its own layers' count)
        model = self
        total: int | None
        while True:
            remembered = model._counted.get(frozen)
            if remembered is not None and remembered[:2] == (len(model.layers), len(model.submodels)):
                total = remembered[2]
                break
            own = model._own_count(frozen=frozen)
            if own is None:
                total = model._count_nested(frozen=frozen)
                model._counted[frozen] = (len(model.layers), len(model.submodels), total)
                break
            chain.append((model, own[0]))
            model = next(iter(model.submodels.values()))
        for model, mine in reversed(chain):
            total = None if mine is None or total is None else mine + total
            model._counted[frozen] = (len(model.layers), len(model.submodels), total)
        return total

    def _own_count(self, *, frozen: bool) -> tuple[int | None] | None:
        """The count of this model's own layers (``None`` inside when one is
        unknown) when it applies exactly one sub-model and none of its own
        layers is shared or holds another object, so nothing of it is counted
        elsewhere; ``None`` otherwise."""
        if len(self.submodels) != 1:
            return None
        total: int | None = 0
        for layer in self.layers:
            if layer.type in ("Functional", "Sequential") and layer.name in self.submodels:
                continue  # counted through its own layers
            if layer.shared or layer.reuses:
                return None
            own = layer.frozen if frozen else layer.params
            total = None if own is None or total is None else total + own
        return (total,)

    def _count_nested(self, *, frozen: bool) -> int | None:
        """Every model nested in this one walked, each layer counted once."""
        models: dict[str, ModelShapes] = {self.name: self}
        pending = [self]
        while pending:
            for name, sub in pending.pop().submodels.items():
                if name not in models:
                    models[name] = sub
                    pending.append(sub)
        total = 0
        counted: set[object] = {("model", name) for name in models if name != self.name}
        for m in models.values():
            for layer in m.layers:
                if layer.type in ("Functional", "Sequential") and layer.name in m.submodels:
                    continue  # counted through its own layers
                own = layer.frozen if frozen else layer.params
                if own is None:
                    return None
                total += own
                keys = [(("layer", id(layer)), own)] if layer.shared else []
                reuses = [(key, 0) for key, _ in layer.reuses] if frozen else layer.reuses
                for key, params in [*keys, *reuses]:
                    if key in counted:
                        total -= params  # one object, already counted where it is used or wrapped
                    counted.add(key)
        return total


@record
class SpecShapes:
    """Inferred shapes of every model, and the diagnostics found."""

    models: dict[str, ModelShapes] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


# --------------------------------------------------------------------------
# Inference


def _input_shape(inp: ir.Input) -> Shape:
    """An input's declared shape, batch size first."""
    return (inp.batch_size, *inp.shape)


#: The layer types whose non-trainable weights :func:`_frozen` counts case by
#: case (any other layer's are all trained, unless built with trainable=false).
_FROZEN_CASES = frozenset({"BatchNormalization", "Normalization", "SpectralNormalization"})


def _frozen(call: ir.LayerCall, params: int | None) -> int | None:
    """How many of a layer's ``params`` are non-trainable weights, as Keras
    builds it (None when unknown)."""
    if params is None:
        return None
    if call.kwargs.get("trainable") is False:
        return params
    if call.type not in _FROZEN_CASES:
        return 0
    if call.type == "BatchNormalization":  # gamma, beta (trainable), moving mean and variance (not)
        per_channel = 2 + int(bool(call.kwargs.get("center", True))) + int(bool(call.kwargs.get("scale", True)))
        return params * 2 // per_channel
    if call.type == "Normalization":  # mean, variance and count: all statistics
        return params
    return None  # SpectralNormalization: its power-iteration vector, sized by the wrapped kernel


class _Instance:
    """One layer object of one model: built (weights sized) on its first
    application, and listed among the model's layers then."""

    __slots__ = ("built", "call", "first_inputs", "info", "listed", "model")

    def __init__(self, info: LayerInfo, call: ir.LayerCall | None, model: ModelShapes | None) -> None:
        self.info = info
        self.call = call
        self.model = model
        self.built = False
        self.listed = False
        self.first_inputs: list[TShape] = []


class _Inferer:
    """Shape inference over a whole spec: the rules of single layers and
    sub-models, and the diagnostics; each model is walked by a
    :class:`_ModelInferer`."""

    def __init__(self, spec: ir.Spec, skip: set[int], keys: PlainKeys | None = None) -> None:
        self.spec = spec
        self.skip = skip
        self.keys = PlainKeys() if keys is None else keys
        self.cat = catalogue()
        self.result = SpecShapes()
        self.models_ir = {m.name: m for m in spec.models}
        #: The model whose layer is being applied (wrappers resolve names in it).
        self.current: _ModelInferer | None = None
        #: The objects the layer being applied holds by reference.
        self.reused: list[tuple[object, int]] = []
        #: Rule answers by plain call and input shapes (:meth:`rule_apply`).
        self.results: dict[tuple[int | TShape, ...], Result] = {}

    def error(self, message: str, span: Span | None, hint: str | None = None, code: str = "K401") -> None:
        self.result.diagnostics.append(Diagnostic(code, message, span, hint))

    # -- a single layer --------------------------------------------------------

    def rule_apply(self, call: ir.LayerCall | ir.Call, type_: str, ins: list[TShape],
                   call_kwargs: dict[str, Any]) -> Result:
        """Raises ShapeError; returns unknowns where no rule applies.

        A rule's answer depends on nothing but the layer's arguments and the
        input shapes, unless the rule asks about a wrapped layer (which may
        be a layer or a model of the spec): so the answer for a call of
        plain values (:func:`~kspec.compiler.calls.plain_key`) is
        remembered by its key and input shapes, and given again, copied,
        for every such call after it."""
        if id(call) in self.skip or None in ins or (call_kwargs and any(v is None for v in call_kwargs.values())):
            return unknowns(), None
        number = None if call_kwargs else self.keys.of(call, type_, call.args, call.kwargs)
        key: tuple[int | TShape, ...] | None = None
        if number is not None:
            key = (number, *ins)
            found = self.results.get(key)
            if found is not None:  # only an answer a rule gave is remembered
                return type(found[0])(found[0]), found[1]
        rule = RULES.get(type_)
        sig = self.cat.layers.get(type_)
        if rule is None or sig is None:
            return unknowns(), None
        if type_ in MERGES and len(ins) < 2:
            raise ShapeError(f"{type_} merges several tensors, got {len(ins)}: {fmt_all(ins)}")
        wrapped = False

        def sub(inner: ir.Call | str, inner_ins: list[TShape]) -> Result:
            nonlocal wrapped
            wrapped = True
            return self.sub(inner, inner_ins)

        ctx = Ctx(type_, Args(call, sig), [s for s in ins if s is not None], call_kwargs, sub)
        try:
            outs, params = rule(ctx)
        except ShapeError:
            raise
        except (Unknown, TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError):
            return unknowns(), None
        if key is not None and not wrapped:  # a wrapped layer may be a layer or model of the spec
            self.results[key] = (type(outs)(outs), params)
        return outs, params

    def sub(self, call: ir.Call | str, ins: list[TShape]) -> Result:
        """A wrapped layer: inline (``Bidirectional(LSTM(8))``), or a named
        layer or model given by name (``TimeDistributed(frame_cnn)``), whose
        weights are counted once however often it is used."""
        if isinstance(call, ir.Call):
            return self.rule_apply(call, call.fn, ins, {})
        current = self.current
        named = current.named.get(call) if current is not None else None
        if named is not None and len(named.stack) == 1 and isinstance(named.stack[0], ir.LayerCall):
            inner = named.stack[0]
            assert current is not None
            outs, params = self.rule_apply(inner, inner.type, ins, {})
            inst = current.instances.get(id(inner))
            if inst is not None and params is not None:
                self.reused.append((("layer", id(inst.info)), params))
            return outs, params
        if named is not None and len(named.stack) == 1:
            call = named.stack[0].ref if isinstance(named.stack[0], ir.LayerRef) else call
        model = self.result.models.get(call)
        if model is None:
            return unknowns(), None
        if len(ins) != len(model.inputs) or any(
                a is None or b is None or len(a) != len(b) or any(
                    x is not None and y is not None and x != y for x, y in zip(a[1:], b[1:], strict=True))
                for a, b in zip(ins, model.inputs, strict=True)):
            raise ShapeError(f"model '{call}' expects {fmt_all(model.inputs)}, got {fmt_all(ins)}")
        params = model.params
        if params is not None:
            self.reused.append((("model", call), params))
        return (list(model.outputs) if list(ins) == list(model.inputs) else [None] * len(model.outputs)), params

    def apply(self, inst: _Instance, ins: list[TShape], call_kwargs: dict[str, Any], span: Span | None) -> list[TShape]:
        info = inst.info
        info.calls += 1
        if inst.model is not None:
            return self.apply_model(inst, ins, span)
        call = inst.call
        assert call is not None
        if self.reused:
            self.reused = []
        try:
            outs, params = self.rule_apply(call, call.type, ins, call_kwargs)
        except ShapeError as exc:
            self.error(str(exc), span)
            outs, params = unknowns(), None
            if not inst.built:
                inst.built = True
                info.params = info.frozen = None
            return outs
        if not inst.built:
            inst.built = True
            inst.first_inputs = list(ins)
            info.params = params
            info.frozen = _frozen(call, params)
            info.outputs = outs
            if self.reused:
                info.reuses = list(self.reused)
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
        sub = _Inferer(self.spec, self.skip, self.keys)
        sub.result.models = self.result.models  # read only: a walk of one model adds no model
        shapes = sub.model_shapes(model, ins)
        if sub.result.diagnostics:
            first = sub.result.diagnostics[0]
            self.error(f"model '{m.name}' cannot be applied to {fmt_all(ins)}: {first.message}", span)
            return [None] * len(m.outputs)
        return shapes.outputs

    # -- models ---------------------------------------------------------------

    def run(self, visitor_for: Callable[[Model], _ModelInferer] | None = None) -> SpecShapes:
        """Walk every model (``visitor_for`` makes each model's visitor)."""
        walk_models(self.spec, visitor_for or _ModelInferer.of(self), self.result.models)  # a cycle: nothing
        return self.result

    def model_shapes(self, model: Model, given: list[TShape] | None = None) -> ModelShapes:
        """Shapes of one model; ``given`` replaces its input shapes (a
        sub-model applied to other tensors)."""
        return walk_model(model, _ModelInferer(self, model, given), set(self.models_ir))

    def new_model_instance(self, ref: str, span: Span | None) -> _Instance:
        m = self.result.models.get(ref)
        if m is None:
            m = ModelShapes(ref, "functional")
        info = LayerInfo(ref, "Functional" if m.kind == "functional" else "Sequential", list(m.outputs),
                         m.params, span, shared=True)
        return _Instance(info, None, m)


class _ModelInferer:
    """Shape inference's side of the walk of one model
    (:class:`kspec.compiler.walk.ModelVisitor`): tensors are shapes, layers
    are :class:`_Instance`; it records each layer's :class:`LayerInfo` in
    the order the model first applies it, and goes on with unknown shapes
    after a mistake."""

    def __init__(self, inferer: _Inferer, model: Model, given: list[TShape] | None) -> None:
        self.inferer = inferer
        self.model = model
        self.given = given
        self.sequential = isinstance(model, ir.SequentialModel)
        self.out = ModelShapes(model.name, "sequential" if self.sequential else "functional")
        self.subs: dict[str, _Instance] = {}  # the one instance of each sub-model used here
        #: Named layers a wrapper may name, and the instance of each named layer's call.
        self.named = {d.name: d for d in model.layers} if isinstance(model, ir.FunctionalModel) else {}
        self.instances: dict[int, _Instance] = {}  # id() of a named layer's call -> its instance
        self.inbound: dict[int, set[str]] = {}  # id() of a LayerInfo -> its inbound names, as a set

    @classmethod
    def of(cls, inferer: _Inferer) -> Callable[[Model], _ModelInferer]:
        """A visitor for each model, with the spec's own input shapes."""
        return lambda model: cls(inferer, model, None)

    def input(self, inp: ir.Input, index: int) -> TShape:
        shape = _input_shape(inp) if self.given is None else self.given[index]
        if not self.sequential:
            self.out.layers.append(LayerInfo(inp.name, "InputLayer", [shape], 0, inp.span))
        return shape

    def new_layer(self, call: ir.LayerCall, name: str, *, named: bool) -> _Instance:
        if named and id(call) in self.instances:  # a statement inferred after the walk: the walk's layer
            return self.instances[id(call)]
        inst = _Instance(LayerInfo(name, call.type, [None], None, call.span, shared=named), call, None)
        if named:  # a wrapper may name it (sub): an inline layer is never named
            self.instances[id(call)] = inst
        return inst

    def model_ref(self, ref: ir.LayerRef) -> _Instance:
        """Every use of a sub-model in one model shares its weights."""
        inst = self.subs.get(ref.ref)
        if inst is None:
            inst = self.subs[ref.ref] = self.inferer.new_model_instance(ref.ref, ref.span)
        return inst

    def call_constant(self, value: Any, span: Span | None) -> Any:
        return value

    def apply(self, layer: _Instance, inputs: list[TShape], call_kwargs: dict[str, Any],
              at: Application) -> list[TShape]:
        info = layer.info
        if not layer.listed:  # its first application here: it has no inbound layers yet
            layer.listed = True
            self.out.layers.append(info)
            sources = at.sources
            info.inbound.extend(sources if self.sequential or len(sources) < 2 else dict.fromkeys(sources))
        elif self.sequential:
            info.inbound.extend(at.sources)
        else:
            seen = self.inbound.get(id(info))
            if seen is None:
                seen = self.inbound[id(info)] = set(info.inbound)
            for source in at.sources:
                if source not in seen:
                    seen.add(source)
                    info.inbound.append(source)
        inferer = self.inferer
        outer, inferer.current = inferer.current, self  # the model whose named layers a wrapper may name
        try:
            return inferer.apply(layer, inputs, call_kwargs, at.callee.span or at.span)
        finally:
            inferer.current = outer  # kept, it would refer back to the inferer: nothing is left in a cycle

    def operation(self, op: ir.Op, name: str, args: list[Any], kwargs: dict[str, Any],
                  at: Application) -> list[TShape]:
        """An operation layer (no weights): its shape rule from the registry."""
        info = LayerInfo(name, class_name(op.fn), [None], 0, at.span, calls=1, inbound=list(at.sources))
        self.out.layers.append(info)
        shapes: list[TShape] = []
        try:
            outs = infer_operation(op.fn, _as_tensors(args, shapes), _as_tensors(kwargs, shapes))
        except ShapeError as exc:
            self.inferer.error(f"ops.{op.fn} cannot be applied to {fmt_all(shapes)}: {exc}", at.span)
            outs = [None]
        info.outputs = list(outs)
        return outs

    def identity(self, name: str, tensor: TShape, output: ir.Output, sources: tuple[str, ...]) -> TShape:
        self.out.layers.append(LayerInfo(name, "Identity", [tensor], 0, output.span, inbound=list(sources), calls=1))
        return tensor

    def mismatch(self, statement: Statement, problem: Diagnostic, got: list[TShape]) -> list[TShape]:
        """Reported only when the count is certain: a layer without a rule
        may give any number of results, and an output with unknown shapes
        is left to Keras."""
        if isinstance(statement, ir.Output):
            if all(s is not None for s in got):
                self.inferer.result.diagnostics.append(problem)
            return [None]
        if isinstance(got, Unknowns):
            return got
        self.inferer.result.diagnostics.append(problem)
        return [None] * len(statement.targets)

    def missing(self, name: str) -> TShape:
        return None

    def finish(self, walked: Walked[TShape]) -> ModelShapes:
        out = self.out
        out.inputs = walked.inputs
        if not self.sequential:
            out.outputs = walked.outputs
        elif walked.inputs:
            out.outputs = [walked.outputs[0] if len(walked.outputs) == 1 else None]
        out.tensors = walked.tensors
        out.submodels = {ref: inst.model for ref, inst in self.subs.items() if inst.model is not None}
        return out


def _as_tensors(value: Any, shapes: list[TShape]) -> Any:
    """An operation's arguments with each tensor a registry :class:`Tensor`
    (its shape also added to ``shapes``, for messages)."""
    if isinstance(value, Operand):
        shapes.append(value.tensor)
        return Tensor(value.tensor)
    if isinstance(value, list):
        return [_as_tensors(v, shapes) for v in value]
    if isinstance(value, dict):
        return {k: _as_tensors(v, shapes) for k, v in value.items()}
    return value


class SpecInference:
    """Shape inference over a whole spec (as :func:`infer_spec` gives it,
    in :attr:`shapes`), that can then infer one more statement of a
    functional model from the shapes of the tensors it uses
    (:meth:`statement`), with the spec's models as sub-models, without
    walking any model again. Expansion reads ``x.shape`` through it as a
    model grows one statement at a time."""

    def __init__(self, spec: ir.Spec) -> None:
        self._inferer = inferer = _Inferer(spec, set())
        #: The walk of each model, whose named layers the statements inferred later apply.
        self._walks: dict[str, _ModelInferer] = {}

        def visitor(model: Model) -> _ModelInferer:
            walk = self._walks[model.name] = _ModelInferer(inferer, model, None)
            return walk

        self.shapes = inferer.run(visitor)

    def statement(self, model: ir.FunctionalModel, node: ir.Assign, inputs: dict[str, TShape],
                  layers: list[ir.LayerDef]) -> dict[str, TShape]:
        """The shapes of ``node``'s targets, with each tensor it uses given
        in ``inputs`` (batch dimension first; ``None`` where the walk knows
        no shape), as the walk of ``model`` would give them with ``node``
        after the statements it walked. ``layers``: the named layers
        ``node`` applies, each the same layer objects as in that walk (built
        by their first call, there or in a statement inferred since)."""
        # The inputs stand for tensors of the model: their shapes are given as they are, not read from them.
        placeholders = [ir.Input(name=name, shape=[1]) for name in inputs]
        one = model.model_copy(update={"inputs": placeholders, "layers": layers, "nodes": [node], "outputs": []})
        reported = self._inferer.result.diagnostics
        before = len(reported)
        visitor = _ModelInferer(self._inferer, one, list(inputs.values()))
        walked = self._walks.get(model.name)
        if walked is not None:
            visitor.instances = walked.instances  # shared: a layer first called here is built for the next
        tensors = walk_model(one, visitor, set(self._inferer.models_ir)).tensors
        del reported[before:]  # what it reports belongs to no check
        return {target: tensors.get(target) for target in node.targets}


def infer_spec(spec: ir.Spec, skip: set[int] | None = None, keys: PlainKeys | None = None) -> SpecShapes:
    """Shapes and parameter counts of every model of a graph-checked spec.

    ``skip`` holds ``id()`` of layer calls whose arguments are wrong: their
    outputs are unknown, so one mistake is reported once. ``keys``: the
    plain keys of its calls, shared with the argument pass."""
    return _Inferer(spec, skip or set(), keys).run()
