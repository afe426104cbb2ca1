"""A city's night: licence findings keyed by target, one configuration for every way of crawling,
the targets table as the one list of targets."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from monitor.webserver import ShopServer

PROJECT = Path(__file__).resolve().parent.parent
VALID = "91350100M000100Y43"


def page(body: str) -> str:
    return f'<html><head><meta charset="utf-8"></head><body>{body}</body></html>'


def product(i: int) -> str:
    return page(
        f"<main><h1>加厚羽绒服 第{i}款</h1><p>价格：￥{100 + i}</p><p>保暖透气。</p></main>"
    )


def licence_site(root: Path, footer: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "p").mkdir(exist_ok=True)
    for i in range(3):
        (root / "p" / f"{i}.html").write_text(product(i), encoding="utf-8")
    links = "".join(f'<a href="/p/{i}.html">{i}</a>' for i in range(3))
    (root / "index.html").write_text(
        page(f'<a href="/">首页</a>{links}<footer>{footer}</footer>'), encoding="utf-8"
    )


def licence_leads(db: Path) -> dict[str, list[tuple[str, str]]]:
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT t.name, l.url, d.status FROM leads d JOIN listings l ON l.id = d.listing_id "
        "JOIN targets t ON t.id = l.target_id WHERE l.url LIKE '%#license_display%'"
    ).fetchall()
    con.close()
    out: dict[str, list] = {}
    for name, url, status in rows:
        out.setdefault(name, []).append((url.split("#license_display-")[-1], status))
    return out


def archive(db: Path) -> dict[str, list[tuple[str, int]]]:
    """{target: [(status, last run that saw it)]} of the entity archive, oldest first."""
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT t.name, e.status, e.run_id FROM entity_records e "
        "JOIN targets t ON t.id = e.target_id ORDER BY e.id"
    ).fetchall()
    con.close()
    out: dict[str, list] = {}
    for name, status, run_id in rows:
        out.setdefault(name, []).append((status, run_id))
    return out


def events(db: Path) -> int:
    con = sqlite3.connect(db)
    n = con.execute("SELECT COUNT(*) FROM lead_events").fetchone()[0]
    con.close()
    return n


def test_rerun_over_unchanged_shops_with_licence_problems_keeps_one_lead_each(
    tmp_path, make_config, cli
):
    footers = {
        "none": "欢迎光临",
        "badsum": "统一社会信用代码：91350100M000100Y44 闽ICP备2023012345号",
        "ok": f"经营者：福州某某商贸有限公司 统一社会信用代码：{VALID} 闽ICP备2023012345号-1",
        # a bidi override in what the site shows: stored without it, and the same every night
        "ok_rlo": f"经营者：福州某某商贸有限公司 统一社会信用代码：{VALID} 闽ICP备2023012345号-1"
        " 地址：福州市\u202e鼓楼区某某路1号",
    }
    servers = {}
    try:
        for name, footer in footers.items():
            licence_site(tmp_path / name, footer)
            servers[name] = ShopServer(tmp_path / name).start()
        config = make_config(
            [{"name": n, "url": s.url} for n, s in servers.items()],
            evidence={"dir": "evidence", "screenshots": False},
        )
        db = tmp_path / "monitor.db"
        assert cli("nightly", config=config).returncode == 0
        first = licence_leads(db)
        assert first == {"none": [("missing", "new")], "badsum": [("invalid_code", "new")]}
        for _ in range(2):
            assert cli("nightly", config=config).returncode == 0
            assert licence_leads(db) == first  # updated, never filed again
        assert events(db) == 0  # the shop without a licence is not removed and reopened nightly
        # the entity archive: one row per thing a site showed, marked seen by the latest run
        assert archive(db) == {
            name: [("missing" if name == "none" else "invalid" if name == "badsum" else "ok", 3)]
            for name in footers
        }
        licence_site(tmp_path / "none", footers["ok"])  # the shop fixes its footer
        assert cli("nightly", config=config).returncode == 0
        assert licence_leads(db)["none"] == [("missing", "rectified")]
        assert archive(db)["none"] == [("missing", 3), ("ok", 4)]
        assert archive(db)["badsum"] == [("invalid", 4)]
        assert archive(db)["ok_rlo"] == [("ok", 4)]
        assert cli("evidence", "verify", config=config).returncode == 0
    finally:
        for s in servers.values():
            s.stop()


class CountingHandler(SimpleHTTPRequestHandler):
    counts: Counter = Counter()
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        with self.lock:
            self.counts[self.path] += 1
        super().do_GET()


def chain_site(root: Path, pages: int) -> None:
    """A shop paginated one listing per page, deeper than Scrapy's usual depth limits."""
    (root / "p").mkdir(parents=True, exist_ok=True)
    for k in range(pages):
        (root / "p" / f"{k}.html").write_text(product(k), encoding="utf-8")
        nxt = f'<a href="/list{k + 1}.html">下一页</a>' if k + 1 < pages else ""
        (root / f"list{k}.html").write_text(
            page(f'<a href="/">首页</a><a href="/p/{k}.html">商品</a>{nxt}'), encoding="utf-8"
        )
    (root / "index.html").write_text(
        page('<a href="/">首页</a><a href="/list0.html">全部商品</a>'), encoding="utf-8"
    )


def listing_urls(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    urls = {u for (u,) in con.execute("SELECT url FROM listings WHERE url NOT LIKE '%#%'")}
    con.close()
    return urls


def test_scrapy_crawl_and_monitor_crawl_record_the_same_listings(tmp_path, make_config, cli):
    chain_site(tmp_path / "site", 30)
    CountingHandler.counts = Counter()
    with ShopServer(tmp_path / "site", handler=CountingHandler) as server:
        for way in ("scrapy", "monitor"):
            folder = tmp_path / way
            folder.mkdir()
            config = folder / "config.yaml"
            config.write_text(
                make_config([], evidence={"dir": "evidence", "screenshots": False}).read_text(
                    encoding="utf-8"
                ),
                encoding="utf-8",
            )
            if way == "scrapy":
                result = subprocess.run(
                    [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"url={server.url}"],
                    cwd=PROJECT,
                    env={**os.environ, "MONITOR_CONFIG": str(config)},
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
            else:
                result = cli("crawl", "--url", server.url, config=config)
            assert result.returncode == 0, result.stderr[-2000:]
            assert CountingHandler.counts["/"] == 1, "the home page is fetched once"
            CountingHandler.counts = Counter()
    by_scrapy, by_monitor = (
        listing_urls(tmp_path / "scrapy" / "monitor.db"),
        listing_urls(tmp_path / "monitor" / "monitor.db"),
    )
    assert len(by_scrapy) == 30  # all of them, 32 links deep
    assert by_scrapy == by_monitor


def test_imported_shops_are_crawled_by_nightly_and_managed_from_the_table(
    tmp_path, make_config, cli
):
    shops = {}
    try:
        for name in ("甲", "乙", "丙"):
            licence_site(tmp_path / name, f"统一社会信用代码：{VALID}")
            shops[name] = ShopServer(tmp_path / name).start()
        config = make_config([], evidence={"dir": "evidence", "screenshots": False})
        registry = tmp_path / "registry.csv"
        registry.write_text(
            "名称,网址,类型,地区,启用\n"
            + "".join(f"{n}店,{s.url},site,南昌,是\n" for n, s in shops.items()),
            encoding="utf-8-sig",
        )
        assert cli("targets", "import", registry, config=config).returncode == 0
        assert cli("targets", "disable", "丙店", config=config).returncode == 0
        result = cli("nightly", config=config)
        assert result.returncode == 0, result.stderr
        con = sqlite3.connect(tmp_path / "monitor.db")
        crawled = dict(
            con.execute(
                "SELECT t.name, COUNT(l.id) FROM targets t LEFT JOIN listings l "
                "ON l.target_id = t.id GROUP BY t.name"
            ).fetchall()
        )
        con.close()
        assert crawled == {"甲店": 3, "乙店": 3, "丙店": 0}

        # a one-off crawl of a known shop's URL files under the shop, never renames it
        assert cli("crawl", "--url", shops["甲"].url, config=config).returncode == 0
        names = cli("targets", "list", "--format", "csv", config=config).stdout
        assert "甲店" in names and f"\n{shops['甲'].url}," not in names

        # the same registry again updates by URL: no second row per shop
        assert cli("targets", "import", registry, config=config).returncode == 0
        listing = cli("targets", "list", "--format", "csv", config=config)
        assert listing.stdout.startswith("\ufeff名称,网址")
        rows = listing.stdout.strip().splitlines()[1:]
        assert len(rows) == 3 and all(",南昌," in r for r in rows)

        dup = tmp_path / "dup.csv"
        dup.write_text(f"name,url\nA,{shops['甲'].url}\nB,{shops['甲'].url}\n", encoding="utf-8")
        bad = cli("targets", "import", dup, config=config)
        assert bad.returncode == 2 and f"{dup}:3:" in bad.stderr
        listed = cli("targets", "list", "--format", "csv", config=config).stdout
        assert "\nA," not in listed and "\nB," not in listed

        kept = cli("targets", "remove", "甲店", config=config)  # has listings: disabled instead
        assert kept.returncode == 0 and "停用" in kept.stdout
        blank = tmp_path / "blank.csv"
        blank.write_text("name,url\n新店,http://new.example.cn/\n", encoding="utf-8")
        assert cli("targets", "import", blank, config=config).returncode == 0
        assert cli("targets", "remove", "新店", config=config).returncode == 0
        out = cli("targets", "list", "--format", "csv", config=config).stdout
        assert "新店" not in out and "甲店" in out
    finally:
        for s in shops.values():
            s.stop()


def test_unchanged_clean_listings_wait_longer_new_links_come_at_once(tmp_path, make_config, cli):
    from datetime import datetime, timedelta, timezone

    root = tmp_path / "site"
    licence_site(root, f"统一社会信用代码：{VALID}")
    CountingHandler.counts = Counter()
    with ShopServer(root, handler=CountingHandler) as server:
        config = make_config(
            [{"name": "店", "url": server.url}], evidence={"dir": "evidence", "screenshots": False}
        )
        db = tmp_path / "monitor.db"
        for _ in range(2):  # first sight, then found unchanged: the streak starts
            assert cli("nightly", config=config).returncode == 0
        # two nights later (the schedule moved back instead of waiting): the listings are not
        # due yet, a new listing linked from the index is fetched at once
        con = sqlite3.connect(db)
        con.execute("UPDATE listings SET unchanged_streak = 3")
        later = datetime.now(timezone.utc) + timedelta(days=3)
        con.execute("UPDATE listings SET next_visit = ?", (later.replace(tzinfo=None),))
        con.commit()
        con.close()
        (root / "p" / "9.html").write_text(product(9), encoding="utf-8")
        index = (root / "index.html").read_text(encoding="utf-8")
        (root / "index.html").write_text(
            index.replace("<footer>", '<a href="/p/9.html">9</a><footer>'), encoding="utf-8"
        )
        CountingHandler.counts = Counter()
        assert cli("nightly", config=config).returncode == 0
        assert CountingHandler.counts["/"] == 1 and CountingHandler.counts["/p/9.html"] == 1
        assert not any(CountingHandler.counts[f"/p/{i}.html"] for i in range(3))
        assert len(listing_urls(db)) == 4  # nothing taken for removed
        CountingHandler.counts = Counter()
        assert cli("nightly", "--full", config=config).returncode == 0
        assert all(CountingHandler.counts[f"/p/{i}.html"] == 1 for i in (0, 1, 2, 9))
    con = sqlite3.connect(db)
    streaks = dict(con.execute("SELECT url, unchanged_streak FROM listings").fetchall())
    con.close()
    assert streaks[server.url + "p/9.html"] == 1 and streaks[server.url + "p/0.html"] == 4


class HostileValuesHandler(SimpleHTTPRequestHandler):
    """A long Last-Modified and ETag on every page."""

    def log_message(self, *args):
        pass

    def end_headers(self):
        self.send_header("ETag", '"' + "e" * 500 + '"')
        super().end_headers()

    def date_time_string(self, timestamp=None):
        return "Mon, 01 Dec 2026 00:00:00 GMT; " + "x" * 400


def test_hostile_values_are_stored_clipped_on_every_database(
    tmp_path, make_config, cli, database_url
):
    """A NUL in a name, a price of 300 digits and a 400-character Last-Modified are bad values,
    not storage faults: the listing is stored (cut, NUL removed) and the target is crawled."""
    root = tmp_path / "site"
    (root / "p").mkdir(parents=True)
    (root / "p" / "1.html").write_bytes(
        page(
            "<main><h1>高仿\x00名表 一比一</h1><p>价格：￥" + "9" * 300 + "</p>"
            "<p>复刻\x00手表，支持验货。</p></main>"
        ).encode("utf-8")
    )
    (root / "index.html").write_text(
        page(f'<a href="/p/1.html">表</a><footer>统一社会信用代码：{VALID}</footer>'),
        encoding="utf-8",
    )
    with ShopServer(root, handler=HostileValuesHandler) as server:
        config = make_config(
            [{"name": "店", "url": server.url}],
            database={"url": database_url},
            evidence={"dir": "evidence", "screenshots": False},
        )
        result = cli("nightly", config=config)
        assert result.returncode == 0, result.stdout + result.stderr
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        title, price, etag, modified = conn.execute(
            text(
                "SELECT title, price, etag, last_modified FROM listings WHERE url LIKE '%p/1.html'"
            )
        ).one()
        leads = conn.execute(text("SELECT COUNT(*) FROM leads")).scalar()
    engine.dispose()
    assert "\x00" not in title and title.startswith("高仿")
    assert price is None or len(price) <= 64
    assert len(etag) <= 200 and len(modified) <= 100 and modified.startswith("Mon, 01 Dec")
    assert leads == 1


class CalendarHandler(SimpleHTTPRequestHandler):
    """An endless calendar: every day links the seven days after it."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        from datetime import date, timedelta
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(self.path)
        if parts.path != "/calendar":
            return super().do_GET()
        day = date.fromisoformat(parse_qs(parts.query).get("date", ["2026-12-01"])[0])
        links = "".join(
            f'<a href="/calendar?date={d.isoformat()}">{d}</a>'
            for d in (day + timedelta(days=n) for n in range(1, 8))
        )
        body = page(f"<h2>活动日历 {day}</h2>{links}").encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_endless_calendar_does_not_starve_the_listings(tmp_path, make_config, cli):
    root = tmp_path / "site"
    (root / "p").mkdir(parents=True)
    for i in range(10):
        (root / "p" / f"{i}.html").write_text(product(i), encoding="utf-8")
    (root / "index.html").write_text(
        page(
            "".join(f'<a href="/p/{i}.html">{i}</a>' for i in range(10))
            + '<a href="/calendar?date=2026-12-01">活动日历</a>'
            f"<footer>统一社会信用代码：{VALID}</footer>"
        ),
        encoding="utf-8",
    )
    with ShopServer(root, handler=CalendarHandler) as server:
        config = make_config(
            [{"name": "店", "url": server.url, "page_budget": 30}],
            evidence={"dir": "evidence", "screenshots": False},
            crawl={"obey_robots": False, "concurrency": 2, "per_target_concurrency": 2},
        )
        result = cli("nightly", config=config)
        assert result.returncode == 0, result.stderr
    assert len(listing_urls(tmp_path / "monitor.db")) == 10  # all ten, in one night
    import json

    stats = json.loads(cli("runs", "show", "1", config=config).stdout)["stats"]["targets"]["店"]
    assert stats["pages"] <= 30


def test_links_to_files_are_not_followed(tmp_path, make_config, cli):
    """Scrapy's IGNORED_EXTENSIONS (images, media, archives, office files) are not fetched;
    pages whose names only look alike are."""
    root = tmp_path / "site"
    licence_site(root, f"统一社会信用代码：{VALID}")
    files = ["/a.pdf", "/b.JPG", "/c.tar.gz", "/d.zip;jsessionid=1", "/e.docx?v=2"]
    pages = ["/f.pdf.html", "/g;x.zip/h.html", "/i.html?file=x.zip"]
    for name in ("f.pdf.html", "g;x.zip/h.html", "i.html"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(product(7), encoding="utf-8")
    index = root / "index.html"
    links = "".join(f'<a href="{u}">文件</a>' for u in files + pages)
    index.write_text(index.read_text(encoding="utf-8").replace("<footer>", links + "<footer>"))
    CountingHandler.counts = Counter()
    with ShopServer(root, handler=CountingHandler) as server:
        config = make_config([], evidence={"dir": "evidence", "screenshots": False})
        assert cli("crawl", "--url", server.url, config=config).returncode == 0
    fetched = set(CountingHandler.counts)
    assert not fetched & set(files)
    assert set(pages) <= fetched


def test_a_shop_whose_listings_are_all_not_due_is_still_crawled(tmp_path, make_config, cli):
    """A home page that links only to listings not due tonight makes no request, yet the shop
    was crawled: the second night reports it crawled, with its listings seen."""
    root = tmp_path / "site"
    licence_site(root, f"统一社会信用代码：{VALID}")
    index = root / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace('<a href="/">首页</a>', ""))
    with ShopServer(root) as server:
        config = make_config(
            [{"name": "店", "url": server.url}],
            evidence={"dir": "evidence", "screenshots": False},
        )
        assert cli("nightly", config=config).returncode == 0
        second = cli("nightly", config=config)
        assert second.returncode == 0, second.stdout + second.stderr
    import json

    figures = json.loads(cli("runs", "show", "2", config=config).stdout)["stats"]["targets"]["店"]
    assert figures["crawled"] and figures["complete"], figures


def test_a_one_off_crawl_of_a_watched_shops_page_knows_its_listings(tmp_path, make_config, cli):
    """`monitor crawl --url` of a category page of a shop the nightly watches: its unchanged
    flagged listing is not captured again nor moved to the one-off target, its lead stays one."""
    root = tmp_path / "site"
    licence_site(root, f"统一社会信用代码：{VALID}")
    (root / "p" / "0.html").write_text(
        page("<main><h1>好评返现卡 定制</h1><p>价格：￥5</p><p>五星好评返现。</p></main>"),
        encoding="utf-8",
    )
    (root / "p" / "3.html").write_text(product(3), encoding="utf-8")  # linked from c.html only
    links = "".join(f'<a href="/p/{i}.html">{i}</a>' for i in range(4))
    footer = f"<footer>统一社会信用代码：{VALID}</footer>"  # on every page of a real shop
    (root / "c.html").write_text(page(f"<nav>分类</nav>{links}{footer}"), encoding="utf-8")
    db = tmp_path / "monitor.db"

    def recorded() -> tuple[int, int, set]:
        con = sqlite3.connect(db)
        evidence = con.execute("SELECT COUNT(*) FROM evidence").fetchone()[0]
        leads = con.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
        holders = {r[0] for r in con.execute("SELECT DISTINCT target_id FROM listings")}
        con.close()
        return evidence, leads, holders

    with ShopServer(root) as server:
        config = make_config(
            [{"name": "店", "url": server.url}], evidence={"dir": "evidence", "screenshots": False}
        )
        assert cli("nightly", config=config).returncode == 0
        after_nightly = recorded()
        assert after_nightly[0] >= 1 and after_nightly[1] >= 1 and len(after_nightly[2]) == 1
        for _ in range(2):  # the second time, the one-off target holds a listing of its own
            result = cli("crawl", "--url", server.url + "c.html", config=config)
            assert result.returncode == 0, result.stderr
            evidence, leads, holders = recorded()
            assert (evidence, leads) == after_nightly[:2]
            assert after_nightly[2] < holders  # p/3, new, is the one-off target's
    con = sqlite3.connect(db)
    holder = con.execute("SELECT target_id FROM listings WHERE url LIKE '%/p/0.html'").fetchone()
    con.close()
    assert {holder[0]} == after_nightly[2]  # the flagged listing stays with its shop
