"""kspec: a compiler for neural-network architectures.

Write a model once, as a ``.kspec`` file or YAML; kspec checks it, reports
mistakes at the exact line and column, and lowers it to a Keras 3 model.

    import kspec
    spec = kspec.load("examples/siamese.kspec")
    model = kspec.build(spec)            # a keras.Model
    model.summary()

Importing kspec does not import keras or tensorflow; :func:`build` does.
Nor does it import the compiler: :class:`Spec` and the other public names
load on first use, so ``kspec --version`` or ``--help`` start at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kspec.runtime._hook import install as _install_keras_hook

if TYPE_CHECKING:
    from pathlib import Path

    import keras

    from kspec.spec.diagnostics import Diagnostic, KspecError
    from kspec.spec.ir import Span, Spec

__all__ = [
    "Diagnostic",
    "KspecError",
    "Span",
    "Spec",
    "__version__",
    "build",
    "decompile",
    "load",
    "loads",
    "save",
]

__version__ = "0.1.0"

# Saved models that use kspec's Keras objects (the ``rmse`` loss) reload with
# plain ``keras.models.load_model`` once kspec is imported, without importing
# keras here: registration happens when keras is imported.
_install_keras_hook()

#: The public classes, by the module that defines them (loaded on first use).
_LAZY = {
    "Diagnostic": "kspec.spec.diagnostics",
    "KspecError": "kspec.spec.diagnostics",
    "Span": "kspec.spec.ir",
    "Spec": "kspec.spec.ir",
}


def __getattr__(name: str) -> Any:
    """``kspec.Spec`` and the other public classes, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kspec' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def load(path: str | Path, *, defines: Mapping[str, Any] | None = None) -> Spec:
    """Load and check a spec file (``.kspec``, ``.yaml`` or ``.yml``).

    Raises :class:`KspecError` listing every problem found; ``OSError`` if
    the file cannot be read."""
    from kspec.compiler.pipeline import load_path

    return load_path(path, defines)


def loads(
    text: str, *, format: str = "kspec", file: str = "<string>", defines: Mapping[str, Any] | None = None
) -> Spec:
    """Load and check spec text; ``format`` is ``"kspec"`` or ``"yaml"``."""
    from kspec.compiler.pipeline import load_text

    return load_text(text, file, format, defines)


def build(spec: Spec | str | Path, model: str | None = None) -> keras.Model:
    """Build a Keras model from a spec (or a spec file's path).

    ``model`` picks a model by name when the spec has several; by default
    the last one is built (with every model it uses). When the spec has a
    ``compile`` section for it, the model comes back compiled."""
    from kspec.runtime.build import build_model
    from kspec.spec.ir import Spec

    return build_model(spec if isinstance(spec, Spec) else load(spec), model)


def save(model: keras.Model, path: str | Path) -> Path:
    """Save a built model atomically as ``.keras``, ``.h5`` or ``.json``."""
    from kspec.runtime.save import save_model

    return save_model(model, path)


def decompile(
    model_or_path: keras.Model | str | Path,
    *,
    keep_names: bool = False,
    allow_custom: bool = False,
    blocks: bool = True,
) -> Spec:
    """Read a Keras model (a live ``keras.Model``, or a ``.keras``, ``.h5``
    or Keras JSON file, loaded in safe mode) back into a spec.

    Only non-default layer arguments are written; straight runs become
    chains, shared layers and sub-models stay shared. ``keep_names`` keeps
    every Keras layer name; ``blocks`` writes repeated subgraphs as blocks
    and loops. Raises :class:`KspecError` for what a spec
    cannot express (a Lambda layer, a custom layer ...), naming the layer."""
    from kspec.runtime.decompile import decompile as _decompile

    return _decompile(model_or_path, keep_names=keep_names, allow_custom=allow_custom, blocks=blocks)
