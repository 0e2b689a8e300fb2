"""The language server behind ``kspec lsp``, on pygls.

The protocol side only: documents come and go through pygls's workspace,
each change is analysed by :mod:`kspec.commands._lsp_analysis` (the call
``kspec check`` makes), :mod:`~kspec.commands._lsp_hover` and
:mod:`~kspec.commands._lsp_completion` answer the other questions, and
positions are converted between kspec's code points and the client's
position encoding.

Diagnostics are debounced: each change (re)starts a short timer per
document, and only when the user pauses is the text analysed, on one worker
thread, so that fast typing never queues work; a result for a version the
editor has since changed is dropped. Hover, definition and completion use
the analysis of the current version (made on demand when the timer has not
run yet).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from kspec.commands._lsp_analysis import Analysis, Location, Position, analyse, definition, span_range
from kspec.commands._lsp_completion import Completion, completions
from kspec.commands._lsp_hover import hover
from kspec.compiler.pipeline import format_for
from kspec.spec.diagnostics import Diagnostic, KspecError

__all__ = ["DEFAULT_DEBOUNCE", "KspecLanguageServer", "make_server"]

#: Seconds of quiet after a keystroke before a document is checked again.
DEFAULT_DEBOUNCE = 0.1

_log = logging.getLogger(__name__)

T = TypeVar("T")

_KINDS = {
    "layer": types.CompletionItemKind.Class,
    "op": types.CompletionItemKind.Function,
    "keyword": types.CompletionItemKind.Property,
    "value": types.CompletionItemKind.EnumMember,
    "block": types.CompletionItemKind.Function,
    "model": types.CompletionItemKind.Module,
    "tensor": types.CompletionItemKind.Variable,
}


class KspecLanguageServer(LanguageServer):
    """A pygls server that keeps one :class:`Analysis` per open document."""

    def __init__(self, debounce: float = DEFAULT_DEBOUNCE) -> None:
        from kspec import __version__

        super().__init__("kspec", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.debounce = debounce
        self.analyses: dict[str, tuple[int | None, Analysis]] = {}
        self.last_parsed: dict[str, Analysis] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kspec-check")

    # -- analysis ---------------------------------------------------------------

    def schedule(self, uri: str, delay: float) -> None:
        """Check ``uri`` again after ``delay`` seconds of quiet, replacing
        any check still waiting."""
        waiting = self.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        self.pending[uri] = asyncio.get_running_loop().create_task(self._refresh(uri, delay))

    async def _refresh(self, uri: str, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        doc = self.workspace.get_text_document(uri)
        version = doc.version
        result = await self.analysis(doc)
        if self.workspace.get_text_document(uri).version != version:
            return  # the text changed meanwhile: that change scheduled its own check
        self.pending.pop(uri, None)
        self.publish(uri, version, result)

    async def analysis(self, doc: TextDocument) -> Analysis:
        """The analysis of the document's current version (cached)."""
        cached = self.analyses.get(doc.uri)
        if cached is not None and cached[0] == doc.version and cached[1].text == doc.source:
            return cached[1]
        text, version = doc.source, doc.version
        file, form = _file_of(doc), _format_of(doc)
        try:
            result = await self.on_worker(analyse, text, file, form)
        except Exception as exc:  # a bug in kspec, not in the spec: say so in the editor's log and keep serving
            _log.exception("analysis of %s failed", doc.uri)
            self.window_log_message(types.LogMessageParams(
                type=types.MessageType.Error, message=f"kspec: internal error: {type(exc).__name__}: {exc}"))
            result = Analysis(text, file, format_for(file, form))
        self.analyses[doc.uri] = (version, result)
        return result

    async def on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the worker thread, where every analysis runs:
        kspec's passes never run on two threads at once. The limits that
        ``--limit`` and ``--allow-dir`` put in force go along."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self.worker, context.run, fn, *args)

    def publish(self, uri: str, version: int | None, a: Analysis) -> None:
        """Send ``a``'s diagnostics for ``uri``."""
        diags = [self.lsp_diagnostic(d, a, uri) for d in a.diagnostics]
        if a.refused is not None:
            diags.append(types.Diagnostic(range=_ZERO, message=a.refused, source="kspec",
                                          severity=types.DiagnosticSeverity.Error))
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diags, version=version))

    # -- conversions --------------------------------------------------------------

    def to_range(self, a: Analysis, start: Position, end: Position) -> types.Range:
        """A code-point range of ``a``'s text in the client's units."""
        codec = self.workspace.position_codec
        return codec.range_to_client_units(a.lines, types.Range(
            start=types.Position(line=start[0], character=start[1]),
            end=types.Position(line=end[0], character=end[1])))

    def from_position(self, a: Analysis, pos: types.Position) -> Position:
        """A client position in ``a``'s text, in code points."""
        p = self.workspace.position_codec.position_from_client_units(
            a.lines, types.Position(line=pos.line, character=pos.character))
        return p.line, p.character

    def lsp_diagnostic(self, d: Diagnostic, a: Analysis, uri: str) -> types.Diagnostic:
        """A kspec diagnostic as LSP sees it: the same code, message and
        range; the hint, the notes and the block calls it was expanded from
        as related information."""
        here = d.span is not None and d.span.file == a.file
        rng = self.to_range(a, *span_range(d.span, a.lines)) if here and d.span is not None else _ZERO
        related: list[types.DiagnosticRelatedInformation] = []
        if d.span is not None and not here:
            related.append(self.related(a, uri, d.span, f"at {d.span}"))
        notes = list(d.notes)
        step = d.span
        while not notes and step is not None and step.via is not None:  # the block calls it was expanded from
            related.append(self.related(a, uri, step.via, f"in block '{step.via_block}', expanded from this call"))
            step = step.via
        for message, span in notes:
            if span is not None:
                related.append(self.related(a, uri, span, message))
        if d.hint:
            related.append(types.DiagnosticRelatedInformation(
                location=types.Location(uri=uri, range=rng), message=f"hint: {d.hint}"))
        severity = types.DiagnosticSeverity.Error if d.severity == "error" else types.DiagnosticSeverity.Warning
        return types.Diagnostic(range=rng, message=d.message, severity=severity, code=d.code, source="kspec",
                                related_information=related or None)

    def related(self, a: Analysis, uri: str, span: object, message: str) -> types.DiagnosticRelatedInformation:
        from kspec.spec.ir import Span

        assert isinstance(span, Span)
        if span.file == a.file:
            return types.DiagnosticRelatedInformation(
                location=types.Location(uri=uri, range=self.to_range(a, *span_range(span, a.lines))), message=message)
        line, col = max(span.line - 1, 0), max(span.column - 1, 0)
        where = types.Range(start=types.Position(line=line, character=col),
                            end=types.Position(line=line, character=col))
        return types.DiagnosticRelatedInformation(
            location=types.Location(uri=Path(span.file).resolve().as_uri(), range=where), message=message)

    def location(self, a: Analysis, uri: str, loc: Location) -> types.Location:
        """``loc`` for the client: in the document ``uri``, or in a file it uses."""
        if loc.file == a.file:
            return types.Location(uri=uri, range=self.to_range(a, loc.start, loc.end))
        owner = next((u for u in a.used if u.file == loc.file), None)
        if owner is None:  # pragma: no cover - definitions are found in this file or the files it uses
            return types.Location(uri=Path(loc.file).resolve().as_uri(), range=_ZERO)
        return types.Location(uri=Path(loc.file).resolve().as_uri(), range=self.to_range(owner, loc.start, loc.end))


_ZERO = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


def _file_of(doc: TextDocument) -> str:
    """The file name kspec reports and resolves ``use`` paths against."""
    parsed = urlparse(doc.uri)
    if parsed.scheme == "file":
        return doc.path
    return unquote(parsed.path) or doc.uri


def _format_of(doc: TextDocument) -> str | None:
    """The form from the editor's language id, else from the file name."""
    language = (doc.language_id or "").lower()
    if language == "yaml":
        return "yaml"
    if language == "kspec":
        return "kspec"
    return None


def _complete(ls: KspecLanguageServer, uri: str, a: Analysis, pos: Position) -> list[Completion]:
    """Completions at ``pos``; while the text does not parse (a word half
    typed), the names in scope come from the last version that did."""
    if a.parsed is not None:
        ls.last_parsed[uri] = a
        return completions(a, pos)
    return completions(a, pos, ls.last_parsed.get(uri))


def _completion_item(c: Completion) -> types.CompletionItem:
    return types.CompletionItem(label=c.label, kind=_KINDS.get(c.kind), detail=c.detail or None,
                                insert_text=c.insert)


def make_server(debounce: float = DEFAULT_DEBOUNCE) -> KspecLanguageServer:
    """The server with every feature registered."""
    server = KspecLanguageServer(debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: KspecLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: KspecLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: KspecLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        waiting = ls.pending.pop(uri, None)
        if waiting is not None:
            waiting.cancel()
        ls.analyses.pop(uri, None)
        ls.last_parsed.pop(uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: KspecLanguageServer, params: types.HoverParams) -> types.Hover | None:
        a = await ls.analysis(ls.workspace.get_text_document(params.text_document.uri))
        found = await ls.on_worker(hover, a, ls.from_position(a, params.position))
        if found is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=found.markdown),
                           range=ls.to_range(a, found.start, found.end))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def on_definition(ls: KspecLanguageServer, params: types.DefinitionParams) -> types.Location | None:
        uri = params.text_document.uri
        a = await ls.analysis(ls.workspace.get_text_document(uri))
        found = await ls.on_worker(definition, a, ls.from_position(a, params.position))
        return ls.location(a, uri, found) if found is not None else None

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[".", "(", ",", "="]))
    async def on_completion(ls: KspecLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        a = await ls.analysis(ls.workspace.get_text_document(uri))
        pos = ls.from_position(a, params.position)
        items = await ls.on_worker(_complete, ls, uri, a, pos)
        return types.CompletionList(is_incomplete=False, items=[_completion_item(c) for c in items])

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    async def on_formatting(ls: KspecLanguageServer,
                            params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        from kspec.commands.fmt import format_text

        doc = ls.workspace.get_text_document(params.text_document.uri)
        if (_format_of(doc) or ("yaml" if _file_of(doc).lower().endswith((".yaml", ".yml")) else "kspec")) != "kspec":
            return None  # fmt formats .kspec text only
        text = doc.source
        try:
            out = await ls.on_worker(format_text, text, _file_of(doc))
        except (KspecError, RuntimeError) as exc:
            _log.info("not formatted: %s", exc)
            return None
        if out == text:
            return []
        lines = text.split("\n")
        end = types.Position(line=len(lines) - 1,
                             character=ls.workspace.position_codec.client_num_units(lines[-1]))
        return [types.TextEdit(range=types.Range(start=types.Position(line=0, character=0), end=end), new_text=out)]

    return server
