"""``kspec tune``: KerasTuner searches over a spec's parameter spaces.

The default tests run one small search in process (tiny generated data, two
epochs per trial): it finds the width that fits where the default cannot,
resumes without running finished trials again, gives the same trials with
the same seed, and writes a best spec that compiles to the best model. The
slow ones interrupt a search with Ctrl-C and resume it, and run KerasTuner's
distributed mode (a chief and two workers) over localhost.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kspec.cli import main

SPEC = """\
# A bottleneck: one unit cannot carry four independent numbers.
param units: int = 1 in [1, 32]
param act: str = "linear" in ["linear", "tanh"]

model mlp {
  input x: (4,)
  output y = x -> Dense(units, activation=act) -> Dense(4)
}

compile mlp {
  optimizer = Adam(learning_rate=0.05)
  loss = mse
}

train mlp {
  epochs = 2
  batch_size = 32
  validation_split = 0.25
}
"""


def _write(tmp: Path, rows: int = 256) -> tuple[Path, Path]:
    spec = tmp / "mlp.kspec"
    spec.write_text(SPEC)
    x = np.random.default_rng(0).normal(size=(rows, 4)).astype("float32")
    data = tmp / "d.npz"
    np.savez(data, x=x, y=x)
    return spec, data


def _tune(spec: Path, data: Path, directory: Path, trials: int, *more: str) -> list[str]:
    return ["tune", str(spec), "--data", str(data), "--trials", str(trials), "--seed", "3", "--dir", str(directory),
            "-o", str(directory.parent / f"{directory.name}.keras"),
            "--best-spec", str(directory.parent / f"{directory.name}.best.kspec"), *more]


_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\w+)\s+([0-9.e+-]+)\s+(\d+)\s+completed$", re.M)


def _rows(out: str) -> list[tuple[str, int, str, float, int]]:
    """The trial table of ``kspec tune``'s report: (id, units, act, val_loss, epochs)."""
    return [(m[1], int(m[2]), m[3], float(m[4]), int(m[5])) for m in _ROW.finditer(out)]


def test_search_finds_the_width_resumes_and_repeats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, data = _write(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"

    assert main(_tune(spec, data, a, 2)) == 0
    first = capsys.readouterr()
    assert "ran 2 new trial(s); 2 in all" in first.out
    assert first.err == ""  # KerasTuner's prints are swallowed, and nothing warned
    assert main(_tune(spec, data, b, 2)) == 0
    again = capsys.readouterr().out
    # the same seed gives the same values in the same order, and the same initial weights
    assert [r[:3] for r in _rows(first.out)] == [r[:3] for r in _rows(again)]
    assert [r[3] for r in _rows(again)] == pytest.approx([r[3] for r in _rows(first.out)], rel=1e-3)

    notes = {t: (a / f"trial_{t}" / "kspec_trial.json").stat().st_mtime_ns for t in ("0", "1")}
    assert main(_tune(spec, data, a, 4)) == 0
    resumed = capsys.readouterr().out
    assert "resuming after 2 trial(s)" in resumed
    assert "ran 2 new trial(s); 4 in all" in resumed
    assert _ran(resumed) == {"2", "3"}  # the finished trials did not run again
    assert {t: (a / f"trial_{t}" / "kspec_trial.json").stat().st_mtime_ns for t in ("0", "1")} == notes

    rows = _rows(resumed)
    assert sorted((r[1], r[2]) for r in rows) == [(1, "linear"), (1, "tanh"), (32, "linear"), (32, "tanh")]
    assert all(r[4] == 2 for r in rows)
    best = min(rows, key=lambda r: r[3])
    one_unit = min(r[3] for r in rows if r[1] == 1)
    assert best[1] == 32 and best[3] < one_unit / 4  # clearly better than the poor default
    assert f"  -D units=32 -D act={best[2]}\n" in resumed

    written = (tmp_path / "a.best.kspec").read_text()
    assert f'param units: int = 32 in [1, 32]\nparam act: str = "{best[2]}" in ["linear", "tanh"]\n' in written
    assert written.startswith("# A bottleneck")  # comments kept
    import kspec
    from kspec.runtime._quiet import import_keras

    rebuilt = kspec.build(kspec.load(tmp_path / "a.best.kspec"))
    tuned = import_keras().saving.load_model(tmp_path / "a.keras")
    assert [layer.get_config().get("units") for layer in rebuilt.layers] == \
        [layer.get_config().get("units") for layer in tuned.layers]
    assert tuned.count_params() == rebuilt.count_params() == 4 * 32 + 32 + 32 * 4 + 4


@pytest.mark.parametrize("algorithm", ["bayesian", "hyperband"])
def test_the_other_algorithms_run_the_same_trials_machinery(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            algorithm: str) -> None:
    spec, data = _write(tmp_path, rows=64)
    assert main(_tune(spec, data, tmp_path / "s", 3, "--algorithm", algorithm)) == 0
    out = capsys.readouterr().out
    assert f": {algorithm} search, 3 trial(s)" in out
    rows = _rows(out)
    assert 1 <= len(rows) <= 3 and all(r[1] in (1, 32) and r[2] in ("linear", "tanh") for r in rows)
    assert (tmp_path / "s.keras").exists() and (tmp_path / "s.best.kspec").exists()


def test_spaces_map_to_kerastuner_hyperparameters() -> None:
    from kspec.runtime.tune import _kt, declare
    from kspec.spec.kspec_form import parse_kspec

    spec = parse_kspec(
        "param units: int = 64 in [32, 64]\nparam bn: bool = true in [true, false]\n"
        "param depth: int = 2 in range(1, 5)\nparam width: int = 16 in range(8, 64, 8)\n"
        "param lr: float = 1e-3 in log(1e-4, 1e-2)\nparam scale: int = 4 in log(1, 64, 2)\n"
        "param rate: float = 0.25 in range(0.0, 0.5, 0.05)\nparam w: float = 1 in [1, 2]\n"
        "model m {\n  input x: (4,)\n  output y = x -> Dense(1)\n}\n")
    hp = _kt().HyperParameters()
    values = {p.name: declare(hp, p) for p in spec.params}
    assert values == {"units": 64, "bn": True, "depth": 2, "width": 16, "lr": 1e-3, "scale": 4, "rate": 0.25,
                      "w": 1.0}
    got = {h.name: (type(h).__name__, h.get_config()) for h in hp.space}
    assert got["units"][0] == "Choice" and got["units"][1]["values"] == [32, 64]
    assert got["bn"][0] == "Boolean"
    assert got["depth"][0] == "Int" and (got["depth"][1]["min_value"], got["depth"][1]["max_value"]) == (1, 5)
    assert (got["width"][1]["step"], got["width"][1]["sampling"]) == (8, "linear")
    assert got["lr"][0] == "Float" and (got["lr"][1]["min_value"], got["lr"][1]["sampling"]) == (1e-4, "log")
    assert (got["scale"][0], got["scale"][1]["step"], got["scale"][1]["sampling"]) == ("Int", 2, "log")
    assert got["rate"][1]["step"] == 0.05
    assert got["w"][1]["values"] == [1.0, 2.0]


def test_nothing_to_tune_and_foreign_directories_are_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    spec, data = _write(tmp_path)
    assert main([*_tune(spec, data, tmp_path / "s", 2), "-D", "units=8", "-D", "act=tanh"]) == 1
    assert "error[K218]: nothing to tune: no parameter has a search space that -D leaves open" in \
        capsys.readouterr().err
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(_tune(spec, data, other, 2)) == 2
    assert capsys.readouterr().err == (f"kspec: error: '{other}' holds files that are not a kspec search; "
                                       "give an empty or new --dir\n")
    assert (other / "notes.txt").read_text() == "keep me"
    assert main([*_tune(spec, data, tmp_path / "s", 2), "--objective", "val_loss:up"]) == 2
    assert "the direction after ':' is min or max" in capsys.readouterr().err


def test_a_broken_corner_stops_the_search_before_it_starts(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    spec, data = _write(tmp_path)
    spec.write_text(SPEC.replace("param units: int = 1 in [1, 32]", "param units: int = 4 in [1, 4, 32]")
                    .replace("-> Dense(4)", "-> Reshape((2, 2)) -> Flatten() -> Dense(4)"))
    assert main(_tune(spec, data, tmp_path / "s", 2)) == 1
    err = capsys.readouterr().err
    assert "error[K219]: with units=1 (and with units=32) from the search space: Reshape: cannot reshape" in err
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------------------
# slow: real processes


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    env.update(extra)
    return env


def _kspec(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kspec", *args], cwd=cwd, env=_env(**env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_ctrl_c_stops_and_the_same_command_resumes(tmp_path: Path) -> None:
    spec, data = _write(tmp_path, rows=4096)
    spec.write_text(SPEC.replace("epochs = 2", "epochs = 30"))
    args = _tune(spec, data, tmp_path / "s", 3)
    proc = _kspec(args, tmp_path)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # wait until the first trial has finished, then press Ctrl-C in the second
        lines.append(line)
        if line.startswith("trial 0:"):
            time.sleep(2)
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "interrupted: run the same command again to resume" in out
    again = subprocess.run([sys.executable, "-m", "kspec", *args], cwd=tmp_path, env=_env(), text=True,
                           capture_output=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert _ran(again.stdout) == {"1", "2"}  # trial 0 finished before Ctrl-C; trial 1 ran again from its start
    assert "3 in all" in again.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_chief_and_two_workers_share_one_search(tmp_path: Path) -> None:
    pytest.importorskip("grpc", reason="KerasTuner's distributed mode needs grpcio")
    spec, data = _write(tmp_path)
    spec.write_text(SPEC.replace('"linear" in ["linear", "tanh"]', '"linear" in ["linear", "tanh", "relu"]'))
    args = _tune(spec, data, tmp_path / "shared", 6)
    net = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    chief = _kspec(args, tmp_path, KERASTUNER_TUNER_ID="chief", **net)
    time.sleep(3)
    workers = [_kspec(args, tmp_path, KERASTUNER_TUNER_ID=f"tuner{i}", **net) for i in range(2)]
    results = [w.communicate(timeout=600) for w in workers]
    for w, (out, err) in zip(workers, results, strict=True):
        assert w.returncode == 0, err
        assert "worker done: ran" in out
    out, err = chief.communicate(timeout=600)
    assert chief.returncode == 0, err
    assert "6 in all" in out and "wrote" in out
    ran = [_ran(w_out) for w_out, _ in results]
    assert all(ran) and not ran[0] & ran[1], ran  # each worker ran trials of its own
    completed = {r[0] for r in _rows(out)}
    assert ran[0] | ran[1] == completed and len(completed) == 6  # the chief's results hold both workers' trials


def _ran(out: str) -> set[str]:
    """The trials a run of ``kspec tune`` ran, from its progress lines (``trial 3: units=32, ...``)."""
    return set(re.findall(r"^trial (\d+): ", out, re.M))
