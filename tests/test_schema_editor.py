"""The schema in a real editor back end: Red Hat's YAML language server
(``yaml-language-server``, the one VS Code, Neovim, Helix and Zed use),
driven over the Language Server Protocol with the schema named by the
examples' modeline.

It needs Node.js and ``yaml-language-server`` (``npm install -g
yaml-language-server``), which a Python environment does not bring: the
tests skip when the server is not found (``KSPEC_YAML_LANGUAGE_SERVER``
names its executable; else it is looked up on the ``PATH``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygls", reason="pygls drives the language server")
from lsprotocol import types as lsp
from pygls.lsp.client import BaseLanguageClient  # type: ignore[attr-defined]  # re-exported without __all__

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("KSPEC_YAML_LANGUAGE_SERVER") or shutil.which("yaml-language-server")
pytestmark = pytest.mark.skipif(SERVER is None, reason="yaml-language-server is not installed (npm)")

SIAMESE = (ROOT / "examples" / "siamese.yaml").read_text(encoding="utf-8")
MODEL = "models:\n  - name: m\n    inputs: {x: [4]}\n    outputs:\n      y:\n        from: x\n        apply:\n"


@asynccontextmanager
async def _server(tmp_path: Path) -> AsyncIterator[tuple[BaseLanguageClient, dict[str, list[lsp.Diagnostic]]]]:
    client = BaseLanguageClient("kspec-tests", "1")
    published: dict[str, list[lsp.Diagnostic]] = {}

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)  # type: ignore[untyped-decorator]
    def _diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        published[params.uri] = list(params.diagnostics)

    @client.feature(lsp.WORKSPACE_CONFIGURATION)  # type: ignore[untyped-decorator]
    def _configuration(params: lsp.ConfigurationParams) -> list[Any]:
        return [{"validate": True, "completion": True, "hover": True} for _ in params.items]

    assert SERVER is not None
    await client.start_io(SERVER, "--stdio")
    await client.initialize_async(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(workspace=lsp.WorkspaceClientCapabilities(configuration=True)),
        root_uri=tmp_path.as_uri()))
    client.initialized(lsp.InitializedParams())
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"yaml": {"validate": True, "completion": True, "hover": True}}))
    try:
        yield client, published
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()  # type: ignore[no-untyped-call]


def _open(client: BaseLanguageClient, tmp_path: Path, name: str, text: str) -> str:
    """Open a spec beside a copy of ``schemas/``, with the examples' modeline
    on its first line (the server reads it there only)."""
    (tmp_path / "schemas").mkdir(exist_ok=True)
    shutil.copy(ROOT / "schemas" / "kspec.schema.json", tmp_path / "schemas" / "kspec.schema.json")
    (tmp_path / "specs").mkdir(exist_ok=True)
    path = tmp_path / "specs" / name
    modeline = "# yaml-language-server: $schema=../schemas/kspec.schema.json\n"
    text = text if text.startswith(modeline) else modeline + text
    path.write_text(text, encoding="utf-8")
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(path.as_uri(), "yaml", 1,
                                                                                     text)))
    return path.as_uri()


async def _wait(published: dict[str, list[lsp.Diagnostic]], uri: str) -> list[tuple[int, int, str]]:
    for _ in range(300):
        if uri in published:
            return [(d.range.start.line, d.range.start.character, d.message) for d in published[uri]]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no diagnostics published for {uri}")


Published = dict[str, list[lsp.Diagnostic]]


def _run(tmp_path: Path, body: Callable[[BaseLanguageClient, Published], Awaitable[None]]) -> None:
    async def main() -> None:
        async with _server(tmp_path) as (client, published):
            await body(client, published)

    asyncio.run(asyncio.wait_for(main(), 120))


def test_examples_get_no_diagnostics_and_mistakes_are_underlined(tmp_path: Path) -> None:
    async def body(client: BaseLanguageClient, published: dict[str, list[lsp.Diagnostic]]) -> None:
        for path in sorted((ROOT / "examples").glob("*.yaml")):
            uri = _open(client, tmp_path, path.name, path.read_text(encoding="utf-8"))
            assert await _wait(published, uri) == [], path.name
        bad = SIAMESE.replace("units: 1, activation: sigmoid", "units: 1, activaton: sigmoid")
        bad = bad.replace("{shape: [100], dtype: int32}\n      right", "{shape: [100], dtyp: int32}\n      right")
        got = await _wait(published, _open(client, tmp_path, "bad.yaml", bad))
        assert got == [(5, 27, "Property dtyp is not allowed."), (16, 53, "Property activaton is not allowed.")]

    _run(tmp_path, body)


def test_layer_names_arguments_and_values_complete_and_hover_shows_the_argument(tmp_path: Path) -> None:
    async def labels(client: BaseLanguageClient, uri: str, line: int, column: int) -> list[str]:
        got = await client.text_document_completion_async(lsp.CompletionParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(line, column)))
        items = got.items if isinstance(got, lsp.CompletionList) else (got or [])
        return sorted(item.label for item in items)

    async def body(client: BaseLanguageClient, published: dict[str, list[lsp.Diagnostic]]) -> None:
        layer = _open(client, tmp_path, "layer.yaml", MODEL + "          Con\n")
        await _wait(published, layer)
        assert {"Conv2D", "Concatenate", "ConvLSTM2D"} <= set(await labels(client, layer, 8, 13))
        argument = _open(client, tmp_path, "argument.yaml", MODEL + "          Dense:\n            units: 4\n"
                                                                     "            acti\n")
        await _wait(published, argument)
        assert {"activation", "activity_regularizer"} <= set(await labels(client, argument, 10, 16))
        value = _open(client, tmp_path, "value.yaml", MODEL + "          Dense:\n            units: 4\n"
                                                               "            activation: \n")
        await _wait(published, value)
        assert {"relu", "gelu", "softmax"} <= set(await labels(client, value, 10, 24))
        hover = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(value),
                                                                        lsp.Position(9, 14)))
        assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
        assert "Dense(units): required; positional argument 1; must be a positive integer" in hover.contents.value

    _run(tmp_path, body)
