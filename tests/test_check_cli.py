"""``kspec check``: exit codes, output formats, no keras import, and the
shipped catalogue matching the installed Keras."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BAD = ROOT / "tests" / "fixtures" / "shapes" / "add_mismatch.yaml"


def test_clean_files_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", *map(str, EXAMPLES)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out == "".join(f"{p}: ok\n" for p in EXAMPLES)


def test_errors_exit_1_and_other_files_still_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(BAD), str(EXAMPLES[0])])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == f"{EXAMPLES[0]}: ok\n"
    assert err.startswith(f"{BAD}:7:40: error[K401]: Add: shapes (None, 32) and (None, 64) cannot be added\n")


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    code = main(["check", str(missing), str(BAD)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith(f"kspec: error: cannot access '{missing}': No such file or directory\n")


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--format", "json", str(BAD), str(EXAMPLES[0])])
    out, _ = capsys.readouterr()
    assert code == 1
    report = json.loads(out)
    assert [r["ok"] for r in report] == [False, True]
    (diag,) = report[0]["diagnostics"]
    assert diag == {"code": "K401", "severity": "error",
                    "message": "Add: shapes (None, 32) and (None, 64) cannot be added",
                    "file": str(BAD), "line": 7, "column": 40, "end_line": 7, "end_column": 43, "hint": None,
                    "notes": []}
    assert report[1] == {"file": str(EXAMPLES[0]), "ok": True, "diagnostics": []}


def test_check_imports_neither_keras_nor_tensorflow() -> None:
    code = (
        "import sys\n"
        "from kspec.cli import main\n"
        f"rc = main(['check', {str(BAD)!r}, {str(EXAMPLES[0])!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax', 'torch'))\n"
        "print(rc, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.strip().splitlines()[-1] == "1 []"


def test_shipped_catalogue_matches_installed_keras() -> None:
    spec = importlib.util.spec_from_file_location("gen_catalogue", ROOT / "scripts" / "gen_catalogue.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    from kspec.compiler.catalogue import load_data

    fresh = json.loads(gen.dumps(gen.generate()))
    shipped = load_data()
    assert fresh["keras_version"] == shipped["keras_version"]
    stale = sorted(k for k in set(fresh["layers"]) | set(shipped["layers"])
                   if fresh["layers"].get(k) != shipped["layers"].get(k))
    assert stale == [], "run python scripts/gen_catalogue.py"
    assert fresh == shipped, "run python scripts/gen_catalogue.py"
