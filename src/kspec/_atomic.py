"""Atomic file writes, shared by every command that writes a file.

``atomic_path(target)`` yields a temporary path beside ``target`` with the
same suffixes (so writers that pick a format by suffix, such as Keras,
numpy and matplotlib, still do); it replaces ``target`` only when the block
finishes, and is removed otherwise. On any failure no half-written file is
left behind and an existing file is untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_text_atomic"]


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh (absent) temporary path to write to in place of ``target``."""
    target = Path(target)
    suffixes = "".join(target.suffixes)
    stem = target.name[: len(target.name) - len(suffixes)] if suffixes else target.name
    directory = target.parent if str(target.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffixes}", dir=directory)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # writers create it themselves (Keras will not write over a file in some versions)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``target`` atomically."""
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
