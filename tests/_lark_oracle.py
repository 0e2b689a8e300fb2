"""Lark's own parser for the ``.kspec`` grammar, built by Lark from the
grammar: the reference the run-time parser (``kspec/spec/_lalr.py``) is
compared with, and its syntax errors as the attributes kspec describes."""

from __future__ import annotations

from typing import Any

from lark import Lark
from lark import UnexpectedCharacters as LarkCharacters
from lark import UnexpectedInput as LarkInput
from lark import UnexpectedToken as LarkToken

from kspec.spec import kspec_form
from kspec.spec._lalr import Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

LARK = Lark(kspec_form._grammar(), **kspec_form.LARK_OPTIONS)


def from_lark(exc: LarkInput) -> UnexpectedInput:
    """Lark's syntax error as the attributes that describe it. (Lark's LALR
    parser reports the end of the text as an unexpected ``$END`` token,
    never as ``UnexpectedEOF``.)"""
    line, column, pos = getattr(exc, "line", None), getattr(exc, "column", None), exc.pos_in_stream
    if isinstance(exc, LarkToken):
        t = exc.token
        token = Token(t.type, str(t), t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos)
        return UnexpectedToken(line, column, pos, token, set(exc.expected))
    assert isinstance(exc, LarkCharacters), type(exc)
    return UnexpectedCharacters(line, column, pos)


def lark_error(text: str, start: str = "start") -> UnexpectedInput | None:
    """The syntax error Lark finds in ``text``, if any."""
    try:
        LARK.parse(text, start=start)
    except LarkInput as exc:
        return from_lark(exc)
    return None


def described(error: UnexpectedInput | None) -> Any:
    """A syntax error as comparable data: its kind, position, token and
    expected terminals."""
    if error is None:
        return None
    token = getattr(error, "token", None)
    where = None if token is None else (token.type, str(token), token.start_pos, token.line, token.column,
                                        token.end_line, token.end_column, token.end_pos)
    expected = getattr(error, "expected", None)
    return (type(error).__name__, error.line, error.column, error.pos_in_stream, where,
            None if expected is None else sorted(expected))
