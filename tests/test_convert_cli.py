"""``kspec convert`` both ways, and every example's YAML twin."""

from __future__ import annotations

from pathlib import Path

import pytest

from kspec.cli import main
from kspec.compiler.pipeline import load_path
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.yaml_form import load_yaml

EXAMPLES = Path(__file__).parent.parent / "examples"
TWINS = sorted(p for p in EXAMPLES.glob("*.kspec") if p.with_suffix(".yaml").exists())


@pytest.mark.parametrize("path", TWINS, ids=lambda p: p.stem)
def test_every_kspec_example_equals_its_yaml_twin(path: Path) -> None:
    assert load_path(path) == load_path(path.with_suffix(".yaml"))


def test_every_yaml_example_has_a_kspec_twin() -> None:
    missing = [p.name for p in EXAMPLES.glob("*.yaml") if not p.with_suffix(".kspec").exists()]
    assert missing == []


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.kspec")), ids=lambda p: p.stem)
def test_convert_round_trips_every_example(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    as_yaml = tmp_path / f"{path.stem}.yaml"
    back = tmp_path / f"{path.stem}.kspec"
    assert main(["convert", str(path), str(as_yaml)]) == 0
    assert main(["convert", str(as_yaml), str(back)]) == 0
    assert capsys.readouterr().out == f"wrote {as_yaml}\nwrote {back}\n"
    original = parse_kspec(path.read_text(encoding="utf-8"))
    assert load_yaml(as_yaml.read_text(encoding="utf-8")) == original
    assert parse_kspec(back.read_text(encoding="utf-8")) == original


def test_convert_keeps_blocks_unexpanded(tmp_path: Path) -> None:
    out = tmp_path / "r.yaml"
    assert main(["convert", str(EXAMPLES / "resnet50.kspec"), str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("params:\n  classes:\n    type: int\n    default: 1000\n")
    assert "blocks:\n  bottleneck:\n    inputs: [x]\n" in text


def test_convert_to_stdout_needs_no_suffix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(EXAMPLES / "siamese.yaml"), "-"]) == 0
    assert capsys.readouterr().out.startswith("model matcher {\n  input left: (100,) int32\n")


def test_convert_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(tmp_path / "nope.kspec"), str(tmp_path / "x.yaml")]) == 2
    assert "nope.kspec" in capsys.readouterr().err


def test_yaml_expressions_are_kspec_syntax_and_errors_are_located() -> None:
    from kspec import KspecError

    text = ("params:\n  width: {type: int, default: 4}\nmodels:\n  - name: m\n    inputs: {x: [4]}\n"
            "    outputs:\n      y: {from: x, apply: {Dense: [{expr: 'width * 2'}]}}\n")
    spec = load_yaml(text, "m.yaml")
    assert parse_kspec("param width: int = 4\nmodel m {\n  input x: (4,)\n  output y = x -> Dense(width * 2)\n}\n") \
        == spec
    with pytest.raises(KspecError) as info:
        load_yaml(text.replace("width * 2", "width *"), "m.yaml")
    assert str(info.value) == ("m.yaml:7:43: error[K102]: in the expression 'width *': unexpected end of the file; "
                               "expected a value")
