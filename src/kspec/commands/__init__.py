"""Subcommands of the ``kspec`` command line, one module each.

Each module defines ``NAME``, ``HELP``, ``configure(parser)`` and
``run(args) -> int``; list it here to make it part of the CLI.
"""

COMMANDS: tuple[str, ...] = (
    "compile",
    "check",
    "summary",
    "graph",
    "train",
    "evaluate",
    "predict",
    "decompile",
    "fmt",
    "convert",
)
