"""``kspec fmt``: canonical layout, comments kept, --check lists files."""

from __future__ import annotations

from pathlib import Path

import pytest

from kspec.cli import main

MESSY = """# header comment
model   m{input x:(4,) # the input
h=x->Dense( 8,activation = "relu")->Dropout(0.5)

# the result
output y=h->Dense(1)}
"""

CANONICAL = """# header comment
model m {
  input x: (4,)  # the input
  h = x -> Dense(8, activation="relu") -> Dropout(0.5)

  # the result
  output y = h -> Dense(1)
}
"""


def test_fmt_rewrites_to_canonical_layout_keeping_comments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "m.kspec"
    f.write_text(MESSY, encoding="utf-8")
    assert main(["fmt", str(f)]) == 0
    assert f.read_text(encoding="utf-8") == CANONICAL
    assert capsys.readouterr().out == f"formatted {f}\n"
    assert main(["fmt", str(f)]) == 0  # idempotent: nothing to do the second time
    assert capsys.readouterr().out == ""


def test_fmt_check_exits_1_and_lists_files_it_would_change(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    messy, clean = tmp_path / "a.kspec", tmp_path / "b.kspec"
    messy.write_text(MESSY, encoding="utf-8")
    clean.write_text(CANONICAL, encoding="utf-8")
    assert main(["fmt", "--check", str(messy), str(clean)]) == 1
    assert capsys.readouterr().out == f"would reformat {messy}\n"
    assert messy.read_text(encoding="utf-8") == MESSY  # --check writes nothing
    assert main(["fmt", "--check", str(clean)]) == 0


def test_fmt_reports_syntax_errors_with_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.kspec"
    f.write_text("model m {\n  input x: (4,)\n  h = x -> Dense(8\n}\n", encoding="utf-8")
    assert main(["fmt", str(f)]) == 1
    err = capsys.readouterr().err
    assert err == (f"{f}:4:1: error[K103]: expected ')' to close the call opened at 3:17\n"
                   "   4 | }\n     | ^\n   hint: found '}'\n1 error found\n")


def test_fmt_refuses_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("models: []\n", encoding="utf-8")
    assert main(["fmt", str(f)]) == 2
    assert "fmt formats .kspec files" in capsys.readouterr().err


def test_fmt_wraps_long_settings_and_stays_idempotent() -> None:
    from kspec.commands.fmt import format_text

    text = ("sequential s {\n  input (4,)\n  Dense(2)\n}\ncompile s {\n  optimizer = Adam(learning_rate=1e-3)  # fast\n"
            "  metrics = [accuracy, top_k_categorical_accuracy(k=3), AUC(name=\"auc_metric\"), Precision(), Recall()]\n"
            "  loss = mse\n}\n")
    once = format_text(text)
    assert once == (
        "sequential s {\n  input (4,)\n  Dense(2)\n}\n\ncompile s {\n  optimizer = Adam(learning_rate=0.001)  # fast\n"
        "  metrics = [\n    \"accuracy\",\n    top_k_categorical_accuracy(k=3),\n    AUC(name=\"auc_metric\"),\n"
        "    Precision(),\n    Recall(),\n  ]\n  loss = \"mse\"\n}\n")
    assert format_text(once) == once
