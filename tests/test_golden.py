"""Golden tests.

- ``tests/fixtures/valid/NAME.yaml``: compiles, and its ``model.to_json()``
  equals ``NAME.json`` beside it, byte for byte.
- ``tests/fixtures/invalid/NAME.yaml``: fails, and the rendered diagnostics
  (message, line, column, source line, caret, hint) equal ``NAME.expected``.

Set ``KSPEC_REGEN_GOLDEN=1`` to rewrite the expected files (then review the
diff: that is the point of a golden test).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kspec
from kspec import KspecError

FIXTURES = Path(__file__).parent / "fixtures"
REGEN = os.environ.get("KSPEC_REGEN_GOLDEN") == "1"
SPEC_SUFFIXES = (".yaml", ".kspec")


def _specs(kind: str) -> list[Path]:
    return sorted(p for p in (FIXTURES / kind).iterdir() if p.suffix in SPEC_SUFFIXES)


def _load(path: Path) -> kspec.Spec:
    # The file name alone keeps expected messages independent of the checkout path.
    fmt = "yaml" if path.suffix == ".yaml" else "kspec"
    return kspec.loads(path.read_text(encoding="utf-8"), format=fmt, file=path.name)


@pytest.mark.parametrize("path", _specs("valid"), ids=lambda p: p.name)
def test_valid_fixture_compiles_to_expected_json(path: Path) -> None:
    text = kspec.build(_load(path)).to_json()
    expected = path.with_suffix(".json")
    if REGEN:
        expected.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", _specs("invalid"), ids=lambda p: p.name)
def test_invalid_fixture_fails_with_expected_message(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    with pytest.raises(KspecError) as info:
        kspec.build(_load(path))
    rendered = info.value.render({path.name: source})
    expected = path.with_suffix(".expected")
    if REGEN:
        expected.write_text(rendered + "\n", encoding="utf-8")
    assert rendered + "\n" == expected.read_text(encoding="utf-8")
    for diag in info.value.diagnostics:
        assert diag.span is not None and diag.span.file == path.name
