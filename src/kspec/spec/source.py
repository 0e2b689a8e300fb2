"""Reading spec text from a file, within bounds.

A spec path may name anything: a FIFO or a device that never ends, a file
of gigabytes. Only a regular file of at most ``source_bytes`` bytes is read;
anything else is an ``OSError`` naming the path (exit 2 at the command line),
raised before a byte of it is taken in.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from kspec.spec.ir import Span
from kspec.spec.limits import current

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SPEC_SUFFIXES", "YAML_SUFFIXES", "confined_path", "path_suffix", "read_spec_text", "spec_suffix"]

#: The suffixes of the YAML form, and of every spec file.
YAML_SUFFIXES = (".yaml", ".yml")
SPEC_SUFFIXES = (".kspec", *YAML_SUFFIXES)


def read_spec_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of the spec file at ``path``.

    Raises ``OSError`` for a missing or unreadable file, a special file
    (FIFO, device, directory) or one larger than the ``source_bytes`` limit;
    ``UnicodeDecodeError`` for text that is not UTF-8."""
    name = os.fspath(path)
    limit = current().source_bytes
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory, not a spec file", name)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device is never read)", name)
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"the file has {info.st_size} bytes, more than the limit "
                          f"source_bytes={limit} (raise it with --limit source_bytes=N)", name)
        data = fh.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise OSError(errno.EFBIG, f"the file has more than the limit source_bytes={limit} bytes", name)
    return data.decode("utf-8")


def path_suffix(path: str | os.PathLike[str]) -> str:
    """The suffix of ``path``'s last part, as ``pathlib.PurePath(path).suffix``
    gives it ("" for ``.yaml`` or ``name.``), without pathlib: a check that
    reaches no other file never needs pathlib, and importing it costs a
    check about 4 ms (it imports ``urllib.parse`` and ``ipaddress``)."""
    text = os.fspath(path)
    if os.altsep:
        text = text.replace(os.altsep, os.sep)
    parts = [part for part in text.split(os.sep) if part not in ("", ".")]
    name = parts[-1] if parts else ""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def spec_suffix(path: str | Path) -> bool:
    """Whether ``path`` is named like a spec (``.kspec``, ``.yaml``, ``.yml``)."""
    return path_suffix(path).lower() in SPEC_SUFFIXES


def confined_path(value: str, span: Span | None) -> Path:
    """The file a path written in a spec names: relative to the spec's
    directory (the working directory for a spec given as text), symlinks
    resolved, and inside that directory or one the user allowed
    (``--allow-dir``). ``ValueError`` with the reason otherwise."""
    from pathlib import Path

    file = span.file if span is not None else "<string>"
    base = Path.cwd() if file.startswith("<") else Path(file).resolve().parent
    path = (base / value).resolve()
    roots = [base.resolve(), *(Path(d).resolve() for d in current().allowed_dirs)]
    if not any(path.is_relative_to(root) for root in roots):
        raise ValueError(f"the path '{value}' reaches outside the spec's directory")
    return path
