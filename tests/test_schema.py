"""``kspec schema``: the JSON Schema of the YAML form, against the YAML front end.

Every example and golden valid YAML file validates with a standard
validator (``jsonschema``, the draft the schema declares); every golden
invalid file whose mistake is structural is rejected; on a set of small
files the schema and ``kspec check`` agree; the copy kept in the
repository is what ``kspec schema`` prints.
"""

from __future__ import annotations

import json
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the environment
import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from kspec.catalogue import catalogue
from kspec.cli import main
from kspec.compiler.json_schema import DRAFT, LIMITS, NAMING, ir_json_schema, yaml_form_schema
from kspec.compiler.pipeline import load_text, parse_text
from kspec.compiler.registry import rule_for
from kspec.spec import ir
from kspec.spec.diagnostics import KspecError
from kspec.spec.yaml_printer import dump_yaml
from strategies import specs, structured_spec

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
KEPT = ROOT / "schemas" / "kspec.schema.json"

#: YAML files kspec accepts as far as structure goes (the shape fixtures
#: have shape errors only, which no schema can see).
VALID = sorted([*(ROOT / "examples").glob("*.yaml"), *(FIXTURES / "valid").glob("*.yaml"),
                *(FIXTURES / "kspec" / "valid").rglob("*.yaml"), *(FIXTURES / "shapes").glob("*.yaml")])

#: Golden invalid files whose mistake is structural: the schema rejects them.
STRUCTURAL = {
    "bad_shape_value.yaml": "a dimension of -3",
    "lambda_layer.yaml": "a layer kspec refuses (Lambda)",
    "missing_argument.yaml": "Dense without its required 'units'",
    "misspelled_argument.yaml": "an unknown keyword argument",
    "space_yaml_shape.yaml": "a search space of the wrong form",
    "structure_value.yaml": "a structure that is not 'list' or 'dict'",
    "unknown_field.yaml": "an unknown key in an input",
    "unknown_layer.yaml": "an unknown layer name",
    "unknown_regularizer.yaml": "an unknown regularizer function",
    "wrong_argument_type.yaml": "a list where an activation name goes",
}
#: Golden invalid files a schema cannot judge (see ``LIMITS``): it accepts them.
NOT_STRUCTURAL = {
    "cycle.yaml": "a cycle of names",
    "dangling_input.yaml": "an unused input",
    "destructure_count.yaml": "how many tensors a layer gives",
    "duplicate_name.yaml": "a name defined twice",
    "explicit_name_clash.yaml": "a layer name used twice",
    "shape_clash.yaml": "shapes that do not add",
    "space_yaml_default.yaml": "a default outside its search space",
    "undefined_tensor.yaml": "an undefined tensor",
}
#: Not YAML at all: no schema applies.
NOT_YAML = {"yaml_syntax.yaml"}


@cache
def _schema() -> dict[str, Any]:
    """The schema as kspec builds it (computed once)."""
    return yaml_form_schema()


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(KEPT.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def _problems(data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in _validator().iter_errors(data)]


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# -- the schema itself ----------------------------------------------------------


def test_the_kept_copy_is_what_kspec_schema_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == KEPT.read_text(encoding="utf-8"), (
        "schemas/kspec.schema.json is out of date: run kspec schema -o schemas/kspec.schema.json")


def test_schema_writes_a_file_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "kspec.schema.json"
    assert main(["schema", "-o", str(target)]) == 0
    assert capsys.readouterr().out == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == KEPT.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["kspec.schema.json"]  # no temporary file left behind


def test_schema_to_a_missing_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "-o", str(tmp_path / "nope" / "s.json")]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("kspec: error: cannot write") and err[-1] == "\n" and err.count("\n") == 1


def test_the_schema_declares_draft_07_and_is_a_valid_schema() -> None:
    schema = json.loads(KEPT.read_text(encoding="utf-8"))
    assert schema["$schema"] == DRAFT
    jsonschema.Draft7Validator.check_schema(schema)


def test_every_catalogue_layer_is_described_with_its_arguments() -> None:
    defs = _schema()["definitions"]
    mapping = defs["layer_mapping"]["properties"]
    for name, sig in catalogue().layers.items():
        rule = rule_for(name)
        if rule is not None and rule.refused is not None:
            assert name not in mapping and f"layer.{name}" not in defs
            continue
        assert mapping[name] == {"$ref": f"#/definitions/layer.{name}"}
        body = defs[f"layer.{name}"]["anyOf"][0]
        assert set(body["properties"]) == set(sig.accepted) | {"args"}, name
        for key, prop in body["properties"].items():
            assert prop["description"], (name, key)


def test_every_setting_is_described() -> None:
    defs = _schema()["definitions"]
    for section in ("compile_settings", "train_settings"):
        assert defs[section]["description"]
        for key, prop in defs[section]["properties"].items():
            assert prop["description"] and prop["description"] != key, (section, key)


def test_the_ir_schema_builds_without_spans() -> None:
    schema = ir_json_schema()
    properties = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            properties |= set(node.get("properties", {}))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    assert "name" in properties and not {"span", "key_spans"} & properties
    assert set(schema["properties"]) == {"models", "compile", "train", "params", "blocks", "uses"}


# -- files against the schema ----------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(ROOT)))
def test_valid_files_validate(path: Path) -> None:
    assert _problems(_load(path)) == []


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.kspec")), ids=lambda p: p.name)
def test_examples_converted_to_yaml_validate(path: Path) -> None:
    spec = parse_text(path.read_text(encoding="utf-8"), str(path))
    assert _problems(yaml.safe_load(dump_yaml(spec))) == []


def test_every_golden_invalid_file_is_classified() -> None:
    names = {p.name for p in (FIXTURES / "invalid").glob("*.yaml")}
    unclassified = names - set(STRUCTURAL) - set(NOT_STRUCTURAL) - NOT_YAML
    assert not unclassified, f"say whether the schema should reject these: {sorted(unclassified)}"


@pytest.mark.parametrize("name", sorted(STRUCTURAL))
def test_structural_mistakes_are_rejected(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "invalid" / name
    if not path.exists():
        pytest.skip(f"{name} is no longer a fixture")
    assert _problems(_load(path)), f"the schema accepts {name} ({STRUCTURAL[name]})"
    assert main(["check", str(path)]) == 1
    capsys.readouterr()


@pytest.mark.parametrize("name", sorted(NOT_STRUCTURAL))
def test_mistakes_no_schema_can_see_are_accepted(name: str) -> None:
    path = FIXTURES / "invalid" / name
    if not path.exists():
        pytest.skip(f"{name} is no longer a fixture")
    assert _problems(_load(path)) == []


# -- the schema and kspec check agree --------------------------------------------

_MODEL = """\
models:
  - name: net
    inputs:
      x: [16]
    outputs:
      y: {{from: x, apply: {apply}}}
"""

#: (name, YAML text, whether kspec check and the schema accept it)
AGREEMENT: list[tuple[str, str, bool]] = [
    ("bare layer", _MODEL.format(apply="[Flatten, {Dense: [4]}]"), True),
    ("scalar argument", _MODEL.format(apply="[{Dropout: 0.5}, {Dense: [4]}]"), True),
    ("positional and keyword", _MODEL.format(apply="{Dense: {args: [4], activation: relu}}"), True),
    ("alias", _MODEL.format(apply="[{Reshape: [[4, 4]]}, {MaxPool1D: [2]}, Flatten, {Dense: [1]}]"), True),
    ("merge helper", _MODEL.format(apply="[{Dense: [4]}]"), True),
    ("too many positional", _MODEL.format(apply="{Dense: [4, relu, true, glorot_uniform, zeros, null, null, "
                                               "null, null, null, null, null, null, null]}"), False),
    ("keyword missing", _MODEL.format(apply="{Dense: {activation: relu}}"), False),
    ("unknown activation", _MODEL.format(apply="{Dense: {units: 4, activation: rleu}}"), False),
    ("unknown initializer", _MODEL.format(apply="{Dense: {units: 4, kernel_initializer: glorot}}"), False),
    ("initializer call", _MODEL.format(apply="{Dense: {units: 4, kernel_initializer: {fn: HeNormal, kwargs: "
                                            "{seed: 1}}}}"), True),
    ("initializer call, unknown argument", _MODEL.format(
        apply="{Dense: {units: 4, kernel_initializer: {fn: HeNormal, kwargs: {sed: 1}}}}"), False),
    ("padding choice", _MODEL.format(apply="[{Reshape: [[4, 4]]}, {Conv1D: [2, 3, 1, vaild]}, Flatten]"), False),
    ("padding in any case", _MODEL.format(apply="[{Reshape: [[4, 4]]}, {Conv1D: {filters: 2, kernel_size: 3, "
                                                 "padding: SAME}}, Flatten]"), True),
    ("pooling padding is case-sensitive", _MODEL.format(apply="[{Reshape: [[4, 4]]}, {MaxPooling1D: {padding: "
                                                               "SAME}}, Flatten]"), False),
    ("two layers in one mapping", _MODEL.format(apply="{Dense: [4], Dropout: [0.5]}"), False),
    ("unknown top-level key", "modles: []\n", False),
    ("no models", "compile: {}\n", False),
    ("node without a name", """\
models:
  - name: net
    inputs: {x: [4]}
    nodes:
      - {from: x, apply: {Dense: [4]}}
    outputs: {y: x}
""", False),
    ("sequential with nodes", """\
models:
  - {name: net, kind: sequential, input: [4], layers: [{Dense: [2]}], nodes: []}
""", False),
    ("sequential", """\
models:
  - {name: net, kind: sequential, input: {shape: [4], dtype: float32}, layers: [{Dense: [2]}, ReLU]}
""", True),
    ("call arguments of a step", """\
models:
  - name: net
    inputs: {q: [4, 8], v: [6, 8]}
    nodes:
      - {name: a, apply: {MultiHeadAttention: {num_heads: 2, key_dim: 4}, call: {query: q, value: v}}}
    outputs: {y: a}
""", True),
    ("call arguments in a sequential model", """\
models:
  - {name: net, kind: sequential, input: [4], layers: [{Dense: [2], call: {training: false}}]}
""", False),
    ("compile and train", """\
models:
  - {name: net, kind: sequential, input: [4], layers: [{Dense: [1]}]}
compile:
  net: {optimizer: {fn: Adam, kwargs: {learning_rate: 0.001}}, loss: mse, metrics: [mae]}
train:
  net: {epochs: 3, batch_size: 8, callbacks: [{fn: EarlyStopping, kwargs: {patience: 2}}]}
""", True),
    ("unknown optimizer argument", """\
models:
  - {name: net, kind: sequential, input: [4], layers: [{Dense: [1]}]}
compile:
  net: {optimizer: {fn: Adam, kwargs: {learnin_rate: 0.001}}, loss: mse}
""", False),
    ("unknown loss", """\
models:
  - {name: net, kind: sequential, input: [4], layers: [{Dense: [1]}]}
compile:
  net: {optimizer: adam, loss: mean_squared_eror}
""", False),
    ("unknown train setting", """\
models:
  - {name: net, kind: sequential, input: [4], layers: [{Dense: [1]}]}
train:
  net: {epoch: 3}
""", False),
    ("epochs below 1", """\
models:
  - {name: net, kind: sequential, input: [4], layers: [{Dense: [1]}]}
train:
  net: {epochs: 0}
""", False),
    ("parameters and blocks", """\
params:
  width: {type: int, default: 8}
  epochs: 2
blocks:
  mlp:
    inputs: [x]
    params: {units: {type: int}}
    body:
      - {name: h, from: x, apply: {Dense: [{expr: units}]}}
      - for: i
        range: [2]
        body:
          - {name: h, from: h, apply: {Dense: {units: {expr: units}, activation: relu}}}
    return: h
models:
  - name: net
    inputs: {x: [{expr: width}]}
    outputs: {y: {from: x, apply: {mlp: [{expr: width * 2}]}}}
compile:
  net: {loss: mse}
train:
  net: {epochs: {expr: epochs}}
""", True),
    ("parameter with an unknown key", """\
params:
  width: {type: int, defualt: 8}
models:
  - {name: net, kind: sequential, input: [4], layers: [{Dense: [1]}]}
""", False),
    ("operation", """\
models:
  - name: net
    inputs: {x: [4], y: [4]}
    nodes:
      - {name: s, from: x, apply: {op: add, args: [{ref: y}]}}
    outputs: {z: s}
""", True),
    ("call value with an unknown key", _MODEL.format(
        apply="{Dense: {units: 4, kernel_regularizer: {fn: l2, args: [0.01], kwarg: {}}}}"), False),
]


@pytest.mark.parametrize(("name", "text", "ok"), AGREEMENT, ids=[case[0] for case in AGREEMENT])
def test_the_schema_and_kspec_check_agree(name: str, text: str, ok: bool, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    code = main(["check", str(path)])
    _, err = capsys.readouterr()
    assert code == (0 if ok else 1), err
    problems = _problems(yaml.safe_load(text))
    assert (problems == []) == ok, problems


def test_the_limits_are_stated() -> None:
    description = _schema()["description"]
    assert all(limit in description for limit in LIMITS)


# -- properties -------------------------------------------------------------------


def _layer_mappings(data: Any) -> list[dict[str, Any]]:
    """Every ``{Layer: body}`` mapping of a catalogue layer in YAML-form data."""
    found: list[dict[str, Any]] = []
    if isinstance(data, dict):
        keys = [k for k in data if k != "call"]
        if len(keys) == 1 and keys[0] in catalogue().layers:
            found.append(data)
        for value in data.values():
            found += _layer_mappings(value)
    elif isinstance(data, list):
        for value in data:
            found += _layer_mappings(value)
    return found


def _loads(text: str) -> bool:
    try:
        load_text(text, "spec.yaml")
    except KspecError:
        return False
    return True


@given(st.one_of(specs(), structured_spec()))
def test_the_schema_accepts_what_the_printer_writes(spec: ir.Spec) -> None:
    text = dump_yaml(spec)
    assume(_loads(text))
    assert _problems(yaml.safe_load(text)) == []


_MUTATIONS = ("top-level key", "model key", "layer name", "keyword argument")


@given(st.one_of(specs(), structured_spec()), st.sampled_from(_MUTATIONS), st.data())
def test_structural_mutations_are_rejected_by_both(spec: ir.Spec, mutation: str, data: st.DataObject) -> None:
    text = dump_yaml(spec)
    assume(_loads(text))
    tree = yaml.safe_load(text)
    if mutation == "top-level key":
        tree["modle"] = []
    elif mutation == "model key":
        data.draw(st.sampled_from(tree["models"]))["outputz"] = {}
    else:
        layers = _layer_mappings(tree)
        assume(layers)
        mapping = data.draw(st.sampled_from(layers))
        name = next(k for k in mapping if k != "call")
        if mutation == "layer name":
            mapping[name + "X"] = mapping.pop(name)
        else:
            body = mapping[name]
            mapping[name] = {"args": body, "unitz": 3} if isinstance(body, list) else {**(body or {}), "unitz": 3}
    mutated = yaml.safe_dump(tree, sort_keys=False)
    assert _problems(tree), mutated
    assert not _loads(mutated), mutated


#: Examples whose line positions another test pins (tests/test_lsp.py hovers
#: at fixed lines of siamese.yaml): a first line would move them.
@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_name_the_schema_for_the_yaml_language_server(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/kspec.schema.json"  # the server reads the top only
    assert (path.parent / "../schemas/kspec.schema.json").resolve() == KEPT


def test_the_naming_convention_is_the_one_place_the_schema_is_stricter(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _MODEL.format(apply="Mlp").replace("models:", "blocks:\n  Mlp:\n    inputs: [x]\n    return:\n"
                                                         "      from: x\n      apply: {Dense: [4]}\nmodels:")
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) == 0
    capsys.readouterr()
    assert _problems(yaml.safe_load(text)) != []
    assert _problems(yaml.safe_load(text.replace("Mlp", "mlp"))) == []
    assert NAMING in _schema()["description"]
