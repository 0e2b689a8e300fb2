"""Saving compiled models: ``.keras``, legacy ``.h5`` and Keras JSON.

Writes are atomic: the model goes to a temporary file beside the target,
which replaces the target only once it is complete. On any failure nothing
is left behind and an existing file is untouched. A symlinked target is
written through, and the mode of a replaced file is kept
(:mod:`kspec._atomic`, the one way kspec writes a file).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kspec._atomic import atomic_path, write_text_atomic

__all__ = ["FORMATS", "format_of", "save_model"]

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
    if format_of(target) == ".json":
        write_text_atomic(target, model.to_json(), inputs=inputs)
        return target
    with atomic_path(target, inputs=inputs) as tmp, warnings.catch_warnings(), _quiet_absl():
        # Asking for .h5 is the user's explicit choice; Keras's "legacy format" notice is noise.
        warnings.filterwarnings("ignore", message=r".*HDF5 file.*legacy.*")
        warnings.filterwarnings("ignore", message=r".*legacy.*HDF5.*")
        model.save(str(tmp))
    return target
