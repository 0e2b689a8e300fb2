"""Search spaces on parameters (no keras needed): the corners ``kspec check``
tries, the exact reports, ``summary``, ``fmt`` and ``convert``.

- ``fixtures/kspec/corners/NAME.kspec``: ``load_text(..., corners=True)``
  either succeeds (no ``NAME.expected``) or fails with the rendered
  diagnostics in ``NAME.expected``.

The grammar of spaces and the ``K103``/``K218`` errors are golden files of
``test_language_golden.py`` (``valid/search_spaces.kspec``,
``invalid/space_*.kspec``); YAML errors are in ``fixtures/invalid/space_*``.
``KSPEC_REGEN_GOLDEN=1`` rewrites the expected files (review the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kspec import KspecError
from kspec.cli import main
from kspec.compiler.pipeline import check_corners, load_text, parse_text
from kspec.compiler.spaces import corners, value_type
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.yaml_form import load_yaml
from kspec.spec.yaml_printer import dump_yaml

ROOT = Path(__file__).parent / "fixtures" / "kspec" / "corners"
REGEN = os.environ.get("KSPEC_REGEN_GOLDEN") == "1"


@pytest.mark.parametrize("path", sorted(ROOT.glob("*.kspec")), ids=lambda p: p.name)
def test_corners_of_each_space_are_checked(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    expected = path.with_suffix(".expected")
    load_text(source, path.name)  # the defaults always build
    try:
        load_text(source, path.name, corners=True)
    except KspecError as exc:
        rendered = exc.render({path.name: source}) + "\n"
        if REGEN:
            expected.write_text(rendered, encoding="utf-8")
        assert expected.is_file(), f"{path.name} fails at a corner:\n{rendered}"
        assert rendered == expected.read_text(encoding="utf-8")
        assert all(d.code == "K219" for d in exc.diagnostics)
    else:
        assert not expected.exists(), f"{path.name} should fail at a corner"


def test_a_define_fixes_a_parameter_so_its_corners_are_not_tried() -> None:
    source = (ROOT / "reshape_largest.kspec").read_text(encoding="utf-8")
    load_text(source, "r.kspec", defines={"units": 16}, corners=True)
    assert corners(parse_text(source, "r.kspec"), {"units": 16}) == [{"rate": 0.0}, {"rate": 0.5}]


def test_corners_are_bounded_and_fewest_changes_come_first() -> None:
    params = "\n".join(f"param p{i}: int = 2 in [1, 2, 3]" for i in range(6))
    model = "model m {\n  input x: (4,)\n  output y = x -> Dense(p0 + p1 + p2 + p3 + p4 + p5)\n}\n"
    spec = parse_kspec(params + "\n" + model)
    combos = corners(spec, limit=10)
    assert len(combos) == 10
    assert [len(c) for c in combos] == [1] * 10  # each parameter's ends alone, before any combination
    all_combos = corners(spec, limit=100)
    assert {len(c) for c in all_combos} == {1, 6}  # 6**3 is too many: all low and all high ends, not the product
    assert {"p0": 1, "p1": 1, "p2": 1, "p3": 1, "p4": 1, "p5": 1} in all_combos


def test_small_spaces_are_checked_in_every_combination() -> None:
    text = ("param a: int = 4 in [2, 4]\nparam b: int = 4 in [2, 4]\nmodel m {\n  input x: (16,)\n"
            "  output y = x -> Dense(a * b) -> Reshape((4, 4))\n}\n")
    spec = parse_kspec(text, "c.kspec")
    assert corners(spec) == [{"a": 2}, {"b": 2}, {"a": 2, "b": 2}]
    (diag,) = check_corners(spec)
    assert diag.message.startswith("with a=2 (and with b=2) from the search space: Reshape: cannot reshape")


def test_value_types_follow_declaration_then_values() -> None:
    spec = parse_kspec('param a = 1 in [1, 2.5]\nparam b = "x" in ["x", "y"]\nparam c: float = 1 in range(0, 2)\n'
                       "model m {\n  input x: (4,)\n  output y = x -> Dense(1)\n}\n")
    assert [value_type(p) for p in spec.params] == ["float", "str", "float"]


SPACED = """\
param units: int = 64 in [32, 64, 128]   # width
param lr: float = 1e-3 in log(1e-4, 1e-2)
param depth: int = 2 in range(1, 4)
param bn: bool = true in [true, false]
param act = "relu"

model m {
  input x: (8,)
  output y = x -> Dense(units, activation=act) -> Dense(depth)
}
"""


def test_summary_lists_the_parameters_that_vary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.kspec"
    spec.write_text(SPACED)
    assert main(["summary", str(spec), "-D", "depth=3"]) == 0
    out = capsys.readouterr().out
    assert "y (Dense)        (None, 3)         195  y_dense\n" in out  # the table comes first, as before
    assert out[out.index("Search space"):] == (
        "Search space: 3 parameters vary (kspec tune)\n"
        "  units: int = 64 in [32, 64, 128]\n"
        "  lr: float = 0.001 in log(0.0001, 0.01)\n"
        "  depth: int = 2 in range(1, 4)  (fixed by -D depth=3)\n"
        "  bn: bool = true in [true, false]\n")


def test_summary_of_a_spec_without_spaces_is_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.kspec"
    spec.write_text(SPACED.replace(" in [32, 64, 128]", "").replace(" in log(1e-4, 1e-2)", "")
                    .replace(" in range(1, 4)", "").replace(" in [true, false]", ""))
    assert main(["summary", str(spec)]) == 0
    assert "Search space" not in capsys.readouterr().out


def test_fmt_prints_spaces_canonically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.kspec"
    spec.write_text(SPACED.replace("in [32, 64, 128]", "in [ 32,64 , 128, ]").replace("range(1, 4)", "range(1,4)"))
    assert main(["fmt", str(spec)]) == 0
    assert spec.read_text() == (
        "param units: int = 64 in [32, 64, 128]  # width\n"
        "param lr: float = 0.001 in log(0.0001, 0.01)\n"
        "param depth: int = 2 in range(1, 4)\n"
        "param bn: bool = true in [true, false]\n"
        'param act = "relu"\n'
        "\n"
        "model m {\n"
        "  input x: (8,)\n"
        "  output y = x -> Dense(units, activation=act) -> Dense(depth)\n"
        "}\n")


def test_convert_keeps_spaces_both_ways(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.kspec"
    spec.write_text(SPACED)
    as_yaml = tmp_path / "s.yaml"
    assert main(["convert", str(spec), str(as_yaml)]) == 0
    assert as_yaml.read_text().startswith(
        "params:\n"
        "  units:\n    type: int\n    default: 64\n    in: [32, 64, 128]\n"
        "  lr:\n    type: float\n    default: 0.001\n    in: {log: [0.0001, 0.01]}\n"
        "  depth:\n    type: int\n    default: 2\n    in: {range: [1, 4]}\n"
        "  bn:\n    type: bool\n    default: true\n    in: [true, false]\n")
    assert load_yaml(as_yaml.read_text()) == parse_kspec(SPACED)
    assert dump_yaml(parse_kspec(SPACED)) == as_yaml.read_text()


def test_yaml_reads_exponent_bounds_and_defaults_as_numbers() -> None:
    spec = load_yaml("params:\n  lr: {type: float, default: 1e-3, in: {log: [1e-5, 1e-2]}}\n"
                     "models:\n- name: m\n  inputs: {x: [4]}\n  outputs: {y: {from: x, apply: {Dense: [1]}}}\n")
    (lr,) = spec.params
    assert lr.default == 0.001 and lr.space is not None and lr.space.values == [1e-5, 1e-2]
