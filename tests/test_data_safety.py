"""Data is checked and bounded: NaN and infinite values refused before
training (unless --allow-nonfinite), .npz archives read within size limits
and without pickle, special files refused, and a loss that becomes NaN stops
training without writing the model."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kspec.cli import main
from kspec.runtime.data import Port, load_data
from kspec.spec.diagnostics import KspecError
from kspec.spec.limits import Limits

INS = [Port("features", (8,), "float32")]
OUTS = [Port("price", (1,), "float32")]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "regression_train.yaml"
HINT = "fix or remove that row, or pass --allow-nonfinite to use the data as it is"


def refusal(path: Path, *, check_finite: bool = False, bounds: Limits | None = None) -> tuple[str, str | None]:
    with pytest.raises(KspecError) as info:
        load_data(path, INS, OUTS, check_finite=check_finite, bounds=bounds)
    [d] = info.value.diagnostics
    return d.message, d.hint


def _npy_member(shape: tuple[int, ...], dtype: str, payload: bytes) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    return header.getvalue() + payload


def test_nan_in_an_npz_array_is_refused_naming_the_array_and_row(tmp_path: Path) -> None:
    x = np.ones((10, 8), "float32")
    x[3, 2] = np.nan
    path = tmp_path / "d.npz"
    np.savez(path, features=x, price=np.ones((10, 1), "float32"))
    assert refusal(path, check_finite=True) == (
        f"{path}: input 'features' has a NaN value in row 3 (rows count from 0)",
        HINT,
    )
    assert load_data(path, INS, OUTS).rows == 10  # allowed when not checked (--allow-nonfinite)


def test_infinity_in_targets_named_by_x_and_y_is_refused(tmp_path: Path) -> None:
    y = np.ones((6, 1), "float32")
    y[4, 0] = -np.inf
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((6, 8), "float32"), y=y)
    assert refusal(path, check_finite=True) == (
        f"{path}: output 'price' has an infinite value in row 4 (rows count from 0)",
        HINT,
    )


def test_nan_in_a_csv_column_is_refused_naming_the_column_and_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,d,e,f,g,h,price\n1,2,3,4,5,6,7,8,9\n\n1,2,3,inf,5,6,7,8,nan\n", encoding="utf-8")
    assert refusal(path, check_finite=True) == (f"{path}: column 'd' has an infinite value on line 4", HINT)


def test_a_text_file_named_npz_is_not_reported_as_pickled_data(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    path.write_text("hello", encoding="utf-8")
    assert refusal(path) == (
        f"{path}: not a valid .npz file (it is not a zip archive)",
        "write data with numpy.savez(path, name=array, ...)",
    )


def test_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("features.npy", "w", force_zip64=True) as member,
    ):
        member.write(_npy_member((40_000_000, 8), "<f4", b""))
        zeros = bytes(1 << 22)
        for _ in range(310):  # 1.2 GiB of zeros, about 6 MiB compressed
            member.write(zeros)
    assert path.stat().st_size < 8 << 20
    assert refusal(path) == (
        f"{path}: member 'features.npy' unpacks to 1.2 GiB, more than the limit of 1.0 GiB",
        "raise the limit with --limit array_bytes=SIZE (e.g. array_bytes=4G)",
    )
    message, hint = refusal(path, bounds=Limits(array_bytes=2 << 30, data_bytes=1 << 30))
    assert (message, hint) == (
        f"{path}: the archive unpacks to 1.2 GiB, more than the limit of 1.0 GiB",
        "raise the limit with --limit data_bytes=SIZE (e.g. data_bytes=4G)",
    )


def test_an_npy_header_claiming_149_gib_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("features.npy", _npy_member((5_000_000_000, 8), "<f4", bytes(64)))
    assert refusal(path) == (
        f"{path}: array 'features' (5000000000, 8) float32 needs 149.0 GiB, more than the limit of 1.0 GiB",
        "raise the limit with --limit array_bytes=SIZE (e.g. array_bytes=4G)",
    )
    assert refusal(path, bounds=Limits(array_bytes=1 << 40, data_bytes=1 << 40)) == (
        f"{path}: not a valid .npz file (array 'features' (5000000000, 8) float32 needs 149.0 GiB "
        "but its member holds 64 bytes)",
        None,
    )


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, features=np.array([[None]] * 3, dtype=object))
    assert refusal(path) == (
        f"{path}: cannot read arrays: array 'features' holds Python objects, which only "
        "pickle can load, and kspec never unpickles data",
        "save numeric arrays",
    )


def test_a_fifo_given_as_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    os.mkfifo(path)
    assert refusal(path) == (f"{path}: not a regular file (it is a FIFO); data is read from regular files only", None)


def test_train_refuses_a_fifo_before_anything_else(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.npz"
    os.mkfifo(path)
    code = main(["train", str(EXAMPLE), "--data", str(path), "-o", str(tmp_path / "m.keras")])
    assert (code, capsys.readouterr().err) == (
        2,
        f"kspec: error: cannot read '{path}': it is a FIFO, not a regular file\n",
    )


def test_a_size_limit_below_the_data_is_refused_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.npz"
    np.savez(data, features=np.ones((100, 8), "float32"), price=np.ones((100, 1), "float32"))
    out = tmp_path / "m.keras"
    code = main(["train", str(EXAMPLE), "--data", str(data), "-o", str(out), "--limit", "array_bytes=1k"])
    captured = capsys.readouterr()
    assert (code, captured.out) == (1, "")
    assert captured.err.splitlines()[0] == (
        f"error[K401]: {data}: member 'features.npy' unpacks to 3.2 KiB, more than the limit of 1.0 KiB"
    )
    assert not out.exists()


def test_train_refuses_nan_data_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.ones((10, 8), "float32")
    x[7, 0] = np.nan
    data = tmp_path / "d.npz"
    np.savez(data, features=x, price=np.ones((10, 1), "float32"))
    out = tmp_path / "m.keras"
    out.write_bytes(b"previous")
    code = main(["train", str(EXAMPLE), "--data", str(data), "-o", str(out)])
    captured = capsys.readouterr()
    assert (code, captured.out) == (1, "")
    assert captured.err.splitlines()[0] == (
        f"{EXAMPLE}:9:17: error[K401]: {data}: input 'features' has a NaN value in row 7 (rows count from 0)"
    )
    assert out.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["d.npz", "m.keras"]


def test_a_loss_that_becomes_infinite_stops_training_and_writes_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((64, 8)) * 1e30).astype("float32")  # finite, but the squared error overflows
    data = tmp_path / "d.npz"
    np.savez(data, features=x, price=x.sum(axis=1, keepdims=True))
    out = tmp_path / "m.keras"
    out.write_bytes(b"previous")
    code = main(["train", str(EXAMPLE), "--data", str(data), "-o", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == f"training 'regressor' on 64 rows from {data} for 30 epoch(s)\n"
    assert captured.err == (
        "kspec: error: training 'regressor' stopped: the loss became infinite in epoch 1, batch 1; "
        f"no model was written to '{out}' (lower the learning rate, or check the data)\n"
    )
    assert out.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["d.npz", "m.keras"]
