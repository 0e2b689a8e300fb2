"""Benchmark: from a keystroke to fresh diagnostics in ``kspec lsp``.

Starts ``kspec lsp`` as an editor does (a subprocess over stdio), opens
``examples/resnet50.kspec`` and then, run after run, sends one keystroke as
an incremental ``textDocument/didChange`` and times until the server
publishes the diagnostics of that version. Keystrokes alternate between
typing an ``x`` after ``Dense`` (the server reports K203 ``unknown layer
'Densex'``) and deleting it again (no diagnostics), so every run is a real
change with a visible result. The figure includes the debounce (the quiet
time the server waits for after a keystroke); it is run once with the
default debounce and once with none, which leaves the check itself plus
the protocol round trip.

It also types a burst of keystrokes faster than the debounce and counts
how many times the server published diagnostics: once, for the last
version, as fast typing must not queue work.

    python bench/bench_lsp.py [--runs 30] [--debounce-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

SPEC = Path(__file__).resolve().parent.parent / "examples" / "resnet50.kspec"


class Session:
    """A client of one ``kspec lsp`` process with resnet50.kspec open."""

    def __init__(self, debounce_ms: int) -> None:
        self.debounce_ms = debounce_ms
        self.client = LanguageClient("bench-lsp", "1")
        self.published: list[tuple[float, int | None, int]] = []  # (time, version, number of diagnostics)
        self.waiters: dict[int, asyncio.Future[float]] = {}
        self.text = SPEC.read_text(encoding="utf-8")
        self.uri = SPEC.as_uri()
        self.version = 1
        line = next(i for i, text in enumerate(self.text.split("\n")) if "-> Dense(" in text)
        self.at = types.Position(line=line, character=self.text.split("\n")[line].index("Dense(") + len("Dense"))

        def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
            now = time.perf_counter()
            self.published.append((now, params.version, len(params.diagnostics)))
            waiter = self.waiters.pop(params.version or 0, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)

        register: Any = self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        register(on_diagnostics)

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "kspec", "lsp", "--debounce", str(self.debounce_ms))
        await self.client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
        self.client.initialized(types.InitializedParams())
        opened = self.expect(1)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=self.uri, language_id="kspec", version=1, text=self.text)))
        await asyncio.wait_for(opened, 60)

    def expect(self, version: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[version] = future
        return future

    def keystroke(self) -> int:
        """Type or delete the ``x`` after ``Dense``; returns the new version."""
        self.version += 1
        typing = self.version % 2 == 0
        end = types.Position(line=self.at.line, character=self.at.character + (0 if typing else 1))
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=self.at, end=end), text="x" if typing else "")]))
        return self.version

    async def time_keystroke(self) -> float:
        """Seconds from one keystroke to the diagnostics of its version."""
        future = self.expect(self.version + 1)
        start = time.perf_counter()
        version = self.keystroke()
        done = await asyncio.wait_for(future, 60)
        assert version == self.version
        return done - start

    async def burst(self, keys: int, gap: float) -> tuple[int, int | None]:
        """Type ``keys`` keystrokes ``gap`` seconds apart; how many times
        diagnostics were published for them, and for which last version."""
        if self.version % 2 == 1:  # end the burst on a clean text: an even number of keys from a clean one
            keys += keys % 2
        before = len(self.published)
        last = self.version + keys
        future = self.expect(last)
        for _ in range(keys):
            self.keystroke()
            await asyncio.sleep(gap)
        await asyncio.wait_for(future, 60)
        await asyncio.sleep(self.debounce_ms / 1000 + 0.3)  # anything late would show here
        fresh = self.published[before:]
        return len(fresh), fresh[-1][1] if fresh else None

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        stop: Any = self.client.stop
        await stop()


async def measure(debounce_ms: int, runs: int) -> tuple[list[float], tuple[int, int | None] | None]:
    session = Session(debounce_ms)
    await session.start()
    try:
        for _ in range(3):  # warm-up
            await session.time_keystroke()
        times = [await session.time_keystroke() for _ in range(runs)]
        burst = await session.burst(10, debounce_ms / 1000 / 4) if debounce_ms else None
    finally:
        await session.stop()
    return times, burst


def report(label: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    print(f"{label}: median {statistics.median(ms):.1f} ms  (min {ms[0]:.1f}, p90 {p90:.1f}, {len(ms)} runs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed keystrokes per setting (default 30)")
    parser.add_argument("--debounce-ms", type=int, default=100, help="the server's debounce (default: kspec's 100)")
    args = parser.parse_args(argv)
    print(f"keystroke -> fresh publishDiagnostics, {SPEC.name} ({len(SPEC.read_text().splitlines())} lines, "
          "4 blocks, expanded to the 177 layers kspec summary lists)")
    times, burst = asyncio.run(measure(args.debounce_ms, args.runs))
    report(f"debounce {args.debounce_ms} ms", times)
    if burst is not None:
        count, version = burst
        print(f"burst of 10 keystrokes {args.debounce_ms / 4:.0f} ms apart: diagnostics published {count} time(s), "
              f"for version {version}")
    times, _ = asyncio.run(measure(0, args.runs))
    report("debounce 0 ms (check + protocol only)", times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
