"""``kspec predict MODEL --data FILE -o OUT.npz``: run a saved model on the
inputs of a data file and save the predictions, keyed by output name."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kspec._atomic import atomic_path
from kspec.commands._common import EXIT_OK, check_output_dir, fail_usage


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a saved model (.keras or .h5)")
    parser.add_argument("--data", required=True, metavar="FILE", help="inputs (.npz or .csv); targets are ignored")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="predictions file (.npz)")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N")


def load_saved(path: str) -> Any:
    """Load a saved model in Keras's safe mode; usage error if unreadable."""
    if not Path(path).is_file():
        raise fail_usage(f"no model file '{path}'")
    from kspec.runtime._quiet import import_keras

    keras = import_keras()
    try:
        return keras.models.load_model(path, safe_mode=True) if path.endswith(".keras") \
            else keras.models.load_model(path)
    except (OSError, ValueError, TypeError) as exc:
        from kspec.runtime.lower import clean_keras_message

        raise fail_usage(f"cannot load model '{path}': {clean_keras_message(exc)}") from None


def run(args: argparse.Namespace) -> int:
    import numpy as np

    if not args.output.endswith(".npz"):
        raise fail_usage("predictions are written as .npz: give -o a name ending in .npz")
    check_output_dir(Path(args.output))
    model = load_saved(args.model)
    from kspec.runtime.data import load_data, output_names, saved_ports

    ins, outs = saved_ports(model)
    data = load_data(Path(args.data), ins, outs, need_targets=False)
    x = next(iter(data.x.values())) if len(data.x) == 1 else data.x
    pred = model.predict(x, batch_size=args.batch_size, verbose=0)
    preds = pred if isinstance(pred, (list, tuple)) else [pred]
    if isinstance(pred, dict):
        arrays = {k: np.asarray(v) for k, v in pred.items()}
    else:
        arrays = {name: np.asarray(p) for name, p in zip(output_names(model), preds, strict=True)}
    savez: Any = np.savez  # numpy types **kwds as the allow_pickle flag
    with atomic_path(args.output) as tmp:
        savez(tmp, **arrays)
    print(f"wrote {args.output} ({data.rows:,} rows: " + ", ".join(
        f"{k} {tuple(v.shape)}" for k, v in arrays.items()) + ")")
    return EXIT_OK
