"""The TextMate grammar that highlights ``.kspec`` (``editors/vscode``).

The grammar is valid JSON with the scope names editors expect, every
keyword of the language (:data:`kspec.spec.kspec_printer.KEYWORDS`) is
highlighted as a keyword (the literals ``true``/``false``/``none`` as
language constants), a name that merely starts like a keyword is not, and
the bundled examples get their layers, operations, strings, numbers and
comments scoped. Lines are scanned the way a TextMate engine does: at each
position the rule matching earliest wins, the first listed on a tie; a
``begin``/``end`` rule (strings) runs to its end. The grammar's regular
expressions stay in the syntax Python's ``re`` and Oniguruma share.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kspec.spec.kspec_printer import KEYWORDS

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR: dict[str, Any] = json.loads((VSCODE / "syntaxes" / "kspec.tmLanguage.json").read_text(encoding="utf-8"))

LITERALS = {"true", "false", "none", "True", "False", "None"}


def _rules(patterns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grammar's rules in order, with ``include``s resolved."""
    out: list[dict[str, Any]] = []
    for p in patterns:
        if "include" in p:
            out += _rules([GRAMMAR["repository"][p["include"].lstrip("#")]])
        elif "patterns" in p and "match" not in p and "begin" not in p:
            out += _rules(p["patterns"])
        else:
            out.append(p)
    return out


RULES = _rules(GRAMMAR["patterns"])


def tokens(line: str) -> list[tuple[str, str]]:
    """``(text, scope)`` for each scoped piece of ``line``."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(line):
        best: tuple[int, int, re.Match[str], dict[str, Any]] | None = None
        for order, rule in enumerate(RULES):
            m = re.compile(rule.get("match") or rule["begin"]).search(line, pos)
            if m is not None and m.end() > m.start() and (best is None or (m.start(), order) < best[:2]):
                best = (m.start(), order, m, rule)
        if best is None:
            break
        _, _, m, rule = best
        end = m.end()
        if "begin" in rule:
            close = re.compile(rule["end"]).search(line, end)
            end = close.end() if close else len(line)
            out.append((line[m.start():end], rule["name"]))
        elif "captures" in rule:
            out += [(m.group(int(k)), c["name"]) for k, c in rule["captures"].items() if m.group(int(k))]
        else:
            out.append((m.group(), rule["name"]))
        pos = end
    return out


def scope_of(line: str, word: str) -> str | None:
    return next((scope for text, scope in tokens(line) if text == word), None)


def test_the_grammar_is_named_and_its_scopes_end_in_kspec() -> None:
    assert GRAMMAR["scopeName"] == "source.kspec" and GRAMMAR["fileTypes"] == ["kspec"]

    def names(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["name"]] if isinstance(node.get("name"), str) else []
            return own + [n for k, v in node.items() if k != "name" for n in names(v)]
        return [n for v in node for n in names(v)] if isinstance(node, list) else []

    scopes = names(GRAMMAR["patterns"]) + names(GRAMMAR["repository"])
    assert len(scopes) > 20
    assert [s for s in scopes if s != "kspec" and not s.endswith(".kspec")] == []
    for rule in RULES:  # every rule compiles, and says what it scopes
        re.compile(rule.get("match") or rule["begin"])
        assert "name" in rule or "captures" in rule, rule


# Each keyword in a statement where the language uses it.
IN_CONTEXT = {
    "model": "model m {", "sequential": "sequential s {", "block": "block b(x) {", "param": "param p: int = 1",
    "use": 'use "blocks.kspec"', "compile": "compile m {", "train": "train m {", "input": "input (28, 28, 1)",
    "output": "output y = h -> Dense(1)", "return": "return y -> ReLU()", "for": "for i in range(3) {",
    "in": "for i in range(3) {", "range": "for i in range(3) {", "with": "input x: (4,) with (sparse=true)",
    "if": "if deep {", "else": "} else {", "and": "y = x -> Dense(a if b and c else d)",
    "or": "y = x -> Dense(a if b or c else d)", "not": "y = x -> Dense(a if not b else d)",
}


@pytest.mark.parametrize("word", sorted(KEYWORDS))
def test_every_keyword_is_highlighted_as_a_keyword(word: str) -> None:
    line = IN_CONTEXT.get(word, f"y = x -> Dropout(0.5, name={word})")
    scope = scope_of(line, word)
    if word in LITERALS:
        assert scope == "constant.language.kspec", (word, tokens(line))
    else:
        assert scope is not None and scope.startswith("keyword."), (word, tokens(line))


@pytest.mark.parametrize("word", ["inputs", "models", "format", "in_units", "blocks", "nonempty", "returned"])
def test_a_name_that_starts_like_a_keyword_is_not_one(word: str) -> None:
    scope = scope_of(f"  {word} = x -> Dense(4)", word)
    assert scope == "variable.other.tensor.kspec"


def test_the_examples_get_their_pieces_scoped() -> None:
    resnet = (ROOT / "examples" / "resnet50.kspec").read_text(encoding="utf-8").split("\n")
    assert tokens(resnet[0])[0][1] == "comment.line.number-sign.kspec"
    block = tokens(resnet[8])
    assert block[:2] == [("block", "keyword.other.declaration.kspec"),
                         ("bottleneck", "entity.name.function.block.kspec")]
    layers = tokens(resnet[9])
    assert ("a", "variable.other.tensor.kspec") in layers
    assert ("Conv2D", "support.class.layer.kspec") in layers
    assert ("strides", "variable.parameter.keyword-argument.kspec") in layers
    assert ("->", "keyword.operator.arrow.kspec") in layers
    assert scope_of(resnet[5], "1.001e-5") == "constant.numeric.kspec"
    assert scope_of(resnet[10], '"same"') == "string.quoted.double.kspec"
    assert tokens(resnet[35])[:2] == [("model", "keyword.other.declaration.kspec"),
                                      ("resnet50", "entity.name.type.model.kspec")]
    seq = (ROOT / "examples" / "lstm_seq2seq.kspec").read_text(encoding="utf-8").split("\n")
    assert scope_of(seq[5], "true") == "constant.language.kspec"
    assert scope_of("  m = x -> ops.mean(axis=1)", "mean") == "support.function.operation.kspec"
    assert scope_of("  input title: (None,) int32", "int32") == "support.type.dtype.kspec"
    assert scope_of('  h = x -> Dense(4, name="model input # not a comment")', "model") is None


def test_the_extension_manifest_starts_the_server_for_kspec_files() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    contributes = manifest["contributes"]
    assert contributes["languages"][0]["extensions"] == [".kspec"]
    grammar = contributes["grammars"][0]
    assert (grammar["language"], grammar["scopeName"]) == ("kspec", GRAMMAR["scopeName"])
    assert (VSCODE / grammar["path"]).resolve() == (VSCODE / "syntaxes" / "kspec.tmLanguage.json").resolve()
    assert (VSCODE / contributes["languages"][0]["configuration"]).is_file()
    json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    extension = (VSCODE / manifest["main"]).read_text(encoding="utf-8")
    assert '"lsp"' in extension and "vscode-languageclient/node" in extension
    assert "vscode-languageclient" in manifest["dependencies"]
