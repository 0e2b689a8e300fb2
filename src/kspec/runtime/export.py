"""Deployment formats: a Keras model exported to ONNX, TFLite (LiteRT) or a
TensorFlow SavedModel with Keras's own ``model.export``, then run in the
format's own runtime on a random batch and compared with Keras.

What each backend can export (Keras 3.15), and what it needs besides Keras:

============  ==========================  ==========================  ===============================
format        tensorflow                  jax                         torch
============  ==========================  ==========================  ===============================
ONNX          ``tf2onnx`` and ``onnx``    ``jax2onnx``                ``torch.onnx`` (with ``onnx``)
TFLite        TensorFlow's converter      not supported by Keras      ``litert-torch``
SavedModel    TensorFlow                  ``tensorflow`` (jax2tf)     ``torch_xla`` and ``tensorflow``
============  ==========================  ==========================  ===============================

The check runs the artifact in ``onnxruntime`` (ONNX), the LiteRT
interpreter of ``ai-edge-litert`` (TFLite; TensorFlow's ``tf.lite.Interpreter``
when LiteRT is missing) and ``tf.saved_model.load``'s serving signature
(SavedModel), on a seeded random batch of :data:`BATCH` rows (other free
dimensions 8, else 32 or 128 when the model refuses 8; integers below the
smallest vocabulary of the model). Every output's largest absolute
difference from Keras must be at most ``atol * max(1, largest |value| of
the Keras output)``; otherwise nothing is written.

Where Keras leaves room, kspec makes the artifact easier to deploy: a TFLite
model is made of TFLite's builtin operations when the converter can do it
(with a batch of 1 if it must: a recurrent layer over a free time axis), so
a plain LiteRT interpreter runs it; an ONNX model's outputs carry the Keras
output names. The torch backend's ONNX exporter traces the model with each
free dimension set to 1; the check catches a model that then computes
something else (a recurrent layer over a free time axis).

Nothing here imports Keras, a backend framework or an export package at
module level: :func:`format_for`, :func:`export_problem` and
:func:`check_problem` answer before anything heavy is loaded, so that a
command says what is missing before it builds a model.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import math
import os
import re
import secrets
import shutil
import stat
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kspec._atomic import OutputError, atomic_path, check_output, temporary_in_flight

__all__ = [
    "BATCH",
    "FORMATS",
    "Checked",
    "Difference",
    "ExportFailure",
    "Exported",
    "Format",
    "MismatchFailure",
    "atomic_directory",
    "check_directory_output",
    "check_problem",
    "compare",
    "export_model",
    "export_problem",
    "format_for",
    "installed",
    "keras_outputs",
    "name_onnx_outputs",
    "quiet",
    "random_batch",
    "run_exported",
]


@dataclass(frozen=True)
class Format:
    """One deployment format: how the user names it, how Keras names it,
    and the file suffix it is written with (``None``: a directory)."""

    name: str  # as --format takes it
    title: str  # as messages say it
    keras_format: str  # model.export(..., format=...)
    suffix: str | None


FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", "ONNX", "onnx", ".onnx"),
    "tflite": Format("tflite", "TFLite", "litert", ".tflite"),
    "saved_model": Format("saved_model", "SavedModel", "tf_saved_model", None),
}


class ExportFailure(Exception):
    """Keras could not export the model, or the exported model does not
    compute what the Keras model computes (the command exits 1)."""


def format_for(output: str, chosen: str | None = None) -> Format:
    """The format of ``-o output``: its suffix (``.onnx``, ``.tflite``), or a
    directory (a path ending in ``/`` or an existing directory) for a
    SavedModel; ``chosen`` (``--format``) wins, but must not contradict a
    suffix. Raises ``ValueError`` with the message for the user."""
    by_suffix = {f.suffix: f for f in FORMATS.values() if f.suffix}
    suffix = Path(output).suffix.lower()
    is_dir = output.endswith(("/", os.sep)) or Path(output).is_dir()
    implied = FORMATS["saved_model"] if is_dir else by_suffix.get(suffix)
    if chosen is not None:
        fmt = FORMATS[chosen]
        if implied is not None and implied != fmt:
            what = "a directory" if is_dir else f"a {implied.title} file"
            raise ValueError(f"-o '{output}' names {what}, but --format is {chosen}")
        return fmt
    if implied is None:
        shown = f"'{suffix}'" if suffix else f"of '{output}' (no suffix)"
        raise ValueError(f"unknown export format {shown}: use .onnx, .tflite, or a directory for a SavedModel "
                         "(a path ending in '/'), or choose with --format onnx|tflite|saved_model")
    return implied


# --------------------------------------------------------------------------
# what a format needs

#: Import name -> the name pip installs it by.
_DIST = {"tf2onnx": "tf2onnx", "onnx": "onnx", "jax2onnx": "jax2onnx", "litert_torch": "litert-torch",
         "torch_xla": "torch_xla", "tensorflow": "tensorflow", "onnxruntime": "onnxruntime",
         "ai_edge_litert": "ai-edge-litert"}

#: (format, backend) -> the packages Keras needs to export (import names).
_EXPORT_NEEDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("onnx", "tensorflow"): ("onnx", "tf2onnx"),
    ("onnx", "jax"): ("jax2onnx",),
    ("onnx", "torch"): ("onnx",),
    ("tflite", "tensorflow"): (),
    ("tflite", "torch"): ("litert_torch",),
    ("saved_model", "tensorflow"): (),
    ("saved_model", "jax"): ("tensorflow",),
    ("saved_model", "torch"): ("torch_xla", "tensorflow"),
}
#: The packages ``pip install 'kspec[export]'`` brings.
_EXTRA = frozenset({"onnx", "tf2onnx", "onnxruntime", "ai_edge_litert"})

#: What the numerical check runs each format in (import name, as messages name it).
_CHECKERS: dict[str, tuple[tuple[str, str], ...]] = {
    "onnx": (("onnxruntime", "onnxruntime"),),
    "tflite": (("ai_edge_litert", "the LiteRT interpreter"), ("tensorflow", "tf.lite.Interpreter")),
    "saved_model": (("tensorflow", "tf.saved_model"),),
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _install(modules: Sequence[str]) -> str:
    """The pip command that installs ``modules``: kspec's extra when it has them all."""
    if set(modules) <= _EXTRA:
        return "pip install 'kspec[export]'"
    return "pip install " + " ".join(_DIST[m] for m in modules)


def _names(modules: Sequence[str]) -> str:
    quoted = [f"'{_DIST[m]}'" for m in modules]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def export_problem(fmt: Format, backend: str) -> str | None:
    """Why ``fmt`` cannot be exported on ``backend`` here (a backend Keras
    cannot export it from, or a missing package), or ``None``."""
    needs = _EXPORT_NEEDS.get((fmt.name, backend))
    if needs is None:
        able = sorted(b for f, b in _EXPORT_NEEDS if f == fmt.name)
        return (f"Keras cannot export {fmt.title} on the {backend} backend (only on {' and '.join(able)}): "
                f"run with --backend {able[-1] if 'tensorflow' not in able else 'tensorflow'}")
    missing = [m for m in needs if not installed(m)]
    if not missing:
        return None
    word = "package" if len(missing) == 1 else "packages"
    return f"{fmt.title} export on the {backend} backend needs the {_names(missing)} {word}: {_install(missing)}"


def check_problem(fmt: Format) -> str | None:
    """Why the exported ``fmt`` cannot be checked here (its runtime is not
    installed), or ``None``."""
    if any(installed(module) for module, _ in _CHECKERS[fmt.name]):
        return None
    first = _CHECKERS[fmt.name][0][0]
    return (f"checking a {fmt.title} export needs the '{_DIST[first]}' package: {_install([first])} "
            "(or skip the check with --no-check)")


# --------------------------------------------------------------------------
# the random batch and Keras's answer

#: Layer arguments that bound the integers a layer accepts (a vocabulary size).
_INT_BOUNDS = ("input_dim", "num_tokens")
#: Sizes tried, in turn, for the unknown dimensions (besides the batch) of the inputs.
_FREE_SIZES = (8, 32, 128)
#: The batch size of the check.
BATCH = 2


def _layers(model: Any) -> Iterator[Any]:
    """Every layer inside ``model``, nested models and wrappers included."""
    seen: set[int] = set()
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        stack.extend(getattr(layer, "layers", None) or [])
        inner = getattr(layer, "layer", None)
        if inner is not None and hasattr(inner, "get_config"):
            stack.append(inner)


def _int_bound(model: Any) -> int:
    """The exclusive upper bound of random integer inputs: the smallest
    vocabulary (``input_dim``, ``num_tokens``) in the model, else 10."""
    bounds = []
    for layer in _layers(model):
        try:
            config = layer.get_config()
        except Exception:  # a layer without a config has no vocabulary to respect
            continue
        bounds += [v for k, v in config.items() if k in _INT_BOUNDS and isinstance(v, int) and v > 0]
    return min(bounds, default=10)


def _input_names(model: Any) -> list[str]:
    return [t.name.split(":")[0] for t in model.inputs]


def _array(shape: Sequence[int], dtype: str, rng: Any, bound: int) -> Any:
    import numpy as np

    kind = np.dtype(dtype).kind
    if kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if kind in "iu":
        high = min(bound, int(np.iinfo(dtype).max) + 1)
        return rng.integers(0, high, size=shape).astype(dtype)
    if kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    raise ExportFailure(f"cannot make random {dtype} values for the check: skip it with --no-check")


def _structured(model: Any, arrays: list[Any]) -> Any:
    """``arrays`` (in the order of ``model.inputs``) in the structure the
    model was built with: a dict by input name, a list, or one array."""
    structure = getattr(model, "input", None)
    names = _input_names(model)
    if isinstance(structure, dict):
        by_tensor = {id(t): a for t, a in zip(model.inputs, arrays, strict=True)}
        return {key: by_tensor[id(t)] for key, t in structure.items()}
    if isinstance(structure, (list, tuple)) or len(names) > 1:
        return list(arrays)
    return arrays[0]


def random_batch(model: Any, seed: int) -> tuple[dict[str, Any], Any]:
    """A seeded random batch for ``model`` by input name, and Keras's result
    on it (computing it "calls" the model, as ``model.export`` asks). The
    batch is :data:`BATCH` rows; other unknown dimensions are 8, else 32,
    else 128 when the model refuses a size."""
    import numpy as np

    bound = _int_bound(model)
    last: Exception | None = None
    for free in _FREE_SIZES:
        rng = np.random.default_rng(seed)
        arrays = []
        for tensor in model.inputs:
            shape = [BATCH if i == 0 and d is None else (free if d is None else int(d))
                     for i, d in enumerate(tensor.shape)]
            arrays.append(_array(shape, str(np.dtype(tensor.dtype)), rng, bound))
        try:
            result = model(_structured(model, arrays), training=False)
        except Exception as exc:  # the model refuses this size of its unknown dimensions: try a larger one
            last = exc
            if not any(d is None for t in model.inputs for d in list(t.shape)[1:]):
                break
            continue
        return dict(zip(_input_names(model), arrays, strict=True)), result
    from kspec.runtime.lower import clean_keras_message

    raise ExportFailure(f"the model does not run on a random batch: {clean_keras_message(last or Exception())}")


def keras_outputs(model: Any, result: Any) -> dict[str, Any]:
    """Keras's ``result`` (of ``model``) as NumPy arrays, by output name, in
    the order an exported model lists them (a dict's keys sorted)."""
    from kspec.runtime._quiet import import_keras
    from kspec.runtime.data import output_names

    keras = import_keras()
    if isinstance(result, dict):
        return {k: keras.ops.convert_to_numpy(result[k]) for k in sorted(result)}
    flat = list(result) if isinstance(result, (list, tuple)) else [result]
    return {n: keras.ops.convert_to_numpy(t) for n, t in zip(output_names(model), flat, strict=True)}


# --------------------------------------------------------------------------
# comparing


@dataclass(frozen=True)
class Difference:
    """How far one exported output is from Keras's."""

    output: str
    largest: float  # the largest absolute difference (inf: a shape or NaN mismatch)
    tolerance: float  # atol * max(1, largest |value| of Keras's output)
    note: str = ""  # what went wrong besides the size of the difference

    @property
    def ok(self) -> bool:
        return not self.note and self.largest <= self.tolerance


def compare(expected: dict[str, Any], got: dict[str, Any], atol: float) -> list[Difference]:
    """Each of Keras's outputs against the exported model's, matched by name."""
    import numpy as np

    out = []
    for name, want in expected.items():
        want = np.asarray(want, dtype=np.float64)
        finite = want[np.isfinite(want)]
        tolerance = atol * max(1.0, float(np.max(np.abs(finite))) if finite.size else 1.0)
        have = got.get(name)
        if have is None:
            out.append(Difference(name, math.inf, tolerance, "missing from the exported model"))
            continue
        have = np.asarray(have, dtype=np.float64)
        if have.shape != want.shape:
            out.append(Difference(name, math.inf, tolerance, f"shape {have.shape}, Keras gives {want.shape}"))
            continue
        same_nan = np.isnan(want) == np.isnan(have)
        if not same_nan.all():
            out.append(Difference(name, math.inf, tolerance, "NaN where Keras has a number, or the reverse"))
            continue
        both = ~np.isnan(want)
        delta = np.abs(want[both] - have[both])
        largest = float(np.max(delta)) if delta.size else 0.0
        out.append(Difference(name, 0.0 if math.isnan(largest) else largest, tolerance))
    return out


def _match(names: list[str], keys: list[str], values: list[Any]) -> dict[str, Any]:
    """An exported model's outputs (``keys``, in its order) by Keras's output
    names: by name when every name is there, else by position (``output_0``,
    ``output_1`` ... taken in numeric order)."""
    found = dict(zip(keys, values, strict=True))
    if set(names) <= set(found):
        return {n: found[n] for n in names}

    def position(key: str) -> tuple[int, str]:
        match = re.search(r"(\d+)$", key.split(":")[0])
        return (int(match.group(1)) if match else -1, key)

    ordered = [found[k] for k in sorted(keys, key=position)] if all(
        re.fullmatch(r"output_\d+", k) for k in keys) else values
    return dict(zip(names, ordered, strict=False))


def _feed(wanted: list[str], inputs: dict[str, Any]) -> dict[str, Any]:
    """The random inputs keyed by the exported model's input names: by name
    when they agree, else in order."""
    if set(wanted) == set(inputs):
        return {n: inputs[n] for n in wanted}
    return dict(zip(wanted, inputs.values(), strict=False))


# --------------------------------------------------------------------------
# running an exported model


def _run_onnx(path: Path, inputs: dict[str, Any], names: list[str]) -> tuple[str, int, dict[str, Any]]:
    ort = importlib.import_module("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = _feed([i.name for i in session.get_inputs()], inputs)
    values = session.run(None, feed)
    return "onnxruntime", BATCH, _match(names, [o.name for o in session.get_outputs()], values)


def _run_tflite(path: Path, inputs: dict[str, Any], names: list[str]) -> tuple[str, int, dict[str, Any]]:
    if installed("ai_edge_litert"):
        interpreter_class = importlib.import_module("ai_edge_litert.interpreter").Interpreter
        runtime = "the LiteRT interpreter"
    else:  # TensorFlow's own copy of the interpreter, deprecated in favour of LiteRT
        interpreter_class = importlib.import_module("tensorflow").lite.Interpreter
        runtime = "tf.lite.Interpreter"
    interpreter = interpreter_class(model_path=str(path))
    signatures = interpreter.get_signature_list()
    key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
    runner = interpreter.get_signature_runner(key)
    details = runner.get_input_details()
    rows = 1 if details and all(int(d["shape_signature"][0]) == 1 for d in details.values()) else BATCH
    result = runner(**{k: v[:rows] for k, v in _feed(list(signatures[key]["inputs"]), inputs).items()})
    return runtime, rows, _match(names, list(result), list(result.values()))


def _run_saved_model(path: Path, inputs: dict[str, Any], names: list[str]) -> tuple[str, int, dict[str, Any]]:
    tf = importlib.import_module("tensorflow")
    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]
    wanted = list(serve.structured_input_signature[1])
    result = serve(**{k: tf.constant(v) for k, v in _feed(wanted, inputs).items()})
    return "tf.saved_model", BATCH, _match(names, list(result), [v.numpy() for v in result.values()])


_RUNNERS = {"onnx": _run_onnx, "tflite": _run_tflite, "saved_model": _run_saved_model}


def run_exported(fmt: Format, path: Path, inputs: dict[str, Any], names: list[str]
                 ) -> tuple[str, int, dict[str, Any]]:
    """The exported model at ``path`` run on ``inputs`` (by input name) in the
    format's runtime: the runtime's name, the rows it was given (1 for a
    model with a fixed batch of 1), and the outputs by Keras's names."""
    try:
        with quiet():
            return _RUNNERS[fmt.name](path, inputs, names)
    except ExportFailure:
        raise
    except Exception as exc:  # the runtime refuses the artifact: a faulty export, reported as such
        from kspec.runtime.lower import clean_keras_message

        detail = clean_keras_message(exc)
        flex = re.search(r"Node number \d+ \((Flex\w+)\)", detail)
        if "Select TensorFlow op" in detail:
            detail = (f"it uses TensorFlow operations outside TFLite's builtins{f' ({flex[1]})' if flex else ''}, "
                      "which need LiteRT's Flex delegate (--no-check writes it unchecked)")
        raise ExportFailure(f"the exported {fmt.title} model does not run: {detail}") from None


# --------------------------------------------------------------------------
# quiet, and atomic


#: Lines that export tools write to descriptor 2 and that carry no information for a kspec user.
EXPORT_NOISE = re.compile(
    r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU"  # the LiteRT interpreter, at every load
)

#: Log records (``logging``, mostly absl's) of the export tools that say nothing to a kspec user.
LOG_NOISE = re.compile(
    r"Importing a function \(.*\) with ops with unsaved custom gradients"  # a jax2tf SavedModel, loaded to check it
)


class _DropNoise(logging.Filter):
    """Drops the records :data:`LOG_NOISE` matches."""

    def filter(self, record: logging.LogRecord) -> bool:
        return LOG_NOISE.search(record.getMessage()) is None


#: Python warnings of the export tools that say nothing to a kspec user (category, message regex).
_WARNING_NOISE: tuple[tuple[type[Warning], str], ...] = (
    (FutureWarning, r"In the future `np\.object` will be defined"),  # tf2onnx's NumPy 2 patch in Keras
    (DeprecationWarning, r".*"),  # the tools' own deprecations are theirs to fix, not the user's
    (UserWarning, r"Converting a tensor to a Python (boolean|integer|index|number)"),  # torch tracing
    (Warning, r"\s*(Warning: )?tf\.lite\.Interpreter is deprecated"),  # the fallback when LiteRT is missing
)


@contextlib.contextmanager
def quiet(*, trial: bool = False) -> Iterator[None]:
    """Run the block with the export tools' notices dropped: Python warnings
    known to be noise, torch's tracer warnings, and the lines they write to
    descriptor 2 that match :data:`EXPORT_NOISE` or the start-up notices of
    :data:`kspec.runtime._quiet.NOISE`. Every other line and warning still
    reaches the user, unless the block is a ``trial`` whose failure is
    handled (a conversion tried first): then all it writes is dropped."""
    from kspec.runtime._quiet import filtered_stderr

    drop = _DropNoise()
    absl = logging.getLogger("absl")
    absl.addFilter(drop)
    with contextlib.ExitStack() as stack, warnings.catch_warnings():
        stack.callback(absl.removeFilter, drop)
        if trial:
            warnings.simplefilter("ignore")
        for category, message in _WARNING_NOISE:
            warnings.filterwarnings("ignore", message=message, category=category)
        tracer = getattr(sys.modules.get("torch.jit"), "TracerWarning", None)
        if tracer is not None:
            warnings.filterwarnings("ignore", category=tracer)
        with filtered_stderr(EXPORT_NOISE, drop_all=trial):
            yield


#: What a SavedModel directory holds; only such a directory is ever replaced (with --force).
_SAVED_MODEL_ENTRIES = frozenset({"saved_model.pb", "saved_model.pbtxt", "fingerprint.pb", "keras_metadata.pb",
                                  "variables", "assets"})


def _temp_sibling(real: Path) -> Path:
    """A hidden name beside ``real`` in kspec's temporary-file pattern."""
    return real.parent / f".{real.name[:100]}.kspec-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def check_directory_output(target: Path, force: bool) -> Path:
    """Check, before any work, that a SavedModel can be written at the
    directory ``target``: returns the path it lands on (through a symlink).
    An existing non-empty directory is replaced only with ``force`` and
    only when it is a SavedModel. Raises :class:`OutputError`."""
    shown = str(target)
    real = Path(os.path.realpath(target))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        check_output(target)  # its directory: exists, is a directory, is writable
        return real
    except OSError as exc:
        raise OutputError(f"cannot write '{shown}': {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError(f"cannot write '{shown}': it is a file, not a directory")
    entries = sorted(os.listdir(real))
    if entries and not force:
        raise OutputError(f"cannot write '{shown}': the directory is not empty "
                          "(--force replaces it when it holds a SavedModel)")
    foreign = [e for e in entries if e not in _SAVED_MODEL_ENTRIES]
    if entries and (foreign or "saved_model.pb" not in entries):
        what = f"it holds '{foreign[0]}'" if foreign else "it has no saved_model.pb"
        raise OutputError(f"cannot write '{shown}': it is not a SavedModel directory ({what}), "
                          "and kspec replaces nothing else")
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write '{shown}': directory '{real.parent}' is not writable")
    return real


@contextlib.contextmanager
def atomic_directory(target: Path, force: bool) -> Iterator[Path]:
    """A fresh temporary directory path beside ``target`` to export into; it
    takes ``target``'s place when the block finishes and is removed
    otherwise (also on Ctrl-C). An existing SavedModel at ``target`` (with
    ``force``) is moved aside, replaced, then removed."""
    real = check_directory_output(target, force)
    tmp = _temp_sibling(real)
    try:
        with temporary_in_flight(tmp):  # removed on SIGTERM too
            yield tmp
        if not tmp.is_dir():
            raise OutputError(f"cannot write '{target}': nothing was written")
        old: Path | None = None
        if real.is_dir() and os.listdir(real):
            old = _temp_sibling(real)
            os.rename(real, old)
        try:
            os.rename(tmp, real)  # onto a missing or empty directory
        except OSError as exc:
            if old is not None:
                os.rename(old, real)
            raise OutputError(f"cannot write '{target}': {exc.strerror or exc}") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _artifact(target: Path, fmt: Format, force: bool, inputs: Sequence[str | os.PathLike[str] | None]
              ) -> Iterator[Path]:
    """Where to export ``fmt`` so that ``target`` is replaced atomically when
    the block succeeds: a temporary file (with the suffix Keras asks for) or
    a temporary directory."""
    if fmt.suffix is None:
        with atomic_directory(target, force) as tmp:
            yield tmp
        return
    with atomic_path(target, inputs=inputs) as tmp:
        if tmp.suffix == fmt.suffix:
            yield tmp
            return
        scratch = tmp.with_name(tmp.name + fmt.suffix)  # Keras picks the TFLite writer by the suffix
        try:
            yield scratch
            os.replace(scratch, tmp)
        finally:
            with contextlib.suppress(OSError):
                scratch.unlink()


# --------------------------------------------------------------------------
# the export


@dataclass(frozen=True)
class Checked:
    """The outcome of an export's check: the runtime it ran in, the rows of
    the random batch it was given, and each output's difference."""

    runtime: str
    rows: int
    differences: list[Difference]


@dataclass(frozen=True)
class Exported:
    """What :func:`export_model` did: the check (``None`` when skipped), and
    notes for the user about the artifact (a fixed batch size, select ops)."""

    checked: Checked | None
    notes: tuple[str, ...] = ()


class MismatchFailure(ExportFailure):
    """The exported model computes something else than Keras: nothing was written."""

    def __init__(self, checked: Checked, bad: list[Difference], hint: str = "") -> None:
        first = bad[0]
        detail = first.note or f"by {first.largest:.3g}, more than the tolerance {first.tolerance:.3g}"
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        super().__init__(f"the exported model differs from Keras on output '{first.output}': {detail}{more}"
                         f"{f' ({hint})' if hint else ''}")
        self.checked = checked


def _export(model: Any, path: Path, fmt: Format, *, trial: bool = False, **options: Any) -> None:
    """``model.export`` in ``fmt`` to ``path``, its failures as :class:`ExportFailure`
    (a ``trial`` writes nothing to the terminal: its failure is handled)."""
    try:
        with quiet(trial=trial):
            model.export(str(path), format=fmt.keras_format, verbose=False, **options)
    except ImportError as exc:  # a package the backend's exporter imports lazily
        name = (getattr(exc, "name", None) or "").split(".")[0]
        raise ExportFailure(f"{fmt.title} export needs a package that is not installed"
                            f"{f': {name}' if name else ''} ({exc})") from None
    except Exception as exc:  # the converter refuses an operation or a layer of the model
        from kspec.runtime.lower import clean_keras_message

        raise ExportFailure(f"Keras cannot export model '{model.name}' to {fmt.title}: "
                            f"{clean_keras_message(exc)}") from None


def name_onnx_outputs(path: Path, names: list[str]) -> None:
    """Give the outputs of the ONNX model at ``path`` Keras's output names
    (the exporters name a list's outputs ``Identity:0`` or by node number),
    so that a runtime reads them by name. Nothing changes when the names are
    already there, when the counts differ, or when a name is taken inside
    the graph."""
    onnx = importlib.import_module("onnx")
    model = onnx.load(str(path))
    graph = model.graph
    old = [o.name for o in graph.output]
    if old == names or len(old) != len(names) or len(set(names)) != len(names):
        return
    taken = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    taken |= {v for node in graph.node for v in (*node.input, *node.output)}
    if taken & (set(names) - set(old)):
        return
    rename = dict(zip(old, names, strict=True))
    for node in graph.node:
        node.output[:] = [rename.get(v, v) for v in node.output]
        node.input[:] = [rename.get(v, v) for v in node.input]
    for output in graph.output:
        output.name = rename[output.name]
    onnx.save(model, str(path))


def _signature(model: Any, batch: int) -> list[Any]:
    """The model's input signature, as Keras's exporters take it, with the
    batch dimension fixed to ``batch``."""
    from kspec.runtime._quiet import import_keras

    keras = import_keras()

    def spec(tensor: Any) -> Any:
        return keras.InputSpec(shape=(batch, *tuple(tensor.shape)[1:]), dtype=tensor.dtype,
                               name=tensor.name.split(":")[0])

    return [keras.tree.map_structure(spec, model.input)]


def _export_tflite(model: Any, path: Path, fmt: Format) -> str | None:
    """TFLite from TensorFlow's converter, made of TFLite's builtin operations
    when it can be, so that a plain LiteRT interpreter runs it: with a free
    batch size, else with a batch of 1 (a recurrent layer over a free time
    axis lowers to builtins only when the batch is fixed), else as Keras
    makes it by default (TensorFlow "select" ops, which need LiteRT's Flex
    delegate). Returns a note for the user when the result is not the first."""
    tf = importlib.import_module("tensorflow")
    builtins = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    try:
        _export(model, path, fmt, trial=True, **builtins)
        return None
    except ExportFailure:
        pass
    if any(t.shape[0] is None for t in model.inputs):
        try:
            _export(model, path, fmt, trial=True, input_signature=_signature(model, 1), **builtins)
            return ("the TFLite model takes a batch of 1: with a free batch size, TensorFlow's converter "
                    "keeps TensorFlow operations that a plain LiteRT interpreter cannot run")
        except ExportFailure:
            pass
    _export(model, path, fmt)
    return ("the TFLite model uses TensorFlow operations outside TFLite's builtins (select TF ops): "
            "it runs only where LiteRT has the Flex delegate")


#: Why an export from the torch backend can have the wrong shape.
_TORCH_TRACED = ("the torch backend's exporter traces the model with each free dimension set to 1, and a loop "
                 "over such a dimension stays that long; the tensorflow backend exports this model")


def export_model(model: Any, target: Path, fmt: Format, *, atol: float | None, seed: int = 0, force: bool = False,
                 inputs: Sequence[str | os.PathLike[str] | None] = ()) -> Exported:
    """Export ``model`` to ``target`` in ``fmt`` and, unless ``atol`` is
    ``None``, check it against Keras on a random batch (seeded by ``seed``)
    before it takes ``target``'s place. Raises :class:`ExportFailure` when
    Keras cannot export the model or an output differs by more than the
    tolerance (nothing is written then), :class:`OutputError` when
    ``target`` cannot be written."""
    from kspec.runtime._quiet import import_keras
    from kspec.runtime.data import output_names

    backend = import_keras().backend.backend()
    by_name, result = random_batch(model, seed)  # the model must have been called before it can be exported
    expected = keras_outputs(model, result) if atol is not None else {}
    with _artifact(target, fmt, force, inputs) as path:
        note = None
        if fmt.name == "tflite" and backend == "tensorflow":
            note = _export_tflite(model, path, fmt)
        else:
            _export(model, path, fmt)
        if fmt.name == "onnx":
            name_onnx_outputs(path, output_names(model))
        notes = (note,) if note else ()
        if atol is None:
            return Exported(None, notes)
        runtime, rows, got = run_exported(fmt, path, by_name, list(expected))
        expected = {k: v[:rows] for k, v in expected.items()}
        checked = Checked(runtime, rows, compare(expected, got, atol))
        bad = [d for d in checked.differences if not d.ok]
        if bad:
            traced = backend == "torch" and any(d.note.startswith("shape") for d in bad)
            raise MismatchFailure(checked, bad, _TORCH_TRACED if traced else "")
    return Exported(checked, notes)
