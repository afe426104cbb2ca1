"""A small static HTTP server on 127.0.0.1 for the demo shops and the tests' fixture shops.

Serves a folder as it is on disk (GBK pages stay GBK bytes; .html is sent as text/html with
no charset, so the page's own <meta> declaration decides), in a background thread.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html",
        ".json": "application/json",
    }

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass


class ShopServer:
    """Serve ``root`` on 127.0.0.1 at a free port until stopped (a context manager too)."""

    def __init__(self, root: str | Path, port: int = 0, handler: type = _QuietHandler) -> None:
        self.root = Path(root)
        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", port), functools.partial(handler, directory=str(self.root))
        )
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def start(self) -> ShopServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ShopServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
