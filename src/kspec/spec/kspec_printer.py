"""IR -> canonical ``.kspec`` text (the layout ``kspec fmt`` writes).

``parse_kspec(print_kspec(spec))`` equals ``spec``. With the comments of
the source (from :func:`kspec.spec.kspec_form.parse_with_comments`) every
comment is kept, before or after the statement it was written next to.

Layout: two-space indent, one statement per line, one blank line between
top-level items (and where the source had one inside a body), chains as
``x -> A() -> B()``, broken before each ``->`` when a line would pass
100 columns.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from kspec._records import record
from kspec.spec import ir
from kspec.spec.ops import INFIX, OP_PREC, UNARY, has_tensor

__all__ = ["KEYWORDS", "format_value", "print_kspec"]

#: Words a bare name cannot be (they start statements or are literals).
KEYWORDS = frozenset({
    "model", "sequential", "block", "param", "use", "compile", "train", "input", "output", "return", "for", "in",
    "range", "with", "if", "else", "and", "or", "not", "true", "false", "none", "True", "False", "None",
})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
WIDTH = 100
_PREC = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "+": 5, "-": 5, "*": 6,
         "/": 6, "//": 6, "%": 6, "**": 8}


def _is_name(text: str) -> bool:
    return bool(_IDENT.match(text)) and text not in KEYWORDS


def _string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return out


def format_value(value: Any) -> str:
    """A value as ``.kspec`` source: ``[1, 2]``, ``l2(0.01)``, ``"relu"``."""
    return _value(value, 0)


def _value(v: Any, parent: int) -> str:
    if v is None:
        return "none"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            raise ValueError(f"{v} has no .kspec form")
        text = str(v) if isinstance(v, int) else re.sub(r"e([+-]?)0*(\d)", r"e\1\2", repr(v))
        # ``-1 ** a`` reads as ``-(1 ** a)``: a negative number binds like unary minus
        return f"({text})" if text.startswith("-") and parent >= _NEG else text
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x, 0) for x in v) + "]"
    if isinstance(v, dict):
        items = [f"{k if _is_name(k) else _string(k)}: {_value(x, 0)}" for k, x in v.items()]
        return "{" + ", ".join(items) + "}"
    if isinstance(v, ir.Call):
        return _call(v.fn, v.args, v.kwargs)
    if isinstance(v, ir.Op):
        return _op(v, parent)
    if isinstance(v, ir.Slice):
        parts = ["" if p is None else _value(p, 0) for p in (v.start, v.stop, v.step)]
        return ":".join(parts if parts[2] else parts[:2])
    if isinstance(v, ir.EllipsisValue):
        return "..."
    if isinstance(v, (ir.Ref, ir.Var)):
        return v.name
    if isinstance(v, ir.BinOp):
        prec = _PREC[v.op]
        left = _value(v.left, prec if v.op != "**" else prec + 1)
        right = _value(v.right, prec + 1 if v.op != "**" else prec)
        text = f"{left} {v.op} {right}"
        return f"({text})" if prec < parent or prec == parent else text
    if isinstance(v, ir.UnaryOp):
        if v.op == "not":
            text = f"not {_value(v.operand, 3)}"
            return f"({text})" if parent >= 3 else text
        inner = _value(v.operand, 7)
        text = f"-{inner}"
        return f"({text})" if parent >= 7 else text
    if isinstance(v, ir.Cond):
        text = f"{_value(v.then, 1)} if {_value(v.test, 1)} else {_value(v.otherwise, 0)}"
        return f"({text})" if parent > 0 else text
    if isinstance(v, ir.Index):
        base = _value(v.value, 9)
        if isinstance(v.value, (ir.BinOp, ir.UnaryOp, ir.Cond)) or (isinstance(v.value, (int, float))
                                                                     and not isinstance(v.value, bool) and v.value < 0):
            base = f"({base})" if not base.startswith("(") else base
        return f"{base}[{_value(v.index, 0)}]"
    if isinstance(v, ir.Attr):
        return f"{_value(v.value, 9)}.{v.name}"
    if isinstance(v, ir.Format):
        out = []
        for part in v.parts:
            if isinstance(part, str):
                out.append(_string(part)[1:-1].replace("{", "{{").replace("}", "}}"))
            else:
                out.append("{" + _value(part, 0) + "}")
        return 'f"' + "".join(out) + '"'
    raise ValueError(f"not a spec value: {type(v).__name__}")


_UNARY_FN = {fn: op for op, fn in UNARY.items()}
_NEG = OP_PREC["neg"]
_ATOM = 9  # binding strength of a name, a call or a subscript


def _op(op: ir.Op, parent: int, chain: tuple[str, int] | None = None) -> str:
    """An operation as the language writes it: an operator (``x + 3.0``,
    ``-x``), a subscript (``x[:, 0]``) or ``ops.fn(...)``, in parentheses
    when it binds less tightly than ``parent`` needs. ``chain``: the text
    and binding strength of the chain's tensor, the operation's first
    argument (``op.args`` are then the ones after it)."""
    text, prec = _op_text(op, chain)
    return f"({text})" if prec < parent else text


def _op_text(op: ir.Op, chain: tuple[str, int] | None) -> tuple[str, int]:
    args = list(op.args)
    if chain is None and not args:
        return f"ops.{op.fn}({', '.join(f'{k}={_value(x, 0)}' for k, x in op.kwargs.items())})", _ATOM
    first: tuple[str, int] | Any = chain if chain is not None else args.pop(0)

    def operand(need: int) -> str:
        if chain is None:
            return _value(first, need)
        text, prec = chain
        return f"({text})" if prec < need else text

    # the parser turns operators and subscripts on values without a tensor
    # into parameter arithmetic, so only a tensor's operation takes that sugar
    sugar = chain is not None or has_tensor(op)
    if sugar and op.fn in INFIX and len(args) == 1 and not op.kwargs:
        sym = INFIX[op.fn]
        prec = OP_PREC[sym]
        comparison = prec == OP_PREC["<"]
        left = operand(prec + 1 if sym == "**" or comparison else prec)
        return f"{left} {sym} {_value(args[0], prec if sym == '**' else prec + 1)}", prec
    if sugar and op.fn in _UNARY_FN and not args and not op.kwargs:
        return f"-{operand(OP_PREC['neg'])}", OP_PREC["neg"]
    if sugar and op.fn == "get_item" and len(args) == 1 and not op.kwargs:
        key = args[0]
        if isinstance(key, list):
            inner = ", ".join(_value(k, 0) for k in key) + ("," if len(key) == 1 else "")
        else:
            inner = _value(key, 0)
        return f"{operand(_ATOM)}[{inner}]", _ATOM
    parts = [operand(0), *(_value(a, 0) for a in args), *(f"{k}={_value(x, 0)}" for k, x in op.kwargs.items())]
    return f"ops.{op.fn}({', '.join(parts)})", _ATOM


#: A wrapper's arguments that may name a named layer or a model of the spec
#: (``kspec.compiler.registry.REFERENCE_KEYS``): such a name is written bare,
#: ``TimeDistributed(frame_cnn)``, as Keras code passes the layer object.
_REFERENCE_KEYS = ("layer", "backward_layer")


def _reference_positions(fn: str) -> frozenset[int]:
    """The positional slots of a layer whose value may be a layer's name."""
    from kspec.catalogue import ALIASES, catalogue

    sig = catalogue().layers.get(ALIASES.get(fn, fn))
    if sig is None:
        return frozenset()
    return frozenset(i for i, name in enumerate(sig.positional) if name in _REFERENCE_KEYS)


def _argument(value: Any, reference: bool) -> str:
    """An argument value; a layer's name in a wrapper's slot is written bare."""
    if reference and isinstance(value, str) and _is_name(value):
        return value
    return _value(value, 0)


def _call(fn: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    slots = _reference_positions(fn) if any(isinstance(a, str) for a in args) else frozenset()
    parts = [_argument(a, i in slots) for i, a in enumerate(args)]
    parts += [f"{k}={_argument(x, k in _REFERENCE_KEYS)}" for k, x in kwargs.items()]
    return f"{fn.replace('>', '::')}({', '.join(parts)})"  # package>Class is written package::Class


def _shape(shape: Sequence[Any]) -> str:
    dims = ["None" if d is None else str(d) if isinstance(d, int) else _value(d, 0) for d in shape]
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(dims) + ")"


def _callee(c: ir.LayerCall | ir.LayerRef | ir.Op, call_kwargs: dict[str, Any] | None = None) -> str:
    kw = call_kwargs or {}
    if isinstance(c, ir.Op):
        return _call(f"ops.{c.fn}", c.args, c.kwargs)
    if isinstance(c, ir.LayerRef):
        if kw:
            return f"{c.ref}({', '.join(f'{k}={_value(v, 0)}' for k, v in kw.items())})"
        return c.ref
    text = _call(c.type, c.args, c.kwargs)
    if kw:
        text += "(" + ", ".join(f"{k}={_value(v, 0)}" for k, v in kw.items()) + ")"
    return text


def _expr_parts(e: ir.Expr) -> list[str]:
    """The chain's pieces: head, then each later step. Leading operations
    are written as the head (``(x + 3.0) * 0.5``)."""
    if not e.steps:
        return [e.inputs[0]]
    if isinstance(e.steps[0].layer, ir.Op) and len(e.inputs) <= 1:
        head: tuple[str, int] | None = (e.inputs[0], _ATOM) if e.inputs else None
        k = 0
        while k < len(e.steps) and isinstance(e.steps[k].layer, ir.Op) and not e.steps[k].call_kwargs:
            op = e.steps[k].layer
            assert isinstance(op, ir.Op)
            head = _op_text(op, head)
            k += 1
        assert head is not None
        return [head[0], *(_callee(s.layer, s.call_kwargs) for s in e.steps[k:])]
    if len(e.inputs) == 1:
        return [e.inputs[0], *(_callee(s.layer, s.call_kwargs) for s in e.steps)]
    first, rest = e.steps[0], e.steps[1:]
    text: str
    if not e.inputs:
        text = _callee(first.layer, first.call_kwargs)
    else:
        tensors = ", ".join([*e.inputs, *(f"{k}={_value(v, 0)}" for k, v in first.call_kwargs.items())])
        if isinstance(first.layer, ir.LayerRef):
            text = f"{first.layer.ref}({tensors})"
        else:
            assert isinstance(first.layer, ir.LayerCall)  # an operation with several tensors is written above
            text = f"{_call(first.layer.type, first.layer.args, first.layer.kwargs)}({tensors})"
    return [text, *(_callee(s.layer, s.call_kwargs) for s in rest)]


def _stack_parts(stack: Sequence[ir.LayerCall | ir.LayerRef]) -> list[str]:
    return [_callee(c) for c in stack]


class _Out:
    """Collects lines, weaving the source's comments back in."""

    def __init__(self, comments: Sequence[Any] | None) -> None:
        self.lines: list[str] = []
        self.comments = sorted(comments or [], key=lambda c: (c.line, c.column))
        self.keep_gaps = comments is not None  # blank lines follow the source only when formatting it
        self.pos = 0
        self.last_line = 0

    def _pending(self, before: int) -> list[Any]:
        out = []
        while self.pos < len(self.comments) and self.comments[self.pos].line < before:
            out.append(self.comments[self.pos])
            self.pos += 1
        return out

    def _gap(self, line: int, indent: str) -> None:
        if self.keep_gaps and self.last_line and line > self.last_line + 1 and self.lines and self.lines[-1].strip() \
                and not self.lines[-1].rstrip().endswith("{"):
            self.lines.append("")

    def flush(self, before: int, indent: str) -> None:
        for c in self._pending(before):
            self._gap(c.line, indent)
            self.lines.append(f"{indent}{c.text}")
            self.last_line = c.line

    def stmt(self, parts: list[str], indent: str, span: ir.Span | None, sep: str = " -> ",
             prefix: str = "") -> None:
        if span is not None and self.comments:
            self.flush(span.line, indent)
        if span is not None:
            self._gap(span.line, indent)
        one = indent + prefix + sep.join(parts)
        if len(one) <= WIDTH or len(parts) < 2 or sep != " -> ":
            text = [one]
        else:
            text = [indent + prefix + parts[0]] + [f"{indent}    -> {p}" for p in parts[1:]]
        text = [piece for line in text for piece in wrap_line(line)]
        if span is not None:
            end = span.end_line or span.line
            trailing = []
            while self.pos < len(self.comments) and self.comments[self.pos].line <= end \
                    and not self.comments[self.pos].own_line:
                trailing.append(self.comments[self.pos].text)
                self.pos += 1
            if trailing:
                text[-1] += "  " + "  ".join(trailing)
            self.last_line = end
        self.lines.extend(text)

    def open(self, header: str, indent: str, span: ir.Span | None, children: Sequence[Any] = ()) -> None:
        if span is not None and self.comments:
            self.flush(span.line, indent)
        if span is not None:
            self.last_line = span.line
        trailing = []
        lines = [c if isinstance(c, ir.Span) else getattr(c, "span", None) for c in children]
        first = min((sp.line for sp in lines if sp is not None), default=None)
        if span is not None and first != span.line:
            while self.pos < len(self.comments) and self.comments[self.pos].line == span.line \
                    and not self.comments[self.pos].own_line:
                trailing.append(self.comments[self.pos].text)
                self.pos += 1
        self.lines.append(indent + header + (("  " + "  ".join(trailing)) if trailing else ""))

    def close(self, indent: str, span: ir.Span | None, inner: str) -> None:
        if span is not None and span.end_line is not None and self.comments:
            self.flush(span.end_line, inner)
        self.lines.append(indent + "}")
        if span is not None and span.end_line is not None:
            self.last_line = span.end_line


def _brackets(line: str) -> list[tuple[int, int, list[int]]]:
    """The outermost bracket pairs of ``line`` (outside strings): the index
    of each opening bracket, of its closing one, and of the commas directly
    inside it."""
    pairs: list[tuple[int, int, list[int]]] = []
    stack: list[int] = []
    commas: list[int] = []
    quote = False
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch in "([{":
            if not stack:
                commas = []
            stack.append(i)
        elif ch in ")]}" and stack:
            start = stack.pop()
            if not stack:
                pairs.append((start, i, commas))
        elif ch == "," and len(stack) == 1:
            commas.append(i)
        elif ch == "#" and not stack:
            break  # a trailing comment
        i += 1
    return pairs


def _comma_changes_meaning(line: str, start: int) -> bool:
    """Whether a trailing comma would change what the bracket at ``start``
    holds: ``(a + b)`` is a value but ``(a + b,)`` a tuple, ``x[i]`` an index
    but ``x[i,]`` a tuple of one (calls, lists and dicts take one freely)."""
    before = line[:start].rstrip()
    word = re.search(r"[A-Za-z0-9_]*\Z", before)
    follows_value = bool(before) and (before[-1] in ")]\"" or bool(word and word.group())) and not (
        word is not None and word.group() in KEYWORDS - {"range", "true", "false", "none", "True", "False", "None"})
    return follows_value if line[start] == "[" else line[start] == "(" and not follows_value


def wrap_line(line: str) -> list[str]:
    """A line past :data:`WIDTH` with the arguments of its longest call (or
    list) written one per line, four columns in, each ending with a comma,
    and the closing bracket on a line of its own; arguments still too long
    are wrapped the same way. A line that is short enough, or has nothing to
    wrap, is returned as it is."""
    if len(line) <= WIDTH:
        return [line]
    pairs = [p for p in _brackets(line) if p[1] > p[0] + 1 and (p[2] or not _comma_changes_meaning(line, p[0]))]
    if not pairs:
        return [line]
    start, end, commas = max(pairs, key=lambda p: p[1] - p[0])
    indent = line[: len(line) - len(line.lstrip())]
    cuts = [start, *commas, end]
    args = [line[a + 1:b].strip() for a, b in itertools.pairwise(cuts)]
    if not all(args):
        return [line]
    inner = indent + "    "
    out = [line[: start + 1]]
    for arg in args:
        out.extend(wrap_line(f"{inner}{arg},"))
    out.append(indent + line[end:])
    return out


def _line(node: Any) -> float:
    span = getattr(node, "span", None)
    return span.line if span is not None else math.inf


def _ordered(items: list[Any]) -> list[Any]:
    return sorted(items, key=_line) if all(getattr(i, "span", None) is not None for i in items) else items


@record(frozen=True)
class _StructureLine:
    """``inputs as dict``: a model's structure setting, printed as a statement."""

    text: str
    span: ir.Span | None


def _structure_lines(structure: ir.Structure) -> list[_StructureLine]:
    """The structure settings a model gives, inputs first (placed where the
    source has them when it has spans, else at the top of the model)."""
    return [_StructureLine(f"{port} as {kind}", structure.key_spans.get(port))
            for port in ("inputs", "outputs") if (kind := getattr(structure, port)) is not None]


def _space(space: ir.Space) -> str:
    """A search space as written after ``in``: ``[32, 64]``, ``range(1, 4)``, ``log(0.0001, 0.01)``."""
    if space.kind == "choice":
        return _value(list(space.values), 0)
    return f"{space.kind}({', '.join(_value(v, 0) for v in space.values)})"


class _Printer:
    def __init__(self, spec: ir.Spec, comments: Sequence[Any] | None) -> None:
        self.spec = spec
        self.out = _Out(comments)

    def run(self) -> str:
        s = self.spec
        items: list[tuple[str, Any]] = (
            [("use", u) for u in s.uses] + [("param", p) for p in s.params] + [("block", b) for b in s.blocks]
            + [("model", m) for m in s.models] + [("compile", c) for c in s.compile]
            + [("train", t) for t in s.train]
        )
        keyed = [(i, _line(node) if not isinstance(node, str) else -1, kind, node)
                 for i, (kind, node) in enumerate(items)]
        if all(line != math.inf for _, line, kind, _n in keyed if kind != "use"):
            keyed.sort(key=lambda t: (t[1], t[0]))
        prev_kind = ""
        for _, _line_no, kind, node in keyed:
            if self.out.lines and not (kind == prev_kind and kind in ("use", "param")):
                self.out.lines.append("")
            getattr(self, f"p_{kind}")(node)
            prev_kind = kind
        self.out.flush(10**9, "")
        while self.out.lines and not self.out.lines[-1].strip():
            self.out.lines.pop()
        return "\n".join(self.out.lines) + "\n"

    # -- top level ----------------------------------------------------------

    def p_use(self, path: str) -> None:
        self.out.lines.append(f"use {_string(path)}")

    def p_param(self, p: ir.Param) -> None:
        typed = f": {p.type}" if p.type else ""
        space = f" in {_space(p.space)}" if p.space is not None else ""
        self.out.stmt([f"param {p.name}{typed} = {_value(p.default, 0)}{space}"], "", p.span)

    def p_block(self, b: ir.Block) -> None:
        params = list(b.inputs)
        for p in b.params:
            text = p.name + (f": {p.type}" if p.type else "")
            if p.has_default:
                text += f" = {_value(p.default, 0)}"
            elif not p.type:
                text += ": any"
            params.append(text)
        self.out.open(f"block {b.name}({', '.join(params)}) {{", "", b.span, [*b.body, *b.returns])
        self.body(b.body, "  ")
        exprs = [" -> ".join(_expr_parts(e)) for e in b.returns]
        span = b.returns[0].span
        self.out.stmt([", ".join(exprs)] if len(exprs) > 1 else _expr_parts(b.returns[0]), "  ", span,
                      prefix="return ")
        self.out.close("", b.span, "  ")

    def body(self, stmts: Sequence[Any], indent: str) -> None:
        for st in stmts:
            if isinstance(st, ir.For):
                bounds = ", ".join(_value(v, 0) for v in st.range)
                source = f"range({bounds})" if st.range else _value(st.over, 0)
                self.out.open(f"for {st.var} in {source} {{", indent, st.span, st.body)
                self.body(st.body, indent + "  ")
                self.out.close(indent, st.span, indent + "  ")
            elif isinstance(st, ir.If):
                self.p_if(st, indent, first=True)
            else:
                self.out.stmt(_expr_parts(st.value), indent, st.span, prefix=f"{', '.join(st.targets)} = ")

    def p_if(self, st: ir.If, indent: str, first: bool) -> None:
        """``if test { ... } else if ... { ... } else { ... }``: an ``else``
        holding only an ``if`` is written as ``else if``."""
        header = f"if {_value(st.test, 0)} {{"
        if first:
            self.out.open(header, indent, st.span, st.body)
        else:
            self.out.lines.append(f"{indent}}} else {header}")
        self.body(st.body, indent + "  ")
        if len(st.orelse) == 1 and isinstance(st.orelse[0], ir.If):
            self.p_if(st.orelse[0], indent, first=False)
            return
        if st.orelse:
            self.out.lines.append(f"{indent}}} else {{")
            self.body(st.orelse, indent + "  ")
        self.out.close(indent, st.span, indent + "  ")

    def p_model(self, m: ir.FunctionalModel | ir.SequentialModel) -> None:
        if isinstance(m, ir.SequentialModel):
            self.out.open(f"sequential {m.name} {{", "", m.span, [*([m.input] if m.input else []), *m.layers])
            if m.input is not None:
                self.p_input(m.input, sequential=True)
            for c in m.layers:
                self.out.stmt([_callee(c)], "  ", c.span)
            self.out.close("", m.span, "  ")
            return
        stmts: list[Any] = [*_structure_lines(m.structure), *m.inputs, *m.layers, *m.nodes, *m.outputs]
        self.out.open(f"model {m.name} {{", "", m.span, stmts)
        for st in _ordered(stmts):
            if isinstance(st, _StructureLine):
                self.out.stmt([st.text], "  ", st.span)
            elif isinstance(st, ir.Input):
                self.p_input(st)
            elif isinstance(st, ir.LayerDef):
                self.out.stmt(_stack_parts(st.stack), "  ", st.span, prefix=f"{st.name} = ")
            elif isinstance(st, ir.Assign):
                self.out.stmt(_expr_parts(st.value), "  ", st.span, prefix=f"{', '.join(st.targets)} = ")
            else:
                self.out.stmt(_expr_parts(st.value), "  ", st.span, prefix=f"output {st.name} = ")
        self.out.close("", m.span, "  ")

    def p_input(self, i: ir.Input, sequential: bool = False) -> None:
        name = "" if sequential and i.name == "input" else f"{i.name}: "
        text = f"input {name}{_shape(i.shape)}"
        if i.dtype != "float32":
            text += f" {i.dtype}"
        opts = []
        if i.batch_size is not None:
            opts.append(f"batch_size={i.batch_size}")
        if i.sparse:
            opts.append("sparse=true")
        if opts:
            text += f" with ({', '.join(opts)})"
        self.out.stmt([text], "  ", i.span)

    def _section(self, kind: str, s: ir.Section) -> None:
        self.out.open(f"{kind} {s.model} {{", "", s.span, list(s.key_spans.values()))
        for key, value in s.settings.items():
            one = f"{key} = {_value(value, 0)}"
            if len(one) + 2 > WIDTH and isinstance(value, list) and value:
                items = [f"    {_value(v, 0)}," for v in value]
                self.out.stmt([f"{key} = [\n" + "\n".join(items) + "\n  ]"], "  ", s.key_spans.get(key))
            elif len(one) + 2 > WIDTH and isinstance(value, dict) and value:
                items = [f"    {k if _is_name(k) else _string(k)}: {_value(v, 0)}," for k, v in value.items()]
                self.out.stmt([f"{key} = {{\n" + "\n".join(items) + "\n  }"], "  ", s.key_spans.get(key))
            else:
                self.out.stmt([one], "  ", s.key_spans.get(key))
        self.out.close("", s.span, "  ")

    def p_compile(self, s: ir.Section) -> None:
        self._section("compile", s)

    def p_train(self, s: ir.Section) -> None:
        self._section("train", s)


def print_kspec(spec: ir.Spec, comments: Sequence[Any] | None = None) -> str:
    """Canonical ``.kspec`` text for ``spec`` (with ``comments`` woven in)."""
    return _Printer(spec, comments).run()
