"""Golden tests for the .kspec language (no keras needed).

- ``fixtures/kspec/valid/NAME.kspec``: parses and expands; the canonical
  YAML of the parsed spec equals ``NAME.parsed.yaml`` and of the expanded
  spec ``NAME.expanded.yaml``.
- ``fixtures/kspec/invalid/NAME.kspec``: loading fails; the rendered
  diagnostics (message, line, column, source line, caret, notes, hint)
  equal ``NAME.expected``.

``KSPEC_REGEN_GOLDEN=1`` rewrites the expected files (review the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kspec import KspecError
from kspec.compiler.expand import expand_spec
from kspec.compiler.pipeline import load_text
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.yaml_form import load_yaml
from kspec.spec.yaml_printer import dump_yaml

ROOT = Path(__file__).parent / "fixtures" / "kspec"
REGEN = os.environ.get("KSPEC_REGEN_GOLDEN") == "1"


def _cases(kind: str) -> list[Path]:
    return sorted((ROOT / kind).glob("*.kspec"))


def _compare(path: Path, text: str) -> None:
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", _cases("valid"), ids=lambda p: p.name)
def test_valid_program_gives_expected_ir(path: Path) -> None:
    spec = parse_kspec(path.read_text(encoding="utf-8"), str(path))
    _compare(path.with_suffix(".parsed.yaml"), dump_yaml(spec))
    expanded = load_text(path.read_text(encoding="utf-8"), str(path))
    _compare(path.with_suffix(".expanded.yaml"), dump_yaml(expanded))
    # the expected YAML reads back to the same IR
    assert load_yaml(path.with_suffix(".parsed.yaml").read_text(encoding="utf-8")) == spec
    assert expand_spec(spec, {}) == expanded


@pytest.mark.parametrize("path", _cases("invalid"), ids=lambda p: p.name)
def test_invalid_program_fails_with_expected_message(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    with pytest.raises(KspecError) as info:
        load_text(source, path.name)
    rendered = info.value.render({path.name: source}) + "\n"
    _compare(path.with_suffix(".expected"), rendered)
    for diag in info.value.diagnostics:
        assert diag.span is not None and diag.span.file == path.name and diag.span.line >= 1
