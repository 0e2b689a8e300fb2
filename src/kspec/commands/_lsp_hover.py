"""Hover for ``kspec lsp``: what an editor shows over a word of a spec.

A layer call shows its Keras documentation line, its parameter count and
output shape (one per expansion when it is written in a block); a keyword
argument its default; an ``ops.`` function its signature and documentation
line; a tensor its static shape; a model its inputs, outputs and parameter
count; a named layer, a block or a parameter what it is. Shapes and counts
come from the compiler's static inference, never from keras.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from kspec.catalogue import ALIASES, Signature, catalogue
from kspec.commands._lsp_analysis import (
    CALL_BEFORE,
    Analysis,
    Position,
    Word,
    enclosing,
    offset_of,
    resolve,
    scope_at,
    signature_of,
    spec_default,
    word_at,
)
from kspec.compiler.registry import fmt_shape
from kspec.spec import ir

__all__ = ["Hover", "hover"]


@dataclass(frozen=True)
class Hover:
    """What hovering a word shows: Markdown text, and the word's range."""

    markdown: str
    start: Position
    end: Position


def _count(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _signature_text(name: str, sig: Signature) -> str:
    parts = []
    for p in sig.params:
        parts.append(p.name if p.required else f"{p.name}={spec_default(p.default)}")
    if sig.varargs:
        parts.append("*args")
    return f"{name}({', '.join(parts)})"


def _distinct(values: list[str]) -> str:
    """``a`` when all are equal, else each distinct value with its count."""
    counts = Counter(values)
    if len(counts) == 1:
        return values[0]
    return ", ".join(f"{v} (\u00d7{n})" if n > 1 else v for v, n in counts.items())


def hover(a: Analysis, pos: Position) -> Hover | None:
    """Markdown for the word under the cursor: a layer's documentation line
    and parameter count, an operation's documentation line, a tensor's
    static shape, a model's parameter count, a block's or a parameter's
    signature."""
    word = word_at(a, pos)
    if word is None:
        return None
    text = _hover_text(a, word)
    if text is None:
        return None
    return Hover(text, (word.line, word.start), (word.line, word.end))


def _hover_text(a: Analysis, word: Word) -> str | None:
    cat = catalogue()
    if word.op:
        sig = cat.ops.get(word.text)
        if sig is None:
            return None
        doc = cat.op_docs.get(word.text, "")
        return f"```\nops.{_signature_text(word.text, sig)}\n```\n\n{doc}".rstrip()
    argument = _argument_hover(a, word)
    if argument is not None:
        return argument
    spec = a.parsed
    blocks = {b.name: b for u in reversed([a, *a.used]) if u.parsed is not None for b in u.parsed.blocks}
    layer = ALIASES.get(word.text, word.text)
    if word.text in cat.layers and word.text not in blocks and (word.called or a.format == "yaml"):
        return _layer_hover(a, word, layer)
    if spec is None:
        return None
    if word.text in blocks:
        b = blocks[word.text]
        params = [*b.inputs, *(f"{p.name}: {p.type}" if p.type else p.name for p in b.params)]
        return f"```\nblock {b.name}({', '.join(params)})\n```\n\nreturns {len(b.returns)} tensor" + (
            "s" if len(b.returns) != 1 else "")
    target = resolve(a, word)
    if target is None:
        return None
    node = target[1]
    if isinstance(node, (ir.FunctionalModel, ir.SequentialModel)):
        shapes = a.shapes.models.get(node.name) if a.shapes else None
        kind = "model" if isinstance(node, ir.FunctionalModel) else "sequential"
        if shapes is None:
            return f"{kind} **{node.name}**"
        ins = ", ".join(fmt_shape(s) for s in shapes.inputs)
        outs = ", ".join(fmt_shape(s) for s in shapes.outputs)
        return f"{kind} **{node.name}**: {ins} \u2192 {outs}\n\n{_count(shapes.params)} parameters"
    if isinstance(node, ir.Param):
        typed = f": {node.type}" if node.type else ""
        plain = node.has_default and not isinstance(node.default, ir.IRNode)
        default = f" = {spec_default(node.default)}" if plain else ""
        return f"```\nparam {node.name}{typed}{default}\n```"
    if isinstance(node, ir.LayerDef):
        return _named_layer_hover(a, node)
    return _tensor_hover(a, node, word)


def _argument_hover(a: Analysis, word: Word) -> str | None:
    """A keyword argument of a layer or an operation (``strides=`` in
    ``Conv2D(..., strides=2)``): its default, or that it is required."""
    rest = a.lines[word.line][word.end:].lstrip()
    if not rest.startswith("=") or rest.startswith("=="):
        return None
    opened = enclosing(a.text, offset_of(a.lines, word.line, word.start))
    if opened is None or opened[0] != "(":
        return None
    m = CALL_BEFORE.search(a.text[max(0, opened[1] - 200):opened[1]])
    if m is None:
        return None
    callee = m.group(1)
    sig = signature_of(callee)
    if sig is None:
        return None
    param = next((p for p in sig.params if p.name == word.text), None)
    if param is not None:
        what = "required" if param.required else f"default `{spec_default(param.default)}`"
        return f"**{word.text}**: argument of {callee}, {what}"
    if word.text in sig.extra:
        return f"**{word.text}**: a keyword every layer takes (keras.layers.Layer)"
    return None


def _layer_hover(a: Analysis, word: Word, layer: str) -> str:
    cat = catalogue()
    doc = cat.layer_docs.get(word.text, "") or cat.layer_docs.get(layer, "")
    lines = [f"**{word.text}** (keras.layers)", doc] if doc else [f"**{word.text}** (keras.layers)"]
    infos = a.layers_at.get((word.line + 1, word.start + 1), [])
    if infos:
        params = _distinct([_count(i.params) for i in infos])
        shapes = _distinct([", ".join(fmt_shape(s) for s in i.outputs) for i in infos])
        where = f" (in {len(infos)} expansions)" if len(infos) > 1 else ""
        lines.append(f"Parameters: {params}{where}  \nOutput shape: {shapes}")
    return "\n\n".join(lines)


def _named_layer_hover(a: Analysis, node: ir.LayerDef) -> str:
    infos = [i for c in node.stack if isinstance(c, ir.LayerCall) and c.span is not None
             for i in a.layers_at.get((c.span.line, c.span.column), [])[:1]]
    stack = " -> ".join(c.type if isinstance(c, ir.LayerCall) else c.ref for c in node.stack)
    text = f"named layer **{node.name}** = {stack} (one set of weights)"
    if infos and all(i.params is not None for i in infos):
        text += f"\n\n{_count(sum(i.params or 0 for i in infos))} parameters"
    return text


def _tensor_hover(a: Analysis, node: ir.IRNode, word: Word) -> str | None:
    name = word.text
    spec = a.parsed
    assert spec is not None
    scope = scope_at(spec, word.line + 1, word.start + 1)
    if isinstance(scope, (ir.FunctionalModel, ir.SequentialModel)):
        shapes = a.shapes.models.get(scope.name) if a.shapes else None
        if isinstance(node, ir.Input):
            shape = fmt_shape((node.batch_size, *node.shape)) if all(
                isinstance(d, (int, type(None))) for d in node.shape) else "?"
            return f"input **{name}**: `{shape}` {node.dtype}"
        if shapes is None or name not in shapes.tensors:
            return f"tensor **{name}**: shape unknown"
        return f"tensor **{name}**: `{fmt_shape(shapes.tensors[name])}`"
    if isinstance(node, ir.Assign) and node.span is not None:
        found = a.tensors_at.get((node.span.line, node.span.column), [])
        index = node.targets.index(name)
        got = [fmt_shape(t[index]) for t in found if index < len(t)]
        if not got:
            return f"tensor **{name}**: shape unknown"
        where = f" (in {len(got)} expansions)" if len(got) > 1 else ""
        return f"tensor **{name}**: `{_distinct(got)}`{where}"
    if isinstance(scope, ir.Block) and name in scope.inputs:
        return f"tensor **{name}**: an input of block '{scope.name}'"
    if isinstance(node, ir.For):
        return f"loop variable **{name}**"
    return None
