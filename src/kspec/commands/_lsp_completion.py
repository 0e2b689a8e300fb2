"""Completion for ``kspec lsp``: what may be written at the cursor.

After ``ops.`` the operations; inside a layer's (or an operation's, or a
compile or train object's) parentheses, or a YAML layer's ``{``, its keyword
arguments, and after ``activation=`` the activations; in a ``compile`` or
``train`` section its settings and the names each accepts; elsewhere the
layers of the catalogue, the blocks (of this file and the files it uses), the
models and the tensors in scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kspec.catalogue import catalogue
from kspec.commands._lsp_analysis import (
    CALL_BEFORE,
    Analysis,
    Position,
    block_statements,
    enclosing,
    in_comment,
    offset_of,
    scope_at,
    signature_of,
    spec_default,
)
from kspec.spec import ir

__all__ = ["Completion", "completions"]


@dataclass(frozen=True)
class Completion:
    """One completion item: ``kind`` is ``layer``, ``op``, ``keyword``
    (a keyword argument), ``value``, ``block``, ``model`` or ``tensor``."""

    label: str
    kind: str
    detail: str = ""
    insert: str | None = None


_YAML_LAYER_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*$")


def completions(a: Analysis, pos: Position, names_from: Analysis | None = None) -> list[Completion]:
    """What may be written at the cursor: after ``ops.`` the operations;
    inside a layer's parentheses (or a YAML layer's ``{``) its keyword
    arguments, or after ``activation=`` the activations; elsewhere the
    layers of the catalogue, the spec's blocks and models, and the tensors
    of the model being written (from ``names_from`` when given: the last
    version that parsed, while the user is in the middle of a word)."""
    line_no, char = pos
    if line_no >= len(a.lines):
        return []
    char = min(char, len(a.lines[line_no]))  # a client may ask past the end of a line
    before = a.lines[line_no][:char]
    if in_comment(a.lines[line_no], char):
        return []
    cat = catalogue()
    if re.search(r"(?<![\w.])ops\.[A-Za-z0-9_]*$", before):
        return [Completion(name, "op", cat.op_docs.get(name, "")) for name in sorted(cat.ops)]
    offset = offset_of(a.lines, line_no, char)
    opened = enclosing(a.text, offset)
    if opened is not None:
        inner = _argument_completions(a, opened, offset)
        if inner is not None:
            return inner
    return _name_completions(names_from or a, line_no, char)


def _argument_completions(a: Analysis, opened: tuple[str, int], offset: int) -> list[Completion] | None:
    cat = catalogue()
    bracket, at = opened
    head = a.text[max(0, at - 200):at]
    m = (CALL_BEFORE if bracket == "(" else _YAML_LAYER_BEFORE).search(head)
    if m is None or bracket == "[" or (bracket == "{" and a.format != "yaml"):
        return None
    callee = m.group(1)
    sig = signature_of(callee)
    if sig is None:
        return [] if bracket == "(" else None
    piece = a.text[at + 1:offset]
    current = re.split(r"[,(\[{]", piece)[-1]
    equals = "=" if bracket == "(" else ":"
    if equals in current:  # a value: activations by name
        key, _, value = current.partition(equals)
        if key.strip().endswith("activation"):
            quote = a.format == "kspec" and not value.lstrip().startswith(('"', "'"))
            return [Completion(n, "value", insert=f'"{n}"' if quote else None) for n in sorted(cat.activations)]
        return []
    given = set(re.findall(rf"([A-Za-z_]\w*)\s*{equals}(?!=)", piece + _rest_of_call(a.text, offset, bracket)))
    suffix = "=" if bracket == "(" else ": "
    names = [p.name for p in sig.params] + sorted(sig.extra)
    docs = {p.name: f"default {spec_default(p.default)}" if not p.required else "required" for p in sig.params}
    return [Completion(n, "keyword", docs.get(n, "Layer keyword"), n + suffix) for n in names if n not in given]


def _section_completions(a: Analysis, section: ir.Section, line_no: int, char: int) -> list[Completion]:
    """In a ``compile`` or ``train`` section: at the start of a statement
    the settings, after ``optimizer =`` (``loss``, ``metrics``,
    ``callbacks``) the names kspec accepts there."""
    from kspec.compiler.registry.settings import CALLBACKS, SCHEDULES, SPEC_NAMES
    from kspec.spec.settings import CompileSettings, TrainSettings

    spec = a.parsed
    assert spec is not None
    is_compile = any(s is section for s in spec.compile)
    before = a.lines[line_no][:char]
    opened = enclosing(a.text, offset_of(a.lines, line_no, char))
    start = section.span
    own = a.text.find("{", offset_of(a.lines, start.line - 1, start.column - 1)) if start is not None else -1
    bracketed = opened is not None and opened[1] != own  # inside a list, a dict or a call, not the section's braces
    if not bracketed and re.fullmatch(r"\s*[A-Za-z_0-9]*", before):
        keys = CompileSettings.model_fields if is_compile else TrainSettings.model_fields
        return [Completion(k, "keyword", "compile setting" if is_compile else "train setting", f"{k} = ")
                for k in keys]
    key = None
    for row in range(line_no, max(-1, line_no - 200), -1):
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", a.lines[row])
        if m is not None:
            key = m.group(1)
            break
    names: dict[str | None, list[str]] = {
        "optimizer": sorted(SPEC_NAMES["optimizers"]), "loss": sorted(SPEC_NAMES["losses"]),
        "metrics": sorted(SPEC_NAMES["metrics"]), "weighted_metrics": sorted(SPEC_NAMES["metrics"]),
        "callbacks": list(CALLBACKS),
    }
    found = names.get(key, [])
    if key == "optimizer":
        found += list(SCHEDULES)  # as learning_rate=
    return [Completion(n, "value", key or "") for n in found]


def _rest_of_call(text: str, offset: int, bracket: str) -> str:
    """The text from ``offset`` to the bracket that closes the call (at most 4000 characters)."""
    closer = {"(": ")", "{": "}"}[bracket]
    depth = 0
    for i in range(offset, min(len(text), offset + 4000)):
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return text[offset:i] if c == closer else ""
            depth -= 1
    return ""


def _name_completions(a: Analysis, line_no: int, char: int) -> list[Completion]:
    cat = catalogue()
    out = [Completion(name, "layer", cat.layer_docs.get(name, "")) for name in sorted(cat.layers)]
    spec = a.parsed
    if spec is None:
        return out
    out += [Completion(b.name, "block", f"block {b.name}") for u in [a, *a.used] if u.parsed is not None
            for b in u.parsed.blocks]
    out += [Completion(m.name, "model", f"model {m.name}") for m in spec.models]
    scope = scope_at(spec, line_no + 1, char + 1)
    if isinstance(scope, ir.Section) and line_no < len(a.lines):
        return _section_completions(a, scope, line_no, char)
    if isinstance(scope, ir.FunctionalModel):
        names = [i.name for i in scope.inputs] + [t for n in scope.nodes for t in n.targets]
        out += [Completion(n, "tensor", "tensor") for n in dict.fromkeys(names)]
        out += [Completion(d.name, "model", "named layer") for d in scope.layers]
    elif isinstance(scope, ir.Block):
        names = list(scope.inputs) + [t for st in block_statements(scope.body)
                                      if isinstance(st, ir.Assign) for t in st.targets]
        out += [Completion(n, "tensor", "tensor") for n in dict.fromkeys(names)]
    return out
