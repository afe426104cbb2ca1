"""Real marketplace pages (../shared/eval/real/pages, read from there, never copied here): each
item page gives one listing carrying the product's title, no search, list or home page is taken
for one listing, and a crawl of them never leaves 127.0.0.1 although their links point at live
hosts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.webserver import ShopServer

PROJECT = Path(__file__).resolve().parents[1]
PAGES = PROJECT / ".." / "shared" / "eval" / "real" / "pages"
if not PAGES.is_dir():  # a worktree beside the shared folder
    PAGES = PROJECT.parent.parent / "shared" / "eval" / "real" / "pages"
ITEM_PAGES = {"751754949__node-worm__jd.html", "jshemas__openGraphScraperPages__taobao.html"}
pytestmark = pytest.mark.skipif(not PAGES.is_dir(), reason="shared/eval/real/pages not present")


def _pages() -> list[Path]:
    return sorted(PAGES.glob("*.html"))


def _product_title(path: Path) -> str:
    """The product's name as the page's own <title> gives it, without the site's suffix."""
    title = re.search(r"<title>([^<]*)</title>", path.read_text(encoding="utf-8")).group(1)
    return re.split(r"【|-淘宝网|-京东", title)[0].strip()


@pytest.mark.parametrize("with_profiles", [True, False], ids=["profiles", "generic-only"])
def test_item_pages_give_their_product_and_other_pages_none(with_profiles, tmp_path):
    from monitor.extract import Page
    from monitor.extract.reading import read_page

    assert {p.name for p in _pages()} >= ITEM_PAGES and len(_pages()) >= 7
    for path in _pages():
        page = Page.of(path.read_text(encoding="utf-8"), "http://127.0.0.1:1/" + path.name)
        reading = read_page(page, profiles_dir=None if with_profiles else str(tmp_path))
        if path.name in ITEM_PAGES:
            assert reading.kind == "product", (path.name, reading.why)
            assert reading.listing.title == _product_title(path), path.name
            assert reading.listing.source in (
                "embedded",
                "platform" if with_profiles else "generic",
            )
        else:
            assert reading.listing is None, (path.name, reading.listing)


def test_list_pages_offer_their_goods_as_candidates():
    from monitor.extract import read

    lists = 0
    for path in _pages():
        reading = read(path.read_text(encoding="utf-8"), "http://127.0.0.1:1/" + path.name)
        if reading.kind == "list":
            lists += 1
            assert len(reading.candidates) >= 10, path.name
            assert all(c.url.startswith("http") for c in reading.candidates if c.url)
    assert lists >= 4  # JD, Taobao and 1688 search, the second-hand shop's list


class _Counting(SimpleHTTPRequestHandler):
    hits: list[str] = []
    lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802 - the stdlib's name
        with self.lock:
            self.hits.append(self.path)
        super().do_GET()


def test_crawl_writes_one_listing_per_item_page_and_never_leaves_loopback(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "database: {url: 'sqlite:///monitor.db'}\nevidence: {dir: evidence, screenshots: false}\n"
        "logs: {dir: logs}\n",
        encoding="utf-8",
    )
    _Counting.hits = []
    feed, log = tmp_path / "items.jsonl", tmp_path / "crawl.log"
    with ShopServer(PAGES, handler=_Counting) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "scrapy",
                "crawl",
                "site",
                "-a",
                f"url={server.url}",
                "-O",
                str(feed),
                "-s",
                "ROBOTSTXT_OBEY=False",
                "-s",
                f"LOG_FILE={log}",
            ],
            cwd=PROJECT,
            env={**__import__("os").environ, "MONITOR_CONFIG": str(config)},
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
    assert all(i["kind"] in ("listing", "page") for i in items)  # no bookkeeping items
    listings = {Path(i["url"]).name: i for i in items if i["kind"] == "listing"}
    assert set(listings) == ITEM_PAGES
    for name, item in listings.items():
        assert item["title"] == _product_title(PAGES / name)
        assert item["source"] in ("embedded", "platform", "generic")
        assert "raw_body" not in item
    # every request the crawler sent reached this server: none left for the live hosts
    stats = log.read_text(encoding="utf-8")
    sent = int(re.search(r"'downloader/request_count': (\d+)", stats).group(1))
    assert sent == len(_Counting.hits)
    assert {"/" + p.name for p in _pages()} <= set(_Counting.hits)
    assert int(re.search(r"'scope/filtered': (\d+)", stats).group(1)) > 100
