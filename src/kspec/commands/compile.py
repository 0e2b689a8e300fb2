"""``kspec compile SPEC [-o OUT] [--model NAME]``: build and save a model."""

from __future__ import annotations

import argparse
from pathlib import Path

from kspec.commands._common import EXIT_OK, add_defines, fail_usage, parse_defines

NAME = "compile"
HELP = "compile a spec to a Keras model file (.keras, .h5 or .json)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the spec file (.kspec, .yaml)")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file; its suffix picks the format: .keras (default), .h5, .json")
    parser.add_argument("--model", metavar="NAME", help="which model to compile when the spec has several")
    add_defines(parser)


def run(args: argparse.Namespace) -> int:
    from kspec.runtime.save import format_of

    spec_path = Path(args.spec)
    out = Path(args.output) if args.output else spec_path.with_suffix(".keras").name
    out = Path(out)
    try:
        format_of(out)
    except ValueError as exc:
        raise fail_usage(str(exc)) from None
    if out.parent and not out.parent.exists():
        raise fail_usage(f"cannot write '{out}': directory '{out.parent}' does not exist")
    defines = parse_defines(args.define)

    import kspec

    spec = kspec.load(spec_path, defines=defines)
    model = kspec.build(spec, args.model)
    kspec.save(model, out)
    print(f"wrote {out} (model '{model.name}', {model.count_params():,} parameters)")
    return EXIT_OK
