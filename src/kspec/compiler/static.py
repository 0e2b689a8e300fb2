"""Static argument checks from the layer catalogue (no keras import).

Every inline layer of a checked, expanded spec is compared with the
catalogue of the installed Keras: unknown layers and arguments (with
suggestions), missing required arguments, arguments given twice, too many
positional arguments; values that are calls (``l2(0.01)``,
``GlorotUniform(seed=1)``, ``Bidirectional(LSTM(8))``) are resolved by the
argument they are given to, exactly as :mod:`kspec.runtime.lower` resolves
them; activation, initializer, regularizer and constraint names given as
strings are checked too.

:func:`static_check` runs these checks and static shape inference
(:mod:`kspec.compiler.shapes`) and returns every diagnostic found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kspec.compiler.catalogue import ALIASES, Catalogue, Signature, catalogue
from kspec.compiler.diagnostics import Diagnostic, did_you_mean
from kspec.compiler.graph import model_callees
from kspec.compiler.naming import is_custom_layer
from kspec.spec import ir
from kspec.spec.ir import Span

__all__ = ["WRAPPED_LAYER_KEYS", "bind_args", "check_arguments", "check_layer_call", "layer_calls", "static_check"]

#: Arguments whose call values are layers (``Bidirectional(layer=LSTM(8))``).
WRAPPED_LAYER_KEYS = ("layer", "backward_layer", "cell", "cells")
_KINDS = {"regularizer": "regularizers", "initializer": "initializers", "constraint": "constraints"}
_STRING_KINDS = (("activation", "activation"), ("regularizer", "regularizers"), ("initializer", "initializers"),
                 ("constraint", "constraints"))


def layer_calls(spec: ir.Spec) -> Iterator[ir.LayerCall]:
    """Every inline layer of every model, in declaration order."""
    for model in spec.models:
        for c in model_callees(model):
            if isinstance(c, ir.LayerCall):
                yield c


def bind_args(sig: Signature, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Positional and keyword arguments by parameter name (no checks)."""
    out = dict(kwargs)
    for name, value in zip(sig.positional, args, strict=False):
        out.setdefault(name, value)
    return out


def _kind_of(key: str) -> str | None:
    for suffix, kind in _KINDS.items():
        if key.endswith(suffix):
            return kind
    return None


class _Checker:
    def __init__(self, cat: Catalogue, model_names: set[str]) -> None:
        self.cat = cat
        self.model_names = model_names
        self.diags: list[Diagnostic] = []
        self.bad: set[int] = set()  # id() of layer calls with argument errors

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span, hint))

    # -- layers ---------------------------------------------------------------

    def layer(self, call: ir.LayerCall) -> None:
        before = len(self.diags)
        self.check_layer(call)
        if len(self.diags) > before:
            self.bad.add(id(call))

    def check_layer(self, call: ir.LayerCall) -> None:
        if is_custom_layer(call.type):
            return  # a registered custom class: checked when the model is built (shape unknown here)
        sig = self.cat.layers.get(call.type)
        if sig is None:
            self.error("K203", f"unknown layer '{call.type}'", call.span,
                       did_you_mean(call.type, [*self.cat.layers, *self.model_names]))
            return
        if call.type == "Lambda":
            self.error("K210", "Lambda layers are not allowed: a spec never runs Python code", call.span,
                       "use a built-in layer, or register a custom layer class")
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
            self.strings(call, sig)
            self.values(call, sig)

    def signature(self, call: ir.LayerCall, sig: Signature) -> None:
        """Mirror ``Signature.bind`` on the constructor, as lowering does."""
        accepted = sig.accepted
        unknown = [k for k in call.kwargs if k not in accepted]
        for key in unknown:
            self.error("K301", f"{call.type} has no argument '{key}'", call.at(key), did_you_mean(key, accepted))
        if unknown:
            return
        problem = _bind_problem(sig, len(call.args), call.kwargs)
        if problem is None:
            return
        kind, name = problem
        if kind == "twice":
            self.error("K301", f"{call.type}: argument '{name}' is given twice", call.at(name))
        elif kind == "too_many":
            positional = sig.positional
            self.error("K301", f"{call.type} takes at most {len(positional)} positional argument"
                       f"{'s' if len(positional) != 1 else ''} ({', '.join(positional)}), got {len(call.args)}",
                       call.span)
        else:
            self.error("K303", f"{call.type} needs argument '{name}'", call.span)

    def strings(self, call: ir.LayerCall, sig: Signature) -> None:
        """Activation / initializer / regularizer / constraint names."""
        bound = bind_args(sig, list(call.args), dict(call.kwargs))
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

    def values(self, call: ir.LayerCall, sig: Signature) -> None:
        """Argument values Keras refuses in the constructor."""
        bound = bind_args(sig, list(call.args), dict(call.kwargs))
        kind = ALIASES.get(call.type, call.type)

        def where(key: str) -> Span | None:
            return call.key_spans.get(key) or call.span

        for key in _POSITIVE.get(kind, ()):
            v = bound.get(key)
            if key in bound and not _positive_int(v):
                self.error("K302", f"{call.type}: '{key}' must be a positive integer, got {v!r}", where(key))
        if kind in _RATE_LAYERS and isinstance(bound.get("rate"), (int, float)):
            rate = bound["rate"]
            if not isinstance(rate, bool) and not 0 <= rate <= 1:
                self.error("K302", f"{call.type}: 'rate' must be between 0 and 1, got {rate!r}", where("rate"))
        if kind in _CONV_PADDING and isinstance(bound.get("padding"), str):
            allowed = _CONV_PADDING[kind]
            pad = bound["padding"]
            if pad.lower() not in allowed:
                words = " or ".join(f"'{a}'" for a in allowed)
                self.error("K302", f"{call.type}: padding must be {words}, got '{pad}'", where("padding"),
                           did_you_mean(pad, allowed))
        rank = _spatial_rank(kind)
        if rank:
            for key in _TUPLE_ARGS:
                if key == "strides" and "Pooling" in kind:
                    continue  # pooling takes any strides here (Keras checks them later, if at all)
                if kind == "UpSampling1D" and key == "size":
                    if not _positive_int(bound.get(key, 2)):
                        self.error("K302", f"UpSampling1D: 'size' must be a positive integer, got {bound[key]!r}",
                                   where(key))
                    continue
                if key in bound and bound[key] is not None and not _int_tuple(bound[key], rank):
                    self.error("K302", f"{call.type}: '{key}' must be a positive integer or a list of {rank} positive "
                               f"integer{'s' if rank > 1 else ''}, got {bound[key]!r}", where(key))
        if call.type in ("Bidirectional",) and isinstance(bound.get("layer"), ir.Call):
            inner = bound["layer"]
            if inner.fn in self.cat.layers and inner.fn not in _RECURRENT:
                self.error("K302", f"Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN ...), not {inner.fn}",
                           inner.span or where("layer"))
        if kind in _NO_STRIDED_DILATION:
            strides, dilation = bound.get("strides", 1), bound.get("dilation_rate", 1)
            if _max_int(strides) > 1 and _max_int(dilation) > 1:
                self.error("K302", f"{call.type}: strides > 1 cannot be combined with dilation_rate > 1 "
                           f"(strides={strides!r}, dilation_rate={dilation!r})", where("dilation_rate"))

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
        accepted = sig.accepted
        if not sig.varkw:
            for key in call.kwargs:
                if key not in accepted:
                    self.error("K302", f"invalid {what} {call.fn}(...): unexpected argument '{key}'",
                               call.at(key) if call.key_spans else where, did_you_mean(key, accepted))
                    return
        problem = _bind_problem(sig, len(call.args), {k: v for k, v in call.kwargs.items() if k in accepted})
        if problem is None:
            return
        kind, name = problem
        detail = {"twice": f"argument '{name}' is given twice",
                  "too_many": f"takes at most {len(sig.positional)} positional arguments, got {len(call.args)}",
                  "missing": f"needs argument '{name}'"}[kind]
        self.error("K302", f"invalid {what} {call.fn}(...): {detail}", where)


def _positive_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v > 0
    return isinstance(v, float) and v.is_integer() and v > 0


def _max_int(v: Any) -> int:
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return max(v, default=0)
    return 0


_RNN = ("LSTM", "GRU", "SimpleRNN")
_CONVS = tuple(f"{k}{r}D{t}" for r in (1, 2, 3) for k in ("Conv",) for t in ("", "Transpose"))
_SEPARABLE = ("SeparableConv1D", "SeparableConv2D")
_DEPTHWISE = ("DepthwiseConv1D", "DepthwiseConv2D")

#: Arguments Keras requires to be positive integers, by layer.
_POSITIVE: dict[str, tuple[str, ...]] = {
    "Dense": ("units",), "Embedding": ("input_dim", "output_dim"), "MultiHeadAttention": ("num_heads",),
    "RepeatVector": ("n",),
    **{t: ("units",) for t in _RNN}, **{t: ("filters",) for t in (*_CONVS, *_SEPARABLE)},
}
_RATE_LAYERS = frozenset({"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                          "AlphaDropout"})
#: The padding strings each convolution accepts (only Conv1D is causal).
_CONV_PADDING: dict[str, tuple[str, ...]] = {
    t: ("valid", "same", "causal") if t == "Conv1D" else ("valid", "same") for t in (*_CONVS, *_SEPARABLE, *_DEPTHWISE)
}
_NO_STRIDED_DILATION = frozenset(_CONVS)


_TUPLE_ARGS = ("kernel_size", "strides", "dilation_rate", "pool_size", "size")
_RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})
_SPATIAL_PREFIXES = ("Conv", "SeparableConv", "DepthwiseConv", "MaxPooling", "AveragePooling", "UpSampling")


def _spatial_rank(type_: str) -> int:
    """1/2/3 for ``Conv2D``, ``MaxPooling1D``, ``UpSampling3D`` ...; else 0."""
    for prefix in _SPATIAL_PREFIXES:
        rest = type_[len(prefix):]
        if type_.startswith(prefix) and rest[:2] in ("1D", "2D", "3D") and rest[2:] in ("", "Transpose"):
            return int(rest[0])
    return 0


def _int_tuple(v: Any, n: int) -> bool:
    if _positive_int(v):
        return True
    return isinstance(v, list) and len(v) == n and all(_positive_int(x) for x in v)


def _bind_problem(sig: Signature, n_args: int, kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """The first problem ``inspect.Signature.bind`` would report, if any:
    ``("twice", name)``, ``("too_many", "")`` or ``("missing", name)``."""
    positional = sig.positional
    for name in positional[:n_args]:
        if name in kwargs:
            return "twice", name
    if n_args > len(positional) and not sig.varargs:
        return "too_many", ""
    bound = set(positional[:n_args]) | set(kwargs)
    for p in sig.params:
        if p.required and p.name not in bound:
            return "missing", p.name
    return None


def check_layer_call(call: ir.LayerCall, model_names: set[str] | None = None) -> list[Diagnostic]:
    """Argument diagnostics for one inline layer."""
    checker = _Checker(catalogue(), model_names or set())
    checker.layer(call)
    return checker.diags


def _check_all(spec: ir.Spec) -> _Checker:
    checker = _Checker(catalogue(), {m.name for m in spec.models})
    for call in layer_calls(spec):
        checker.layer(call)
    return checker


def check_arguments(spec: ir.Spec) -> list[Diagnostic]:
    """Argument diagnostics for every inline layer of ``spec``."""
    return _check_all(spec).diags


def static_check(spec: ir.Spec) -> list[Diagnostic]:
    """Argument checks, then static shape inference; every diagnostic.

    Layers with argument errors get unknown shapes, so one mistake is
    reported once."""
    from kspec.compiler.shapes import infer_spec

    checker = _check_all(spec)
    return [*checker.diags, *infer_spec(spec, checker.bad).diagnostics]
