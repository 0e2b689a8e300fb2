"""The kspec intermediate representation (IR).

Both front ends (the ``.kspec`` language and the YAML form) produce these
models, and the runtime lowers them to Keras. Every node may carry a source
``span``; spans are kept out of equality and out of the serialized form, so
two specs that say the same thing are equal wherever they came from.

Argument values (``Value``) are plain data: ``None``, ``bool``, ``int``,
``float``, ``str``, lists, string-keyed dicts, and the IR nodes :class:`Call`
(``l2(0.01)``), :class:`Ref` (a tensor named in a call argument), and the
expression nodes of the language (:class:`Var`, :class:`BinOp`, ...) that
block expansion evaluates away before lowering.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
    model_validator,
)

__all__ = [
    "BUILTINS",
    "KEY_SPANS_KEY",
    "SPAN_KEY",
    "Assign",
    "Attr",
    "BinOp",
    "Block",
    "BlockStatement",
    "Call",
    "Callee",
    "Cond",
    "Dim",
    "EllipsisValue",
    "Expr",
    "For",
    "Format",
    "FunctionalModel",
    "IRNode",
    "If",
    "Index",
    "Input",
    "LayerCall",
    "LayerDef",
    "LayerRef",
    "Model",
    "Op",
    "Output",
    "Param",
    "Ref",
    "Section",
    "SequentialModel",
    "Slice",
    "Space",
    "Span",
    "Spec",
    "Step",
    "Structure",
    "StructureKind",
    "UnaryOp",
    "Var",
]

#: Front ends may put these keys into raw mappings; IR nodes pop them into
#: ``span`` and ``key_spans`` before validation.
SPAN_KEY = "__span__"
KEY_SPANS_KEY = "__key_spans__"


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file: 1-based line and column, end exclusive.

    A plain slotted dataclass, not a pydantic model: a spec holds one span
    per node and per key (thousands per file), and spans are never
    validated or serialized, so they should cost no more than a tuple.
    """

    file: str = "<string>"
    line: int = 1
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None
    #: Set by block expansion: the call site this code was expanded from,
    #: and the block's name (renderers add a note pointing at the call).
    via: Span | None = None
    via_block: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def replace(self, **changes: Any) -> Span:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls)


class IRNode(BaseModel):
    """Base of every IR node: frozen, strict about unknown fields, span-aware.

    ``span`` locates the node in its source; ``key_spans`` locates its
    keyword arguments or fields (for example where ``units=`` was written).
    Neither takes part in equality or serialization.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    span: Span | None = Field(default=None, exclude=True, repr=False)
    key_spans: dict[str, Span] = Field(default_factory=dict, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _pop_spans(cls, data: Any) -> Any:
        if isinstance(data, dict) and (SPAN_KEY in data or KEY_SPANS_KEY in data):
            data = dict(data)
            span = data.pop(SPAN_KEY, None)
            key_spans = data.pop(KEY_SPANS_KEY, None)
            if span is not None and "span" not in data:
                data["span"] = span
            if key_spans is not None and "key_spans" not in data:
                data["key_spans"] = key_spans
        return data

    def _semantic(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in type(self).model_fields if k not in ("span", "key_spans")}

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, IRNode)
        return self._semantic() == other._semantic()

    def __hash__(self) -> int:  # pragma: no cover - nodes hold lists and dicts
        raise TypeError(f"unhashable IR node {type(self).__name__}")

    def at(self, key: str | None = None) -> Span | None:
        """The span of field/argument ``key`` if known, else of the node."""
        if key is not None and key in self.key_spans:
            return self.key_spans[key]
        return self.span


# --------------------------------------------------------------------------
# Values


def _tag_values(data: Any) -> Any:
    """Route dicts carrying a ``kind`` tag to the matching node type.

    Plain dicts remain dict literals; a literal dict that itself has a
    ``kind`` key is written as ``{"kind": "dict", "items": {...}}``.
    """
    if isinstance(data, list):
        return [_tag_values(v) for v in data]
    if isinstance(data, dict):
        kind = data.get("kind")
        if kind == "dict" and set(data) - {SPAN_KEY, KEY_SPANS_KEY} == {"kind", "items"}:
            return {k: _tag_values(v) for k, v in data["items"].items()}
        cls = _VALUE_KINDS.get(kind) if isinstance(kind, str) else None
        if cls is not None:
            return cls.model_validate(data)
        return {k: _tag_values(v) for k, v in data.items() if k not in (SPAN_KEY, KEY_SPANS_KEY)}
    return data


_VALUE_KINDS: dict[str, type[IRNode]] = {}  # filled once the node classes exist


class _ValueHolder(IRNode):
    """Mixin: tag nested value dicts before pydantic sees them."""

    @model_validator(mode="before")
    @classmethod
    def _tag(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in ("args", "kwargs", "left", "right", "operand", "test", "then", "otherwise", "parts", "call_kwargs"):
            if key in out:
                out[key] = _tag_values(out[key])
        return out





def _check_value(data: Any) -> Any:
    """Validate an argument value: plain data or a tagged IR value node."""
    data = _tag_values(data)
    _ensure_plain(data)
    return data


def _ensure_plain(data: Any) -> None:
    if data is None or isinstance(data, (bool, int, float, str, IRNode)):
        return
    if isinstance(data, list):
        for item in data:
            _ensure_plain(item)
        return
    if isinstance(data, tuple):
        raise ValueError("tuples are not values; use a list")
    if isinstance(data, dict):
        for key, item in data.items():
            if not isinstance(key, str):
                raise ValueError(f"dictionary keys must be strings, got {key!r}")
            _ensure_plain(item)
        return
    raise ValueError(f"not a spec value: {type(data).__name__}")


#: An argument value. Plain data, or one of the value nodes above.
Value = Annotated[Any, BeforeValidator(_check_value), WithJsonSchema({"description": "a kspec value"})]


#: Functions a value may call that expansion computes (``int(x)``,
#: ``max(8, units // 2)``, ``len(filters)``); every other call is an object
#: Keras builds (``l2(0.01)``).
BUILTINS = frozenset({"int", "float", "min", "max", "round", "len"})


class Call(_ValueHolder):
    """A call in argument position: ``l2(0.01)``, ``GlorotUniform(seed=1)``,
    ``Bidirectional(LSTM(8))``'s inner layer, ``Adam(learning_rate=1e-3)``."""

    kind: Literal["call"] = "call"
    fn: str
    args: list[Value] = Field(default_factory=list)
    kwargs: dict[str, Value] = Field(default_factory=dict)

    def __repr__(self) -> str:
        """The call as a spec writes it (``l2(0.01)``), so that messages
        which show a value show this, not the node's fields."""
        parts = [_spec_repr(a) for a in self.args] + [f"{k}={_spec_repr(v)}" for k, v in self.kwargs.items()]
        return f"{self.fn.replace('>', '::')}({', '.join(parts)})"


def _spec_repr(value: Any) -> str:
    """A plain value as a spec writes it (``"relu"``, ``true``, ``none``)."""
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_spec_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_spec_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


class Ref(IRNode):
    """A tensor named inside a call argument, e.g. ``initial_state=[h, c]``."""

    kind: Literal["ref"] = "ref"
    name: str


class Var(IRNode):
    """A block or file parameter (or loop index) used in a value."""

    kind: Literal["var"] = "var"
    name: str


class BinOp(_ValueHolder):
    """``left op right`` on parameter values; evaluated by block expansion."""

    kind: Literal["binop"] = "binop"
    op: Literal["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
    left: Value
    right: Value


class UnaryOp(_ValueHolder):
    """``-x`` or ``not x`` on parameter values."""

    kind: Literal["unary"] = "unary"
    op: Literal["-", "not"]
    operand: Value


class Cond(_ValueHolder):
    """``then if test else otherwise``."""

    kind: Literal["cond"] = "cond"
    test: Value
    then: Value
    otherwise: Value


class Format(_ValueHolder):
    """A string with ``{expr}`` holes, e.g. ``"stage{i}"``: parts alternate
    literal text and values."""

    kind: Literal["format"] = "format"
    parts: list[Value]


class Index(IRNode):
    """``value[index]``: an item of a list or tuple (``filters[i]``,
    ``x.shape[-1]``); a negative index counts from the end."""

    kind: Literal["index"] = "index"
    value: Value
    index: Value


class Attr(IRNode):
    """``value.name``: only a tensor's static shape, ``x.shape`` (batch
    dimension first, as Keras gives it), whose ``value`` is a :class:`Ref`."""

    kind: Literal["attr"] = "attr"
    value: Value
    name: Literal["shape"] = "shape"


_VALUE_KINDS.update(
    {"call": Call, "ref": Ref, "var": Var, "binop": BinOp, "unary": UnaryOp, "cond": Cond, "format": Format,
     "index": Index, "attr": Attr}
)


ExprValue = Call | Ref | Var | BinOp | UnaryOp | Cond | Format | Index | Attr


class Op(_ValueHolder):
    """A tensor operation: a ``keras.ops`` function by name (``fn``: ``"add"``,
    ``"mean"``, ``"get_item"`` ...) with its arguments, as ``x + y``,
    ``x[:, 0]`` or ``ops.mean(x, axis=1)`` write it.

    In a chain (a :class:`Step`), the chain's tensor is the operation's first
    argument and ``args`` are the ones after it (``x + 3.0`` is
    ``Expr(inputs=["x"], steps=[Step(layer=Op(fn="add", args=[3.0]))])``);
    as the first step of an expression without inputs, or nested as a value
    inside another operation's arguments, ``args`` are all of them. Tensors
    in the arguments are :class:`Ref` values. Keras builds and serializes
    each operation as an operation layer (``module: keras.src.ops.numpy``)."""

    kind: Literal["op"] = "op"
    fn: str
    args: list[Value] = Field(default_factory=list)
    kwargs: dict[str, Value] = Field(default_factory=dict)


class Slice(_ValueHolder):
    """``start:stop:step`` in a tensor subscript (``x[:, 1:3]``); a part
    left out is ``None``."""

    kind: Literal["slice"] = "slice"
    start: Value = None
    stop: Value = None
    step: Value = None

    @model_validator(mode="before")
    @classmethod
    def _tag_parts(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: _tag_values(v) if k in ("start", "stop", "step") else v for k, v in data.items()}
        return data


class EllipsisValue(IRNode):
    """``...`` in a tensor subscript (``x[..., 0]``)."""

    kind: Literal["ellipsis"] = "ellipsis"


_VALUE_KINDS.update({"op": Op, "slice": Slice, "ellipsis": EllipsisValue})

#: Values of tensor operations (they hold tensors; never parameter arithmetic).
TensorValue = Op | Slice | EllipsisValue


# --------------------------------------------------------------------------
# Layers and tensors


class LayerCall(_ValueHolder):
    """An inline layer: ``Dense(64, activation="relu")``.

    Each use builds a new layer (new weights). ``type`` is a Keras layer
    class name, or the name of a block (expanded before lowering).
    """

    kind: Literal["layer"] = "layer"
    type: str
    args: list[Value] = Field(default_factory=list)
    kwargs: dict[str, Value] = Field(default_factory=dict)


class LayerRef(IRNode):
    """A use of something named: a named layer or stack (shared weights) or
    another model of the spec (a shared sub-model)."""

    kind: Literal["ref"] = "ref"
    ref: str


Callee = LayerCall | LayerRef | Op


class Step(_ValueHolder):
    """One application in a chain: the layer, plus keyword arguments of the
    call itself (``initial_state=[h, c]``, ``value=v``, ``training=false``).

    Tensors in ``call_kwargs`` are :class:`Ref` values."""

    layer: LayerCall | LayerRef | Op = Field(discriminator="kind")
    call_kwargs: dict[str, Value] = Field(default_factory=dict)


class Expr(IRNode):
    """A tensor expression: ``inputs`` (tensor names, positional) fed to the
    first step, each later step applied to the result of the one before.

    With no steps, ``inputs`` must name exactly one tensor (a plain
    reference)."""

    inputs: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Expr:
        if not self.steps and len(self.inputs) != 1:
            raise ValueError("an expression without layers must name exactly one tensor")
        return self


def _check_dim(data: Any) -> Any:
    """A dimension of an input's shape: a size, ``None``, or a parameter
    expression (``latent_dim``) that block expansion computes."""
    data = _tag_values(data)
    if isinstance(data, (Var, BinOp, UnaryOp, Cond, Call, Index, Attr)):
        return data
    return _SIZE.validate_python(data)


_SIZE: TypeAdapter[int | None] = TypeAdapter(int | None)

#: A dimension of an input's shape (typed ``Any``: after expansion, always
#: an ``int`` or ``None``).
Dim = Annotated[Any, BeforeValidator(_check_dim),
                WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "null"}, {"description": "a kspec value"}]})]


class Input(IRNode):
    """A model input: ``input image: (None, None, 3) float32``.

    ``shape`` excludes the batch dimension; ``None`` is an unknown size; a
    dimension may be a parameter expression (``(latent_dim,)``) until
    expansion computes it."""

    name: str
    shape: list[Dim]
    dtype: str = "float32"
    batch_size: int | None = None
    sparse: bool = False

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: list[Any]) -> list[Any]:
        for d in shape:
            if isinstance(d, int) and d <= 0:
                raise ValueError(f"dimensions must be positive or None, got {d}")
        return shape


class LayerDef(IRNode):
    """A named layer or named stack: one set of weights however often it is
    applied (``encoder = Embedding(1000, 64) -> LSTM(32)``)."""

    name: str
    stack: list[LayerCall | LayerRef] = Field(min_length=1)


class Assign(IRNode):
    """``h = x -> Dense(8)``; several targets destructure a layer's several
    results (``seq, h, c = x -> LSTM(8, return_state=true)``)."""

    targets: list[str] = Field(min_length=1)
    value: Expr


class Output(IRNode):
    """A named model output, by which losses and metrics are keyed: with
    ``outputs as dict`` its key in the model's outputs; otherwise the Keras
    name of the layer that produces it (an ``Identity`` layer carries it
    when that layer cannot take it)."""

    name: str
    value: Expr


#: How a functional model hands its inputs or outputs to ``keras.Model``:
#: ``"list"`` a list (even of one tensor), ``"dict"`` a dict keyed by their
#: names. Not given: one tensor when there is one, a list otherwise.
StructureKind = Literal["list", "dict"]


class Structure(IRNode):
    """The structure of a functional model's inputs and of its outputs
    (``inputs as dict``, ``outputs as list``; YAML ``structure: {inputs:
    dict}``). ``None`` is the default: one tensor, or a list of several.
    ``key_spans`` locate ``"inputs"`` and ``"outputs"`` where they are
    written."""

    inputs: StructureKind | None = None
    outputs: StructureKind | None = None


class FunctionalModel(IRNode):
    """A DAG model lowered through the Keras Functional API. Statements may
    appear in any order; kspec sorts them by their dependencies."""

    kind: Literal["functional"] = "functional"
    name: str
    structure: Structure = Field(default_factory=Structure)
    inputs: list[Input] = Field(default_factory=list)
    layers: list[LayerDef] = Field(default_factory=list)
    nodes: list[Assign] = Field(default_factory=list)
    outputs: list[Output] = Field(default_factory=list)


class SequentialModel(IRNode):
    """A plain stack lowered to ``keras.Sequential``."""

    kind: Literal["sequential"] = "sequential"
    name: str
    input: Input | None = None
    layers: list[LayerCall | LayerRef] = Field(default_factory=list)


Model = FunctionalModel | SequentialModel


class Section(_ValueHolder):
    """A ``compile`` or ``train`` section: settings for one model, as plain
    values (``optimizer``, ``loss``, ``epochs``, ``callbacks`` ...). They are
    validated by :mod:`kspec.compiler.sections`, not here, so that both front
    ends stay simple."""

    model: str
    settings: dict[str, Value] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _tag_settings(cls, data: Any) -> Any:
        if isinstance(data, dict) and "settings" in data:
            data = {**data, "settings": _tag_values(data["settings"])}
        return data


def _model_kind(data: Any) -> str:
    if isinstance(data, dict):
        kind = data.get("kind", "functional")
        return kind if kind in ("functional", "sequential") else "functional"
    return "sequential" if isinstance(data, SequentialModel) else "functional"


#: A model of either kind; errors name only the fields of the kind given.
AnyModel = Annotated[
    Annotated[FunctionalModel, Tag("functional")] | Annotated[SequentialModel, Tag("sequential")],
    Discriminator(_model_kind),
]


class Space(_ValueHolder):
    """The search space of a file parameter: the values ``kspec tune`` may
    give it (``param units: int = 64 in [32, 64, 128]``).

    ``kind`` is ``choice`` (``values`` are the candidates), ``range`` (an
    evenly spaced range: ``values`` are ``[low, high]`` or ``[low, high,
    step]``, both ends included) or ``log`` (sampled on a log scale:
    ``[low, high]`` or ``[low, high, factor]``). The values are checked by
    :mod:`kspec.compiler.spaces`, so both front ends report the same
    located errors."""

    kind: Literal["choice", "range", "log"]
    values: list[Value] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _tag_space(cls, data: Any) -> Any:
        if isinstance(data, dict) and "values" in data:
            data = {**data, "values": _tag_values(data["values"])}
        return data

    @model_validator(mode="after")
    def _bounds(self) -> Space:
        if self.kind != "choice" and len(self.values) not in (2, 3):
            raise ValueError(f"a {self.kind} space has a low and a high bound and an optional step")
        return self


class Param(_ValueHolder):
    """A parameter: file-level (``param width: int = 64``, overridable with
    ``-D width=128``) or of a block (``filters: int``, ``stride: int = 1``).

    ``type`` is one of ``int``, ``float``, ``bool``, ``str``, ``any`` or
    ``None`` (untyped). ``has_default`` tells a default of ``none`` from no
    default at all. ``space`` (file parameters only) is the set of values a
    search may try; builds use the default."""

    name: str
    type: str | None = None
    default: Value = None
    has_default: bool = False
    space: Space | None = None

    @model_validator(mode="before")
    @classmethod
    def _tag_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "default" in data:
            data = {**data, "default": _tag_values(data["default"])}
        return data


class For(_ValueHolder):
    """``for i in range(start, stop, step) { ... }`` or ``for units in
    [64, 32] { ... }`` inside a block: the body is expanded once per value
    of ``var``, taken from ``range`` or from the list or tuple ``over``
    (exactly one of the two is given). Names assigned in the body may be
    rebound on each pass (``x = x -> unit(filters)``)."""

    kind: Literal["for"] = "for"
    var: str
    range: list[Value] = Field(default_factory=list, max_length=3)
    over: Value = None
    body: list[BlockStatement] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _tag_range(cls, data: Any) -> Any:
        if isinstance(data, dict) and "range" in data:
            data = {**data, "range": _tag_values(data["range"])}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> For:
        if (self.over is None) == (not self.range):
            raise ValueError("a loop runs over range(...) or over a list, one of the two")
        return self


class If(IRNode):
    """``if test { ... } else { ... }`` inside a block: expansion keeps
    ``body`` when ``test`` is true, ``orelse`` otherwise. ``else if`` is an
    ``orelse`` holding one :class:`If`."""

    kind: Literal["if"] = "if"
    test: Value
    body: list[BlockStatement] = Field(default_factory=list)
    orelse: list[BlockStatement] = Field(default_factory=list)


BlockStatement = Annotated[Assign | For | If, Field(union_mode="smart")]


class Block(IRNode):
    """A parameterised subgraph: ``block residual(x, filters: int) {...}``.

    ``inputs`` are its tensor parameters; ``params`` its value parameters.
    Inside a block statements run in order and a name may be rebound. A call
    ``y = x -> residual(64)`` is replaced by the block's statements before
    lowering (see :mod:`kspec.compiler.expand`)."""

    name: str
    inputs: list[str] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    body: list[BlockStatement] = Field(default_factory=list)
    returns: list[Expr] = Field(min_length=1)


class Spec(IRNode):
    """A spec file: one or more models, and how each is compiled/trained.

    ``params``, ``blocks`` and ``uses`` (files whose blocks this one uses)
    belong to the language's abstraction layer; expansion removes them."""

    models: list[AnyModel] = Field(default_factory=list)
    compile: list[Section] = Field(default_factory=list)
    train: list[Section] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    blocks: list[Block] = Field(default_factory=list)
    uses: list[str] = Field(default_factory=list)

    def model(self, name: str | None = None) -> FunctionalModel | SequentialModel:
        """The model called ``name``, or the only/last model when ``None``.

        Raises ``KeyError`` when there is no such model (callers turn it into
        a located diagnostic)."""
        if name is None:
            if not self.models:
                raise KeyError("<none>")
            return self.models[-1]
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)



