"""What :class:`kspec.spec._lalr.Parser` needs from Lark, as plain literals:
the LALR tables, each parser state's contextual-lexer scanner exactly as
Lark orders and groups its terminals, and each rule's child filter as
Lark's ``ParseTreeBuilder`` would apply it.

``scripts/gen_parser_tables.py`` writes :func:`export`'s values into
``_kspec_tables.py``; the parser computes them here, from the grammar, only
when the shipped ones were made from another grammar or Lark version.
Everything Lark computes is taken from Lark's own objects (its scanners'
compiled patterns, its child-filter factory), and checked, so a Lark that
lexes or shapes children differently is refused here rather than misread.
"""

from __future__ import annotations

import importlib
import pprint
import re
from collections.abc import Iterable
from typing import Any

from lark import Lark
from lark.grammar import Rule
from lark.lexer import BasicLexer, CallChain, PatternStr, UnlessCallback
from lark.parse_tree_builder import (
    ChildFilterLALR,
    ChildFilterLALR_NoPlaceholders,
    _should_expand,
    maybe_create_child_filter,
)
from lark.parsers.lalr_analysis import Shift

from kspec.spec._lalr import EXPAND, FORMAT, KEEP

__all__ = ["FORMAT", "export", "source"]


class ExportError(Exception):
    """Lark built something the run-time parser cannot reproduce exactly."""


def export(parser: Lark) -> dict[str, Any]:
    """The run-time parser's literals for a Lark LALR parser with the
    contextual lexer (see :class:`kspec.spec._lalr.Tables`)."""
    conf = parser.lexer_conf
    if conf.re_module is not re or conf.use_bytes:
        raise ExportError("the run-time parser lexes str with the re module only")
    parse_table = parser.parser.parser.parser.parse_table
    order = _state_order(parse_table.states, parse_table.start_states)
    number = {state: i for i, state in enumerate(order)}
    rules = list(parser.rules)
    rule_index = {rule: i for i, rule in enumerate(rules)}
    nonterminals = {str(rule.origin.name) for rule in rules}

    actions: list[dict[str, int]] = []
    gotos: list[dict[str, int]] = []
    for state in order:
        row: dict[str, int] = {}
        goto: dict[str, int] = {}
        for sym, (action, arg) in sorted(parse_table.states[state].items()):
            if sym in nonterminals:
                if action is not Shift:
                    raise ExportError(f"a reduction on rule {sym}")
                goto[str(sym)] = number[arg]
            else:
                row[str(sym)] = number[arg] if action is Shift else ~rule_index[arg]
        actions.append(row)
        gotos.append(goto)

    scanners: list[tuple[tuple[str, ...], dict[str, dict[str, str]]]] = []
    state_scanner: list[int] = []
    newline: set[str] = set()
    lexers = parser.parser.lexer.lexers
    for state in order:
        lexer = lexers[state]
        scanner = _scanner(lexer, conf.g_regex_flags, conf.ignore)
        newline |= lexer.newline_types
        if scanner not in scanners:
            scanners.append(scanner)
        state_scanner.append(scanners.index(scanner))
    terminals = {str(t.name): t.pattern.to_regexp() for t in conf.terminals}
    root_lexer = parser.parser.lexer.root_lexer
    root = _scanner(root_lexer, conf.g_regex_flags, conf.ignore)
    for lexer in {*lexers.values(), root_lexer}:
        if lexer.newline_types != {t.name for t in lexer.terminals} & newline:
            raise ExportError("a terminal spans lines in one scanner but not in another")

    return {
        "FORMAT": FORMAT,
        "TERMINALS": terminals,
        "FIRSTS": {name: first_chars(regexp, conf.g_regex_flags) for name, regexp in terminals.items()},
        "REGEX_FLAGS": conf.g_regex_flags,
        "IGNORE": tuple(sorted(conf.ignore)),
        "NEWLINE": tuple(sorted(newline)),
        "SCANNERS": tuple(scanners),
        "ROOT_SCANNER": root,
        "STRINGS": {str(t.name): str(t.pattern.value) for t in conf.terminals if isinstance(t.pattern, PatternStr)},
        "STATE_SCANNER": tuple(state_scanner),
        "ACTIONS": tuple(actions),
        "GOTOS": tuple(gotos),
        "RULES": tuple(_rule(rule, parser.options.maybe_placeholders) for rule in rules),
        "START_STATES": {k: number[v] for k, v in sorted(parse_table.start_states.items())},
        "END_STATES": {k: number[v] for k, v in sorted(parse_table.end_states.items())},
    }


def _state_order(states: dict[int, dict[str, Any]], starts: dict[str, int]) -> list[int]:
    """Lark's states in a stable order (breadth first from the start
    states, symbols sorted), so two generations of one grammar agree."""
    order: list[int] = []
    seen: set[int] = set()
    queue = [starts[name] for name in sorted(starts)]
    while queue:
        state = queue.pop(0)
        if state in seen:
            continue
        seen.add(state)
        order.append(state)
        for _, (action, arg) in sorted(states[state].items()):
            if action is Shift and arg not in seen:
                queue.append(arg)
    return order + sorted(set(states) - seen)


def _scanner(lexer: BasicLexer, flags: int, ignore: Iterable[str]) -> tuple[tuple[str, ...], dict[str, dict[str, str]]]:
    """One state's scanner: its terminal names in the order Lark tries
    them, and the keyword strings Lark's ``UnlessCallback`` turns a match
    of a terminal into. (Lark splits a long alternation into several
    patterns and takes the first that matches, which is the first match of
    the whole alternation: one ordered list says it.)"""
    scanner = lexer.scanner  # built as Lark builds it
    terminals = list(scanner.terminals)
    rest = terminals
    for mre in scanner._mres:
        for size in range(1, len(rest) + 1):
            pattern = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in rest[:size])
            if pattern == mre.pattern:
                break
        else:
            raise ExportError("a scanner's pattern is not its terminals' alternation")
        if mre.flags != re.compile(pattern, flags).flags:
            raise ExportError("a scanner's pattern has other flags than the grammar's")
        rest = rest[size:]
    if rest:
        raise ExportError("a scanner has terminals in no pattern")
    unless: dict[str, dict[str, str]] = {}
    for name, callback in sorted(lexer.callback.items()):
        if isinstance(callback, CallChain):
            callback = callback.callback1
        if not isinstance(callback, UnlessCallback):
            continue  # a user's callback (comments): the run-time parser takes its own
        if name in ignore:
            raise ExportError(f"ignored terminal {name} matches keywords")
        keywords: dict[str, str] = {}
        for t in callback.scanner.terminals:
            if not isinstance(t.pattern, PatternStr) or t.pattern.flags:
                raise ExportError(f"keyword {t.name} is not a plain string")
            keywords[str(t.pattern.value)] = str(t.name)
        unless[str(name)] = dict(sorted(keywords.items()))
    return tuple(str(t.name) for t in terminals), unless


def first_chars(regexp: str, flags: int) -> str | None:
    """The characters a match of ``regexp`` can start with, sorted, or
    ``None`` when that is not worked out (any character then). The lexer
    tries, at each position, only the terminals that can start with the
    character there, in the same order, which finds the same match."""
    parser = importlib.import_module("re._parser")
    tree = parser.parse(regexp, flags)
    _no_back_reference(tree)
    if flags & (re.IGNORECASE | re.DOTALL):
        return None
    chars, nullable = _first_of(list(tree))
    return None if chars is None or nullable else "".join(sorted(chars))


def _no_back_reference(node: Any) -> None:
    """Refuse a terminal that refers back to a group: combined with other
    terminals into one pattern, its group numbers would change."""
    c = importlib.import_module("re._constants")
    data = getattr(node, "data", None)
    if data is not None:  # a parsed (sub)pattern: its (op, argument) items
        for op, arg in data:
            if op in (c.GROUPREF, c.GROUPREF_EXISTS):
                raise ExportError("a terminal refers back to a group")
            _no_back_reference(arg)
    elif isinstance(node, (list, tuple)):
        for part in node:
            _no_back_reference(part)


def _first_of(items: list[tuple[Any, Any]]) -> tuple[set[str] | None, bool]:
    """(first characters, whether it matches the empty string) of a sequence."""
    out: set[str] = set()
    for op, arg in items:
        chars, nullable = _first_item(op, arg)
        if chars is None:
            return None, False
        out |= chars
        if not nullable:
            return out, False
    return out, True


def _first_item(op: Any, arg: Any) -> tuple[set[str] | None, bool]:
    """(first characters, whether it matches the empty string) of one regex node."""
    c = importlib.import_module("re._constants")
    if op is c.LITERAL:
        return {chr(arg)}, False
    if op is c.IN:
        chars: set[str] = set()
        for kind, value in arg:
            if kind is c.LITERAL:
                chars.add(chr(value))
            elif kind is c.RANGE and value[1] - value[0] < 256:
                chars |= {chr(x) for x in range(value[0], value[1] + 1)}
            else:  # a negation or a category: any character, as far as we know
                return None, False
        return chars, False
    if op is c.BRANCH:
        union: set[str] = set()
        empty = False
        for alternative in arg[1]:
            found, nullable = _first_of(list(alternative))
            if found is None:
                return None, False
            union |= found
            empty = empty or nullable
        return union, empty
    if op is c.SUBPATTERN:
        _, add_flags, _, pattern = arg
        return (None, False) if add_flags & (re.IGNORECASE | re.DOTALL) else _first_of(list(pattern))
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        low, _, pattern = arg
        found, nullable = _first_of(list(pattern))
        return found, nullable or low == 0
    if op in (c.ASSERT, c.ASSERT_NOT, c.AT):  # matches no character itself
        return set(), True
    return None, False


def _rule(rule: Rule, placeholders: bool) -> tuple[str, int, str, bool, tuple[tuple[int, int, int], ...], int, bool]:
    """``(origin, size, callback name, expand1, picks, trailing Nones,
    pass-through)`` for one rule, from Lark's own child-filter factory."""
    options = rule.options
    empty: Any = options.empty_indices if placeholders else None  # Lark's own call passes None too
    made = maybe_create_child_filter(rule.expansion, options.keep_all_tokens, False, empty)
    size = len(rule.expansion)
    picks: tuple[tuple[int, int, int], ...]
    trailing = 0
    if made is None:
        picks = tuple((i, KEEP, 0) for i in range(size))
    elif made.func is ChildFilterLALR:
        to_include, trailing = made.args
        picks = tuple((i, EXPAND if expand else KEEP, nones) for i, expand, nones in to_include)
    elif made.func is ChildFilterLALR_NoPlaceholders:
        (to_include,) = made.args
        picks = tuple((i, EXPAND if expand else KEEP, 0) for i, expand in to_include)
    else:
        raise ExportError(f"unknown child filter {made.func.__name__}")
    expand1 = bool(options.expand1 and not rule.alias)
    name = str(rule.alias or options.template_source or rule.origin.name)
    return str(rule.origin.name), size, name, expand1, picks, trailing, _passes_child(rule)


def _passes_child(rule: Rule) -> bool:
    """Whether a rule is a ``?rule`` alternative of one child that
    Lark passes on as it is (same value, same position)."""
    if not rule.options.expand1 or rule.alias or len(rule.expansion) != 1:
        return False
    sym = rule.expansion[0]
    inlined: bool = _should_expand(sym)  # type: ignore[no-untyped-call]
    filtered = sym.is_term and getattr(sym, "filter_out", False)
    return not inlined and not filtered and not any(rule.options.empty_indices or ())


def source(tables: dict[str, Any]) -> str:
    """The literals of :func:`export`, as Python assignments."""
    lines = []
    for name, value in tables.items():
        lines.append(f"{name}: Any = {pprint.pformat(value, width=110, sort_dicts=False, compact=True)}\n")
    return "\n".join(lines)
