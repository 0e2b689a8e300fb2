"""The YAML front end's one-pass reader of libyaml events gives exactly what
composing nodes gives (values, spans, key spans), and leaves every document
it cannot read exactly (aliases, tags, doubled keys, errors, limits) to the
node-by-node path, so messages and positions stay the same."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from _yaml_cases import DATA, EDITS, YAML_FILES, edited
from kspec.spec import limits
from kspec.spec.diagnostics import KspecError
from kspec.spec.yaml_read import _compose_nodes, _EventReader, _Exact, read_located

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="the event reader needs libyaml")


def _events(text: str, file: str = "f.yaml") -> Any:
    """What the event reader makes of ``text`` (``_Exact`` propagates)."""
    loader = yaml.CSafeLoader(text)
    try:
        return _EventReader(file, loader).read()
    finally:
        loader.dispose()


def _outcome(compose: Any, text: str) -> Any:
    """The located data, or the rendered error, of one composer."""
    try:
        return compose(text, "f.yaml")
    except KspecError as exc:
        return exc.render({"f.yaml": text})


def test_the_repository_yaml_files_are_read_from_events_alike() -> None:
    assert len(YAML_FILES) > 20
    fast = 0
    for path in YAML_FILES:
        text = path.read_text(encoding="utf-8")
        try:
            data = _events(text, str(path))
        except (_Exact, yaml.YAMLError):  # invalid fixtures
            continue
        fast += 1
        assert data == _compose_nodes(text, str(path)), path
    assert fast >= len(YAML_FILES) // 2  # the usual document takes the one-pass path


def test_spans_of_mappings_keys_and_values() -> None:
    text = "models:\n  - name: m\n    inputs: {x: [4]}\n    n: 1.5e+3\n"
    data = _events(text)
    assert data == _compose_nodes(text, "f.yaml")
    model = data["models"][0]
    spans = model["__key_spans__"]
    assert (spans["key:inputs"].line, spans["key:inputs"].column) == (3, 5)
    assert (spans["inputs"].line, spans["inputs"].column, spans["inputs"].end_column) == (3, 13, 21)
    assert spans["inputs"] is model["inputs"]["__span__"]
    assert model["n"] == 1500.0 and (spans["n"].column, spans["n"].end_column) == (8, 14)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1]\nb: *x\n",  # an alias
        "a: !!str 5\n",  # a tag
        "a: 1\na: 2\n",  # a doubled key
        "? [1]\n: 2\n",  # a key that is not a plain name
        "a: [1\n",  # a syntax error
        "a: 1\n---\nb: 2\n",  # two documents
        "",  # an empty file
    ],
)
def test_unusual_documents_take_the_exact_path(text: str) -> None:
    with pytest.raises((_Exact, yaml.YAMLError)):
        _events(text)
    assert _outcome(read_located, text) == _outcome(_compose_nodes, text)


def test_nesting_limit_stops_the_read_at_the_same_place() -> None:
    text = "a: " + "[" * 150 + "]" * 150 + "\n"
    with pytest.raises(KspecError) as fast:
        _events(text)
    assert fast.value.render({"f.yaml": text}) == _outcome(_compose_nodes, text)
    assert "YAML nesting is too deep; at most 100" in _outcome(read_located, text)


def test_compact_block_nesting_is_bounded_too() -> None:
    """Nested sequences on one line (``- - - x``) count towards the limit."""
    text = "- " * 150 + "x\n"
    assert "YAML nesting is too deep" in _outcome(read_located, text)
    assert _outcome(read_located, text) == _outcome(_compose_nodes, text)


def test_value_limit_is_reported_by_the_exact_path() -> None:
    text = "a: [" + ", ".join(["1"] * 50) + "]\n"
    with limits.using(limits.Limits(yaml_values=20)):
        with pytest.raises(_Exact):
            _events(text)
        message = _outcome(read_located, text)
        assert message == _outcome(_compose_nodes, text)
    assert "too many values" in message


@given(DATA, st.sampled_from([False, True, None]), st.integers(0, 2))
def test_any_dumped_document_reads_alike(data: Any, flow: bool | None, indent: int) -> None:
    """Property: whatever plain data YAML writes, in block or flow style,
    both readers give the same located data (or the same error)."""
    text = yaml.safe_dump(data, default_flow_style=flow, indent=2 + indent, allow_unicode=True, sort_keys=False)
    assert _outcome(read_located, text) == _outcome(_compose_nodes, text)


@given(st.text(alphabet="ab:-[]{},#&*!'\" \n0\t?|>", max_size=40))
def test_any_text_reads_alike(text: str) -> None:
    """Property: for any text, both readers agree (data, or error and position)."""
    assert _outcome(read_located, text) == _outcome(_compose_nodes, text)


_VALID = [t for t in (p.read_text(encoding="utf-8")[:4000] for p in YAML_FILES) if _outcome(_compose_nodes, t)
          is not None and not isinstance(_outcome(_compose_nodes, t), str)]

@given(st.sampled_from(_VALID), EDITS)
def test_a_broken_document_gets_the_exact_paths_message(text: str, edits: list[tuple[float, str]]) -> None:
    """A document libyaml stops on is described from PyYAML's parser events
    alone unless its composer would speak first (an anchor, an alias, a
    second document): the message and position are the exact path's."""
    text = edited(text, edits)
    assert _outcome(read_located, text) == _outcome(_compose_nodes, text)


@pytest.mark.parametrize("before", ["", "anchor: &a 1\nalias: *a\n"])
def test_a_control_character_in_a_long_document_is_a_located_error(before: str) -> None:
    """A NUL byte in a document long enough for the nesting pre-check was
    an internal error (libyaml's reader error escaped the check), with and
    without an anchor that sends the document down the exact path."""
    text = before + "models:\n" + "".join(f"- name: m{i}\n  inputs: {{x: [4]}}\n" for i in range(60)) + "- \x00\n"
    message = _outcome(read_located, text)
    assert isinstance(message, str) and "error[K101]: YAML syntax error: character '\\x00' is not allowed" in message
    assert message == _outcome(_compose_nodes, text)
