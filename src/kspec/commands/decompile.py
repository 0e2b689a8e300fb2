"""``kspec decompile MODEL -o OUT``: a Keras model file back into a spec.

MODEL is ``.keras``, ``.h5`` or Keras JSON (``model.to_json()``), loaded in
Keras's safe mode; OUT is ``.kspec`` or ``.yaml``. When the model file holds
weights they are written beside the spec as ``<OUT stem>.weights.h5``, laid
out for the model the spec compiles to, so that
``kspec compile OUT --weights <OUT stem>.weights.h5`` gives the same outputs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kspec._atomic import OutputError, atomic_path, write_text_atomic
from kspec.commands._common import (
    EXIT_OK,
    add_plugins,
    check_input_file,
    check_output_dir,
    fail_usage,
    load_plugins,
)
from kspec.spec.ir import Spec

_OUT_FORMATS = (".kspec", ".yaml", ".yml")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="the Keras model file (.keras, .h5 or .json)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        required=True,
        help="the spec to write; its suffix picks the form: .kspec or .yaml",
    )
    parser.add_argument(
        "--keep-names",
        action="store_true",
        help="keep every Keras layer name (adds name=... where the spec would derive another)",
    )
    parser.add_argument(
        "--allow-custom", action="store_true", help="refer to registered custom layers instead of refusing them"
    )
    parser.add_argument(
        "--flat", action="store_true", help="write repeated structure out in full instead of as blocks and loops"
    )
    parser.add_argument("--no-weights", action="store_true", help="do not write the weights file")
    add_plugins(parser)


def weights_path(out: Path) -> Path:
    """``model.kspec`` -> ``model.weights.h5`` beside it."""
    return out.with_name(f"{out.stem}.weights.h5")


def render_spec(spec: Spec, out: Path) -> str:
    """The spec as text in the form ``out``'s suffix names."""
    if out.suffix.lower() == ".kspec":
        from kspec.spec.kspec_printer import print_kspec

        return print_kspec(spec)
    from kspec.spec.yaml_printer import dump_yaml

    return dump_yaml(spec)


def run(args: argparse.Namespace) -> int:
    src = Path(args.model)
    out = Path(args.output)
    if src.suffix.lower() not in (".keras", ".h5", ".json"):
        raise fail_usage(f"unknown model format '{src.suffix or src.name}': use .keras, .h5 or .json")
    if out.suffix.lower() not in _OUT_FORMATS:
        raise fail_usage(f"unknown spec format '{out.suffix or out.name}': use .kspec or .yaml")
    load_plugins(args.plugin)
    if not src.exists():
        raise fail_usage(f"cannot read '{src}': no such file")
    check_input_file(src, f"cannot read '{src}': no such file")
    check_output_dir(out, [src])
    if src.suffix.lower() != ".json" and not args.no_weights:
        wpath = weights_path(out)
        try:
            check_output_dir(wpath, [src])
        except OutputError as exc:
            raise fail_usage(f"{exc} (the weights file of '{out}'): choose another -o name, "
                             "or pass --no-weights") from None

    from kspec.runtime.decompile import decompile_model, load_keras_model, rebuild

    model = load_keras_model(src)
    result = decompile_model(
        model, keep_names=args.keep_names, allow_custom=args.allow_custom, where=str(src), blocks=not args.flat
    )
    text = render_spec(result.spec, out)
    write_text_atomic(out, text, inputs=[src])
    lines = text.count("\n")
    n = len(result.spec.models)
    message = f"wrote {out} ({lines} lines, {n} model{'s' if n != 1 else ''})"
    if src.suffix.lower() != ".json" and not args.no_weights and model.weights:
        target = rebuild(result)
        wpath = weights_path(out)
        with atomic_path(wpath, inputs=[src]) as tmp:
            target.save_weights(str(tmp))
        message += f" and {wpath}"
    print(message)
    return EXIT_OK
