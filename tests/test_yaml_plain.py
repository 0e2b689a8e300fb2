"""The YAML reader that needs no PyYAML (:mod:`kspec.spec.yaml_plain`)
gives exactly what PyYAML's reader gives (:mod:`kspec.spec.yaml_read`):
values, their types, key order, spans and key spans, for every document
it reads; it declines every document it cannot read exactly (then PyYAML
reads it, and reports its errors). It reads the repository's specs, and
spec-like documents in any of the usual layouts."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from _yaml_cases import DATA, EDITS, KEYS, YAML_FILES, edited
from kspec.spec import limits
from kspec.spec.diagnostics import KspecError
from kspec.spec.yaml_plain import read_plain
from kspec.spec.yaml_read import read_located


def _exact(text: str) -> str:
    """What PyYAML's reader makes of ``text``: the repr of its located data
    (types, key order and spans show), or its rendered error."""
    try:
        return repr(read_located(text, "f.yaml"))
    except KspecError as exc:
        return "error: " + exc.render({"f.yaml": text})


def _agrees(text: str) -> bool:
    """Property: the plain reader declines ``text`` or reads it as PyYAML's
    reader does (which then reads it without error). True if it read it."""
    plain = read_plain(text, "f.yaml")
    if plain is None:
        return False
    assert repr(plain) == _exact(text), text
    return True


def test_every_example_and_valid_fixture_is_read_without_pyyaml() -> None:
    assert len(YAML_FILES) > 20
    read = 0
    for path in YAML_FILES:
        text = path.read_text(encoding="utf-8")
        if _agrees(text):
            read += 1
        else:  # only documents PyYAML refuses, or that only PyYAML reads, are left to it
            assert "examples" not in path.parts, path
            assert _exact(text).startswith("error:") or re.search(r"[&*!|>]|^---", text, re.M), path
    assert read >= len(YAML_FILES) - 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: &x [1]\nb: *x\n", "an alias"),
        ("a: !!str 5\n", "a tag"),
        ("a: 1\na: 2\n", "a doubled key"),
        ("? [1]\n: 2\n", "a complex key"),
        ("a: [1\n", "a flow sequence that goes on past its line"),
        ("a: [1,\n  2]\n", "the same, valid"),
        ("a: 1\n---\nb: 2\n", "two documents"),
        ("", "an empty file"),
        ("- a\n", "a root that is not a mapping"),
        ("a: |\n  text\n", "a block scalar"),
        ("a: b\n  c\n", "a multi-line plain scalar"),
        ('a: "x\\ty"\n', "an escape"),
        ("a: 'it''s'\n", "a doubled single quote"),
        ("a: 0x1F\n", "a hexadecimal integer"),
        ("a: 012\n", "an octal integer"),
        ("a: .inf\n", "an infinity"),
        ("a: 2001-12-14\n", "a date"),
        ("a: 1:30\n", "a sexagesimal number"),
        ("a: 99999999999999999999\n", "an integer too large"),
        ("a: " + "9" * 5000 + "\n", "an integer of more digits than int() reads"),
        ("a:\tb\n", "a tab"),
        ("a: b\rc: d\n", "a carriage return alone"),
        ("a: caf\u00e9\n", "a plain scalar that is not ASCII"),
        ("a: 'x'\u2028b: 1\n", "a line separator"),
        ("a: '\ufeff'\n", "a byte order mark"),
        ("a: [b, ]\n", "a trailing comma"),
        ('"a": 1\n', "a quoted key"),
        ("a: b: c\n", "a mapping value where a scalar is due"),
        ("a: b#c\n", "a # that does not start a comment"),
        ("<<: {a: 1}\n", "a merge key"),
        ("k" * 1100 + ": 1\n", "a key too long for a simple key"),
        ("%YAML 1.1\n---\na: 1\n", "a directive"),
    ],
)
def test_documents_outside_the_subset_are_declined(text: str, reason: str) -> None:
    assert read_plain(text, "f.yaml") is None, reason


@pytest.mark.parametrize(
    "text",
    [
        "a:\n  [1, 2]\n",
        "a:\n  b\n",
        "a:\n- - x\n  - y\n- z\n",
        "a: {}\nb: []\nc: {d: {}}\n",
        "a: x  # c\n",
        "a:   \nb: 1",
        "  a: 1\n  b:\n  - 2\n\n\n",
        "a:\n    - 1\n    - 2\nb: 3",
        "a: -1\nb: +1\nc: 1.\nd: 1_0\ne: -0\nf: 1e-4\ng: 1.5E+3\nh: -.5\n",
        "x: yes\ny: ~\nz: \nNo: 1\n7: 8\n1.5: x\n",
        "a:\n  -\n    b: 1\n  -\n  - c\n",
        "a: [a b, 'c d', \"e\", [], {f: g}]\n",
        "a:\n  b:\n    c: 1\n# a comment at the end\n  ",
        "a: b\r\nc:\r\n- d  # e\r\n",
        "# caf\u00e9 \u2014 \U0001f600\na: '\u00e9t\u00e9'  # \u00e0\nb: [\"\U0001f600\", x]\n",
        "models:\n- name: m\n  nodes:\n  - {name: h, from: x, apply: {Dense: [4]}}\n  outputs: {y: h}\n",
    ],
)
def test_documents_of_the_subset_are_read(text: str) -> None:
    assert _agrees(text), text


def test_spans_are_libyamls() -> None:
    """Block collections end where the next row starts (or at the stream's
    end, on a line of its own); an empty value is at its colon's end."""
    text = "m:\n  a: 1\n  # note\nl:\n- x\n-\n  - y\ne:\nf: {g: [1, 2]}   # end"
    assert _agrees(text)
    data = read_plain(text, "f.yaml")
    assert data is not None
    spans = data["__key_spans__"]
    assert (spans["m"].line, spans["m"].column, spans["m"].end_line, spans["m"].end_column) == (2, 3, 4, 1)
    assert (spans["e"].line, spans["e"].column, spans["e"].end_column) == (8, 3, 3)
    assert (data["__span__"].end_line, data["__span__"].end_column) == (10, 1)


def test_limits_are_left_to_the_exact_reader() -> None:
    deep = "a: " + "[" * 120 + "]" * 120 + "\n"
    assert read_plain(deep, "f.yaml") is None
    many = "a: [" + ", ".join(["1"] * 50) + "]\n"
    assert read_plain(many, "f.yaml") is not None
    with limits.using(limits.Limits(yaml_values=20)):
        assert read_plain(many, "f.yaml") is None
    with limits.using(limits.Limits(nesting=3)):
        assert read_plain("a: {b: [1]}\n", "f.yaml") is not None
        assert read_plain("a: {b: [[1]]}\n", "f.yaml") is None


# -- dumped documents and arbitrary text

@given(st.dictionaries(KEYS, DATA, min_size=1, max_size=4), st.sampled_from([False, True, None]),
       st.integers(0, 2), st.sampled_from([80, 20, 4000]))
def test_any_dumped_mapping_reads_alike(data: Any, flow: bool | None, indent: int, width: int) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, indent=2 + indent, width=width, sort_keys=False)
    _agrees(text)


@given(st.text(alphabet="ab1:-[]{},#&*!'\" \n0\t?|>.~\r\u00e9\U0001f600\x85\u2028\ufeff", max_size=40))
def test_any_text_reads_alike(text: str) -> None:
    _agrees(text)


@given(st.text(alphabet="0123456789+-._eEx:infaNTZb *o", min_size=1, max_size=10))
def test_number_like_scalars_resolve_as_yaml_1_1(text: str) -> None:
    """Property: a scalar of digits, signs, dots, exponents, the letters of
    other numbers and dates, and characters no number has (``4 * n``) is the
    int, float or string PyYAML's resolvers make of it (or is declined)."""
    _agrees(f"a: {text}\nb: [{text}]\n")


_VALID = [t for t in (p.read_text(encoding="utf-8")[:4000] for p in YAML_FILES) if not _exact(t).startswith("error")]

@given(st.sampled_from(_VALID), EDITS)
def test_an_edited_spec_reads_alike(text: str, edits: list[tuple[float, str]]) -> None:
    _agrees(edited(text, edits))


# -- spec-like documents in the usual layouts, which the plain reader must read

_NAMES = st.sampled_from(["name", "from", "apply", "units", "Dense", "x", "a_b", "Conv2D", "kernel size", "k1"])
_PLAIN = st.sampled_from(["relu", "16", "-3", "0", "1.5", "-0.25", "1e-4", "1.001e-05", "yes", "Off", "~", "null",
                          "same", "4 * filters", "a  b", "x-y", "float32", "data/train.npz", "+7", "1_000", "3.",
                          "-relu", "(b)", "$v"])
_QUOTED = st.sampled_from(['"relu"', '"a # b"', "'x: y'", '""', "''", '"16"', '"caf\u00e9"', "'\U0001f600 x'"])


@st.composite
def _layout(draw: st.DrawFn) -> str:
    """A spec-like document in a layout drawn at random: indentation, block
    or flow collections, compact or not, sequences at their key's
    indentation or indented, comments, blank lines, trailing spaces, a
    final newline or none."""
    step = draw(st.integers(1, 4))
    lines: list[str] = []

    def comment() -> str:
        return draw(st.sampled_from(["", "", " # note", "   #x", " #", " # \u00e9t\u00e9 \u2014 \U0001f600"]))

    def flow(depth: int) -> str:
        kind = draw(st.sampled_from(["scalar", "scalar", "list", "map"])) if depth < 3 else "scalar"
        if kind == "scalar":
            return draw(st.one_of(_PLAIN, _QUOTED))
        sep = draw(st.sampled_from([", ", ",", " , "]))
        pad = draw(st.sampled_from(["", "", " "]))
        if kind == "list":
            return "[" + pad + sep.join(flow(depth + 1) for _ in range(draw(st.integers(0, 3)))) + pad + "]"
        keys = draw(st.lists(_NAMES, max_size=3, unique=True))
        return "{" + pad + sep.join(f"{k}:{' ' * draw(st.integers(1, 2))}{flow(depth + 1)}" for k in keys) + pad + "}"

    def block_map(indent: int, first_prefix: str | None, depth: int) -> None:
        keys = draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
        for i, key in enumerate(keys):
            prefix = first_prefix if (i == 0 and first_prefix is not None) else " " * indent
            value(prefix + key + ":", indent, depth)
            if draw(st.integers(0, 5)) == 0:
                lines.append(draw(st.sampled_from(["", "  ", "# c", " " * indent + "# c"])))

    def block_seq(indent: int, depth: int) -> None:
        for _ in range(draw(st.integers(1, 3))):
            dash = " " * indent + "-" + " " * draw(st.integers(1, 3))
            what = draw(st.sampled_from(["scalar", "map", "map", "seq"])) if depth < 4 else "scalar"
            if what == "scalar":
                lines.append(dash + flow(depth) + comment())
            elif what == "map" and draw(st.booleans()):
                block_map(len(dash), dash, depth + 1)  # compact: "- key: value"
            elif what == "map":
                lines.append(" " * indent + "-" + comment())
                block_map(indent + step, None, depth + 1)
            else:
                lines.append(" " * indent + "-")
                block_seq(indent + step, depth + 1)

    def value(head: str, indent: int, depth: int) -> None:
        what = draw(st.sampled_from(["inline", "inline", "map", "seq", "empty"])) if depth < 4 else "inline"
        if what == "inline":
            lines.append(head + " " * draw(st.integers(1, 2)) + flow(depth) + comment())
        elif what == "empty":
            lines.append(head + comment())
        elif what == "map":
            lines.append(head + comment())
            block_map(indent + step, None, depth + 1)
        else:
            lines.append(head + comment())
            block_seq(indent + draw(st.sampled_from([0, step])), depth + 1)  # 0: at the key's indentation

    if draw(st.booleans()):
        lines.append("# a spec")
    block_map(0, None, 1)
    trailing = draw(st.sampled_from(["\n", "", "\n\n", "\n# end", "\n  "]))
    text = "\n".join(line + draw(st.sampled_from(["", "", " "])) if line.strip() else line for line in lines) + trailing
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


@given(_layout())
def test_spec_like_documents_are_read_alike_without_pyyaml(text: str) -> None:
    """Property: in any of the usual layouts, a document of the subset is
    read by the plain reader (not declined), as PyYAML reads it."""
    assert _agrees(text), text
