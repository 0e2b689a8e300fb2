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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kspec.catalogue import ALIASES, Catalogue, Signature, catalogue
from kspec.compiler.graph import model_callees
from kspec.compiler.naming import is_custom_layer
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic, did_you_mean
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
        problem = sig.bind_problem(len(call.args), call.kwargs)
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

        for key, rule in _value_rules(kind):
            if key in bound and not rule.ok(bound[key]):
                v = bound[key]
                hint = did_you_mean(v, rule.choices) if rule.choices and isinstance(v, str) else None
                self.error("K302", f"{call.type}: '{key}' must be {rule.expect}, got {v!r}", where(key), hint)
        self.cross(call, kind, bound, where)
        for prefix, key in (("ZeroPadding", "padding"), ("Cropping", "cropping")):
            rank = int(kind[len(prefix)]) if kind.startswith(prefix) and kind[len(prefix):] in ("1D", "2D", "3D") \
                else 0
            if rank and key in bound and not _pads(bound[key], rank):
                count = "two" if rank == 1 else f"{rank}"
                self.error("K302", f"{call.type}: '{key}' must be an integer of at least 0, {count} of them, or "
                           f"{rank} pairs (before, after), got {bound[key]!r}", where(key))
        rank = _spatial_rank(kind)
        if rank:
            for key in _TUPLE_ARGS:
                if key == "strides" and "Pooling" in kind and bound.get(key) is None:
                    continue  # pooling strides default to the pool size
                if kind == "UpSampling1D" and key == "size":
                    if not _positive_int(bound.get(key, 2)):
                        self.error("K302", f"UpSampling1D: 'size' must be a positive integer, got {bound[key]!r}",
                                   where(key))
                    continue
                if key in bound and bound[key] is not None and not _int_tuple(bound[key], rank):
                    self.error("K302", f"{call.type}: '{key}' must be a positive integer or a list of {rank} positive "
                               f"integer{'s' if rank > 1 else ''}, got {bound[key]!r}", where(key))
        for key in WRAPPED_LAYER_KEYS:
            value = bound.get(key)
            if key in bound and value is not None and not isinstance(value, (ir.Call, list)):
                self.error("K302", f"{call.type}: '{key}' must be a layer such as LSTM(8), got {value!r}", where(key))
        if kind == "SpectralNormalization" and isinstance(bound.get("layer"), ir.Call):
            inner = bound["layer"]
            if inner.fn in self.cat.layers and ALIASES.get(inner.fn, inner.fn) not in _SPECTRAL:
                self.error("K302", f"SpectralNormalization normalizes a layer with a kernel or embeddings (Dense, "
                           f"Conv2D, Embedding ...), not {inner.fn}", inner.span or where("layer"))
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

    def cross(self, call: ir.LayerCall, kind: str, bound: dict[str, Any],
              where: Callable[[str], Span | None]) -> None:
        """Constraints between two arguments that Keras checks in the constructor."""
        filters, groups = bound.get("filters", 0), bound.get("groups", 1)
        if kind in _CONVS and _positive_int(filters) and _positive_int(groups) and filters % groups:
            self.error("K302", f"{call.type}: {filters} filters cannot be split into {groups} groups: 'filters' "
                       "must be a multiple of 'groups'", where("groups"))
        if kind.endswith("Transpose") and bound.get("output_padding") is not None:
            rank = _spatial_rank(kind)
            pads, strides = _ints_or_none(bound["output_padding"], rank), _ints_or_none(bound.get("strides", 1), rank)
            if pads is not None and strides is not None and any(p >= s for p, s in zip(pads, strides, strict=True)):
                self.error("K302", f"{call.type}: 'output_padding' {bound['output_padding']!r} must be smaller than "
                           f"'strides' {bound.get('strides', 1)!r} in every dimension", where("output_padding"))
        q, kv = bound.get("num_query_heads", 0), bound.get("num_key_value_heads", 0)
        if kind == "GroupQueryAttention" and _positive_int(q) and _positive_int(kv) and q % kv:
            self.error("K302", f"{call.type}: {q} query heads cannot be shared by {kv} key/value heads: "
                       "'num_query_heads' must be a multiple of 'num_key_value_heads'", where("num_key_value_heads"))
        if _spatial_rank(kind) and "Pooling" not in kind and not kind.startswith("UpSampling"):
            for key, value in bound.items():
                if key.endswith("initializer") and isinstance(value, str) and value.lower() == "identity":
                    self.error("K302", f"{call.type}: the identity initializer only fits 2-D kernels; "
                               f"'{key}' here has {_spatial_rank(kind) + 2} dimensions", where(key))

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
        problem = sig.bind_problem(len(call.args), (k for k in call.kwargs if k in accepted))
        if problem is None:
            if what == "regularizer":
                for name, v in bind_args(sig, list(call.args), dict(call.kwargs)).items():
                    if name in ("l1", "l2", "factor") and not (_number(v) and v >= 0):
                        self.error("K302", f"invalid regularizer {call.fn}(...): '{name}' must be a number of at "
                                   f"least 0, got {v!r}", call.at(name) if name in call.kwargs else where)
            return
        kind, name = problem
        detail = {"twice": f"argument '{name}' is given twice",
                  "too_many": f"takes at most {len(sig.positional)} positional arguments, got {len(call.args)}",
                  "missing": f"needs argument '{name}'"}[kind]
        self.error("K302", f"invalid {what} {call.fn}(...): {detail}", where)


def _positive_int(v: Any) -> bool:
    """A true ``int`` above zero (Keras refuses ``4.0`` and ``True`` for sizes)."""
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _ints_or_none(v: Any, n: int) -> tuple[int, ...] | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return (v,) * n
    if isinstance(v, list) and len(v) == n and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(v)
    return None


def _pads(v: Any, rank: int) -> bool:
    """Padding or cropping for ``rank`` spatial axes: one size, one per
    axis (two for 1D: before and after), or a (before, after) pair per axis."""
    def size(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    if size(v):
        return True
    if not isinstance(v, list):
        return False
    if rank == 1:
        return len(v) == 2 and all(size(x) for x in v)
    return len(v) == rank and all(size(x) or (isinstance(x, list) and len(x) == 2 and all(size(y) for y in x))
                                  for x in v)


@dataclass(frozen=True)
class _ValueRule:
    """What Keras's constructor accepts for one argument."""

    ok: Callable[[Any], bool]
    expect: str  # "a positive integer", "one of 'dot', 'concat'"
    choices: tuple[str, ...] = ()


def _choice(*choices: str | None, fold: bool = False) -> _ValueRule:
    """One of ``choices`` (``None`` for an accepted null; ``fold``: any case)."""
    words = [c for c in choices if c is not None]

    def ok(v: Any) -> bool:
        if v is None:
            return None in choices
        return isinstance(v, str) and (v.lower() if fold else v) in words

    shown = ", ".join(f"'{c}'" for c in words) + (" or none" if None in choices else "")
    return _ValueRule(ok, f"one of {shown}", tuple(words))


_POSITIVE = _ValueRule(_positive_int, "a positive integer")
_POSITIVE_OR_NONE = _ValueRule(lambda v: v is None or _positive_int(v), "a positive integer or none")
_FRACTION = _ValueRule(lambda v: _number(v) and 0 <= v <= 1, "a number between 0 and 1")
_NON_NEGATIVE = _ValueRule(lambda v: _number(v) and v >= 0, "a number of at least 0")
_NON_NEGATIVE_OR_NONE = _ValueRule(lambda v: v is None or (_number(v) and v >= 0), "a number of at least 0 or none")
_INTEGER = _ValueRule(lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
_NAME_OR_NONE = _ValueRule(lambda v: v is None or isinstance(v, (str, ir.Call, dict)),
                           "a name such as \"relu\", or none")

#: Layer ``dtype`` values Keras knows (dtypes and mixed-precision policies);
#: anything else is a misspelling.
_DTYPES = ("float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16", "int8", "int16",
           "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string", "complex64", "complex128")

_RNN = ("LSTM", "GRU", "SimpleRNN")
_CONVS = tuple(f"{k}{r}D{t}" for r in (1, 2, 3) for k in ("Conv",) for t in ("", "Transpose"))
_SEPARABLE = ("SeparableConv1D", "SeparableConv2D")
_DEPTHWISE = ("DepthwiseConv1D", "DepthwiseConv2D")
_POOLS = tuple(f"{k}Pooling{r}D" for k in ("Max", "Average") for r in (1, 2, 3))
_CONV_LSTMS = ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
_ENCODING_MODES = ("one_hot", "multi_hot", "count")

#: Argument rules by layer (aliases resolved), as Keras's constructors check them.
_LAYER_RULES: dict[str, dict[str, _ValueRule]] = {
    "Dense": {"units": _POSITIVE},
    "Embedding": {"input_dim": _POSITIVE, "output_dim": _POSITIVE},
    "ReversibleEmbedding": {"input_dim": _POSITIVE, "output_dim": _POSITIVE},
    "MultiHeadAttention": {"num_heads": _POSITIVE, "key_dim": _POSITIVE, "value_dim": _POSITIVE_OR_NONE},
    "GroupQueryAttention": {"head_dim": _POSITIVE, "num_query_heads": _POSITIVE, "num_key_value_heads": _POSITIVE},
    "RepeatVector": {"n": _POSITIVE},
    "Bidirectional": {"merge_mode": _choice("sum", "mul", "ave", "concat", None)},
    "Attention": {"score_mode": _choice("dot", "concat")},
    "CategoryEncoding": {"num_tokens": _POSITIVE, "output_mode": _choice(*_ENCODING_MODES)},
    "Discretization": {"output_mode": _choice("int", *_ENCODING_MODES)},
    "Hashing": {"num_bins": _POSITIVE, "output_mode": _choice("int", *_ENCODING_MODES)},
    "HashedCrossing": {"num_bins": _POSITIVE, "output_mode": _choice("int", "one_hot")},
    "IntegerLookup": {"output_mode": _choice("int", *_ENCODING_MODES, "tf_idf")},
    "StringLookup": {"output_mode": _choice("int", *_ENCODING_MODES, "tf_idf")},
    "TextVectorization": {"output_mode": _choice("int", "multi_hot", "count", "tf_idf")},
    "LeakyReLU": {"negative_slope": _NON_NEGATIVE},
    "ReLU": {"max_value": _NON_NEGATIVE_OR_NONE, "negative_slope": _NON_NEGATIVE, "threshold": _NON_NEGATIVE},
    "GaussianNoise": {"stddev": _FRACTION},
    "GroupNormalization": {"groups": _POSITIVE},
    "BatchNormalization": {"axis": _INTEGER},
    **{t: {"rate": _FRACTION} for t in ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                                         "GaussianDropout", "AlphaDropout")},
    **{t: {"units": _POSITIVE} for t in _RNN},
    **{t: {"filters": _POSITIVE, "groups": _POSITIVE} for t in _CONVS},
    **{t: {"filters": _POSITIVE} for t in _CONV_LSTMS},
    **{t: {"filters": _POSITIVE, "depth_multiplier": _POSITIVE} for t in _SEPARABLE},
    **{t: {"depth_multiplier": _POSITIVE} for t in _DEPTHWISE},
    **{t: {"padding": _choice("valid", "same")} for t in _POOLS},
}
for _t in (*_CONVS, *_SEPARABLE, *_DEPTHWISE, *_CONV_LSTMS):
    _causal = ("causal",) if _t == "Conv1D" else ()
    _LAYER_RULES[_t]["padding"] = _choice("valid", "same", *_causal, fold=True)

#: Rules for arguments any layer may take.
_COMMON_RULES: dict[str, _ValueRule] = {
    "data_format": _choice("channels_first", "channels_last", None, fold=True),
    "dtype": _ValueRule(lambda v: not isinstance(v, str) or v in _DTYPES, "a dtype such as \"float32\"",
                        _DTYPES),  # a policy object (a call or a config) is Keras's to judge
    "activation": _NAME_OR_NONE, "recurrent_activation": _NAME_OR_NONE,
}


def _value_rules(kind: str) -> Iterator[tuple[str, _ValueRule]]:
    yield from _LAYER_RULES.get(kind, {}).items()
    yield from _COMMON_RULES.items()


#: Layers SpectralNormalization can wrap: they have a ``kernel`` or ``embeddings``.
_SPECTRAL = frozenset({"Dense", "EinsumDense", "Embedding", *_CONVS, *_DEPTHWISE})


def _max_int(v: Any) -> int:
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return max(v, default=0)
    return 0


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
