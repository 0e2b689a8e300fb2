"""``kspec evaluate MODEL --data FILE``: a saved compiled model's loss and
metrics on a data file (``.npz`` or ``.csv``, a directory of ``.npy`` files
or an image folder, as for ``kspec train``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kspec.commands._common import EXIT_OK, fail_usage


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a saved model (.keras or .h5) compiled by kspec")
    parser.add_argument("--data", required=True, metavar="FILE", help="data file (.npz or .csv), a directory "
                        "of .npy files, or an image folder (one sub-directory per class); directories are streamed")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N",
                        help="rows per batch of evaluation (default: 32)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    from kspec.commands.predict import load_saved

    model = load_saved(args.model)
    if model.optimizer is None or not getattr(model, "compiled", False):
        raise fail_usage(f"'{args.model}' is not compiled: give its spec a compile section and compile it again")
    from kspec.runtime.data import is_image_folder, load_data, saved_ports

    ins, outs = saved_ports(model)
    if is_image_folder(args.data):  # one sub-directory per class; labels as the model's output and loss take them
        from kspec.runtime.data import read_image_folder, sparse_loss
        from kspec.runtime.training import image_stream

        folder = read_image_folder(args.data, ins, outs, sparse=sparse_loss(model.loss))
        stream, _ = image_stream(folder, args.batch_size)
        results = model.evaluate(stream, verbose=0, return_dict=True)
    elif (data := load_data(Path(args.data), ins, outs)).streamed:  # arrays on disk: read a batch at a time
        from kspec.runtime.training import batch_stream

        results = model.evaluate(batch_stream(data, args.batch_size), verbose=0, return_dict=True)
    else:
        x = next(iter(data.x.values())) if len(data.x) == 1 else data.x
        y = next(iter(data.y.values())) if len(data.y) == 1 else data.y
        results = model.evaluate(x, y, batch_size=args.batch_size, verbose=0, return_dict=True)
    results = {k: float(v) for k, v in results.items()}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key}: {value:.6g}")
    return EXIT_OK
