"""The ``kspec`` command line: ``main(argv) -> int``; ``run()`` is the
console-script entry point.

Each subcommand lives in its own module under :mod:`kspec.commands` and is
listed in :data:`kspec.commands.COMMANDS`. Exit codes: 0 success, 1 errors
in a spec, 2 usage or I/O errors (:data:`EXIT_CODES`, shown by
``kspec --help``). ``kspec --print-completion bash|zsh|fish`` prints a
shell completion script (shtab, imported for that option only).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from kspec import __version__
from kspec.commands import COMMANDS
from kspec.commands._common import EXIT_USAGE, add_limits, run_guarded

__all__ = ["EXIT_CODES", "SHELLS", "build_parser", "main", "run"]

#: Commands that build or load a Keras model, and so take ``--backend``.
BACKEND_COMMANDS = ("compile", "train", "evaluate", "predict", "decompile", "summary", "export", "viz", "tune")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` returns codes."""

    #: Whether the formatter argparse asks for only checks an option's
    #: metavar or words the commands' prefix (no text is wrapped).
    _checking = False

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message}")

    def _get_formatter(self) -> argparse.HelpFormatter:
        """argparse makes a formatter for every option it adds, and a
        formatter asks the terminal for its width, which imports shutil and
        the compression modules with it (a few milliseconds of every run).
        The width is asked for only where text is wrapped: help, usage."""
        if self._checking:
            return self.formatter_class(prog=self.prog, width=_UNWRAPPED)  # type: ignore[call-arg]
        return super()._get_formatter()

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action: argparse.Action = self._unwrapped(super().add_argument, *args, **kwargs)
        return action

    def add_subparsers(self, **kwargs: Any) -> Any:
        return self._unwrapped(super().add_subparsers, **kwargs)

    def _unwrapped(self, add: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``add(...)``, its formatters of a fixed width (:meth:`_get_formatter`)."""
        self._checking = True
        try:
            return add(*args, **kwargs)
        finally:
            self._checking = False


#: The width of a formatter that wraps no text.
_UNWRAPPED = 1_000_000


class _UsageError(Exception):
    pass


#: The exit codes, as ``kspec --help`` lists them.
EXIT_CODES = """\
exit codes:
  0    success
  1    errors in a spec (fmt --check: files that would change; export: an export unlike Keras; tune: no trial done)
  2    usage or I/O errors (a bad option, a missing or unwritable file)
  3    internal error: a bug in kspec, not in the spec (KSPEC_DEBUG=1 shows the traceback)
  130  interrupted (Ctrl-C)

shell completion: kspec --print-completion bash|zsh|fish (see the README)"""

#: Shells ``--print-completion`` writes a script for (through shtab).
SHELLS = ("bash", "zsh", "fish")


class _PrintCompletion(argparse.Action):
    """``--print-completion SHELL``: print the completion script of the
    whole command line for SHELL and exit. shtab is imported only here, so
    every other command starts without it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        try:
            import shtab
        except ImportError:
            parser.error("--print-completion needs the 'shtab' package: pip install shtab")
        _configure_all(parser)
        _mark_paths(parser)
        sys.stdout.write(shtab.complete(parser, shell=str(values)))
        parser.exit(0)


def _mark_paths(parser: argparse.ArgumentParser) -> None:
    """Let the shells complete file names for every argument that takes a
    path: each one that takes a value, offers no choices and is not a
    number, a name or a NAME=VALUE setting (``--allow-dir`` takes
    directories)."""
    files = {"bash": "_shtab_compgen_files", "zsh": "_files", "fish": "(__fish_complete_path (commandline -ct))"}
    dirs = {"bash": "_shtab_compgen_dirs", "zsh": "_files -/", "fish": "(__fish_complete_directories)"}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _mark_paths(sub)
            continue
        metavar = str(action.metavar or action.dest).upper()
        takes_path = (action.nargs != 0 and not action.choices and action.type not in (int, float)
                      and "=" not in metavar and "NAME" not in metavar and not isinstance(action, _PrintCompletion))
        if takes_path:
            action.complete = dirs if metavar == "DIR" else files  # type: ignore[attr-defined]  # read by shtab


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser. Every command is listed; only ``command`` (every
    command when ``None``) gets its options, so running one command imports
    that command's module alone."""
    return _build_parser(command, COMMANDS)


def _build_parser(command: str | None, listed: dict[str, str], configure: bool = True) -> argparse.ArgumentParser:
    """The parser with the commands ``listed`` (name: help); only ``command``
    (every listed command when ``None``) gets its options, and none without
    ``configure`` (``--print-completion`` adds them when it runs)."""
    parser = _Parser(prog="kspec", description="Compile neural-network specs (.kspec or YAML) to Keras models.",
                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kspec {__version__}")
    parser.add_argument("--print-completion", choices=SHELLS, action=_PrintCompletion, metavar="SHELL",
                        help="print the shell completion script for SHELL (bash, zsh or fish) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help in listed.items():
        p = sub.add_parser(name, help=help, description=help)
        if configure and (command is None or command == name):
            _configure(p, name)
    return parser


def _configure(parser: argparse.ArgumentParser, name: str) -> None:
    """Give the subparser of command ``name`` its options and its ``run``."""
    module = importlib.import_module(f"kspec.commands.{name}")
    module.configure(parser)
    add_limits(parser)
    if name in BACKEND_COMMANDS:
        parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                            help="the Keras backend (default: KERAS_BACKEND, else ~/.keras/keras.json, "
                                 "else tensorflow)")
    parser.set_defaults(_run=module.run)


def _configure_all(parser: argparse.ArgumentParser) -> None:
    """Give every command of ``parser`` that has none yet its options."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub.get_default("_run") is None:
                    _configure(sub, name)


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
    if command is not None and command in COMMANDS and arguments[0] == command:
        # No option before the command: the top-level parser only dispatches,
        # and its messages name no other command, so it lists this one alone.
        parser = _build_parser(command, {command: COMMANDS[command]})
    elif command in COMMANDS:
        parser = build_parser(command)
    else:  # no command: only the top-level options and the list of commands are needed
        parser = _build_parser(None, COMMANDS, configure=False)
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
