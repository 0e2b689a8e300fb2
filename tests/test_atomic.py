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


_IN_FLIGHT = """
import os, signal, sys, time
from pathlib import Path
from kspec._atomic import temporary_in_flight
tmp = Path(sys.argv[1])
with temporary_in_flight(tmp):
    tmp.mkdir()
    (tmp / "saved_model.pb").write_bytes(b"x")
    print("ready", flush=True)
    time.sleep(60)
"""


def test_a_directory_in_flight_is_removed_on_sigterm(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    tmp = tmp_path / ".out.kspec-1-abcd.tmp"
    with subprocess.Popen([sys.executable, "-c", _IN_FLIGHT, str(tmp)], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        assert (tmp / "saved_model.pb").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    assert not tmp.exists() and list(tmp_path.iterdir()) == []
