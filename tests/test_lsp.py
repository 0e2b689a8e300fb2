"""``kspec lsp`` end to end, through the Language Server Protocol (pytest-lsp).

One server process serves the whole module (``kspec lsp`` started as a user's
editor starts it); each test opens its own document. Diagnostics are compared
with what ``kspec check --format json`` prints for the same file; hover,
definition, completion and formatting are asserted on the bundled examples.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from kspec.cli import main
from kspec.commands._lsp_analysis import analyse, definition
from kspec.commands._lsp_completion import completions
from kspec.commands._lsp_hover import hover
from kspec.commands.fmt import format_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: The async tests share the module's server (and so its event loop).
on_server = pytest.mark.asyncio(loop_scope="module")


async def _session(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """Initialize the server as VS Code does; shut it down after the module."""
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("visual-studio-code"), root_uri=EXAMPLES.as_uri()))
    yield
    await lsp_client.shutdown_session()


#: One ``kspec lsp`` process for the module, started as an editor starts it.
client = pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "kspec", "lsp", "--debounce", "20"]),
    scope="module",
)(_session)


def _open(client: LanguageClient, path: Path, text: str | None = None, language: str = "kspec") -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id=language, version=1, text=path.read_text(encoding="utf-8") if text is None else text)))
    return uri


async def _diagnostics(client: LanguageClient, uri: str, version: int) -> list[types.Diagnostic]:
    """The diagnostics published for ``uri`` at ``version``."""
    async def wait() -> list[types.Diagnostic]:
        while True:
            params = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            if params.uri == uri and params.version == version:
                return list(params.diagnostics)

    return await asyncio.wait_for(wait(), timeout=30)


def _check_json(path: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """What ``kspec check --format json`` reports for ``path``."""
    capsys.readouterr()
    assert main(["check", "--format", "json", str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    diags: list[dict[str, Any]] = report[0]["diagnostics"]
    return diags


def _as_check(d: types.Diagnostic) -> tuple[Any, ...]:
    """A published diagnostic in ``kspec check``'s terms (1-based)."""
    r = d.range
    return d.code, d.message, r.start.line + 1, r.start.character + 1, r.end.line + 1, r.end.character + 1


def _expected(diags: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(d["code"], d["message"], d["line"], d["column"], d["end_line"], d["end_column"]) for d in diags]


def _at(text: str, line: int, needle: str, nth: int = 0) -> types.Position:
    """The position of the ``nth`` whole occurrence of ``needle`` on 1-based ``line``."""
    import re

    found = [m.start() for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text.split("\n")[line - 1])]
    return types.Position(line=line - 1, character=found[nth] + 1)


@on_server
async def test_a_planted_mistake_gives_the_diagnostic_of_check(
        client: LanguageClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (EXAMPLES / "siamese.kspec").read_text(encoding="utf-8").replace("Dense(units=1,", "Dense(unit=1,")
    path = tmp_path / "siamese.kspec"
    path.write_text(text, encoding="utf-8")
    expected = _check_json(path, capsys)
    assert [d["code"] for d in expected] == ["K301"]
    published = await _diagnostics(client, _open(client, path), 1)
    assert [_as_check(d) for d in published] == _expected(expected)
    assert published[0].source == "kspec"
    assert published[0].severity == types.DiagnosticSeverity.Error
    hint = expected[0]["hint"]
    assert hint and [i.message for i in published[0].related_information or []] == [f"hint: {hint}"]


@on_server
async def test_typing_a_fix_clears_the_diagnostics_and_a_new_mistake_is_reported(
        client: LanguageClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (EXAMPLES / "resnet_small.kspec").read_text(encoding="utf-8")
    path = tmp_path / "resnet_small.kspec"
    path.write_text(text, encoding="utf-8")
    uri = _open(client, path)
    assert await _diagnostics(client, uri, 1) == []
    # type "2D" after "Dense" one key at a time, as fast as the client can send: only the last version is checked
    line = text.split("\n").index("      -> Dense(10)")
    for version, typed in enumerate(("2", "D"), start=2):
        col = len("      -> Dense") + version - 2
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=line, character=col),
                                  end=types.Position(line=line, character=col)), text=typed)]))
    published = await _diagnostics(client, uri, 3)
    path.write_text(text.replace("-> Dense(10)", "-> Dense2D(10)"), encoding="utf-8")
    assert [_as_check(d) for d in published] == _expected(_check_json(path, capsys))
    assert [d.code for d in published] == ["K203"]


@on_server
async def test_a_yaml_spec_gets_the_diagnostics_of_check(
        client: LanguageClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (EXAMPLES / "siamese.yaml").read_text(encoding="utf-8").replace("from: right", "from: rigth")
    path = tmp_path / "siamese.yaml"
    path.write_text(text, encoding="utf-8")
    expected = _check_json(path, capsys)
    published = await _diagnostics(client, _open(client, path, language="yaml"), 1)
    assert [_as_check(d) for d in published] == _expected(expected)
    assert "K201" in [d.code for d in published]


@on_server
async def test_hover_shows_a_tensors_shape_and_a_layers_parameters_and_documentation(client: LanguageClient) -> None:
    path = EXAMPLES / "resnet50.kspec"
    text = path.read_text(encoding="utf-8")
    uri = _open(client, path)

    async def hover(line: int, needle: str, nth: int = 0) -> str:
        got = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=_at(text, line, needle, nth)))
        assert got is not None and isinstance(got.contents, types.MarkupContent)
        return got.contents.value

    assert await hover(46, "stem") == "tensor **stem**: `(None, 56, 56, 64)`"
    dense = await hover(50, "Dense")
    assert "Just your regular densely-connected NN layer." in dense
    assert "Parameters: 2,049,000" in dense and "Output shape: (None, 1000)" in dense
    assert "Parameters: 9,472" in await hover(41, "Conv2D")  # 7x7x3x64 + 64
    assert await hover(41, "strides") == "**strides**: argument of Conv2D, default `[1, 1]`"
    assert await hover(36, "resnet50") == ("model **resnet50**: (None, 224, 224, 3) \u2192 (None, 1000)\n\n"
                                           "25,636,712 parameters")
    # a tensor inside a block: one shape per expansion of the block
    assert await hover(17, "shortcut") == ("tensor **shortcut**: `(None, 56, 56, 256), (None, 28, 28, 512), "
                                           "(None, 14, 14, 1024), (None, 7, 7, 2048)` (in 4 expansions)")


@on_server
async def test_definition_of_a_tensor_a_named_layer_a_block_and_parameters(client: LanguageClient) -> None:
    cases = [  # (file, line, word, nth use) -> (line, word, nth) of the definition
        ("siamese.kspec", 7, "encoder", 0, 6, "encoder", 0),
        ("siamese.kspec", 9, "r", 0, 8, "r", 0),
        ("resnet50.kspec", 46, "stem", 0, 39, "stem", 0),
        ("resnet50.kspec", 46, "stage", 0, 28, "stage", 0),
        ("resnet50.kspec", 50, "classes", 0, 5, "classes", 0),
        ("resnet50.kspec", 10, "filters", 0, 9, "filters", 0),
        ("resnet50.kspec", 39, "image", 0, 37, "image", 0),
        ("lstm_seq2seq.kspec", 8, "state_c", 0, 6, "state_c", 0),
        ("regression_train.kspec", 18, "regressor", 0, 5, "regressor", 0),
    ]
    for name, line, word, nth, def_line, def_word, def_nth in cases:
        path = EXAMPLES / name
        text = path.read_text(encoding="utf-8")
        uri = _open(client, path)
        got = await client.text_document_definition_async(types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=_at(text, line, word, nth)))
        start = _at(text, def_line, def_word, def_nth)
        start.character -= 1
        assert isinstance(got, types.Location), (name, line, word)
        assert (got.uri, got.range.start, got.range.end) == (
            uri, start, types.Position(line=start.line, character=start.character + len(def_word))), (name, word)


@on_server
async def test_definition_and_hover_of_a_block_in_a_used_file(client: LanguageClient) -> None:
    path = ROOT / "tests" / "fixtures" / "kspec" / "valid" / "uses.kspec"
    text = path.read_text(encoding="utf-8")
    doc = types.TextDocumentIdentifier(uri=_open(client, path))
    place = await client.text_document_definition_async(types.DefinitionParams(
        text_document=doc, position=_at(text, 5, "residual")))
    assert isinstance(place, types.Location)
    assert place.uri == (path.parent / "lib" / "units.kspec").as_uri()
    assert (place.range.start, place.range.end) == (types.Position(line=0, character=6),
                                                    types.Position(line=0, character=14))
    got = await client.text_document_hover_async(types.HoverParams(
        text_document=doc, position=_at(text, 5, "residual")))
    assert got is not None and isinstance(got.contents, types.MarkupContent)
    assert got.contents.value == "```\nblock residual(x, filters: int)\n```\n\nreturns 1 tensor"


@on_server
async def test_completion_of_keyword_arguments_layer_names_and_operations(client: LanguageClient) -> None:
    path = EXAMPLES / "resnet50.kspec"
    text = path.read_text(encoding="utf-8")
    uri = _open(client, path)

    async def complete(line: int, character: int) -> dict[str, types.CompletionItem]:
        got = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line - 1, character=character)))
        assert isinstance(got, types.CompletionList)
        return {item.label: item for item in got.items}

    inside = text.split("\n")[40].index("strides=2)")  # Conv2D(64, 7, |strides=2)
    keywords = await complete(41, inside)
    assert {"padding", "dilation_rate", "kernel_regularizer", "name"} <= set(keywords)
    assert "strides" not in keywords  # already given
    assert keywords["padding"].insert_text == "padding="
    assert keywords["padding"].detail == 'default "valid"'
    layers = await complete(38, 2)  # the empty line in model resnet50
    assert layers["Conv2D"].kind == types.CompletionItemKind.Class
    assert layers["Conv2D"].detail == "2D convolution layer."
    assert {"bottleneck", "stage", "image"} <= set(layers)

    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=37, character=0), end=types.Position(line=37, character=0)),
            text="  m = stem -> ops.")]))
    ops = await complete(38, len("  m = stem -> ops."))
    assert ops["mean"].detail == "Compute the arithmetic mean along the specified axes."
    assert "Conv2D" not in ops

    activation = text.split("\n")[49].index('"softmax"')  # Dense(classes, activation=|"softmax")
    values = await complete(50, activation)
    assert values["relu"].insert_text == '"relu"' and values["relu"].kind == types.CompletionItemKind.EnumMember
    assert (await complete(50, activation + 1))["relu"].insert_text is None  # inside the quotes


@on_server
async def test_completion_and_hover_in_compile_and_train_sections(client: LanguageClient) -> None:
    path = EXAMPLES / "regression_train.kspec"
    text = path.read_text(encoding="utf-8")
    doc = types.TextDocumentIdentifier(uri=_open(client, path))

    async def labels(line: int, character: int) -> list[str]:
        got = await client.text_document_completion_async(types.CompletionParams(
            text_document=doc, position=types.Position(line=line - 1, character=character)))
        assert isinstance(got, types.CompletionList)
        return [item.label for item in got.items]

    assert (await labels(19, 2))[:3] == ["epochs", "batch_size", "validation_split"]  # train settings
    assert (await labels(13, 2))[:3] == ["optimizer", "loss", "loss_weights"]  # compile settings
    assert await labels(24, 4) == ["BackupAndRestore", "CSVLogger", "EarlyStopping", "ModelCheckpoint",
                                   "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN"]
    assert "Adam" in await labels(13, text.split("\n")[12].index("Adam"))
    got = await client.text_document_hover_async(types.HoverParams(
        text_document=doc, position=_at(text, 24, "patience")))
    assert got is not None and isinstance(got.contents, types.MarkupContent)
    assert got.contents.value == "**patience**: argument of EarlyStopping, default `0`"


@on_server
async def test_formatting_gives_the_text_of_kspec_fmt(client: LanguageClient, tmp_path: Path) -> None:
    original = (EXAMPLES / "siamese.kspec").read_text(encoding="utf-8")
    messy = original.replace("  l = left -> encoder", "  l   =   left->encoder")
    messy = messy.replace("Dense(units=1, ", "Dense(units = 1,")
    path = tmp_path / "messy.kspec"
    uri = _open(client, path, messy)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        options=types.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert edits is not None and len(edits) == 1
    assert edits[0].range.start == types.Position(line=0, character=0)
    assert edits[0].range.end == types.Position(line=len(messy.split("\n")) - 1, character=0)
    assert edits[0].new_text == format_text(messy) == format_text(original)
    tidy = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=types.TextDocumentIdentifier(uri=_open(client, tmp_path / "tidy.kspec", format_text(original))),
        options=types.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert tidy is not None and list(tidy) == []


@on_server
async def test_hover_and_definition_in_a_yaml_spec(client: LanguageClient) -> None:
    path = EXAMPLES / "siamese.yaml"
    text = path.read_text(encoding="utf-8")
    uri = _open(client, path, language="yaml")
    doc = types.TextDocumentIdentifier(uri=uri)
    got = await client.text_document_hover_async(types.HoverParams(text_document=doc, position=_at(text, 17, "merged")))
    assert got is not None and isinstance(got.contents, types.MarkupContent)
    assert got.contents.value == "tensor **merged**: `(None, 64)`"
    place = await client.text_document_definition_async(types.DefinitionParams(
        text_document=doc, position=_at(text, 13, "left")))
    assert isinstance(place, types.Location)
    assert (place.range.start.line, place.range.start.character) == (5, 6)  # "      left: {shape: ..."


def _edited(draw: st.DrawFn) -> tuple[str, str, tuple[int, int]]:
    """An example with a slice cut out or doubled, and a position in it."""
    name = draw(st.sampled_from(["resnet50.kspec", "siamese.kspec", "regression_train.kspec", "siamese.yaml"]))
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    a = draw(st.integers(0, len(text)))
    b = draw(st.integers(a, min(len(text), a + 40)))
    text = text[:a] + text[b:] if draw(st.booleans()) else text[:b] + text[a:b] + text[b:]
    lines = text.split("\n")
    line = draw(st.integers(0, len(lines)))
    return name, text, (line, draw(st.integers(0, len(lines[line]) + 2 if line < len(lines) else 3)))


@given(st.composite(_edited)())
def test_any_edit_and_any_position_get_an_answer_not_an_exception(case: tuple[str, str, tuple[int, int]]) -> None:
    name, text, pos = case
    a = analyse(text, name)
    for d in a.diagnostics:
        assert d.span is None or d.span.file == name
    for found in (hover(a, pos), definition(a, pos)):
        assert found is None or found.start <= found.end
    assert all(c.label for c in completions(a, pos))


def test_a_document_over_the_size_limit_is_refused_unread() -> None:
    from kspec.commands._common import limits_of
    from kspec.spec.limits import using

    text = (EXAMPLES / "resnet50.kspec").read_text(encoding="utf-8")
    with using(limits_of(argparse.Namespace(limit=["source_bytes=1000"]))):
        a = analyse(text, "resnet50.kspec")
    assert a.refused == (f"the document has {len(text.encode())} bytes, more than the limit source_bytes=1000 "
                         "(raise it with kspec lsp --limit source_bytes=N)")
    assert a.diagnostics == [] and a.parsed is None and a.expanded is None


def test_the_server_never_imports_keras() -> None:
    code = (
        "import sys\n"
        "from kspec.commands._lsp_server import make_server\n"
        "from kspec.commands._lsp_analysis import analyse\n"
        "from kspec.commands._lsp_completion import completions\n"
        "from kspec.commands._lsp_hover import hover\n"
        f"a = analyse(open({str(EXAMPLES / 'resnet50.kspec')!r}).read(), 'resnet50.kspec')\n"
        "assert hover(a, (49, 40)) is not None and completions(a, (37, 2))\n"
        "make_server()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'jax', 'torch')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_a_negative_debounce_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lsp", "--debounce", "-5"]) == 2
    assert capsys.readouterr().err == "kspec: error: --debounce must be 0 or more milliseconds, got -5\n"


def test_reading_a_spec_with_many_mistakes_again_for_hover_makes_no_suggestions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The check behind the diagnostics makes at most its 100 suggestions;
    the parse and expansion the editor reads again (for hover, completion,
    definitions) drop their mistakes, so they make none: they made one per
    mistake, on every keystroke."""
    from kspec.spec import diagnostics

    n = 300
    calls = "\n".join(f"  h{i} = {f'h{i - 1}' if i else 'x'} -> b(widht=3)" for i in range(n))
    text = f"block b(x, width: int = 2) {{ return x -> Dense(width) }}\nmodel m {{\n  input x: (4,)\n{calls}\n" \
           f"  output y = h{n - 1}\n}}\n"
    a = analyse(text, "m.kspec")
    assert len(a.diagnostics) == n and a.diagnostics[0].hint == "did you mean 'width'?"
    made = 0
    close_matches = diagnostics.close_matches

    def counting(*args: Any, **kwargs: Any) -> list[str]:
        nonlocal made
        made += 1
        return close_matches(*args, **kwargs)

    monkeypatch.setattr(diagnostics, "close_matches", counting)
    assert a.parsed is not None and a.expanded is None
    assert made == 0
