"""Benchmark: the console with 100,000 leads, on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_console.py [--leads 100000] [--repeat 7] [--db sqlite|postgresql|both]

Fills a fresh database (200 shops, one listing, lead and evidence record per lead, a review
history on some), starts `monitor serve` on 127.0.0.1 and times the lead list (with each
filter) and a lead page over HTTP, beside a plain SQL query for the same rows on the same
database in the same run. Figures are medians in milliseconds; the target is under 200 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from monitor.evidence import Artifact, EvidenceStore  # noqa: E402
from monitor.store.db import engine_for, init_db  # noqa: E402
from monitor.store.models import Evidence, Lead, LeadEvent, Listing, Target  # noqa: E402
from tests.console_server import free_port, start_serve, stop  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
CATEGORIES = {
    "counterfeit": ["高仿", "一比一复刻", "原单"],
    "fake_transactions": ["刷单", "好评返现"],
    "absolute_terms": ["全网最低价", "国家级", "最佳"],
    "prohibited_goods": ["仿真枪", "弹簧刀"],
    "false_advertising": ["根治", "七天瘦"],
}
GOODS = ["手表", "女包", "耳机", "白酒", "茶叶", "运动鞋", "面膜", "玩具", "胶囊", "刀具"]
STATUSES = ["new"] * 14 + ["confirmed"] * 2 + ["dismissed"] * 2 + ["case", "rectified"]
NOW = datetime.now(timezone.utc)


def fill(url: str, n: int, evidence_dir: Path) -> list[int]:
    """Insert n leads; returns ids of leads that have real evidence files (for the lead page)."""
    init_db(url)
    rng = random.Random(13)
    engine = engine_for(url)
    store = EvidenceStore(evidence_dir)
    png = (Path(__file__).resolve().parent.parent / "tests" / "fixtures").rglob("*.png")
    screenshot = next(png, None)
    shot = screenshot.read_bytes() if screenshot else b"\x89PNG\r\n\x1a\n" + b"\0" * 30_000
    real: dict[int, tuple[str, str]] = {}
    for lead_id in (n // 2, n // 3, n - 5):
        m = store.capture(
            url=f"http://shop.example/{lead_id}",
            final_url=f"http://shop.example/{lead_id}",
            status=200,
            headers={"Content-Type": ["text/html"]},
            fetched_at=NOW,
            artifacts=[
                Artifact("raw_body", b"<html>%d</html>" % lead_id, "text/html"),
                Artifact("screenshot", shot, "image/png"),
            ],
            previous_sha256=None,
        )
        real[lead_id] = (str(m.path), m.sha256)
    with engine.begin() as conn:
        conn.execute(
            insert(Target),
            [
                {"id": t, "name": f"商城{t:03d}", "url": f"http://s{t}.example/"}
                for t in range(1, 201)
            ],
        )
        batch = 10_000
        for start in range(1, n + 1, batch):
            listings, leads, evidence, events = [], [], [], []
            for i in range(start, min(start + batch, n + 1)):
                cats = rng.sample(sorted(CATEGORIES), rng.choice((1, 1, 1, 2)))
                terms = [(c, rng.choice(CATEGORIES[c])) for c in cats]
                title = f"{terms[0][1]}{rng.choice(GOODS)} 款{i}"
                seen = NOW - timedelta(days=rng.random() * 60)
                listings.append(
                    {
                        "id": i,
                        "target_id": rng.randint(1, 200),
                        "url": f"http://s.example/item/{i}",
                        "title": title,
                        "text": f"{title} 详情 " * 20,
                        "price": str(rng.randint(1, 999)),
                        "content_hash": f"{i:064x}",
                        "first_seen": seen,
                        "last_seen": seen,
                    }
                )
                status = rng.choice(STATUSES)
                leads.append(
                    {
                        "id": i,
                        "listing_id": i,
                        "categories": cats,
                        "hits": [
                            {
                                "term": t,
                                "category": c,
                                "field": "title",
                                "start": 0,
                                "end": len(t),
                                "snippet": title,
                            }
                            for c, t in terms
                        ],  # fmt: skip
                        "status": status,
                        "case_no": f"案〔2026〕{i}号" if status == "case" else None,
                        "first_seen": seen,
                        "last_seen": seen,
                        "updated_at": seen,
                    }
                )
                path, sha = real.get(i, (f"/nowhere/{i}.json", f"{i:064x}"))
                evidence.append(
                    {
                        "lead_id": i,
                        "manifest_path": path,
                        "manifest_sha256": sha,
                        "captured_at": seen,
                    }
                )
                if status != "new":
                    events.append(
                        {"lead_id": i, "reviewer": "张三", "from_status": "new",
                         "to_status": status, "note": "复核", "at": seen}
                    )  # fmt: skip
            conn.execute(insert(Listing), listings)
            conn.execute(insert(Lead), leads)
            conn.execute(insert(Evidence), evidence)
            if events:
                conn.execute(insert(LeadEvent), events)
        if engine.dialect.name == "postgresql":
            for table in ("targets", "listings", "leads", "evidence", "lead_events"):
                conn.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
    return list(real)


LIST_SQL = """
SELECT leads.id, leads.status, leads.categories, leads.hits, leads.case_no, leads.first_seen,
       listings.title, listings.url, targets.name
FROM leads JOIN listings ON leads.listing_id = listings.id
LEFT JOIN targets ON listings.target_id = targets.id
{where} ORDER BY leads.id DESC LIMIT 50 OFFSET {offset}
"""
COUNT_SQL = "SELECT count(leads.id) FROM leads {join} {where}"
TARGET_JOIN = "JOIN listings ON leads.listing_id = listings.id JOIN targets ON listings.target_id = targets.id"
LEAD_SQL = [
    "SELECT * FROM leads JOIN listings ON leads.listing_id = listings.id "
    "LEFT JOIN targets ON listings.target_id = targets.id WHERE leads.id = :id",
    "SELECT * FROM evidence WHERE lead_id = :id ORDER BY id",
    "SELECT * FROM lead_events WHERE lead_id = :id ORDER BY id",
]


def cases(dialect: str, lead_id: int) -> list[tuple[str, str, str, int]]:
    """(name, console path, plain SQL WHERE, offset): the plain SQL asks for the same rows the
    way a person would write it by hand (JSON matched on its text, as the console does)."""
    like = "LIKE"  # the search is Chinese: no case to ignore
    cat = "CAST(leads.categories AS TEXT) LIKE '%\"counterfeit\"%'"
    term = "CAST(leads.hits AS TEXT) LIKE '%\"term\": \"\\u597d\\u8bc4\\u8fd4\\u73b0\"%' ESCAPE '!'"
    since = (NOW - timedelta(days=7)).date().isoformat()
    search = (
        f"WHERE leads.listing_id IN (SELECT id FROM listings WHERE title {like} '%款4242%' "
        f"OR url {like} '%款4242%' OR target_id IN (SELECT id FROM targets WHERE name {like} "
        f"'%款4242%')) OR leads.case_no {like} '%款4242%'"
    )
    return [
        ("list: all", "/leads", "", 0),
        ("list: page 1000", "/leads?page=1000", "", 49_950),
        ("list: status=new", "/leads?status=new", "WHERE leads.status = 'new'", 0),
        ("list: category", "/leads?category=counterfeit", f"WHERE {cat}", 0),
        ("list: target", "/leads?target=" + urllib.parse.quote("商城017"),
         "WHERE targets.name = '商城017'", 0),
        ("list: term", "/leads?term=" + urllib.parse.quote("好评返现"), f"WHERE {term}", 0),
        ("list: last 7 days", f"/leads?since={since}",
         f"WHERE leads.first_seen >= '{since}'", 0),
        ("list: text search", "/leads?q=" + urllib.parse.quote("款4242"), search, 0),
        ("list: status+category", "/leads?status=confirmed&category=counterfeit",
         f"WHERE leads.status = 'confirmed' AND {cat}", 0),
        (f"lead page #{lead_id}", f"/leads/{lead_id}", "", -1),
        ("overview (first visit)", "/", "", -2),
        ("overview (later visits)", "/", "", -3),
    ]  # fmt: skip


def median_ms(fn, repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench(url: str, n: int, repeat: int, workdir: Path) -> None:
    t0 = time.perf_counter()
    real = fill(url, n, workdir / "evidence")
    print(f"  filled {n:,} leads in {time.perf_counter() - t0:.0f} s")
    config = workdir / "config.yaml"
    config.write_text(
        yaml.safe_dump({"database": {"url": url}, "evidence": {"dir": str(workdir / "evidence")}}),
        encoding="utf-8",
    )
    engine = engine_for(url)
    port = free_port()
    proc = start_serve(config, port)
    base = f"http://127.0.0.1:{port}"
    print(f"  {'':24} {'console ms':>10} {'plain SQL ms':>13}  rows")
    try:
        for name, path, where, offset in cases(engine.dialect.name, real[0]):

            def get(path=path):
                with urllib.request.urlopen(base + path) as r:
                    body = r.read()
                    assert r.status == 200, (path, r.status)
                    return body

            if offset == -2:  # the first request after the start computes the figures
                t0 = time.perf_counter()
                get()
                console, sql_ms, rows = (time.perf_counter() - t0) * 1000, float("nan"), ""
            else:
                console = median_ms(get, repeat)
            if offset in (-2, -3):
                sql_ms, rows = float("nan"), ""
            elif offset == -1:

                def plain(lead_id=real[0]):
                    with engine.connect() as conn:
                        return [conn.execute(text(q), {"id": lead_id}).all() for q in LEAD_SQL]

                sql_ms, rows = median_ms(plain, repeat), "1"
            else:

                def plain(where=where, offset=offset):
                    with engine.connect() as conn:
                        join = TARGET_JOIN if "targets.name =" in where else ""
                        count = conn.execute(
                            text(COUNT_SQL.format(join=join, where=where))
                        ).scalar()
                        page = conn.execute(text(LIST_SQL.format(where=where, offset=offset))).all()
                        return count, page

                sql_ms = median_ms(plain, repeat)
                rows = str(plain()[0])
            flag = "" if console < 200 else "  OVER 200 ms"
            print(f"  {name:24} {console:10.1f} {sql_ms:13.1f}  {rows}{flag}")
    finally:
        stop(proc)
        engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    a = ap.parse_args()
    os.environ.pop("MONITOR_CONSOLE_TOKEN", None)
    print(f"console benchmark: {a.leads:,} leads, median of {a.repeat} requests (warm)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.db in ("sqlite", "both"):
            print("SQLite")
            (tmp / "sqlite").mkdir()
            bench(f"sqlite:///{tmp / 'sqlite' / 'monitor.db'}", a.leads, a.repeat, tmp / "sqlite")
        if a.db in ("postgresql", "both"):
            import psycopg

            name = f"monitor_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                print("PostgreSQL")
                (tmp / "pg").mkdir()
                bench(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", a.leads, a.repeat,
                      tmp / "pg")  # fmt: skip
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
