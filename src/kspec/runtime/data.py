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

Data larger than memory is streamed, never read whole:

- a directory of ``.npy`` files (``<name>.npy`` per input and output, or
  ``x.npy`` and ``y.npy``) is memory-mapped: each array is a
  :class:`DiskArray`, whose rows are read a batch at a time through a
  short-lived memory map (so the pages read do not stay resident);
- a CSV file larger than :data:`STREAM_BYTES` is parsed in chunks of
  :data:`CSV_CHUNK_ROWS` rows by numpy (``np.loadtxt``, not row by row in
  Python) into temporary ``.npy`` files, one per input and output, which kspec
  removes when it exits.

Both are checked like arrays in memory (names, shapes, dtypes, rows, and
NaN or infinite values chunk by chunk) and reach ``fit`` as a
``keras.utils.PyDataset`` (:mod:`kspec.runtime.training`). The size limits
bound what is held in memory, so they do not apply to streamed data.

An image folder (one sub-directory of images per class) is indexed and
checked by :func:`read_image_folder` (the input's shape, the output's units
against the class folders, every image opened once by Pillow) and streamed
by ``keras.utils.image_dataset_from_directory``
(:func:`kspec.runtime.training.image_stream`).
"""

from __future__ import annotations

import atexit
import csv
import itertools
import math
import mmap
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from kspec.spec import ir, limits
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.limits import Limits
from kspec.spec.settings import DataMapping

__all__ = [
    "COLOR_MODES",
    "CSV_CHUNK_ROWS",
    "IMAGE_SUFFIXES",
    "STREAM_BYTES",
    "Dataset",
    "DiskArray",
    "ImageFolder",
    "Port",
    "check_arrays",
    "check_finite",
    "is_image_folder",
    "load_data",
    "output_names",
    "ports",
    "read_image_folder",
    "saved_ports",
    "sparse_loss",
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


#: CSV files larger than this are streamed (see the module's docstring).
STREAM_BYTES = 256 << 20
#: Rows of a streamed CSV file parsed at a time.
CSV_CHUNK_ROWS = 65_536


class DiskArray:
    """A ``.npy`` array on disk, or a range of its rows (``start``, ``stop``,
    ``step``), read only by :meth:`read`, each time through a new memory map
    that is closed again, so what was read does not stay resident."""

    def __init__(self, path: Path, offset: int, dtype: np.dtype[Any], shape: tuple[int, ...],
                 rows: range | None = None) -> None:
        self.path, self.offset, self.dtype, self.full_shape = path, offset, dtype, shape
        self.rows = rows if rows is not None else range(shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.full_shape[1:])

    @property
    def ndim(self) -> int:
        return len(self.full_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, rows: slice) -> DiskArray:
        return DiskArray(self.path, self.offset, self.dtype, self.full_shape, self.rows[rows])

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``start`` to ``stop`` of this view, as an array in memory."""
        picked = self.rows[start:stop]
        if not picked:
            return np.empty((0, *self.full_shape[1:]), self.dtype)
        first, last = min(picked[0], picked[-1]), max(picked[0], picked[-1])
        row_items = math.prod(self.full_shape[1:])
        start_byte = self.offset + first * row_items * self.dtype.itemsize
        aligned = start_byte - start_byte % mmap.ALLOCATIONGRANULARITY
        count = (last - first + 1) * row_items
        with self.path.open("rb") as fh, mmap.mmap(fh.fileno(), start_byte - aligned + count * self.dtype.itemsize,
                                                   access=mmap.ACCESS_READ, offset=aligned) as mapped:
            rows = np.frombuffer(mapped, self.dtype, count, start_byte - aligned).reshape(-1, *self.full_shape[1:])
            out = np.array(rows[:: picked.step] if picked.step > 0 else rows[::-1][:: -picked.step])
            del rows  # the map closes only once no array looks into it
        return out


def _read(array: np.ndarray | DiskArray, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows of an array in memory or on disk."""
    return array.read(start, stop) if isinstance(array, DiskArray) else array[start:stop]


@dataclass
class Dataset:
    """Arrays keyed by input and output name, checked; in memory, or on disk
    (:class:`DiskArray`) when the data is streamed."""

    x: dict[str, Any]
    y: dict[str, Any]
    rows: int

    @property
    def streamed(self) -> bool:
        """Whether the arrays stay on disk (read a batch at a time)."""
        return any(isinstance(a, DiskArray) for a in (*self.x.values(), *self.y.values()))

    def fit_arrays(self) -> tuple[Any, Any]:
        """(x, y) as ``model.fit`` takes them: one array alone, else a dict
        keyed by name."""

        def one_or_all(arrays: dict[str, Any]) -> Any:
            return next(iter(arrays.values())) if len(arrays) == 1 else arrays

        return one_or_all(self.x), one_or_all(self.y)

    def take(self, rows: slice) -> Dataset:
        """The same arrays, only the rows ``rows`` selects (one process's share)."""
        x = {k: v[rows] for k, v in self.x.items()}
        y = {k: v[rows] for k, v in self.y.items()}
        return Dataset(x, y, len(range(*rows.indices(self.rows))))

    def batch(self, names: dict[str, Any], start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start`` to ``stop`` of ``names`` (``self.x`` or ``self.y``) in memory."""
        return {k: _read(v, start, stop) for k, v in names.items()}


def output_names(keras_model: Any) -> list[str]:
    """Output names of a built model, in the order of ``keras_model.outputs``:
    the keys of a model built with a dict of outputs (Keras flattens a dict
    in sorted key order), else the output layers' names (a Sequential model:
    its last layer's name)."""
    try:
        structure = keras_model.output
    except Exception:  # a model never called has no output structure
        structure = None
    if isinstance(structure, dict):
        return sorted(structure)
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
    if path.is_dir():
        data = check_arrays(_open_npy_dir(path), ins, outs, str(path), need_targets=need_targets)
        if check_finite:
            _check_finite_arrays(data, ins, outs, str(path))
        return data
    if suffix not in (".npz", ".csv"):
        raise _error(f"{path}: unknown data format '{suffix}'", None,
                     "use a .npz or .csv file, or a directory of .npy files")
    size = _regular_size(path)
    arrays: dict[str, Any]
    if suffix == ".npz":
        arrays = _read_npz(path, bounds)
    elif size > STREAM_BYTES:
        arrays = _stream_csv(path, ins, outs, mapping, need_targets, check_finite)
    else:
        if size > bounds.data_bytes:
            raise _too_big(f"{path}: the CSV file is {_bytes(size)}", bounds.data_bytes, "data_bytes")
        arrays = _read_csv(path, ins, outs, mapping, need_targets, check_finite)
    data = check_arrays(arrays, ins, outs, str(path), need_targets=need_targets)
    if check_finite and suffix == ".npz":
        _check_finite_arrays(data, ins, outs, str(path))
    return data


def _open_npy_dir(path: Path) -> dict[str, Any]:
    """Every ``<name>.npy`` of a directory as a :class:`DiskArray` (nothing
    read but the headers); a data error for a file that is no plain array."""
    arrays: dict[str, Any] = {}
    for file in sorted(path.glob("*.npy")):
        size = _regular_size(file)
        with file.open("rb") as fh:
            try:
                shape, fortran, dtype = _npy_header(fh)
            except (ValueError, EOFError) as exc:
                raise _error(f"{file}: not a valid .npy array ({exc})", None) from None
            offset = fh.tell()
        if dtype.hasobject:
            raise _error(f"{file}: the array holds Python objects, which only pickle can load, and kspec never "
                         "unpickles data", None, "save numeric arrays")
        if fortran and len(shape) > 1:
            raise _error(f"{file}: the array is stored column by column (Fortran order); kspec streams rows",
                         None, "save it with numpy.save(path, numpy.ascontiguousarray(array))")
        if offset + math.prod(shape) * dtype.itemsize > size:
            raise _error(f"{file}: not a valid .npy array (its header declares {_shape(tuple(shape))} {dtype}, "
                         f"more than the file holds)", None)
        arrays[file.stem] = DiskArray(file, offset, dtype, tuple(shape))
    if not arrays:
        raise _error(f"{path}: the directory holds no .npy files", None,
                     "save one <name>.npy per input and output (or x.npy and y.npy)")
    return arrays


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


def _npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, Fortran order, dtype) from a ``.npy`` header, the file left at
    the data; ``ValueError``/``EOFError`` for anything else."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not read by kspec")
    return tuple(shape), bool(fortran), dtype


def _check_npy_header(path: Path, key: str, fh: IO[bytes], stored: int, bounds: Limits) -> None:
    """Refuse a member whose ``.npy`` header declares an array that is too
    large, larger than the member holds, or made of Python objects (pickle)."""
    try:
        shape, _, dtype = _npy_header(fh)
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


def _refuse_nonfinite(path: Path, table: np.ndarray, columns: list[int], header: list[str], mapping: Any,
                      lines: list[int]) -> None:
    """A data error naming the first NaN or infinite value among ``columns``
    of a block of CSV rows (``lines``: each row's line in the file)."""
    found = _first_nonfinite(table[:, columns])
    if found is not None:
        row, col, value = found
        name = f"'{header[columns[col]]}'" if mapping.header else str(columns[col] + 1)
        raise _error(f"{path}: column {name} has {_describe(value)} on line {lines[row]}", None, _NONFINITE_HINT)


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
        if array.dtype.kind not in "fc" or math.prod(array.shape) == 0:
            continue
        found = None
        for start in range(0, len(array), CSV_CHUNK_ROWS):  # a chunk at a time: the array may be on disk
            chunk = _read(array, start, start + CSV_CHUNK_ROWS)
            found = _first_nonfinite(chunk.reshape(chunk.shape[0], -1))
            if found is not None:
                found = (found[0] + start, *found[1:])
                break
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
        _refuse_nonfinite(path, table, sorted(set(used)), header, mapping, lines)
    for port in ins:  # CSV holds floats; integer inputs (token ids, classes) take whole numbers
        if port.name in out and "int" in port.dtype and np.all(np.mod(out[port.name], 1) == 0):
            out[port.name] = out[port.name].astype(port.dtype)
    return out


@dataclass(frozen=True)
class _Columns:
    """Where one array of a streamed CSV file comes from."""

    key: str
    port: Port | None
    index: list[int]
    squeeze: bool  # one column for a port of shape (): a 1-D array
    dtype: np.dtype[Any]


def _csv_plan(path: Path, header: list[str], ins: list[Port], outs: list[Port], mapping: DataMapping,
              need_targets: bool) -> list[_Columns]:
    """Which columns make which array, by the same rules as :func:`_read_csv`."""
    index = {name: i for i, name in enumerate(header)}
    float64 = np.dtype("float64")

    def dtype(port: Port, is_input: bool) -> np.dtype[Any]:
        return np.dtype(port.dtype) if is_input and "int" in port.dtype else float64

    plan: list[_Columns] = []
    if mapping.inputs or mapping.outputs:
        for ports_, names, is_input in ((ins, mapping.inputs, True), (outs, mapping.outputs, False)):
            for port in ports_:
                if port.name not in names:
                    continue
                cols = names[port.name]
                cols = [cols] if isinstance(cols, str) else cols
                for c in cols:
                    if c not in index:
                        raise _error(f"{path}: no column '{c}' for '{port.name}'", port.span, did_you_mean(c, header))
                plan.append(_Columns(port.name, port, [index[c] for c in cols],
                                     len(cols) == 1 and port.shape == (), dtype(port, is_input)))
    elif len(ins) == 1 and len(outs) == 1:
        width = ins[0].shape[0] if len(ins[0].shape) == 1 else None
        n_in = width if width is not None and width < len(header) else len(header) - int(need_targets)
        plan.append(_Columns("x", ins[0], list(range(n_in)), False, dtype(ins[0], True)))
        if need_targets:
            plan.append(_Columns("y", None, list(range(n_in, len(header))), False, float64))
    else:
        raise _error(f"{path}: a model with several inputs or outputs needs a 'data' mapping of CSV columns",
                     None, "add data: {inputs: {name: [col, ...]}, outputs: {name: col}} to the train section")
    return plan


def _stream_dir() -> Path:
    """A new temporary directory for streamed data, removed when kspec exits
    (kspec created it, and only it)."""
    folder = Path(tempfile.mkdtemp(prefix="kspec-stream-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _stream_csv(path: Path, ins: list[Port], outs: list[Port], mapping: DataMapping | None,
                need_targets: bool, finite: bool) -> dict[str, Any]:
    """A large CSV file parsed :data:`CSV_CHUNK_ROWS` rows at a time into one
    raw array file per input and output (see the module's docstring)."""
    mapping = mapping or DataMapping()
    folder = _stream_dir()
    with path.open(newline="", encoding="utf-8") as fh:
        numbered: Iterator[tuple[int, str]] = ((n, line) for n, line in enumerate(fh, 1) if line.strip())
        first = next(numbered, None)
        if first is None:
            raise _error(f"{path}: the CSV file is empty", None)
        names = next(csv.reader([first[1]], delimiter=mapping.delimiter))
        header = names if mapping.header else [str(i) for i in range(len(names))]
        if not mapping.header:
            numbered = itertools.chain([first], numbered)
        plan = _csv_plan(path, header, ins, outs, mapping, need_targets)
        used = sorted({i for cols in plan for i in cols.index})
        files = {cols.key: (folder / f"{cols.key}.bin").open("wb") for cols in plan}
        rows = 0
        try:
            while block := list(itertools.islice(numbered, CSV_CHUNK_ROWS)):
                table = _parse_chunk(path, [line for _, line in block], len(header), mapping.delimiter)
                if finite and used:
                    _refuse_nonfinite(path, table, used, header, mapping, [n for n, _ in block])
                for cols in plan:
                    part = table[:, cols.index[0]] if cols.squeeze else table[:, cols.index]
                    if cols.dtype.kind in "iu" and not np.all(np.mod(part, 1) == 0):
                        port = cols.port or ins[0]
                        raise _error(f"{path}: input '{port.name}' has dtype float64 but the model expects "
                                     f"{port.dtype}", port.span, "integer inputs (token ids) need integer arrays")
                    files[cols.key].write(np.ascontiguousarray(part, dtype=cols.dtype).tobytes())
                rows += len(block)
        finally:
            for out in files.values():
                out.close()
    return {cols.key: DiskArray(folder / f"{cols.key}.bin", 0, cols.dtype,
                                (rows,) if cols.squeeze else (rows, len(cols.index))) for cols in plan}


def _parse_chunk(path: Path, lines: list[str], width: int, delimiter: str) -> np.ndarray:
    """Rows of CSV text as a float64 table, parsed by numpy."""
    try:
        table = np.loadtxt(lines, delimiter=delimiter, dtype="float64", ndmin=2, quotechar='"', comments=None)
    except ValueError as exc:
        raise _error(f"{path}: every CSV value must be a number with the same count per row ({exc})", None) from None
    if table.shape[1] != width:
        raise _error(f"{path}: every CSV value must be a number with the same count per row (the header has "
                     f"{width} columns, the rows {table.shape[1]})", None)
    return table


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
        a = arrays[port.name] if isinstance(arrays[port.name], DiskArray) else np.asarray(arrays[port.name])
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


#: The image files an image folder may hold: those ``keras.utils.image_dataset_from_directory`` reads.
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: An image input's channels -> the ``color_mode`` its images are read in.
COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


@dataclass(frozen=True)
class ImageFolder:
    """A directory of images checked against a model: one sub-directory per
    class (the label of an image is the index of its folder in ``classes``,
    sorted), or for inputs alone (``label_mode`` None) images anywhere in it.
    It holds what ``keras.utils.image_dataset_from_directory`` needs to stream
    the images batch by batch (:func:`kspec.runtime.training.image_stream`);
    no image is held in memory here."""

    path: Path
    classes: tuple[str, ...]
    files: tuple[Path, ...]  # every image, in the utility's order (folder by folder, sorted)
    image_size: tuple[int, int]
    color_mode: str
    label_mode: str | None  # "categorical", "binary", "int", or None without targets

    @property
    def rows(self) -> int:
        """The number of images."""
        return len(self.files)


def is_image_folder(path: str | Path) -> bool:
    """Whether ``path`` is a directory of images (class folders or image
    files) rather than of ``.npy`` arrays."""
    path = Path(path)
    if not path.is_dir() or any(path.glob("*.npy")):
        return False
    return any(p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())


def sparse_loss(loss: Any) -> bool:
    """Whether a model's (single) loss takes class indices: a spec value (a
    name, a call, or a one-entry list or mapping) or a Keras loss object."""
    if isinstance(loss, dict):
        loss = next(iter(loss.values()), None)
    elif isinstance(loss, (list, tuple)):
        loss = loss[0] if loss else None
    if loss is None:
        return False
    if isinstance(loss, str):
        name = loss
    elif isinstance(getattr(loss, "fn", None), str):  # an ir.Call
        name = loss.fn
    else:  # a Keras loss object: SparseCategoricalCrossentropy, or a wrapped sparse_* function
        name = type(loss).__name__ + " " + str(getattr(loss, "name", ""))
    return "sparse" in name.lower()


def _image_files(directory: Path) -> list[Path]:
    """The images under ``directory``, in the order Keras's utility lists
    them (directories by path, then file names, both sorted; symlinked
    directories are not followed)."""
    return [Path(root) / name for root, _, names in sorted(os.walk(directory), key=lambda w: w[0])
            for name in sorted(names) if name.lower().endswith(IMAGE_SUFFIXES)]


def _check_image(file: Path) -> None:
    """A data error naming ``file`` when Pillow cannot open it as an image
    (or it is no regular file); its header and data are checked, not decoded."""
    from PIL import Image, UnidentifiedImageError

    _regular_size(file)
    try:
        with Image.open(file) as img:
            img.verify()
    except UnidentifiedImageError:
        raise _error(f"{file}: Pillow cannot open the image (not a known image format)", None,
                     "remove the file or replace it with a valid image") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _error(f"{file}: Pillow cannot open the image ({exc})", None,
                     "remove the file or replace it with a valid image") from None


def _names(items: tuple[str, ...]) -> str:
    return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")


def _image_input(path: Path, port: Port) -> tuple[tuple[int, int], str]:
    """The ``image_size`` and ``color_mode`` an image input's shape sets."""
    shape = port.shape
    if len(shape) != 3 or any(d is None for d in shape):
        raise _error(f"{path}: input '{port.name}' has shape {_shape((None, *shape))} but an image folder needs a "
                     "fully known (height, width, channels) shape", port.span,
                     "declare the input's size, e.g. (28, 28, 1): every image is resized to it")
    height, width, channels = (int(d) for d in shape if d is not None)
    if channels not in COLOR_MODES:
        raise _error(f"{path}: input '{port.name}' has {channels} channels but images are read with 1 (grayscale), "
                     "3 (rgb) or 4 (rgba)", port.span)
    return (height, width), COLOR_MODES[channels]


def _label_mode(path: Path, port: Port, classes: tuple[str, ...], sparse: bool) -> str:
    """How the class folders become targets for ``port``: ``int`` with a
    sparse loss, ``binary`` for one unit and two classes, else
    ``categorical`` (one-hot, one unit per class)."""
    count = len(classes)
    if len(port.shape) != 1 or port.shape[0] is None:
        raise _error(f"{path}: output '{port.name}' has shape {_shape((None, *port.shape))} but an image folder's "
                     "labels need an output of shape (None, units)", port.span)
    units = port.shape[0]
    found = f"the folder has {count} class folder{'s' if count != 1 else ''} ({_names(classes)})"
    if sparse:
        if units != count:
            raise _error(f"{path}: output '{port.name}' has {units} units but {found}", port.span,
                         f"with a sparse loss the labels are class indices: give the output {count} units")
        return "int"
    if units == 1:
        if count != 2:
            raise _error(f"{path}: output '{port.name}' has 1 unit (binary labels) but {found}", port.span,
                         f"binary labels need exactly 2 class folders; for {count} classes give the output "
                         f"{count} units")
        return "binary"
    if units != count:
        raise _error(f"{path}: output '{port.name}' has {units} units but {found}", port.span,
                     f"give the output one unit per class ({count}), or 1 unit for 2 classes")
    return "categorical"


def read_image_folder(path: str | Path, ins: list[Port], outs: list[Port], *, sparse: bool = False,
                      need_targets: bool = True) -> ImageFolder:
    """Index and check an image folder against a model with one image input
    (and, with ``need_targets``, one output): the input's shape sets the
    image size and color mode, the output's units the label mode (see
    :func:`_label_mode`; ``sparse`` says the loss takes class indices).
    Every image is opened by Pillow once, so a file it cannot read is an
    error naming it before training starts. Without targets, images are
    taken from anywhere in the folder."""
    path = Path(path)
    if len(ins) != 1 or (need_targets and len(outs) != 1):
        raise _error(f"{path}: an image folder feeds a model with one input and one output, and this one has "
                     f"{len(ins)} input{'s' if len(ins) != 1 else ''} and {len(outs)} "
                     f"output{'s' if len(outs) != 1 else ''}", ins[0].span if ins else None)
    image_size, color_mode = _image_input(path, ins[0])
    if not need_targets:
        files = _image_files(path)
        if not files:
            raise _error(f"{path}: the directory holds no images", None,
                         f"image files end in {', '.join(IMAGE_SUFFIXES)}")
        for file in files:
            _check_image(file)
        return ImageFolder(path, (), tuple(files), image_size, color_mode, None)
    classes = tuple(sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if not classes:
        raise _error(f"{path}: the directory holds no class folders", None,
                     "put the images of each class in a sub-directory named after the class")
    label_mode = _label_mode(path, outs[0], classes, sparse)
    all_files: list[Path] = []
    for name in classes:
        files = _image_files(path / name)
        if not files:
            raise _error(f"{path / name}: the class folder holds no images", None,
                         f"image files end in {', '.join(IMAGE_SUFFIXES)}")
        all_files.extend(files)
    for file in all_files:
        _check_image(file)
    return ImageFolder(path, classes, tuple(all_files), image_size, color_mode, label_mode)
