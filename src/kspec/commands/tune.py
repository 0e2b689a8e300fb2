"""``kspec tune SPEC --data TRAIN --trials N``: search the spec's parameter spaces with KerasTuner.

Every file parameter with a search space (``param units: int = 64 in [32,
64, 128]``) is tuned; ``-D`` fixes a parameter instead. Each trial builds the
spec with the tuner's values through the normal pipeline, compiles it with
the ``compile`` section and trains it with the ``train`` section on the same
data ``kspec train`` reads. Before the search starts, the spaces are checked
and the model is checked at their corners (as ``kspec check`` does).

The search lives in ``--dir`` (default ``kspec_tune/<spec name>``): run the
same command again after Ctrl-C or a crash and it resumes, without running
finished trials again; ``--trials`` is the total. ``--seed`` makes the
values tried (and the initial weights) the same on every run. At the end:
a table of trials, the best values as ``-D`` options, the spec with those
values as defaults (``--best-spec``), and the best trial's model (``-o``).

Several machines: KerasTuner's distributed mode, set by its environment
variables (``KERASTUNER_TUNER_ID=chief`` on one process, ``tuner0``,
``tuner1`` ... on the others, all with ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT``), with ``--dir`` on a shared file system. The
chief hands out trials and writes the report; workers train.
"""

from __future__ import annotations

import argparse
import json
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

#: The file in a search directory that says which search it holds.
_STAMP = "kspec_tune.json"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the spec file (.kspec, .yaml) with search spaces")
    parser.add_argument("--data", required=True, metavar="TRAIN",
                        help="training data, as kspec train reads it (.npz, .csv, a directory of .npy files)")
    parser.add_argument("--val", metavar="VAL", help="validation data (overrides validation_data/_split)")
    parser.add_argument("--trials", type=int, required=True, metavar="N",
                        help="how many trials the search runs in all (a resumed search counts those done)")
    parser.add_argument("--algorithm", choices=("random", "bayesian", "hyperband"), default="random",
                        help="KerasTuner's search algorithm (default: random)")
    parser.add_argument("--objective", metavar="METRIC[:min|max]",
                        help="what the search optimizes: a metric of the history, e.g. val_loss (the default when "
                             "there is validation data, else loss), val_accuracy:max")
    parser.add_argument("--seed", type=int, metavar="S",
                        help="seed of the search and of each trial's initial weights: the same trials every run")
    parser.add_argument("--dir", metavar="DIR", help="the search's directory, where it resumes from "
                        "(default: kspec_tune/<spec name>)")
    parser.add_argument("-o", "--output", metavar="BEST", help="where to save the best trial's model "
                        "(.keras or .h5; default: <spec name>.best.keras)")
    parser.add_argument("--best-spec", metavar="FILE", help="where to write the spec with the best values as "
                        "defaults (default: <spec name>.best.kspec or .best.yaml)")
    parser.add_argument("--model", metavar="NAME", help="which model to tune when the spec has several")
    parser.add_argument("--epochs", type=int, metavar="N", help="override the spec's epochs for every trial")
    parser.add_argument("--batch-size", type=int, metavar="N", help="override the spec's batch_size")
    add_defines(parser)


def _objective(text: str | None, has_validation: bool) -> tuple[str, str]:
    """(metric, direction) from ``--objective``; the direction is guessed from
    the name (a loss or error goes down) unless ``:min`` or ``:max`` says."""
    if text is None:
        return ("val_loss" if has_validation else "loss"), "min"
    name, _, direction = text.partition(":")
    if direction and direction not in ("min", "max"):
        raise fail_usage(f"--objective {text}: the direction after ':' is min or max")
    if not name.isidentifier():
        raise fail_usage(f"--objective {text}: name a metric of the training history, e.g. val_loss")
    if not direction:
        lowered = name.lower()
        direction = "min" if any(w in lowered for w in ("loss", "error", "crossentropy", "hinge")) else "max"
    return name, direction


def _search_dir(args: argparse.Namespace, spec_path: Path) -> Path:
    """The search directory: a usage error when it is a file, or a directory
    that holds something other than a kspec search (never overwritten)."""
    directory = Path(args.dir) if args.dir else Path("kspec_tune") / spec_path.stem
    if directory.exists() and not directory.is_dir():
        raise fail_usage(f"--dir '{directory}' is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / _STAMP).is_file():
        raise fail_usage(f"'{directory}' holds files that are not a kspec search; give an empty or new --dir")
    return directory


def _stamp(directory: Path, stamp: dict[str, Any], resuming: bool, *, write: bool) -> None:
    """Check that a resumed search in ``directory`` is the same one, and
    (``write``, once the search is open) record which search it holds."""
    from kspec._atomic import write_text_atomic

    path = directory / _STAMP
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if old != stamp:
            raise fail_usage(f"'{directory}' holds another search (a different spec, space, objective or "
                             "algorithm); give another --dir, or remove that one to start again")
        return
    if resuming:
        raise fail_usage(f"'{directory}' holds a search kspec did not start; give another --dir")
    if write:
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(stamp, indent=1) + "\n")



def _data(args: argparse.Namespace, spec: Any, model_name: str, settings: Any) -> tuple[Any, Any, Any, str]:
    """(x, y, validation, description) read as ``kspec train`` reads them."""
    import kspec
    from kspec.runtime.data import is_image_folder, load_data, ports
    from kspec.runtime.training import batch_stream

    if is_image_folder(args.data):
        raise fail_usage(f"'{args.data}' is an image folder; kspec tune reads arrays (.npz, .csv, .npy directory)")
    model = kspec.build(spec, model_name)
    ins, outs = ports(spec.model(model_name), model)
    train = load_data(args.data, ins, outs, settings.data)
    val_path = args.val
    section = next((s for s in spec.train if s.model == model_name), None)
    if val_path is None and settings.validation_data and section is not None:
        from kspec.spec.source import confined_path  # relative to the spec's directory, and kept inside it

        val_path = str(confined_path(settings.validation_data, section.at("validation_data")))
    validation: Any = None
    if val_path:
        val = load_data(val_path, ins, outs, settings.data)
        validation = batch_stream(val, settings.batch_size) if val.streamed else val.fit_arrays()
    if train.streamed:
        return batch_stream(train, settings.batch_size, shuffle=settings.shuffle, seed=settings.seed), None, \
            validation, f"{train.rows:,} rows"
    return *train.fit_arrays(), validation, f"{train.rows:,} rows"


def _table(rows: list[Any], names: list[str], objective: str) -> str:
    """The trials as aligned columns: id, each value, the objective, epochs, status."""
    from kspec.runtime.tune import show_value

    head = ["trial", *names, objective, "epochs", "status"]
    body = [[r.trial_id, *(show_value(r.values[n]) if n in r.values else "-" for n in names),
             f"{r.score:.6g}" if r.score is not None else "-", str(r.epochs) if r.epochs is not None else "-",
             r.status + (f": {r.message}" if r.status != "completed" and r.message else "")] for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head) - 1)]

    def fmt(line: list[str]) -> str:
        return "  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=False)) + "  " + line[-1]

    return "\n".join([fmt(head), *(fmt(line) for line in body)])


def _define(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _best_spec_text(parsed: Any, text: str, spec_path: Path, values: dict[str, Any]) -> str:
    """The spec, printed again, with ``values`` as its parameters' defaults
    (spaces kept; comments kept in .kspec)."""
    from kspec.compiler.pipeline import format_for

    params = [p.model_copy(update={"default": values[p.name]}) if p.name in values else p for p in parsed.params]
    if format_for(str(spec_path)) == "yaml":
        from kspec.spec.yaml_printer import dump_yaml

        return dump_yaml(parsed.model_copy(update={"params": params}))
    from kspec.spec.kspec_form import parse_with_comments
    from kspec.spec.kspec_printer import print_kspec

    spec, comments = parse_with_comments(text, str(spec_path))
    return print_kspec(spec.model_copy(update={"params": params}), comments)


def run(args: argparse.Namespace) -> int:
    from kspec.compiler.pipeline import check, check_corners, expand, format_for, parse_text, read_source
    from kspec.compiler.spaces import spaced_params
    from kspec.spec.diagnostics import KspecError

    spec_path = Path(args.spec)
    if args.trials < 1:
        raise fail_usage("--trials must be at least 1")
    if (args.epochs is not None and args.epochs < 1) or (args.batch_size is not None and args.batch_size < 1):
        raise fail_usage("--epochs and --batch-size must be at least 1")
    for path in (args.data, args.val):
        if path is not None and not Path(path).is_dir():
            check_input_file(path, f"no data file '{path}'")
    out = Path(args.output) if args.output else Path(spec_path.stem + ".best.keras")
    suffix = ".yaml" if format_for(str(spec_path)) == "yaml" else ".kspec"
    best_spec = Path(args.best_spec) if args.best_spec else Path(spec_path.stem + ".best" + suffix)
    inputs = [spec_path, args.data, args.val]
    from kspec.runtime.save import format_of

    try:
        if format_of(out) == ".json":
            raise ValueError("the best model has trained weights: save it as .keras or .h5")
    except ValueError as exc:
        raise fail_usage(str(exc)) from None
    check_output_dir(out, inputs)
    check_output_dir(best_spec, inputs)
    directory = _search_dir(args, spec_path)
    defines = parse_defines(args.define)

    text = read_source(spec_path)
    parsed = parse_text(text, str(spec_path))
    default = check(expand(parsed, defines))
    from kspec.compiler.pipeline import select_model
    from kspec.compiler.sections import train_section
    from kspec.spec.diagnostics import Diagnostic

    model_ir = select_model(default, args.model)
    spaced = [p for p in spaced_params(parsed) if p.name not in defines]
    if not spaced:
        raise KspecError(Diagnostic("K218", "nothing to tune: no parameter has a search space"
                                    + (" that -D leaves open" if spaced_params(parsed) else ""), parsed.span,
                                    "give one: param units: int = 64 in [32, 64, 128]"))
    if not any(s.model == model_ir.name for s in default.compile):
        raise KspecError(Diagnostic("K307", f"model '{model_ir.name}' has no compile section: kspec cannot tune it",
                                    model_ir.span, "add: compile " + model_ir.name + " { optimizer = Adam() "
                                    "loss = mse }"))
    broken = check_corners(parsed, defines)
    if broken:
        raise KspecError(broken)
    settings = train_section(default, model_ir.name)
    has_validation = bool(args.val or settings.validation_data or settings.validation_split)
    objective, direction = _objective(args.objective, has_validation)
    names = [p.name for p in spaced]

    from kspec.runtime import tune as runtime
    from kspec.runtime.save import save_model

    chief = runtime.is_chief()
    x = y = validation = None
    described = "no data (the chief trains nothing)"
    if not chief:
        x, y, validation, described = _data(args, default, model_ir.name, settings)
    from kspec.compiler.spaces import describe

    stamp = {"spec": spec_path.name, "model": model_ir.name, "objective": f"{objective}:{direction}",
             "algorithm": args.algorithm, "space": {p.name: describe(p.space) for p in spaced if p.space},
             "defines": {k: _define(v) for k, v in sorted(defines.items())}}
    resuming = (directory / "oracle.json").is_file() or any(directory.glob("tuner*.json"))
    if not runtime.is_worker():
        _stamp(directory, stamp, resuming, write=False)
    job = runtime.SearchJob(spec=parsed, model=model_ir.name, defines=defines, x=x, y=y, validation=validation,
                            seed=args.seed if settings.seed is None else settings.seed, epochs=args.epochs,
                            batch_size=args.batch_size, out=sys.stdout)
    tuner = runtime.open_tuner(job, algorithm=args.algorithm, objective=objective, direction=direction,
                               trials=args.trials, directory=directory, seed=args.seed)
    if not runtime.is_worker():
        _stamp(directory, stamp, resuming, write=True)
    done = len(runtime.trial_rows(tuner)) if not runtime.is_worker() else 0
    role = " (chief: waiting for workers)" if chief else (" (worker)" if runtime.is_worker() else "")
    print(f"tuning '{model_ir.name}' over {', '.join(names)} on {described}: {args.algorithm} search, "
          f"{args.trials} trial(s), objective {objective} ({direction}) in {directory}{role}"
          + (f"; resuming after {done} trial(s)" if done else ""), flush=True)
    interrupted = False
    try:
        runtime.search(tuner)
    except KeyboardInterrupt:
        interrupted = True
    except RuntimeError as exc:  # KerasTuner gives up after several failed trials in a row
        print(f"kspec: error: the search stopped: {exc}", file=sys.stderr)
        return EXIT_SPEC
    if runtime.is_worker():
        print(f"worker done: ran {job.ran} trial(s); the chief reports the results")
        return 130 if interrupted else EXIT_OK
    rows = runtime.trial_rows(tuner)
    print(f"ran {job.ran} new trial(s); {len(rows)} in all" + ("" if not interrupted else
          " (interrupted: run the same command again to resume)"))
    if rows:
        print(_table(rows, names, objective))
    best = runtime.best_trial(tuner)
    if best is None:
        print("kspec: error: no trial completed", file=sys.stderr)
        return 130 if interrupted else EXIT_SPEC
    values = {n: best.values[n] for n in names if n in best.values}
    print(f"best: trial {best.trial_id}, {objective} {best.score:.6g}")
    print("  " + " ".join(f"-D {n}={_define(v)}" for n, v in values.items()))
    from kspec._atomic import write_text_atomic

    write_text_atomic(best_spec, _best_spec_text(parsed, text, spec_path, values), inputs=inputs)
    print(f"wrote {best_spec} (the spec with the best values as defaults)")
    model = runtime.best_model(tuner)
    save_model(model, out, inputs)
    print(f"wrote {out} (model '{model.name}', {model.count_params():,} parameters, trial {best.trial_id}'s "
          "weights at its best epoch)")
    return 130 if interrupted else EXIT_OK
