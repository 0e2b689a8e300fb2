"""The kspec intermediate representation (IR).

Both front ends (the ``.kspec`` language and the YAML form) produce these
nodes, and the runtime lowers them to Keras. Every node may carry a source
``span``; spans are kept out of equality and out of the serialized form, so
two specs that say the same thing are equal wherever they came from.

Argument values (``Value``) are plain data: ``None``, ``bool``, ``int``,
``float``, ``str``, lists, string-keyed dicts, and the IR nodes :class:`Call`
(``l2(0.01)``), :class:`Ref` (a tensor named in a call argument), and the
expression nodes of the language (:class:`Var`, :class:`BinOp`, ...) that
block expansion evaluates away before lowering.

The nodes are plain slotted dataclasses: the ``.kspec`` front end builds
them directly (its parser has already checked what they hold), and a
process that reads only ``.kspec`` files never imports pydantic. The YAML
form is validated by pydantic, from these same declarations: each node
class and each annotated type below says, through pydantic's
``__get_pydantic_core_schema__`` hook, what pydantic should check (field
types, the ``kind`` tags of values, bounds such as ``min_length``), and the
hook imports pydantic only when something is validated
(:meth:`IRNode.model_validate`). The nodes keep pydantic's method names
(``model_validate``, ``model_copy``, ``model_dump``, ``model_fields``) so
that code embedding kspec reads them as before.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection
from dataclasses import field
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, Self

from kspec._records import record

__all__ = [
    "BUILTINS",
    "KEY_SPANS_KEY",
    "SPAN_KEY",
    "VALIDATED",
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
    "NodeError",
    "Op",
    "Output",
    "Param",
    "Pydantic",
    "Record",
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
    "bounded",
    "finish",
    "source_digest",
]



@record(slots=True, unsafe_hash=True)
class Span:
    """A region of a source file: 1-based line and column, end exclusive.

    A plain slotted dataclass: a spec holds one span per node and per key
    (thousands per file), and spans are never validated or serialized, so
    they should cost no more than a tuple. Spans are values: never changed
    once made (:meth:`replace` makes a new one), hashed by their fields. They
    are not ``frozen`` only because a frozen dataclass takes five times as
    long to make."""

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
        """A copy with some fields changed (as ``dataclasses.replace``, a
        few times faster: block expansion marks every span it copies)."""
        new: Span = _copy_with(self, _copy_span(self), _SPAN_FIELDS, changes)
        return new

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls)



# --------------------------------------------------------------------------
# What pydantic checks, said without importing it


class Pydantic:
    """Annotation metadata for pydantic, made only when pydantic asks.

    ``make(pydantic, source)`` returns the type pydantic should validate in
    place of ``source`` (usually ``Annotated[source, <pydantic metadata>]``);
    pydantic calls :meth:`__get_pydantic_core_schema__` when it builds a
    validator or a JSON Schema, so the import happens then, not when this
    module is imported."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[Any, Any], Any]) -> None:
        self.make = make

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        import pydantic

        return handler.generate_schema(self.make(pydantic, source))


def bounded(**bounds: float) -> Pydantic:
    """Bounds for pydantic to check (``min_length=1`` on a list, ``ge=1`` on
    a number), as ``Field(**bounds)`` would declare them."""
    return Pydantic(lambda p, src: Annotated[src, p.Field(**bounds)])


#: Where validated data's spans are read from: front ends may put these keys
#: into raw mappings; nodes pop them into ``span`` and ``key_spans``.
SPAN_KEY = "__span__"
KEY_SPANS_KEY = "__key_spans__"

#: Source positions: never validated (pydantic checks only that they are
#: spans), never serialized, never compared.
_SOURCE_FIELDS = ("span", "key_spans")


@record(slots=True, kw_only=True, eq=False, repr=False)
class Record:
    """Base of kspec's validated records (IR nodes, and the typed settings
    of :mod:`kspec.spec.settings`): keyword-constructed slotted dataclasses
    with pydantic's method names, strict about unknown fields when
    validated. Classes defined outside this module call :func:`finish`."""

    #: The record's fields by name (as pydantic's ``model_fields``).
    model_fields: ClassVar[dict[str, dataclasses.Field[Any]]] = {}
    #: The fields that say what the record means (for IR nodes, all but the spans).
    semantic_fields: ClassVar[tuple[str, ...]] = ()
    #: pydantic's configuration for these classes: unknown fields are errors.
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.semantic_fields)

    def __hash__(self) -> int:  # pragma: no cover - records hold lists and dicts
        raise TypeError(f"unhashable IR node {type(self).__name__}")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.semantic_fields)
        return f"{type(self).__qualname__}({fields})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Pretty printers that follow IPython's protocol (Hypothesis's, for a
        failing example) print :meth:`__repr__`; they would otherwise list
        every entry of ``__dataclass_fields__``, class variables included."""
        printer.text(repr(self))

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A shallow copy, with the fields in ``update`` replaced (not
        validated, as with pydantic's ``model_copy``)."""
        cls = type(self)
        copy = _COPIERS.get(cls)
        if copy is None:  # made on first use: most runs copy records of a few classes, or of none
            copy = _COPIERS[cls] = _copier(cls, tuple(self.model_fields))
        new: Self = _copy_with(self, copy(self), self.model_fields, update or {})
        return new

    def model_dump(self, *, mode: str = "python", exclude: set[str] | None = None,
                   exclude_defaults: bool = False) -> dict[str, Any]:
        """The record as plain data (nested records as dicts, spans left
        out), as pydantic's ``model_dump`` gives it; ``mode`` is accepted for
        compatibility (every value is JSON data already)."""
        out: dict[str, Any] = {}
        for name in self.semantic_fields:
            if exclude and name in exclude:
                continue
            value = getattr(self, name)
            if exclude_defaults and value == _default(self.model_fields[name]):
                continue
            out[name] = _dump(value)
        return out

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """Validate raw data (a dict as a front end makes it) into this
        class, with pydantic; raises pydantic's ``ValidationError``."""
        validated: Self = _adapter(cls).validate_python(data)
        return validated


@record(slots=True, kw_only=True, eq=False, repr=False)
class IRNode(Record):
    """Base of every IR node: a :class:`Record` that knows where it was written.

    ``span`` locates the node in its source; ``key_spans`` locates its
    keyword arguments or fields (for example where ``units=`` was written).
    Neither takes part in equality or serialization.
    """

    #: Fields that hold values: their ``{"kind": ...}`` dicts become value
    #: nodes when each value is validated (:func:`_check_value`).
    _tagged: ClassVar[tuple[str, ...]] = ()

    span: Span | None = None
    key_spans: dict[str, Span] = field(default_factory=dict)

    def at(self, key: str | None = None) -> Span | None:
        """The span of field/argument ``key`` if known, else of the node."""
        if key is not None and key in self.key_spans:
            return self.key_spans[key]
        return self.span

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        schema = handler(source)
        if schema.get("type") != "dataclass":  # a reference to the definition below, or already wrapped
            return schema
        # The definition other uses refer to is the wrapped schema, not the bare dataclass.
        ref = schema.pop("ref", None)
        return core_schema.no_info_before_validator_function(cls._raw, _exclude_sources(schema), ref=ref)

    @classmethod
    def _raw(cls, data: Any) -> Any:
        """Before validation: spans popped out of a raw mapping into
        ``span``/``key_spans``, nested value dicts tagged into nodes."""
        if not isinstance(data, dict):
            return data
        if SPAN_KEY in data or KEY_SPANS_KEY in data:
            data = dict(data)
            span = data.pop(SPAN_KEY, None)
            key_spans = data.pop(KEY_SPANS_KEY, None)
            if span is not None and "span" not in data:
                data["span"] = span
            if key_spans is not None and "key_spans" not in data:
                data["key_spans"] = key_spans
        if cls._tagged and any(k in data and type(data[k]) is dict for k in _MAPPING_FIELDS):
            # Each value is tagged once, by its field's validator (_check_value):
            # a mapping of values only loses the spans a raw mapping carries.
            data = {k: _without_spans(v) if k in _MAPPING_FIELDS and type(v) is dict else v for k, v in data.items()}
        return data


class NodeError(ValueError):
    """A node built with values that do not fit together (an expression
    with neither layers nor exactly one tensor, a loop with two sources);
    pydantic reports it as a value error of the node."""

    @property
    def message(self) -> str:
        """The error as pydantic words it."""
        return f"Value error, {self}"


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.model_dump()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


_ADAPTERS: dict[type[Record], Any] = {}


def _adapter(cls: type[Record]) -> Any:
    """pydantic's validator for a node class, made on first use: from the
    shipped schema when it is current (:func:`_shipped`), else by pydantic
    from the class."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _shipped(cls)
        if adapter is None:
            from pydantic import TypeAdapter

            adapter = TypeAdapter(cls)
        _ADAPTERS[cls] = adapter
    return adapter


def _shipped(cls: type[Record]) -> Any:
    """A ``pydantic_core.SchemaValidator`` on the schema pydantic builds for
    ``cls``, as ``scripts/gen_ir_schema.py`` shipped it in
    :mod:`kspec.spec._ir_schema` (importing all of pydantic and building the
    schema costs more than reading a large YAML spec); ``None`` when it was
    made by another pydantic-core or from another version of this module."""
    import sys

    from kspec.spec import _ir_schema as shipped
    from kspec.spec._core import core

    pydantic_core = core()
    make = shipped.SCHEMAS.get(cls.__name__)
    current = (pydantic_core.__version__, source_digest()) == (shipped.PYDANTIC_CORE_VERSION, shipped.IR_DIGEST)
    if make is None or not current:
        return None
    # the settings module is loaded whenever one of its classes is validated
    schema = make(sys.modules[__name__], sys.modules.get("kspec.spec.settings"))
    config: Any = shipped.CONFIG  # a pydantic_core.CoreConfig, written as a plain dict
    return pydantic_core.SchemaValidator(schema, config)


@cache
def source_digest() -> str:
    """The CRC-32 (in hex) of the sources the shipped schema is made from
    (this module and :mod:`kspec.spec.settings`): it tells a schema made from
    other sources, and zlib is loaded already where hashlib's start-up would
    cost a few milliseconds on every YAML run."""
    import os
    import zlib

    data = b""
    for name in (__file__, os.path.join(os.path.dirname(__file__), "settings.py")):
        with open(name, "rb") as fh:
            data += fh.read()
    return f"{zlib.crc32(data):08x}"


def _exclude_sources(schema: Any) -> Any:
    """Mark the span fields of a dataclass's schema as excluded from
    serialization (what ``Field(exclude=True)`` would say), so that JSON
    Schemas leave them out."""
    for f in schema["schema"]["fields"]:
        if f["name"] in _SOURCE_FIELDS:
            f["serialization_exclude"] = True
    return schema


def finish(cls: type[Record]) -> None:
    """Fill in the class-level facts (``model_fields``,
    ``semantic_fields``) of a record class and its subclasses, once they
    are all defined."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    cls.model_fields = fields
    cls.semantic_fields = tuple(n for n in fields if n not in _SOURCE_FIELDS)
    for sub in cls.__subclasses__():
        finish(sub)


#: A shallow copy of a record of each class, field by field (see :func:`_copier`).
_COPIERS: dict[type, Callable[[Any], Any]] = {}


def _copier(cls: type, fields: tuple[str, ...]) -> Callable[[Any], Any]:
    """A function that copies a record of ``cls`` field by field, written
    out for its fields as :mod:`dataclasses` writes ``__init__`` (a few
    times faster than a loop over the names; expansion copies every node of
    a block at each call). Field names are identifiers, checked here."""
    if not all(name.isidentifier() for name in fields):  # pragma: no cover - dataclass fields are
        raise TypeError(f"{cls.__name__} has a field that is not an identifier")
    body = "".join(f"    new.{name} = old.{name}\n" for name in fields)
    source = f"def copy(old):\n    new = make(cls)\n{body}    return new\n"
    namespace: dict[str, Any] = {"make": object.__new__, "cls": cls}
    exec(compile(source, f"<copy of {cls.__name__}>", "exec"), namespace)  # the source above: our field names only
    return namespace["copy"]  # type: ignore[no-any-return]


def _copy_with(old: Any, new: Any, fields: Collection[str], changes: dict[str, Any]) -> Any:
    """``new``, a copy of ``old``, with ``changes`` made (each the name of
    one of ``fields``)."""
    for name, value in changes.items():
        if name not in fields:
            raise TypeError(f"{type(old).__name__} has no field {name!r}")
        object.__setattr__(new, name, value)
    return new


_SPAN_FIELDS = frozenset(f.name for f in dataclasses.fields(Span))
_copy_span = _copier(Span, tuple(f.name for f in dataclasses.fields(Span)))

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
Value = Annotated[Any, Pydantic(lambda p, src: Annotated[src, p.BeforeValidator(_check_value),
                                                         p.WithJsonSchema({"description": "a kspec value"})])]

#: The fields of value-holding nodes that map names to values.
_MAPPING_FIELDS = ("kwargs", "call_kwargs", "settings")


def _without_spans(mapping: dict[str, Any]) -> dict[str, Any]:
    """A raw mapping of values without the span entries a front end put in
    it, and out of its ``{"kind": "dict", "items": ...}`` escape (which a
    mapping with a ``kind``, ``fn``, ``op`` ... key is written in). Its
    values are left to their validator, so each is tagged once."""
    plain = {k: v for k, v in mapping.items() if k not in (SPAN_KEY, KEY_SPANS_KEY)}
    items = plain.get("items")
    if plain.get("kind") == "dict" and set(plain) == {"kind", "items"} and type(items) is dict:
        return {k: v for k, v in items.items() if k not in (SPAN_KEY, KEY_SPANS_KEY)}
    return plain


#: The fields of value-holding nodes whose raw values are tagged into nodes.
_VALUE_FIELDS = ("args", "kwargs", "left", "right", "operand", "test", "then", "otherwise", "parts", "call_kwargs")


@record(slots=True, kw_only=True, eq=False, repr=False)
class _ValueHolder(IRNode):
    """Base of the nodes that hold values: nested value dicts are tagged
    into nodes before pydantic sees them."""

    _tagged: ClassVar[tuple[str, ...]] = _VALUE_FIELDS


#: Functions a value may call that expansion computes (``int(x)``,
#: ``max(8, units // 2)``, ``len(filters)``); every other call is an object
#: Keras builds (``l2(0.01)``).
BUILTINS = frozenset({"int", "float", "min", "max", "round", "len"})


@record(slots=True, kw_only=True, eq=False, repr=False)
class Call(_ValueHolder):
    """A call in argument position: ``l2(0.01)``, ``GlorotUniform(seed=1)``,
    ``Bidirectional(LSTM(8))``'s inner layer, ``Adam(learning_rate=1e-3)``."""

    kind: Literal["call"] = "call"
    fn: str
    args: list[Value] = field(default_factory=list)
    kwargs: dict[str, Value] = field(default_factory=dict)

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


@record(slots=True, kw_only=True, eq=False, repr=False)
class Ref(IRNode):
    """A tensor named inside a call argument, e.g. ``initial_state=[h, c]``."""

    kind: Literal["ref"] = "ref"
    name: str


@record(slots=True, kw_only=True, eq=False, repr=False)
class Var(IRNode):
    """A block or file parameter (or loop index) used in a value."""

    kind: Literal["var"] = "var"
    name: str


@record(slots=True, kw_only=True, eq=False, repr=False)
class BinOp(_ValueHolder):
    """``left op right`` on parameter values; evaluated by block expansion."""

    kind: Literal["binop"] = "binop"
    op: Literal["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
    left: Value
    right: Value


@record(slots=True, kw_only=True, eq=False, repr=False)
class UnaryOp(_ValueHolder):
    """``-x`` or ``not x`` on parameter values."""

    kind: Literal["unary"] = "unary"
    op: Literal["-", "not"]
    operand: Value


@record(slots=True, kw_only=True, eq=False, repr=False)
class Cond(_ValueHolder):
    """``then if test else otherwise``."""

    kind: Literal["cond"] = "cond"
    test: Value
    then: Value
    otherwise: Value


@record(slots=True, kw_only=True, eq=False, repr=False)
class Format(_ValueHolder):
    """A string with ``{expr}`` holes, e.g. ``"stage{i}"``: parts alternate
    literal text and values."""

    kind: Literal["format"] = "format"
    parts: list[Value]


@record(slots=True, kw_only=True, eq=False, repr=False)
class Index(IRNode):
    """``value[index]``: an item of a list or tuple (``filters[i]``,
    ``x.shape[-1]``); a negative index counts from the end."""

    kind: Literal["index"] = "index"
    value: Value
    index: Value


@record(slots=True, kw_only=True, eq=False, repr=False)
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


@record(slots=True, kw_only=True, eq=False, repr=False)
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
    args: list[Value] = field(default_factory=list)
    kwargs: dict[str, Value] = field(default_factory=dict)


@record(slots=True, kw_only=True, eq=False, repr=False)
class Slice(_ValueHolder):
    """``start:stop:step`` in a tensor subscript (``x[:, 1:3]``); a part
    left out is ``None``."""

    kind: Literal["slice"] = "slice"
    start: Value = None
    stop: Value = None
    step: Value = None

    _tagged: ClassVar[tuple[str, ...]] = (*_VALUE_FIELDS, "start", "stop", "step")


@record(slots=True, kw_only=True, eq=False, repr=False)
class EllipsisValue(IRNode):
    """``...`` in a tensor subscript (``x[..., 0]``)."""

    kind: Literal["ellipsis"] = "ellipsis"


_VALUE_KINDS.update({"op": Op, "slice": Slice, "ellipsis": EllipsisValue})

#: Values of tensor operations (they hold tensors; never parameter arithmetic).
TensorValue = Op | Slice | EllipsisValue


# --------------------------------------------------------------------------
# Layers and tensors


@record(slots=True, kw_only=True, eq=False, repr=False)
class LayerCall(_ValueHolder):
    """An inline layer: ``Dense(64, activation="relu")``.

    Each use builds a new layer (new weights). ``type`` is a Keras layer
    class name, or the name of a block (expanded before lowering).
    """

    kind: Literal["layer"] = "layer"
    type: str
    args: list[Value] = field(default_factory=list)
    kwargs: dict[str, Value] = field(default_factory=dict)


@record(slots=True, kw_only=True, eq=False, repr=False)
class LayerRef(IRNode):
    """A use of something named: a named layer or stack (shared weights) or
    another model of the spec (a shared sub-model)."""

    kind: Literal["ref"] = "ref"
    ref: str


Callee = LayerCall | LayerRef | Op


@record(slots=True, kw_only=True, eq=False, repr=False)
class Step(_ValueHolder):
    """One application in a chain: the layer, plus keyword arguments of the
    call itself (``initial_state=[h, c]``, ``value=v``, ``training=false``).

    Tensors in ``call_kwargs`` are :class:`Ref` values."""

    _tagged: ClassVar[tuple[str, ...]] = _VALUE_FIELDS

    layer: Annotated[LayerCall | LayerRef | Op, Pydantic(lambda p, src: Annotated[src, p.Field(discriminator="kind")])]
    call_kwargs: dict[str, Value] = field(default_factory=dict)


@record(slots=True, kw_only=True, eq=False, repr=False)
class Expr(IRNode):
    """A tensor expression: ``inputs`` (tensor names, positional) fed to the
    first step, each later step applied to the result of the one before.

    With no steps, ``inputs`` must name exactly one tensor (a plain
    reference)."""

    inputs: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.steps and len(self.inputs) != 1:
            raise NodeError("an expression without layers must name exactly one tensor")


def _check_dim(data: Any) -> Any:
    """A dimension of an input's shape: a size, ``None``, or a parameter
    expression (``latent_dim``) that block expansion computes."""
    data = _tag_values(data)
    if isinstance(data, (Var, BinOp, UnaryOp, Cond, Call, Index, Attr)):
        return data
    return _size().validate_python(data)


@cache
def _size() -> Any:
    """pydantic's validator of a size (``int | None``; the schema
    ``TypeAdapter(int | None)`` builds, run by pydantic-core alone)."""
    from kspec.spec._core import core

    return core().SchemaValidator({"type": "nullable", "schema": {"type": "int"}})

#: A dimension of an input's shape (typed ``Any``: after expansion, always
#: an ``int`` or ``None``).
Dim = Annotated[Any, Pydantic(lambda p, src: Annotated[
    src, p.BeforeValidator(_check_dim),
    p.WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "null"}, {"description": "a kspec value"}]})])]


def _positive(shape: list[Any]) -> list[Any]:
    for d in shape:
        if isinstance(d, int) and d <= 0:
            raise NodeError(f"dimensions must be positive or None, got {d}")
    return shape


@record(slots=True, kw_only=True, eq=False, repr=False)
class Input(IRNode):
    """A model input: ``input image: (None, None, 3) float32``.

    ``shape`` excludes the batch dimension; ``None`` is an unknown size; a
    dimension may be a parameter expression (``(latent_dim,)``) until
    expansion computes it."""

    name: str
    shape: Annotated[list[Dim], Pydantic(lambda p, src: Annotated[src, p.AfterValidator(_positive)])]
    dtype: str = "float32"
    batch_size: int | None = None
    sparse: bool = False

    def __post_init__(self) -> None:
        _positive(self.shape)


@record(slots=True, kw_only=True, eq=False, repr=False)
class LayerDef(IRNode):
    """A named layer or named stack: one set of weights however often it is
    applied (``encoder = Embedding(1000, 64) -> LSTM(32)``)."""

    name: str
    stack: Annotated[list[LayerCall | LayerRef], bounded(min_length=1)]


@record(slots=True, kw_only=True, eq=False, repr=False)
class Assign(IRNode):
    """``h = x -> Dense(8)``; several targets destructure a layer's several
    results (``seq, h, c = x -> LSTM(8, return_state=true)``)."""

    targets: Annotated[list[str], bounded(min_length=1)]
    value: Expr


@record(slots=True, kw_only=True, eq=False, repr=False)
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


@record(slots=True, kw_only=True, eq=False, repr=False)
class Structure(IRNode):
    """The structure of a functional model's inputs and of its outputs
    (``inputs as dict``, ``outputs as list``; YAML ``structure: {inputs:
    dict}``). ``None`` is the default: one tensor, or a list of several.
    ``key_spans`` locate ``"inputs"`` and ``"outputs"`` where they are
    written."""

    inputs: StructureKind | None = None
    outputs: StructureKind | None = None


@record(slots=True, kw_only=True, eq=False, repr=False)
class FunctionalModel(IRNode):
    """A DAG model lowered through the Keras Functional API. Statements may
    appear in any order; kspec sorts them by their dependencies."""

    kind: Literal["functional"] = "functional"
    name: str
    structure: Structure = field(default_factory=Structure)
    inputs: list[Input] = field(default_factory=list)
    layers: list[LayerDef] = field(default_factory=list)
    nodes: list[Assign] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)


@record(slots=True, kw_only=True, eq=False, repr=False)
class SequentialModel(IRNode):
    """A plain stack lowered to ``keras.Sequential``."""

    kind: Literal["sequential"] = "sequential"
    name: str
    input: Input | None = None
    layers: list[LayerCall | LayerRef] = field(default_factory=list)


Model = FunctionalModel | SequentialModel


@record(slots=True, kw_only=True, eq=False, repr=False)
class Section(_ValueHolder):
    """A ``compile`` or ``train`` section: settings for one model, as plain
    values (``optimizer``, ``loss``, ``epochs``, ``callbacks`` ...). They are
    validated by :mod:`kspec.compiler.sections`, not here, so that both front
    ends stay simple."""

    model: str
    settings: dict[str, Value] = field(default_factory=dict)

    _tagged: ClassVar[tuple[str, ...]] = ("settings",)


def _model_kind(data: Any) -> str:
    if isinstance(data, dict):
        kind = data.get("kind", "functional")
        return kind if kind in ("functional", "sequential") else "functional"
    return "sequential" if isinstance(data, SequentialModel) else "functional"


#: A model of either kind; errors name only the fields of the kind given.
AnyModel = Annotated[
    FunctionalModel | SequentialModel,
    Pydantic(lambda p, src: Annotated[
        Annotated[FunctionalModel, p.Tag("functional")] | Annotated[SequentialModel, p.Tag("sequential")],
        p.Discriminator(_model_kind)]),
]


@record(slots=True, kw_only=True, eq=False, repr=False)
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
    values: list[Value] = field(default_factory=list)

    _tagged: ClassVar[tuple[str, ...]] = ("values",)

    def __post_init__(self) -> None:
        if self.kind != "choice" and len(self.values) not in (2, 3):
            raise NodeError(f"a {self.kind} space has a low and a high bound and an optional step")


@record(slots=True, kw_only=True, eq=False, repr=False)
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

    _tagged: ClassVar[tuple[str, ...]] = (*_VALUE_FIELDS, "default")


@record(slots=True, kw_only=True, eq=False, repr=False)
class For(_ValueHolder):
    """``for i in range(start, stop, step) { ... }`` or ``for units in
    [64, 32] { ... }`` inside a block: the body is expanded once per value
    of ``var``, taken from ``range`` or from the list or tuple ``over``
    (exactly one of the two is given). Names assigned in the body may be
    rebound on each pass (``x = x -> unit(filters)``)."""

    kind: Literal["for"] = "for"
    var: str
    range: Annotated[list[Value], bounded(max_length=3)] = field(default_factory=list)
    over: Value = None
    body: list[BlockStatement] = field(default_factory=list)

    _tagged: ClassVar[tuple[str, ...]] = (*_VALUE_FIELDS, "range")

    def __post_init__(self) -> None:
        if (self.over is None) == (not self.range):
            raise NodeError("a loop runs over range(...) or over a list, one of the two")


@record(slots=True, kw_only=True, eq=False, repr=False)
class If(IRNode):
    """``if test { ... } else { ... }`` inside a block: expansion keeps
    ``body`` when ``test`` is true, ``orelse`` otherwise. ``else if`` is an
    ``orelse`` holding one :class:`If`."""

    kind: Literal["if"] = "if"
    test: Value
    body: list[BlockStatement] = field(default_factory=list)
    orelse: list[BlockStatement] = field(default_factory=list)


BlockStatement = Assign | For | If


@record(slots=True, kw_only=True, eq=False, repr=False)
class Block(IRNode):
    """A parameterised subgraph: ``block residual(x, filters: int) {...}``.

    ``inputs`` are its tensor parameters; ``params`` its value parameters.
    Inside a block statements run in order and a name may be rebound. A call
    ``y = x -> residual(64)`` is replaced by the block's statements before
    lowering (see :mod:`kspec.compiler.expand`)."""

    name: str
    inputs: list[str] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    body: list[BlockStatement] = field(default_factory=list)
    returns: Annotated[list[Expr], bounded(min_length=1)]


@record(slots=True, kw_only=True, eq=False, repr=False)
class Spec(IRNode):
    """A spec file: one or more models, and how each is compiled/trained.

    ``params``, ``blocks`` and ``uses`` (files whose blocks this one uses)
    belong to the language's abstraction layer; expansion removes them."""

    models: list[AnyModel] = field(default_factory=list)
    compile: list[Section] = field(default_factory=list)
    train: list[Section] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)

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


finish(IRNode)

#: The classes validated on their own: the spec (the YAML front end) and
#: each value node that a tagged dict becomes (``{"kind": "call", ...}``).
VALIDATED: tuple[type[IRNode], ...] = (Spec, *_VALUE_KINDS.values())
