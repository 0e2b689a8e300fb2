"""``kspec predict MODEL --data FILE -o OUT.npz``: run a saved model on the
inputs of a data file and save the predictions, keyed by output name (for
an image folder, with ``files``: each image's path within the folder)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kspec._atomic import atomic_path
from kspec.commands._common import (
    EXIT_OK,
    check_input_file,
    check_output_dir,
    fail_usage,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a saved model (.keras or .h5)")
    parser.add_argument("--data", required=True, metavar="FILE", help="inputs (.npz or .csv, a directory of .npy "
                        "files, or an image folder; directories are streamed); targets are ignored")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="predictions file (.npz)")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N",
                        help="rows per batch of prediction (default: 32)")


#: Where an HDF5 file's signature may sit (after a user block of 0, 512, 1024 ... bytes).
_HDF5_OFFSETS = (0, 512, 1024, 2048, 4096)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def model_file_problem(path: Path) -> str | None:
    """What is wrong with a model file before Keras reads it (a truncated or
    foreign file), or None when it looks like what its suffix says."""
    import zipfile

    suffix = path.suffix.lower()
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            return "it is not a complete .keras archive (truncated, or not a Keras model)"
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            return f"it is a damaged .keras archive ({exc})"
        if "config.json" not in names:
            return "the archive holds no Keras model (no config.json)"
    elif suffix == ".h5":
        with path.open("rb") as fh:
            head = fh.read(_HDF5_OFFSETS[-1] + len(_HDF5_SIGNATURE))
        if not any(head[i:i + len(_HDF5_SIGNATURE)] == _HDF5_SIGNATURE for i in _HDF5_OFFSETS):
            return "it is not an HDF5 file (truncated, or not a Keras model)"
    return None


def load_saved(path: str) -> Any:
    """Load a saved model in Keras's safe mode; usage error if unreadable,
    saying what is wrong with the file (missing, special, truncated, foreign)."""
    check_input_file(path, f"no model file '{path}'")
    problem = model_file_problem(Path(path))
    if problem is not None:
        raise fail_usage(f"cannot load model '{path}': {problem}")
    import zipfile

    from kspec.runtime._quiet import import_keras

    keras = import_keras()
    try:
        return keras.models.load_model(path, safe_mode=True) if path.endswith(".keras") \
            else keras.models.load_model(path)
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        from kspec.runtime.lower import clean_keras_message

        detail = clean_keras_message(exc)
        if "truncated file" in detail:  # h5py's words for an HDF5 file cut short
            detail = "it is a truncated HDF5 file"
        raise fail_usage(f"cannot load model '{path}': {detail}") from None


def _predict_images(model: Any, path: str, ins: list[Any], outs: list[Any], batch_size: int) -> tuple[Any, list[str]]:
    """Predictions for every image of an image folder (class folders or not),
    streamed in the order Keras's utility lists them (folder by folder, file
    names sorted), and each image's path relative to the folder."""
    import os

    from kspec.runtime.data import read_image_folder
    from kspec.runtime.training import image_stream

    folder = read_image_folder(path, ins, outs, need_targets=False)
    stream, _ = image_stream(folder, batch_size)
    listed = getattr(stream, "file_paths", None) or [str(f) for f in folder.files]
    return model.predict(stream, verbose=0), [os.path.relpath(f, folder.path) for f in listed]


def run(args: argparse.Namespace) -> int:
    import numpy as np

    if not args.output.endswith(".npz"):
        raise fail_usage("predictions are written as .npz: give -o a name ending in .npz")
    inputs = [args.model, args.data]
    check_output_dir(Path(args.output), inputs)
    model = load_saved(args.model)
    from kspec.runtime.data import is_image_folder, load_data, output_names, saved_ports

    ins, outs = saved_ports(model)
    files: list[str] | None = None  # the image of each prediction, for an image folder
    if is_image_folder(args.data):
        pred, files = _predict_images(model, args.data, ins, outs, args.batch_size)
        rows = len(files)
    else:
        data = load_data(Path(args.data), ins, outs, need_targets=False)
        rows = data.rows
        if data.streamed:  # arrays on disk (a .npy directory, a large CSV): read a batch at a time
            from kspec.runtime.training import batch_stream

            pred = model.predict(batch_stream(data, args.batch_size, targets=False), verbose=0)
        else:
            x = next(iter(data.x.values())) if len(data.x) == 1 else data.x
            pred = model.predict(x, batch_size=args.batch_size, verbose=0)
    preds = pred if isinstance(pred, (list, tuple)) else [pred]
    if isinstance(pred, dict):
        arrays = {k: np.asarray(v) for k, v in pred.items()}
    else:
        arrays = {name: np.asarray(p) for name, p in zip(output_names(model), preds, strict=True)}
    if files is not None:
        if "files" in arrays:
            raise fail_usage("the model has an output named 'files', where the image names of an image folder go")
        arrays["files"] = np.array(files, dtype=str)
    savez: Any = np.savez  # numpy types **kwds as the allow_pickle flag
    with atomic_path(args.output, inputs=inputs) as tmp:
        savez(tmp, **arrays)
    print(f"wrote {args.output} ({rows:,} rows: " + ", ".join(
        f"{k} {tuple(v.shape)}" for k, v in arrays.items()) + ")")
    return EXIT_OK
