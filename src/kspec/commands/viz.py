"""``kspec viz MODEL_OR_SPEC [--images DIR_OR_FILES] [--classes FILE] -o report.html``:
one self-contained web page showing a model's architecture and what each of
its layers computes for the user's own images.

The page holds the layer graph (shapes on the edges, parameter counts,
shared layers and sub-models marked, a spec's blocks collapsible), and for
each image the activation maps of every convolution, pooling and
normalization layer, the top-k predictions (with class names from
``--classes``) and a Grad-CAM heat map where the backend can take
gradients. Sequence and vector models show heat maps over time or units
for the rows of ``--inputs FILE.npz``. Everything is inlined: the page
opens with no network. ``--serve`` serves the same page from 127.0.0.1
and computes activations when the page asks for them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kspec._atomic import write_text_atomic
from kspec.commands._common import (
    EXIT_OK,
    add_defines,
    add_plugins,
    check_input_file,
    check_output_dir,
    fail_usage,
    load_plugins,
    parse_defines,
)
from kspec.spec.source import spec_suffix

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="MODEL_OR_SPEC",
                        help="a spec (.kspec, .yaml) to compile, or a saved model (.keras, .h5)")
    parser.add_argument("--images", nargs="+", metavar="DIR_OR_FILE",
                        help="images to run the model on (files, or directories whose image files are taken in "
                             "name order); each is resized to the model's input")
    parser.add_argument("--inputs", metavar="FILE.npz",
                        help="for a model without an image input: an .npz of input arrays (keyed by input name, "
                             "or one array); its first rows are shown")
    parser.add_argument("--classes", metavar="FILE", help="class names, one per line, in output order")
    parser.add_argument("--top-k", type=int, default=5, metavar="K", help="predictions shown per image (default 5)")
    parser.add_argument("-o", "--output", metavar="REPORT.html", help="the page to write")
    parser.add_argument("--model", metavar="NAME", help="which model of a spec (default: the last one)")
    parser.add_argument("--max-images", type=int, default=16, metavar="N",
                        help="at most N images or input rows (default 16)")
    parser.add_argument("--max-maps", type=int, default=64, metavar="N",
                        help="at most N channel maps per layer (default 64)")
    parser.add_argument("--map-size", type=int, default=64, metavar="PX",
                        help="larger maps are shrunk to this side in pixels (default 64)")
    parser.add_argument("--serve", action="store_true",
                        help="serve the page from 127.0.0.1 and compute activations on demand (Ctrl-C stops)")
    parser.add_argument("--port", type=int, default=8000, metavar="N", help="the port for --serve (default 8000; "
                        "0 picks a free one)")
    add_defines(parser)
    add_plugins(parser)


@dataclass
class Loaded:
    """A model ready to look at: the Keras model, the spec's blocks (when it
    came from a spec) and the name to show."""

    model: Any
    title: str
    groups: list[dict[str, Any]]
    membership: dict[str, list[str]]


def _positive(value: int, flag: str, at_most: int) -> int:
    if not 1 <= value <= at_most:
        raise fail_usage(f"{flag} must be between 1 and {at_most}, got {value}")
    return value


def read_classes(path: str) -> list[str]:
    """Class names, one per non-empty line."""
    check_input_file(path, f"no class names file '{path}'")
    with open(path, encoding="utf-8") as fh:
        names = [line.strip() for line in fh if line.strip()]
    if not names:
        raise fail_usage(f"'{path}' holds no class names (one per line)")
    return names


def options(**given: Any) -> argparse.Namespace:
    """The command's options with their defaults, as ``kspec.viz`` passes them."""
    parser = argparse.ArgumentParser(add_help=False)
    configure(parser)
    args = parser.parse_args(["-"])
    for key, value in given.items():
        if not hasattr(args, key):
            raise TypeError(f"unknown option '{key}'")
        setattr(args, key, value)
    return args


def from_model(model: Any) -> Loaded:
    """A Keras model already in memory (no spec: no blocks)."""
    return Loaded(model, str(model.name), [], {})


def load_target(args: argparse.Namespace) -> Loaded:
    """The model to show: a spec compiled through the normal pipeline, or a
    saved model loaded as ``kspec evaluate`` loads it."""
    target = str(args.target)
    if spec_suffix(target):
        import kspec
        from kspec.commands._viz_page import block_groups
        from kspec.compiler.pipeline import select_model
        from kspec.compiler.shapes import infer_spec

        check_input_file(target, f"no spec file '{target}'")
        spec = kspec.load(target, defines=parse_defines(args.define))
        load_plugins(args.plugin)
        model = kspec.build(spec, args.model)
        name = select_model(spec, args.model).name
        present = {layer.name for layer in model.layers}
        groups, membership = block_groups(infer_spec(spec).models[name], present)
        return Loaded(model, f"{name} ({Path(target).name})", groups, membership)
    if Path(target).suffix.lower() not in MODEL_SUFFIXES:
        raise fail_usage(f"'{target}' is neither a spec (.kspec, .yaml) nor a saved model (.keras, .h5)")
    if args.define:
        raise fail_usage("-D sets a spec's parameters; a saved model has none")
    load_plugins(args.plugin)
    from kspec.commands.predict import load_saved

    model = load_saved(target)
    return Loaded(model, f"{model.name} ({Path(target).name})", [], {})


def build_graph(loaded: Loaded) -> dict[str, Any]:
    """The graph part of the page's data: laid-out nodes, edges, blocks."""
    from kspec.commands._viz_page import layout
    from kspec.runtime.viz import layer_graph, viewable_layers

    graph = layer_graph(loaded.model)
    viewable = {layer.name for layer in viewable_layers(loaded.model)}
    for node in graph["nodes"]:
        node["groups"] = loaded.membership.get(node["id"], [])
        node["view"] = node["id"] in viewable
    layout(graph["nodes"], graph["edges"])
    used = {g for n in graph["nodes"] for g in n["groups"]}
    groups = [g for g in loaded.groups if g["id"] in used]
    collapsed = [g["id"] for g in groups if g["parent"] is None] if len(graph["nodes"]) > 100 else []
    return {"nodes": graph["nodes"], "edges": graph["edges"], "groups": groups, "collapsed": collapsed}


def facts(model: Any) -> str:
    """The header's one line: parameters, trainable and not, backend."""
    import math

    from kspec.runtime._quiet import import_keras

    keras = import_keras()
    total = int(model.count_params())
    trainable = int(sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights))
    return (f"{type(model).__name__} \u00b7 {total:,} parameters ({trainable:,} trainable, "
            f"{total - trainable:,} non-trainable) \u00b7 backend {keras.backend.backend()}")


def gather_samples(args: argparse.Namespace, model: Any) -> tuple[list[Any], list[str]]:
    """The inputs to show (images or rows of an .npz) and notes about limits."""
    from kspec.runtime.viz import VizError, image_input, list_images, read_images, read_rows

    limit = _positive(args.max_images, "--max-images", 1000)
    notes: list[str] = []
    try:
        if args.images and args.inputs:
            raise fail_usage("give --images or --inputs, not both")
        if args.images:
            port = image_input(model)
            files, total = list_images(args.images, limit)
            if total > len(files):
                notes.append(f"showing the first {len(files)} of {total} images (--max-images raises the limit)")
            return read_images(files, port), notes
        if args.inputs:
            check_input_file(args.inputs, f"no inputs file '{args.inputs}'")
            rows, total = read_rows(Path(args.inputs), model, limit)
            if total > len(rows):
                notes.append(f"showing the first {len(rows)} of {total} rows (--max-images raises the limit)")
            return rows, notes
    except VizError as exc:
        raise fail_usage(str(exc)) from None
    return [], notes


def check_classes(model: Any, classes: list[str] | None) -> None:
    """A usage error when the class names do not match the model's output."""
    if classes is None:
        return
    outputs = list(model.outputs)
    units = tuple(outputs[0].shape)[1:] if len(outputs) == 1 else None
    if units is None or len(units) != 1:
        raise fail_usage("--classes needs a model with one output of shape (None, classes)")
    if units[0] not in (len(classes), None) and not (units[0] == 1 and len(classes) == 2):
        raise fail_usage(f"--classes names {len(classes)} classes but the model's output has {units[0]} units")


@dataclass
class Inputs:
    """What the activations are computed from: the samples, the class names
    and the bounds (kept for the server, which computes them later)."""

    samples: list[Any]
    classes: list[str] | None
    limits: Any


def page_data(args: argparse.Namespace, loaded: Loaded, *, lazy: bool = False) -> tuple[dict[str, Any], Inputs]:
    """Everything the page shows (with ``lazy``, no activations: the server
    computes them on demand) and the inputs they come from."""
    from kspec.runtime.viz import VizLimits, sample_views

    classes = read_classes(args.classes) if args.classes else None
    check_classes(loaded.model, classes)
    limits = VizLimits(images=args.max_images, maps=_positive(args.max_maps, "--max-maps", 4096),
                       tile=_positive(args.map_size, "--map-size", 1024), top_k=_positive(args.top_k, "--top-k", 1000))
    samples, notes = gather_samples(args, loaded.model)
    data: dict[str, Any] = {"title": loaded.title, "facts": facts(loaded.model), "notes": notes,
                            **build_graph(loaded), "serve": lazy}
    if lazy:
        data["samples"] = [{"label": s.label, "image": s.preview} for s in samples]
    else:
        data["samples"] = sample_views(loaded.model, samples, classes, limits)
    if not samples:
        data["no_samples"] = ("No inputs given: pass --images (an image model) or --inputs FILE.npz to see what "
                              "each layer computes.")
    return data, Inputs(samples, classes, limits)


def run(args: argparse.Namespace) -> int:
    if not args.serve and not args.output:
        raise fail_usage("give -o REPORT.html to write the page, or --serve to serve it")
    out = Path(args.output) if args.output else None
    inputs = [args.target, args.classes, args.inputs, *(args.images or [])]
    if out is not None:
        if out.suffix.lower() not in (".html", ".htm"):
            raise fail_usage(f"cannot write '{out}': the page is HTML, give a name ending in .html")
        check_output_dir(out, inputs)
    loaded = load_target(args)
    data, given = page_data(args, loaded, lazy=args.serve)
    from kspec.commands._viz_page import render_page

    if out is not None:
        static = data
        if args.serve:  # the file holds everything, whatever the server computes lazily
            from kspec.runtime.viz import sample_views

            static = {**data, "serve": False,
                      "samples": sample_views(loaded.model, given.samples, given.classes, given.limits)}
        write_text_atomic(out, render_page(static), inputs=inputs)
        count = len(given.samples)
        print(f"wrote {out} ({len(data['nodes'])} layers, {count} input{'s' if count != 1 else ''})")
    if args.serve:
        from kspec.commands._viz_serve import serve

        serve(loaded.model, data, given, args.port)
    return EXIT_OK
