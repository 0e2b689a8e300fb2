"""Diagnostics: one record type, one renderer, one exception.

A :class:`Diagnostic` is data (code, message, location, hint). Rendering it
as ``file:line:col: error[K203]: message`` plus the source line and a caret
is the job of :func:`render`, and nothing else formats errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import field
from typing import TYPE_CHECKING, Literal

from kspec._records import record

if TYPE_CHECKING:  # only named in annotations: importing the IR is left to the code that builds one
    from kspec.spec.ir import Span

__all__ = ["CODES", "MAX_REPORTED", "MAX_SUGGESTIONS", "Diagnostic", "Hints", "KspecError", "close_matches",
           "did_you_mean", "printable", "render", "render_all", "suggest", "suggestions_bounded"]

#: Every diagnostic code kspec reports, with what it is about. A test keeps
#: this table and the codes used in the source equal.
CODES: dict[str, str] = {
    "K101": "YAML syntax, tags, nesting and size",
    "K102": "the structure of a YAML spec (keys, fields, value types)",
    "K103": ".kspec syntax and structure",
    "K201": "an undefined tensor, or a layer used as a tensor",
    "K202": "a duplicate name",
    "K203": "an unknown layer, or a custom layer that is not registered",
    "K204": "a cycle: a model, layer or tensor that depends on itself",
    "K205": "an input that no output uses",
    "K206": "destructuring: the number of names and of a layer's results differ",
    "K207": "no model of that name",
    "K208": "an undefined named layer, model or block",
    "K209": "a parameter expression left unresolved",
    "K210": "a layer or setting that would run code (Lambda, saved models)",
    "K211": "a parameter's type, or a -D value",
    "K212": "an unknown parameter",
    "K213": "a parameter expression that cannot be computed, or a value too large",
    "K214": "a block used where it cannot be, or called with wrong arguments",
    "K215": "the number of tensors a block returns",
    "K216": "a limit on expansion (statements, loop iterations)",
    "K217": "a path in a spec (use, a vocabulary, callback and history paths) that cannot be read or is not allowed",
    "K218": "a parameter's search space: its type, an empty range, a step or log scale, a default outside it",
    "K219": "a value in a parameter's search space with which the model does not check",
    "K301": "an unknown, doubled or surplus argument of a layer",
    "K302": "an argument value Keras refuses",
    "K303": "a missing argument, or an unknown loss, metric or optimizer",
    "K304": "an unknown function, activation or name inside an argument",
    "K305": "a compile or train section for an unknown model",
    "K306": "a second compile or train section for one model",
    "K307": "training a model that has no compile section",
    "K310": "training data that does not fit the spec",
    "K311": "Keras refuses to compile the model",
    "K312": "Keras refuses a setting when training starts",
    "K401": "tensor shapes a layer cannot take, or data that does not fit the model",
    "K402": "Keras refuses to build the model",
    "K500": "a model file that cannot be loaded",
    "K501": "a Keras model that cannot be read back",
    "K502": "a layer that cannot be decompiled (Lambda, custom code)",
    "K503": "a model structure a spec cannot express",
    "K504": "a layer whose configuration cannot be written exactly",
}

#: At most this many diagnostics are printed; the rest are counted.
MAX_REPORTED = 20

Severity = Literal["error", "warning"]


@record(frozen=True)
class Diagnostic:
    """One finding about a spec, with where it is."""

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    severity: Severity = "error"
    notes: tuple[tuple[str, Span | None], ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form, for ``--format json``."""
        span = self.span
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": span.file if span else None,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None,
            "hint": self.hint,
            "notes": [
                {
                    "message": m,
                    "file": s.file if s else None,
                    "line": s.line if s else None,
                    "column": s.column if s else None,
                }
                for m, s in self.notes
            ],
        }


class KspecError(Exception):
    """A spec could not be loaded, checked or built.

    ``diagnostics`` holds every problem found (at least one)."""

    def __init__(self, diagnostics: Sequence[Diagnostic] | Diagnostic) -> None:
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        # The same mistake reached twice (a block expanded in a loop, say) is reported once.
        self.diagnostics: list[Diagnostic] = list(dict.fromkeys(diagnostics))
        if not self.diagnostics:
            raise ValueError("KspecError needs at least one diagnostic")
        super().__init__(self._summary())

    def _summary(self) -> str:
        first = self.diagnostics[0]
        where = f"{first.span}: " if first.span else ""
        more = len(self.diagnostics) - 1
        tail = f" (and {more} more)" if more else ""
        return f"{where}error[{first.code}]: {first.message}{tail}"

    def render(self, sources: dict[str, str] | None = None) -> str:
        """All diagnostics, rendered with source excerpts where known."""
        return render_all(self.diagnostics, sources)


#: Suggestions still to be made in the check running (none: no bound), set by
#: :func:`suggestions_bounded`.
_SUGGESTIONS: ContextVar[list[int] | None] = ContextVar("kspec_suggestions", default=None)

#: Suggestions made in one check: the first unknown names get one each. Each
#: compares the name with every candidate, so a spec with thousands of
#: mistakes among thousands of names would otherwise cost their product.
MAX_SUGGESTIONS = 100


@contextmanager
def suggestions_bounded(budget: int = MAX_SUGGESTIONS) -> Iterator[None]:
    """Make at most ``budget`` suggestions (:func:`suggest`) inside the block."""
    token = _SUGGESTIONS.set([budget])
    try:
        yield
    finally:
        _SUGGESTIONS.reset(token)


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close matches for ``name`` (case-insensitive), best first, for a
    hint; none once the check running has made its :data:`MAX_SUGGESTIONS`."""
    left = _SUGGESTIONS.get()
    if left is not None:
        if left[0] <= 0:
            return []
        left[0] -= 1
    return close_matches(name, candidates, n)


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close matches for ``name`` (case-insensitive), best first, always
    (for a decision: :func:`suggest` makes the hints)."""
    import difflib  # only a spec with a mistake needs it

    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


class Hints:
    """``did_you_mean`` for a pass that may report thousands of unknown
    names: only the first ``budget`` get a suggestion (the ones a reader
    sees first), so the work stays linear in the size of the spec."""

    def __init__(self, budget: int = MAX_REPORTED) -> None:
        self.budget = budget

    def did_you_mean(self, name: str, candidates: Iterable[str]) -> str | None:
        if self.budget <= 0:
            return None
        self.budget -= 1
        return did_you_mean(name, candidates)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint sentence for an unknown ``name``, or ``None``."""
    hits = suggest(name, candidates)
    if not hits:
        return None
    quoted = [f"'{h}'" for h in hits]
    if len(quoted) == 1:
        return f"did you mean {quoted[0]}?"
    return f"did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?"


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes, NUL, carriage
    returns ...) shown as ``\\x1b``-style escapes, so that nothing read from
    a spec can drive the terminal an error is printed on."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else _escape(c) for c in text)


def _escape(c: str) -> str:
    if c == "\t":
        return "\\t"
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: Longest source line shown under an error; a longer one is cut around the column.
_EXCERPT_WIDTH = 160

#: Only these files are ever read to show a source line under an error.
_SPEC_SUFFIXES = (".kspec", ".yaml", ".yml")


def _excerpt(span: Span, sources: dict[str, str] | None) -> list[str]:
    text = _source_text(span.file, sources)
    if text is None:
        return []
    lines = text.splitlines()
    if not 1 <= span.line <= len(lines):
        return []
    line = lines[span.line - 1].replace("\t", " ")
    if not line.isprintable():  # one cell per character keeps the caret under its column
        line = "".join(c if c.isprintable() else "?" for c in line)
    width = 1
    if span.end_line == span.line and span.end_column is not None and span.end_column > span.column:
        width = span.end_column - span.column
    width = max(1, min(width, len(line) - span.column + 1))
    column = span.column - 1
    if len(line) > _EXCERPT_WIDTH:  # a window of a long line around the column
        start = max(0, min(column - _EXCERPT_WIDTH // 3, len(line) - _EXCERPT_WIDTH))
        shown = line[start:start + _EXCERPT_WIDTH]
        head, tail = ("..." if start else ""), ("..." if start + _EXCERPT_WIDTH < len(line) else "")
        line, column = head + shown + tail, column - start + len(head)
        width = max(1, min(width, _EXCERPT_WIDTH - (column - len(head))))
    gutter = str(span.line).rjust(4)
    pad = " " * len(gutter)
    return [f"{gutter} | {line}", f"{pad} | {' ' * column}{'^' * width}"]


def _source_text(file: str, sources: dict[str, str] | None) -> str | None:
    if sources is not None and file in sources:
        return sources[file]
    if file.startswith("<") or not file.lower().endswith(_SPEC_SUFFIXES):
        return None  # never quote a file that is not a spec
    try:
        with open(file, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def render(diag: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """``file:line:col: error[CODE]: message`` with excerpt, caret and hint."""
    head = f"{diag.severity}[{diag.code}]: {printable(diag.message)}"
    out = [f"{printable(str(diag.span))}: {head}" if diag.span else head]
    if diag.span:
        out.extend(_excerpt(diag.span, sources))
    notes = diag.notes
    if not notes and diag.span is not None and diag.span.via is not None:  # expanded from a block call
        chain, via = [], diag.span
        while via is not None and via.via is not None:
            chain.append((f"in block '{via.via_block}', expanded from this call", via.via))
            via = via.via
        notes = tuple(chain)
    for message, span in notes:
        out.append(f"   note: {printable(message)}" + (f" (at {printable(str(span))})" if span else ""))
    if diag.hint:
        out.append(f"   hint: {printable(diag.hint)}")
    return "\n".join(out)


def render_all(diags: Sequence[Diagnostic], sources: dict[str, str] | None = None) -> str:
    """Every diagnostic, capped at :data:`MAX_REPORTED`, then a count line."""
    shown = [render(d, sources) for d in diags[:MAX_REPORTED]]
    if len(diags) > MAX_REPORTED:
        shown.append(f"... and {len(diags) - MAX_REPORTED} more")
    errors = sum(1 for d in diags if d.severity == "error")
    if errors:
        shown.append(f"{errors} error{'s' if errors != 1 else ''} found")
    return "\n".join(shown)
