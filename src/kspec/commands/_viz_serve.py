"""``kspec viz --serve``: the page served from 127.0.0.1, activations computed
when the page asks for them (the standard library's ``http.server``).

Three paths exist and nothing else: ``/`` (the page), ``/api/sample?sample=I``
(predictions and Grad-CAM) and ``/api/layer?sample=I&layer=NAME`` (one
layer's maps). No file is ever served from disk; a path that climbs out
(``/../``, also percent-encoded) is refused with 403, any other is 404; so
is a request whose ``Host`` is not the loopback address (a page elsewhere
that rebinds its name to 127.0.0.1 cannot read the model's activations).
The server binds to the loopback address only and handles one request at a
time (Keras runs in the thread that serves); Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kspec.commands._viz_page import page_json, render_page

__all__ = ["HOST", "VizServer", "make_server", "serve"]

#: The only address the server listens on.
HOST = "127.0.0.1"


class VizServer(HTTPServer):
    """An HTTP server holding the page and the :class:`kspec.runtime.viz.Probe` that answers it."""

    def __init__(self, port: int, page: str, probe: Any) -> None:
        super().__init__((HOST, port), _Handler)
        self.page = page.encode("utf-8")
        self.probe = probe

    @property
    def url(self) -> str:
        """Where the page is."""
        return f"http://{HOST}:{self.server_address[1]}/"


def _climbs(path: str) -> bool:
    """Whether a request path tries to leave the server's own paths."""
    decoded = unquote(unquote(path))
    return any(part in ("..", ".") for part in decoded.replace("\\", "/").split("/")) or "\x00" in decoded


class _Handler(BaseHTTPRequestHandler):
    server: VizServer
    server_version = "kspec-viz"
    sys_version = ""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        port = self.server.server_address[1]
        if self.headers.get("Host", "") not in (f"{HOST}:{port}", f"localhost:{port}"):  # DNS rebinding
            self._send(HTTPStatus.FORBIDDEN, b"refused: the page is served to 127.0.0.1 only\n", "text/plain")
            return
        if _climbs(parts.path):
            self._send(HTTPStatus.FORBIDDEN, b"refused: outside the page's paths\n", "text/plain")
            return
        query = parse_qs(parts.query)
        try:
            if parts.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
            elif parts.path == "/api/sample":
                self._json(self.server.probe.sample(self._index(query)))
            elif parts.path == "/api/layer":
                name = query.get("layer", [""])[0]
                self._json(self.server.probe.layer(self._index(query), name))
            else:
                self._send(HTTPStatus.NOT_FOUND, b"no such page\n", "text/plain")
        except _BadRequest as exc:
            self._send(HTTPStatus.BAD_REQUEST, f"{exc}\n".encode(), "text/plain")

    def _index(self, query: dict[str, list[str]]) -> int:
        text = query.get("sample", [""])[0]
        if not text.isdigit() or int(text) >= len(self.server.probe.samples):
            raise _BadRequest(f"no sample '{text}'")
        return int(text)

    def _json(self, value: Any) -> None:
        self._send(HTTPStatus.OK, page_json(value).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the page makes many small requests."""


class _BadRequest(Exception):
    """A request the server cannot answer (400)."""


def make_server(data: dict[str, Any], probe: Any, port: int) -> VizServer:
    """A server for the page of ``data`` (samples computed lazily by ``probe``)."""
    return VizServer(port, render_page({**data, "serve": True}), probe)


def serve(model: Any, data: dict[str, Any], given: Any, port: int) -> None:
    """Serve the page of ``data`` until Ctrl-C; ``given`` holds the samples,
    class names and limits (:class:`kspec.commands.viz.Inputs`)."""
    from kspec.commands._common import fail_usage
    from kspec.runtime.viz import Probe

    try:
        server = make_server(data, Probe(model, given.samples, given.classes, given.limits), port)
    except OSError as exc:
        raise fail_usage(f"cannot serve on {HOST}:{port}: {exc.strerror or exc}") from None
    print(f"serving {data['title']} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
