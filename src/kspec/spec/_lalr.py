"""The run-time LALR(1) parser of the ``.kspec`` language: Lark's parse
tables and contextual lexer, shipped as plain literals (``_kspec_tables``,
made by ``scripts/gen_parser_tables.py``; see :mod:`kspec.spec._lalr_export`)
and driven here with nothing but :mod:`re`.

:class:`Parser` lexes and parses in one loop and builds no syntax tree:
each rule, when reduced, gets its children filtered as Lark's
``ParseTreeBuilder`` filters them (tokens left out, ``None`` for a missing
``[x]``, ``_rules`` spliced into their parent, a ``?rule`` of one child
replaced by the child) and calls the reduction callback of its name. The
text is read exactly as Lark reads it: same terminals in the same order per
parser state, same keywords, same line and column counting, same rule spans
(a rule runs from its first child's first token to its last child's last
token). Where Lark would raise a syntax error, the error Lark raises there
is raised, as its attributes (the same kind, position, token found and
terminals expected): an :class:`UnexpectedInput`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from operator import itemgetter
from typing import Any

__all__ = ["Inline", "Parser", "Tables", "Token", "UnexpectedCharacters", "UnexpectedInput", "UnexpectedToken"]

#: The layout of the tables this parser reads (see :class:`Tables`).
FORMAT = 2

#: How a reduction picks a child (see :class:`Tables`): the value as it is,
#: the children of an inlined ``_rule`` spliced in place.
KEEP, EXPAND = 0, 1


class Token(str):
    """A terminal as it was read, with Lark's ``Token`` attributes: its
    terminal's name (``type``) and where it starts and ends (offsets,
    1-based lines and columns; the end column is one past the last
    character)."""

    __slots__ = ("column", "end_column", "end_line", "end_pos", "line", "start_pos", "type")

    type: str
    start_pos: int | None
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    end_pos: int | None

    def __new__(cls, kind: str, value: str, start_pos: int | None = None, line: int | None = None,
                column: int | None = None, end_line: int | None = None, end_column: int | None = None,
                end_pos: int | None = None) -> Token:
        tok = str.__new__(cls, value)
        tok.type = kind
        tok.start_pos, tok.line, tok.column = start_pos, line, column
        tok.end_line, tok.end_column, tok.end_pos = end_line, end_column, end_pos
        return tok

    @property
    def value(self) -> str:
        """The text of the token."""
        return str(self)

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Token, (self.type, str(self), self.start_pos, self.line, self.column, self.end_line,
                        self.end_column, self.end_pos))


class Inline:
    """What a rule without a callback gives (``_item``, repetitions): its
    children, which the rule above splices in when the rule is an inlined
    ``_rule``."""

    __slots__ = ("children", "data")

    def __init__(self, data: str, children: list[Any]) -> None:
        self.data = data
        self.children = children


class UnexpectedInput(Exception):
    """A syntax error as Lark's own parser describes it (its exception's
    attributes, so that describing one needs no Lark types)."""

    def __init__(self, line: int | None, column: int | None, pos_in_stream: int | None) -> None:
        super().__init__(line, column)
        self.line = line
        self.column = column
        self.pos_in_stream = pos_in_stream


class UnexpectedCharacters(UnexpectedInput):
    """No terminal matches at ``pos_in_stream``."""


class UnexpectedToken(UnexpectedInput):
    """``token`` fits no rule here; ``expected`` names the terminals that would."""

    def __init__(self, line: int | None, column: int | None, pos_in_stream: int | None, token: Token,
                 expected: set[str]) -> None:
        super().__init__(line, column, pos_in_stream)
        self.token = token
        self.expected = expected


#: A rule's callback: a function of the rule's children, and whether it
#: takes them as one list (else as one argument each).
Callback = tuple[Callable[..., Any], bool]
#: One reduction: its children (popped from the value stack) to its value.
Reducer = Callable[[list[Any]], Any]
#: A token position on the parser's stack: (first token, last token), or
#: ``None`` for a rule that matched nothing.
Extent = tuple[Token, Token] | None

#: How a rule reduces (see :func:`_reducer`): its child stands for it; its
#: children, as a list, are its value; a function of its children is; a
#: function of its one child is; its one child in a list is.
PASS, LIST, CALL, ONE, WRAP = 0, 1, 2, 3, 4

_Rule = tuple[str, int, str, bool, tuple[tuple[int, int, int], ...], int, bool]


class Tables:
    """The literals a :class:`Parser` runs on (the module written by
    ``scripts/gen_parser_tables.py``, or the same values computed from the
    grammar by :func:`kspec.spec._lalr_export.export`).

    ``terminals`` maps a terminal's name to its regular expression and
    ``firsts`` to the characters a match can start with (``None``: any);
    ``scanners[i]`` is one contextual-lexer scanner: its terminal names in
    the order Lark tries them, and per terminal the strings that turn a
    match into a keyword's terminal (Lark's ``UnlessCallback``);
    ``state_scanner[s]`` is the scanner of parser state ``s``;
    ``root_scanner`` is the scanner of every terminal, which Lark tries
    where a state's scanner matches nothing, to name what was found there.
    ``strings`` maps each terminal that is a plain string to it.
    ``actions[s]`` maps a terminal to a shift (the next state, ``>= 0``) or
    a reduction (``~rule``); ``gotos[s]`` maps a rule's name to the next
    state. ``rules[r]`` is ``(origin, size, callback name, expand1, picks,
    trailing Nones, pass-through)`` where ``picks`` are Lark's child filter
    ``(index, KEEP|EXPAND, Nones before)``.
    """

    def __init__(self, source: Mapping[str, Any]) -> None:
        self.terminals: dict[str, str] = source["TERMINALS"]
        self.firsts: dict[str, str | None] = source["FIRSTS"]
        self.regex_flags: int = source["REGEX_FLAGS"]
        self.ignore: frozenset[str] = frozenset(source["IGNORE"])
        self.newline: frozenset[str] = frozenset(source["NEWLINE"])
        self.scanners: Sequence[tuple[tuple[str, ...], dict[str, dict[str, str]]]] = source["SCANNERS"]
        self.root_scanner: tuple[tuple[str, ...], dict[str, dict[str, str]]] = source["ROOT_SCANNER"]
        self.strings: dict[str, str] = source["STRINGS"]
        self.state_scanner: Sequence[int] = source["STATE_SCANNER"]
        self.actions: Sequence[dict[str, int]] = source["ACTIONS"]
        self.gotos: Sequence[dict[str, int]] = source["GOTOS"]
        self.rules: Sequence[_Rule] = source["RULES"]
        self.start_states: dict[str, int] = source["START_STATES"]
        self.end_states: dict[str, int] = source["END_STATES"]


#: What a terminal needs beyond a plain token, per scanner: whether it is
#: ignored, whether it may span lines, its keywords (string -> terminal).
_Special = tuple[bool, bool, "dict[str, str] | None"]
#: A compiled scanner pattern's ``match``.
_Match = Callable[[str, int], "re.Match[str] | None"]


class Parser:
    """The LALR(1) parser of :class:`Tables`, with ``callbacks`` (a rule's
    callback name to its :data:`Callback`) as the reductions; a rule whose
    name has no callback gives an :class:`Inline` (an inlined ``_rule``,
    which only its parent sees, gives its children as a plain list).
    ``on_ignored`` gets the ignored tokens of the terminals it names (the
    comments, for ``kspec fmt``). ``holder.cur`` is set to each rule's
    extent just before its callback runs (the span of what is being built).

    The lexer of a parser state tries, at each position, only the
    terminals that can start with the character there, in Lark's order:
    one small pattern per (scanner, character), compiled on first use."""

    def __init__(self, tables: Tables, callbacks: Mapping[str, Callback],
                 on_ignored: Mapping[str, Callable[[Token], object]], holder: Any) -> None:
        self.tables = tables
        self.on_ignored = dict(on_ignored)
        self.holder = holder
        #: per rule: (PASS|LIST|CALL, its function, size, origin)
        self.reductions: list[tuple[int, Reducer | None, int, str]] = [
            (*_reducer(rule, callbacks), rule[1], rule[0]) for rule in tables.rules]
        #: per scanner: the match to use at each character (filled in on first use)
        dispatch: list[dict[str, _Match]] = [{} for _ in tables.scanners]
        special = [_specials(tables, names, unless) for names, unless in tables.scanners]
        #: per parser state, its scanner's dispatch and special terminals
        self.dispatch = [dispatch[i] for i in tables.state_scanner]
        self.special = [special[i] for i in tables.state_scanner]
        #: compiled patterns, by their terminals
        self._patterns: dict[tuple[str, ...], _Match] = {}
        #: the ends of runs of pass-through reductions: (state below, top state, terminal) -> top state
        self.chains: dict[tuple[int, int, str], int] = {}
        #: the match of every terminal (Lark's root lexer), compiled for the first lexing error
        self._root: _Match | None = None

    def _match(self, state: int, char: str) -> _Match:
        """The match of ``state``'s scanner at character ``char``: the
        alternation of the terminals that can start with it, in order
        (compiled once per distinct list of terminals)."""
        tables = self.tables
        names, _ = tables.scanners[tables.state_scanner[state]]
        firsts = tables.firsts
        subset = tuple(name for name in names if (first := firsts[name]) is None or char in first)
        match = self._patterns.get(subset)
        if match is None:
            if subset:
                pattern = "|".join(f"(?P<{name}>{tables.terminals[name]})" for name in subset)
                match = re.compile(pattern, tables.regex_flags).match
            else:
                match = _no_match
            self._patterns[subset] = match
        self.dispatch[state][char] = match
        return match

    def _chain(self, below: int, top: int, kind: str) -> int:
        """The top state after every pass-through reduction that terminal
        ``kind`` triggers in state ``top`` (over state ``below``)."""
        actions, gotos, reductions = self.tables.actions, self.tables.gotos, self.reductions
        while True:
            action = actions[top].get(kind)
            if action is None or action >= 0 or reductions[~action][0] != PASS:
                return top
            top = gotos[below][reductions[~action][3]]

    def parse(self, text: str, start: str, trace: Callable[[Token], object] | None = None) -> Any:
        """The value of rule ``start`` for ``text``: lex and parse in one
        loop, reducing through the callbacks. ``trace`` sees every token
        shifted. Raises the :class:`UnexpectedInput` Lark raises for a syntax
        error, and whatever a callback raises."""
        tables = self.tables
        actions, gotos, reductions, chains = tables.actions, tables.gotos, self.reductions, self.chains
        on_ignored, dispatch, special, holder = self.on_ignored, self.dispatch, self.special, self.holder
        new = str.__new__
        token_class = Token
        state = tables.start_states[start]
        end_state = tables.end_states[start]
        states: list[int] = [state]
        values: list[Any] = []
        extents: list[Extent] = []
        pos, end, line, line_start = 0, len(text), 1, 0
        tok: Token | None = None
        while True:
            # -- the next token, lexed in the current state (Lark's contextual lexer)
            if pos < end:
                char = text[pos]
                m = (dispatch[state].get(char) or self._match(state, char))(text, pos)
                if m is None:
                    raise self._lexing_error(text, pos, line, pos - line_start + 1, state)
                kind: str = m.lastgroup  # type: ignore[assignment]
                stop = m.end()
                column = pos - line_start + 1
                first_line = line
                found = special[state].get(kind)
                if found is not None:
                    ignored, newline, keywords = found
                    if newline and (count := text.count("\n", pos, stop)):
                        line += count
                        line_start = text.rindex("\n", pos, stop) + 1
                    if ignored:
                        if kind in on_ignored:
                            on_ignored[kind](token_class(kind, text[pos:stop], pos, first_line, column, line,
                                                         stop - line_start + 1, stop))
                        pos = stop
                        continue
                    value = text[pos:stop]
                    if keywords is not None:
                        kind = keywords.get(value, kind)
                else:
                    value = text[pos:stop]
                tok = new(token_class, value)
                tok.type = kind
                tok.start_pos, tok.line, tok.column = pos, first_line, column
                tok.end_line, tok.end_column, tok.end_pos = line, stop - line_start + 1, stop
                pos = stop
            else:
                kind = "$END"
                tok = (Token("$END", "", tok.start_pos, tok.line, tok.column, tok.end_line, tok.end_column, tok.end_pos)
                       if tok is not None else Token("$END", "", 0, 1, 1))
            # -- reduce as the token asks, then shift it
            while True:
                action = actions[state].get(kind)
                if action is None:
                    raise UnexpectedToken(tok.line, tok.column, tok.start_pos, tok,
                                          {name for name in actions[state] if name.isupper()})
                if action >= 0:
                    state = action
                    states.append(state)
                    values.append(tok)
                    extents.append((tok, tok))
                    if trace is not None:
                        trace(tok)
                    break
                how, reduce, size, origin = reductions[~action]
                if how == PASS:  # ``?rule`` of one child: the child stands for the rule
                    # A run of these (``16`` is an atom, a power, ... a value) changes
                    # only the top state, by the state below it and the token.
                    key = (states[-2], state, kind)
                    top = chains.get(key)
                    if top is None:
                        top = chains[key] = self._chain(states[-2], state, kind)
                    state = states[-1] = top
                    if state == end_state and kind == "$END":
                        return values[-1]
                    continue
                if how == ONE:  # one child, in place: same extent
                    holder.cur = extents[-1]
                    values[-1] = reduce(values[-1])  # type: ignore[misc]
                    state = states[-1] = gotos[states[-2]][origin]
                    if state == end_state and kind == "$END":
                        return values[-1]
                    continue
                if how == WRAP:
                    values[-1] = [values[-1]]
                    state = states[-1] = gotos[states[-2]][origin]
                    if state == end_state and kind == "$END":
                        return values[-1]
                    continue
                cur: Extent = None
                if size:
                    children = values[-size:]
                    popped = extents[-size:]
                    del values[-size:], states[-size:], extents[-size:]
                    if size == 1:
                        cur = popped[0]
                    else:
                        first, last = popped[0], popped[-1]
                        cur = (first[0], last[1]) if first is not None and last is not None else _extent(popped)
                else:
                    children = []
                if how == LIST:
                    values.append(children)
                else:
                    holder.cur = cur
                    values.append(reduce(children))  # type: ignore[misc]
                extents.append(cur)
                state = gotos[states[-1]][origin]
                states.append(state)
                if state == end_state and kind == "$END":
                    return values[-1]

    def _lexing_error(self, text: str, pos: int, line: int, column: int, state: int) -> UnexpectedInput:
        """The error where no terminal of ``state``'s scanner matches at
        ``pos``, as Lark's contextual lexer raises it: when a terminal of
        another state matches there, the token it reads is unexpected, and
        the expected terminals are those of the state's scanner; else no
        terminal matches the characters at all."""
        tables = self.tables
        names, keywords = tables.root_scanner
        if self._root is None:
            pattern = "|".join(f"(?P<{name}>{tables.terminals[name]})" for name in names)
            self._root = re.compile(pattern, tables.regex_flags).match
        m = self._root(text, pos)
        if m is None:
            return UnexpectedCharacters(line, column, pos)
        kind: str = m.lastgroup  # type: ignore[assignment]
        value = m.group()
        stop = m.end()
        end_line, end_column = line, column + len(value)
        if kind in tables.newline and (count := value.count("\n")):
            end_line, end_column = line + count, len(value) - value.rindex("\n")
        if kind in keywords:
            kind = keywords[kind].get(value, kind)
        allowed = set(tables.scanners[tables.state_scanner[state]][0]) - tables.ignore or {"<END-OF-FILE>"}
        return UnexpectedToken(line, column, pos, Token(kind, value, pos, line, column, end_line, end_column, stop),
                               allowed)


def _no_match(text: str, pos: int) -> None:
    """The match where no terminal of the scanner can start."""
    return None


def _specials(tables: Tables, names: tuple[str, ...], unless: dict[str, dict[str, str]]) -> dict[str, _Special]:
    """A scanner's terminals that need more than a plain token: ignored,
    possibly spanning lines, or with keywords."""
    special: dict[str, _Special] = {}
    for name in names:
        ignored, newline, keywords = name in tables.ignore, name in tables.newline, unless.get(name)
        if ignored or newline or keywords:
            special[name] = (ignored, newline, keywords)
    return special


def _extent(popped: list[Extent]) -> Extent:
    """From the first token of the first child that has one to the last
    token of the last child that has one (children that matched nothing
    have no position)."""
    for p in popped:
        if p is not None:
            first = p[0]
            break
    else:
        return None
    for p in reversed(popped):
        if p is not None:
            return first, p[1]
    return None  # pragma: no cover - a first was found


def _reducer(rule: _Rule, callbacks: Mapping[str, Callback]) -> tuple[int, Reducer | None]:
    """How one rule reduces: Lark's child filter, then its single-child
    expansion for a ``?rule``, then the callback (or an :class:`Inline`).
    An inlined ``_rule``'s value is only ever spliced into its parent, so it
    is its children's list itself."""
    origin, size, name, expand1, picks, trailing, passes = rule
    if passes:
        return PASS, None
    inlined = origin.startswith("_")
    found = callbacks.get(name)
    fn: Callable[..., Any] | None
    takes_list = True
    if found is not None:
        fn, takes_list = found
    elif inlined:
        fn = None
    else:
        make: Callable[..., Any] = partial(Inline, name)
        fn = make
    static = all(mode == KEEP for _, mode, _ in picks)
    if expand1 and static and len(picks) + sum(nones for _, _, nones in picks) + trailing == 1:
        only = picks[0][0] if picks and not picks[0][2] else None
        return CALL, (itemgetter(only) if only is not None else (lambda children: None))
    if inlined and fn is not None:  # the parent splices the callback's value's children
        inner, inner_list = fn, takes_list
        fn, takes_list = (lambda *args: (inner(*args)).children), inner_list
    if static and not trailing and not any(nones for _, _, nones in picks):
        indices = tuple(i for i, _, _ in picks)
        if indices == tuple(range(size)):
            if size == 1:
                if fn is None:
                    return WRAP, None
                return ONE, ((lambda child: fn([child])) if takes_list else fn)
            if fn is None:
                return LIST, None
            return CALL, (fn if takes_list else (lambda children: fn(*children)))
        if not indices:
            if fn is None:
                return CALL, (lambda children: [])
            return CALL, ((lambda children: fn([])) if takes_list else (lambda children: fn()))
        getter = itemgetter(*indices)
        if len(indices) == 1:
            if fn is None:
                return CALL, (lambda children: [getter(children)])
            return CALL, ((lambda children: fn([getter(children)])) if takes_list
                          else (lambda children: fn(getter(children))))
        if fn is None:
            return CALL, (lambda children: list(getter(children)))
        return CALL, ((lambda children: fn(list(getter(children)))) if takes_list
                      else (lambda children: fn(*getter(children))))

    splice = _splice(picks) if not trailing and not expand1 else None
    if splice is not None:
        if fn is None:
            return CALL, splice
        return CALL, ((lambda children: fn(splice(children))) if takes_list
                      else (lambda children: fn(*splice(children))))

    def filtered(children: list[Any]) -> Any:
        out: list[Any] = []
        for i, mode, nones in picks:
            if nones:
                out += [None] * nones
            if mode == EXPAND:
                if out:
                    out += children[i]
                else:  # left recursion: extend the list the inlined rule made
                    out = children[i]
            else:
                out.append(children[i])
        if trailing:
            out += [None] * trailing
        if expand1 and len(out) == 1:
            return out[0]
        if fn is None:
            return out
        return fn(out) if takes_list else fn(*out)

    return CALL, filtered


def _splice(picks: tuple[tuple[int, int, int], ...]) -> Reducer | None:
    """Lark's child filter, written out, for one or two picks that splice
    an inlined rule's children (the repetitions: ``x*``, ``("," x)*``), or
    ``None`` for other picks."""
    if any(nones for _, _, nones in picks) or all(mode == KEEP for _, mode, _ in picks):
        return None
    if len(picks) == 1:
        return itemgetter(picks[0][0])  # the inlined rule's list itself
    if len(picks) != 2:
        return None
    (i, first, _), (j, second, _) = picks
    if first == EXPAND and second == EXPAND:
        def both(children: list[Any]) -> list[Any]:
            out: list[Any] = children[i]
            if not out:
                return children[j]  # type: ignore[no-any-return]
            out += children[j]
            return out

        return both
    if first == EXPAND:
        def append(children: list[Any]) -> list[Any]:
            out: list[Any] = children[i]
            out.append(children[j])
            return out

        return append

    def prepend(children: list[Any]) -> list[Any]:
        out = [children[i]]
        out += children[j]
        return out

    return prepend
