"""Crawler traps a shop offers, cut before they cost the night (monitor.crawl.traps), and what a
night that ran out of budget carries into the next (monitor.crawl.jobstate)."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
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


class GeneratedHandler(SimpleHTTPRequestHandler):
    """Files from the folder, and two generated branches: ``/s/<session>/home.html`` (a session
    id in the path, 30 new ones on every page, as a cookie-less shop hands out) and
    ``/list?page=N`` (30 new pages on every page, one query parameter). Counts its hits."""

    hits: list[str] = []
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        with self.lock:
            self.hits.append(parts.path)
        if parts.path.startswith("/s/") and parts.path.endswith("/home.html"):
            links = [f"/s/{random.randrange(16**12):012x}/home.html" for _ in range(30)]
        elif parts.path == "/list":
            n = int(parse_qs(parts.query).get("page", ["1"])[0])
            links = [f"/list?page={n * 30 + k}" for k in range(30)]
        else:
            return super().do_GET()
        body = page(
            "<p>本店会员专区，欢迎光临。</p>" + "".join(f'<a href="{u}">更多</a>' for u in links)
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


def night(tmp_path, make_config, cli, root: Path, budget: int) -> dict:
    GeneratedHandler.hits = []
    with ShopServer(root, handler=GeneratedHandler) as server:
        config = make_config(
            [{"name": "店", "url": server.url, "page_budget": budget}],
            evidence={"dir": "evidence", "screenshots": False},
            crawl={"obey_robots": False, "concurrency": 2, "per_target_concurrency": 2},
        )
        result = cli("nightly", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = cli("runs", "show", "1", config=config)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["stats"]["targets"]["店"]


def test_a_session_id_in_the_path_is_cut_early_and_counted(tmp_path, make_config, cli):
    root = tmp_path / "site"
    (root / "goods").mkdir(parents=True)
    for i in range(10):
        (root / "goods" / f"{i}.html").write_text(product(i), encoding="utf-8")
    (root / "index.html").write_text(
        page(
            '<a href="/s/0123456789ab/home.html">会员中心</a>'
            + "".join(f'<a href="/goods/{i}.html">商品{i}</a>' for i in range(10))
            + f"<footer>统一社会信用代码：{VALID}</footer>"
        ),
        encoding="utf-8",
    )
    stats = night(tmp_path, make_config, cli, root, budget=400)
    sessions = [p for p in GeneratedHandler.hits if p.startswith("/s/")]
    assert len(sessions) <= 60, len(sessions)  # not the budget's share: ~50 values, then cut
    assert stats["traps_cut"] > 0
    assert stats["budget_dropped"] == 0  # the night ended by itself, not by the budget
    found = listing_urls(tmp_path / "monitor.db")
    assert len({u for u in found if "/goods/" in u}) == 10, found


def test_a_catalogue_with_ids_in_its_paths_is_not_cut(tmp_path, make_config, cli):
    """Product ids in the last segment, numeric ids and SKU-like tokens in a directory: 80 of
    each, more than a session slot may bring, all reached from the shop's category pages."""
    root = tmp_path / "site"
    urls = []
    for i in range(80):
        for rel in (
            f"goods/{12345 + i}.html",
            f"item/abc{1000 + i}x",
            f"p/{5000 + i}/detail.html",
            f"sku/AB{i:03d}CD77/detail.html",
        ):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(product(len(urls)), encoding="utf-8")
            urls.append("/" + rel)
    (root / "index.html").write_text(
        page(
            "".join(f'<a href="{u}">商品</a>' for u in urls)
            + f"<footer>统一社会信用代码：{VALID}</footer>"
        ),
        encoding="utf-8",
    )
    stats = night(tmp_path, make_config, cli, root, budget=1000)
    assert stats["traps_cut"] == 0
    found = {urlsplit(u).path for u in listing_urls(tmp_path / "monitor.db")}
    assert found >= set(urls), sorted(set(urls) - found)[:5]


def test_what_a_spent_budget_defers_is_carried_over_only_up_to_the_budget(
    tmp_path, make_config, cli
):
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(
        page('<a href="/list?page=1">资讯</a>' + f"<footer>统一社会信用代码：{VALID}</footer>"),
        encoding="utf-8",
    )
    stats = night(tmp_path, make_config, cli, root, budget=12)
    assert stats["budget_dropped"] > 12  # many more links were deferred than one night fetches
    kept = (tmp_path / "data" / "jobs" / "site" / "scheduled.txt").read_text(encoding="utf-8")
    lines = kept.splitlines()
    assert 0 < len(lines) <= 12, len(lines)
    assert all(line.startswith("店\thttp://127.0.0.1:") for line in lines)
