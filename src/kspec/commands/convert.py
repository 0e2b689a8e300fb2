"""``kspec convert IN OUT``: ``.kspec`` <-> ``.yaml`` without loss.

The formats come from the suffixes (or ``--to`` when OUT is ``-``, standard
output). Blocks, parameters, loops and uses are carried over as they are,
not expanded, and the result is read back to check that it is the same
spec before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kspec._atomic import write_text_atomic
from kspec.commands._common import EXIT_OK, check_output_dir, fail_usage


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="the spec to read (.kspec or .yaml)")
    parser.add_argument("output", metavar="OUT", help="the file to write (.kspec or .yaml), or '-' for stdout")
    parser.add_argument("--to", choices=("kspec", "yaml"), help="output format (needed when OUT is '-')")


def convert_text(text: str, file: str, to: str) -> str:
    """``text`` (a spec in either form, by ``file``'s suffix) as ``to``."""
    from kspec.compiler.pipeline import format_for, parse_text
    from kspec.spec.diagnostics import KspecError
    from kspec.spec.kspec_form import parse_with_comments
    from kspec.spec.kspec_printer import print_kspec
    from kspec.spec.yaml_form import load_yaml
    from kspec.spec.yaml_printer import dump_yaml

    source = format_for(file)
    comments = None
    if source == "kspec":
        spec, comments = parse_with_comments(text, file)
    else:
        spec = parse_text(text, file)
    if to == "yaml":
        out = dump_yaml(spec)
        try:
            back = load_yaml(out, "<converted>")
        except KspecError as exc:  # YAML counts every mapping and list of the document toward `nesting`
            reached = next((d.message for d in exc.diagnostics if "(--limit " in d.message), None)
            if reached is None:
                raise
            raise fail_usage(f"'{file}' in YAML would not be read back: {reached}; nothing was written") from None
    else:
        out = print_kspec(spec, comments)
        back = parse_text(out, "<converted>.kspec")
    if back != spec:
        raise RuntimeError(f"converting '{file}' to {to} would lose information; nothing was written")
    return out


def run(args: argparse.Namespace) -> int:
    from kspec.compiler.pipeline import format_for, read_source

    if args.output == "-":
        to = args.to or ("yaml" if format_for(args.input) == "kspec" else "kspec")
    else:
        to = args.to or format_for(args.output)
        if args.to and args.to != format_for(args.output):
            raise fail_usage(f"--to {args.to} does not match the suffix of '{args.output}'")
    if args.output != "-":
        check_output_dir(Path(args.output), inputs=[args.input])  # never convert a file over itself
    text = read_source(args.input)
    out = convert_text(text, args.input, to)
    if args.output == "-":
        sys.stdout.write(out)
        return EXIT_OK
    target = Path(args.output)
    write_text_atomic(target, out, inputs=[args.input])
    print(f"wrote {target}")
    return EXIT_OK
