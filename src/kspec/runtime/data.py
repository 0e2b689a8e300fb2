"""Training data: ``.npz`` and CSV files, checked against the spec.

``.npz``: arrays keyed by the spec's input and output names; a model with
one input and one output also accepts ``x`` and ``y``.

CSV: columns mapped to inputs and outputs by the train section's ``data``
mapping (:class:`kspec.spec.settings.DataMapping`); without one, a
single-input, single-output model with a 1-D input of width N takes the
first N columns as its input and the rest as its target.

Before any training, :func:`check_arrays` compares every array with the
spec: a missing or unknown name, a wrong shape, a dtype that does not fit,
or a row count that differs from the others is one clear error naming the
input (or output) and both shapes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.settings import DataMapping

__all__ = ["Dataset", "Port", "check_arrays", "load_data", "output_names", "ports", "saved_ports"]


@dataclass(frozen=True)
class Port:
    """One model input or output as data must match it."""

    name: str
    shape: tuple[int | None, ...]  # without the batch dimension
    dtype: str
    span: ir.Span | None = None


@dataclass
class Dataset:
    """Arrays keyed by input and output name, checked."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    rows: int


def output_names(keras_model: Any) -> list[str]:
    """Output names of a built model (a Sequential model: its last layer's name)."""
    names = getattr(keras_model, "output_names", None)
    if names:
        return list(names)
    return [keras_model.layers[-1].name]


def ports(spec_model: ir.Model, keras_model: Any) -> tuple[list[Port], list[Port]]:
    """The inputs (from the spec) and outputs (from the built model)."""
    if isinstance(spec_model, ir.FunctionalModel):
        ins = [Port(i.name, tuple(i.shape), i.dtype, i.span) for i in spec_model.inputs]
    else:
        names = [t.name.split(":")[0] for t in keras_model.inputs]
        declared = spec_model.input
        ins = [Port(declared.name if declared is not None else names[0],
                    tuple(keras_model.inputs[0].shape[1:]), str(keras_model.inputs[0].dtype),
                    declared.span if declared is not None else spec_model.span)]
    outs = [Port(name, tuple(t.shape[1:]), str(t.dtype), spec_model.span)
            for name, t in zip(output_names(keras_model), keras_model.outputs, strict=True)]
    return ins, outs


def _shape(s: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


def _error(message: str, span: ir.Span | None, hint: str | None = None) -> KspecError:
    return KspecError(Diagnostic("K401", message, span, hint))


def load_data(path: str | Path, ins: list[Port], outs: list[Port], mapping: DataMapping | None = None,
              *, need_targets: bool = True) -> Dataset:
    """Read ``path`` (``.npz`` or ``.csv``) and check it against the ports.

    ``OSError`` for a missing file; :class:`KspecError` for data that does
    not fit the model."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = _read_npz(path)
    elif suffix == ".csv":
        arrays = _read_csv(path, ins, outs, mapping, need_targets)
    else:
        raise _error(f"{path}: unknown data format '{suffix}'", None, "use a .npz or .csv file")
    return check_arrays(arrays, ins, outs, str(path), need_targets=need_targets)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:  # object arrays need pickle: refuse
        raise _error(f"{path}: cannot read arrays: {exc}", None) from None
    except (OSError, EOFError) as exc:
        if not path.exists():
            raise
        raise _error(f"{path}: not a valid .npz file ({exc})", None) from None


def _read_csv(path: Path, ins: list[Port], outs: list[Port], mapping: DataMapping | None,
              need_targets: bool) -> dict[str, np.ndarray]:
    mapping = mapping or DataMapping()
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter=mapping.delimiter))
    rows = [r for r in rows if r]
    if mapping.header:
        if not rows:
            raise _error(f"{path}: the CSV file is empty", None)
        header, rows = rows[0], rows[1:]
    else:
        header = [str(i) for i in range(len(rows[0]) if rows else 0)]
    try:
        table = np.array([[float(v) for v in r] for r in rows], dtype="float64").reshape(len(rows), len(header))
    except ValueError as exc:
        raise _error(f"{path}: every CSV value must be a number with the same count per row ({exc})", None) from None
    index = {name: i for i, name in enumerate(header)}

    def columns(port: Port, cols: str | list[str]) -> np.ndarray:
        cols = [cols] if isinstance(cols, str) else cols
        for c in cols:
            if c not in index:
                raise _error(f"{path}: no column '{c}' for '{port.name}'", port.span, did_you_mean(c, header))
        picked = table[:, [index[c] for c in cols]]
        return picked[:, 0] if isinstance(cols, list) and len(cols) == 1 and port.shape == () else picked

    out: dict[str, np.ndarray] = {}
    if mapping.inputs or mapping.outputs:
        for port in ins:
            if port.name in mapping.inputs:
                out[port.name] = columns(port, mapping.inputs[port.name])
        for port in outs:
            if port.name in mapping.outputs:
                out[port.name] = columns(port, mapping.outputs[port.name])
    elif len(ins) == 1 and len(outs) == 1:
        width = ins[0].shape[0] if len(ins[0].shape) == 1 else None
        n_in = width if width is not None and width < len(header) else len(header) - int(need_targets)
        out["x"] = table[:, :n_in]
        if need_targets:
            out["y"] = table[:, n_in:]
    else:
        raise _error(f"{path}: a model with several inputs or outputs needs a 'data' mapping of CSV columns",
                     None, "add data: {inputs: {name: [col, ...]}, outputs: {name: col}} to the train section")
    for port in ins:  # CSV holds floats; integer inputs (token ids, classes) take whole numbers
        if port.name in out and "int" in port.dtype and np.all(np.mod(out[port.name], 1) == 0):
            out[port.name] = out[port.name].astype(port.dtype)
    return out


def _fits(array: np.ndarray, port: Port, is_target: bool) -> bool:
    kind = array.dtype.kind
    if kind not in "biuf":
        return False
    if not is_target and ("int" in port.dtype or port.dtype == "bool"):
        return kind in "biu"
    return True


def _shape_ok(data: tuple[int, ...], declared: tuple[int | None, ...], is_target: bool) -> bool:
    def same(a: tuple[int, ...], b: tuple[int | None, ...]) -> bool:
        return len(a) == len(b) and all(d is None or d == s for s, d in zip(a, b, strict=True))

    if same(data, declared):
        return True
    if is_target and declared:  # sparse labels, or a trailing unit axis
        if same(data, declared[:-1]) or same(data, (*declared[:-1], 1)):
            return True
        if declared[-1] == 1 and same(data, declared[:-1]):
            return True
    return False


def check_arrays(arrays: dict[str, np.ndarray], ins: list[Port], outs: list[Port], source: str = "<data>",
                 *, need_targets: bool = True) -> Dataset:
    """Match arrays to ports (by name, or ``x``/``y``) and check each one."""
    arrays = dict(arrays)
    if len(ins) == 1 and len(outs) == 1:
        if "x" in arrays and ins[0].name not in arrays:
            arrays[ins[0].name] = arrays.pop("x")
        if "y" in arrays and outs[0].name not in arrays:
            arrays[outs[0].name] = arrays.pop("y")
    wanted = [(p, False) for p in ins] + ([(p, True) for p in outs] if need_targets else [])
    names = [p.name for p, _ in wanted]
    for key in arrays:
        if key not in names and not (not need_targets and key in [p.name for p in outs]) and key != "y":
            raise _error(f"{source}: array '{key}' is not an input or output of the model", None,
                         did_you_mean(key, names) or f"expected arrays: {', '.join(names)}")
    x: dict[str, np.ndarray] = {}
    y: dict[str, np.ndarray] = {}
    rows: int | None = None
    first = ""
    for port, is_target in wanted:
        what = "output" if is_target else "input"
        if port.name not in arrays:
            raise _error(f"{source}: missing array for {what} '{port.name}' (expected shape "
                         f"{_shape((None, *port.shape))})", port.span,
                         f"the file has: {', '.join(arrays) or 'no arrays'}")
        a = np.asarray(arrays[port.name])
        if a.ndim == 0 or not _shape_ok(tuple(a.shape[1:]), port.shape, is_target):
            raise _error(f"{source}: {what} '{port.name}' has shape {_shape(tuple(a.shape))} but the model expects "
                         f"{_shape((None, *port.shape))}", port.span)
        if not _fits(a, port, is_target):
            raise _error(f"{source}: {what} '{port.name}' has dtype {a.dtype} but the model expects {port.dtype}",
                         port.span, "integer inputs (token ids) need integer arrays" if "int" in port.dtype else None)
        if rows is None:
            rows, first = a.shape[0], port.name
        elif a.shape[0] != rows:
            raise _error(f"{source}: {what} '{port.name}' has {a.shape[0]} rows but '{first}' has {rows}", port.span)
        (y if is_target else x)[port.name] = a
    if not rows:
        raise _error(f"{source}: the data has no rows", None)
    return Dataset(x, y, rows)


def saved_ports(keras_model: Any) -> tuple[list[Port], list[Port]]:
    """Inputs and outputs of a loaded Keras model (no spec at hand)."""
    ins = [Port(t.name.split(":")[0], tuple(t.shape[1:]), str(t.dtype)) for t in keras_model.inputs]
    outs = [Port(name, tuple(t.shape[1:]), str(t.dtype))
            for name, t in zip(output_names(keras_model), keras_model.outputs, strict=True)]
    return ins, outs
