"""Bounded work: every limit of ``kspec.spec.limits`` ends in a located error
(exit 1) or a refusal to read (exit 2), in bounded time, with a message that
names the limit and how to raise it. Small limits keep these tests fast."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kspec.compiler.pipeline import load_path, load_text, parse_text
from kspec.spec import limits
from kspec.spec.diagnostics import CODES, Diagnostic, KspecError, printable, render
from kspec.spec.ir import Span
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.kspec_printer import print_kspec
from kspec.spec.yaml_read import _compose_nodes

SRC = Path(__file__).resolve().parent.parent / "src" / "kspec"
MODEL = "model m {\n  input x: (3,)\n  output y = x -> Dense(1)\n}\n"


def _error(text: str, file: str = "spec.kspec", **bounds: int) -> str:
    with limits.using(limits.Limits(**bounds)), pytest.raises(KspecError) as info:
        load_text(text, file)
    return str(info.value)


def test_every_code_used_is_in_the_table_and_every_table_entry_is_used() -> None:
    used: set[str] = set()
    for path in SRC.rglob("*.py"):
        used |= set(re.findall(r"\"(K\d{3})\"", path.read_text(encoding="utf-8")))
    assert used == set(CODES)


def test_yaml_alias_expansion_is_bounded() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nmodels: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    assert _error(text, "bomb.yaml", yaml_values=5_000) == (
        "bomb.yaml:1:32: error[K101]: the YAML expands to too many values (through aliases?); at most 5000 "
        "(--limit yaml_values=N raises it)")


def test_an_alias_bomb_of_mappings_is_refused_before_it_is_built() -> None:
    # 2**64 values under the default limit: building them first would never end.
    lines = ["a0: &a0 {k: x, l: x}"] + [f"a{i}: &a{i} {{l: *a{i - 1}, r: *a{i - 1}}}" for i in range(1, 64)]
    assert _error("\n".join(lines) + "\n", "bomb.yaml") == (
        "bomb.yaml:1:19: error[K101]: the YAML expands to too many values (through aliases?); at most 4000000 "
        "(--limit yaml_values=N raises it)")


@pytest.mark.parametrize("text", ["a: &a [x, *a]\n", "a: &a {b: {c: *a}}\n",
                                  "models:\n  - &m {name: m, layers: [*m]}\n"])
def test_a_value_that_contains_itself_is_an_error(text: str) -> None:
    message = _error(text, "loop.yaml")
    assert re.fullmatch(r"loop\.yaml:\d+:\d+: error\[K101\]: this YAML value contains itself, through an alias",
                        message)


def test_nesting_through_aliases_is_bounded() -> None:
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 3000)]
    assert _error("\n".join(lines) + "\n", "deep.yaml", nesting=50) == (
        "deep.yaml:1:5: error[K101]: YAML nesting is too deep; at most 50 (--limit nesting=N raises it)")


_SHARED = st.recursive(st.sampled_from(["x", 1, None]),
                       lambda inner: (st.lists(inner, max_size=4)
                                      | st.dictionaries(st.sampled_from("abcd"), inner, max_size=4)),
                       max_leaves=12)


def _expanded(data: object) -> int:
    """Values in ``data`` as building counts them: each use of a shared value again."""
    if isinstance(data, list):
        return 1 + sum(_expanded(v) for v in data)
    if isinstance(data, dict):
        return 1 + sum(_expanded(v) for v in data.values())
    return 1


@given(_SHARED, st.lists(st.integers(0, 4), min_size=1, max_size=4))
def test_the_value_limit_counts_every_use_of_an_alias(leaf: object, repeats: list[int]) -> None:
    # Each level holds the one below several times: the dumper writes it once, with aliases.
    data = leaf
    for n in repeats:
        data = {"k": [data] * n, "v": data}
    text = yaml.safe_dump({"models": data})
    values = _expanded({"models": data})
    with limits.using(limits.Limits(yaml_values=values)):
        _compose_nodes(text, "s.yaml")
    with limits.using(limits.Limits(yaml_values=values - 1)), pytest.raises(KspecError, match="too many values"):
        _compose_nodes(text, "s.yaml")


@pytest.mark.parametrize("text", ["models: " + "[" * 300 + "]" * 300 + "\n",
                                  "models:\n" + "".join("  " * i + "-\n" for i in range(1, 300))])
def test_yaml_nesting_is_bounded_before_composing(text: str) -> None:
    message = _error(text, "deep.yaml", nesting=50)
    assert re.fullmatch(r"deep\.yaml:\d+:\d+: error\[K101\]: YAML nesting is too deep; at most 50 "
                        r"\(--limit nesting=N raises it\)", message), message


def test_loop_iterations_count_empty_bodies_and_nesting() -> None:
    text = ("block b(x) {\n  for i in range(100) {\n    for j in range(100) {\n    }\n  }\n  return x -> ReLU()\n}\n"
            "model m {\n  input x: (2,)\n  output y = x -> b()\n}\n")
    assert _error(text, loop_iterations=5_000).startswith(
        "spec.kspec:3:5: error[K216]: the loops run 5100 times in all; at most 5000 "
        "(--limit loop_iterations=N raises it)")


def test_a_range_too_large_for_a_machine_word_is_refused() -> None:
    """Refused where its bound is written (integers are held below 2**63);
    one that fits is refused by ``loop_iterations`` before it runs."""
    text = ("block b(x) {\n  for i in range(99999999999999999999999) {\n    x = x -> ReLU()\n  }\n  return x\n}\n"
            "model m {\n  input x: (2,)\n  output y = x -> b()\n}\n")
    assert _error(text) == "spec.kspec:2:18: error[K103]: this integer is too large: at most 9223372036854775807"
    fits = text.replace("99999999999999999999999", "9223372036854775807")
    assert _error(fits).startswith(
        "spec.kspec:2:3: error[K216]: the loop runs 9223372036854775807 times; at most 1000000")


def test_expanded_statements_are_bounded() -> None:
    text = ("block b(x) {\n  for i in range(50) {\n    x = x -> ReLU()\n  }\n  return x\n}\n"
            "model m {\n  input x: (2,)\n  output y = x -> b()\n}\n")
    assert _error(text, layers=20).startswith(
        "spec.kspec:3:5: error[K216]: expansion produces too many statements; at most 20 "
        "(--limit layers=N raises it)")


@pytest.mark.parametrize("expr", ['"ab" * 40', '"ab" * 10 * 4', '[1, 2] * 40', 'f"{[\\"abcd\\"] * 9}"'])
def test_computed_values_are_bounded_before_they_are_built(expr: str) -> None:
    message = _error(f"param p: any = {expr}\n" + MODEL, value_length=30)
    assert message.startswith("spec.kspec:1:") and message.endswith(
        "error[K213]: the result is too large; at most 30 (--limit value_length=N raises it)"), message


def test_names_are_bounded() -> None:
    text = "model m {\n  input x: (3,)\n  " + "a" * 40 + " = x -> Dense(1)\n  output y = " + "a" * 40 + "\n}\n"
    assert _error(text, name_length=30) == (
        "spec.kspec:3:3: error[K202]: a tensor name is 40 characters long; at most 30 "
        "(--limit name_length=N raises it)")


def test_special_files_and_large_files_are_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.kspec"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        load_path(fifo)  # returns at once: a FIFO is never opened for a blocking read
    big = tmp_path / "big.kspec"
    big.write_text(MODEL + "#" * 200)
    with limits.using(limits.Limits(source_bytes=100)), pytest.raises(OSError, match="source_bytes=100"):
        load_path(big)
    with pytest.raises(OSError, match="not a regular file"):
        load_path("/dev/zero")


def test_use_is_confined_to_spec_files_beside_the_spec(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "outside.kspec").write_text("param k: int = 1\n")
    (inner / "notes.txt").write_text("secret line\n")
    (inner / "link.kspec").symlink_to(tmp_path / "outside.kspec")
    cases = {
        '"../outside.kspec"': "'use' of '../outside.kspec' reaches outside the spec's directory",
        '"link.kspec"': "'use' of 'link.kspec' reaches outside the spec's directory",
        '"notes.txt"': "'use' takes a spec file (.kspec, .yaml or .yml), not 'notes.txt'",
        '"/etc/passwd"': "'use' takes a spec file (.kspec, .yaml or .yml), not '/etc/passwd'",
    }
    for target, message in cases.items():
        spec = inner / "spec.kspec"
        spec.write_text(f"use {target}\n" + MODEL)
        with pytest.raises(KspecError) as info:
            load_path(spec)
        assert str(info.value) == f"{spec}:1:1: error[K217]: {message}"
        assert "secret" not in info.value.render()
    with limits.using(limits.Limits(allowed_dirs=(str(tmp_path),))):
        spec.write_text('use "../outside.kspec"\n' + MODEL)
        load_path(spec)


def test_a_use_cycle_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.kspec").write_text('use "b.kspec"\n' + MODEL)
    (tmp_path / "b.kspec").write_text('use "a.kspec"\n')
    with pytest.raises(KspecError) as info:
        load_path(tmp_path / "a.kspec")
    assert str(info.value) == f"{tmp_path / 'b.kspec'}:1:1: error[K217]: 'use' cycle: a.kspec -> b.kspec -> a.kspec"


def test_parse_limit() -> None:
    assert limits.parse_limit("layers=10").layers == 10
    assert limits.parse_limit("loop-iterations=1_000").loop_iterations == 1000
    for bad, message in (("layers", "--limit takes NAME=N"), ("layers=x", "expected a whole number"),
                         ("layers=0", "expected a positive number"), ("allowed_dirs=1", "--limit takes NAME=N")):
        with pytest.raises(ValueError, match=message):
            limits.parse_limit(bad)


def test_rendered_errors_escape_control_characters() -> None:
    diag = Diagnostic("K103", "unexpected name 'a\x1b[2Jb'", Span(file="<string>", line=1, column=1), "x\x07")
    text = render(diag, {"<string>": "a\x1b[2Jb = 1\n"})
    assert "\x1b" not in text and "\x07" not in text
    assert "unexpected name 'a\\x1b[2Jb'" in text
    assert printable("tab\there\u202e") == "tab\\there\\u202e"


def test_limits_and_allowed_dirs_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kspec.cli import main

    (tmp_path / "shared.kspec").write_text("param k: int = 1\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    spec = inner / "spec.kspec"
    spec.write_text('use "../shared.kspec"\n' + MODEL)
    assert main(["check", str(spec)]) == 1
    assert "reaches outside the spec's directory" in capsys.readouterr().err
    assert main(["check", str(spec), "--allow-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["check", str(spec), "--allow-dir", str(tmp_path), "--limit", "source_bytes=10"]) == 2
    assert "source_bytes=10" in capsys.readouterr().err
    assert main(["check", str(spec), "--limit", "layers=many"]) == 2
    assert capsys.readouterr().err == "kspec: error: --limit layers: expected a whole number, got 'many'\n"
    assert limits.parse_limit("array_bytes=4G").array_bytes == 4 * 1024**3


def test_messages_are_true_for_odd_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kspec.cli import main

    bad = tmp_path / "nul.yaml"
    bad.write_bytes(b"models:\n  - name: m\x00\n")
    assert main(["check", str(bad)]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{bad}:2:12: error[K101]: YAML syntax error: character '\\x00' is not allowed in YAML")
    spec = tmp_path / "p.kspec"
    spec.write_text("param rate: float = 0.1\nmodel m {\n  input x: (3,)\n  output y = x -> Dropout(rate)\n}\n")
    assert main(["check", str(spec), "-D", "rate=1e-3"]) == 0
    capsys.readouterr()
    assert main(["check", str(spec), "-D", "rate=" + "9" * 30]) == 2
    assert capsys.readouterr().err == (
        f"kspec: error: -D rate: the integer {'9' * 30} is too large (at most 2**63 - 1)\n")


def test_loops_over_lists_count_toward_loop_iterations() -> None:
    text = ("param items: any = [1] * 100\n"
            "block b(x) {\n  for i in items {\n    for j in items {\n    }\n  }\n  return x -> ReLU()\n}\n"
            "model m {\n  input x: (2,)\n  output y = x -> b()\n}\n")
    assert _error(text, loop_iterations=5_000).startswith(
        "spec.kspec:4:5: error[K216]: the loops run 5100 times in all; at most 5000 "
        "(--limit loop_iterations=N raises it)")


def test_a_list_loop_longer_than_the_limit_is_refused_before_it_runs() -> None:
    text = ("param items: any = [8] * 50\n"
            "block b(x) {\n  for units in items {\n    if units > 0 {\n      x = x -> Dense(units)\n    }\n  }\n"
            "  return x\n}\nmodel m {\n  input x: (2,)\n  output y = x -> b()\n}\n")
    assert _error(text, loop_iterations=20) == (
        "spec.kspec:3:3: error[K216]: the loop runs 50 times; at most 20 (--limit loop_iterations=N raises it)")
    assert _error(text, layers=20).startswith(
        "spec.kspec:5:7: error[K216]: expansion produces too many statements; at most 20")


@pytest.mark.parametrize("expr", ["max([1] * 40)", "len([1] * 40)", "[[1] * 20] * 2", "int(\"1\" * 90)"])
def test_builtins_and_indexing_stay_within_value_length(expr: str) -> None:
    message = _error(f"param p: any = {expr}\n" + MODEL, value_length=30)
    assert message.startswith("spec.kspec:1:") and "error[K213]" in message, message


def _block_chain(depth: int) -> str:
    """A model calling block ``b{depth-1}``, which calls the one before, down to ``b0``."""
    lines = ["block b0(x) {", "  return x -> Dense(4)", "}"]
    for i in range(1, depth):
        lines += [f"block b{i}(x) {{", f"  y = x -> b{i - 1}()", "  return y -> Dense(4)", "}"]
    return "\n".join([*lines, "model m {", "  input x: (4,)", f"  output o = x -> b{depth - 1}()", "}", ""])


def test_blocks_calling_blocks_are_bounded_by_nesting() -> None:
    """Each block call expands inside the one before: a chain as deep as the
    ``nesting`` limit expands, one deeper is refused at the innermost call."""
    with limits.using(limits.Limits(nesting=12)):
        assert len(load_text(_block_chain(12), "deep.kspec").models[0].nodes) == 11  # and the output
    with limits.using(limits.Limits(nesting=12)), pytest.raises(KspecError) as info:
        load_text(_block_chain(13), "deep.kspec")
    assert str(info.value) == (
        "deep.kspec:5:12: error[K216]: blocks call blocks too deeply; at most 12 (--limit nesting=N raises it)")
    (diag,) = info.value.diagnostics
    assert [note for note, _ in diag.notes] == [f"in block 'b{i}', expanded from this call" for i in range(1, 13)]


def test_nesting_raised_past_the_stack_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under the default limits a spec never nests as deep as Python's stack;
    a raised ``nesting`` can let one, and that is said, not called a bug."""
    from kspec.cli import main

    deep = tmp_path / "deep.yaml"
    deep.write_text("models: " + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["check", str(deep)]) == 1
    assert "YAML nesting is too deep; at most 100" in capsys.readouterr().err
    assert main(["check", str(deep), "--limit", "nesting=6000"]) == 2
    assert capsys.readouterr().err == (
        "kspec: error: the spec nests deeper than Python's stack can follow with --limit nesting=6000; "
        "the default is 100\n")


def _param_sum(terms: int) -> str:
    return f"param p: int = {' + '.join(['1'] * terms)}\n" + MODEL.replace("Dense(1)", "Dense(p)")


@pytest.mark.parametrize(("value", "column"), [
    ("[" * 13 + "1" + "]" * 13, 3),  # a bare list: where its statement is
    ("l2(" * 13 + "0.1" + ")" * 13, 47),  # calls: at the outermost
])
def test_values_in_kspec_are_bounded_by_nesting(value: str, column: int) -> None:
    """Values nested inside one another in ``.kspec`` are held to the
    ``nesting`` limit, as YAML's are: as deep as the limit reads (and prints
    again), one deeper is a located error, not a stack overflow in a later
    pass or printer."""
    def spec(v: str) -> str:
        return MODEL.replace("Dense(1)", f"Dense(1, kernel_regularizer={v})")

    inner = value[1:-1] if value.startswith("[") else value[3:-1]
    with limits.using(limits.Limits(nesting=12)):
        parsed = parse_kspec(spec(inner), "deep.kspec")
        assert parse_kspec(print_kspec(parsed), "again.kspec") == parsed
    assert _error(spec(value), "deep.kspec", nesting=12) == (
        f"deep.kspec:3:{column}: error[K103]: values are nested too deeply; at most 12 "
        "(--limit nesting=N raises it)")


def test_a_chain_of_parameter_arithmetic_is_bounded_by_nesting() -> None:
    """``1 + 1 + ... + 1`` nests each operation inside the next."""
    with limits.using(limits.Limits(nesting=12)):
        assert parse_text(_param_sum(13), "sum.kspec").params[0].name == "p"  # 12 operations
    assert _error(_param_sum(14), "sum.kspec", nesting=12) == (
        "sum.kspec:1:16: error[K103]: values are nested too deeply; at most 12 (--limit nesting=N raises it)")


@pytest.mark.parametrize("text", [
    "model m {\n  input x: (3,)\n  h = x -> Dense(2)\n  h2 = " + " + ".join(["h"] * 2000) + "\n  output y = h2\n}\n",
    _param_sum(2000),
])
def test_a_chain_deeper_than_the_stack_is_a_located_error(text: str) -> None:
    """A sum of tensors is not held to ``nesting`` (a few hundred terms
    read), nor is parameter arithmetic under a raised limit; one too long
    for Python's stack is an error where its statement is, not a bug."""
    message = _error(text, "long.kspec", nesting=5000)
    line = 4 if text.startswith("model") else 1
    assert message.startswith(f"long.kspec:{line}:") and "error[K103]: the spec is nested too deeply" in message
    assert "bug" not in message


def _nested_ifs(depth: int) -> str:
    """A block whose 'if' has ``depth - 1`` ``else if`` after it: each nests in the one before."""
    chain = "  if false {\n    x = x -> ReLU()\n  }" + " else if false {\n    x = x -> ReLU()\n  }" * (depth - 1)
    return ("block b(x) {\n" + chain + " else {\n    x = x -> Dense(2)\n  }\n  return x\n}\n"
            + MODEL.replace("Dense(1)", "b()"))


def test_loops_and_ifs_in_blocks_are_bounded_by_nesting() -> None:
    """A chain of ``else if`` nests each 'if' in the one before; as deep as
    the limit reads and expands, one deeper is refused where it starts
    (it used to run expansion out of Python's stack at about 330)."""
    with limits.using(limits.Limits(nesting=12)):
        assert load_text(_nested_ifs(12), "ifs.kspec").models[0].nodes
    assert _error(_nested_ifs(13), "ifs.kspec", nesting=12) == (
        "ifs.kspec:26:10: error[K103]: loops and 'if's are nested too deeply; at most 12 "
        "(--limit nesting=N raises it)")
    loops = "block b(x) {\n" + "for i in range(1) {\n" * 13 + "x = x -> ReLU()\n" + "}\n" * 13 + "return x\n}\n"
    assert _error(loops + MODEL.replace("Dense(1)", "b()"), "loops.kspec", nesting=12).startswith(
        "loops.kspec:14:1: error[K103]: loops and 'if's are nested too deeply; at most 12")


def test_a_spec_nesting_too_deep_for_its_yaml_form_is_not_converted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """YAML counts every mapping and list of the document toward ``nesting``,
    so a ``.kspec`` spec within the limit may be past it in YAML: that is
    said, and nothing is written."""
    from kspec.cli import main

    source, target = tmp_path / "deep.kspec", tmp_path / "deep.yaml"
    source.write_text(_nested_ifs(60), encoding="utf-8")
    assert main(["convert", str(source), str(target)]) == 2
    assert capsys.readouterr().err == (
        f"kspec: error: '{source}' in YAML would not be read back: YAML nesting is too deep; at most 100 "
        "(--limit nesting=N raises it); nothing was written\n")
    assert not target.exists()
    assert main(["convert", str(source), str(target), "--limit", "nesting=200"]) == 0
    assert target.exists()


@pytest.mark.parametrize("digits", ["9223372036854775808", "1" * 4301, "0x8000000000000000"])
def test_an_integer_too_large_for_keras_is_refused_where_it_is_written(digits: str) -> None:
    """Integers are held below 2**63 as computed ones are; one of more than
    4,300 digits (more than Python reads) used to be an internal error."""
    kspec = MODEL.replace("Dense(1)", f"Dense({digits})")
    yaml_text = (f"models:\n  - name: m\n    inputs: {{x: [3]}}\n    outputs:\n"
                 f"      y: {{from: x, apply: {{Dense: [{digits}]}}}}\n")
    assert _error(yaml_text, "big.yaml") == (
        "big.yaml:5:36: error[K101]: this integer is too large: at most 9223372036854775807")
    if not digits.startswith("0x"):  # not a .kspec number
        assert _error(kspec, "big.kspec") == (
            "big.kspec:3:25: error[K103]: this integer is too large: at most 9223372036854775807")
    assert load_text(MODEL.replace("Dense(1)", "Dense(1, name=9223372036854775807)"), "ok.kspec")


def test_a_yaml_date_that_does_not_exist_is_a_located_error() -> None:
    text = ("models:\n  - name: m\n    inputs: {x: [3]}\n    outputs:\n"
            "      y: {from: x, apply: {Dense: {units: 1, name: 2020-13-45}}}\n")
    message = _error(text, "date.yaml")
    assert message.startswith("date.yaml:5:52: error[K101]: this value cannot be read: month must be in 1..12")


def test_the_values_one_expansion_computes_are_bounded_in_all() -> None:
    """Each value within ``value_length``, a loop may still compute one at
    each of its runs: their sum is bounded too (a loop of a million runs
    over a long list took hours)."""
    text = ("param big: any = [0] * 40\nblock b(x, k: int) {\n  for i in range(k) {\n    if len(big * 1) < 0 {\n"
            "      x = x -> ReLU()\n    }\n  }\n  return x -> ReLU()\n}\n" + MODEL.replace("Dense(1)", "b({runs})"))
    with limits.using(limits.Limits(computed_items=1_000)):
        assert load_text(text.replace("{runs}", "10"), "loop.kspec").models[0].outputs
    assert _error(text.replace("{runs}", "1000000"), "loop.kspec", computed_items=1_000) == (
        "loop.kspec:4:12: error[K213]: the spec computes too many values in all; at most 1000 "
        "(--limit computed_items=N raises it)")
