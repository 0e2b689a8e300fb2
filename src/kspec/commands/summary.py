"""``kspec summary SPEC``: each layer's output shape and parameter count,
from static inference (no TensorFlow); ``--keras`` prints Keras's own."""

from __future__ import annotations

import argparse
from typing import Any

from kspec.commands._common import EXIT_OK, add_defines, parse_defines
from kspec.compiler.registry import fmt_shape
from kspec.compiler.shapes import LayerInfo, ModelShapes, infer_spec
from kspec.spec import ir
from kspec.spec.kspec_printer import format_value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the spec file (.kspec, .yaml)")
    parser.add_argument("--model", metavar="NAME", help="which model (default: the last one)")
    parser.add_argument("--keras", action="store_true", help="build the real model and print model.summary()")
    add_defines(parser)


def _count(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _row(info: LayerInfo) -> tuple[str, str, str, str]:
    shapes = ", ".join(fmt_shape(s) for s in info.outputs) if len(info.outputs) > 1 else fmt_shape(
        info.outputs[0] if info.outputs else None)
    if len(info.outputs) > 1:
        shapes = f"[{shapes}]"
    links = ", ".join(info.inbound)
    if info.calls > 1:
        links = f"{links} (shared: {info.calls} calls)"
    return f"{info.name} ({info.type})", shapes, _count(info.params), links


def format_summary(m: ModelShapes) -> str:
    """A table like ``model.summary()``, computed statically."""
    rows = [_row(layer) for layer in m.layers]
    head = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    if m.kind == "sequential":  # like Keras: a stack needs no links
        rows = [(a, b, c, "") for a, b, c, _ in rows]
        head = (*head[:3], "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = "-" * (sum(widths) + (6 if widths[3] else 4))

    def fmt(r: tuple[str, str, str, str]) -> str:
        return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip()

    out = [f'Model: "{m.name}" ({m.kind})', line, fmt(head), line.replace("-", "=")]
    out += [fmt(r) for r in rows]
    out.append(line)
    out.append(f"Total params: {_count(m.params)}")
    total, frozen = m.params, m.non_trainable
    if total is not None:  # the split model.summary() gives, when every layer's is known
        out.append(f"Trainable params: {_count(None if frozen is None else total - frozen)}")
        out.append(f"Non-trainable params: {_count(frozen)}")
    unknown = [layer.name for layer in m.layers if layer.params is None]
    if unknown:
        out.append(f"(no static rule for: {', '.join(unknown)}; use --keras for exact figures)")
    return "\n".join(out)


def format_spaces(params: list[ir.Param], defines: dict[str, Any]) -> str:
    """The parameters a search varies (``kspec tune``), one a line, as written."""
    from kspec.compiler.spaces import describe

    lines = []
    for p in params:
        assert p.space is not None
        typed = f": {p.type}" if p.type else ""
        fixed = f"  (fixed by -D {p.name}={defines[p.name]})" if p.name in defines else ""
        lines.append(f"  {p.name}{typed} = {format_value(p.default)} in {describe(p.space)}{fixed}")
    varying = sum(1 for p in params if p.name not in defines)
    head = f"Search space: {varying} parameter{'s vary' if varying != 1 else ' varies'} (kspec tune)"
    return "\n".join([head, *lines])


def run(args: argparse.Namespace) -> int:
    from kspec.compiler.pipeline import load_text, parse_text, read_source, select_model
    from kspec.compiler.spaces import spaced_params

    defines = parse_defines(args.define)
    text = read_source(args.spec)
    spec = load_text(text, args.spec, None, defines)
    spaced = spaced_params(parse_text(text, args.spec)) if " in " in text or "in:" in text else []
    target = select_model(spec, args.model).name
    if args.keras:
        import kspec

        kspec.build(spec, target).summary()
    else:
        print(format_summary(infer_spec(spec).models[target]))
    if spaced:
        print(format_spaces(spaced, defines))
    return EXIT_OK
