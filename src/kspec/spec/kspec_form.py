"""The ``.kspec`` front end: text -> IR.

The grammar is ``kspec/grammars/kspec.lark``; Lark compiles it, offline,
into the literal tables the run-time parser :mod:`kspec.spec._lalr` runs on
(``_kspec_tables``), so parsing valid text does not import Lark. The parser
builds no syntax tree: each grammar rule, when reduced, calls the
:class:`_Builder` method of its name with its children already built, and
the builder makes :mod:`kspec.spec.ir` nodes, every node with its source
span (the rule's first to last token, as Lark's ``propagate_positions``
gives it). Where the text is not in the language, the parser raises the
syntax error Lark's own parser would, with the same attributes, from the
same tables, so errors are described as Lark describes them, without
Lark. A name in an argument is resolved by what
it is defined as: a parameter or loop index becomes :class:`~kspec.spec.ir.Var`,
a tensor in a call argument a :class:`~kspec.spec.ir.Ref`, anything else a
plain string (``activation=relu``). Syntax errors become a ``K103``
diagnostic that says, in words, what was expected.
"""

from __future__ import annotations

import _thread
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import field
from functools import lru_cache
from typing import Any

from kspec._records import record
from kspec.spec import ir, limits
from kspec.spec._lalr import (
    Callback,
    Parser,
    Tables,
    Token,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)
from kspec.spec.collector import collector_paused
from kspec.spec.diagnostics import MAX_SUGGESTIONS, Diagnostic, KspecError, close_matches, did_you_mean
from kspec.spec.ir import Span
from kspec.spec.ops import BINARY, MERGE_HELPERS, UNARY, has_tensor, op_chain

__all__ = ["Comment", "parse_kspec", "parse_with_comments"]


@record(frozen=True)
class Comment:
    """A ``# ...`` comment and where it was (for ``kspec fmt``)."""

    line: int
    column: int
    text: str
    own_line: bool


# ---------------------------------------------------------------------------
# the parser object


_COMMENTS: list[Token] = []


#: How the parser is built from the grammar (the shipped tables record them).
LARK_OPTIONS: dict[str, Any] = {"parser": "lalr", "propagate_positions": True, "maybe_placeholders": True,
                                "start": ["start", "value"]}


def _grammar() -> str:
    """The grammar's text (package data: a file beside the package, read
    directly when it is one, which is quicker than the resource machinery)."""
    beside = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "grammars", "kspec.lark")
    if os.path.isfile(beside):
        with open(beside, encoding="utf-8") as fh:
            return fh.read()
    from importlib import resources

    return resources.files("kspec.grammars").joinpath("kspec.lark").read_text(encoding="utf-8")


def _shipped(tables: Any) -> bool:
    """Whether a shipped tables module was made from this grammar (its text
    is compared). Which Lark is installed does not matter: the tables are
    the whole parser, syntax errors included, and Lark is not loaded to run
    them."""
    return _grammar() == tables.GRAMMAR  # type: ignore[no-any-return]


def _tables() -> Tables:
    """The run-time parser's tables: the shipped ones when they were made
    from this grammar (and for this parser), else computed from the grammar
    by the installed Lark."""
    from kspec.spec import _kspec_tables as tables
    from kspec.spec._lalr import FORMAT

    if tables.FORMAT == FORMAT and _shipped(tables):
        return Tables(vars(tables))
    from lark import Lark

    from kspec.spec._lalr_export import export

    return Tables(export(Lark(_grammar(), **LARK_OPTIONS)))


@record
class _Fast:
    """The parser that builds the IR while it parses (no syntax tree):
    the run-time LALR parser with :class:`_Builder`'s methods as its
    reductions; the builder's ``cur`` is the span of the rule it builds."""

    parser: Parser
    builder: _Builder
    #: threading's RLock is this lock (importing threading would cost about a millisecond)
    lock: _thread.RLock = field(default_factory=_thread.RLock)
    #: the span of the rule being reduced when the last parse stopped (for errors)
    stopped_at: tuple[Token, Token] | None = None


def _callbacks(b: _Builder) -> dict[str, Callback]:
    """Per rule name, the builder's method that takes the rule's filtered
    children, and whether it takes them as one list (else one argument each)."""
    methods: dict[str, Callback] = {}
    for name in dir(_Builder):
        if not name.startswith("_"):
            method = getattr(b, name)
            methods[name] = (method, bool(getattr(method, "kspec_children", False)))
    return methods


@lru_cache(maxsize=1)
def _fast() -> _Fast:
    """The tree-less parser (built once)."""
    b = _Builder()
    return _Fast(Parser(_tables(), _callbacks(b), {"COMMENT": _COMMENTS.append}, b), b)


def _run(fast: _Fast, text: str, start: str) -> Any:
    """The value of rule ``start`` for ``text``, built as it is parsed."""
    return fast.parser.parse(text, start)


@lru_cache(maxsize=1)
def _recognizer() -> Parser:
    """The run-time parser with no reductions of its own (each rule's value
    is its children): what finds a syntax error further on in text whose
    building stopped early."""
    return Parser(_fast().parser.tables, {}, {}, _Holder())


class _Holder:
    """Where a parser puts the extent of the rule it reduces (unread here)."""

    cur: Any = None


def _syntax_error_in(text: str, start: str) -> UnexpectedInput | None:
    """The syntax error in ``text`` parsed from rule ``start``, if any (as
    Lark's parser would raise it)."""
    try:
        _recognizer().parse(text, start)
    except UnexpectedInput as exc:
        return exc.with_traceback(None)  # not the parser's frames
    return None


def _build(text: str, start: str, file: str | None = None) -> Any:
    """Parse ``text`` from rule ``start`` straight into builder values (an
    :class:`ir.Spec` for ``"start"``, a raw value for ``"value"``). With
    ``file``, a new parse; without, a parse inside the running one (an
    f-string's holes), which keeps its file and names. Raises
    :class:`UnexpectedInput` (Lark's words) on a syntax error and the
    builder's errors as they happen."""
    fast = _fast()
    with fast.lock:
        b = fast.builder
        comments = len(_COMMENTS)
        saved = (b.file, b.names, b.cur)
        if file is not None:
            b.file, b.names = file, _Names()
            b._forget()
        try:
            return _run(fast, text, start)
        finally:
            fast.stopped_at = b.cur
            if file is None:
                del _COMMENTS[comments:]  # a hole's text is inside a string: no comments of the file
            b.file, b.names, b.cur = saved


# ---------------------------------------------------------------------------
# raw values: names are resolved once their scope is known


@record(slots=True, unsafe_hash=True)
class _Name:
    """A bare name: its text, and the token it was read from in ``file``."""

    name: str
    token: Token
    file: str

    @property
    def span(self) -> Span:
        """Where the name was written (made when asked: most names are
        tensors fed to a layer, whose spans are never needed)."""
        tok = self.token
        return Span(self.file, tok.line or 1, tok.column or 1, tok.end_line, tok.end_column)


@record(slots=True)
class _RawCall:
    """``Name(args...)`` before we know if it is a layer, a block, a ref or
    a value call."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    span: Span
    key_spans: dict[str, Span] = field(default_factory=dict)


@record(slots=True)
class _RawSpace:
    """``in [...]``, ``in range(...)`` or ``in log(...)`` after a parameter's default."""

    value: Any
    span: Span


@record(slots=True)
class _RawOp:
    op: str
    operands: list[Any]
    span: Span


@record(slots=True)
class _RawFormat:
    parts: list[Any]
    span: Span


@record(slots=True)
class _RawIndex:
    """``value[index]`` before names are resolved."""

    value: Any
    index: Any
    span: Span


@record(slots=True)
class _RawAttr:
    """``x.shape`` before names are resolved."""

    value: Any
    span: Span


@record(slots=True)
class _RawApply:
    """``Layer(...)(tensors)`` written where a value may stand."""

    call: _RawCall
    args: list[Any]
    kwargs: dict[str, Any]
    span: Span


@record(slots=True)
class _RawSlice:
    """``start:stop:step`` in a subscript."""

    start: Any
    stop: Any
    step: Any
    span: Span


@record(slots=True)
class _RawKey:
    """What a subscript holds beyond one index (``[:, 0]``, ``[1:3]``,
    ``[...]``): its items, and whether they form a tuple."""

    items: list[Any]
    is_tuple: bool


@record(slots=True)
class _RawSub:
    """``x[:, 0]``: a subscript with slices, ``...`` or several items."""

    value: Any
    key: _RawKey
    span: Span


_ELLIPSIS = object()  # ``...`` in a subscript


@record(slots=True)
class _Kw:
    name: str
    value: Any
    span: Span


@record(slots=True)
class _OpHead:
    """A chain's head that is neither a name nor a layer call (applied or
    not): operations on tensors (``x + y``, ``x[:, 0]``, ``ops.mean(x)``),
    or a value that turns out to compute no tensor."""

    value: Any
    span: Span


#: A chain's head: a tensor or named layer, a layer call, a layer call
#: applied to tensors, or operations (the spans of the first three are their
#: heads' spans, as a rule of one child spans what its child spans).
_RawHead = _Name | _RawCall | _RawApply | _OpHead


@record(slots=True)
class _Callee:
    """A step ``Layer(...)(key=value)``: a layer call with call arguments.
    The other steps are the :class:`_Name` or :class:`_RawCall` itself."""

    span: Span
    call: _RawCall
    applied_kwargs: dict[str, Any]
    applied_positional: list[Any]


#: A step of a chain (after ``->``).
_RawStep = _Name | _RawCall | _Callee


@record(slots=True)
class _RawExpr:
    head: _RawHead
    steps: list[_RawStep]
    span: Span


@record(slots=True)
class _Stmt:
    kind: str  # input, assign, output, for, return, seq_input, seq_layer, setting
    span: Span
    data: dict[str, Any]


#: ``inputs as dict``: what a structure statement may name, and the structures.
_STRUCTURE_PORTS = ("inputs", "outputs")
_STRUCTURE_KINDS = ("list", "dict")


@record
class _Names:
    """What the file defines, collected before the tree is transformed."""

    models: set[str] = field(default_factory=set)
    blocks: dict[str, set[str]] = field(default_factory=dict)  # block -> its value-parameter names
    params: set[str] = field(default_factory=set)
    #: Whether the file uses other files, whose blocks the parser does not see.
    uses: bool = False
    #: Per unknown name applied to tensors in such a file, whether it may be a used file's block.
    used_blocks: dict[str, bool] = field(default_factory=dict)


class _Fail(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(diag.message)
        self.diag = diag


class _TooDeep(Exception):
    """A value nested deeper than the ``nesting`` limit, met where no span
    is at hand (inside a bare list): the statement that holds it reports it."""

    hint = "give part of it a statement or a parameter of its own"

    @staticmethod
    def message() -> str:
        return limits.exceeded("nesting", "values are nested too deeply")


def _unquote(text: str) -> str:
    """A string literal's value: its text between the quotes, escapes replaced."""
    body = text[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    escapes = {"b": "\b", "f": "\f", "n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "r": "\r", "0": "\0"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and body[i + 1 : i + 2] == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
            continue
        if ch == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], "\\" + body[i + 1]))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------
# the builder: Lark's LALR parser calls it on every reduction, with no tree


_Callback = Callable[[list[Any]], Any]

#: What no extent is (the builder's remembered extent before any span is made).
_NOTHING = object()


def _children(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a builder callback that takes its rule's children as one list
    (the others take them as positional arguments)."""
    method.__dict__["kspec_children"] = True
    return method


class _Builder:
    """Rule callbacks of the LALR parser -> IR. Each public method is named
    after a grammar rule (or alias) and gets that rule's children, already
    built; the rule's span is :meth:`_span` while it runs. Statement-level
    nodes are collected raw and resolved when their model/block (hence
    their scope) is complete."""

    def __init__(self, file: str = "<string>", names: _Names | None = None) -> None:
        self.file = file
        self.names = names or _Names()
        #: (first token, last token) of the rule being reduced, or None when it matched nothing.
        self.cur: tuple[Token, Token] | None = None
        #: the extent :meth:`_span` read last, and the span it made of it
        self._seen: object = _NOTHING
        self._seen_span = Span()

    # -- spans --------------------------------------------------------------

    def _span(self) -> Span:
        """The span of the rule being reduced: its first token's start to its last token's end.

        A rule of one child is reduced with its child's extent itself (a
        ``seq_layer`` over its layer's ``call``, an ``expr`` that is only its
        head), so the span made last is kept with the extent it was made of,
        and given again for that same extent: one span instead of two equal
        ones (spans are values, never changed)."""
        cur = self.cur
        if cur is self._seen:
            return self._seen_span
        if cur is None:
            return Span(self.file)
        first, last = cur
        span = Span(self.file, first.line or 1, first.column or 1, last.end_line, last.end_column)
        self._seen, self._seen_span = cur, span
        return span

    def _forget(self) -> None:
        """Drop the extent :meth:`_span` remembers (a new parse begins)."""
        self._seen = _NOTHING

    def _tspan(self, tok: Token) -> Span:
        """The span of one token."""
        return Span(self.file, tok.line or 1, tok.column or 1, tok.end_line, tok.end_column)

    def _fail(self, code: str, message: str, span: Span, hint: str | None = None) -> _Fail:
        return _Fail(Diagnostic(code, message, span, hint))

    # -- atoms --------------------------------------------------------------

    def integer(self, tok: Token) -> int:
        # Python reads single underscores between digits too, but the grammar allows any ("1__0", "10_")
        digits = tok.replace("_", "") if "_" in tok else tok
        size = len(digits)
        if size >= limits.INT_LIMIT_DIGITS and (size > limits.INT_LIMIT_DIGITS or int(digits) >= limits.INT_LIMIT):
            raise self._fail("K103", f"this integer is too large: at most {limits.INT_LIMIT - 1}", self._tspan(tok))
        return int(digits)

    def number(self, tok: Token) -> float:
        return float(tok.replace("_", "")) if "_" in tok else float(tok)

    def string(self, tok: Token) -> str:
        return _unquote(tok)

    def fstring(self, tok: Token) -> _RawFormat:
        """``f"stage{i + 1}"``: literal text and ``{value}`` holes."""
        span = self._tspan(tok)
        text = _unquote(str(tok)[1:])
        parts: list[Any] = []
        literal: list[str] = []
        i = 0
        while i < len(text):
            ch = text[i]
            if ch in "{}" and text[i + 1 : i + 2] == ch:
                literal.append(ch)
                i += 2
                continue
            if ch == "}":
                raise self._fail("K103", "single '}' in an f-string; write '}}' for a brace", span)
            if ch != "{":
                literal.append(ch)
                i += 1
                continue
            end = text.find("}", i)
            if end < 0:
                raise self._fail("K103", "'{' in an f-string is never closed", span, "write '{{' for a brace")
            if literal:
                parts.append("".join(literal))
                literal = []
            hole = text[i + 1 : end]
            try:
                parts.append(_build(hole, "value"))
            except UnexpectedInput:
                raise self._fail("K103", f"'{{{hole}}}' in an f-string is not a value", span) from None
            i = end + 1
        if literal:
            parts.append("".join(literal))
        return _RawFormat(parts, span)

    def true(self, _tok: Token) -> bool:
        return True

    def false(self, _tok: Token) -> bool:
        return False

    def none(self, _tok: Token) -> None:
        return None

    def name(self, tok: Token) -> _Name:
        return _Name(str(tok), tok, self.file)  # the rule's span is its token's

    def call_value(self, call: _RawCall) -> _RawCall:
        return call

    def values(self, *items: Any) -> list[Any]:
        return list(items)

    def list_value(self, items: list[Any] | None) -> list[Any]:
        return items if items is not None else []

    def tuple_value(self, *items: Any) -> list[Any]:
        return list(items)

    def dict_value(self, *pairs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for pair in pairs:
            if pair is None:
                continue
            key, value = pair
            out[key] = value
        return out

    def pair(self, key: Token, value: Any) -> tuple[str, Any]:
        text = str(key)
        return (_unquote(text) if key.type == "STRING" else text, value)

    def cond(self, then: Any, test: Any, otherwise: Any) -> _RawOp:
        return _RawOp("if", [test, then, otherwise], self._span())

    def or_(self, a: Any, b: Any) -> _RawOp:
        return _RawOp("or", [a, b], self._span())

    def and_(self, a: Any, b: Any) -> _RawOp:
        return _RawOp("and", [a, b], self._span())

    def not_(self, a: Any) -> _RawOp:
        return _RawOp("not", [a], self._span())

    def neg(self, a: Any) -> Any:
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            return -a
        return _RawOp("-", [a], self._span())

    def pos(self, a: Any) -> Any:
        return a

    def compare(self, a: Any, op: Token, b: Any) -> _RawOp:
        return _RawOp(str(op), [a, b], self._span())

    def binop(self, a: Any, op: Token, b: Any) -> _RawOp:
        return _RawOp(str(op), [a, b], self._span())

    def pow(self, a: Any, _op: Token, b: Any) -> _RawOp:
        return _RawOp("**", [a, b], self._span())

    def index(self, value: Any, index: Any) -> _RawIndex:
        return _RawIndex(value, index, self._span())

    def attribute(self, value: Any, name: Token) -> _RawAttr:
        span = self._span()
        if str(name) != "shape":
            raise self._fail("K103", f"unknown attribute '.{name}'", self._tspan(name),
                             "only a tensor's static shape can be read: x.shape, x.shape[-1]")
        if not isinstance(value, _Name):
            raise self._fail("K103", "'.shape' is read from a tensor's name", span, "write x.shape, x.shape[-1]")
        return _RawAttr(value, span)

    # -- calls --------------------------------------------------------------

    def kwarg(self, name: Token, value: Any) -> _Kw:
        return _Kw(str(name), value, self._tspan(name))

    @_children
    def arglist(self, items: list[Any]) -> list[Any]:
        return items  # a list of its own, made by the parser for this rule

    def call(self, name: Token, arglist: list[Any] | None) -> _RawCall:
        fn = name.replace("::", ">") if name.type == "CUSTOM" else str(name)  # OPNAME: "ops.mean"
        if arglist is None:
            return _RawCall(fn, [], {}, self._span(), {})
        args, kwargs, spans = self._split_args(arglist)
        return _RawCall(fn, args, kwargs, self._span(), spans)

    def _split_args(self, items: list[Any]) -> tuple[list[Any], dict[str, Any], dict[str, Span]]:
        """An argument list's positional values, keyword values and keywords'
        spans. ``items`` is the parser's list for this rule alone: without
        keywords, it is the positional values itself."""
        kwargs: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        positional = 0
        for item in items:
            if type(item) is _Kw:
                if item.name in kwargs:
                    raise self._fail("K103", f"argument '{item.name}' is given twice", item.span)
                kwargs[item.name] = item.value
                spans[item.name] = item.span
            elif kwargs:
                raise self._fail("K103", "a positional argument cannot follow a keyword argument",
                                 _value_span(item) or spans[list(spans)[-1]])
            else:
                positional += 1
        return (items if not kwargs else items[:positional]), kwargs, spans

    def head(self, value: Any) -> _RawHead:
        """A chain's head: a tensor name, a layer call (applied or not), or
        operations (told from parameter arithmetic once names are known)."""
        if isinstance(value, (_Name, _RawApply)) or (isinstance(value, _RawCall) and not value.name.startswith("ops.")):
            return value  # its span is the head's
        return _OpHead(value, self._span())

    def apply_value(self, call: _RawCall, arglist: list[Any] | None) -> _RawApply:
        if arglist is None:
            return _RawApply(call, [], {}, self._span())
        args, kwargs, _ = self._split_args(arglist)
        return _RawApply(call, args, kwargs, self._span())

    def subscript(self, value: Any, key: _RawKey) -> _RawSub:
        return _RawSub(value, key, self._span())

    def sub_tuple(self, *items: Any) -> _RawKey:
        return _RawKey([_sub_item(i) for i in items], True)

    def sub_one(self, item: Any) -> _RawKey:
        return _RawKey([_sub_item(item)], False)

    @_children
    def slice(self, children: list[Any]) -> _RawSlice:
        parts = [*children, None, None, None][:3]
        return _RawSlice(parts[0], parts[1], parts[2], self._span())

    def callee_name(self, tok: Token) -> _Name:
        return _Name(str(tok), tok, self.file)  # the rule's span is its token's

    def callee_call(self, call: _RawCall) -> _RawCall:
        return call  # the rule's span is the call's

    def callee_apply(self, call: _RawCall, arglist: list[Any] | None) -> _Callee:
        args, kwargs, _ = self._split_args(arglist) if arglist is not None else ([], {}, {})
        return _Callee(self._span(), call, kwargs, args)

    @_children
    def expr(self, children: list[Any]) -> _RawExpr:
        """``head -> step -> ...``: the head, then the steps."""
        return _RawExpr(children[0], children[1:], self._span())

    # -- statements ---------------------------------------------------------

    def dim(self, value: Any) -> Any:
        return value

    def shape0(self) -> list[Any]:
        return []

    def shape1(self, d: Any) -> list[Any]:
        return [d]

    def shapen(self, *dims: Any) -> list[Any]:
        return list(dims)

    def input_opts(self, *kws: Any) -> list[_Kw]:
        return [k for k in kws if isinstance(k, _Kw)]

    def input_decl(self, name: Token, shape: list[Any], dtype: Token | None,
                   opts: list[_Kw] | None) -> _Stmt:
        return _Stmt("input", self._span(), {"name": str(name), "shape": shape, "dtype": dtype, "opts": opts,
                                                 "name_span": self._tspan(name)})

    def seq_input(self, name: Token | None, shape: list[Any], dtype: Token | None,
                  opts: list[_Kw] | None) -> _Stmt:
        return _Stmt("input", self._span(), {"name": str(name) if name is not None else "input", "shape": shape,
                                                 "dtype": dtype, "opts": opts,
                                                 "name_span": self._tspan(name) if name else self._span()})

    def seq_layer(self, callee: _RawStep) -> _Stmt:
        return _Stmt("seq_layer", self._span(), {"callee": callee})

    @_children
    def assign(self, children: list[Any]) -> _Stmt:
        *targets, value = children  # the targets' tokens are kept for their spans, which only an error needs
        return _Stmt("assign", self._span(), {"targets": [str(t) for t in targets], "expr": value,
                                              "target_tokens": targets})

    def output_decl(self, name: Token, value: _RawExpr) -> _Stmt:
        return _Stmt("output", self._span(), {"name": str(name), "expr": value})

    def structure_decl(self, port: Token, kind: Token) -> _Stmt:
        """``inputs as dict`` / ``outputs as list``: checked here, as the
        grammar reads both words as names."""
        if str(port) not in _STRUCTURE_PORTS:
            raise self._fail("K103", f"'{port} as ...' is not a statement; the structure is set for 'inputs' or "
                             "'outputs'", self._tspan(port), did_you_mean(str(port), list(_STRUCTURE_PORTS))
                             or "write 'inputs as dict' or 'outputs as dict'")
        if str(kind) not in _STRUCTURE_KINDS:
            raise self._fail("K103", f"unknown structure '{kind}' for the {port}", self._tspan(kind),
                             did_you_mean(str(kind), list(_STRUCTURE_KINDS)) or "use 'list' or 'dict'")
        return _Stmt("structure", self._span(), {"port": str(port), "kind": str(kind)})

    @_children
    def for_stmt(self, children: list[Any]) -> _Stmt:
        var, bounds, *body = children
        if len(bounds) > 3:
            raise self._fail("K103", "range() takes at most 3 numbers: range(stop), range(start, stop, step)",
                             self._span())
        return _Stmt("for", self._span(), {"var": str(var), "range": bounds, "body": body,
                                               "var_span": self._tspan(var)})

    @_children
    def for_over(self, children: list[Any]) -> _Stmt:
        var, over, *body = children
        return _Stmt("for", self._span(), {"var": str(var), "over": over, "body": body,
                                               "var_span": self._tspan(var)})

    @_children
    def if_stmt(self, children: list[Any]) -> _Stmt:
        test, *body, orelse = children
        return _Stmt("if", self._span(), {"test": test, "body": body, "orelse": orelse or []})

    def else_clause(self, *stmts: _Stmt) -> list[_Stmt]:
        return list(stmts)

    def else_if(self, stmt: _Stmt) -> list[_Stmt]:
        return [stmt]

    @_children
    def return_stmt(self, children: list[Any]) -> _Stmt:
        return _Stmt("return", self._span(), {"exprs": list(children)})

    def setting(self, name: Token, value: Any) -> _Stmt:
        # located at the name (errors underline it); end_line is where the
        # value ends, so fmt knows which comments and lines it covers
        span = self._tspan(name)
        end_line = self.cur[1].end_line if self.cur is not None else None
        if end_line is not None and end_line != span.line:
            span = Span(file=self.file, line=span.line, column=span.column, end_line=end_line, end_column=None)
        return _Stmt("setting", span, {"name": str(name), "value": value})

    # -- top level ----------------------------------------------------------

    # Top-level items are built once the whole file is read (in ``start``),
    # because what a name means depends on definitions anywhere in the file.

    @_children
    def model(self, children: list[Any]) -> _Top:
        name, *stmts = children
        span = self._span()
        return _Top("model", str(name), lambda: _ModelResolver(self, str(name), span).functional(stmts), span=span)

    @_children
    def sequential(self, children: list[Any]) -> _Top:
        name, *rest = children  # the input is optional (and leaves no placeholder)
        has_input = bool(rest) and isinstance(rest[0], _Stmt) and rest[0].kind == "input"
        inp, layers = (rest[0], rest[1:]) if has_input else (None, rest)
        span = self._span()
        return _Top("model", str(name), lambda: _ModelResolver(self, str(name), span).sequential(inp, layers),
                    span=span)

    @_children
    def block(self, children: list[Any]) -> _Top:
        name, *rest = children
        params = [p for p in rest if isinstance(p, tuple)]
        stmts = [s for s in rest if isinstance(s, _Stmt)]
        span = self._span()
        values = {p[0] for p in params if (p[1] is not None or p[3]) and p[1] != "tensor"}
        return _Top("block", str(name), lambda: _ModelResolver(self, str(name), span).block(params, stmts), values,
                    span)

    def bdefault(self, value: Any) -> tuple[str, Any]:
        return ("default", value)

    def bparam(self, name: Token, type_: Token | None, default: tuple[str, Any] | None) -> tuple[Any, ...]:
        has_default = default is not None
        value = default[1] if default is not None else None
        return (str(name), str(type_) if type_ is not None else None, value, has_default, self._span())

    def param(self, name: Token, type_: Token | None, value: Any, space: _RawSpace | None = None) -> _Top:
        span = self._span()

        def build() -> ir.Param:
            resolved = _Resolver(self, _Scope(self.names.params), "layer").value(value)
            _check_param_type(self, str(type_) if type_ else None, span)
            return ir.Param(name=str(name), type=str(type_) if type_ else None, default=resolved, has_default=True,
                            space=self._space(space) if space is not None else None, span=span)

        return _Top("param", str(name), build, span=span)

    def space(self, value: Any) -> _RawSpace:
        return _RawSpace(value, self._span())

    def _space(self, raw: _RawSpace) -> ir.Space:
        """The IR of a search space; its shape is checked here (K103), its
        values by :mod:`kspec.compiler.spaces` (K218)."""
        v = raw.value
        if isinstance(v, list):
            values = [_Resolver(self, _Scope(self.names.params), "layer").value(x) for x in v]
            if any(not _is_literal(x) for x in values):
                raise self._fail("K103", "the choices of a search space are plain values", raw.span,
                                 "write numbers, strings, true/false or none: in [32, 64, 128]")
            return ir.Space(kind="choice", values=values, span=raw.span)
        if isinstance(v, _RawCall) and v.name in ("range", "log"):
            if v.kwargs or len(v.args) not in (2, 3) or not all(_is_number(x) for x in v.args):
                step = "step" if v.name == "range" else "factor"
                raise self._fail("K103", f"{v.name}() in a search space takes 2 or 3 numbers: "
                                         f"{v.name}(low, high) or {v.name}(low, high, {step})", v.span)
            return ir.Space(kind=v.name, values=list(v.args), span=raw.span)  # type: ignore[arg-type]
        raise self._fail("K103", "a search space is a list of choices, range(...) or log(...)", raw.span,
                         "in [32, 64, 128], in range(16, 128, 16) or in log(1e-4, 1e-2)")

    def use(self, path: Token) -> tuple[str, str, Span]:
        return ("use", _unquote(str(path)), self._span())

    @_children
    def section(self, children: list[Any]) -> _Top:
        span = self._span()
        return _Top("section", "", lambda: self._section(span, children), span=span)

    def _section(self, span: Span, children: list[Any]) -> tuple[str, ir.Section]:
        kw, name, *settings = children
        resolver = _Resolver(self, _Scope(self.names.params), "section")
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        for st in settings:
            key = st.data["name"]
            if key in values:
                raise self._fail("K103", f"'{key}' is set twice in this {kw} section", st.span)
            values[key] = resolver.value(st.data["value"])
            spans[key] = st.span
        return (str(kw), ir.Section(model=str(name), settings=values, span=span, key_spans=spans))

    @_children
    def start(self, tops: list[Any]) -> ir.Spec:
        names = _Names()
        for top in tops:
            if isinstance(top, _Top):
                if top.kind == "model":
                    names.models.add(top.name)
                elif top.kind == "block":
                    names.blocks[top.name] = top.values
                elif top.kind == "param":
                    names.params.add(top.name)
            elif isinstance(top, tuple) and top[0] == "use":
                names.uses = True
        self.names = names
        children = []
        errors: list[Diagnostic] = []
        for top in tops:  # independent items: report every broken one
            try:
                children.append(top.build() if isinstance(top, _Top) else top)
            except _Fail as exc:
                errors.append(exc.diag)
            except KspecError as exc:
                errors += exc.diagnostics
            except (_TooDeep, RecursionError) as exc:
                errors.append(_too_deep(exc, top.span if isinstance(top, _Top) else None, self.file))
        if errors:
            raise KspecError(errors)
        models, blocks, params, uses = [], [], [], []
        sections: dict[str, list[ir.Section]] = {"compile": [], "train": []}
        seen: dict[tuple[str, str], Span | None] = {}
        for item in children:
            if isinstance(item, (ir.Block, ir.Param)):
                key = (type(item).__name__, item.name)
                if key in seen:
                    what = "block" if isinstance(item, ir.Block) else "parameter"
                    raise self._fail("K103", f"{what} '{item.name}' is defined twice",
                                     item.span or Span(file=self.file), f"the first definition is at {seen[key]}")
                seen[key] = item.span
            if isinstance(item, (ir.FunctionalModel, ir.SequentialModel)):
                models.append(item)
            elif isinstance(item, ir.Block):
                blocks.append(item)
            elif isinstance(item, ir.Param):
                params.append(item)
            elif isinstance(item, tuple) and item[0] == "use":
                uses.append(item[1])
            elif isinstance(item, tuple):
                sections[item[0]].append(item[1])
        return ir.Spec(models=models, blocks=blocks, params=params, uses=uses, compile=sections["compile"],
                       train=sections["train"], span=Span(file=self.file))


@record
class _Top:
    """A top-level item, built once every top-level name is known."""

    kind: str
    name: str
    build: Callable[[], Any]
    values: set[str] = field(default_factory=set)
    span: Span | None = None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_literal(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, float, str))


def _is_placeholder(x: Any) -> bool:
    return x is None


def _sub_item(item: Any) -> Any:
    """One item of a subscript, with ``...`` as its marker."""
    return _ELLIPSIS if isinstance(item, Token) and item.type == "ELLIPSIS" else item


def _value_span(value: Any) -> Span | None:
    if isinstance(value, (_Name, _RawCall, _RawOp, _RawIndex, _RawAttr, _RawFormat)):
        return value.span
    return None


_PARAM_TYPES = ("int", "float", "bool", "str", "any")


def _check_param_type(b: _Builder, type_: str | None, span: Span) -> None:
    if type_ is not None and type_ not in _PARAM_TYPES:
        raise b._fail("K103", f"unknown parameter type '{type_}'", span,
                      f"use one of: {', '.join(_PARAM_TYPES)}")


# ---------------------------------------------------------------------------
# resolving names and building statements


_OPS = {"+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"}

#: What :meth:`_ModelResolver.tensorish` found out: by a compound raw value's id, the value and the answer.
_Seen = dict[int, tuple[Any, bool]]

#: The types of the values that stand for themselves in every scope.
_PLAIN = frozenset({int, float, str, bool, type(None)})


class _Resolver:
    """Raw values -> IR values in one scope.

    ``mode`` says what an unknown bare name means: ``"layer"`` and
    ``"section"``: a string; ``"call"``: a tensor (:class:`Ref`);
    ``"expr"``: a parameter (:class:`Var`)."""

    def __init__(self, b: _Builder, scope: _Scope, mode: str) -> None:
        self.b = b
        self.scope = scope
        self.mode = mode
        self.nesting = limits.current().nesting

    def value(self, v: Any) -> Any:
        """The IR of raw value ``v``. Values nested deeper than the
        ``nesting`` limit (lists, calls, operations on parameters inside one
        another) are an error at ``v``, or where the statement holding it
        is, for a bare list or dict (:class:`_TooDeep`)."""
        try:
            return self._value(v, 0)
        except _TooDeep:
            span = getattr(v, "span", None)
            if span is None:
                raise
            raise self.b._fail("K103", _TooDeep.message(), span, _TooDeep.hint) from None

    def _value(self, v: Any, depth: int) -> Any:
        if type(v) in _PLAIN:
            return v
        if isinstance(v, (_RawApply, _RawSub)) or (isinstance(v, _RawCall) and v.name.startswith("ops.")):
            raise self.b._fail("K103", "an operation on tensors cannot be an argument value", v.span,
                               "compute it as a tensor of its own: h = ops.mean(x, axis=1)")
        if isinstance(v, _Name):
            if v.name in self.scope or self.mode == "expr":
                return ir.Var(name=v.name, span=v.span)
            if self.mode == "call":
                return ir.Ref(name=v.name, span=v.span)
            return v.name
        if depth >= self.nesting:  # what follows holds values
            raise _TooDeep
        depth += 1
        if isinstance(v, _RawCall):
            return ir.Call(fn=v.name, args=[self._value(a, depth) for a in v.args],
                           kwargs={k: self._value(x, depth) for k, x in v.kwargs.items()}, span=v.span,
                           key_spans=v.key_spans)
        if isinstance(v, _RawOp):
            for o in v.operands:
                if isinstance(o, _Name) and o.name not in self.scope and self.mode != "expr":
                    raise self.b._fail("K212", f"unknown parameter '{o.name}'", o.span,
                                       did_you_mean(o.name, self.scope)
                                       or "arithmetic works on parameters (param, block parameters, loop indices)")
            ops = [self._value(o, depth) for o in v.operands]
            if v.op == "if":
                return ir.Cond(test=ops[0], then=ops[1], otherwise=ops[2], span=v.span)
            if len(ops) == 1:
                return ir.UnaryOp(op=v.op, operand=ops[0], span=v.span)  # type: ignore[arg-type]
            return ir.BinOp(op=v.op, left=ops[0], right=ops[1], span=v.span)  # type: ignore[arg-type]
        if isinstance(v, _RawIndex):
            for o in (v.value, v.index):
                if isinstance(o, _Name) and o.name not in self.scope and self.mode != "expr":
                    raise self.b._fail("K212", f"unknown parameter '{o.name}'", o.span,
                                       did_you_mean(o.name, self.scope)
                                       or "indexing works on parameters (a list parameter, loop indices) and x.shape")
            return ir.Index(value=self._value(v.value, depth), index=self._value(v.index, depth), span=v.span)
        if isinstance(v, _RawAttr):
            return ir.Attr(value=ir.Ref(name=v.value.name, span=v.value.span), span=v.span)
        if isinstance(v, _RawFormat):
            for o in v.parts:
                if isinstance(o, _Name) and o.name not in self.scope and self.mode != "expr":
                    raise self.b._fail("K212", f"unknown parameter '{o.name}' in an f-string", v.span,
                                       did_you_mean(o.name, self.scope))
            return ir.Format(parts=[self._value(x, depth) for x in v.parts], span=v.span)
        if isinstance(v, list):
            return [self._value(x, depth) for x in v]
        if isinstance(v, dict):
            return {k: self._value(x, depth) for k, x in v.items()}
        return v


class _Scope:
    """The names a value may use in one model, block or parameter: the
    file's parameters, read rather than copied (a file may declare
    thousands, and have thousands of models and blocks), and the names the
    scope adds itself (tensors, loop variables), added and removed in place."""

    __slots__ = ("local", "params")

    def __init__(self, params: set[str]) -> None:
        self.params = params
        self.local: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self.local or name in self.params

    def __iter__(self) -> Iterator[str]:
        yield from self.params
        yield from (name for name in self.local if name not in self.params)

    def add(self, name: str) -> None:
        self.local.add(name)

    def discard(self, name: str) -> None:
        self.local.discard(name)


class _SharedNames:
    """The names that stand for something shared in one model: the file's
    other models, and the model's own named layers (added in place with
    ``|=``). It reads the file's set of models rather than copying it, so a
    file of many models costs no copy of every model name per model."""

    __slots__ = ("local", "models", "own")

    def __init__(self, models: set[str], own: str) -> None:
        self.models = models
        self.own = own
        self.local: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self.local or (name != self.own and name in self.models)

    def __ior__(self, names: set[str]) -> _SharedNames:
        self.local |= names
        return self

    def __or__(self, other: set[str]) -> set[str]:
        return (self.models - {self.own}) | self.local | other


class _ModelResolver:
    """Builds one model or block from its raw statements."""

    def __init__(self, b: _Builder, name: str, span: Span) -> None:
        self.b = b
        self.name = name
        self.span = span
        self.scope = _Scope(b.names.params)
        self.shared = _SharedNames(b.names.models, name)
        #: the resolvers of :meth:`values`, by mode (all share ``scope``, which only ever changes in place)
        self._resolvers: dict[str, _Resolver] = {"layer": _Resolver(b, self.scope, "layer")}

    # -- pieces -------------------------------------------------------------

    def input(self, st: _Stmt) -> ir.Input:
        d = st.data
        extra: dict[str, Any] = {}
        key_spans: dict[str, Span] = {}
        for kw in d["opts"] or []:
            if kw.name not in ("batch_size", "sparse"):
                raise self.b._fail("K103", f"unknown input option '{kw.name}'", kw.span,
                                   "an input takes 'batch_size' and 'sparse'")
            extra[kw.name] = kw.value
            key_spans[kw.name] = kw.span
        if d["dtype"] is not None:
            extra["dtype"] = str(d["dtype"])
        shape = [self.dim(dim, st.span) for dim in d["shape"]]
        try:
            return ir.Input(name=d["name"], shape=shape, span=st.span, key_spans=key_spans, **extra)
        except ir.NodeError as exc:
            raise self.b._fail("K103", f"invalid input: {exc.message}", st.span) from None

    def dim(self, dim: Any, span: Span) -> Any:
        """One dimension of an input's shape: a positive size, ``None``, or
        an expression of the file's parameters (``latent_dim``)."""
        computed = isinstance(dim, (_Name, _RawOp, _RawIndex)) or (
            isinstance(dim, _RawCall) and dim.name in ir.BUILTINS)
        if isinstance(dim, bool) or (dim is not None and not isinstance(dim, int) and not computed):
            raise self.b._fail("K103", "a dimension is a whole number, None or a parameter",
                               _value_span(dim) or span, "write input x: (28, 28, 1) or input z: (latent_dim,)")
        if isinstance(dim, int) and dim <= 0:
            raise self.b._fail("K103", f"dimensions must be positive or None, got {dim}", span)
        if isinstance(dim, _Name) and dim.name not in self.scope:
            raise self.b._fail("K212", f"unknown parameter '{dim.name}'", dim.span,
                               did_you_mean(dim.name, self.scope) or "declare it: param NAME: int = 64")
        return self.values("layer").value(dim)

    def values(self, mode: str) -> _Resolver:
        """The resolver of raw values in this scope, for ``mode`` (see :class:`_Resolver`)."""
        r = self._resolvers.get(mode)
        if r is None:
            r = self._resolvers[mode] = _Resolver(self.b, self.scope, mode)
        return r

    def layer_call(self, call: _RawCall) -> ir.LayerCall:
        value = self._resolvers["layer"].value
        return ir.LayerCall(type=call.name, args=[value(a) for a in call.args],
                            kwargs={k: value(v) for k, v in call.kwargs.items()}, span=call.span,
                            key_spans=call.key_spans)

    def call_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if not kwargs:
            return {}
        value = self.values("call").value
        return {k: value(v) for k, v in kwargs.items()}

    def tensor_names(self, items: list[Any], what: str) -> list[str]:
        out = []
        for item in items:
            if not isinstance(item, _Name):
                raise self.b._fail("K103", f"{what} takes tensor names here, not a value",
                                   _value_span(item) or self.span,
                                   "layer arguments go in the first parentheses: Dense(8)(x)")
            out.append(item.name)
        return out

    def used_block(self, call: _RawCall) -> bool:
        """Whether ``call`` may apply a block of a used file, ``mlp(x)``:
        the file uses others, and ``call`` applies a name that is no Keras
        layer and not close to this file's own names (``encc(x)`` for a
        named layer ``enc`` is still K208). Expansion, which reads the used
        files, says whether there is such a block (K203 when there is not)."""
        names = self.b.names
        if not names.uses or not self._applies_unknown(call):
            return False
        found = names.used_blocks.get(call.name)
        if found is None:
            # Past MAX_SUGGESTIONS names, the rest are taken as blocks (K203 if
            # none): comparing each with every name would cost their product.
            found = len(names.used_blocks) >= MAX_SUGGESTIONS \
                or not close_matches(call.name, self.shared | set(names.blocks))
            names.used_blocks[call.name] = found
        return found

    def block_call(self, call: _RawCall) -> tuple[list[str], ir.LayerCall]:
        """``residual(x, 64)``: leading tensor names are the inputs (all
        leading names not parameters, for a block of a used file)."""
        params = self.b.names.blocks.get(call.name, set())
        inputs: list[str] = []
        args = list(call.args)
        while args and isinstance(args[0], _Name) and args[0].name not in self.scope and args[0].name not in params:
            inputs.append(args.pop(0).name)
        lc = self.layer_call(_RawCall(call.name, args, call.kwargs, call.span, call.key_spans))
        return inputs, lc

    def callee(self, c: _RawStep) -> ir.Step:
        if isinstance(c, _Name):
            n, span = c.name, c.span
            if n in self.b.names.blocks:
                return ir.Step(layer=ir.LayerCall(type=n, span=span), span=span)
            return ir.Step(layer=ir.LayerRef(ref=n, span=span), span=span)
        applied = isinstance(c, _Callee)
        call = c.call if isinstance(c, _Callee) else c
        span = c.span  # a plain call's is the step's
        if call.name.startswith("ops."):
            if applied:
                raise self.b._fail("K103", f"'{call.name}' is an operation; it takes no call arguments", span,
                                   f"give every argument at once: -> {call.name}(...)")
            return ir.Step(layer=self.op_call(call), span=span)
        if call.name in MERGE_HELPERS and call.name not in self.shared and call.name not in self.b.names.blocks:
            call = _RawCall(MERGE_HELPERS[call.name], call.args, call.kwargs, call.span, call.key_spans)
        if isinstance(c, _Callee) and c.applied_positional:
            raise self.b._fail("K103", "a step in a chain gets its tensor from the left of '->'; "
                               "only keyword arguments may follow", _value_span(c.applied_positional[0]) or span)
        applied_kwargs = c.applied_kwargs if isinstance(c, _Callee) else {}
        if call.name in self.shared:
            if call.args:
                raise self.b._fail("K103", f"'{call.name}' is a named layer or model; it takes no layer arguments",
                                   call.span, f"apply it to tensors: {call.name}(x) or x -> {call.name}")
            kwargs = {**call.kwargs, **applied_kwargs}
            return ir.Step(layer=ir.LayerRef(ref=call.name, span=call.span), call_kwargs=self.call_kwargs(kwargs),
                           span=span)
        return ir.Step(layer=self.layer_call(call), call_kwargs=self.call_kwargs(applied_kwargs), span=span)

    # -- operations on tensors ----------------------------------------------

    def is_tensor(self, name: str) -> bool:
        """Whether a bare name in an expression is a tensor: not a parameter
        (or loop index), not a named layer or model, not a block."""
        return name not in self.scope and name not in self.shared and name not in self.b.names.blocks

    def tensorish(self, v: Any, seen: _Seen | None = None) -> bool:
        """Whether a raw value computes on tensors (so it is an operation,
        not parameter arithmetic). ``seen`` keeps the answers about the
        compound values asked about already: converting an operation asks
        again about each of its operands, which would make a long sum
        (``a + b + c + ...``) quadratic."""
        if isinstance(v, _Name):
            return self.is_tensor(v.name)
        if isinstance(v, _RawCall):
            return v.name.startswith("ops.")
        if not isinstance(v, (_RawOp, _RawSub, _RawIndex, list)):
            return False
        if seen is None:
            seen = {}
        known = seen.get(id(v))
        if known is not None:
            return known[1]
        if isinstance(v, _RawOp):
            found = any(self.tensorish(o, seen) for o in v.operands)
        elif isinstance(v, list):
            found = any(self.tensorish(x, seen) for x in v)
        else:
            found = self.tensorish(v.value, seen)
        seen[id(v)] = (v, found)  # the value is kept, so its id is not reused while ``seen`` lives
        return found

    def operand(self, v: Any, seen: _Seen | None = None) -> Any:
        """A raw value inside an operation: tensors become :class:`~kspec.spec.ir.Ref`,
        operations :class:`~kspec.spec.ir.Op`, anything else a value
        (numbers, parameters and their arithmetic, evaluated at expansion).
        ``seen``: as for :meth:`tensorish`."""
        if seen is None:
            seen = {}
        if isinstance(v, _RawApply):
            raise self.b._fail("K103", f"a layer applied to tensors ({v.call.name}(...)(...)) cannot be an operand",
                               v.span, "name its result first: h = x -> Layer(...), then use h")
        if isinstance(v, list):
            return [self.operand(x, seen) for x in v]
        if isinstance(v, dict):
            return {k: self.operand(x, seen) for k, x in v.items()}
        if not self.tensorish(v, seen):
            return self.values("layer").value(v)
        if isinstance(v, _Name):
            return ir.Ref(name=v.name, span=v.span)
        if isinstance(v, _RawCall):
            return self.op_call(v, seen)
        if isinstance(v, _RawIndex):
            return ir.Op(fn="get_item", args=[self.operand(v.value, seen), self.sub_item(v.index, seen)], span=v.span)
        if isinstance(v, _RawSub):
            items = [self.sub_item(i, seen) for i in v.key.items]
            return ir.Op(fn="get_item", args=[self.operand(v.value, seen), items if v.key.is_tuple else items[0]],
                         span=v.span)
        assert isinstance(v, _RawOp)
        if len(v.operands) == 1 and v.op in UNARY:
            return ir.Op(fn=UNARY[v.op], args=[self.operand(v.operands[0], seen)], span=v.span)
        if v.op not in BINARY:
            word = "if ... else" if v.op == "if" else f"'{v.op}'"
            raise self.b._fail("K213", f"{word} does not work on tensors", v.span,
                               "use an operation: ops.logical_and(a, b), ops.where(c, a, b)")
        return ir.Op(fn=BINARY[v.op], args=[self.operand(o, seen) for o in v.operands], span=v.span)

    def sub_item(self, item: Any, seen: _Seen | None = None) -> Any:
        """One item of a tensor subscript: an index, a slice, ``...`` or ``None``."""
        if item is _ELLIPSIS:
            return ir.EllipsisValue()
        if isinstance(item, _RawSlice):
            r = self.values("layer")
            return ir.Slice(start=r.value(item.start), stop=r.value(item.stop), step=r.value(item.step),
                            span=item.span)
        return self.operand(item, seen)

    def op_call(self, call: _RawCall, seen: _Seen | None = None) -> ir.Op:
        """``ops.mean(x, axis=1)`` as an operation."""
        if seen is None:
            seen = {}
        return ir.Op(fn=call.name.removeprefix("ops."), args=[self.operand(a, seen) for a in call.args],
                     kwargs={k: self.operand(v, seen) for k, v in call.kwargs.items()}, span=call.span,
                     key_spans=call.key_spans)

    def op_head(self, h: _OpHead) -> tuple[list[str], list[ir.Step]]:
        """A chain's head made of operations, in canonical form (:func:`kspec.spec.ops.op_chain`)."""
        value = self.operand(h.value)
        if not isinstance(value, ir.Op) or not has_tensor(value):
            raise self.b._fail("K103", "this expression computes no tensor", h.span,
                               "parameter arithmetic belongs in layer arguments: Dense(4 * units); "
                               "an operation needs a tensor: x * 2")
        return op_chain(value)

    def merge_helper(self, call: _RawCall) -> _RawCall | _RawApply:
        """Keras's lowercase merge helpers: ``concatenate(a, b, axis=1)`` or
        ``concatenate([a, b], axis=1)`` is ``Concatenate(axis=1)(a, b)``."""
        if call.name not in MERGE_HELPERS or call.name in self.shared or call.name in self.b.names.blocks:
            return call
        args = list(call.args)
        if args and isinstance(args[0], list):
            tensors, rest = args[0], args[1:]
        else:
            n = 0
            while n < len(args) and isinstance(args[n], _Name) and self.is_tensor(args[n].name):
                n += 1
            tensors, rest = args[:n], args[n:]
        layer = _RawCall(MERGE_HELPERS[call.name], rest, call.kwargs, call.span, call.key_spans)
        return _RawApply(layer, tensors, {}, call.span)

    def expr(self, e: _RawExpr) -> tuple[ir.Expr, bool]:
        """The IR expression, and whether it has input tensors (else it is
        a layer stack)."""
        h = e.head
        inputs: list[str] = []
        steps: list[ir.Step] = []
        has_inputs = True
        if isinstance(h, _RawCall):
            h = self.merge_helper(h)
        if isinstance(h, _OpHead):
            inputs, steps = self.op_head(h)
        elif isinstance(h, _Name):
            if h.name in self.shared:
                span = h.span
                steps.append(ir.Step(layer=ir.LayerRef(ref=h.name, span=span), span=span))
                has_inputs = False
            elif h.name in self.b.names.blocks and e.steps:
                span = h.span
                steps.append(ir.Step(layer=ir.LayerCall(type=h.name, span=span), span=span))
                has_inputs = False
            else:
                inputs.append(h.name)
        else:
            call = h.call if isinstance(h, _RawApply) else h
            if call.name in self.shared:
                if isinstance(h, _RawApply):
                    if call.args or call.kwargs:
                        raise self.b._fail("K103", f"'{call.name}' is a named layer or model; it takes no layer "
                                           "arguments", call.span)
                    inputs = self.tensor_names(h.args, f"'{call.name}'")
                    kwargs = h.kwargs
                else:
                    inputs = self.tensor_names(call.args, f"'{call.name}'")
                    kwargs = call.kwargs
                steps.append(ir.Step(layer=ir.LayerRef(ref=call.name, span=call.span),
                                     call_kwargs=self.call_kwargs(kwargs), span=h.span))
                has_inputs = bool(inputs)
            elif not isinstance(h, _RawApply) and (call.name in self.b.names.blocks or self.used_block(call)):
                inputs, lc = self.block_call(call)
                steps.append(ir.Step(layer=lc, span=h.span))
                has_inputs = bool(inputs)
            else:
                lc = self.layer_call(call)
                if isinstance(h, _RawApply):
                    inputs = self.tensor_names(h.args, call.name)
                    steps.append(ir.Step(layer=lc, call_kwargs=self.call_kwargs(h.kwargs), span=h.span))
                    has_inputs = bool(inputs)
                else:
                    steps.append(ir.Step(layer=lc, span=h.span))
                    has_inputs = False
        for c in e.steps:
            steps.append(self.callee(c))
        if not has_inputs:
            for st in steps:
                if st.call_kwargs:
                    raise self.b._fail("K103", "call arguments need a tensor to call the layer on", st.span or e.span)
        return ir.Expr(inputs=inputs, steps=steps, span=e.span), has_inputs

    def _applies_unknown(self, call: _RawCall) -> bool:
        """Whether ``call`` looks like ``encc(x)``: an unknown name applied
        to tensors (no Keras layer has that name)."""
        if not any(isinstance(a, _Name) and a.name not in self.scope for a in call.args):
            return False
        from kspec.catalogue import ALIASES, catalogue

        return call.name not in catalogue().layers and call.name not in ALIASES

    def check_applied(self, e: _RawExpr) -> None:
        """``encc(x)`` with ``encc`` undefined reads as a new layer of type
        ``encc``; when it is no Keras layer either, say what was meant."""
        call = e.head
        if not isinstance(call, _RawCall) or not self._applies_unknown(call):
            return
        known = sorted(self.shared | set(self.b.names.blocks))
        raise self.b._fail("K208", f"'{call.name}' is not a named layer, model or block", call.span,
                           did_you_mean(call.name, known)
                           or f"to apply a new layer to a tensor write: x -> {call.name}(...)")

    def tensor_expr(self, e: _RawExpr, what: str) -> ir.Expr:
        expr, has_inputs = self.expr(e)
        if not has_inputs:
            self.check_applied(e)
            raise self.b._fail("K103", f"{what} needs an input tensor", e.span,
                               "write it as a chain from a tensor: x -> Dense(8)")
        return expr

    # -- models -------------------------------------------------------------

    def functional(self, stmts: list[_Stmt]) -> ir.FunctionalModel:
        self.shared |= self._layer_def_names(stmts)
        inputs: list[ir.Input] = []
        layers: list[ir.LayerDef] = []
        nodes: list[ir.Assign] = []
        outputs: list[ir.Output] = []
        errors: list[Diagnostic] = []
        structure: dict[str, _Stmt] = {}
        for st in stmts:
            try:
                if st.kind == "structure":
                    self._structure(st, structure)
                else:
                    self._statement(st, inputs, layers, nodes, outputs)
            except _Fail as exc:
                errors.append(exc.diag)
            except (_TooDeep, RecursionError) as exc:
                errors.append(_too_deep(exc, st.span, self.b.file))
        if errors:
            raise KspecError(errors)
        kinds = ir.Structure(**{port: st.data["kind"] for port, st in structure.items()},
                             key_spans={port: st.span for port, st in structure.items()})
        return ir.FunctionalModel(name=self.name, structure=kinds, inputs=inputs, layers=layers, nodes=nodes,
                                  outputs=outputs, span=self.span)

    def _structure(self, st: _Stmt, seen: dict[str, _Stmt]) -> None:
        """``inputs as dict``: at most once for the inputs, once for the outputs."""
        port = st.data["port"]
        if port in seen:
            first = seen[port].span
            raise self.b._fail("K103", f"the structure of the {port} is already given at {first.line}:{first.column}",
                               st.span, "keep one of the two")
        seen[port] = st

    def _statement(self, st: _Stmt, inputs: list[ir.Input], layers: list[ir.LayerDef], nodes: list[ir.Assign],
                   outputs: list[ir.Output]) -> None:
        if st.kind == "assign":  # the usual statement first
            expr, has_inputs = self.expr(st.data["expr"])
            targets = st.data["targets"]
            if has_inputs:
                nodes.append(ir.Assign(targets=targets, value=expr, span=st.span))
            else:
                self.check_applied(st.data["expr"])
                if len(targets) != 1:
                    raise self.b._fail("K103", "a named layer has one name", self.b._tspan(st.data["target_tokens"][1]))
                stack: list[ir.LayerCall | ir.LayerRef] = []
                for step in expr.steps:
                    if isinstance(step.layer, ir.Op):
                        raise self.b._fail("K103", "a named layer holds layers, not operations", step.span or st.span,
                                           "apply the operation to a tensor: y = x -> enc -> ops.relu()")
                    stack.append(step.layer)
                layers.append(ir.LayerDef(name=targets[0], stack=stack, span=st.span))
        elif st.kind == "input":
            inputs.append(self.input(st))
        elif st.kind == "output":
            expr = self.tensor_expr(st.data["expr"], "an output")
            outputs.append(ir.Output(name=st.data["name"], value=expr, span=st.span))
        elif st.kind == "for":
            raise self.b._fail("K103", "loops are written inside blocks", st.span,
                               "put the loop in a block and call the block from the model")
        elif st.kind == "if":
            raise self.b._fail("K103", "'if' is written inside blocks", st.span,
                               "put it in a block and call the block from the model")
        elif st.kind == "return":
            raise self.b._fail("K103", "'return' belongs in a block; a model names its results with 'output'",
                               st.span)

    def _layer_def_names(self, stmts: list[_Stmt]) -> set[str]:
        """Names assigned a chain without an input tensor: one that starts at
        a named layer (``stack = encoder -> Dense(2)``, wherever ``encoder``
        is named) or at a new layer not applied to a tensor.

        The fixpoint of reading the statements again and again, reached in
        one reading and one pass over a worklist (linear in the statements)."""
        shared = self.shared
        found: set[str] = set()
        #: chains that start at a name not (yet) known to be a named layer: that name -> their targets
        waiting: dict[str, list[str]] = {}
        for st in stmts:
            if st.kind != "assign" or len(st.data["targets"]) != 1:
                continue
            target = st.data["targets"][0]
            if target in found:
                continue
            head = st.data["expr"].head
            if isinstance(head, _Name):
                if head.name in shared or head.name in found:
                    found.add(target)
                else:
                    waiting.setdefault(head.name, []).append(target)
            elif isinstance(head, _RawCall) and self._defines(head, found):
                found.add(target)
        # A chain that starts at a call is decided where it is read (a name
        # defined later cannot make it a definition); one at a name is one
        # once the name is, wherever that name is defined.
        todo = list(found)
        while todo:
            for target in waiting.pop(todo.pop(), ()):
                if target not in found:
                    found.add(target)
                    todo.append(target)
        return found

    def _defines(self, call: _RawCall, found: set[str]) -> bool:
        """Whether ``call`` at the head of a chain starts a layer stack (no
        input tensor), ``found`` being the names defined so far."""
        n = call.name
        if n in self.shared or n in found or n in MERGE_HELPERS or n.startswith("ops."):
            return False
        if n in self.b.names.blocks:
            return not any(isinstance(a, _Name) and a.name not in self.scope
                           and a.name not in self.b.names.blocks[n] for a in call.args[:1])
        return not self._applies_unknown(call)

    def sequential(self, inp: _Stmt | None, layers: list[_Stmt]) -> ir.SequentialModel:
        callees: list[ir.LayerCall | ir.LayerRef] = []
        for st in layers:
            step = self.callee(st.data["callee"])
            if step.call_kwargs:
                raise self.b._fail("K103", "a sequential layer takes no call arguments", st.span)
            if isinstance(step.layer, ir.Op):
                raise self.b._fail("K103", "a sequential model holds layers, not operations", st.span,
                                   "write the model as 'model NAME { ... }' to compute on tensors")
            callees.append(step.layer)
        return ir.SequentialModel(name=self.name, input=self.input(inp) if inp is not None else None, layers=callees,
                                  span=self.span)

    # -- blocks -------------------------------------------------------------

    def block(self, params: list[tuple[Any, ...]], stmts: list[_Stmt]) -> ir.Block:
        inputs: list[str] = []
        values: list[ir.Param] = []
        seen: set[str] = set()
        for name, type_, _default, has_default, span in params:
            if name in seen:
                raise self.b._fail("K103", f"parameter '{name}' is listed twice", span)
            seen.add(name)
            if type_ is None and not has_default:
                if values:
                    raise self.b._fail("K103", f"tensor parameter '{name}' must come before the value parameters",
                                       span, "give it a type (filters: int) if it is a value")
                inputs.append(name)
                continue
            if type_ == "tensor":
                inputs.append(name)
                continue
            _check_param_type(self.b, type_, span)
            self.scope.add(name)
            values.append(ir.Param(name=name, type=type_, default=None, has_default=has_default, span=span))
        resolved: list[ir.Param] = []
        for (_name, _t, default, _h, _s), p in zip([q for q in params if q[0] not in inputs], values, strict=True):
            resolved.append(p.model_copy(update={"default": self.values("layer").value(default)}) if p.has_default
                            else p)
        body, returns = self._block_body(stmts, None)
        if not returns:
            raise self.b._fail("K103", f"block '{self.name}' has no 'return'", self.span,
                               "end the block with: return <tensor>")
        return ir.Block(name=self.name, inputs=inputs, params=resolved, body=body, returns=returns, span=self.span)

    def _block_body(self, stmts: list[_Stmt], inside: str | None,
                    depth: int = 0) -> tuple[list[Any], list[ir.Expr]]:
        """Statements of a block's body (``inside``: None at its top, else
        what holds them, a loop or an 'if', ``depth`` of them), and what it
        returns. Loops and 'if's nest at most as deep as the ``nesting``
        limit (an ``else if`` nests in the 'if' before it)."""
        body: list[Any] = []
        returns: list[ir.Expr] = []
        for st in stmts:
            if returns:
                raise self.b._fail("K103", "nothing may follow 'return' in a block", st.span)
            if st.kind in ("for", "if") and depth >= limits.current().nesting:
                raise self.b._fail("K103", limits.exceeded("nesting", "loops and 'if's are nested too deeply"),
                                   st.span, "move the inner part into a block of its own")
            if st.kind == "assign":
                expr, has_inputs = self.expr(st.data["expr"])
                if not has_inputs:
                    raise self.b._fail("K103", "named layers (shared weights) are defined in models, not blocks",
                                       st.span, "apply the layers to a tensor: y = x -> Dense(8)")
                body.append(ir.Assign(targets=st.data["targets"], value=expr, span=st.span))
            elif st.kind == "for":
                var = st.data["var"]
                bounds = [self.values("layer").value(v) for v in st.data.get("range", [])]
                over = self.values("layer").value(st.data["over"]) if "over" in st.data else None
                added = var not in self.scope
                self.scope.add(var)
                inner, _ = self._block_body(st.data["body"], "a loop", depth + 1)
                if added:
                    self.scope.discard(var)
                body.append(ir.For(var=var, range=bounds, over=over, body=inner, span=st.span))
            elif st.kind == "if":
                test = self.values("call").value(st.data["test"])
                then, _ = self._block_body(st.data["body"], "'if'", depth + 1)
                orelse, _ = self._block_body(st.data["orelse"], "'if'", depth + 1)
                body.append(ir.If(test=test, body=then, orelse=orelse, span=st.span))
            elif st.kind == "return":
                if inside == "'if'":
                    raise self.b._fail("K103", "'return' cannot be inside 'if'", st.span,
                                       "assign the result in each branch, then return it after the 'if'")
                if inside is not None:
                    raise self.b._fail("K103", f"'return' cannot be inside {inside}", st.span)
                returns = [self.tensor_expr(e, "a returned value") for e in st.data["exprs"]]
            elif st.kind == "input":
                raise self.b._fail("K103", "a block takes its tensors as parameters, not 'input'", st.span,
                                   f"block {self.name}(x, ...)")
            elif st.kind == "output":
                raise self.b._fail("K103", "a block gives its results with 'return', not 'output'", st.span)
        return body, returns


# ---------------------------------------------------------------------------
# syntax errors in words


_WORDS = {
    "NAME": "a name",
    "CUSTOM": "a custom layer (package::Class)",
    "OPNAME": "an operation (ops.NAME)",
    "ELLIPSIS": "'...'",
    "INT": "a number",
    "NUMBER": "a number",
    "STRING": "a string",
    "FSTRING": "a string",
    "POW": "'**'",
    "DTYPE": "a dtype",
    "TRUE": "true",
    "FALSE": "false",
    "NONE": "None",
    "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "SECTION_KW": "'compile', 'train'",
    "$END": "the end of the file",
}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_WHAT_OPENS = {"(": "the parentheses", "[": "the list", "{": "the braces"}


def _describe_terminal(name: str, strings: dict[str, str]) -> str:
    """A terminal in words: its own, its string, or its name."""
    if name in _WORDS:
        return _WORDS[name]
    string = strings.get(name)
    return f"'{string}'" if string is not None else name.lower()


#: Statement keywords, as Lark names their tokens.
_KEYWORD_TOKENS = {"OUTPUT": "output", "INPUT": "input", "RETURN": "return"}


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of the file"
    text = str(tok)
    if tok.type == "NAME" or (tok.type in _KEYWORD_TOKENS and text == _KEYWORD_TOKENS[tok.type]):
        return f"name '{text}'"  # a keyword where no keyword fits reads as the name it looks like
    if tok.type in ("INT", "NUMBER"):
        return f"number {text}"
    if tok.type == "STRING":
        return f"string {text}"
    return f"'{text}'"


_TOKEN_RE = re.compile(r'"([^"\\\n]|\\.)*"|\'([^\'\\\n]|\\.)*\'|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|\S', re.S)


def _open_brackets(text: str, upto: int) -> tuple[list[tuple[str, int, int, str]], str]:
    """Brackets still open before offset ``upto`` (char, line, col, word
    before), and the last token before ``upto``."""
    stack: list[tuple[str, int, int, str]] = []
    prev_word = ""
    line, line_start, counted = 1, 0, 0
    for m in _TOKEN_RE.finditer(text, 0, upto):
        start = m.start()
        tok = m.group(0)
        if tok in _CLOSERS:
            newlines = text.count("\n", counted, start)  # counted incrementally: linear in the text
            if newlines:
                line += newlines
                line_start = text.rfind("\n", counted, start) + 1
            counted = start
            stack.append((tok, line, start - line_start + 1, prev_word))
        elif tok in (")", "]", "}") and stack and _CLOSERS[stack[-1][0]] == tok:
            stack.pop()
        if not tok.startswith("#"):
            prev_word = tok if not (tok == ">" and prev_word == "-") else "->"
    return stack, prev_word


def _opening_words(char: str, prev: str) -> str:
    if char == "(" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prev or "") and prev not in ("range",):
        return "the call"
    if char == "(" and prev == "range":
        return "the range"
    if char == "{":
        if prev == "" or prev in ("=", ":", ",", "[", "("):
            return "the dictionary"
        return "the body"
    return _WHAT_OPENS[char]


def _syntax_diagnostic(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream if exc.pos_in_stream is not None else -1
        ch = text[pos] if 0 <= pos < len(text) else "?"
        span = Span(file=file, line=line, column=column, end_line=line, end_column=column + 1)
        if ch in "\"'":
            return Diagnostic("K103", "unterminated string", span, "close the string on the same line")
        return Diagnostic("K103", f"unexpected character {ch!r}", span)
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = set(exc.expected)
    expected.discard("COMMENT")
    if tok.type == "$END":
        lines = text.splitlines() or [""]
        line = len(lines)
        column = len(lines[-1]) + 1
        offset = len(text)
        span = Span(file=file, line=line, column=column)
    else:
        offset = tok.start_pos if tok.start_pos is not None else len(text)
        span = Span(file=file, line=tok.line or line, column=tok.column or column, end_line=tok.end_line,
                    end_column=tok.end_column)
    strings = _fast().parser.tables.strings
    words = sorted({_describe_terminal(e, strings) for e in expected})
    stack, last = _open_brackets(text, offset)
    got = _describe_token(tok)
    if str(tok) in (")", "]", "}") and tok.type != "STRING" and not stack:
        return Diagnostic("K103", f"unmatched '{tok}': nothing is open here", span,
                          "remove it, or look for an extra closing bracket above")
    if last == "->" and tok.type != "$END":
        return Diagnostic("K103", f"expected a layer after '->', found {got}", span)
    if last == "=" and "NAME" in expected and tok.type in ("RBRACE", "RPAR", "RSQB", "$END"):
        return Diagnostic("K103", f"expected a value after '=', found {got}", span)
    if stack:
        char, ln, col, prev = stack[-1]
        closer = _CLOSERS[char]
        closer_terms = {t for t in expected if _describe_terminal(t, strings) == f"'{closer}'"}
        starts_line = tok.type != "$END" and not text[text.rfind("\n", 0, offset) + 1 : offset].strip()
        other_closer = str(tok) in (")", "]", "}") and str(tok) != closer
        if tok.type == "$END" or (closer_terms and (starts_line or other_closer)):
            return Diagnostic("K103", f"expected '{closer}' to close {_opening_words(char, prev)} opened at {ln}:{col}",
                              span, f"found {got}")
    if not words:
        return Diagnostic("K103", f"unexpected {got}", span)
    notes: tuple[tuple[str, Span | None], ...] = ()
    if stack:
        char, ln, col, prev = stack[-1]
        notes = ((f"inside {_opening_words(char, prev)} opened here", Span(file=file, line=ln, column=col)),)
    if len(words) > 6:
        words = _summarise(words)
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return Diagnostic("K103", f"unexpected {got}; expected {listed}", span, notes=notes)


def _summarise(words: list[str]) -> list[str]:
    valueish = {"a name", "a number", "a string", "true", "false", "None", "'['", "'{'", "'('", "'-'", "'+'",
                "'not'", "a custom layer (package::Class)", "an operation (ops.NAME)", "'...'"}
    if len(valueish & set(words)) >= 5:
        rest = [w for w in words if w not in valueish]
        return ["a value", *rest][:6]
    return words[:6]


# ---------------------------------------------------------------------------
# entry points


def parse_with_comments(text: str, file: str = "<string>") -> tuple[ir.Spec, list[Comment]]:
    """Parse ``.kspec`` text; also return its comments (for ``kspec fmt``)."""
    _COMMENTS.clear()
    try:
        with collector_paused():
            spec = _build(text, "start", file)
        comments = [_comment(tok, text) for tok in _COMMENTS]
    except UnexpectedInput as exc:
        raise KspecError(_syntax_diagnostic(exc, text, file)) from None
    except (_Fail, KspecError, ir.NodeError, _TooDeep, RecursionError) as exc:
        raise _build_error(exc, text, file) from None
    finally:
        _COMMENTS.clear()
    assert isinstance(spec, ir.Spec)
    return spec, comments


def _build_error(exc: Exception, text: str, file: str) -> KspecError:
    """The error of a parse that the builder stopped. The builder works as
    the parser reads, so a syntax error further on comes first, as it would
    if the whole text were parsed before anything were built (the parser
    keeps no stack of Python calls: the rest is read at any depth)."""
    syntax = _syntax_error_in(text, "start")
    if syntax is not None:
        return KspecError(_syntax_diagnostic(syntax, text, file))
    if isinstance(exc, _Fail):
        return KspecError(exc.diag)
    if isinstance(exc, KspecError):
        return KspecError(exc.diagnostics)
    if isinstance(exc, ir.NodeError):
        return KspecError(Diagnostic("K103", f"invalid spec: {exc.message}", _cur_span(file)))
    return KspecError(_too_deep(exc, None, file))


def _too_deep(exc: Exception, span: Span | None, file: str) -> Diagnostic:
    """The error of a statement or top-level item (at ``span``) that nests
    values beyond the ``nesting`` limit (:class:`_TooDeep`), or so deeply
    that Python's stack ran out while it was built (a chain of a few hundred
    operations on tensors, ``x + x + ...``, nests each inside the next)."""
    message = _TooDeep.message() if isinstance(exc, _TooDeep) else "the spec is nested too deeply"
    return Diagnostic("K103", message, span or Span(file=file), _TooDeep.hint)


def _cur_span(file: str) -> Span:
    """Where the rule that failed starts (line and column only)."""
    cur = _fast().stopped_at
    if cur is None:
        return Span(file=file)
    return Span(file=file, line=cur[0].line or 1, column=cur[0].column or 1)


def _comment(tok: Token, text: str) -> Comment:
    start = tok.start_pos or 0
    before = text[text.rfind("\n", 0, start) + 1 : start]
    return Comment(line=tok.line or 1, column=tok.column or 1, text=str(tok).rstrip(), own_line=not before.strip())


def parse_kspec(text: str, file: str = "<string>") -> ir.Spec:
    """Parse ``.kspec`` text into the IR (no checks beyond syntax and
    structure). Raises :class:`KspecError` with a located ``K103``."""
    return parse_with_comments(text, file)[0]


def iter_comments(text: str) -> Iterator[Comment]:  # pragma: no cover - convenience
    """The comments of ``text`` in order."""
    yield from parse_with_comments(text)[1]



def parse_expression(text: str, span: Span | None = None) -> Any:
    """One value in .kspec syntax (``"4 * filters"``, ``'f"fc{i}"'``) as IR,
    every bare name a parameter; for the YAML form's ``{expr: ...}``.
    Raises :class:`KspecError` located at ``span``."""
    where = span or Span()
    try:
        raw = _build(text, "value", where.file)
        return _Resolver(_fast().builder, _Scope(set()), "expr").value(raw)
    except UnexpectedInput as exc:
        diag = _syntax_diagnostic(exc, text, where.file)
        raise KspecError(Diagnostic("K102", f"in the expression {text!r}: {diag.message}", where)) from None
    except _TooDeep:
        raise KspecError(Diagnostic("K102", f"in the expression {text!r}: {_TooDeep.message()}", where)) from None
    except _Fail as exc:
        syntax = _syntax_error_in(text, "value")  # a syntax error further on comes first
        if syntax is not None:
            diag = _syntax_diagnostic(syntax, text, where.file)
            raise KspecError(Diagnostic("K102", f"in the expression {text!r}: {diag.message}", where)) from None
        raise KspecError(Diagnostic("K102", f"in the expression {text!r}: {exc.diag.message}", where)) from None
