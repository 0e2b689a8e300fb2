"""Plain YAML without PyYAML: the located data of a spec written in the
block style specs are written in, read in one pass over its lines.

Importing PyYAML takes longer than reading most specs (about 12 ms: it
compiles its regular expressions and builds its constructors and
emitters at import). A check of a YAML spec reads it here first; PyYAML
is imported only for a document this reader declines (:func:`read_plain`
returns None), and :mod:`kspec.spec.yaml_read` then reads it, with every
message and position of a YAML error.

What is read here is a strict subset of YAML, and gives exactly what
:mod:`kspec.spec.yaml_read` gives for it (libyaml's positions, PyYAML's
safe resolver), value for value, type for type and span for span; a
property test holds the two readers to that. The subset, for text without
tabs or control characters, with LF or CR LF line breaks, whose characters
past ASCII are in comments and quoted scalars:

- block mappings and sequences, compact ones (``- name: a``) and a
  sequence at its key's indentation included;
- one-line flow sequences and mappings (``[16, 16]``, ``{expr: n}``), no
  trailing comma;
- plain scalars of letters, digits, spaces and ``_ . + - / * ( ) < > = !
  % $ ^ & ~ @`` that start with a letter, a digit, ``_ ( / $ . + ~`` or a
  ``-`` not followed by a space, resolved as YAML 1.1 resolves them
  (``yes`` is true, ``1.5`` a float, ``1e-4`` a string); octal, hex,
  sexagesimal and special floats, dates and oversized integers are
  declined;
- quoted scalars on one line without escapes (no ``\\`` and no ``''``),
  as values only;
- comments after a space, blank lines.

Anything else (anchors, aliases, tags, block scalars, multi-line scalars,
quoted keys, directives, a second document, a doubled key, a root that
is not a mapping, nesting past the ``nesting`` limit, more values than
the ``yaml_values`` limit, a key of 1,000 characters or more) is declined.
"""

from __future__ import annotations

import re
from typing import Any

from kspec.spec import limits
from kspec.spec.ir import KEY_SPANS_KEY, SPAN_KEY, Span

__all__ = ["key_text", "read_plain"]

#: Characters YAML forbids or this reader leaves to PyYAML: tabs, controls,
#: DEL, and a carriage return that is not part of a CR LF line break.
_UNREAD = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")
_NOT_ASCII = r"[^\x00-\x7f]"  # compiled (and cached by re) at the first text past ASCII
#: A plain scalar: words of the allowed characters, separated by spaces.
#: What may end one (``: ``, `` #``, a flow indicator) is outside the set.
_P = r"[A-Za-z0-9_(/$.+~-][A-Za-z0-9_.+\-/*()<>=!%$^&~@]*+(?: +[A-Za-z0-9_.+\-/*()<>=!%$^&~@]++)*+"
_PLAIN = re.compile(_P)
#: A key: a plain scalar, then ':' and a space or the end of the line.
_KEY = re.compile(rf"({_P}):(?= |$)")
#: The usual row of a block mapping, past its key's ':': a plain scalar, then maybe a comment.
_PLAIN_VALUE = re.compile(rf" +({_P})(?: +#.*)? *")
#: A plain scalar reaching past this many characters cannot be a key (libyaml's simple-key bound is 1,024).
_KEY_CHARS = 1000

_BOOLS = {w: v for v, words in ((True, "yes Yes YES true True TRUE on On ON"),
                                (False, "no No NO false False FALSE off Off OFF")) for w in words.split()}
_NULLS = {"~", "null", "Null", "NULL"}
#: PyYAML's implicit resolvers for scalars that start with a digit, a sign or a dot (YAML 1.1).
_FLOAT = (r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
          r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_INT = (r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+")
_TIMESTAMP = (r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
              r"(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
              r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?")
_numeric: list[re.Pattern[str]] = []  # the three, compiled at the first scalar that needs them
#: The usual numbers, told without compiling those: the first form of
#: ``_FLOAT`` (a decimal with a dot) and the decimal form of ``_INT``, which
#: no other resolver's pattern matches.
_USUAL_NUMBER = re.compile(r"[-+]?(?:0|[1-9][0-9_]*|[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?)")
#: Every character the three can match: a scalar with another one (``4 * n``) is text, told without compiling them.
_NUMERIC_CHARS = frozenset("0123456789_.:+-abcdefABCDEFxinINTtZ \t")


#: A position (line index, column), and a node read with where it starts and ends.
_Pos = tuple[int, int]
_Node = tuple[Any, _Pos, _Pos]


class _Declined(Exception):
    """The document is not in the subset read here."""


def read_plain(text: str, file: str) -> dict[str, Any] | None:
    """The located data of ``text`` (what :mod:`kspec.spec.yaml_read`
    gives), or None when the document is not in the subset read here."""
    if _UNREAD.search(text):
        return None
    if not text.isascii() and not all(map(_ordinary, set(re.findall(_NOT_ASCII, text)))):
        return None
    text = text.replace("\r\n", "\n")  # a line break either way: lines and columns stay as they are
    try:
        return _Reader(text, file).read()
    # IndexError: an unclosed bracket runs off its line; the others are a safety net (never a traceback).
    except (_Declined, IndexError, ValueError, RecursionError):
        return None


def _ordinary(char: str) -> bool:
    """Whether a character past ASCII is printable in YAML and neither a line
    break (NEL, LS, PS) nor a byte order mark: in a comment or a quoted
    scalar, one column like any other."""
    code = ord(char)
    if code <= 0xD7FF:
        return code >= 0xA0 and code not in (0x2028, 0x2029)
    if code <= 0xFFFD:
        return code >= 0xE000 and code != 0xFEFF
    return code >= 0x10000


def _number(value: str) -> Any:
    """A plain scalar that starts with a digit, a sign or a dot, as PyYAML's
    safe loader resolves and builds it; :class:`_Declined` for the forms
    left to PyYAML."""
    first = value[0]
    sign = -1 if first == "-" else 1
    digits = value[1:] if first in "+-" else value
    if _USUAL_NUMBER.fullmatch(value):
        is_float = "." in value
        is_int = not is_float
    elif not _NUMERIC_CHARS.issuperset(value):
        return value
    else:
        if not _numeric:
            _numeric.extend(re.compile(p) for p in (_FLOAT, _INT, _TIMESTAMP))
        floats, ints, stamps = _numeric
        is_float = floats.fullmatch(value) is not None
        is_int = first != "." and ints.fullmatch(value) is not None
        if not (is_float or is_int) and first not in "+-." and stamps.fullmatch(value):
            raise _Declined
    if is_float:
        digits = digits.replace("_", "").lower()
        if ":" in digits or "inf" in digits or "nan" in digits:
            raise _Declined
        return sign * float(digits)
    if is_int:
        digits = digits.replace("_", "")
        if digits != "0" and (digits[0] == "0" or ":" in digits):  # octal, hex, binary, sexagesimal
            raise _Declined
        if len(digits) > limits.INT_LIMIT_DIGITS:
            raise _Declined
        number = sign * int(digits)
        if abs(number) >= limits.INT_LIMIT:
            raise _Declined
        return number
    return value


def key_text(value: Any) -> str:
    """A mapping key as the YAML readers keep it: ``1`` is ``"1"``, ``yes`` is ``"true"``."""
    if type(value) is str:
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


class _Reader:
    """One document, line by line. Rows are the lines with content (not
    blank, not only a comment), as (line index, indentation)."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines = lines = text.split("\n")
        bodies = [line.lstrip(" ") for line in lines]
        self.rows = [(i, len(lines[i]) - len(body)) for i, body in enumerate(bodies) if body and body[0] != "#"]
        if any(indent == 0 and bodies[i][:3] in ("---", "...") for i, indent in self.rows):
            raise _Declined  # a document marker
        self.k = 0  # the row being read
        #: Where the text ends: its last line, and that line's length.
        self.last = (len(lines) - 1, len(lines[-1]))
        bounds = limits.current()
        self.deepest = min(bounds.nesting, 150)  # deeper: the exact reader says where the limit is
        self.values_left = bounds.yaml_values
        #: Python values of plain scalars, by their text.
        self.plain: dict[str, Any] = {}

    def read(self) -> dict[str, Any] | None:
        if not self.rows:
            return None
        line, column = self.rows[0]
        if not self._is_key(self.lines[line], column):
            return None  # a spec is a mapping; anything else is the exact reader's to describe
        root = self.mapping(column, 1)[0]
        if self.k != len(self.rows):
            return None
        return root

    # -- positions

    def span(self, start: _Pos, end: _Pos) -> Span:
        return Span(self.file, start[0] + 1, start[1] + 1, end[0] + 1, end[1] + 1)

    def next_start(self, column: int) -> _Pos:
        """Where a block collection at ``column`` ends: where the next row's
        content starts, or at the end of the text. There libyaml closes the
        collections indented past the last line's length, then starts a
        line of its own for the others."""
        if self.k < len(self.rows):
            return self.rows[self.k]
        line, length = self.last
        if length == 0 or column > length:
            return self.last
        return line + 1, 0

    def count(self) -> None:
        self.values_left -= 1
        if self.values_left < 0:
            raise _Declined

    # -- block collections

    def _is_entry(self, line: str, at: int) -> bool:
        return line[at] == "-" and line[at + 1:at + 2] in ("", " ")

    def _is_key(self, line: str, at: int) -> bool:
        return _KEY.match(line, at) is not None

    def node(self, column: int, depth: int, parent: int) -> _Node:
        """The node whose first row is the current one, starting at its indentation ``column``."""
        line_no = self.rows[self.k][0]
        line = self.lines[line_no]
        if self._is_entry(line, column):
            return self.sequence(column, depth)
        if self._is_key(line, column):
            return self.mapping(column, depth)
        return self.inline_row(line_no, column, depth, parent)

    def inline_row(self, line_no: int, at: int, depth: int, parent: int) -> _Node:
        """A scalar or flow collection that ends its row; the next row must
        not be indented past ``parent`` (that would continue a multi-line scalar)."""
        line = self.lines[line_no]
        value, start, end, after = self.inline(line, line_no, at, depth)
        self.end_of_row(line, after)
        self.k += 1
        if self.k < len(self.rows) and self.rows[self.k][1] > parent:
            raise _Declined
        return value, start, end

    def end_of_row(self, line: str, at: int) -> None:
        """Only spaces, then maybe a comment, after ``at``."""
        rest = line[at:]
        body = rest.lstrip(" ")
        if body and (body[0] != "#" or len(body) == len(rest)):
            raise _Declined

    def mapping(self, column: int, depth: int) -> tuple[dict[str, Any], _Pos, _Pos]:
        """The block mapping whose first key is at ``column`` of the current row."""
        if depth > self.deepest:
            raise _Declined
        line_no = self.rows[self.k][0]
        start = (line_no, column)
        out: dict[str, Any] = {SPAN_KEY: None}
        spans: dict[str, Span] = {}
        rows, lines = self.rows, self.lines
        file, n_rows, plain, plain_value = self.file, len(rows), self.plain, _PLAIN_VALUE
        while True:
            line = lines[line_no]
            key, key_end = self.key(line, column)
            after = key_end + 1  # past ':'
            value: Any
            simple = plain_value.fullmatch(line, after)
            if simple is not None:  # the usual row: "key: value"
                text = simple.group(1)
                value = plain.get(text, plain)
                if value is plain:
                    value = self.scalar(text)
                self.count()
                spans[key] = Span(file, line_no + 1, simple.start(1) + 1, line_no + 1, simple.end(1) + 1)
                self.k += 1
                if self.k < n_rows and rows[self.k][1] > column:
                    raise _Declined  # a multi-line scalar
            else:
                body = line[after:].lstrip(" ")
                if not body or body[0] == "#":  # the value is on the rows below, or empty
                    self.k += 1
                    below = rows[self.k] if self.k < n_rows else None
                    if below is not None and below[1] > column:
                        value, v_start, v_end = self.node(below[1], depth + 1, column)
                    elif below is not None and below[1] == column and self._is_entry(lines[below[0]], column):
                        value, v_start, v_end = self.sequence(column, depth + 1)  # a sequence at its key's indentation
                    else:
                        value, v_start, v_end = None, (line_no, after), (line_no, after)
                        self.count()
                else:
                    value, v_start, v_end = self.inline_row(line_no, len(line) - len(body), depth + 1, column)
                spans[key] = value[SPAN_KEY] if type(value) is dict else self.span(v_start, v_end)
            if key in out:
                raise _Declined  # a doubled key: the exact reader names it
            out[key] = value
            spans["key:" + key] = Span(file, line_no + 1, column + 1, line_no + 1, key_end + 1)
            if self.k == n_rows:
                break
            line_no, indent = rows[self.k]
            if indent < column:
                break
            if indent > column:
                raise _Declined
        end = self.next_start(column)
        out[SPAN_KEY] = self.span(start, end)
        out[KEY_SPANS_KEY] = spans
        self.count()
        return out, start, end

    def sequence(self, column: int, depth: int) -> tuple[list[Any], _Pos, _Pos]:
        """The block sequence whose first ``-`` is at ``column`` of the current row."""
        if depth > self.deepest:
            raise _Declined
        line_no = self.rows[self.k][0]
        start = (line_no, column)
        items: list[Any] = []
        rows, lines = self.rows, self.lines
        while True:
            line = lines[line_no]
            body = line[column + 1:].lstrip(" ")
            at = len(line) - len(body)
            if not body or body[0] == "#":  # the item is on the rows below, or empty
                self.k += 1
                if self.k < len(rows) and rows[self.k][1] > column:
                    items.append(self.node(rows[self.k][1], depth + 1, column)[0])
                else:
                    items.append(None)
                    self.count()
            elif self._is_entry(line, at):  # "- - x": a sequence in a sequence
                items.append(self.sequence(at, depth + 1)[0])
            elif self._is_key(line, at):  # "- name: a": a mapping in a sequence
                items.append(self.mapping(at, depth + 1)[0])
            else:
                items.append(self.inline_row(line_no, at, depth + 1, column)[0])
            if self.k == len(rows):
                break
            line_no, indent = rows[self.k]
            if indent != column or not self._is_entry(lines[line_no], column):
                if indent > column:
                    raise _Declined
                break  # a parent's next key or entry, or a row that makes no sense there (the parent declines)
        end = self.next_start(column)
        self.count()
        return items, start, end

    # -- keys, scalars and flow collections on one line

    def key(self, line: str, at: int) -> tuple[str, int]:
        """The mapping key at ``at`` (a plain scalar followed by ``: `` or ``:``
        at the end of the line) as text, and where it ends (at its ':')."""
        match = _KEY.match(line, at)
        if match is None or match.end(1) - at >= _KEY_CHARS:
            raise _Declined
        return key_text(self.scalar(match.group(1))), match.end(1)

    def scalar(self, text: str) -> Any:
        """The Python value of a plain scalar."""
        known = self.plain.get(text, self)
        if known is not self:
            return known
        first = text[0]
        value: Any = text
        if first in "-+.0123456789":
            if first == "-" and text[1:2] in ("", " "):
                raise _Declined  # a "- " entry where a scalar is due
            if text.isdigit() and (first != "0" or len(text) == 1) and len(text) <= limits.INT_LIMIT_DIGITS:
                value = int(text)
                if value >= limits.INT_LIMIT:
                    raise _Declined
            else:
                value = _number(text)  # which declines integers past the limit itself
        elif text in _BOOLS:
            value = _BOOLS[text]
        elif text in _NULLS:
            value = None
        self.plain[text] = value
        return value

    def inline(self, line: str, line_no: int, at: int, depth: int) -> tuple[Any, _Pos, _Pos, int]:
        """The scalar or flow collection at ``at``: its value, start, end and the position after it."""
        first = line[at]
        if first == "[" or first == "{":
            return self.flow(line, line_no, at, depth)
        self.count()
        if first == '"' or first == "'":
            close = line.find(first, at + 1)
            if close < 0:
                raise _Declined  # it goes on on the next line
            text = line[at + 1:close]
            if "\\" in text or line[close + 1:close + 2] == first:  # an escape, or '' in single quotes
                raise _Declined
            return text, (line_no, at), (line_no, close + 1), close + 1
        match = _PLAIN.match(line, at)
        if match is None:
            raise _Declined
        end = match.end()
        if line[end:end + 1] == ":":  # a key where a value is due, or "a:b"
            raise _Declined
        return self.scalar(match.group()), (line_no, at), (line_no, end), end

    def flow(self, line: str, line_no: int, at: int, depth: int) -> tuple[Any, _Pos, _Pos, int]:
        """A flow sequence or mapping that closes on its own line."""
        if depth > self.deepest:
            raise _Declined
        start = (line_no, at)
        close = "]" if line[at] == "[" else "}"
        pos = _skip(line, at + 1)
        value: Any
        if close == "]":
            value = []
            while line[pos] != "]":
                item, _, _, pos = self.inline(line, line_no, pos, depth + 1)
                value.append(item)
                pos = self.flow_separator(line, pos, "]")
        else:
            value = {SPAN_KEY: None}
            spans: dict[str, Span] = {}
            while line[pos] != "}":
                key_start = pos
                key, key_end = self.key(line, pos)
                item, v_start, v_end, pos = self.inline(line, line_no, _skip(line, key_end + 1), depth + 1)
                if key in value:
                    raise _Declined
                value[key] = item
                spans[key] = item[SPAN_KEY] if type(item) is dict else self.span(v_start, v_end)
                spans["key:" + key] = self.span((line_no, key_start), (line_no, key_end))
                pos = self.flow_separator(line, pos, "}")
        end = (line_no, pos + 1)
        if close == "}":
            value[SPAN_KEY] = self.span(start, end)
            value[KEY_SPANS_KEY] = spans
        self.count()
        return value, start, end, pos + 1

    def flow_separator(self, line: str, at: int, close: str) -> int:
        """Past the ``,`` after an item (and the spaces after it), or at the closing bracket."""
        pos = _skip(line, at)
        if line[pos] == ",":
            pos = _skip(line, pos + 1)
            if line[pos] in "]}":
                raise _Declined  # a trailing comma
            return pos
        if line[pos] != close:
            raise _Declined
        return pos


def _skip(line: str, at: int) -> int:
    """Past the spaces at ``at``."""
    while line[at] == " ":
        at += 1
    return at
