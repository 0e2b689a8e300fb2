"""The end-to-end path on every Keras backend, and models moving between them.

Each backend runs in its own process (``KERAS_BACKEND``; a process holds one
backend): compile every example, train ``regression_train``, evaluate,
predict, decompile and compile again (``tests/_backend_worker.py``). The
saved configuration of every example is the same on every backend, and a
model trained on one backend predicts the same on another (atol 1e-5).
PyTorch runs where its CPU build is installed, and is skipped, saying why,
where it is not.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "_backend_worker.py"
BACKENDS = ("tensorflow", "jax", "torch")


def _env(backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TF_CONFIG")}
    return {**env, "KERAS_BACKEND": backend}


@functools.cache
def _importable(backend: str) -> str | None:
    """Why ``backend``'s framework cannot be imported here, or None when it can."""
    done = subprocess.run([sys.executable, "-c", f"import {backend}"], capture_output=True, text=True, timeout=120)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["import failed"])[-1]


def _need(backend: str) -> None:
    reason = _importable(backend)
    if reason is not None:
        pytest.skip(f"the {backend} backend is not installed here ({reason}); the Makefile installs torch only "
                    "from a local CPU wheel")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Per backend, its work directory and the worker's report (run on first use)."""
    return {}


def _report(reports: dict[str, tuple[Path, dict[str, Any]]], backend: str,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    _need(backend)
    if backend not in reports:
        work = tmp_path_factory.mktemp(f"e2e-{backend}")
        rng = np.random.default_rng(0)
        x = rng.normal(size=(256, 8)).astype("float32")
        y = (x @ rng.normal(size=(8, 1))).astype("float32")
        np.savez(work / "train.npz", features=x, price=y)
        done = subprocess.run([sys.executable, str(WORKER), "e2e", str(work)], capture_output=True, text=True,
                              timeout=600, env=_env(backend), cwd=work)
        lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
        assert done.returncode == 0 and lines, done.stderr[-3000:]
        reports[backend] = (work, json.loads(lines[-1][len("REPORT "):]))
    return reports[backend]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_command_works_on_the_backend(backend: str, reports: dict[str, Any],
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    work, report = _report(reports, backend, tmp_path_factory)
    assert report["backend"] == backend
    assert report["codes"] == {**{f"compile {p.name}": 0 for p in sorted((ROOT / "examples").glob("*.kspec"))},
                               "train": 0, "evaluate": 0, "predict": 0, "decompile": 0, "recompile": 0}
    assert report["recompiled_same_predictions"] is True
    assert report["recompiled_same_architecture"] is True
    with np.load(work / "pred.npz") as pred:
        assert pred["price"].shape == (256, 1)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_spec_saves_the_same_configuration_on_every_backend(backend: str, reports: dict[str, Any],
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    _, reference = _report(reports, "tensorflow", tmp_path_factory)
    _, report = _report(reports, backend, tmp_path_factory)
    assert len(report["compiled"]) == len(list((ROOT / "examples").glob("*.kspec")))
    assert report["compiled"] == reference["compiled"]


@pytest.mark.parametrize(("trained_on", "loaded_on"), [("jax", "tensorflow"), ("tensorflow", "jax"),
                                                       ("torch", "jax"), ("jax", "torch")])
def test_a_model_trained_on_one_backend_predicts_the_same_on_another(
        trained_on: str, loaded_on: str, reports: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    work, _ = _report(reports, trained_on, tmp_path_factory)
    _need(loaded_on)
    out = work / f"pred-on-{loaded_on}.npz"
    done = subprocess.run([sys.executable, str(WORKER), "predict", str(work / "regressor.keras"),
                           str(work / "train.npz"), str(out)], capture_output=True, text=True, timeout=300,
                          env=_env(loaded_on), cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(work / "pred.npz") as here, np.load(out) as there:
        assert not np.allclose(here["price"], 0.0)
        np.testing.assert_allclose(there["price"], here["price"], atol=1e-5, rtol=0)
