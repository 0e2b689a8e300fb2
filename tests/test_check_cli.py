"""``kspec check``: exit codes, output formats, no keras import, and the
shipped catalogue matching the installed Keras."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _scripts import load_script
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


def test_check_summary_graph_import_neither_keras_nor_tensorflow(tmp_path: Path) -> None:
    svg = tmp_path / "g.svg"
    code = (
        "import sys\n"
        "from kspec.cli import main\n"
        f"rc = [main(['check', {str(BAD)!r}, {str(EXAMPLES[0])!r}]), main(['summary', {str(EXAMPLES[0])!r}]),\n"
        f"      main(['graph', {str(EXAMPLES[0])!r}, '-o', {str(svg)!r}])]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax', 'torch'))\n"
        "print(rc, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.strip().splitlines()[-1] == "[1, 0, 0] []"


def test_shipped_catalogue_matches_installed_keras() -> None:
    gen: Any = load_script("gen_catalogue")
    from kspec.catalogue import load_data

    fresh = json.loads(gen.dumps(gen.generate()))
    shipped = load_data()
    assert fresh["keras_version"] == shipped["keras_version"]
    stale = sorted(k for k in set(fresh["layers"]) | set(shipped["layers"])
                   if fresh["layers"].get(k) != shipped["layers"].get(k))
    assert stale == [], "run python scripts/gen_catalogue.py"
    assert fresh == shipped, "run python scripts/gen_catalogue.py"


SIAMESE = ROOT / "examples" / "siamese.yaml"

SIAMESE_SUMMARY = """\
Model: "matcher" (functional)
--------------------------------------------------------------------------------------------
Layer (type)                   Output Shape     Param #  Connected to
============================================================================================
left (InputLayer)              (None, 100)            0
right (InputLayer)             (None, 100)            0
encoder_embedding (Embedding)  (None, 100, 64)  640,000  left, right (shared: 2 calls)
encoder_lstm (LSTM)            (None, 32)        12,416  encoder_embedding (shared: 2 calls)
merged (Concatenate)           (None, 64)             0  encoder_lstm
same (Dense)                   (None, 1)             65  merged
topic (Dense)                  (None, 5)            325  merged
--------------------------------------------------------------------------------------------
Total params: 652,806
Trainable params: 652,806
Non-trainable params: 0
"""


def test_summary_is_static_and_exact(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(SIAMESE)]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (SIAMESE_SUMMARY, "")


def test_summary_marks_layers_without_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("models:\n  - name: m\n    kind: sequential\n    input: [4]\n    layers:\n"
                    "      - StringLookup: {output_mode: multi_hot}\n      - Dense: [2]\n", encoding="utf-8")
    assert main(["summary", str(spec)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [" ".join(row.split()) for row in out[4:6]] == ["string_lookup (StringLookup) ? ?",
                                                           "dense (Dense) ? ?"]
    assert out[-2:] == ["Total params: ?",
                        "(no static rule for: string_lookup, dense; use --keras for exact figures)"]


def test_summary_unknown_model_is_a_spec_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(SIAMESE), "--model", "matchr"]) == 1
    assert "error[K207]: no model named 'matchr' (the spec has: matcher)" in capsys.readouterr().err


def test_graph_dot_shows_sharing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.dot"
    assert main(["graph", str(SIAMESE), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out} (7 layers, model 'matcher')\n"
    dot = out.read_text(encoding="utf-8")
    assert ('  "encoder_lstm" [label="encoder_lstm (LSTM)\\n(None, 32)\\nshared x2", penwidth=2.5, '
            'color="#1f5fbf"];') in dot
    assert '  "left" -> "encoder_embedding";\n  "right" -> "encoder_embedding";\n' in dot
    assert dot.startswith('digraph "matcher" {\n') and dot.endswith("}\n")


def test_graph_svg_is_drawn_without_dependencies(tmp_path: Path) -> None:
    out = tmp_path / "g.svg"
    assert main(["graph", str(ROOT / "examples" / "resnet_small.yaml"), "-o", str(out)]) == 0
    svg = out.read_text(encoding="utf-8")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.count("<rect ") == 15
    assert ">block_2_output (Add)</text>" in svg
    assert svg.count("<polyline ") == 16


def test_graph_refuses_unknown_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(SIAMESE), "-o", str(tmp_path / "g.pdf")]) == 2
    expected = f"kspec: error: cannot write '{tmp_path / 'g.pdf'}': use a .dot, .svg or .png file\n"
    assert capsys.readouterr().err == expected


def _kspec(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The real executable path: ``python -m kspec`` runs ``kspec.cli.run``,
    as the console script does."""
    return subprocess.run([sys.executable, "-m", "kspec", *args], capture_output=True, text=True, timeout=120,
                          check=False, **kwargs)  # type: ignore[call-overload]


def test_executable_keeps_exit_codes_and_all_output(tmp_path: Path) -> None:
    """``run`` skips the interpreter's teardown after static commands; the
    exit code and every line of output (both streams) must survive that."""
    proc = _kspec("check", str(BAD), *map(str, EXAMPLES))
    assert proc.returncode == 1
    assert proc.stdout == "".join(f"{p}: ok\n" for p in EXAMPLES)
    assert proc.stderr.startswith(f"{BAD}:7:40: error[K401]: Add: shapes (None, 32) and (None, 64) cannot be added\n")
    assert _kspec("check", str(tmp_path / "nope.yaml")).returncode == 2
    assert _kspec("check", *map(str, EXAMPLES)).returncode == 0
    svg = tmp_path / "g.svg"
    proc = _kspec("graph", str(EXAMPLES[0]), "-o", str(svg))
    assert proc.returncode == 0, proc.stderr
    assert svg.read_text(encoding="utf-8").rstrip().endswith("</svg>")


def test_executable_runs_atexit_handlers(tmp_path: Path) -> None:
    """Handlers registered with ``atexit`` (by a plugin, logging, ...) still
    run when the teardown is skipped."""
    marker = tmp_path / "ran"
    code = (
        "import atexit, pathlib, sys\n"
        f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
        f"sys.argv = ['kspec', 'check', {str(EXAMPLES[0])!r}]\n"
        "from kspec.cli import run\n"
        "run()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout) == (0, f"{EXAMPLES[0]}: ok\n")
    assert marker.read_text() == "yes"


def test_closed_pipe_is_quiet() -> None:
    """``kspec check ... | head -1``: no traceback, no bogus I/O error."""
    proc = subprocess.Popen([sys.executable, "-m", "kspec", "check", *map(str, EXAMPLES * 400)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 1
    assert first == f"{EXAMPLES[0]}: ok\n".encode()
    assert err == b""
