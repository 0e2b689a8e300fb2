"""What every subcommand shares: exit codes, error printing, -D parsing."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kspec.spec.diagnostics import KspecError

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_SPEC",
    "EXIT_USAGE",
    "add_defines",
    "add_plugins",
    "check_output_dir",
    "fail_usage",
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


def run_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand, turning spec errors into exit 1 and usage/I-O
    errors into exit 2, never a traceback for a user's mistake."""
    try:
        return run(args)
    except KspecError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_SPEC
    except UsageFailure as exc:
        print(f"kspec: error: {exc}", file=sys.stderr)
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
        print(f"kspec: error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kspec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in kspec, not a mistake in the spec
        if os.environ.get("KSPEC_DEBUG") == "1":
            raise
        print(
            f"kspec: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in kspec, not in your spec; set KSPEC_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def check_output_dir(out: Path) -> None:
    """A usage error (exit 2) when ``out``'s directory does not exist, said
    before any work is done."""
    if str(out.parent) and not out.parent.exists():
        raise fail_usage(f"cannot write '{out}': directory '{out.parent}' does not exist")


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
        out[name] = value
    return out
