"""A Chinese page served as ISO-8859-1 (Tomcat's default charset, and Apache's
AddDefaultCharset): the single-byte declaration decodes any bytes, so it used to be believed
and the listing was lost as mojibake. A Latin page keeps its declaration."""

from __future__ import annotations

import sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from monitor.extract.encoding import choose_encoding

TITLE = "高仿球鞋 莆田货源"
PAGE = (
    f"<html><head><title>{TITLE}</title></head><body><h1>{TITLE}</h1>"
    "<p class='price'>价格 ￥199</p><p>莆田 纯原 正品 现货 好评</p><button>加入购物车</button>"
    "<span>库存 12 件</span></body></html>"
)
BODIES = {"/gb.html": ("gb18030", "iso-8859-1"), "/u8.html": ("utf-8", "windows-1252")}


@pytest.fixture
def latin1_shop():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/":
                body = b'<html><body><a href="/gb.html">a</a><a href="/u8.html">b</a></body></html>'
                charset = "iso-8859-1"
            else:
                encoding, charset = BODIES[self.path]
                body = PAGE.encode(encoding)
            self.send_response(200)
            self.send_header("Content-Type", f"text/html; charset={charset}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_chinese_pages_declared_latin1_are_read_as_chinese(latin1_shop, make_config, cli, tmp_path):
    config = make_config([], evidence={"dir": "evidence", "screenshots": False})
    result = cli("crawl", "--url", latin1_shop, config=config)
    assert result.returncode == 0, result.stderr + result.stdout
    con = sqlite3.connect(tmp_path / "monitor.db")
    titles = dict(con.execute("SELECT url, title FROM listings").fetchall())
    con.close()
    assert titles[latin1_shop + "gb.html"] == TITLE
    assert titles[latin1_shop + "u8.html"] == TITLE


@pytest.mark.parametrize(
    "text, encoding, chosen",
    [
        (
            "Défense élégante, café crème à côté de l'hôtel; façade ébène. " * 30,
            "iso-8859-1",
            "iso8859-1",
        ),
        ("Größe Übergröße Äpfel Öl süß Straße " * 50, "iso-8859-1", "iso8859-1"),
        ("Crème brûlée — 12 € pièce " * 40, "cp1252", "cp1252"),
    ],
)
def test_a_latin_page_keeps_its_single_byte_declaration(text, encoding, chosen):
    assert choose_encoding(text.encode(encoding), encoding) == chosen
