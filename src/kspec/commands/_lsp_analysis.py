"""What ``kspec lsp`` knows about one open document, without the protocol.

:func:`analyse` makes the call ``kspec check`` makes on the editor's text and
keeps its diagnostics; the parsed IR (for names and their definitions), the
expanded IR and the static shapes and parameter counts are made on the first
question that needs them. This module also answers go to definition
(:func:`definition`) and holds what :mod:`kspec.commands._lsp_hover` and
:mod:`kspec.commands._lsp_completion` share: the word under the cursor, the
scope it is in, what defines a name, the bracket a cursor is in. Positions
are 0-based lines and characters in code points; the server converts them to
the client's units.

Nothing here imports keras: shapes and parameter counts come from the
compiler's static inference, documentation lines from the catalogue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from kspec.catalogue import Signature, catalogue
from kspec.compiler.pipeline import expand, format_for, load_text, parse_text
from kspec.compiler.shapes import LayerInfo, SpecShapes, infer_spec
from kspec.spec import ir
from kspec.spec.collector import collector_paused
from kspec.spec.diagnostics import Diagnostic, KspecError, suggestions_bounded
from kspec.spec.limits import current
from kspec.spec.source import confined_path, read_spec_text, spec_suffix

__all__ = ["CALL_BEFORE", "Analysis", "Location", "Position", "Word", "analyse", "block_statements", "definition",
           "enclosing", "in_comment", "offset_of", "resolve", "scope_at", "signature_of", "span_range", "spec_default",
           "word_at"]

#: A 0-based (line, character) position, characters counted in code points.
Position = tuple[int, int]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Location:
    """A 0-based range in a file: ``start`` inclusive, ``end`` exclusive."""

    file: str
    start: Position
    end: Position


@dataclass
class Analysis:
    """One version of a document, analysed: ``diagnostics`` and ``checked``
    (the checked IR, when there is no error) come from the call ``kspec
    check`` makes; the parsed and expanded IR that the other questions need
    are made on first use."""

    text: str
    file: str
    format: str  # "kspec" or "yaml"
    diagnostics: list[Diagnostic] = field(default_factory=list)
    checked: ir.Spec | None = None
    #: Why the text was not analysed at all (larger than the ``source_bytes``
    #: limit: ``kspec check`` would not read such a file either).
    refused: str | None = None

    @cached_property
    def parsed(self) -> ir.Spec | None:
        """The spec as written (blocks and parameters not yet expanded),
        ``None`` when the text does not parse."""
        if self.refused is not None:
            return None
        try:
            with collector_paused(), suggestions_bounded(0):  # its mistakes are the check's; none is shown from here
                return parse_text(self.text, self.file, self.format)
        except KspecError:
            return None

    @cached_property
    def expanded(self) -> ir.Spec | None:
        """The spec with blocks, loops and parameters expanded away."""
        if self.checked is not None:
            return self.checked
        if self.parsed is None:
            return None
        try:
            with collector_paused(), suggestions_bounded(0):  # (as for parsed)
                return expand(self.parsed, {})
        except KspecError:
            return None

    @cached_property
    def used(self) -> list[Analysis]:
        """The spec files this one ``use``s, directly or through others,
        each read once, confined and bounded as expansion reads them; one
        that cannot be read or parsed is left out (the check reports it)."""
        out: list[Analysis] = []
        seen = {Path(self.file).resolve()} if not self.file.startswith("<") else set()
        pending: list[Analysis] = [self]
        while pending:
            spec = pending.pop(0).parsed
            for use in spec.uses if spec is not None else ():
                try:
                    path = confined_path(use, spec.span) if spec is not None else None
                except ValueError:
                    continue
                if path is None or path in seen or not spec_suffix(path) or len(seen) > current().uses:
                    continue
                seen.add(path)
                try:
                    text = read_spec_text(path)
                except (OSError, UnicodeDecodeError):
                    continue
                used = Analysis(text, str(path), format_for(str(path)))
                out.append(used)
                pending.append(used)
        return out

    @cached_property
    def lines(self) -> list[str]:
        """The text's lines, without their line ends."""
        return self.text.split("\n")

    @cached_property
    def shapes(self) -> SpecShapes | None:
        """Static shapes and parameter counts of every model (``None`` when
        expansion failed or inference cannot run on this text)."""
        if self.expanded is None or any(d.code in _GRAPH_CODES for d in self.diagnostics):
            return None
        try:
            with collector_paused():
                return infer_spec(self.expanded)
        except Exception:  # a half-written spec: no shapes rather than no hover
            return None

    @cached_property
    def layers_at(self) -> dict[tuple[int, int], list[LayerInfo]]:
        """Every layer of every model by where its call is written (1-based
        line and column): a layer written in a block appears once per
        expansion of the block."""
        out: dict[tuple[int, int], list[LayerInfo]] = {}
        for model in (self.shapes.models.values() if self.shapes else ()):
            for info in model.layers:
                span = info.span
                if span is not None and span.file == self.file and info.type != "InputLayer":
                    out.setdefault((span.line, span.column), []).append(info)
        return out

    @cached_property
    def tensors_at(self) -> dict[tuple[int, int], list[list[Any]]]:
        """The shapes each assignment binds (one list per target), by where
        the assignment is written; one entry per expansion."""
        out: dict[tuple[int, int], list[list[Any]]] = {}
        if self.expanded is None or self.shapes is None:
            return out
        for model in self.expanded.models:
            shapes = self.shapes.models.get(model.name)
            if shapes is None or not isinstance(model, ir.FunctionalModel):
                continue
            for node in model.nodes:
                span = node.span
                if span is not None and span.file == self.file:
                    out.setdefault((span.line, span.column), []).append(
                        [shapes.tensors.get(t) for t in node.targets])
        return out


#: Codes after which shape inference is not attempted (``check`` skips it too).
_GRAPH_CODES = frozenset({"K201", "K202", "K204", "K206", "K208"})


def analyse(text: str, file: str, format: str | None = None) -> Analysis:
    """``kspec check`` on ``text`` (named ``file``, which decides the form
    unless ``format`` does): the same call, so the same diagnostics in the
    same order."""
    result = Analysis(text, file, format_for(file, format))
    limit = current().source_bytes
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        result.refused = (f"the document has {size} bytes, more than the limit source_bytes={limit} "
                          "(raise it with kspec lsp --limit source_bytes=N)")
        return result
    try:
        result.checked = load_text(text, file, result.format, {}, corners=True)
    except KspecError as exc:
        result.diagnostics = list(exc.diagnostics)
    return result


def span_range(span: ir.Span, lines: list[str]) -> tuple[Position, Position]:
    """A kspec span (1-based, end exclusive) as a 0-based range; a span
    without an end covers one character, as ``kspec check``'s caret does."""
    start = (max(span.line - 1, 0), max(span.column - 1, 0))
    if span.end_line is not None and span.end_column is not None:
        return start, (max(span.end_line - 1, 0), max(span.end_column - 1, 0))
    if span.end_line is not None and span.end_line != span.line:  # to the end of the last line
        last = max(span.end_line - 1, 0)
        return start, (last, len(lines[last]) if last < len(lines) else 0)
    line = lines[start[0]] if start[0] < len(lines) else ""
    return start, (start[0], min(start[1] + 1, max(len(line), start[1])))


# --------------------------------------------------------------------------
# Words and scopes


@dataclass(frozen=True)
class Word:
    """The identifier under the cursor and what surrounds it."""

    text: str
    line: int
    start: int
    end: int
    op: bool  # written as ``ops.<text>``
    called: bool  # followed by ``(``


def word_at(a: Analysis, pos: Position) -> Word | None:
    line_no, char = pos
    if line_no >= len(a.lines):
        return None
    line = a.lines[line_no]
    for m in _WORD.finditer(line):
        if m.start() <= char <= m.end() and not in_comment(line, m.start()):
            if m.start() > 0 and line[m.start() - 1].isdigit():
                return None  # the exponent of 1e-3
            op = line[:m.start()].endswith("ops.")
            if m.group() == "ops" and line[m.end():m.end() + 1] == ".":
                return None
            called = line[m.end():].lstrip().startswith("(")
            return Word(m.group(), line_no, m.start(), m.end(), op, called)
    return None


def in_comment(line: str, col: int) -> bool:
    """Whether column ``col`` of ``line`` is inside a ``#`` comment (quotes respected)."""
    quote: str | None = None
    for i, c in enumerate(line[:col]):
        if quote:
            if c == quote and line[i - 1] != "\\":
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#":
            return True
    return False


def _start(node: ir.IRNode) -> tuple[int, int]:
    span = node.span
    return (span.line, span.column) if span is not None else (0, 0)


def _top_items(spec: ir.Spec) -> list[ir.IRNode]:
    """Models, blocks, sections and file parameters, in text order."""
    items: list[ir.IRNode] = [*spec.models, *spec.blocks, *spec.compile, *spec.train, *spec.params]
    return sorted((i for i in items if i.span is not None), key=_start)


def scope_at(spec: ir.Spec, line1: int, col1: int) -> ir.IRNode | None:
    """The top-level item the 1-based position is in: the last one that
    starts before it (models, blocks and sections do not nest)."""
    found: ir.IRNode | None = None
    for item in _top_items(spec):
        if _start(item) <= (line1, col1):
            found = item
    return found


def block_statements(body: list[Any]) -> Iterator[ir.Assign | ir.For]:
    """A block's assignments and loops, loop and branch bodies included."""
    for st in body:
        if isinstance(st, ir.Assign):
            yield st
        elif isinstance(st, ir.For):
            yield st
            yield from block_statements(st.body)
        elif isinstance(st, ir.If):
            yield from block_statements(st.body)
            yield from block_statements(st.orelse)


def _binding(block: ir.Block, name: str, line1: int, col1: int) -> ir.Assign | ir.For | None:
    """The statement of ``block`` that binds ``name`` where it is used: the
    last one before the position, else the first (a loop rebinding it)."""
    binds = [st for st in block_statements(block.body)
             if (isinstance(st, ir.Assign) and name in st.targets) or (isinstance(st, ir.For) and st.var == name)]
    before = [st for st in binds if _start(st) <= (line1, col1)]
    return before[-1] if before else (binds[0] if binds else None)


# --------------------------------------------------------------------------
# Definitions


def _name_location(a: Analysis, node: ir.IRNode, name: str, after: str = "") -> Location | None:
    """Where ``name`` is written in ``node``'s text: its first whole-word
    occurrence from the node's start (after the text ``after``, e.g. a
    keyword), else anywhere on the node's first line, else the node's start.
    In YAML, where a key precedes its value's span, the line comes first."""
    span = node.span
    if span is None or span.file != a.file:
        return None
    row = span.line - 1
    if row >= len(a.lines):
        return None
    offset = offset_of(a.lines, row, span.column - 1)
    skip = a.text.find(after, offset, offset + 200) if after else -1
    begin = skip + len(after) if skip >= 0 else offset
    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    if a.format == "yaml":  # a YAML key names the node before its span begins: look on its line first
        m = pattern.search(a.lines[row])
        if m is not None:
            return Location(a.file, (row, m.start()), (row, m.end()))
    m = pattern.search(a.text, begin, begin + 4000)
    if m is None:
        m = pattern.search(a.lines[row])
        if m is None:
            return Location(a.file, (row, span.column - 1), (row, span.column - 1 + len(name)))
        return Location(a.file, (row, m.start()), (row, m.end()))
    return _location(a, m.start(), m.end())


def offset_of(lines: list[str], row: int, col: int) -> int:
    return sum(len(line) + 1 for line in lines[:row]) + col


def _location(a: Analysis, start: int, end: int) -> Location:
    row = a.text.count("\n", 0, start)
    col = start - (a.text.rfind("\n", 0, start) + 1)
    return Location(a.file, (row, col), (row, col + end - start))


def _keyword_of(node: ir.IRNode) -> str:
    """The keyword that starts ``node``'s statement in ``.kspec`` text."""
    if isinstance(node, ir.FunctionalModel):
        return "model"
    if isinstance(node, ir.SequentialModel):
        return "sequential"
    return {ir.Block: "block", ir.Input: "input", ir.Output: "output", ir.For: "for"}.get(type(node), "")


def definition(a: Analysis, pos: Position) -> Location | None:
    """Where the name under the cursor is defined: a tensor (input,
    assignment, output, loop variable, block input), a named layer, a
    block, a model, or a parameter (of the file or of a block)."""
    word = word_at(a, pos)
    if word is None or a.parsed is None or word.op:
        return None
    target = resolve(a, word)
    if target is None:
        return None
    owner, node, after = target
    if owner.format == "kspec" and not after and owner.parsed is not None:
        after = _keyword_of(node)
        if isinstance(node, ir.Param) and scope_at(owner.parsed, *_start(node)) is node:
            after = "param"
    return _name_location(owner, node, word.text, after)


def resolve(a: Analysis, word: Word) -> tuple[Analysis, ir.IRNode, str] | None:
    """The node defining the word, in this file or in a file it uses (a
    block or a parameter), with the file's analysis and the text the name
    follows in the node."""
    if a.parsed is None:
        return None
    target = _defining_node(a.parsed, word.text, word.line + 1, word.start + 1)
    if target is not None:
        return a, *target
    for used in a.used:
        spec = used.parsed
        assert spec is not None  # only parsed files are used
        nodes: list[ir.Block | ir.Param] = [*spec.blocks, *spec.params]
        for node in nodes:
            if node.name == word.text:
                return used, node, ""
    return None


def _defining_node(spec: ir.Spec, name: str, line1: int, col1: int) -> tuple[ir.IRNode, str] | None:
    """The node that defines ``name`` as seen from the position, and the
    text after which the name is written in it ("" for its first word)."""
    scope = scope_at(spec, line1, col1)
    if isinstance(scope, ir.Block):
        for p in scope.params:
            if p.name == name:
                return p, ""
        bound = _binding(scope, name, line1, col1)
        if bound is not None:
            return bound, ""
        if name in scope.inputs:
            return scope, "("
    if isinstance(scope, ir.FunctionalModel):
        for inp in scope.inputs:
            if inp.name == name:
                return inp, ""
        for d in scope.layers:
            if d.name == name:
                return d, ""
        for node in scope.nodes:
            if name in node.targets:
                return node, ""
        for out in scope.outputs:
            if out.name == name:
                return out, ""
    if isinstance(scope, ir.SequentialModel) and scope.input is not None and scope.input.name == name:
        return scope.input, ""
    for block in spec.blocks:
        if block.name == name:
            return block, ""
    for model in spec.models:
        if model.name == name:
            return model, ""
    for p in spec.params:
        if p.name == name:
            return p, ""
    return None


# --------------------------------------------------------------------------
# Text around the cursor


_OPENERS = {")": "(", "]": "[", "}": "{"}
CALL_BEFORE = re.compile(r"((?:ops\.)?[A-Za-z_][A-Za-z0-9_]*)\s*$")


def enclosing(text: str, end: int) -> tuple[str, int] | None:
    """The innermost bracket still open at offset ``end`` (strings and
    comments skipped, up to 4000 characters back) and its offset."""
    depth: list[str] = []
    i = end - 1
    stop = max(0, end - 4000)
    code = _code_mask(text, stop, end)
    while i >= stop:
        c = text[i]
        if code[i - stop]:
            if c in _OPENERS:
                depth.append(_OPENERS[c])
            elif c in "([{":
                if depth:
                    depth.pop()
                else:
                    return c, i
        i -= 1
    return None


def _code_mask(text: str, start: int, end: int) -> list[bool]:
    """For each character of ``text[start:end]``, whether it is code (not
    in a string or a comment)."""
    mask: list[bool] = []
    quote: str | None = None
    comment = False
    for i in range(start, end):
        c = text[i]
        if c == "\n":
            comment, quote = False, None
            mask.append(True)
        elif comment:
            mask.append(False)
        elif quote:
            mask.append(False)
            if c == quote and text[i - 1] != "\\":
                quote = None
        elif c in "\"'":
            quote = c
            mask.append(False)
        elif c == "#":
            comment = True
            mask.append(False)
        else:
            mask.append(True)
    return mask


def signature_of(callee: str) -> Signature | None:
    """The signature a call of ``callee`` reaches: a layer, an operation
    (``ops.mean``), or an object of a compile or train section (``Adam``,
    ``EarlyStopping``, ``CosineDecay`` ...)."""
    cat = catalogue()
    if callee.startswith("ops."):
        return cat.ops.get(callee[4:])
    if callee in cat.layers:
        return cat.layers[callee]
    from kspec.compiler.registry.settings import call_kind

    for kind in ("optimizers", "schedules", "losses", "metrics", "callbacks"):
        sig = call_kind(kind).signature(callee)
        if sig is not None:
            return sig
    return None


def spec_default(value: Any) -> str:
    """A catalogue default as a spec writes it (``"valid"``, ``none``, ``[1, 1]``)."""
    if isinstance(value, dict) and "repr" in value:
        return str(value["repr"])
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value]
    return json.dumps(value) if isinstance(value, str) else str(value)
