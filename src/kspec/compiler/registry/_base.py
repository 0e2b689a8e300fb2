"""The registry's building blocks: what a layer's rules are made of, and how
a family module registers them.

A family module creates one :class:`Family` and adds each of its layers with
:meth:`Family.add`: the argument rules (a value rule of
:mod:`kspec.compiler.calls` per argument, plus checks between arguments) and the shape rule side by side, keyed by the
layer's catalogue name. Keras's other names for a layer (``catalogue.ALIASES``)
resolve in :func:`lookup`, and nowhere else.

Shapes: a shape is a tuple whose first entry is the batch size (``None``); an
unknown shape is ``None``. A shape rule maps a :class:`Ctx` to the layer's
output shapes and parameter count; it raises :class:`ShapeError` for a
mismatch Keras would reject, and :class:`Unknown` when it cannot tell.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import field
from functools import lru_cache
from typing import Any

from kspec._records import record
from kspec.catalogue import ALIASES, Signature, catalogue
from kspec.compiler.calls import ValueRule, choice
from kspec.spec import ir
from kspec.spec.diagnostics import did_you_mean
from kspec.spec.kspec_printer import format_value

__all__ = [
    "COMMON_ARGS", "REFERENCE_KEYS", "WRAPPED_LAYER_KEYS", "Args", "Check", "Ctx", "Family", "Given", "Kernel",
    "Layer", "Problem",
    "Result", "Rule", "Shape", "ShapeError", "TShape", "Unknown", "Unknowns", "argument_problems", "families",
    "fmt_all", "fmt_shape", "lookup", "spec_text", "unknowns",
    "wrapped_references",
]

Shape = tuple[int | None, ...]
TShape = Shape | None

#: Arguments whose call values are layers (``Bidirectional(layer=LSTM(8))``).
WRAPPED_LAYER_KEYS = ("layer", "backward_layer", "cell", "cells")
#: Arguments of a wrapper whose value may also be a name: a named layer or
#: another model of the spec (``TimeDistributed(frame_cnn)``), the very
#: layer object that name stands for, as in Keras code.
REFERENCE_KEYS = ("layer", "backward_layer")


# --------------------------------------------------------------------------
# Shapes


class ShapeError(Exception):
    """A shape mismatch Keras would reject (the message names the shapes)."""


class Unknown(Exception):
    """A rule cannot tell: the result is unknown (never an error)."""


class Unknowns(list[TShape]):
    """The results of a layer kspec cannot infer: not even how many there
    are, so destructuring them is never reported as a count mismatch."""


def unknowns() -> list[TShape]:
    """The result of a layer without a usable rule."""
    return Unknowns([None])


def fmt_shape(shape: TShape) -> str:
    """``(None, 32)``, ``(None,)``, or ``?`` for an unknown shape."""
    if shape is None:
        return "?"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def fmt_all(shapes: list[TShape]) -> str:
    """Several shapes for a message: ``(None, 4) and (None, 5)``."""
    return " and ".join(fmt_shape(s) for s in shapes) if shapes else "no tensors"


class Args:
    """A layer's arguments by name, with the catalogue's defaults."""

    def __init__(self, call: ir.LayerCall | ir.Call, sig: Signature) -> None:
        self.sig = sig
        self.values: dict[str, Any] = sig.bind(list(call.args), dict(call.kwargs))

    def get(self, name: str, default: Any = None) -> Any:
        """The argument as given, else the catalogue's default, else ``default``."""
        if name in self.values:
            return self.values[name]
        d = self.sig.default(name)
        return default if d is None else d

    def given(self, name: str) -> bool:
        """Whether the spec gives this argument."""
        return name in self.values


#: A shape rule's answer: the output shapes and the parameter count.
Result = tuple[list[TShape], int | None]
Rule = Callable[["Ctx"], Result]


@record
class Ctx:
    """What a rule sees: the layer type, its arguments, the input shapes
    (all known), and the call's keyword arguments (tensors as shapes)."""

    type: str
    args: Args
    inputs: list[Shape]
    call: dict[str, Any]
    #: The rule of a wrapped layer: an inline one (``ir.Call``), or a named
    #: layer or model of the spec given by its name.
    sub: Callable[[ir.Call | str, list[TShape]], Result]

    def one(self) -> Shape:
        """The single input tensor's shape (a layer that takes one)."""
        if len(self.inputs) != 1:
            raise ShapeError(f"{self.type} takes one tensor, got {len(self.inputs)}: {fmt_all(list(self.inputs))}")
        return self.inputs[0]

    def rank(self, shape: Shape, rank: int) -> None:
        """Refuse an input whose rank is not ``rank``."""
        if len(shape) != rank:
            raise ShapeError(f"{self.type} expects an input of rank {rank}, got {fmt_shape(shape)}")

    def min_rank(self, shape: Shape, rank: int) -> None:
        """Refuse an input of rank below ``rank``."""
        if len(shape) < rank:
            raise ShapeError(f"{self.type} expects an input of rank {rank} or more, got {fmt_shape(shape)}")


# --------------------------------------------------------------------------
# Argument values: stated with the value rules of :mod:`kspec.compiler.calls`

#: Layer ``dtype`` values Keras knows (dtypes and mixed-precision policies);
#: anything else is a misspelling.
_DTYPES = ("float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16", "int8", "int16",
           "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string", "complex64", "complex128")
_NAME_OR_NONE = ValueRule(lambda v: v is None or isinstance(v, (str, ir.Call, dict)),
                          "a name such as \"relu\", or none")

#: Rules for arguments any layer may take.
COMMON_ARGS: dict[str, ValueRule] = {
    "data_format": choice("channels_first", "channels_last", None, fold=True),
    "dtype": ValueRule(lambda v: not isinstance(v, str) or v in _DTYPES, "a dtype such as \"float32\"",
                       _DTYPES),  # a policy object (a call or a config) is Keras's to judge
    "activation": _NAME_OR_NONE, "recurrent_activation": _NAME_OR_NONE,
}


@record(frozen=True)
class Given:
    """What an argument check sees: the layer type as written, its catalogue
    name (aliases resolved) and its arguments by name (without defaults)."""

    type: str
    kind: str
    args: dict[str, Any]


@record(frozen=True)
class Problem:
    """An argument value Keras's constructor refuses: the message, the
    argument it is about, and a location when it is not that argument's
    (a wrapped layer's own call)."""

    message: str
    key: str
    span: ir.Span | None = None
    hint: str | None = None


#: A check between arguments (or of a value no :class:`ValueRule` can state).
Check = Callable[[Given], Iterator[Problem]]
#: The last dimension of a layer's kernel or embeddings, from its arguments
#: and input shape: what the spectral-normalization wrapper needs of a layer it wraps
#: (``None``: not known).
Kernel = Callable[[Args, Shape], Any]


# --------------------------------------------------------------------------
# Registration


@record(frozen=True)
class Layer:
    """Everything kspec knows about one layer beyond its catalogue signature.

    Exactly one of ``shape`` (its shape rule) and ``unknown`` (why it has
    none: inference goes on around it) is set."""

    name: str
    family: str
    shape: Rule | None = None
    unknown: str | None = None
    args: Mapping[str, ValueRule] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    #: Set for layers the spectral-normalization wrapper may wrap.
    kernel: Kernel | None = None
    #: A merging layer: it takes two or more tensors.
    merges: bool = False
    #: Why a spec may never build this layer (it would run or load code:
    #: Lambda, SavedModels, framework callables), with a hint; ``None`` for
    #: every layer a spec may use.
    refused: tuple[str, str] | None = None
    #: Arguments that name a file (a vocabulary): read relative to the
    #: spec's directory and confined to it (or to ``--allow-dir``).
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.shape is None) == (self.unknown is None):
            raise ValueError(f"{self.name}: give a shape rule or the reason it has none, not both or neither")


_FAMILIES: list[Family] = []
_INDEX: dict[str, Layer] = {}


class Family:
    """The layers of one registry module, in the order they are added."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.layers: dict[str, Layer] = {}
        _FAMILIES.append(self)

    def add(self, name: str, *, shape: Rule | None = None, unknown: str | None = None,
            args: Mapping[str, ValueRule] | None = None, checks: tuple[Check, ...] = (),
            kernel: Kernel | None = None, merges: bool = False, refused: tuple[str, str] | None = None,
            paths: tuple[str, ...] = ()) -> None:
        """Register layer ``name`` (its catalogue name, never an alias)."""
        if name in _INDEX or name in ALIASES:
            raise ValueError(f"{name} is registered twice, or is an alias")
        layer = Layer(name, self.name, shape, unknown, dict(args or {}), checks, kernel, merges, refused, paths)
        self.layers[name] = _INDEX[name] = layer


def families() -> list[Family]:
    """Every family registered so far (all of them once the package is imported)."""
    return list(_FAMILIES)


def lookup(type_name: str) -> Layer | None:
    """The registered layer a type name means (Keras's aliases resolved)."""
    return _INDEX.get(ALIASES.get(type_name, type_name))


def argument_problems(type_name: str, bound: dict[str, Any], references: Collection[str] = ()) -> Iterator[Problem]:
    """Every argument value Keras's constructor would refuse, in a fixed
    order: the layer's value rules, the rules for any layer, wrapped layers
    that are not layers, then the layer's own checks. ``references`` are the
    names a wrapper may be given instead of an inline layer (the named
    layers of the model and the other models of the spec)."""
    layer = lookup(type_name)
    rules = layer.args if layer is not None else {}
    for key, rule in (*rules.items(), *COMMON_ARGS.items()):
        if key in bound and not rule.accepts(bound[key], bound):
            v = bound[key]
            yield Problem(f"{type_name}: '{key}' must be {rule.expect}, got {spec_text(v)}", key, hint=rule.hint(v))
    for key in WRAPPED_LAYER_KEYS:
        value = bound.get(key)
        if key in REFERENCE_KEYS and isinstance(value, str):
            if value not in references:
                yield Problem(f"{type_name}: '{key}' must be a layer such as LSTM(8), or a named layer or model "
                              f"of the spec; '{value}' is neither", key,
                              hint=did_you_mean(value, references) or "define it first: name = LSTM(8)")
        elif key in bound and value is not None and not isinstance(value, (ir.Call, list)):
            yield Problem(f"{type_name}: '{key}' must be a layer such as LSTM(8), got {spec_text(value)}", key)
    if layer is not None:
        given = Given(type_name, layer.name, bound)
        for check in layer.checks:
            yield from check(given)


def spec_text(value: Any) -> str:
    """A value for a message: a value that holds an IR node (``l2(0.01)``, a
    tensor reference) as a spec writes it, never the node's fields; plain
    data as Python shows it (``'vaild'``), as messages always have."""
    if not _holds_node(value):
        return repr(value)
    try:
        return format_value(value)
    except Exception:  # pragma: no cover - every IR value prints
        return repr(value)


def _holds_node(value: Any) -> bool:
    if isinstance(value, ir.IRNode):
        return True
    if isinstance(value, list):
        return any(_holds_node(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_node(v) for v in value.values())
    return False


def wrapped_references(call: ir.LayerCall) -> list[tuple[str, str]]:
    """The names a wrapper is given instead of an inline layer, with their
    argument: ``TimeDistributed(frame_cnn)`` gives ``[("layer", "frame_cnn")]``.
    A name stands for a named layer of the model or another model of the
    spec; :mod:`kspec.compiler.arguments` checks that it is one."""
    slots = _reference_slots(call.type)
    if slots is None:
        return []
    found: list[tuple[str, str]] = []
    for key, at in slots:  # each argument as Signature.bind would bind it, without binding the rest
        if key in call.kwargs:
            value = call.kwargs[key]
        elif at is not None and at < len(call.args):
            value = call.args[at]
        else:
            continue
        if isinstance(value, str):
            found.append((key, value))
    return found


@lru_cache(maxsize=1024)
def _reference_slots(type_name: str) -> tuple[tuple[str, int | None], ...] | None:
    """Each of :data:`REFERENCE_KEYS` with where a layer type takes it
    positionally (``None``: by keyword only, or not at all); ``None`` for a
    type the catalogue does not know."""
    sig = catalogue().layers.get(ALIASES.get(type_name, type_name))
    if sig is None:
        return None
    return tuple((key, sig.position.get(key)) for key in REFERENCE_KEYS)
