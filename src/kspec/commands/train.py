"""``kspec train SPEC --data TRAIN [--val VAL] [-o MODEL]``: train as the spec says.

``TRAIN`` is a ``.npz`` or CSV file, a directory of ``.npy`` files, or an
image folder (one sub-directory of images per class, for a model with one
image input and one output).

The spec's ``compile`` section compiles the model, its ``train`` section
gives epochs, batch size, validation, class weights and callbacks. Data is
checked against the spec before training starts. At the end kspec saves the
model, writes the history (JSON, CSV) and a PNG plot, and prints where
everything went. Ctrl-C stops training cleanly: the model and history so
far are saved, and any checkpoint already written stays. Data holding NaN or
infinite values is refused unless ``--allow-nonfinite`` is given; a loss that
becomes NaN or infinite stops training with an error (exit 1): the history so
far is written, the model is not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kspec.commands._common import (
    EXIT_OK,
    EXIT_SPEC,
    add_defines,
    check_input_file,
    check_output_dir,
    fail_usage,
    parse_defines,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the spec file (.kspec, .yaml)")
    parser.add_argument("--data", required=True, metavar="TRAIN", help="training data: .npz (arrays by input/output "
                        "name, or x and y), .csv (columns mapped by the train section's 'data'; streamed when large), "
                        "a directory of NAME.npy files (memory-mapped, streamed), or an image folder (one "
                        "sub-directory of images per class, streamed)")
    parser.add_argument("--val", metavar="VAL", help="validation data file (overrides validation_data/_split)")
    parser.add_argument("-o", "--output", metavar="MODEL", help="where to save the trained model (.keras or .h5; "
                        "default: SPEC's name with .keras)")
    parser.add_argument("--model", metavar="NAME", help="which model to train when the spec has several")
    parser.add_argument("--epochs", type=int, metavar="N", help="override the spec's epochs")
    parser.add_argument("--batch-size", type=int, metavar="N", help="override the spec's batch_size")
    parser.add_argument("--history", metavar="PREFIX", help="history files prefix (default: MODEL without suffix "
                        "plus .history): PREFIX.json, PREFIX.csv, PREFIX.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--allow-nonfinite", action="store_true",
                        help="train on data that holds NaN or infinite values (refused by default)")
    group = parser.add_argument_group("several processes (the train section's 'distribution' across hosts)")
    group.add_argument("--coordinator", metavar="HOST:PORT", help="JAX: the address of process 0, which every "
                       "process names (keras.distribution.initialize); TensorFlow reads TF_CONFIG instead")
    group.add_argument("--num-processes", type=int, default=1, metavar="N", help="how many processes train")
    group.add_argument("--process-id", type=int, default=0, metavar="I", help="this process, from 0 to N-1")
    add_defines(parser)


def _history_paths(prefix: Path) -> list[Path]:
    """The files :func:`kspec.runtime.training.write_history` writes for ``prefix``."""
    return [prefix.with_name(prefix.name + suffix) for suffix in (".json", ".csv", ".png")]



def _even_parts(data: Any, validation_split: float, replicas: int) -> tuple[Any, Any]:
    """With a distribution, every batch (the last one too) splits evenly over
    the replicas: the validation rows are split off as Keras does (the last
    ``validation_split`` of them), and each part keeps a multiple of
    ``replicas`` rows (at most ``replicas - 1`` rows of each are left out)."""
    import math

    split_at = math.ceil(data.rows * (1.0 - validation_split)) if validation_split else data.rows
    train = data.take(slice(0, split_at - split_at % replicas))
    if not validation_split:
        return train, None
    left = data.rows - split_at
    return train, data.take(slice(split_at, data.rows - left % replicas))


def _image_data(path: str, spec: Any, model_name: str, ins: list[Any], outs: list[Any], settings: Any,
                placement: Any, batch: int | None, where: Any) -> tuple[Any, Any, str]:
    """The training and validation streams of an image folder, checked
    against the model (:func:`kspec.runtime.data.read_image_folder`; the
    label mode follows the output's units and the compile section's loss),
    and how to describe the training part. ``validation_split`` is the
    utility's own, with the spec's ``seed``; ``validation_data`` (or
    ``--val``) must be an image folder with the same class folders."""
    from kspec.compiler.sections import compile_section
    from kspec.runtime.data import is_image_folder, read_image_folder, sparse_loss
    from kspec.runtime.training import image_stream
    from kspec.spec.diagnostics import Diagnostic, KspecError

    if placement.num_processes > 1:
        raise KspecError(Diagnostic("K312", f"{path}: an image folder trains in one process; several processes "
                                    "share the rows of arrays", where, "give .npz, CSV or .npy data, or train in "
                                    "one process (distribution over its devices works)"))
    compiled = compile_section(spec, model_name)
    sparse = sparse_loss(compiled.loss if compiled is not None else None)
    folder = read_image_folder(path, ins, outs, sparse=sparse)
    replicas = placement.replicas if settings.distribution else 1
    split = 0.0 if settings.validation_data else settings.validation_split
    train, validation = image_stream(folder, batch, shuffle=settings.shuffle, seed=settings.seed,
                                     validation_split=split, replicas=replicas)
    if settings.validation_data:
        if not is_image_folder(settings.validation_data):
            raise KspecError(Diagnostic("K401", f"{settings.validation_data}: the training data is an image folder, "
                                        "so the validation data must be one too", None,
                                        "give a directory with the same class folders"))
        checked = read_image_folder(settings.validation_data, ins, outs, sparse=sparse)
        if checked.classes != folder.classes:
            found, wanted = ", ".join(checked.classes), ", ".join(folder.classes)
            raise KspecError(Diagnostic("K401", f"{settings.validation_data}: the class folders ({found}) are not "
                                        f"those of {path} ({wanted})", None))
        validation, _ = image_stream(checked, batch, replicas=replicas)
    images = folder.rows - int(split * folder.rows)  # the utility keeps the last part of its listing apart
    return train, validation, f"{images:,} images of {len(folder.classes)} classes"


def run(args: argparse.Namespace) -> int:
    from kspec.runtime.save import format_of

    spec_path = Path(args.spec)
    out = Path(args.output) if args.output else Path(spec_path.with_suffix(".keras").name)
    try:
        if format_of(out) == ".json":
            raise ValueError("a trained model needs weights: save it as .keras or .h5")
    except ValueError as exc:
        raise fail_usage(str(exc)) from None
    inputs = [spec_path, args.data, args.val]
    check_output_dir(out, inputs)
    for path in (args.data, args.val):
        if path is not None and not Path(path).is_dir():  # a directory of .npy files is streamed
            check_input_file(path, f"no data file '{path}'")
    if (args.epochs is not None and args.epochs < 1) or (args.batch_size is not None and args.batch_size < 1):
        raise fail_usage("--epochs and --batch-size must be at least 1")

    import kspec
    from kspec.compiler.sections import train_section
    from kspec.spec.diagnostics import Diagnostic, KspecError

    spec = kspec.load(spec_path, defines=parse_defines(args.define))
    try:
        model_ir = spec.model(args.model)
    except KeyError:
        kspec.build(spec, args.model)  # raises the located "no model named ..." diagnostic
        raise
    if not any(s.model == model_ir.name for s in spec.compile):
        hint = "add compile: {" + model_ir.name + ": {optimizer: adam, loss: mse}}"
        raise KspecError(Diagnostic("K307", f"model '{model_ir.name}' has no compile section: kspec cannot train it",
                                    model_ir.span, hint))
    settings = train_section(spec, model_ir.name)
    section = next((s for s in spec.train if s.model == model_ir.name), None)
    updates: dict[str, Any] = {}
    if section is not None and section.span is not None:  # relative to the spec's directory, checked to stay inside
        from kspec.spec.source import confined_path

        for key in ("history", "validation_data"):
            if getattr(settings, key):
                updates[key] = str(confined_path(getattr(settings, key), section.at(key)))
    if args.epochs is not None:
        updates["epochs"] = args.epochs
    if args.batch_size is not None:
        updates["batch_size"] = args.batch_size
    if args.val is not None:
        updates.update(validation_data=args.val, validation_split=0.0)
    settings = settings.model_copy(update=updates)
    prefix = Path(args.history or settings.history or out.with_suffix("").as_posix() + ".history")
    inputs.append(settings.validation_data)
    for path in _history_paths(prefix):  # said before training, not after it
        if path.parent.is_dir():  # a missing directory is created when the history is written
            check_output_dir(path, inputs)

    if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
        raise fail_usage("--process-id must be from 0 to --num-processes - 1")
    if args.num_processes > 1 and args.coordinator is None:
        raise fail_usage("--num-processes needs --coordinator HOST:PORT (the address of process 0)")

    from kspec.runtime.data import is_image_folder, load_data, ports
    from kspec.runtime.save import save_model
    from kspec.runtime.training import (
        batch_stream,
        fit,
        make_callbacks,
        seed_everything,
        start_distribution,
        write_history,
    )

    where = section.span if section else model_ir.span  # a refusal from inside fit is reported here
    placement = start_distribution(settings, coordinator=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id, span=where)
    batch = placement.global_batch(settings)
    if batch is not None and batch % max(placement.replicas, placement.num_processes):
        raise KspecError(Diagnostic("K312", f"the global batch of {batch} rows does not split evenly over "
                                    f"{placement.replicas} replicas ({placement.strategy})", where,
                                    "give a batch_size that is a multiple of the number of devices, or "
                                    "batch_size_per_device"))
    seed_everything(settings.seed)
    with placement.scope():
        model = kspec.build(spec, model_ir.name)
    ins, outs = ports(model_ir, model)
    finite = not args.allow_nonfinite
    validation: Any = None
    if is_image_folder(args.data):  # one sub-directory of images per class, streamed by Keras's utility
        x, validation, described = _image_data(args.data, spec, model_ir.name, ins, outs, settings, placement,
                                               batch, where)
        y = None
        settings = settings.model_copy(update={"validation_split": 0.0, "batch_size_per_device": None})
    else:
        train = load_data(args.data, ins, outs, settings.data, check_finite=finite)
        split_validation = None
        if settings.distribution is not None or train.streamed:  # kspec splits off the validation rows itself
            train, split_validation = _even_parts(train, settings.validation_split,
                                                  placement.replicas if settings.distribution else 1)
            settings = settings.model_copy(update={"validation_split": 0.0})
        if placement.num_processes > 1:
            train = train.take(placement.shard(train.rows))
        if batch is not None:
            settings = settings.model_copy(update={"batch_size": batch // placement.num_processes,
                                                   "batch_size_per_device": None})
        if settings.validation_data:
            split_validation = load_data(settings.validation_data, ins, outs, settings.data, check_finite=finite)
        if split_validation is not None:
            if train.streamed or split_validation.streamed:
                validation = batch_stream(split_validation, settings.batch_size)
            else:
                vx, vy = split_validation.fit_arrays()
                vx, vy = placement.arrays(vx, vy, settings.batch_size)
                validation = vx if vy is None else (vx, vy)  # a dataset holds its targets
        x, y = ((batch_stream(train, settings.batch_size, shuffle=settings.shuffle, seed=settings.seed), None)
                if train.streamed else
                placement.arrays(*train.fit_arrays(), settings.batch_size, shuffle=settings.shuffle,
                                 seed=settings.seed, class_weight=settings.class_weight))
        described = f"{train.rows:,} rows"
    callbacks = make_callbacks(settings, section)
    print(f"training '{model.name}' on {described} from {args.data} for {settings.epochs} epoch(s)"
          + (f" ({placement.strategy}, global batch {batch})" if settings.distribution else ""))
    result = fit(model, x, y, settings, validation=validation,
                 callbacks=callbacks, verbose=0 if args.quiet else None, span=where)
    if result.diverged is not None:  # the weights are no model worth saving
        written = write_history(result.history, prefix, inputs) if result.history else []
        for path in written:
            print(f"wrote {path}")
        print(f"kspec: error: training '{model.name}' stopped: the loss became {result.diverged}; "
              f"no model was written to '{out}' (lower the learning rate, or check the data)", file=sys.stderr)
        return EXIT_SPEC
    save_model(model, out, inputs)
    written = write_history(result.history, prefix, inputs) if result.history else []
    state = "interrupted after" if result.interrupted else "trained for"
    print(f"{state} {result.epochs_run} epoch(s); final: " + ", ".join(
        f"{k}={v[-1]:.4g}" for k, v in sorted(result.history.items()) if v))
    print(f"wrote {out}")
    for path in written:
        print(f"wrote {path}")
    for cb in callbacks:
        target = getattr(cb, "filepath", None) or getattr(cb, "log_dir", None) or getattr(cb, "filename", None)
        if isinstance(target, str):
            print(f"{type(cb).__name__}: {target}")
    return 130 if result.interrupted else EXIT_OK
