"""Saving compiled models: ``.keras``, legacy ``.h5`` and Keras JSON.

Writes are atomic: the model goes to a temporary file beside the target,
which replaces the target only once it is complete. On any failure nothing
is left behind and an existing file is untouched. A symlinked target is
written through, and the mode of a replaced file is kept
(:mod:`kspec._atomic`, the one way kspec writes a file).

A ``.keras`` archive's ``config.json`` is made the same whatever backend
wrote it (:func:`portable_config`): Keras numbers shared objects by their
address in memory, and the PyTorch backend names its own optimizer modules,
which another backend could not import. So a spec compiled or trained on
TensorFlow, JAX or PyTorch saves the same configuration, and the model
reloads on any of them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kspec._atomic import OutputError, atomic_path, write_text_atomic

__all__ = ["FORMATS", "format_of", "portable_config", "save_model"]

#: Output suffix -> description.
FORMATS = {".keras": "Keras v3 archive", ".h5": "legacy HDF5", ".json": "Keras JSON (model.to_json())"}


class _DropLegacyNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "considered legacy" not in record.getMessage()


class _quiet_absl:
    """Drop Keras's "HDF5 is legacy" notice (the user chose .h5 on purpose)."""

    def __enter__(self) -> None:
        self.filter = _DropLegacyNotice()
        logging.getLogger("absl").addFilter(self.filter)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("absl").removeFilter(self.filter)


def format_of(path: str | os.PathLike[str]) -> str:
    """The output format for ``path`` (its suffix), or raise ``ValueError``."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unknown output format '{suffix or Path(path).name}': use {', '.join(FORMATS)}")
    return suffix


def save_model(model: Any, path: str | os.PathLike[str],
               inputs: Iterable[str | os.PathLike[str] | None] = ()) -> Path:
    """Save ``model`` to ``path`` atomically, in the format its suffix names;
    ``path`` must not be one of ``inputs`` (:class:`kspec._atomic.OutputError`)."""
    target = Path(path)
    shared = shared_across(model)
    if shared is not None:
        layer, holders = shared
        raise OutputError(
            f"cannot write {target}: layer '{layer}' is one set of weights used inside "
            f"{' and '.join(repr(h) for h in holders)}, and no Keras file format stores such sharing "
            f"(Keras would reload it as separate layers, or fail to load it: keras-team/keras#9571); "
            "keep the spec and a weights file instead (model.save_weights('model.weights.h5'), then "
            "kspec compile SPEC --weights model.weights.h5)")
    if format_of(target) == ".json":
        write_text_atomic(target, model.to_json(), inputs=inputs)
        return target
    with atomic_path(target, inputs=inputs) as tmp, warnings.catch_warnings(), _quiet_absl():
        # Asking for .h5 is the user's explicit choice; Keras's "legacy format" notice is noise.
        warnings.filterwarnings("ignore", message=r".*HDF5 file.*legacy.*")
        warnings.filterwarnings("ignore", message=r".*legacy.*HDF5.*")
        model.save(str(tmp))
        if format_of(target) == ".keras":
            _make_portable(Path(tmp))
    return target


def shared_across(model: Any) -> tuple[str, list[str]] | None:
    """A layer (or model) held by two different models or wrappers inside
    ``model`` (one ``Dense`` used inside two sub-models, or wrapped by
    ``TimeDistributed`` and also applied directly): its name and the names
    of its holders, or ``None``. Keras's formats store a layer once per
    holder, so such a model cannot be saved so that it reloads the same."""
    from kspec.runtime._quiet import import_keras

    keras = import_keras()
    holders: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    seen: set[int] = set()

    def visit(holder: Any) -> None:
        if id(holder) in seen:
            return
        seen.add(id(holder))
        inner = getattr(holder, "layers", None) if isinstance(holder, keras.Model) else None
        if inner is None:
            wrapped = getattr(holder, "layer", None)
            bidirectional = isinstance(holder, keras.layers.Bidirectional)  # it builds its own copies
            inner = [wrapped] if isinstance(wrapped, keras.layers.Layer) and not bidirectional else []
        for layer in inner:
            holders.setdefault(id(layer), []).append(holder.name)
            names[id(layer)] = layer.name
            visit(layer)

    visit(model)
    for key, found in holders.items():
        if len(found) > 1:
            return names[key], found
    return None


#: The prefix of module paths that only exist on one backend.
_BACKEND_MODULES = "keras.src.backend."


def portable_config(config: object) -> object:
    """A saved model's configuration with what depends on the process and the
    backend taken out: shared-object ids numbered 1, 2, ... in order of first
    appearance (Keras uses addresses), and backend-specific classes (the
    PyTorch backend's optimizers) named by their public ``keras.optimizers``
    module, as every backend writes them."""
    ids: dict[object, int] = {}

    def walk(node: object) -> object:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        if "shared_object_id" in out:
            out["shared_object_id"] = ids.setdefault(out["shared_object_id"], len(ids) + 1)
        module = out.get("module")
        if isinstance(module, str) and module.startswith(_BACKEND_MODULES) and ".optimizers." in module:
            out["module"] = "keras.optimizers"
            out["registered_name"] = None
        return out

    return walk(config)


def _make_portable(path: Path) -> None:
    """Rewrite the ``config.json`` of the ``.keras`` archive at ``path`` with
    :func:`portable_config`; every other member is copied as it is."""
    rewritten = path.with_name(path.name + ".portable")
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(rewritten, "w") as dst:
            for info in src.infolist():
                if info.filename == "config.json":
                    config = portable_config(json.loads(src.read(info)))
                    dst.writestr(info, json.dumps(config))
                else:
                    with src.open(info) as fin, dst.open(info, "w") as fout:
                        shutil.copyfileobj(fin, fout, 1 << 20)
        os.replace(rewritten, path)
    finally:
        rewritten.unlink(missing_ok=True)
