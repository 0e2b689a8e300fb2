"""Every file kspec writes goes through kspec._atomic: a failure while
writing leaves no file behind and an existing file untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kspec._atomic import atomic_path, write_text_atomic


def test_failure_inside_the_block_leaves_the_target_untouched_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.weights.h5"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="writer failed"), atomic_path(target) as tmp:
        assert tmp.name.endswith(".weights.h5")  # writers that choose a format by suffix still work
        assert tmp.parent == tmp_path and not tmp.exists()
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("writer failed")
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["model.weights.h5"]


def test_success_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "spec.kspec"
    target.write_text("old", encoding="utf-8")
    write_text_atomic(target, "model m {\r\n}\n")
    assert target.read_bytes() == b"model m {\r\n}\n"  # newlines written as given
    assert os.listdir(tmp_path) == ["spec.kspec"]
