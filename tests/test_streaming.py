"""Data larger than memory: ``.npy`` directories memory-mapped, large CSV files
parsed in chunks, streamed to ``fit`` a batch at a time.

The chunked reader gives the same arrays and the same refusals as reading a
file whole (checked in this process with tiny chunks). Then a CSV file and a
``.npy`` directory larger than the peak resident memory of the ``kspec train``
that reads them stream through it on JAX: the peak (the child's ``VmHWM``,
which it reports as it exits) is measured and asserted below the file size.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kspec.runtime import data
from kspec.runtime.data import DiskArray, Port, load_data
from kspec.spec.diagnostics import KspecError
from kspec.spec.settings import DataMapping

INS = [Port("features", (3,), "float32")]
OUTS = [Port("price", (1,), "float32")]


def _csv(path: Path, rows: int, bad: tuple[int, int] | None = None) -> np.ndarray:
    table = np.arange(rows * 4, dtype="float64").reshape(rows, 4) / 7
    text = ["a,b,c,target\n"]
    for i, row in enumerate(table):
        values = [repr(float(v)) for v in row]
        if bad is not None and bad[0] == i:
            values[bad[1]] = "nan"
        text.append(",".join(values) + "\n")
        if i == 5:
            text.append("\n")  # a blank line is skipped, and counted in line numbers
    path.write_text("".join(text))
    return table


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "STREAM_BYTES", 0)
    monkeypatch.setattr(data, "CSV_CHUNK_ROWS", 7)


def test_a_streamed_csv_gives_the_arrays_of_a_whole_read(tmp_path: Path, chunked: None) -> None:
    table = _csv(tmp_path / "d.csv", 30)
    streamed = load_data(tmp_path / "d.csv", INS, OUTS)
    assert streamed.streamed and streamed.rows == 30
    assert isinstance(streamed.x["features"], DiskArray)
    np.testing.assert_array_equal(streamed.x["features"].read(), table[:, :3])
    np.testing.assert_array_equal(streamed.y["price"].read(), table[:, 3:])
    np.testing.assert_array_equal(streamed.take(slice(1, None, 2)).x["features"].read(5, 8), table[1::2][5:8, :3])


def test_a_mapped_streamed_csv_picks_columns_and_integer_inputs(tmp_path: Path, chunked: None) -> None:
    (tmp_path / "m.csv").write_text("id,x,y\n" + "".join(f"{i},{i / 2},{i % 3}\n" for i in range(20)))
    mapping = DataMapping(inputs={"ids": "id", "num": ["x"]}, outputs={"out": "y"})
    ins = [Port("ids", (), "int32"), Port("num", (1,), "float32")]
    got = load_data(tmp_path / "m.csv", ins, [Port("out", (), "float32")], mapping)
    assert got.x["ids"].dtype == np.dtype("int32") and got.x["ids"].shape == (20,)
    np.testing.assert_array_equal(got.x["ids"].read(), np.arange(20))
    np.testing.assert_array_equal(got.x["num"].read(), np.arange(20).reshape(20, 1) / 2)


def test_a_streamed_csv_names_the_line_of_a_nan(tmp_path: Path, chunked: None) -> None:
    _csv(tmp_path / "d.csv", 30, bad=(17, 2))
    with pytest.raises(KspecError) as err:
        load_data(tmp_path / "d.csv", INS, OUTS, check_finite=True)
    # row 17 is on line 20: the header, then rows 0-5, a blank line, rows 6-17
    assert err.value.diagnostics[0].message == f"{tmp_path / 'd.csv'}: column 'c' has a NaN value on line 20"


def test_a_streamed_csv_refuses_what_a_whole_read_refuses(tmp_path: Path, chunked: None) -> None:
    (tmp_path / "short.csv").write_text("a,b,c,target\n1,2,3,4\n5,6,7\n")
    with pytest.raises(KspecError, match="every CSV value must be a number with the same count per row"):
        load_data(tmp_path / "short.csv", INS, OUTS)
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(KspecError, match="the CSV file is empty"):
        load_data(tmp_path / "empty.csv", INS, OUTS)


def test_a_npy_directory_is_checked_like_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "features.npy", np.zeros((10, 3), "float32"))
    np.save(tmp_path / "price.npy", np.zeros((10, 1), "float32"))
    got = load_data(tmp_path, INS, OUTS)
    assert got.streamed and got.rows == 10
    np.save(tmp_path / "price.npy", np.zeros((9, 1), "float32"))
    with pytest.raises(KspecError) as err:
        load_data(tmp_path, INS, OUTS)
    assert err.value.diagnostics[0].message == f"{tmp_path}: output 'price' has 9 rows but 'features' has 10"
    np.save(tmp_path / "price.npy", np.zeros((10, 2), "float32"))
    with pytest.raises(KspecError) as err:
        load_data(tmp_path, INS, OUTS)
    assert err.value.diagnostics[0].message == (f"{tmp_path}: output 'price' has shape (10, 2) but the model "
                                                "expects (None, 1)")
    np.save(tmp_path / "price.npy", np.array([[None]] * 10, dtype=object), allow_pickle=True)
    with pytest.raises(KspecError, match="holds Python objects, which only pickle can load"):
        load_data(tmp_path, INS, OUTS)
    np.save(tmp_path / "price.npy", np.ones((10, 1), "float32"))
    features = np.zeros((10, 3), "float32")
    features[4, 1] = np.inf
    np.save(tmp_path / "features.npy", features)
    with pytest.raises(KspecError) as err:
        load_data(tmp_path, INS, OUTS, check_finite=True)
    assert err.value.diagnostics[0].message == (f"{tmp_path}: input 'features' has an infinite value in row 4 "
                                                "(rows count from 0)")


_SPEC = """
model regressor {
  input features: (8,)
  h = features -> Dense(units=16, activation="relu")
  output price = h -> Dense(units=1)
}
compile regressor {
  optimizer = Adam(learning_rate=0.001)
  loss = "mse"
}
train regressor {
  epochs = 1
  batch_size = 131072
  validation_split = 0.1
  seed = 1
}
"""
#: Bigger than the peak resident memory of ``kspec train`` on JAX (about 1 GB here).
BIG = 1_500_000_000


#: Runs kspec and, as the process ends, reports its peak resident memory
#: (``VmHWM``: the high-water mark of this process image since it started).
_MEASURED = """
import atexit, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("PEAK " + line.split()[1] + "\\n")
atexit.register(_peak)
from kspec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _train_measured(tmp: Path, data_path: Path) -> tuple[int, str]:
    """Run ``kspec train`` on JAX; its peak resident memory in bytes, and its output."""
    (tmp / "big.kspec").write_text(_SPEC)
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_CONFIG")}
    env["KERAS_BACKEND"] = "jax"
    env["TMPDIR"] = str(tmp / "tmpdir")  # where a streamed CSV's arrays go, removed at exit
    (tmp / "tmpdir").mkdir()
    done = subprocess.run([sys.executable, "-c", _MEASURED, "train", "big.kspec", "--data", str(data_path),
                           "-o", "big.keras", "--quiet"], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list((tmp / "tmpdir").glob("kspec-stream-*")), "the streamed arrays were left behind"
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK ")]
    assert len(peaks) == 1, done.stderr[-3000:]
    return peaks[0] * 1024, done.stdout


def test_a_npy_directory_larger_than_memory_streams_through_training(tmp_path: Path) -> None:
    rows = BIG // (9 * 4) + 1
    folder = tmp_path / "npy"
    folder.mkdir()
    x = np.lib.format.open_memmap(folder / "features.npy", "w+", "float32", (rows, 8))
    y = np.lib.format.open_memmap(folder / "price.npy", "w+", "float32", (rows, 1))
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 1)).astype("float32")
    for start in range(0, rows, 1 << 20):
        part = rng.normal(size=(min(1 << 20, rows - start), 8)).astype("float32")
        x[start:start + len(part)] = part
        y[start:start + len(part)] = part @ w
    x.flush()
    y.flush()
    del x, y
    size = sum(f.stat().st_size for f in folder.iterdir())
    assert size > BIG
    peak, output = _train_measured(tmp_path, folder)
    print(f"peak resident memory {peak / 2**20:.0f} MiB for {size / 2**20:.0f} MiB of .npy")
    assert f"on {math.ceil(rows * 0.9):,} rows" in output  # the rest validates
    assert "trained for 1 epoch(s)" in output
    assert peak < size


def test_a_csv_larger_than_memory_streams_through_training(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    block = rng.normal(size=(20_000, 8))
    w = rng.normal(size=(8,))
    text = "".join(",".join(f"{v:.9f}" for v in row) + f",{row @ w:.9f}\n" for row in block)
    path = tmp_path / "big.csv"
    with path.open("w") as fh:
        fh.write(",".join(f"f{i}" for i in range(8)) + ",price\n")
        written = 0
        while written < BIG:
            fh.write(text)
            written += len(text)
    size = path.stat().st_size
    peak, output = _train_measured(tmp_path, path)
    print(f"peak resident memory {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB CSV file")
    assert "trained for 1 epoch(s)" in output
    assert peak < size
