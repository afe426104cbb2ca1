"""A tag with 100,000 attributes (a 1 MB page) must not stop the crawl: libxml2 compares each
attribute with all the previous ones, so unbounded it parses for hours in the reactor's thread,
and every shop of the night (and SIGTERM) waits. The listing on that page is still read."""

from __future__ import annotations

import sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from monitor.downloadermiddlewares.markup import cut_attributes

PAGE = (
    '<html><head><meta charset="utf-8"><title>{title}</title></head><body><h1>{title}</h1>'
    "{extra}<p class='price'>价格 ￥199</p><button>加入购物车</button><span>库存 9 件</span>"
    "</body></html>"
)
BOMB = "<div " + " ".join(f'a{i}="{i}"' for i in range(100_000)) + ">细节</div>"
PAGES = {
    "/": '<html><body><a href="/ok.html">一</a><a href="/bomb.html">二</a></body></html>',
    "/ok.html": PAGE.format(title="高仿名牌手表 机械表", extra=""),
    "/bomb.html": PAGE.format(title="高仿运动鞋 莆田", extra=BOMB),
}


@pytest.fixture
def attribute_bomb_shop():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = PAGES.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
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


def test_a_tag_of_100000_attributes_neither_stops_the_crawl_nor_hides_its_listing(
    attribute_bomb_shop, make_config, cli, tmp_path
):
    url = attribute_bomb_shop
    config = make_config([], evidence={"dir": "evidence", "screenshots": False})
    # the timeout bounds a run that, unbounded, parses one page for hours; not a measurement
    result = cli("crawl", "--url", url, config=config, timeout=240)
    assert result.returncode == 0, result.stderr + result.stdout
    con = sqlite3.connect(tmp_path / "monitor.db")
    titles = dict(con.execute("SELECT url, title FROM listings").fetchall())
    con.close()
    assert titles[url + "ok.html"] == "高仿名牌手表 机械表"
    assert titles[url + "bomb.html"] == "高仿运动鞋 莆田"
    # the evidence keeps the page as served, every attribute included
    assert cli("evidence", "verify", config=config).returncode == 0
    raw = max((tmp_path / "evidence" / "objects").rglob("*"), key=lambda p: p.stat().st_size)
    assert raw.stat().st_size > 1_000_000


def test_ordinary_markup_is_left_byte_for_byte():
    page = (
        b'<html><body><img src="data:image/png;base64,' + b"A" * 300_000 + b'" alt="x">'
        b"<div " + b" ".join(b'data-k%d="v"' % i for i in range(200)) + b">x</div></body></html>"
    )
    assert cut_attributes(page) == (page, 0)
    assert cut_attributes(page.decode().encode("gbk")) == (page.decode().encode("gbk"), 0)
