"""pydantic-core's compiled validator, loaded without the rest of its package
(:mod:`kspec.spec._core`): what kspec validates with, and what an
application importing pydantic afterwards gets."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> list[str]:
    """The lines ``code`` prints, in a new process (what is loaded depends on what was before)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stderr.splitlines() + out.stdout.splitlines()


def test_the_compiled_module_is_loaded_alone_and_the_package_later_has_the_same_classes() -> None:
    lines = _run(
        "import sys\n"
        "from kspec.spec._core import core\n"
        "m = core()\n"
        "print(m.__name__, sorted(k for k in sys.modules if k.startswith(('pydantic', 'typing_extensions'))))\n"
        "import pydantic_core, pydantic\n"
        "print(pydantic_core.SchemaValidator is m.SchemaValidator,\n"
        "      pydantic_core.ValidationError is m.ValidationError)\n"
        "class P(pydantic.BaseModel):\n"
        "    n: int\n"
        "try:\n"
        "    P(n='x')\n"
        "except m.ValidationError as exc:\n"
        "    print(exc.errors()[0]['type'])\n"
        "print(P(n=3).n)\n"
    )
    assert lines == ["pydantic_core._pydantic_core []", "True True", "int_parsing", "3"]


def test_the_package_is_used_when_it_is_imported_already() -> None:
    lines = _run("import pydantic_core\nfrom kspec.spec._core import core\nprint(core() is pydantic_core)\n")
    assert lines == ["True"]


@pytest.mark.parametrize("version", ["0.0.0", "2.50.5.dev0"])
def test_another_pydantic_core_version_is_imported_as_usual(version: str) -> None:
    lines = _run(
        "import sys\n"
        "from kspec.spec import _ir_schema\n"
        f"_ir_schema.PYDANTIC_CORE_VERSION = {version!r}\n"
        "from kspec.spec._core import core\n"
        "import pydantic_core\n"
        "print(core() is sys.modules['pydantic_core'] is pydantic_core)\n"
    )
    assert lines == ["True"]


def test_a_yaml_spec_validated_by_the_compiled_module_alone_reports_in_the_specs_words(tmp_path) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text("models:\n  - name: m\n    inputs: {x: [4, -2]}\n    outputs: {y: {from: x, apply: Dense}}\n",
                    encoding="utf-8")
    lines = _run(
        "import sys\n"
        "from kspec.cli import main\n"
        f"code = main(['check', {str(spec)!r}])\n"
        "print(code, sorted(k for k in sys.modules if k.startswith('pydantic')))\n"
    )
    assert lines[0] == f"{spec}:3:17: error[K102]: dimensions must be positive or None, got -2 " \
                       "(at 'models.0.inputs.0.shape')"
    assert lines[-1] == "1 []"
