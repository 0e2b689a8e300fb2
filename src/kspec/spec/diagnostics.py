"""Diagnostics: one record type, one renderer, one exception.

A :class:`Diagnostic` is data (code, message, location, hint). Rendering it
as ``file:line:col: error[K203]: message`` plus the source line and a caret
is the job of :func:`render`, and nothing else formats errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kspec.spec.ir import Span

__all__ = ["MAX_REPORTED", "Diagnostic", "KspecError", "did_you_mean", "render", "render_all", "suggest"]

#: At most this many diagnostics are printed; the rest are counted.
MAX_REPORTED = 20

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
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


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close matches for ``name`` (case-insensitive), best first."""
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint sentence for an unknown ``name``, or ``None``."""
    hits = suggest(name, candidates)
    if not hits:
        return None
    quoted = [f"'{h}'" for h in hits]
    if len(quoted) == 1:
        return f"did you mean {quoted[0]}?"
    return f"did you mean {', '.join(quoted[:-1])} or {quoted[-1]}?"


def _excerpt(span: Span, sources: dict[str, str] | None) -> list[str]:
    text = _source_text(span.file, sources)
    if text is None:
        return []
    lines = text.splitlines()
    if not 1 <= span.line <= len(lines):
        return []
    line = lines[span.line - 1].replace("\t", " ")
    width = 1
    if span.end_line == span.line and span.end_column is not None and span.end_column > span.column:
        width = span.end_column - span.column
    width = max(1, min(width, len(line) - span.column + 1))
    gutter = str(span.line).rjust(4)
    pad = " " * len(gutter)
    return [f"{gutter} | {line}", f"{pad} | {' ' * (span.column - 1)}{'^' * width}"]


def _source_text(file: str, sources: dict[str, str] | None) -> str | None:
    if sources is not None and file in sources:
        return sources[file]
    if file.startswith("<"):
        return None
    try:
        with open(file, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def render(diag: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """``file:line:col: error[CODE]: message`` with excerpt, caret and hint."""
    head = f"{diag.severity}[{diag.code}]: {diag.message}"
    out = [f"{diag.span}: {head}" if diag.span else head]
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
        out.append(f"   note: {message}" + (f" (at {span})" if span else ""))
    if diag.hint:
        out.append(f"   hint: {diag.hint}")
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
