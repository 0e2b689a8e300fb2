"""The argument-check pass: every layer call against the catalogue and the
registry (no keras import).

Every inline layer of a checked, expanded spec is compared with the
catalogue of the installed Keras: unknown layers and arguments (with
suggestions), missing required arguments, arguments given twice, too many
positional arguments; values that are calls (``l2(0.01)``,
``GlorotUniform(seed=1)``, ``Bidirectional(LSTM(8))``) are resolved by the
argument they are given to, exactly as :mod:`kspec.runtime.lower` resolves
them; activation, initializer, regularizer and constraint names given as
strings are checked too.

:func:`check_arguments` returns every diagnostic found and the layer
calls that have one, so that shape inference leaves them unknown and one
mistake is reported once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from kspec.catalogue import Catalogue, Signature, catalogue
from kspec.compiler.calls import PlainKeys, check_call, number_at_least
from kspec.compiler.graph import model_callees
from kspec.compiler.naming import is_custom_layer
from kspec.compiler.registry import (
    REFERENCE_KEYS,
    WRAPPED_LAYER_KEYS,
    argument_problems,
    rule_for,
    spec_text,
    wrapped_references,
)
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic, did_you_mean
from kspec.spec.ir import Span
from kspec.spec.source import confined_path

__all__ = ["check_arguments", "check_layer_call", "layer_calls"]

_KINDS = {"regularizer": "regularizers", "initializer": "initializers", "constraint": "constraints"}
_STRING_KINDS = (("activation", "activation"), ("regularizer", "regularizers"), ("initializer", "initializers"),
                 ("constraint", "constraints"))


def layer_calls(spec: ir.Spec) -> Iterator[ir.LayerCall]:
    """Every inline layer of every model, in declaration order."""
    for model in spec.models:
        for c in model_callees(model):
            if isinstance(c, ir.LayerCall):
                yield c


def _kind_of(key: str) -> str | None:
    for suffix, kind in _KINDS.items():
        if key.endswith(suffix):
            return kind
    return None


class _References(Collection[str]):
    """The names a wrapper may be given instead of an inline layer: the
    model's named layers and the spec's models, read where they are (a
    copy of both for each call checked grew with the square of the spec)."""

    __slots__ = ("models", "named")

    def __init__(self, named: dict[str, ir.LayerDef], models: set[str]) -> None:
        self.named = named
        self.models = models

    def __contains__(self, name: object) -> bool:
        return name in self.named or name in self.models

    def __iter__(self) -> Iterator[str]:
        yield from self.named
        yield from (name for name in self.models if name not in self.named)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Checker:
    def __init__(self, cat: Catalogue, model_names: set[str], keys: PlainKeys | None = None) -> None:
        self.cat = cat
        self.keys = PlainKeys() if keys is None else keys
        self.model_names = model_names
        #: The named layers of the model being checked, which a wrapper may name.
        self.named: dict[str, ir.LayerDef] = {}
        self.diags: list[Diagnostic] = []
        self.bad: set[int] = set()  # id() of layer calls with argument errors
        #: Keys of plain calls found sound (:meth:`layer`), and which layer types may be remembered so.
        self.sound: set[int] = set()
        self.contained: dict[str, bool] = {}

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span, hint))

    # -- layers ---------------------------------------------------------------

    def layer(self, call: ir.LayerCall) -> None:
        """Check one layer call; a call found sound is remembered by its
        :func:`~kspec.compiler.calls.plain_key` when nothing but its own
        arguments decides the checks (:meth:`self_contained`), and every
        call with the same key is then known sound without checking again."""
        key = self.keys.of(call, call.type, call.args, call.kwargs) if self.self_contained(call.type) else None
        if key is not None and key in self.sound:
            return
        before = len(self.diags)
        self.check_layer(call)
        if len(self.diags) > before:
            self.bad.add(id(call))
        elif key is not None:
            self.sound.add(key)

    def self_contained(self, type_: str) -> bool:
        """Whether the checks of a ``type_`` call with plain arguments
        depend on those arguments alone: not for a wrapper, which may name
        a layer or model of the spec (``TimeDistributed(frame_cnn)``), nor
        for a layer whose arguments name files (read relative to the spec)."""
        known = self.contained.get(type_)
        if known is None:
            sig = self.cat.layers.get(type_)
            rule = rule_for(type_)
            known = sig is not None and sig.accepted.isdisjoint(REFERENCE_KEYS) \
                and not (rule is not None and rule.paths)
            self.contained[type_] = known
        return known

    def check_layer(self, call: ir.LayerCall) -> None:
        if is_custom_layer(call.type):
            return  # a registered custom class: checked when the model is built (shape unknown here)
        sig = self.cat.layers.get(call.type)
        if sig is None:
            self.error("K203", f"unknown layer '{call.type}'", call.span,
                       did_you_mean(call.type, [*self.cat.layers, *self.model_names]))
            return
        rule = rule_for(call.type)
        if rule is not None and rule.refused is not None:
            self.error("K210", rule.refused[0], call.span, rule.refused[1])
            return
        names = sig.positional
        for i, value in enumerate(call.args):
            key = names[i] if i < len(names) else f"#{i}"
            self.value(value, key, call.span)
        for key, value in call.kwargs.items():
            self.value(value, key, call.at(key))
        before = len(self.diags)
        self.signature(call, sig)
        if len(self.diags) == before:
            bound = sig.bind(list(call.args), dict(call.kwargs))
            self.strings(call, bound)
            self.values(call, dict(bound))
            if rule is not None:
                self.paths(call, bound, rule.paths)

    def paths(self, call: ir.LayerCall, bound: dict[str, Any], keys: tuple[str, ...]) -> None:
        """Arguments that name a file stay inside the spec's directory."""
        for key in keys:
            value = bound.get(key)
            if isinstance(value, str):
                try:
                    confined_path(value, call.span)
                except ValueError as exc:
                    self.error("K217", f"{call.type}: {exc}", call.at(key),
                               "keep the file beside the spec (or below it), or allow a directory with "
                               "--allow-dir DIR")

    def signature(self, call: ir.LayerCall, sig: Signature) -> None:
        """Mirror ``Signature.bind`` on the constructor, as lowering does."""
        for p in check_call(sig, len(call.args), call.kwargs):
            if p.kind == "unknown":
                self.error("K301", f"{call.type} has no argument '{p.name}'", call.at(p.name), p.hint)
            elif p.kind == "twice":
                self.error("K301", f"{call.type}: {p.detail}", call.at(p.name))
            else:
                self.error("K301" if p.kind == "too_many" else "K303", f"{call.type} {p.detail}", call.span)

    def strings(self, call: ir.LayerCall, bound: dict[str, Any]) -> None:
        """Activation / initializer / regularizer / constraint names
        (``bound``: the call's arguments by name)."""
        for key, value in bound.items():
            if not isinstance(value, str):
                continue
            for suffix, kind in _STRING_KINDS:
                if not key.endswith(suffix):
                    continue
                pool = self.cat.activations if kind == "activation" else self.cat.identifiers[kind]
                if value not in pool:
                    what = kind if kind == "activation" else kind[:-1]
                    self.error("K302", f"{call.type}: unknown {what} '{value}' for '{key}'",
                               call.at(key), did_you_mean(value, pool))
                break

    def values(self, call: ir.LayerCall, bound: dict[str, Any]) -> None:
        """Argument values Keras refuses in the constructor (the registry's
        rules; ``bound``: the call's arguments by name, which this changes).
        A wrapper given a named layer is checked as if given that layer
        (``Bidirectional(enc)`` wraps a recurrent layer)."""
        for key, ref in wrapped_references(call):
            named = self.named.get(ref)
            if named is None:
                continue
            if len(named.stack) != 1:
                self.error("K302", f"{call.type}: '{key}' names the stack '{ref}' of {len(named.stack)} layers, "
                           "but a wrapper takes one layer", call.at(key),
                           f"write the stack as a model of its own and wrap the model: {call.type}(model_name)")
                return
            inner = named.stack[0]
            if isinstance(inner, ir.LayerCall):
                bound[key] = ir.Call(fn=inner.type, args=inner.args, kwargs=inner.kwargs, span=inner.span)
        references = _References(self.named, self.model_names)
        for problem in argument_problems(call.type, bound, references):
            where = problem.span or call.key_spans.get(problem.key) or call.span
            self.error("K302", problem.message, where, problem.hint)

    # -- values ---------------------------------------------------------------

    def value(self, value: Any, key: str, span: Span | None) -> None:
        if isinstance(value, ir.Call):
            self.call_value(value, key, span)
        elif isinstance(value, ir.Ref):
            self.error("K302", f"tensor '{value.name}' cannot be a layer argument ('{key}')", value.span or span,
                       "tensors go in call arguments: Layer(...)(x, key=tensor)")
        elif isinstance(value, list):
            for v in value:
                self.value(v, key, span)
        elif isinstance(value, dict):
            for v in value.values():
                self.value(v, key, span)

    def call_value(self, call: ir.Call, key: str, span: Span | None) -> None:
        where = call.span or span
        kind = _kind_of(key)
        kinds: list[str]
        if kind is not None:
            kinds = [kind]
        elif key in WRAPPED_LAYER_KEYS or call.fn in self.cat.layers:
            kinds = ["layers"]
        else:
            kinds = ["layers", "regularizers", "initializers", "constraints"]
        for k in kinds:
            if k == "layers":
                if call.fn in self.cat.layers:
                    self.layer(ir.LayerCall(type=call.fn, args=call.args, kwargs=call.kwargs, span=where,
                                            key_spans=call.key_spans))
                    return
                continue
            sig = self.cat.functions[k].get(call.fn)
            if sig is not None:
                self.function(call, sig, k[:-1], where)
                return
        if call.fn in self.cat.activations:
            self.error("K304", f"activation '{call.fn}' takes no arguments here", where,
                       f'write activation="{call.fn}", or use an activation layer such as LeakyReLU(...)')
            return
        pool: set[str] = set()
        for k in kinds:
            pool |= set(self.cat.layers) if k == "layers" else set(self.cat.functions[k])
        what = kinds[0][:-1] if len(kinds) == 1 else "function"
        self.error("K304", f"unknown {what} '{call.fn}' in '{key}'", where, did_you_mean(call.fn, pool))

    def function(self, call: ir.Call, sig: Signature, what: str, where: Span | None) -> None:
        for i, v in enumerate(call.args):
            self.value(v, f"#{i}", where)
        problems = check_call(sig, len(call.args), call.kwargs)
        if problems:  # one diagnostic per function call: the first problem
            p = problems[0]
            # a function call's wording names no parameters: "takes at most 1 positional arguments, got 2"
            detail = (f"takes at most {len(p.positional)} positional arguments, got {p.given}"
                      if p.kind == "too_many" else p.detail)
            span = call.at(p.name) if p.kind == "unknown" and call.key_spans else where
            self.error("K302", f"invalid {what} {call.fn}(...): {detail}", span, p.hint)
            return
        if what == "regularizer":
            at_least_0 = number_at_least(0)
            for name, v in sig.bind(list(call.args), dict(call.kwargs)).items():
                if name in ("l1", "l2", "factor") and not at_least_0.accepts(v):
                    self.error("K302", f"invalid regularizer {call.fn}(...): '{name}' must be {at_least_0.expect}, "
                               f"got {spec_text(v)}", (call.at(name) if name in call.kwargs else None) or where)


def check_layer_call(call: ir.LayerCall, model_names: set[str] | None = None) -> list[Diagnostic]:
    """Argument diagnostics for one inline layer."""
    checker = _Checker(catalogue(), model_names or set())
    checker.layer(call)
    return checker.diags


def check_arguments(spec: ir.Spec, keys: PlainKeys | None = None) -> tuple[list[Diagnostic], set[int]]:
    """Argument diagnostics for every inline layer of ``spec``, and the
    ``id()`` of each layer call that has one; ``keys``: the plain keys of
    its calls, shared with shape inference."""
    checker = _Checker(catalogue(), {m.name for m in spec.models}, keys)
    operations = False
    for model in spec.models:
        checker.named = {d.name: d for d in model.layers} if isinstance(model, ir.FunctionalModel) else {}
        for c in model_callees(model):
            if isinstance(c, ir.LayerCall):
                checker.layer(c)
            elif not operations and isinstance(c, ir.Op):
                operations = True
    if operations:  # else there is nothing for the operation pass to look at
        checker.diags += _operation_diagnostics(spec)
    return checker.diags, checker.bad


def _operation_diagnostics(spec: ir.Spec) -> list[Diagnostic]:
    """Every operation (``x + y``, ``ops.mean(x, axis=1)``) against the
    signature of its ``keras.ops`` function; in a chain, the chain's tensor
    is its first argument."""
    from kspec.compiler.registry.operations import operation_problems

    diags: list[Diagnostic] = []
    for model in spec.models:
        if not isinstance(model, ir.FunctionalModel):
            continue
        statements: list[ir.Assign | ir.Output] = [*model.nodes, *model.outputs]
        for st in statements:
            for j, step in enumerate(st.value.steps):
                if isinstance(step.layer, ir.Op):
                    chained = j > 0 or bool(st.value.inputs)
                    diags += operation_problems(step.layer, chained, step.span or st.span)
    return diags
