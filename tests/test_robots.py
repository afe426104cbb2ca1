"""A robots.txt too large to read (over crawl.max_page_bytes) is not taken as allowing all:
the host is left alone for the night and the target reported as not crawled, with one log
line of ours (beside Scrapy's size warning) and no traceback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from monitor.webserver import ShopServer


def page(body: str) -> str:
    return f'<html><head><meta charset="utf-8"></head><body>{body}</body></html>'


def shop(root: Path, robots: str) -> None:
    (root / "private").mkdir(parents=True)
    (root / "private" / "secret.html").write_text(
        page("<main><h1>高仿名表 内部页面</h1><p>价格：￥99</p></main>"), encoding="utf-8"
    )
    (root / "goods.html").write_text(
        page("<main><h1>加厚羽绒服</h1><p>价格：￥199</p><p>保暖透气。</p></main>"),
        encoding="utf-8",
    )
    (root / "index.html").write_text(
        page('<a href="/goods.html">羽绒服</a><a href="/private/secret.html">内部</a>'),
        encoding="utf-8",
    )
    (root / "robots.txt").write_text(robots, encoding="utf-8")


def night(tmp_path, make_config, cli, robots: str):
    root = tmp_path / "site"
    shop(root, robots)
    with ShopServer(root) as server:
        config = make_config(
            [{"name": "店", "url": server.url}],
            evidence={"dir": "evidence", "screenshots": False},
            crawl={"obey_robots": True, "max_page_bytes": 100_000},
        )
        result = cli("nightly", config=config)
    con = sqlite3.connect(tmp_path / "monitor.db")
    urls = {u for (u,) in con.execute("SELECT url FROM listings")}
    con.close()
    log = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "logs").glob("*.log"))
    shown = cli("runs", "show", "1", config=config)
    return result, urls, log, json.loads(shown.stdout)["stats"]


RULES = "User-agent: *\nDisallow: /private/\n"


def test_a_robots_txt_too_large_to_read_leaves_the_host_alone_in_one_line(
    tmp_path, make_config, cli
):
    robots = RULES + ("Disallow: /x" + "y" * 100 + "\n") * 2000  # ~230 KB
    result, urls, log, stats = night(tmp_path, make_config, cli, robots)
    assert not any("/private/" in u for u in urls), urls
    assert not any("goods.html" in u for u in urls), urls
    assert "Traceback" not in log and "Traceback" not in result.stderr
    lines = [x for x in log.splitlines() if "robots.txt is larger than the download limit" in x]
    assert len(lines) == 1, log[-3000:]
    # reported as not crawled: a night without its pages is no complete crawl of the shop
    target = stats["targets"]["店"]
    assert target["crawled"] is False and "robots.txt too large" in target["reason"], target
    assert "robots.txt too large" in result.stdout


def test_a_readable_robots_txt_is_obeyed_as_before(tmp_path, make_config, cli):
    result, urls, log, _stats = night(tmp_path, make_config, cli, RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(u.endswith("/goods.html") for u in urls), urls
    assert not any("/private/" in u for u in urls), urls
