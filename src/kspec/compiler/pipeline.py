"""The front half of the compiler: text -> checked IR.

The passes, in order (each a plain function over the IR; docs/architecture.md):

1. parse: ``.kspec`` text (Lark) or YAML text (safe_load + pydantic) -> Spec
2. expand: ``use``d files read, block calls, loops and parameters evaluated away
3. check_graph: names, references, cycles, unused inputs
4. check_sections: ``compile`` and ``train`` settings
5. check_arguments: every layer call against the catalogue and the registry
6. infer_spec: every tensor's shape and every layer's parameter count

Nothing here imports keras or tensorflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kspec.compiler.graph import check_graph, indexes_shared
from kspec.spec import ir
from kspec.spec.collector import collector_paused
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean, suggestions_bounded
from kspec.spec.source import YAML_SUFFIXES, path_suffix, read_spec_text

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PASSES", "check", "check_corners", "expand", "format_for", "load_path", "load_text", "parse_text",
           "read_source", "select_model", "static_check"]


def format_for(file: str, format: str | None = None) -> str:
    """``"yaml"`` or ``"kspec"``, from an explicit format or the suffix."""
    if format is not None:
        if format not in ("yaml", "kspec"):
            raise ValueError(f"unknown spec format '{format}': use 'kspec' or 'yaml'")
        return format
    suffix = path_suffix(file).lower()
    if suffix in YAML_SUFFIXES:
        return "yaml"
    return "kspec"


def parse_text(text: str, file: str = "<string>", format: str | None = None) -> ir.Spec:
    """Pass 1: parse either front end into the IR (no checks beyond syntax
    and structure)."""
    fmt = format_for(file, format)
    if fmt == "yaml":
        from kspec.spec.yaml_form import load_yaml

        return load_yaml(text, file)
    from kspec.spec.kspec_form import parse_kspec  # imported here: YAML-only runs skip Lark

    return parse_kspec(text, file)


def expand(spec: ir.Spec, defines: Mapping[str, Any] | None = None) -> ir.Spec:
    """Pass 2: evaluate blocks, loops and parameters away."""
    from kspec.compiler.expand import expand_spec

    return expand_spec(spec, defines or {})


def check(spec: ir.Spec) -> ir.Spec:
    """Passes 3 to 6: every static check; raises with every problem found.
    The graph checks and the walk of shape inference read one index of each
    model (:func:`~kspec.compiler.graph.indexes_shared`)."""
    with indexes_shared():
        graph = check_graph(spec)
        diags = list(graph)
        if spec.compile or spec.train:  # the training checks load only when there is something to check
            from kspec.compiler.sections import check_sections

            diags += check_sections(spec)
        if not any(d.severity == "error" for d in graph):
            diags += static_check(spec)
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        raise KspecError(diags)
    return spec


def static_check(spec: ir.Spec) -> list[Diagnostic]:
    """Passes 5 and 6 on a graph-checked spec: argument checks, then shape
    inference, every diagnostic. Layers with argument errors get unknown
    shapes, so one mistake is reported once."""
    from kspec.compiler.arguments import check_arguments
    from kspec.compiler.calls import PlainKeys
    from kspec.compiler.shapes import infer_spec

    keys = PlainKeys()  # each call's plain key, worked out once for both passes
    diags, bad = check_arguments(spec, keys)
    return [*diags, *infer_spec(spec, bad, keys).diagnostics]


#: The pipeline, in order, for ``--debug-passes`` style tooling and docs.
PASSES: tuple[tuple[str, Callable[..., ir.Spec]], ...] = (("parse", parse_text), ("expand", expand), ("check", check))


def load_text(
    text: str, file: str = "<string>", format: str | None = None, defines: Mapping[str, Any] | None = None,
    *, corners: bool = False,
) -> ir.Spec:
    """Parse, expand and check spec text. With ``corners``, the model is
    also checked at the corners of its parameters' search spaces
    (:func:`check_corners`)."""
    with collector_paused(), suggestions_bounded():
        parsed = parse_text(text, file, format)
        spec = check(expand(parsed, defines))
        if corners and any(p.space is not None for p in parsed.params):
            broken = check_corners(parsed, defines)
            if broken:
                raise KspecError(broken)
        return spec


def check_corners(spec: ir.Spec, defines: Mapping[str, Any] | None = None) -> list[Diagnostic]:
    """The search-space pass: expand and check ``spec`` (parsed, not yet
    expanded) at the corners of its parameters' search spaces
    (:func:`kspec.compiler.spaces.corners`, a bounded number); ``K219`` for
    each problem found, with the values that cause it."""
    from kspec.compiler.spaces import corner_problems, corners

    found: list[tuple[Diagnostic, dict[str, Any]]] = []
    for combo in corners(spec, defines):
        try:
            check(expand(spec, {**(defines or {}), **combo}))
        except KspecError as exc:
            found += [(d, combo) for d in exc.diagnostics]
    return corner_problems(found, spec)


def select_model(spec: ir.Spec, name: str | None = None) -> ir.FunctionalModel | ir.SequentialModel:
    """The model called ``name`` (the last model when ``None``); an unknown
    name is a located K207 error listing the models and the close matches."""
    try:
        return spec.model(name)
    except KeyError:
        names = [m.name for m in spec.models]
        message = f"no model named '{name}' (the spec has: {', '.join(names)})"
        raise KspecError(Diagnostic("K207", message, spec.span, did_you_mean(name or "", names))) from None


def read_source(path: str | Path) -> str:
    """A spec file's text; ``OSError``/``UnicodeDecodeError`` propagate (I/O
    errors, exit code 2 at the command line). Special files and files over
    the ``source_bytes`` limit are refused unread."""
    return read_spec_text(path)


def load_path(path: str | Path, defines: Mapping[str, Any] | None = None, format: str | None = None) -> ir.Spec:
    """Read, parse, expand and check a spec file."""
    text = read_source(path)
    return load_text(text, str(path), format, defines)
