"""``kspec compile SPEC [-o OUT] [--model NAME] [--weights FILE]``: build and save a model."""

from __future__ import annotations

import argparse
from pathlib import Path

from kspec.commands._common import (
    EXIT_OK,
    add_defines,
    add_plugins,
    check_input_file,
    check_output_dir,
    fail_usage,
    load_plugins,
    load_weights,
    parse_defines,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the spec file (.kspec, .yaml)")
    parser.add_argument(
        "-o", "--output", metavar="OUT", help="output file; its suffix picks the format: .keras (default), .h5, .json"
    )
    parser.add_argument("--model", metavar="NAME", help="which model to compile when the spec has several")
    parser.add_argument(
        "--weights", metavar="FILE", help="load weights (a .weights.h5 file, e.g. from kspec decompile) before saving"
    )
    add_defines(parser)
    add_plugins(parser)


def run(args: argparse.Namespace) -> int:
    from kspec.runtime.save import format_of

    spec_path = Path(args.spec)
    out = Path(args.output) if args.output else spec_path.with_suffix(".keras").name
    out = Path(out)
    try:
        format_of(out)
    except ValueError as exc:
        raise fail_usage(str(exc)) from None
    weights = Path(args.weights) if args.weights else None
    inputs = [spec_path, weights]
    check_output_dir(out, inputs)
    if weights is not None:
        check_input_file(weights, f"cannot read weights '{weights}': no such file")
    defines = parse_defines(args.define)

    import kspec

    spec = kspec.load(spec_path, defines=defines)
    load_plugins(args.plugin)
    model = kspec.build(spec, args.model)
    if weights is not None:
        load_weights(model, weights)
    from kspec.runtime.save import save_model

    save_model(model, out, inputs)
    print(f"wrote {out} (model '{model.name}', {model.count_params():,} parameters)")
    return EXIT_OK
