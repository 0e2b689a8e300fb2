"""The IR's nodes are plain dataclasses that pydantic validates only for the
YAML form. The ``.kspec`` front end builds them directly, so these tests
hold it to what validation would give: the same nodes back from pydantic,
exact built-in types (no parser tokens, no tuples), and no pydantic import
on the ``.kspec`` path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from kspec.compiler.pipeline import load_text
from kspec.spec import ir
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.kspec_printer import print_kspec
from kspec.spec.settings import CompileSettings, TrainSettings
from kspec.spec.yaml_form import load_yaml
from test_language_properties import language_specs

ROOT = Path(__file__).resolve().parent.parent
VALID = sorted([*(ROOT / "examples").glob("*.kspec"),
                *(ROOT / "tests" / "fixtures" / "kspec" / "valid").glob("*.kspec")])


def _raw(value: Any) -> Any:
    """Validation input for a value: nodes as tagged dicts, and literal
    dicts that hold a ``kind`` key wrapped as the YAML front end wraps them."""
    if isinstance(value, ir.IRNode):
        return {k: _raw(getattr(value, k)) for k in value.semantic_fields}
    if isinstance(value, list):
        return [_raw(v) for v in value]
    if isinstance(value, dict):
        items = {k: _raw(v) for k, v in value.items()}
        return {"kind": "dict", "items": items} if "kind" in value else items
    return value


def _plain_types(value: Any, where: str = "spec") -> list[str]:
    """Where ``value`` holds something other than exact built-in data and
    IR nodes (a ``str`` subclass such as a parser token, a tuple ...)."""
    if isinstance(value, ir.IRNode):
        return [p for k in value.semantic_fields for p in _plain_types(getattr(value, k), f"{where}.{k}")]
    if type(value) is list:
        return [p for i, v in enumerate(value) for p in _plain_types(v, f"{where}[{i}]")]
    if type(value) is dict:
        bad = [f"{where} key {k!r}" for k in value if type(k) is not str]
        return bad + [p for k, v in value.items() for p in _plain_types(v, f"{where}.{k}")]
    if value is None or type(value) in (bool, int, float, str):
        return []
    return [f"{where}: {type(value).__name__}"]


def _as_validated(spec: ir.Spec) -> ir.Spec:
    validated = ir.Spec.model_validate(_raw(spec))
    assert isinstance(validated, ir.Spec)
    return validated


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_parsed_kspec_is_what_pydantic_validates(path: Path) -> None:
    spec = parse_kspec(path.read_text(encoding="utf-8"), path.name)
    assert _plain_types(spec) == []
    assert _as_validated(spec) == spec


@settings(deadline=None)
@given(language_specs())
def test_random_parsed_kspec_is_what_pydantic_validates(spec: ir.Spec) -> None:
    parsed = parse_kspec(print_kspec(spec), "r.kspec")
    assert _plain_types(parsed) == []
    assert _as_validated(parsed) == parsed


def test_nodes_compare_copy_and_dump_without_their_spans() -> None:
    here = ir.Span(file="a.kspec", line=3, column=5)
    call = ir.LayerCall(type="Dense", args=[8], kwargs={"activation": "relu"}, span=here,
                        key_spans={"activation": here})
    assert call == ir.LayerCall(type="Dense", args=[8], kwargs={"activation": "relu"})
    assert call != ir.LayerCall(type="Dense", args=[16], kwargs={"activation": "relu"})
    assert call.model_dump() == {"kind": "layer", "type": "Dense", "args": [8], "kwargs": {"activation": "relu"}}
    copied = call.model_copy(update={"args": [16]})
    assert (copied.args, copied.span, call.args) == ([16], here, [8])
    with pytest.raises(TypeError):
        call.model_copy(update={"unit": 3})
    with pytest.raises(TypeError):
        hash(call)
    assert repr(ir.Ref(name="h", span=here)) == "Ref(kind='ref', name='h')"
    assert list(ir.Input.model_fields) == ["span", "key_spans", "name", "shape", "dtype", "batch_size", "sparse"]


def test_yaml_values_are_validated_by_pydantic() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        ir.Input.model_validate({"name": "x", "shape": [4, -2]})
    assert info.value.errors()[0]["loc"] == ("shape",)
    assert "dimensions must be positive or None, got -2" in info.value.errors()[0]["msg"]
    with pytest.raises(ValidationError):
        ir.Expr.model_validate({"inputs": ["a", "b"]})  # no layers: exactly one tensor
    with pytest.raises(ValidationError):
        ir.Call.model_validate({"fn": "l2", "args": [(1, 2)]})  # tuples are not values
    step = ir.Step.model_validate({"layer": {"kind": "op", "fn": "add", "args": [{"kind": "ref", "name": "y"}]}})
    assert step.layer == ir.Op(fn="add", args=[ir.Ref(name="y")])
    spec = load_yaml("models:\n  - name: m\n    inputs: {x: [4]}\n    outputs: {y: {from: x, apply: Dense}}\n")
    model = spec.models[0]
    assert isinstance(model, ir.FunctionalModel)
    assert model.inputs[0].span is not None and model.inputs[0].span.line == 3


@pytest.mark.parametrize("example", [
    "resnet50.kspec",
    "regression_train.kspec",  # its settings are validated, by pydantic-core's compiled module alone
    "resnet50.yaml",  # and so is the YAML form
    "regression_train.yaml",
])
def test_checking_a_spec_does_not_import_pydantic(example: str) -> None:
    code = ("import sys\nfrom kspec.cli import main\ncode = main(['check', sys.argv[1]])\n"
            "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pydantic_core', 'keras'}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / example)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "0 []", out.stdout + out.stderr


def test_an_operation_in_a_named_layer_is_a_located_error() -> None:
    from kspec.spec.diagnostics import KspecError

    text = "model m {\n  input x: (3,)\n  enc = Dense(3) -> ops.relu()\n  output y = x -> enc\n}\n"
    with pytest.raises(KspecError) as info:
        parse_kspec(text, "m.kspec")
    [diag] = info.value.diagnostics
    assert (diag.code, diag.message, str(diag.span)) == ("K103", "a named layer holds layers, not operations",
                                                         "m.kspec:3:21")


def test_shipped_validation_schema_is_current() -> None:
    """``scripts/gen_ir_schema.py --check``: the schema the YAML front end
    runs is the one pydantic builds from the IR classes today."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_ir_schema.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


YAML_SPECS = sorted([*(ROOT / "examples").glob("*.yaml"), *(ROOT / "tests" / "fixtures").glob("**/*.yaml")])
SECTION_SPECS = sorted(p for p in (ROOT / "tests" / "fixtures").glob("**/*.kspec")
                       if "compile " in p.read_text(encoding="utf-8") or "train " in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", YAML_SPECS + SECTION_SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_schema_validates_as_pydantic_does(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every YAML spec of the repository and every ``.kspec`` fixture with
    settings, valid or not, gives the same checked IR or the same error list
    through the shipped schema as through validators pydantic builds from
    the classes."""
    from pydantic import TypeAdapter
    from pydantic_core import SchemaValidator, ValidationError

    from kspec.spec.diagnostics import KspecError

    def outcome() -> Any:
        try:  # checked whole: the compile and train settings are validated too
            return load_text(path.read_text(encoding="utf-8"), str(path))
        except KspecError as exc:
            return [(d.code, d.message, str(d.span)) for d in exc.diagnostics]
        except ValidationError as exc:  # pragma: no cover - load_yaml turns these into diagnostics
            return exc.errors(include_url=False)

    monkeypatch.setattr(ir, "_ADAPTERS", {})
    shipped = outcome()
    assert isinstance(ir._adapter(ir.Spec), SchemaValidator)
    built = [*ir.VALIDATED, CompileSettings, TrainSettings]
    monkeypatch.setattr(ir, "_ADAPTERS", {cls: TypeAdapter(cls) for cls in built})
    assert outcome() == shipped


def test_a_stale_shipped_schema_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import TypeAdapter

    from kspec.spec import _ir_schema

    monkeypatch.setattr(ir, "_ADAPTERS", {})
    monkeypatch.setattr(_ir_schema, "IR_DIGEST", "0" * 8)
    assert isinstance(ir._adapter(ir.Spec), TypeAdapter)
