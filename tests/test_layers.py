"""The package's layering contract, checked with import-linter.

``pyproject.toml`` states it: ``cli``/``commands`` > ``runtime`` > ``compiler``
> ``spec`` > ``catalogue``, each importing only the layers below it; no import
cycles anywhere in the package; only ``runtime`` imports keras or a backend.
The planted tests show that the contracts really catch what they forbid.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers() -> None:
    result = _lint(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to plant a bad import in."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src" / "kspec", tmp_path / "src" / "kspec",
                    ignore=shutil.ignore_patterns("__pycache__", "*.json", "_kspec_tables.py"))
    return tmp_path


def test_an_upward_import_breaks_the_layers(planted: Path) -> None:
    (planted / "src" / "kspec" / "spec" / "planted.py").write_text("from kspec.compiler import graph\n")
    result = _lint(planted, planted / "src")
    assert result.returncode == 1
    assert "kspec.spec is not allowed to import kspec.compiler" in result.stdout
    assert "kspec.spec.planted -> kspec.compiler.graph" in result.stdout


def test_a_cycle_breaks_the_acyclic_contract(planted: Path) -> None:
    compiler = planted / "src" / "kspec" / "compiler"
    (compiler / "planted_a.py").write_text("from kspec.compiler import planted_b\n")
    (compiler / "planted_b.py").write_text("from kspec.compiler import planted_a\n")
    result = _lint(planted, planted / "src")
    assert result.returncode == 1
    assert "no import cycles inside kspec BROKEN" in result.stdout


def test_keras_outside_runtime_breaks_the_contract(planted: Path) -> None:
    (planted / "src" / "kspec" / "compiler" / "planted.py").write_text("import keras\n")
    result = _lint(planted, planted / "src")
    assert result.returncode == 1
    assert "only kspec.runtime imports keras or a backend framework BROKEN" in result.stdout
