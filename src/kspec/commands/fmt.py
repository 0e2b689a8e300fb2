"""``kspec fmt [--check] FILE...``: rewrite ``.kspec`` files in the one
canonical layout, keeping every comment.

Each file is parsed, printed with :func:`kspec.spec.kspec_printer.print_kspec`
and written back only when it changes, after checking that the new text
parses to the same spec. ``--check`` writes nothing, lists the files it
would change and exits 1 if there are any. ``-`` reads standard input and
writes the result to standard output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kspec._atomic import OutputError, write_text_atomic
from kspec.commands._common import EXIT_INTERNAL, EXIT_OK, EXIT_SPEC, EXIT_USAGE
from kspec.spec.diagnostics import KspecError, printable


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", metavar="FILE", nargs="+", help=".kspec files to format ('-' for standard input)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; list the files that would change and exit 1 if any would")


def format_text(text: str, file: str = "<string>") -> str:
    """The canonical layout of ``.kspec`` text; raises :class:`KspecError`
    on a syntax error, ``RuntimeError`` if formatting would change the spec
    (a bug in kspec)."""
    from kspec.spec.kspec_form import parse_with_comments
    from kspec.spec.kspec_printer import print_kspec

    spec, comments = parse_with_comments(text, file)
    out = print_kspec(spec, comments)
    again, again_comments = parse_with_comments(out, file)
    if again != spec or len(again_comments) != len(comments):
        raise RuntimeError(f"formatting '{file}' would change its meaning; it was left as it is")
    return out


def run(args: argparse.Namespace) -> int:
    worst = EXIT_OK
    changed: list[str] = []
    for name in args.files:
        if name != "-" and Path(name).suffix.lower() in (".yaml", ".yml"):
            print(f"kspec: error: '{name}': fmt formats .kspec files; "
                  "use 'kspec convert' to rewrite a YAML spec", file=sys.stderr)
            worst = max(worst, EXIT_USAGE)
            continue
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            print(printable(f"kspec: error: cannot read '{name}': {reason}"), file=sys.stderr)
            worst = max(worst, EXIT_USAGE)
            continue
        try:
            out = format_text(text, "<stdin>" if name == "-" else name)
        except KspecError as exc:
            print(printable(exc.render({"<stdin>": text} if name == "-" else {name: text})), file=sys.stderr)
            worst = max(worst, EXIT_SPEC)
            continue
        except RuntimeError as exc:
            print(f"kspec: internal error: {exc}", file=sys.stderr)
            worst = max(worst, EXIT_INTERNAL)
            continue
        if name == "-":
            if not args.check:
                sys.stdout.write(out)
            if out != text:
                changed.append(name)
            continue
        if out == text:
            continue
        changed.append(name)
        if not args.check:
            try:  # through a symlink to its file, keeping the file's mode
                write_text_atomic(Path(name), out)
            except OutputError as exc:
                print(f"kspec: error: {printable(str(exc))}", file=sys.stderr)
                worst = max(worst, EXIT_USAGE)
                continue
            print(f"formatted {name}")
    if args.check and changed:
        for name in changed:
            print(f"would reformat {name}")
        worst = max(worst, EXIT_SPEC)
    return worst
