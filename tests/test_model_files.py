"""A model file is judged before Keras reads it: truncated, foreign, empty
of a model, or larger than the limits, each said in one true sentence."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from kspec.runtime.model_files import model_file_problem
from kspec.spec import limits


def test_problems_are_named(tmp_path: Path) -> None:
    text = tmp_path / "m.keras"
    text.write_text("hello")
    assert model_file_problem(text) == "it is not a complete .keras archive (truncated, or not a Keras model)"
    empty = tmp_path / "e.keras"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("notes.txt", "x")
    assert model_file_problem(empty) == "the archive holds no Keras model (no config.json)"
    h5 = tmp_path / "m.h5"
    h5.write_bytes(b"\x00" * 600)
    assert model_file_problem(h5) == "it is not an HDF5 file (truncated, or not a Keras model)"
    assert model_file_problem(tmp_path / "none.keras") == "no such file"
    assert model_file_problem(tmp_path).startswith("it is not a regular file")


def test_an_archive_that_unpacks_past_the_limit_is_refused_unread(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", bytes(5_000_000))  # 5 MB of zeros, a few KB stored
    assert bomb.stat().st_size < 100_000
    assert model_file_problem(bomb) is None
    with limits.using(limits.Limits(data_bytes=1_000_000)):
        assert model_file_problem(bomb) == (
            "it unpacks to 5000002 bytes, more than the limit data_bytes=1000000 (--limit data_bytes=SIZE raises it)")


def test_decompile_reports_a_truncated_model_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kspec.cli import main

    bad = tmp_path / "cut.keras"
    bad.write_bytes(b"PK\x03\x04" + bytes(100))
    assert main(["decompile", str(bad), "-o", str(tmp_path / "x.kspec")]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{bad}:1:1: error[K500]: cannot load model: it is not a complete .keras archive (truncated, or not a "
        "Keras model)")
    assert not (tmp_path / "x.kspec").exists()
