"""The ``kspec`` command line: ``main(argv) -> int``; ``run()`` is the
console-script entry point.

Each subcommand lives in its own module under :mod:`kspec.commands` and is
listed in :data:`kspec.commands.COMMANDS`. Exit codes: 0 success, 1 errors
in a spec, 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from kspec import __version__
from kspec.commands import COMMANDS
from kspec.commands._common import EXIT_USAGE, add_limits, run_guarded

__all__ = ["build_parser", "main", "run"]

#: Commands that build or load a Keras model, and so take ``--backend``.
BACKEND_COMMANDS = ("compile", "train", "evaluate", "predict", "decompile", "summary")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` returns codes."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser. Every command is listed; only ``command`` (every
    command when ``None``) gets its options, so running one command imports
    that command's module alone."""
    parser = _Parser(prog="kspec", description="Compile neural-network specs (.kspec or YAML) to Keras models.")
    parser.add_argument("--version", action="version", version=f"kspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        if command is None or command == name:
            module = importlib.import_module(f"kspec.commands.{name}")
            module.configure(p)
            add_limits(p)
            if name in BACKEND_COMMANDS:
                p.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                               help="the Keras backend (default: KERAS_BACKEND, else ~/.keras/keras.json, "
                                    "else tensorflow)")
            p.set_defaults(_run=module.run)
    return parser


def _choose_backend(backend: str | None) -> str | None:
    """Put ``--backend`` in force (before Keras is imported); an error
    message when Keras is already loaded on another backend."""
    if backend is None:
        return None
    keras = sys.modules.get("keras")
    if keras is not None:
        current = keras.backend.backend()
        if current != backend:
            return f"kspec: error: Keras is already loaded with the {current} backend in this process"
        return None
    os.environ["KERAS_BACKEND"] = backend
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in arguments if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    try:
        args = parser.parse_args(arguments)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    problem = _choose_backend(getattr(args, "backend", None))
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    return run_guarded(args._run, args)


def run() -> NoReturn:
    """The ``kspec`` executable: :func:`main`, then exit with its code.

    When the command never loaded keras or tensorflow (``check``,
    ``summary``, ``graph``, ``fmt``, ``convert``), the interpreter's teardown
    is skipped: freeing every module and object one by one costs about a
    tenth of a ``kspec check`` run. The output streams are flushed and the
    ``atexit`` handlers run first, so nothing is lost; every file a command
    writes is complete (and renamed into place) before ``main`` returns.
    """
    code = main()
    if "keras" in sys.modules or "tensorflow" in sys.modules:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (``kspec check ... | head``)
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)
