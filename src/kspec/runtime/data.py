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
input (or output) and both shapes. With ``check_finite``, a NaN or infinite
value is an error naming the array (or CSV column) and its first row.

Reading is bounded (:mod:`kspec.spec.limits`): a ``.npz`` member or array
larger than ``array_bytes`` (1 GiB by default), or a file that unpacks to
more than ``data_bytes`` (2 GiB) in all, is refused from the sizes the
archive and the ``.npy`` headers declare, before anything is allocated. Only regular
files are read (never a FIFO or a device), and never a pickle.
"""

from __future__ import annotations

import csv
import math
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from kspec.spec import ir, limits
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.limits import Limits
from kspec.spec.settings import DataMapping

__all__ = [
    "Dataset",
    "Port",
    "check_arrays",
    "check_finite",
    "load_data",
    "output_names",
    "ports",
    "saved_ports",
]

#: The hint of a refusal by a NaN or infinite value.
_NONFINITE_HINT = "fix or remove that row, or pass --allow-nonfinite to use the data as it is"


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
              *, need_targets: bool = True, bounds: Limits | None = None,
              check_finite: bool = False) -> Dataset:
    """Read ``path`` (``.npz`` or ``.csv``) and check it against the ports.

    ``OSError`` for a missing file; :class:`KspecError` for data that does
    not fit the model, a file that is not what its suffix says, one larger
    than ``bounds`` (the limits in force), or (with ``check_finite``) a NaN or infinite value."""
    path = Path(path)
    bounds = bounds or limits.current()
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise _error(f"{path}: unknown data format '{suffix}'", None, "use a .npz or .csv file")
    size = _regular_size(path)
    if suffix == ".npz":
        arrays = _read_npz(path, bounds)
    else:
        if size > bounds.data_bytes:
            raise _too_big(f"{path}: the CSV file is {_bytes(size)}", bounds.data_bytes, "data_bytes")
        arrays = _read_csv(path, ins, outs, mapping, need_targets, check_finite)
    data = check_arrays(arrays, ins, outs, str(path), need_targets=need_targets)
    if check_finite and suffix == ".npz":
        _check_finite_arrays(data, ins, outs, str(path))
    return data


def _regular_size(path: Path) -> int:
    """The size of ``path``; a data error when it is not a regular file
    (a FIFO or a device would block or never end). ``OSError`` when missing."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a special file")
        raise _error(f"{path}: not a regular file (it is {kind}); data is read from regular files only", None)
    return st.st_size


def _bytes(n: int) -> str:
    """``n`` bytes for a person: ``149.0 GiB``, ``512.0 MiB``, ``77 bytes``."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover - the loop always returns


def _too_big(what: str, limit: int, name: str) -> KspecError:
    return _error(f"{what}, more than the limit of {_bytes(limit)}", None,
                  f"raise the limit with --limit {name}=SIZE (e.g. {name}=4G)")


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def _read_npz(path: Path, bounds: Limits) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` file, read within ``bounds`` and without pickle."""
    with path.open("rb") as fh:
        head = fh.read(6)
        if head[:4] not in _ZIP_MAGIC:
            reason = ("the file is empty" if not head else "it is a single .npy array, not a .npz archive"
                      if head == _NPY_MAGIC else "it is not a zip archive")
            raise _error(f"{path}: not a valid .npz file ({reason})", None,
                         "write data with numpy.savez(path, name=array, ...)")
        fh.seek(0)
        try:
            with zipfile.ZipFile(fh) as archive:
                return _read_members(path, archive, bounds)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise _error(f"{path}: not a valid .npz file ({exc})", None) from None


def _read_members(path: Path, archive: zipfile.ZipFile, bounds: Limits) -> dict[str, np.ndarray]:
    """Every member of an open ``.npz`` archive as an array, sizes checked first."""
    members = [m for m in archive.infolist() if not m.is_dir()]
    total = 0
    for member in members:
        if member.file_size > bounds.array_bytes:
            raise _too_big(f"{path}: member '{member.filename}' unpacks to {_bytes(member.file_size)}",
                           bounds.array_bytes, "array_bytes")
        total += member.file_size
    if total > bounds.data_bytes:
        raise _too_big(f"{path}: the archive unpacks to {_bytes(total)}", bounds.data_bytes, "data_bytes")
    arrays: dict[str, np.ndarray] = {}
    for member in members:
        key = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
        with archive.open(member) as fh:
            _check_npy_header(path, key, fh, member.file_size, bounds)
        with archive.open(member) as fh:
            try:
                arrays[key] = np.lib.format.read_array(fh, allow_pickle=False)
            except ValueError as exc:
                raise _error(f"{path}: cannot read array '{key}': {exc}", None) from None
    return arrays


def _check_npy_header(path: Path, key: str, fh: IO[bytes], stored: int, bounds: Limits) -> None:
    """Refuse a member whose ``.npy`` header declares an array that is too
    large, larger than the member holds, or made of Python objects (pickle)."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not read by kspec")
    except (ValueError, EOFError) as exc:
        raise _error(f"{path}: member '{key}' is not a valid .npy array ({exc})", None) from None
    if dtype.hasobject:
        raise _error(f"{path}: cannot read arrays: array '{key}' holds Python objects, which only pickle can "
                     "load, and kspec never unpickles data", None, "save numeric arrays")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > bounds.array_bytes:
        raise _too_big(f"{path}: array '{key}' {_shape(tuple(shape))} {dtype} needs {_bytes(nbytes)}",
                       bounds.array_bytes, "array_bytes")
    if nbytes > stored - fh.tell():
        raise _error(f"{path}: not a valid .npz file (array '{key}' {_shape(tuple(shape))} {dtype} needs "
                     f"{_bytes(nbytes)} but its member holds {_bytes(max(stored - fh.tell(), 0))})", None)


def _first_nonfinite(values: np.ndarray) -> tuple[int, int, float] | None:
    """(row, column, value) of the first NaN or infinite value of a 2-D array, row by row."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    flat = int(np.argmax(bad.reshape(-1)))
    row, col = divmod(flat, values.shape[1])
    return row, col, float(values[row, col])


def _describe(value: float) -> str:
    return "a NaN value" if math.isnan(value) else "an infinite value"


def check_finite(arrays: dict[str, np.ndarray], ports: list[Port], what: str, source: str) -> None:
    """A data error at the first NaN or infinite value of a float array,
    naming the array and the row (counted from 0, as in ``array[row]``)."""
    spans = {p.name: p.span for p in ports}
    for name, array in arrays.items():
        if array.dtype.kind not in "fc" or array.size == 0:
            continue
        found = _first_nonfinite(array.reshape(array.shape[0], -1))
        if found is not None:
            row, _, value = found
            raise _error(f"{source}: {what} '{name}' has {_describe(value)} in row {row} (rows count from 0)",
                         spans.get(name), _NONFINITE_HINT)


def _check_finite_arrays(data: Dataset, ins: list[Port], outs: list[Port], source: str) -> None:
    check_finite(data.x, ins, "input", source)
    check_finite(data.y, outs, "output", source)


def _read_csv(path: Path, ins: list[Port], outs: list[Port], mapping: DataMapping | None,
              need_targets: bool, finite: bool = False) -> dict[str, np.ndarray]:
    mapping = mapping or DataMapping()
    rows: list[list[str]] = []
    lines: list[int] = []  # the line each row ends on, for messages
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=mapping.delimiter)
        for record in reader:
            if record:
                rows.append(record)
                lines.append(reader.line_num)
    if mapping.header:
        if not rows:
            raise _error(f"{path}: the CSV file is empty", None)
        header, rows, lines = rows[0], rows[1:], lines[1:]
    else:
        header = [str(i) for i in range(len(rows[0]) if rows else 0)]
    try:
        table = np.array([[float(v) for v in r] for r in rows], dtype="float64").reshape(len(rows), len(header))
    except ValueError as exc:
        raise _error(f"{path}: every CSV value must be a number with the same count per row ({exc})", None) from None
    index = {name: i for i, name in enumerate(header)}

    used: list[int] = []

    def columns(port: Port, cols: str | list[str]) -> np.ndarray:
        cols = [cols] if isinstance(cols, str) else cols
        for c in cols:
            if c not in index:
                raise _error(f"{path}: no column '{c}' for '{port.name}'", port.span, did_you_mean(c, header))
        used.extend(index[c] for c in cols)
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
        used.extend(range(n_in))
        if need_targets:
            out["y"] = table[:, n_in:]
            used.extend(range(n_in, len(header)))
    else:
        raise _error(f"{path}: a model with several inputs or outputs needs a 'data' mapping of CSV columns",
                     None, "add data: {inputs: {name: [col, ...]}, outputs: {name: col}} to the train section")
    if finite and used:
        picked = sorted(set(used))
        found = _first_nonfinite(table[:, picked])
        if found is not None:
            row, col, value = found
            name = f"'{header[picked[col]]}'" if mapping.header else str(picked[col] + 1)
            raise _error(f"{path}: column {name} has {_describe(value)} on line {lines[row]}", None,
                         _NONFINITE_HINT)
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
