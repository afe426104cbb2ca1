"""Nothing hides a listing (#16 part 2): extraction is bounded in depth and size by design, a
start page that yields nothing marks the target not crawled with the reason, bombs are counted."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.extract import read
from monitor.extract.license import extract_license
from monitor.extract.limits import MAX_TEXT, MAX_TITLE

PRODUCT_LD = (
    '<script type="application/ld+json">{"@type":"Product","name":"内部特供白酒",'
    '"offers":{"price":"99"}}</script>'
)
BUY = "<p>价格：38元</p><button>加入购物车</button>"


def test_deeply_nested_json_ld_is_skipped_without_hiding_the_product():
    deep = '<script type="application/ld+json">' + "[" * 200_000 + "]" * 200_000 + "</script>"
    html = f"<html><head>{deep}{PRODUCT_LD}</head><body>x</body></html>"
    reading = read(html, "http://shop.test/item")
    assert reading.listing.title == "内部特供白酒" and reading.listing.source == "jsonld"
    assert "jsonld_too_deep" in reading.errors
    extract_license(html)  # the licence reader shares the parse and must not raise either


def test_deep_markup_before_the_product_is_read_flattened():
    html = (
        "<html><head><title>内部特供白酒_某店</title></head><body>"
        + "<div>" * 5000
        + f"<h1>内部特供白酒</h1>{BUY}"
        + "</div>" * 5000
        + "</body></html>"
    )
    reading = read(html, "http://shop.test/item")
    assert reading.listing is not None and reading.listing.title == "内部特供白酒"
    assert reading.listing.price == "38" and "deep_markup" in reading.errors


def test_huge_title_is_clipped_not_dropped():
    name = "内部特供白酒" * 200_000
    html = f"<html><head><title>{name}</title></head><body><h1>{name}</h1>{BUY}</body></html>"
    reading = read(html, "http://shop.test/item")
    assert reading.listing is not None
    assert (
        reading.listing.title.startswith("内部特供白酒") and len(reading.listing.title) <= MAX_TITLE
    )


def test_very_long_text_before_the_price_does_not_hide_it():
    filler = "<p>" + "本店商品说明" * 60_000 + "</p>"
    html = (
        "<html><head><title>内部特供白酒_某店</title></head><body><b>内部特供白酒</b>"
        f"{filler}{BUY}</body></html>"
    )
    reading = read(html, "http://shop.test/item")
    assert reading.listing is not None and reading.listing.price == "38"
    assert len(reading.listing.text) <= MAX_TEXT


def test_deep_or_broken_page_state_is_skipped():
    state = '{"a":' * 100_000 + "1" + "}" * 100_000
    html = f"<html><body><script>window.__INITIAL_STATE__={state}</script>{BUY}</body></html>"
    assert read(html, "http://shop.test/").kind in ("other", "product")
    html = "<html><body><script>window.__INITIAL_STATE__={goods: {name: 1 +</script></body></html>"
    assert read(html, "http://shop.test/").listing is None


class _Hostile(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/bomb"):
            body = gzip.compress(b"<html>" + b" " * 30_000_000 + b"</html>")
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
        elif self.path.startswith("/empty"):
            body = "<html><body><p>网站维护中</p></body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        else:
            body, _ = b"", self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hostile_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("path", "reason", "error"),
    [("/empty", "no links or listings", None), ("/bomb", "bomb", "bomb")],
)
def test_start_page_that_yields_nothing_is_not_crawled(
    hostile_server, make_config, cli, tmp_path, path, reason, error
):
    config = make_config(crawl={"obey_robots": False, "max_page_bytes": 10_000_000})
    result = cli("crawl", "--url", hostile_server + path, config=config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert reason in result.stdout
    run = json.loads(cli("runs", "show", "1", config=config).stdout)
    target = next(iter(run["stats"]["targets"].values()))
    assert target["crawled"] is False and reason in target["reason"]
    if error:
        assert target["errors"].get(error) == 1
