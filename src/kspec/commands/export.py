"""``kspec export MODEL_OR_SPEC -o OUT``: a deployment format (ONNX, TFLite or
a TensorFlow SavedModel) through Keras's own ``model.export``, checked
against Keras on a random batch before it is put in place.

A spec is compiled first, as by ``kspec compile`` (``-D``, ``--model``,
``--weights``, ``--plugin``); a ``.keras`` or ``.h5`` model is loaded as by
``kspec evaluate`` (safe mode). Exit codes: 0 written (and checked), 1 the
model cannot be exported or the export computes something else than Keras
(nothing is written), 2 usage or I/O errors, a backend that cannot export
the format, or a missing package (named, with how to install it).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from kspec.commands._common import (
    EXIT_OK,
    EXIT_SPEC,
    add_defines,
    add_plugins,
    check_input_file,
    check_output_dir,
    fail_usage,
    load_plugins,
    load_weights,
    parse_defines,
)

#: Suffixes read as a saved Keras model rather than as a spec.
_MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
#: The default tolerance of the check, relative to each output's scale.
DEFAULT_ATOL = 1e-4


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="MODEL_OR_SPEC",
                        help="a spec (.kspec, .yaml) to compile, or a saved model (.keras, .h5)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="model.onnx, model.tflite, or a directory (a path ending in '/') for a SavedModel")
    parser.add_argument("--format", choices=("onnx", "tflite", "saved_model"),
                        help="the format, when OUT's suffix does not say it")
    parser.add_argument("--model", metavar="NAME", help="which model of the spec (default: the last one)")
    parser.add_argument("--weights", metavar="FILE",
                        help="load weights (a .weights.h5 file) into the compiled spec before exporting")
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL, metavar="X",
                        help="largest difference allowed from Keras, times max(1, the output's largest "
                             f"magnitude) (default: {DEFAULT_ATOL:g})")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the random check batch (default 0)")
    parser.add_argument("--no-check", action="store_true",
                        help="write the export without running it against Keras")
    parser.add_argument("--force", action="store_true",
                        help="replace a non-empty SavedModel directory at OUT (never any other directory)")
    add_defines(parser)
    add_plugins(parser)


def run(args: argparse.Namespace) -> int:
    from kspec.runtime._quiet import backend_name
    from kspec.runtime.export import (
        ExportFailure,
        MismatchFailure,
        check_directory_output,
        check_problem,
        export_model,
        export_problem,
        format_for,
    )

    try:
        fmt = format_for(args.output, args.format)
    except ValueError as exc:
        raise fail_usage(str(exc)) from None
    source = Path(args.source)
    is_model = source.suffix.lower() in _MODEL_SUFFIXES
    if is_model:
        spec_only = [flag for flag, given in (("-D", args.define), ("--model", args.model),
                                              ("--weights", args.weights)) if given]
        if spec_only:
            raise fail_usage(f"{spec_only[0]} applies to a spec, and '{source}' is a saved model")
    if not (math.isfinite(args.atol) and args.atol > 0):
        raise fail_usage(f"--atol must be a positive number, got {args.atol:g}")
    out = Path(args.output)
    weights = Path(args.weights) if args.weights else None
    if fmt.suffix is None:
        check_directory_output(out, args.force)
    else:
        check_output_dir(out, [source, weights])
    backend = backend_name()
    problem = export_problem(fmt, backend) or (None if args.no_check else check_problem(fmt))
    if problem is not None:
        raise fail_usage(problem)

    model = _load(args, source, is_model, weights)
    try:
        exported = export_model(model, out, fmt, atol=None if args.no_check else args.atol, seed=args.seed,
                                force=args.force, inputs=[source, weights])
    except MismatchFailure as exc:
        _print_check(exc.checked, args.seed)
        print(f"kspec: error: {exc}; nothing was written", file=sys.stderr)
        return EXIT_SPEC
    except ExportFailure as exc:
        print(f"kspec: error: {exc}; nothing was written", file=sys.stderr)
        return EXIT_SPEC
    if exported.checked is not None:
        _print_check(exported.checked, args.seed)
    for note in exported.notes:
        print(f"note: {note}")
    print(f"wrote {out}{'/' if fmt.suffix is None else ''} ({fmt.title}, model '{model.name}', "
          f"{model.count_params():,} parameters, {backend} backend)")
    return EXIT_OK


def _load(args: argparse.Namespace, source: Path, is_model: bool, weights: Path | None) -> Any:
    """The Keras model to export: the saved model, or the spec compiled."""
    load_plugins(args.plugin)
    if is_model:
        from kspec.commands.predict import load_saved

        return load_saved(str(source))
    if weights is not None:
        check_input_file(weights, f"cannot read weights '{weights}': no such file")
    import kspec

    spec = kspec.load(source, defines=parse_defines(args.define))
    model = kspec.build(spec, args.model)
    if weights is not None:
        load_weights(model, weights)
    return model


def _print_check(checked: Any, seed: int) -> None:
    """The check's outcome: each output's largest absolute difference from Keras."""
    rows = f"{checked.rows} row{'s' if checked.rows != 1 else ''}"
    print(f"checked with {checked.runtime} against Keras on a random batch ({rows}, seed {seed}); "
          "largest absolute difference per output:")
    width = max(len(d.output) for d in checked.differences)
    figures = [d.note or f"{d.largest:.3g}" for d in checked.differences]
    room = max(len(f) for f in figures)
    for d, figure in zip(checked.differences, figures, strict=True):
        verdict = "ok" if d.ok else "DIFFERENT" if d.note else "TOO LARGE"
        print(f"  {d.output:<{width}}  {figure:<{room}}  tolerance {d.tolerance:.3g}  {verdict}")
