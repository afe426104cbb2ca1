"""Hostile input and faults: a hostile shop on 127.0.0.1, storage failures, fuzzed pages."""

from __future__ import annotations

import json
import sqlite3
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import PROJECT_ROOT
from monitor.downloadermiddlewares.scope import TargetScopeMiddleware
from monitor.extract import extract_listing
from monitor.extract.encoding import choose_encoding
from monitor.extract.license import extract_license
from monitor.lexicon import matcher_for


def product(title: str, charset: str | None = None) -> str:
    meta = (
        f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'
        if charset
        else ""
    )
    return f"<html><head>{meta}<title>{title}</title></head><body><h1>{title}</h1><p>价格：99元</p></body></html>"


PAGES = {  # path -> (body bytes, content type); titles are what the leads must read
    "/e/gbk-undeclared.html": (product("仿真枪 全金属").encode("gbk"), "text/html"),
    "/e/big5-undeclared.html": (
        product("仿真槍 全金屬").replace("价格", "價格").encode("big5"),
        "text/html",
    ),
    "/e/wrong-declaration.html": (product("高仿名表 一比一", "utf-8").encode("gbk"), "text/html"),
    "/e/gb18030-header.html": (
        product("催情水 速效").encode("gb18030"),
        "text/html; charset=gb18030",
    ),
    "/e/utf8-undeclared.html": (product("刷单兼职 日结").encode("utf-8"), "text/html"),
    "/e/invalid-bytes.html": (
        product("蒙汗药 包邮", "gbk").encode("gbk").replace("包".encode("gbk"), b"\xff\xff"),
        "text/html",
    ),
}
EXPECTED_TITLES = {
    "/e/gbk-undeclared.html": "仿真枪 全金属",
    "/e/big5-undeclared.html": "仿真槍 全金屬",
    "/e/wrong-declaration.html": "高仿名表 一比一",
    "/e/gb18030-header.html": "催情水 速效",
    "/e/utf8-undeclared.html": "刷单兼职 日结",
}


class HostileHandler(BaseHTTPRequestHandler):
    other_origin = ""

    def log_message(self, *args):
        pass

    def send(
        self, status: int, body: bytes = b"", ctype: str = "text/html", headers: dict | None = None
    ):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        path = self.path
        if path == "/":
            links = list(PAGES) + [
                "/redirect-off",
                "/loop",
                "/huge.html",
                "/slow.html",
                "/500",
                "/deep/1",
                f"{self.other_origin}/offsite.html",
                "javascript:alert(1)",
                "mailto:x@example.cn",
            ]
            body = "".join(f'<a href="{u}">{u}</a> ' for u in links)
            self.send(200, f"<html><body>{body}</body></html>".encode())
        elif path in PAGES:
            body, ctype = PAGES[path]
            self.send(200, body, ctype)
        elif path == "/redirect-off":
            self.send(302, headers={"Location": f"{self.other_origin}/landing.html"})
        elif path.startswith(
            "/loop"
        ):  # an endless chain of new URLs (a plain A->A loop is a duplicate)
            n = int(path.rsplit("/", 1)[1]) if path.count("/") > 1 else 0
            self.send(302, headers={"Location": f"/loop/{n + 1}"})
        elif path == "/huge.html":
            self.send(200, b"<html><body>" + "高仿".encode() * 700_000 + b"</body></html>")
        elif path == "/slow.html":
            time.sleep(4)
            self.send(200, product("仿真枪 慢").encode())
        elif path == "/500":
            self.send(500, b"oops")
        elif path.startswith("/deep/"):
            n = int(path.rsplit("/", 1)[1])
            self.send(200, f'<html><body><a href="/deep/{n + 1}">next</a></body></html>'.encode())
        else:
            self.send(404, b"not found")


@pytest.fixture
def hostile():
    other = ThreadingHTTPServer(
        ("127.0.0.2", 0), HostileHandler
    )  # another origin, never to be reached
    HostileHandler.other_origin = f"http://127.0.0.2:{other.server_address[1]}"
    hits = []

    class Counting(HostileHandler):
        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

    other.RequestHandlerClass = Counting
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileHandler)
    for s in (server, other):
        Thread(target=s.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", hits
    for s in (server, other):
        s.shutdown()
        s.server_close()


def titles(db):
    con = sqlite3.connect(db)
    rows = dict(con.execute("SELECT url, title FROM listings").fetchall())
    con.close()
    return rows


def test_hostile_shop_is_crawled_within_limits_and_everything_is_counted(
    hostile, make_config, cli, tmp_path
):
    url, offsite_hits = hostile
    config = make_config(
        [{"name": "恶意", "url": url}],
        evidence={"dir": "evidence", "screenshots": False},
        crawl={
            "obey_robots": False,
            "max_page_bytes": 1_000_000,
            "download_timeout": 2,
            "depth_limit": 5,
        },
    )
    started = time.monotonic()
    result = cli("nightly", config=config, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    assert time.monotonic() - started < 60
    assert offsite_hits == [], "nothing was requested from another origin"
    got = titles(tmp_path / "monitor.db")
    for path, title in EXPECTED_TITLES.items():
        assert got[url + path.lstrip("/")] == title, path  # decoded right, no mojibake
    assert "蒙汗药" in got[url + "e/invalid-bytes.html"]
    run = json.loads(cli("runs", "show", "1", config=config).stdout)["stats"]
    errors = run["errors"]
    assert errors.get("too_large") == 1 and errors.get("timeout", 0) >= 1
    assert errors.get("redirect_loop") == 1 and errors.get("http_500") == 1
    assert (
        run["totals"]["offsite_filtered"] >= 2
    )  # the offsite link and the redirect off the target
    deep = [u for u in got if "/deep/" in u]
    assert not deep  # listing-free pages are not stored, and depth stops the chain
    assert cli("evidence", "verify", config=config).returncode == 0


def test_evidence_folder_failure_stops_the_target_cleanly_and_the_next_run_completes(
    shop, make_config, cli, tmp_path
):
    server = shop("xinyuan")
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "objects").write_text(
        "not a folder"
    )  # every evidence write fails (even as root)
    config = make_config(
        [{"name": "店", "url": server.url}], evidence={"dir": "evidence", "screenshots": False}
    )
    result = cli("nightly", config=config)
    assert result.returncode == 1
    assert "writing evidence failed" in result.stdout
    con = sqlite3.connect(tmp_path / "monitor.db")
    assert (
        con.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 0
    )  # nothing recorded without its evidence
    assert con.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 0
    con.close()
    (tmp_path / "evidence" / "objects").unlink()
    assert cli("nightly", config=config).returncode == 0
    con = sqlite3.connect(tmp_path / "monitor.db")
    assert con.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 5
    con.close()
    assert cli("evidence", "verify", config=config).returncode == 0


def test_bad_lexicon_file_stops_a_crawl_before_anything_is_written(tmp_path, make_config, cli):
    words = tmp_path / "words"
    words.mkdir()
    (words / "x.yaml").write_text("id: x\nlabel: 测试\nterms: [刷单\n", encoding="utf-8")
    config = make_config(
        [{"name": "店", "url": "http://127.0.0.1:9/"}], lexicon={"dir": str(words)}
    )
    result = cli("nightly", config=config)
    assert result.returncode == 2 and f"{words / 'x.yaml'}:" in result.stderr
    assert not (tmp_path / "monitor.db").exists()


def test_scope_refuses_private_addresses_for_a_public_target():
    class Spider:
        start_url = "http://shop.example.cn/"
        allowed_hosts = ["localhost", "img.example.cn"]

    class Stats:
        def inc_value(self, *a):
            pass

    mw = TargetScopeMiddleware(Stats())
    mw.spider_opened(Spider())
    from scrapy import Request

    assert mw.in_scope(Request("http://shop.example.cn/p/1.html"))
    assert not mw.in_scope(
        Request("https://shop.example.cn/p/1.html")
    )  # another scheme is another origin
    assert not mw.in_scope(Request("http://shop.example.cn:8080/"))
    assert not mw.in_scope(Request("http://localhost/admin"))  # listed, but loopback
    assert not mw.in_scope(Request("http://169.254.169.254/latest/meta-data/"))
    assert not mw.in_scope(Request("http://evil.example.com/"))


def test_terminal_and_spreadsheet_never_see_control_characters(tmp_path, cli):
    from monitor.store.sanitize import printable, safe_cell

    assert printable("高仿\x1b[2J表\u202e") == "高仿[2J表"
    assert (
        safe_cell("=1+1") == "'=1+1"
        and safe_cell("-2") == "'-2"
        and safe_cell("@SUM(A1)") == "'@SUM(A1)"
    )
    assert safe_cell("\tx") == "'\tx" and safe_cell("正常文本") == "正常文本"


HTMLISH = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "<html>",
                "<body>",
                "<h1>",
                "</h1>",
                "<main>",
                "</main>",
                "<script type='application/ld+json'>",
                "</script>",
                '{"@type": "Product", "name": "',
                '"}',
                "<meta property='og:type' content='product'>",
                "价格：￥",
                "99",
                "<p>",
                "统一社会信用代码：",
                "91350100M000100Y43",
                "赣ICP备",
                "<!--",
                "]]>",
                "\x00",
            ]
        ),
        st.text(max_size=30),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(HTMLISH)
def test_fuzz_extraction_never_raises(html):
    found = extract_listing(html, "http://x.example/")
    if found is not None:
        assert isinstance(found.title, str) and isinstance(found.text, str)
    extract_license(html)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([None, "gbk", "utf-8", "big5", "bogus", "gb18030"]))
def test_fuzz_encoding_choice_never_raises(body, declared):
    enc = choose_encoding(body, declared)
    body.decode(enc, errors="replace")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=100))
def test_fuzz_matcher_never_raises(text, title):
    matcher = matcher_for(PROJECT_ROOT / "keywords")
    result = matcher.match({"title": title, "text": text})
    for hit in result.hits:
        source = title if hit.field == "title" else text
        assert 0 <= hit.start < hit.end <= len(source)


def test_fuzz_mutated_demo_pages():
    import random

    rng = random.Random(7)
    pages = list((PROJECT_ROOT / "monitor" / "demo" / "shops").rglob("*.html"))
    for _ in range(300):
        raw = bytearray(rng.choice(pages).read_bytes())
        for _ in range(rng.randint(1, 20)):
            op = rng.random()
            pos = rng.randrange(len(raw))
            if op < 0.4:
                raw[pos] = rng.randrange(256)
            elif op < 0.7:
                del raw[pos : pos + rng.randint(1, 50)]
            else:
                raw[pos:pos] = raw[rng.randrange(len(raw)) :][: rng.randint(1, 80)]
        text = bytes(raw).decode(choose_encoding(bytes(raw), None), errors="replace")
        found = extract_listing(text)
        if found:
            matcher_for(PROJECT_ROOT / "keywords").match({"title": found.title, "text": found.text})
