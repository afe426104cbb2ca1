"""A target's page budget is shared fairly between the branches of the shop (monitor.crawl.pqueues):
an endless branch that no trap signature recognises cannot starve the listings of another,
and a shop whose listings are all under one branch still gets its whole budget."""

from __future__ import annotations

import json
import sqlite3
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from monitor.webserver import ShopServer

VALID = "91350100M000100Y43"


def page(body: str) -> str:
    return f'<html><head><meta charset="utf-8"></head><body>{body}</body></html>'


def product(i: int) -> str:
    return page(
        f"<main><h1>加厚羽绒服 第{i}款</h1><p>价格：￥{100 + i}</p><p>保暖透气。</p></main>"
    )


class EndlessListHandler(SimpleHTTPRequestHandler):
    """``/list?page=N``: a list of articles with a pagination bar to the next twenty pages, new
    content on every page and never an end (plain page numbers: not calendar-like, one query
    parameter, far fewer variants than the trap filter lets through)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path != "/list":
            return super().do_GET()
        n = int(parse_qs(parts.query).get("page", ["1"])[0])
        bar = "".join(f'<a href="/list?page={k}">{k}</a> ' for k in range(n + 1, n + 21))
        body = page(
            f"<h2>资讯 第{n}页</h2><p>第{n}页的资讯：店铺动态与上新预告，每页不同。</p>{bar}"
        ).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def listing_urls(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    urls = {u for (u,) in con.execute("SELECT url FROM listings WHERE url NOT LIKE '%#%'")}
    con.close()
    return urls


def target_stats(cli, config) -> dict:
    shown = cli("runs", "show", "1", config=config)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["stats"]["targets"]["店"]


def crawl(tmp_path, make_config, cli, server, budget: int):
    config = make_config(
        [{"name": "店", "url": server.url, "page_budget": budget}],
        evidence={"dir": "evidence", "screenshots": False},
        crawl={"obey_robots": False, "concurrency": 2, "per_target_concurrency": 2},
    )
    result = cli("nightly", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    return config


def test_an_endless_branch_does_not_starve_the_listings_of_another(tmp_path, make_config, cli):
    root = tmp_path / "site"
    (root / "goods").mkdir(parents=True)
    for i in range(10):
        (root / "goods" / f"{i}.html").write_text(product(i), encoding="utf-8")
    (root / "goods" / "index.html").write_text(
        page("".join(f'<a href="/goods/{i}.html">商品{i}</a>' for i in range(10))),
        encoding="utf-8",
    )
    # the start page shows the news section's pagination bar first, the goods last
    (root / "index.html").write_text(
        page(
            "".join(f'<a href="/list?page={k}">资讯{k}</a>' for k in range(1, 21))
            + '<a href="/goods/">全部商品</a>'
            + f"<footer>统一社会信用代码：{VALID}</footer>"
        ),
        encoding="utf-8",
    )
    with ShopServer(root, handler=EndlessListHandler) as server:
        config = crawl(tmp_path, make_config, cli, server, budget=40)
    found = listing_urls(tmp_path / "monitor.db")
    assert len({u for u in found if "/goods/" in u and u.endswith(".html")}) == 10, found
    stats = target_stats(cli, config)
    assert stats["pages"] <= 40
    assert stats["budget_dropped"] > 0  # the endless branch was cut by the budget, not ended


def test_a_shop_with_all_its_listings_under_one_branch_gets_its_whole_budget(
    tmp_path, make_config, cli
):
    root = tmp_path / "site"
    (root / "p").mkdir(parents=True)
    for i in range(60):
        (root / "p" / f"{i}.html").write_text(product(i), encoding="utf-8")
    (root / "index.html").write_text(
        page(
            "".join(f'<a href="/p/{i}.html">{i}</a>' for i in range(60))
            + f"<footer>统一社会信用代码：{VALID}</footer>"
        ),
        encoding="utf-8",
    )
    with ShopServer(root) as server:
        config = crawl(tmp_path, make_config, cli, server, budget=40)
    stats = target_stats(cli, config)
    assert stats["pages"] == 40  # the start page and 39 listings: the budget, all of it
    assert len(listing_urls(tmp_path / "monitor.db")) == 39
