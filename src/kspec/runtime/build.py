"""A spec to a ready Keras model: the back half of ``kspec.build``.

Expands a spec that still has blocks or parameters (one straight from
``kspec.decompile``), lowers the chosen model with every model it uses, and
compiles it when the spec has a ``compile`` section for it.
"""

from __future__ import annotations

from typing import Any

from kspec.compiler.pipeline import check, expand, select_model
from kspec.compiler.sections import compile_section
from kspec.runtime.lower import lower_model
from kspec.spec import ir

__all__ = ["build_model"]


def build_model(spec: ir.Spec, model: str | None = None) -> Any:
    """The Keras model called ``model`` (the last model when ``None``),
    compiled when its spec says how."""
    if spec.blocks or spec.params:
        spec = check(expand(spec))
    target = select_model(spec, model).name
    built = lower_model(spec, target)
    settings = compile_section(spec, target)
    if settings is not None:
        from kspec.runtime.training import compile_model  # the training runtime loads only when needed

        compile_model(built, settings, next(s for s in spec.compile if s.model == target))
    return built
