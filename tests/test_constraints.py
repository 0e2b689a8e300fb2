"""``constraints.txt`` pins, for the README's set-up and CI, the versions of
Lark and pydantic that kspec's generated files are made with (the parser
tables, the YAML validation schema), so that a fresh set-up runs them
rather than rebuilding them at every start, whatever PyPI has published
since. The pins move with the files: a regeneration with another version
and no change of pin (or the reverse) fails here."""

from __future__ import annotations

import re
from importlib.metadata import requires, version
from pathlib import Path

from kspec.spec import _ir_schema, _kspec_tables

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, pinned = line.partition("==")
            assert sep and re.fullmatch(r"[0-9][0-9a-z.]*", pinned.strip()), f"not an exact pin: {line}"
            pins[name.strip().lower()] = pinned.strip()
    return pins


def test_the_pins_are_the_versions_the_generated_files_were_made_with() -> None:
    pins = _pins()
    assert set(pins) == {"lark", "pydantic", "pydantic-core"}
    assert pins["lark"] == _kspec_tables.LARK_VERSION
    assert pins["pydantic-core"] == _ir_schema.PYDANTIC_CORE_VERSION


def test_the_set_up_installs_the_pinned_versions() -> None:
    """The README's set-up (``make``) installs with the constraints; so does
    CI. pydantic pins its own core, so the pinned pair must agree."""
    pins = _pins()
    assert {name: version(name) for name in pins} == pins, "install with: pip install -c constraints.txt ..."
    assert f"pydantic-core=={pins['pydantic-core']}" in (requires("pydantic") or [])


def test_the_makefile_installs_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = [line for line in makefile.splitlines() if "pip install" in line and "--upgrade pip" not in line
                and "--no-index" not in line]
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    assert "$(STAMP): pyproject.toml constraints.txt" in makefile
