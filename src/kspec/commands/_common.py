"""What every subcommand shares: exit codes, error printing, -D parsing."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kspec.runtime import KerasUnavailable
from kspec.spec.diagnostics import KspecError, printable

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_SPEC",
    "EXIT_USAGE",
    "add_defines",
    "add_limits",
    "add_plugins",
    "check_input_file",
    "check_output_dir",
    "fail_usage",
    "limits_of",
    "load_plugins",
    "parse_defines",
    "run_guarded",
]

EXIT_OK = 0
EXIT_SPEC = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class UsageFailure(Exception):
    """A usage or I/O problem: printed as ``kspec: error: ...``, exit 2."""


def fail_usage(message: str) -> UsageFailure:
    return UsageFailure(message)


class _NeverRaised(Exception):
    """Stands for an exception class whose module was never imported."""


def _output_error() -> type[Exception]:
    """:class:`kspec._atomic.OutputError` when a command imported that module
    (only then can one be raised); commands that write nothing never load it."""
    atomic = sys.modules.get("kspec._atomic")
    error: type[Exception] = getattr(atomic, "OutputError", _NeverRaised)
    return error


def run_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand, turning spec errors into exit 1 and usage/I-O
    errors into exit 2, never a traceback for a user's mistake."""
    try:
        from kspec.spec.limits import DEFAULT, using

        bounds = limits_of(args)
        with using(bounds):
            return run(args)
    except KspecError as exc:
        print(printable(exc.render()), file=sys.stderr)
        return EXIT_SPEC
    except (UsageFailure, _output_error()) as exc:
        print(f"kspec: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except UnicodeDecodeError as exc:
        print(f"kspec: error: the file is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (``kspec check ... | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the final flush at exit cannot fail again
        return EXIT_SPEC
    except OSError as exc:
        where = f" '{exc.filename}'" if exc.filename else ""
        print(printable(f"kspec: error: cannot access{where}: {exc.strerror or exc}"), file=sys.stderr)
        return EXIT_USAGE
    except KerasUnavailable as exc:
        print(f"kspec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kspec: interrupted", file=sys.stderr)
        return 130
    except RecursionError as exc:
        if bounds.nesting <= DEFAULT.nesting:
            return _internal_error(exc)
        print(f"kspec: error: the spec nests deeper than Python's stack can follow with --limit nesting="
              f"{bounds.nesting}; the default is {DEFAULT.nesting}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    """Report a bug in kspec, not a mistake in the spec (the traceback with ``KSPEC_DEBUG=1``)."""
    if os.environ.get("KSPEC_DEBUG") == "1":
        raise exc
    print(
        f"kspec: internal error: {type(exc).__name__}: {printable(str(exc))}\n"
        "This is a bug in kspec, not in your spec; set KSPEC_DEBUG=1 to see the traceback.",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def check_output_dir(out: Path, inputs: Iterable[str | os.PathLike[str] | None] = ()) -> None:
    """A usage error (exit 2), said before any work is done, when ``out``
    cannot be written: its directory does not exist or is not writable, it
    is a directory, or it is one of the command's ``inputs``."""
    from kspec._atomic import check_output

    check_output(out, inputs)


def check_input_file(path: str | os.PathLike[str], missing: str) -> None:
    """A usage error when ``path`` is not a regular file: ``missing`` (e.g.
    "no data file 'd.npz'") when it does not exist, else what it is (a
    FIFO or a device is never read as data or as a model)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise fail_usage(missing) from None
    except OSError as exc:
        raise fail_usage(f"cannot read '{path}': {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        return
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    raise fail_usage(f"cannot read '{path}': it is {kind}, not a regular file")


def add_limits(parser: argparse.ArgumentParser) -> None:
    """``--limit NAME=N`` and ``--allow-dir DIR``, which every command takes."""
    from kspec.spec.limits import LIMIT_HELP

    parser.add_argument("--limit", action="append", default=[], metavar="NAME=N",
                        help=f"raise or lower a bound on the work a spec or data file may ask for ({LIMIT_HELP}; "
                             "*_bytes also take sizes such as 4G)")
    parser.add_argument("--allow-dir", action="append", default=[], metavar="DIR",
                        help="a directory besides the spec's own that paths in the spec may reach")


def limits_of(args: argparse.Namespace) -> Any:
    """The :class:`kspec.spec.limits.Limits` that ``--limit`` and
    ``--allow-dir`` ask for (a usage error for a malformed setting)."""
    from kspec.spec.limits import DEFAULT, parse_limit

    bounds = DEFAULT
    for text in getattr(args, "limit", None) or ():
        try:
            bounds = parse_limit(text, bounds)
        except ValueError as exc:
            raise fail_usage(str(exc)) from None
    dirs: tuple[str, ...] = ()
    if getattr(args, "allow_dir", None):
        from pathlib import Path

        dirs = tuple(str(Path(d)) for d in args.allow_dir)
    return dataclasses.replace(bounds, allowed_dirs=dirs) if dirs else bounds


def add_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so the custom layers it registers with Keras can be used "
        "(repeatable; the only way Python code enters a build)",
    )


def load_plugins(modules: list[str]) -> None:
    """Import the modules the user named with ``--plugin``. A spec itself
    never causes an import: only this explicit command-line choice does."""
    import importlib

    if modules:
        from kspec.runtime._quiet import import_keras

        import_keras()  # quietly, before a plugin's own `import keras`
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise fail_usage(f"cannot import plugin '{name}': {exc}") from None


def add_defines(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-D",
        "--define",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a file-level parameter (repeatable), e.g. -D width=128",
    )


def parse_defines(items: list[str]) -> dict[str, Any]:
    """``["width=128", "act=relu"]`` -> ``{"width": 128, "act": "relu"}``
    (values read as YAML scalars: numbers, true/false, null, strings)."""
    out: dict[str, Any] = {}
    if not items:
        return out
    import yaml  # only -D values need it; a .kspec file is checked without it

    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise fail_usage(f"-D expects NAME=VALUE, got '{item}'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)) or (value is None and raw.strip() not in ("null", "~")):
            value = raw
        if isinstance(value, str) and re.fullmatch(_FLOAT, raw.strip()):
            value = float(raw)  # 1e-3: a number, as in Python (YAML 1.1 wants a dot in it)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise fail_usage(f"-D {name}: the integer {raw.strip()[:40]} is too large (at most 2**63 - 1)")
        out[name] = value
    return out


#: Numbers Python reads as floats that YAML 1.1 reads as strings (``1e-3``, ``5E+2``);
#: compiled (and cached by ``re``) on first use, when a -D value is given.
_FLOAT = r"[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+"


def load_weights(model: Any, weights: Path) -> None:
    """Load a weights file (``compile --weights``, ``export --weights``)
    into a built model; a file that does not fit it is a usage error."""
    import warnings

    try:
        with warnings.catch_warnings():
            # A weights file carries layer weights only; a freshly compiled
            # optimizer has nothing to restore, which Keras warns about.
            warnings.filterwarnings("ignore", message=r"Skipping variable loading for optimizer")
            model.load_weights(str(weights))
    except Exception as exc:  # Keras raises ValueError/KeyError/OSError on a mismatched file
        from kspec.runtime.lower import clean_keras_message

        raise fail_usage(
            f"cannot load weights '{weights}' into model '{model.name}': {clean_keras_message(exc)}"
        ) from None
