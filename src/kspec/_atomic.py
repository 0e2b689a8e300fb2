"""The one way kspec writes a file the user sees: atomically, through symlinks.

``atomic_path(target)`` yields a temporary path beside ``target`` with the
same suffixes (so writers that pick a format by suffix, such as Keras,
numpy and matplotlib, still do); it replaces ``target`` only when the block
finishes, and is removed otherwise. On any failure or interruption no
half-written file is left behind and an existing file is byte for byte
untouched. Every write:

- goes through a symlink to the file it points at (the link stays a link),
  and into a device or FIFO as a plain write (``-o`` a link to ``/dev/null``);
- keeps the permission bits of the file it replaces;
- refuses a target that is one of the command's inputs (:func:`check_output`);
- removes its temporary file on SIGINT and SIGTERM before the signal takes
  its usual course (exit 130, or death by SIGTERM: 143 in a shell);
- names its temporary file ``.<stem>.kspec-<pid>-<random>.tmp<suffixes>``:
  hidden, in the target's directory. Only SIGKILL (or a power cut) can leave
  one behind; the next write into that directory removes every such file
  whose process is gone.

Problems are :class:`OutputError` with a message that names the user's path,
never the temporary one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["OutputError", "atomic_path", "check_output", "is_kspec_temp", "remove_stale_temps", "write_text_atomic"]

PathArg = str | os.PathLike[str]

#: A kspec temporary file: ``.<stem>.kspec-<pid>-<8 hex>.tmp<suffixes>``.
_TEMP_NAME = re.compile(r"\..*\.kspec-(?P<pid>[0-9]+)-[0-9a-f]{8}\.tmp(\..*)?", re.DOTALL)
#: Errors of the write itself (no file name attached) that concern the output.
_WRITE_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.EIO,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.EISDIR,
        errno.ENOTDIR,
    }
)


class OutputError(Exception):
    """An output kspec cannot or will not write. The message names the path
    the user gave; commands report it as a usage or I/O error (exit 2)."""


def is_kspec_temp(name: str) -> bool:
    """Whether a file name is one of kspec's temporary files."""
    return _TEMP_NAME.fullmatch(name) is not None


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _real(target: Path) -> Path:
    """Where a write to ``target`` lands: the file a symlink (or a chain of
    them) points at, or ``target`` itself. A dangling link lands at its target."""
    if not target.is_symlink():
        return target
    try:
        return Path(os.path.realpath(target, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(target))
    except OSError as exc:  # a loop of links
        raise OutputError(f"cannot write '{target}': {exc.strerror or exc}") from None


def check_output(target: PathArg, inputs: Iterable[PathArg | None] = ()) -> Path:
    """Check, before any work, that ``target`` can be written and is none of
    ``inputs``; returns the path a write lands on. Raises :class:`OutputError`."""
    user = Path(target)
    real = _real(user)
    parent = real.parent if str(real.parent) else Path(".")
    if not parent.exists():
        shown = user.parent if real == user else parent
        raise OutputError(f"cannot write '{user}': directory '{shown}' does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write '{user}': '{parent}' is not a directory")
    try:
        st: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write '{user}': {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write '{user}': it is a directory")
    if st is not None:
        for item in inputs:
            if item is None:
                continue
            with contextlib.suppress(OSError):
                if os.path.samefile(real, item):
                    raise OutputError(f"cannot write '{user}': it is the input file '{item}'")
    special = st is not None and not stat.S_ISREG(st.st_mode)
    if not special and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write '{user}': directory '{parent}' is not writable")
    return real


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        return True
    return True


def remove_stale_temps(directory: Path) -> None:
    """Remove kspec's temporary files in ``directory`` whose process is gone
    (left by a run that was killed with SIGKILL). Only regular files of this
    user whose names match kspec's pattern are touched."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or int(match["pid"]) == os.getpid() or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid():
                os.unlink(entry.path)


# --------------------------------------------------------------------------
# signals: a temporary file never outlives SIGINT or SIGTERM

_active: set[Path] = set()
_previous: dict[int, Any] = {}
_lock = threading.Lock()
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Remove every temporary file in flight, then let the signal do what it did before."""
    for tmp in list(_active):
        if tmp.is_dir() and not tmp.is_symlink():  # a directory being exported (kspec export -o DIR/)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()
    _active.clear()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)  # SIGINT: KeyboardInterrupt, reported as "interrupted", exit 130
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # SIGTERM: end as the signal would have ended us


def _register(tmp: Path) -> None:
    with _lock:
        if not _active and threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                previous = signal.getsignal(signum)
                if previous is signal.SIG_IGN or previous is None:
                    continue
                _previous[signum] = previous
                signal.signal(signum, _on_signal)
        _active.add(tmp)


@contextlib.contextmanager
def temporary_in_flight(tmp: Path) -> Iterator[Path]:
    """Remove ``tmp`` (a file, or a directory of kspec's making) if SIGINT
    or SIGTERM arrives while the block runs; the block itself moves or
    removes it otherwise."""
    _register(tmp)
    try:
        yield tmp
    finally:
        _unregister(tmp)


def _unregister(tmp: Path) -> None:
    with _lock:
        _active.discard(tmp)
        if not _active and threading.current_thread() is threading.main_thread():
            for signum, previous in _previous.items():
                signal.signal(signum, previous)
            _previous.clear()


# --------------------------------------------------------------------------
# the write


def _temp_name(real: Path) -> str:
    suffixes = "".join(real.suffixes)
    if len(suffixes) > 40:
        suffixes = "".join(real.suffixes[-2:])[-40:]
    stem = real.name[: len(real.name) - len(suffixes)] if suffixes else real.name
    return f".{stem[:100]}.kspec-{os.getpid()}-{secrets.token_hex(4)}.tmp{suffixes}"


def _as_output_error(user: Path, tmp: Path, exc: OSError) -> OutputError | None:
    """``exc`` as an error about ``user`` when it concerns the output, else None."""
    names = {str(tmp), str(_real(user))}
    about_us = (
        str(exc.filename) in names
        or str(exc.filename2) in names
        or str(tmp) in str(exc)
        or (exc.filename is None and exc.errno in _WRITE_ERRNOS)
    )
    if not about_us:
        return None
    if exc.errno == errno.EISDIR:
        reason = "it is a directory"
    elif exc.strerror:
        reason = exc.strerror
    else:
        reason = str(exc).replace(str(tmp), str(user))
    return OutputError(f"cannot write '{user}': {reason}")


def _copy_into(tmp: Path, real: Path) -> None:
    """Write ``tmp``'s bytes into an existing device or FIFO."""
    with open(tmp, "rb") as src, open(real, "wb") as dst:
        shutil.copyfileobj(src, dst)


@contextmanager
def atomic_path(target: PathArg, *, inputs: Iterable[PathArg | None] = ()) -> Iterator[Path]:
    """A fresh (absent) temporary path to write to in place of ``target``;
    see the module's docstring for what happens to it."""
    user = Path(target)
    real = check_output(user, inputs)
    existing = real.stat() if real.exists() else None
    special = existing is not None and not stat.S_ISREG(existing.st_mode)
    if special:  # a device or FIFO: write elsewhere, then copy in
        scratch = Path(tempfile.mkdtemp(prefix="kspec-"))
        tmp = scratch / _temp_name(user)  # the user's suffixes: writers choose a format by them
    else:
        scratch = None
        remove_stale_temps(real.parent)
        tmp = real.parent / _temp_name(user)
    _register(tmp)
    try:
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError as exc:  # a read-only or special file system
                raise OutputError(
                    f"cannot write '{user}': cannot create a file in directory '{tmp.parent}': {exc.strerror or exc}"
                ) from None
            os.close(fd)
            tmp.unlink()  # writers create it themselves (Keras will not write over a file in some versions)
            yield tmp
            if not tmp.exists():
                raise OutputError(f"cannot write '{user}': nothing was written")
            if special:
                _copy_into(tmp, real)
            else:
                if existing is not None:
                    os.chmod(tmp, stat.S_IMODE(existing.st_mode))
                    with contextlib.suppress(OSError):
                        if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
                            os.chown(tmp, existing.st_uid, existing.st_gid)
                os.replace(tmp, real)
        except OSError as exc:
            error = _as_output_error(user, tmp, exc)
            if error is None:
                raise
            raise error from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        _unregister(tmp)


def write_text_atomic(target: PathArg, text: str, *, inputs: Iterable[PathArg | None] = ()) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``target`` atomically."""
    with atomic_path(target, inputs=inputs) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
