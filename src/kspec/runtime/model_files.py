"""What is wrong with a saved model file, said before Keras reads it.

Keras reports a truncated or foreign ``.keras`` file as "File not found",
and reads an archive whatever it unpacks to. Every command that loads a
model (``decompile``, ``evaluate``, ``predict``, ``compile --weights``)
asks :func:`model_file_problem` first: a special file, a truncated or
foreign file, an archive without a model, and an archive or HDF5 file
larger than the ``data_bytes`` limit (read from the zip directory and the
file size, before anything is unpacked) are each one clear sentence.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from kspec.spec import limits

__all__ = ["model_file_problem"]

#: Where an HDF5 file's signature may sit (after a user block of 0, 512, 1024 ... bytes).
_HDF5_OFFSETS = (0, 512, 1024, 2048, 4096)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def model_file_problem(path: str | os.PathLike[str]) -> str | None:
    """What is wrong with the model file at ``path`` (``None``: nothing seen)."""
    p = Path(path)
    try:
        info = p.stat()
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file (a directory, FIFO or device is never read as a model)"
    bound = limits.current().data_bytes
    suffix = p.suffix.lower()
    if suffix == ".keras":
        return _keras_archive_problem(p, bound)
    if suffix in (".h5", ".hdf5"):
        if info.st_size > bound:
            return _too_large(info.st_size, bound)
        with p.open("rb") as fh:
            head = fh.read(_HDF5_OFFSETS[-1] + len(_HDF5_SIGNATURE))
        if not any(head[i:i + len(_HDF5_SIGNATURE)] == _HDF5_SIGNATURE for i in _HDF5_OFFSETS):
            return "it is not an HDF5 file (truncated, or not a Keras model)"
    elif suffix == ".json" and info.st_size > limits.current().source_bytes:
        return f"it has {info.st_size} bytes, more than the limit source_bytes={limits.current().source_bytes}"
    return None


def _keras_archive_problem(path: Path, bound: int) -> str | None:
    if not zipfile.is_zipfile(path):
        return "it is not a complete .keras archive (truncated, or not a Keras model)"
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"it is a damaged .keras archive ({exc})"
    if "config.json" not in {m.filename for m in members}:
        return "the archive holds no Keras model (no config.json)"
    total = sum(m.file_size for m in members)
    if total > bound:
        return _too_large(total, bound, "unpacks to")
    return None


def _too_large(size: int, bound: int, verb: str = "has") -> str:
    return (f"it {verb} {size} bytes, more than the limit data_bytes={bound} "
            "(--limit data_bytes=SIZE raises it)")
