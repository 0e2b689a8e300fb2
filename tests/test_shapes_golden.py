"""Golden invalid-shape specs: ``kspec check`` prints exactly the expected
diagnostics (message, line, column, excerpt) and exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from kspec.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "shapes"
CASES = sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_shape_error_is_located_and_exact(path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(FIXTURES)
    code = main(["check", path.name])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == path.with_suffix(".expected").read_text(encoding="utf-8")


def test_fixtures_exist() -> None:
    assert len(CASES) >= 8
