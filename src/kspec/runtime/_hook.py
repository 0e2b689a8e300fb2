"""Register kspec's Keras objects the moment keras is imported.

``import kspec`` must stay cheap (it never imports keras), yet a model that
kspec compiled with its ``rmse`` loss must reload with a plain
``keras.models.load_model(path)``. Keras resolves a custom class through its
registry of ``register_keras_serializable`` objects (it only imports modules
of its own packages by itself), so kspec's objects must be registered before
loading. :func:`install` does that without importing keras:

- if keras is already imported, it registers now;
- otherwise it puts a finder at the front of ``sys.meta_path`` that wraps the
  loader of the ``keras`` module, and registers right after keras has
  finished importing (whoever imports it). The finder then removes itself.

This module itself imports nothing heavy.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import importlib.abc

__all__ = ["install", "register_now"]


def register_now() -> None:
    """Import the modules whose import registers kspec's Keras objects."""
    importlib.import_module("kspec.runtime.losses")  # registration is the import's effect


class _Loader:
    """Wraps the real loader of ``keras``: run it, then register."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        _remove_finder()
        register_now()


class _KerasFinder:
    """Finds ``keras`` through the other finders and wraps its loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)  # type: ignore[assignment]  # a Loader by protocol
                return spec
        return None


_FINDER = _KerasFinder()


def _remove_finder() -> None:
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def install() -> None:
    """Make sure kspec's Keras objects are registered whenever keras is in use."""
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "saving"):
        register_now()
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
