"""Parameter arithmetic read without the ``.kspec`` front end.

The YAML form writes computed values in ``.kspec`` syntax,
``{expr: 4 * filters}``, and :func:`kspec.spec.kspec_form.parse_expression`
reads them with the ``.kspec`` parser, whose modules and tables take longer
to load than a YAML spec of a few hundred layers takes to read. Most such
values are arithmetic on parameters, and :func:`read_arithmetic` reads
those alone: names, integers and decimals, ``+ - * / // % **``, unary
``-`` and ``+``, parentheses and spaces, with the grammar's precedence.
It gives exactly what ``parse_expression`` gives (the same IR values,
spans included; a negated number is a number), and returns None for
anything else (another operator, a call, a list, a string, a word the
grammar reserves, a number too large, nesting past a bound), which
``parse_expression`` then reads or reports. A property test holds the two
to that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kspec.spec import ir, limits
from kspec.spec.ir import Span

__all__ = ["read_arithmetic"]

#: One token after spaces: a decimal or an integer as the grammar's NUMBER
#: and INT terminals read them, a name, an operator or a parenthesis.
_TOKEN = re.compile(
    r" *(?:(?P<number>(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?|[0-9][0-9_]*[eE][+-]?[0-9]+)"
    r"|(?P<int>0|[1-9][0-9_]*)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|//|[-+*/%()]))"
)
#: Words the grammar reads as something other than a name: its keywords,
#: its constants and its dtypes (tests/test_arithmetic.py reads them from
#: the grammar). A value holding one is left to the parser.
_RESERVED = frozenset({
    "False", "None", "True", "and", "as", "block", "compile", "else", "false", "for", "if", "in", "input", "model",
    "none", "not", "or", "output", "param", "range", "return", "sequential", "train", "true", "use", "with",
    "float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "bool", "string", "complex64", "complex128",
})
_SUMS = ("+", "-")
_PRODUCTS = ("*", "/", "//", "%")
#: Operations nested deeper than this (or the ``nesting`` limit) are left to the parser, which says where.
_DEEPEST = 32


class _NotRead(Exception):
    """The value is not arithmetic of the kind read here."""


def read_arithmetic(text: str, file: str) -> Any:
    """The IR value of ``text`` as ``parse_expression`` makes it, or None
    when it is not arithmetic on names and numbers (None is never such a
    value: ``None`` is a reserved word)."""
    tokens: list[tuple[str, str, int, int]] = []
    at, end = 0, len(text.rstrip(" "))
    while at < end:
        match = _TOKEN.match(text, at)
        if match is None:
            return None
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind), match.end()))
        at = match.end()
    if not tokens:
        return None
    reader = _Reader(tokens, file, min(_DEEPEST, limits.current().nesting))
    try:
        value = reader.sum(0)[0]
    except (_NotRead, IndexError):  # IndexError: the text ends where an operand is due
        return None
    return value if reader.at == len(tokens) else None


#: A value read, with where its text starts and ends (its parentheses
#: included: what an operation around it spans) and how many operations
#: nest in it.
_Read = tuple[Any, int, int, int]


class _Reader:
    """Recursive descent over the tokens, one method per precedence level."""

    def __init__(self, tokens: list[tuple[str, str, int, int]], file: str, deepest: int) -> None:
        self.tokens = tokens
        self.file = file
        #: Operations, parentheses, signs or exponents nested this deep are the parser's to read (or refuse).
        self.deepest = deepest
        self.at = 0

    def _op(self, ops: tuple[str, ...]) -> str | None:
        if self.at < len(self.tokens):
            kind, text, _, _ = self.tokens[self.at]
            if kind == "op" and text in ops:
                self.at += 1
                return text
        return None

    def _deeper(self, depth: int) -> int:
        """``depth`` + 1, for a parenthesis, a sign or a power's exponent:
        each is a call deeper into this reader, and a value nested deeper
        than ``deepest`` is the parser's to read (or refuse)."""
        if depth + 1 >= self.deepest:
            raise _NotRead
        return depth + 1

    def _span(self, start: int, end: int, height: int) -> Span:
        """The span of an operation with ``height`` operations nested in it and itself."""
        if height >= self.deepest:
            raise _NotRead
        return Span(self.file, 1, start + 1, 1, end + 1)

    def _binary(self, op: str, left: _Read, right: _Read) -> _Read:
        start, end, height = left[1], right[2], 1 + max(left[3], right[3])
        span = self._span(start, end, height)
        return ir.BinOp(op=op, left=left[0], right=right[0], span=span), start, end, height  # type: ignore[arg-type]

    def _chain(self, ops: tuple[str, ...], operand: Callable[[int], _Read], depth: int) -> _Read:
        """Operands joined by ``ops``, from the left."""
        left = operand(depth)
        while (op := self._op(ops)) is not None:
            left = self._binary(op, left, operand(depth))
        return left

    def sum(self, depth: int) -> _Read:
        return self._chain(_SUMS, self.product, depth)

    def product(self, depth: int) -> _Read:
        return self._chain(_PRODUCTS, self.unary, depth)

    def unary(self, depth: int) -> _Read:
        start = self.tokens[self.at][2]
        op = self._op(_SUMS)
        if op is None:
            return self.power(depth)
        value, _, end, height = self.unary(self._deeper(depth))
        if op == "+":
            return value, start, end, height
        if type(value) is int or type(value) is float:  # the grammar negates a number as it reads it
            return -value, start, end, height
        return ir.UnaryOp(op="-", operand=value, span=self._span(start, end, height + 1)), start, end, height + 1

    def power(self, depth: int) -> _Read:
        base = self.atom(depth)
        if self._op(("**",)) is None:
            return base
        return self._binary("**", base, self.unary(self._deeper(depth)))

    def atom(self, depth: int) -> _Read:
        kind, text, start, end = self.tokens[self.at]
        self.at += 1
        if kind == "name":
            if text in _RESERVED:
                raise _NotRead
            return ir.Var(name=text, span=Span(self.file, 1, start + 1, 1, end + 1)), start, end, 0
        if kind == "int":
            digits = text.replace("_", "")
            if len(digits) > limits.INT_LIMIT_DIGITS or int(digits) >= limits.INT_LIMIT:
                raise _NotRead
            return int(digits), start, end, 0
        if kind == "number":
            return float(text.replace("_", "")), start, end, 0
        if text != "(":
            raise _NotRead
        value, _, _, height = self.sum(self._deeper(depth))
        if self._op((")",)) is None:
            raise _NotRead
        return value, start, self.tokens[self.at - 1][3], height
