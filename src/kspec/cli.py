"""The ``kspec`` command line: ``main(argv) -> int``.

Each subcommand lives in its own module under :mod:`kspec.commands` and is
listed in :data:`kspec.commands.COMMANDS`. Exit codes: 0 success, 1 errors
in a spec, 2 usage or I/O errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kspec import __version__
from kspec.commands import COMMANDS
from kspec.commands._common import EXIT_USAGE, run_guarded

__all__ = ["build_parser", "main"]


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
            p.set_defaults(_run=module.run)
    return parser


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
    return run_guarded(args._run, args)
