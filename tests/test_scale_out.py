"""Training that grows past one device, on CPU with virtual devices.

JAX gets 8 host devices from ``XLA_FLAGS=--xla_force_host_platform_device_count=8``,
TensorFlow 8 logical CPU devices (set before kspec runs, as a launcher
would). Data-parallel training of the bundled regression example reaches the
loss of one device (relative tolerance 1e-4: the same global batches, only
the order of the float sums differs); two JAX processes on localhost train
together and end with the same weights; the settings' mistakes are located.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kspec.spec.diagnostics import KspecError

ROOT = Path(__file__).resolve().parent.parent
REGRESSION = (ROOT / "examples" / "regression_train.kspec").read_text()

#: The bundled example with a deterministic order of rows, for comparing runs.
def _spec(tmp: Path, extra: str) -> Path:
    text = REGRESSION.replace("  seed = 7\n", f"  seed = 7\n  shuffle = false\n{extra}").replace(
        "batch_size = 32", "batch_size = 64")
    assert text != REGRESSION
    path = tmp / "regression.kspec"
    path.write_text(text)
    return path


_TF_DEVICES = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 8)
from kspec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _train(tmp: Path, spec: Path, out: str, backend: str, devices: int = 1, *extra: str) -> tuple[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_CONFIG")}
    env["KERAS_BACKEND"] = backend
    code = "import sys; from kspec.cli import main; sys.exit(main(sys.argv[1:]))"
    if backend == "jax" and devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    elif devices > 1:
        code = _TF_DEVICES
    done = subprocess.run([sys.executable, "-c", code, "train", str(spec), "--data", str(tmp / "train.npz"),
                           "-o", str(tmp / out), "--epochs", "3", "--quiet", *extra],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((tmp / out.replace(".keras", ".history.json")).read_text())["history"]
    return done.stdout, history["loss"][-1]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(640, 8)).astype("float32")  # 512 training rows, 128 for validation
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(640, 1))).astype("float32")
    np.savez(tmp_path / "train.npz", features=x, price=y)
    return tmp_path


def _mse_on_tf(spec: Path, backend: str) -> Path:
    """On TensorFlow each replica computes the loss of its share of the batch
    and the shares are averaged: the same as one device for a mean (mse), not
    for the root of a mean (the example's rmse), so TensorFlow compares mse."""
    if backend == "tensorflow":
        spec.write_text(spec.read_text().replace('loss = "rmse"', 'loss = "mse"'))
    return spec


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_data_parallel_on_8_devices_reaches_the_loss_of_one(data: Path, backend: str) -> None:
    one_out, one = _train(data, _mse_on_tf(_spec(data, ""), backend), "one.keras", backend)
    spec = _mse_on_tf(_spec(data, '  distribution = "data_parallel"\n'), backend)
    many_out, many = _train(data, spec, "many.keras", backend, 8)
    strategy = "data parallel over 8 devices" if backend == "jax" else "MirroredStrategy over 8 devices"
    assert f"({strategy}, global batch 64)" in many_out
    assert "global batch" not in one_out
    assert many == pytest.approx(one, rel=1e-4)


def test_batch_size_per_device_makes_the_global_batch(data: Path) -> None:
    spec = _spec(data, '  distribution = "data_parallel"\n').read_text().replace("batch_size = 64",
                                                                                 "batch_size_per_device = 4")
    (data / "per_device.kspec").write_text(spec)
    out, _ = _train(data, data / "per_device.kspec", "pd.keras", "jax", 8)
    assert "(data parallel over 8 devices, global batch 32)" in out


def test_model_parallel_splits_the_dense_kernels(data: Path) -> None:
    spec = _spec(data, '  distribution = "model_parallel"\n  model_devices = 2\n'
                       '  layout = {"h1.*kernel": [none, "model"], "h2.*kernel": ["model", none]}\n')
    out, loss = _train(data, spec, "mp.keras", "jax", 8)
    assert "(model parallel over 8 devices (4 x 2), global batch 64)" in out
    assert np.isfinite(loss)


def test_mixed_precision_trains_in_bfloat16(data: Path) -> None:
    spec = _spec(data, '  mixed_precision = "mixed_bfloat16"\n')
    _, loss = _train(data, spec, "bf16.keras", "jax")
    assert np.isfinite(loss)
    with zipfile.ZipFile(data / "bf16.keras") as archive:
        config = archive.read("config.json").decode()
    assert '"name": "mixed_bfloat16"' in config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_on_localhost_agree_on_the_final_weights(data: Path) -> None:
    spec = _spec(data, '  distribution = "data_parallel"\n')
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "kspec", "train", str(spec), "--data", str(data / "train.npz"),
                               "-o", str(data / f"p{i}.keras"), "--epochs", "3", "--quiet",
                               "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=data)
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    for i, (out, _) in enumerate(outs):
        assert f"on 256 rows from {data / 'train.npz'}" in out
        assert f"(data parallel over 4 devices, process {i} of 2, global batch 64)" in out
    import h5py

    weights: list[list[np.ndarray]] = []
    for i in range(2):
        with zipfile.ZipFile(data / f"p{i}.keras") as archive:
            (data / f"w{i}.h5").write_bytes(archive.read("model.weights.h5"))
        with h5py.File(data / f"w{i}.h5") as f:
            names: list[str] = []
            f.visit(names.append)
            weights.append([np.asarray(f[n]) for n in names if isinstance(f[n], h5py.Dataset)])
    assert len(weights[0]) >= 6
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)
    one_loss = json.loads((data / "p0.history.json").read_text())["history"]["loss"][-1]
    _, single = _train(data, _spec(data, ""), "single.keras", "jax")
    assert one_loss == pytest.approx(single, rel=1e-4)


@pytest.mark.parametrize(("setting", "message"), [
    ('distribution = "data_parallel"\n  batch_size_per_device = 4',
     "give either 'batch_size' (the global batch) or 'batch_size_per_device', not both"),
    ('layout = {"dense.*kernel": [none, "model"]}', "'layout' is a setting of model parallelism"),
    ('distribution = "model_parallel"', "model parallelism needs a 'layout'"),
    ('distribution = "model_parallel"\n  layout = {"dense.*kernel": [none, "modle"]}',
     "invalid train setting 'layout': axis 'modle' for 'dense.*kernel' is not 'batch', 'model' or none"),
])
def test_scale_out_mistakes_are_located(setting: str, message: str) -> None:
    import kspec

    text = REGRESSION.replace("  seed = 7\n", f"  seed = 7\n  {setting}\n")
    with pytest.raises(KspecError) as err:
        kspec.loads(text)
    assert any(d.message.startswith(message) and d.span is not None for d in err.value.diagnostics), \
        [d.message for d in err.value.diagnostics]


def test_a_batch_that_does_not_split_over_the_devices_is_refused(data: Path) -> None:
    spec = _spec(data, '  distribution = "data_parallel"\n').read_text().replace("batch_size = 64",
                                                                                 "batch_size = 30")
    (data / "odd.kspec").write_text(spec)
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    done = subprocess.run([sys.executable, "-m", "kspec", "train", "odd.kspec", "--data", "train.npz", "-o",
                           "odd.keras", "--quiet"], capture_output=True, text=True, timeout=300, env=env, cwd=data)
    assert done.returncode == 1
    assert re.search(r"error\[K312\]: the global batch of 30 rows does not split evenly over 8 replicas", done.stderr)
    assert not (data / "odd.keras").exists()


_SHARES = """
import json, sys, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 4)
from kspec.runtime.training import start_distribution
from kspec.spec.settings import TrainSettings
placement = start_distribution(TrainSettings(distribution="data_parallel"))
x = np.arange(24, dtype="float32").reshape(12, 2)
y = np.arange(12, dtype="float32")
data, targets = placement.arrays(x, y, 8, shuffle=True, seed=5)
epochs = []
for _ in range(2):
    steps = []
    for bx, by in data:
        shares = [placement.mirrored.experimental_local_results(t) for t in (bx, by)]
        steps.append([[s.numpy().tolist() for s in part] for part in shares])
    epochs.append(steps)
print(json.dumps({"type": type(data).__name__, "targets": targets, "epochs": epochs}))
"""


def test_mirrored_arrays_give_each_device_its_share_of_the_same_batches() -> None:
    """Under a MirroredStrategy, in-memory arrays are fed per device: each
    device gets a contiguous quarter of every global batch, the batches of
    an epoch cover every row once, and a shuffled epoch is in a new order."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", _SHARES], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["type"] == "DistributedDatasetsFromFunction" and got["targets"] is None
    orders = []
    for steps in got["epochs"]:
        assert [len(bx) for bx, _ in steps] == [4, 4]  # 4 devices, 2 batches (8 rows, then 4)
        assert [[len(s) for s in bx] for bx, _ in steps] == [[2, 2, 2, 2], [1, 1, 1, 1]]
        pairs = [(row, target) for bx, by in steps for share_x, share_y in zip(bx, by, strict=True)
                 for row, target in zip(share_x, share_y, strict=True)]
        assert all(row == [2 * target, 2 * target + 1] for row, target in pairs)  # features beside their targets
        assert sorted(target for _, target in pairs) == list(range(12))
        orders.append([target for _, target in pairs])
    assert orders[0] != orders[1]
