"""The YAML front end on arbitrary input: it either returns a Spec or raises
KspecError whose every diagnostic has a location; never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import kspec
from kspec import KspecError

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


def _loads_or_located_error(text: str) -> None:
    try:
        kspec.loads(text, format="yaml", file="fuzz.yaml")
    except KspecError as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert d.span is not None and d.span.file == "fuzz.yaml" and d.span.line >= 1


@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    _loads_or_located_error(text)


@given(st.sampled_from(EXAMPLES), st.data())
def test_random_mutations_of_examples(path: Path, data: st.DataObject) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "duplicate", "truncate", "insert"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "truncate":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
        else:
            lines.insert(i, data.draw(st.sampled_from(["  - 3", "x: [", "  foo: bar", "]", "- {name: 1}", "\t"])))
    _loads_or_located_error("\n".join(lines))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
        lambda kids: (
            st.lists(kids, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "models",
                        "name",
                        "inputs",
                        "outputs",
                        "nodes",
                        "layers",
                        "from",
                        "apply",
                        "kind",
                        "input",
                        "shape",
                        "Dense",
                        "call",
                        "fn",
                        "args",
                    ]
                ),
                kids,
                max_size=4,
            )
        ),
        max_leaves=30,
    )
)
def test_random_yaml_structures(data: object) -> None:
    _loads_or_located_error(yaml.safe_dump({"models": [data]}) if not isinstance(data, dict) else yaml.safe_dump(data))


@given(st.sampled_from(EXAMPLES), st.data())
def test_lone_surrogate_in_text_is_a_located_error(path: Path, data: st.DataObject) -> None:
    """Text from ``kspec.loads`` may hold a lone surrogate (never a file read
    as UTF-8); libyaml cannot take it in, and the error names it where it is."""
    text = path.read_text(encoding="utf-8")
    at = data.draw(st.integers(0, len(text)))
    char = data.draw(st.characters(categories=["Cs"]))
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    try:
        kspec.loads(text[:at] + char + text[at:], format="yaml", file="s.yaml")
    except KspecError as exc:
        message = f"YAML syntax error: character {char!r} is not allowed in YAML"
        assert str(exc) == f"s.yaml:{line}:{column}: error[K101]: {message}"
    else:
        raise AssertionError("a lone surrogate was accepted")


def test_lone_surrogate_past_the_nesting_check() -> None:
    text = "models:\n" + "[" * 600 + "\udfff"
    try:
        kspec.loads(text, format="yaml", file="s.yaml")
    except KspecError as exc:
        assert str(exc) == "s.yaml:2:601: error[K101]: YAML syntax error: character '\\udfff' is not allowed in YAML"
    else:
        raise AssertionError("a lone surrogate was accepted")


_MERGED = """\
models:
  - name: m
    inputs: {x: [4]}
    nodes:
      - {name: h, from: x, apply: {Dense: &b {units: 4, activation: relu}}}
      - {name: g, from: h, apply: {Dense: {<<: *b, units: 8}}}
      - {name: k, from: g, apply: {Dense: {<<: [{activation: tanh}, *b]}}}
    outputs:
      y: {from: k, apply: {Dense: {<<: *b, OVERRIDE}}}
"""


def test_merge_keys_add_the_keys_not_written_with_the_first_source_winning() -> None:
    spec = kspec.loads(_MERGED.replace("OVERRIDE", "units: 1"), format="yaml", file="m.yaml")
    model = spec.models[0]
    calls = [s.layer for st in [*model.nodes, *model.outputs] for s in st.value.steps]
    assert [c.kwargs for c in calls] == [{"units": 4, "activation": "relu"}, {"units": 8, "activation": "relu"},
                                         {"activation": "tanh", "units": 4}, {"units": 1, "activation": "relu"}]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("OVERRIDE", "unitz: 1", "m.yaml:9:51: error[K301]: Dense has no argument 'unitz'"),
    ("{<<: *b, OVERRIDE}", "{<<: 5}",
     "m.yaml:9:40: error[K101]: a merge key ('<<') takes a mapping or a list of mappings"),
])
def test_a_merged_key_is_checked_at_its_place_and_a_bad_merge_is_located(old: str, new: str, message: str) -> None:
    with pytest.raises(KspecError) as info:
        kspec.loads(_MERGED.replace(old, new), format="yaml", file="m.yaml")
    assert str(info.value) == message


@pytest.mark.parametrize(("value", "message"), [
    ("!!int", "it is not a valid !!int"),
    ('!!int ""', "it is not a valid !!int"),
    ("!!int abc", "it is not a valid !!int"),
    ("!!float", "it is not a valid !!float"),
    ("!!bool maybe", "it is not a valid !!bool"),
    ("!!timestamp x", "it is not a valid !!timestamp"),
    ("2020-13-45", "month must be in 1..12"),
])
def test_a_value_its_tag_cannot_build_is_located(value: str, message: str) -> None:
    with pytest.raises(KspecError) as info:
        kspec.loads(f"models:\n  - name: {value}\n", format="yaml", file="t.yaml")
    assert str(info.value).startswith(f"t.yaml:2:11: error[K101]: this value cannot be read: {message}")


@given(st.sampled_from(["int", "float", "bool", "null", "timestamp", "str"]),
       st.text(alphabet="0123456789+-._:eExabnulTZ -", max_size=12))
def test_any_scalar_under_any_plain_tag_loads_or_is_located(tag: str, value: str) -> None:
    _loads_or_located_error(f"models:\n  - name: !!{tag} {value}\n")
