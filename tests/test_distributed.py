"""Distributed runs: real Redis, real PostgreSQL, worker processes crawling local shops.

Each test keeps its Redis keys under a prefix of its own (and deletes them), and gets a fresh
PostgreSQL database. The shop server counts what it serves, so "fetched once" is counted on the
server side, not taken from the crawler's own report.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from monitor.demo import SHOPS as DEMO_SHOPS
from monitor.store.records import Records
from monitor.webserver import ShopServer

PROJECT = Path(__file__).resolve().parent.parent
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


# -- services -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server():
    """The Redis running on 127.0.0.1:6379, or one started for these tests."""
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=2).ping()
        yield "redis://127.0.0.1:6379/0"
        return
    except redis.RedisError:
        pass
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis on 127.0.0.1:6379 and no redis-server to start")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.RedisError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def redis_prefix(redis_server):
    """A key prefix of the test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"monitor-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    server = redis.Redis.from_url(redis_server)
    stale = list(server.scan_iter(match=f"{prefix}:*"))
    if stale:
        server.delete(*stale)


def _new_pg_database() -> str:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"monitor_test_{uuid.uuid4().hex[:10]}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_pg_database(name: str) -> None:
    import psycopg

    from monitor.store.db import engine_for

    engine_for(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}").dispose()
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database per call: pg_url() -> URL."""
    names: list[str] = []

    def make() -> str:
        names.append(_new_pg_database())
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{names[-1]}"

    yield make
    for name in names:
        _drop_pg_database(name)


# -- a shop server that counts what it serves -------------------------------------------------


class CountingServer(ShopServer):
    """Serve a shop folder; ``hits`` counts GETs per path. Paths listed in ``slow_once`` answer
    after ``delay`` seconds the first time (a worker can be stopped while it waits)."""

    def __init__(self, root: Path, delay: float = 0.0, slow_once=()) -> None:
        self.hits: Counter = Counter()
        self.lock = threading.Lock()
        self.asked = threading.Event()
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                with outer.lock:
                    outer.hits[path] += 1
                    first = outer.hits[path] == 1
                if path in slow_once and first:
                    outer.asked.set()
                    time.sleep(8)
                elif delay:
                    time.sleep(delay)
                super().do_GET()

        super().__init__(root, handler=Handler)


def make_shop(folder: Path, n: int, flagged: set[int]) -> Path:
    """A shop of ``n`` product pages over index pages; the pages in ``flagged`` sell a
    prohibited article, the others are clean."""
    folder.mkdir(parents=True)
    (folder / "p").mkdir()
    per_index = 5
    pages = (n + per_index - 1) // per_index
    for i in range(n):
        title = "仿真手枪 金属 可发射钢珠弹" if i in flagged else f"纯棉毛巾 第{i}款 柔软吸水"
        (folder / "p" / f"{i}.html").write_text(
            f'<html><head><meta charset="utf-8"><title>{title}</title></head><body>'
            f'<h1 class="title">{title}</h1><div class="price">¥{10 + i}.00</div>'
            f'<div class="desc">{title}，现货供应，欢迎选购。</div>'
            '<script type="application/ld+json">'
            f'{{"@context":"https://schema.org","@type":"Product","name":"{title}",'
            f'"offers":{{"@type":"Offer","price":"{10 + i}.00","priceCurrency":"CNY"}}}}'
            "</script></body></html>",
            encoding="utf-8",
        )
    for k in range(pages):
        links = "".join(
            f'<li><a href="/p/{i}.html">商品{i}</a></li>'
            for i in range(k * per_index, min(n, (k + 1) * per_index))
        )
        nxt = f'<a class="next" href="/list-{k + 1}.html">下一页</a>' if k + 1 < pages else ""
        name = "index.html" if k == 0 else f"list-{k}.html"
        (folder / name).write_text(
            f'<html><head><meta charset="utf-8"><title>店铺</title></head><body>'
            f"<ul>{links}</ul>{nxt}</body></html>",
            encoding="utf-8",
        )
    return folder


def write_config(folder: Path, database_url: str, targets, **crawl) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "database": {"url": database_url},
        "evidence": {"dir": str(folder / "evidence"), "screenshots": False},
        "logs": {"dir": str(folder / "logs")},
        "jobs": {"dir": str(folder / "jobs")},
        "crawl": {"obey_robots": False, **crawl},
        "targets": [dict(t) for t in targets],
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def monitor(config: Path, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=config.parent,
    )


def finish(proc: subprocess.Popen, timeout: float = 180) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def leads_of(database_url: str) -> set[tuple]:
    return {
        (lead.listing.target.name, lead.listing.url.split("/", 3)[3], tuple(lead.categories))
        for lead in Records(database_url).leads()
    }


def worker_fetches(logs: Path) -> list[int]:
    """Pages each worker fetched, from the stats Scrapy logs when a worker closes."""
    out = []
    for log in sorted(logs.glob("run-*-worker-*.log")):
        found = re.findall(r"'response_received_count': (\d+)", log.read_text(encoding="utf-8"))
        out.append(int(found[-1]) if found else 0)
    return out


# -- tests ----------------------------------------------------------------------------------


def test_two_workers_fetch_every_page_once_and_find_the_single_process_leads(
    tmp_path, redis_server, redis_prefix, pg_url
):
    shops = {
        "xinyuan": CountingServer(DEMO_SHOPS / "xinyuan", delay=0.05).start(),
        "hengda": CountingServer(DEMO_SHOPS / "hengda", delay=0.05).start(),
        "towels": CountingServer(
            make_shop(tmp_path / "towels", 40, {3, 17, 31}), delay=0.05
        ).start(),
    }
    try:
        targets = [{"name": n, "url": s.url} for n, s in shops.items()]
        single_db = pg_url()
        single = write_config(tmp_path / "single", single_db, targets)
        finish(monitor(single, "nightly"))
        single_hits = {n: Counter(s.hits) for n, s in shops.items()}
        for s in shops.values():
            s.hits.clear()

        distributed_db = pg_url()
        config = write_config(
            tmp_path / "distributed",
            distributed_db,
            targets,
            redis_url=redis_server,
            redis_prefix=redis_prefix,
            concurrency=4,
            per_target_concurrency=2,
        )
        coordinator = monitor(config, "nightly", "--distributed")
        workers = [monitor(config, "worker", "--wait", "60") for _ in range(2)]
        for w in workers:
            finish(w)
        out = finish(coordinator)
    finally:
        for s in shops.values():
            s.stop()

    for name, server in shops.items():
        # every page of every shop fetched exactly once across both workers
        assert server.hits and max(server.hits.values()) == 1, (name, server.hits)
        assert set(server.hits) == set(single_hits[name]), name
    fetched = sum(sum(s.hits.values()) for s in shops.values())
    per_worker = worker_fetches(tmp_path / "distributed" / "logs")
    assert len(per_worker) == 2 and all(per_worker), per_worker  # both workers took part
    assert sum(per_worker) == fetched

    assert leads_of(distributed_db) == leads_of(single_db)
    assert len(leads_of(distributed_db)) >= 3 + 4  # the towels shop's three and the demo shops'

    run = Records(distributed_db).runs()[0]
    assert run.status == "ok" and run.kind == "nightly", out
    assert run.stats["totals"]["pages"] == fetched  # merged from both workers' counters
    assert run.stats["targets"]["towels"]["listings"] == 40
    assert run.stats["targets"]["towels"]["leads_new"] == 3
    # the drained run's queue, duplicate filter and counters are gone from Redis
    import redis

    assert not list(redis.Redis.from_url(redis_server).scan_iter(match=f"{redis_prefix}:*"))


def test_a_worker_killed_mid_request_loses_nothing(tmp_path, redis_server, redis_prefix, pg_url):
    """SIGKILL while a flagged listing is being fetched: its lease runs out, the request goes
    back into the queue, another worker fetches it, and the lead is there."""
    root = make_shop(tmp_path / "shop", 10, {7})
    server = CountingServer(root, slow_once={"/p/7.html"}).start()
    try:
        database = pg_url()
        config = write_config(
            tmp_path / "run",
            database,
            [{"name": "shop", "url": server.url}],
            redis_url=redis_server,
            redis_prefix=redis_prefix,
            redis_lease=3,
        )
        coordinator = monitor(config, "nightly", "--distributed")
        first = monitor(config, "worker", "--wait", "60")
        assert server.asked.wait(60), "the slow listing was never requested"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = monitor(config, "worker", "--wait", "60")
        finish(second)
        finish(coordinator)
    finally:
        server.stop()
    assert server.hits["/p/7.html"] == 2  # once by the killed worker, once more after requeue
    assert ("shop", "p/7.html", ("prohibited_goods",)) in leads_of(database)
    assert all(server.hits[f"/p/{i}.html"] >= 1 for i in range(10))
    assert Records(database).runs()[0].status == "ok"


def test_a_worker_that_stops_leaves_the_shared_queue_to_the_others(
    tmp_path, redis_server, redis_prefix, pg_url
):
    """SCHEDULER_PERSIST off would wipe the queue and duplicate filter when the first worker
    stops; here a worker shut down mid-run leaves them, and the next one finishes the run."""
    import redis

    from monitor.distributed.keys import RunKeys

    root = make_shop(tmp_path / "shop", 30, {2})
    server = CountingServer(root, delay=0.3).start()
    try:
        database = pg_url()
        config = write_config(
            tmp_path / "run",
            database,
            [{"name": "shop", "url": server.url}],
            redis_url=redis_server,
            redis_prefix=redis_prefix,
            concurrency=2,
            per_target_concurrency=2,
        )
        coordinator = monitor(config, "nightly", "--distributed")
        first = monitor(config, "worker", "--wait", "60")
        deadline = time.monotonic() + 60
        while sum(server.hits.values()) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        first.send_signal(signal.SIGINT)  # Scrapy's graceful shutdown
        first.communicate(timeout=60)
        r = redis.Redis.from_url(redis_server)
        run_id = int(r.get(RunKeys.current(redis_prefix)))
        keys = RunKeys(redis_prefix, run_id)
        assert r.zcard(keys.queue("site")) > 0  # the rest of the shop is still queued
        assert r.scard(keys.dupefilter("site")) > 0
        finish(monitor(config, "worker", "--wait", "60"))
        finish(coordinator)
    finally:
        server.stop()
    assert all(server.hits[f"/p/{i}.html"] == 1 for i in range(30)), server.hits
    assert ("shop", "p/2.html", ("prohibited_goods",)) in leads_of(database)


def test_a_rendered_and_a_plain_request_for_one_url_are_both_fetched(redis_server, redis_prefix):
    """scrapy-redis's fingerprint ignores meta: the render flag is part of ours."""
    import redis
    from scrapy import Request

    from monitor.distributed.scheduler import RenderAwareDupeFilter

    dupes = RenderAwareDupeFilter(redis.Redis.from_url(redis_server), f"{redis_prefix}:df")
    url = "http://127.0.0.1:9/item.html"
    assert not dupes.request_seen(Request(url))
    assert not dupes.request_seen(Request(url, meta={"playwright": True}))
    assert dupes.request_seen(Request(url))
    assert dupes.request_seen(Request(url, meta={"playwright": True}))


def test_queued_requests_keep_their_spider_callbacks_and_page_methods(
    tmp_path, redis_server, redis_prefix
):
    """Requests are pickled into Redis: a rendered request (with its page methods) comes back
    out of the leased queue with the spider's own callbacks, and sits in the in-flight hash."""
    import redis
    from scrapy.crawler import Crawler
    from scrapy.settings import Settings

    from monitor.config import Target
    from monitor.distributed.keys import RunKeys
    from monitor.distributed.scheduler import DistributedScheduler, redis_settings
    from spiders.site import SiteSpider

    settings = Settings()
    settings.setmodule("monitor.crawl.settings")
    settings.setdict(redis_settings(redis_server, redis_prefix, 1, "w1"))
    settings.set("MONITOR_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    crawler = Crawler(SiteSpider, settings)
    target = Target(name="shop", url="http://127.0.0.1:9/", render=True)
    spider = SiteSpider.from_crawler(crawler, targets=[target])
    scheduler = DistributedScheduler.from_settings(settings)
    scheduler.open(spider)
    original = spider.start_request(target, False)
    assert scheduler.enqueue_request(original)
    request = scheduler.next_request()
    assert request is not original and request.url == original.url
    assert request.callback == spider.parse and request.errback == spider.on_error
    methods = request.meta["playwright_page_methods"]
    assert methods and [(m.method, m.args, m.kwargs) for m in methods] == [
        (m.method, m.args, m.kwargs) for m in original.meta["playwright_page_methods"]
    ]
    keys = RunKeys(redis_prefix, 1)
    r = redis.Redis.from_url(redis_server)
    assert r.hlen(keys.inflight("w1")) == 1 and r.zcard(keys.queue("site")) == 0
    assert scheduler.queue.acknowledge(set()) == 1
    assert r.hlen(keys.inflight("w1")) == 0


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_concurrent_writers_make_one_listing_and_one_lead(tmp_path, pg_url, dialect):
    """Eight writers save the same flagged listings at the same moment: one listing and one
    lead per URL, each created once, by the unique constraints and upserts, not by luck."""
    from monitor.store.db import init_db

    url = f"sqlite:///{tmp_path / 'w.db'}" if dialect == "sqlite" else pg_url()
    init_db(url)
    target_id = Records(url).ensure_target("shop", "http://127.0.0.1:9/")
    urls = [f"http://127.0.0.1:9/p/{i}.html" for i in range(10)]
    barrier = threading.Barrier(8)

    def write(n: int) -> list[bool]:
        records = Records(url)
        barrier.wait()
        created = []
        for u in urls:
            result = records.save_listing(
                target_id=target_id,
                url=u,
                title="仿真手枪",
                text="仿真手枪 可发射",
                price="10",
                status=200,
                seen_at=datetime.now(timezone.utc),
                categories=["prohibited_goods"],
                hits=[],
                manifest_path=f"m/{n}-{u[-7:]}.json",
                manifest_sha256=f"{n:02d}{u[-7:]}".ljust(64, "0"),
                run_id=None,
            )
            created.append(result.lead_created)
        records.save_clean_listings(
            [
                {
                    "url": f"http://127.0.0.1:9/c/{i}.html",
                    "target_id": target_id,
                    "title": "毛巾",
                    "text": "毛巾",
                    "price": None,
                    "status": 200,
                    "seen_at": datetime.now(timezone.utc),
                }
                for i in range(20)
            ]
        )
        return created

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write, range(8)))
    records = Records(url)
    leads = records.leads()
    assert sorted(lead.listing.url for lead in leads) == sorted(urls)
    assert sum(sum(r) for r in results) == len(urls)  # each lead created exactly once
    assert all(len(lead.evidence) == 8 for lead in leads)  # every writer's capture kept
    from sqlalchemy import func, select

    from monitor.store.models import Listing

    with records.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Listing)) == len(urls) + 20


def test_writers_sharing_the_evidence_folder_keep_every_chain_valid(tmp_path, pg_url):
    """Three crawls capture the same flagged listings at the same moment into one PostgreSQL
    and one evidence folder: each listing's manifests form one chain, and verify passes."""
    root = make_shop(tmp_path / "shop", 12, set(range(12)))
    server = CountingServer(root).start()
    try:
        database = pg_url()
        config = write_config(tmp_path / "run", database, [])
        subprocess.run(
            [sys.executable, "-m", "monitor.cli", "--config", str(config), "init"], check=True
        )
        crawls = [monitor(config, "crawl", "--url", server.url, "--name", "shop") for _ in range(3)]
        for c in crawls:
            c.communicate(timeout=180)
        verify = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "--config", str(config), "evidence", "verify"],
            capture_output=True,
            text=True,
        )
    finally:
        server.stop()
    leads = [lead for lead in Records(database).leads() if "/p/" in lead.listing.url]
    assert len(leads) == 12
    # a crawl that finds a listing another has just stored unchanged captures nothing; the
    # others raced on the same chains
    assert sum(len(lead.evidence) for lead in leads) > 12
    for lead in leads:  # one chain per listing: each capture links to the one before it
        links = [e.previous_sha256 for e in lead.evidence]
        assert links == [None] + [e.manifest_sha256 for e in lead.evidence][:-1]
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_listing_taken_out_of_its_shop_is_removed_in_a_distributed_run(
    tmp_path, redis_server, redis_prefix, pg_url
):
    """Each worker sees part of the shop; the coordinator judges absence on all sightings:
    the unlinked listing's lead becomes removed, the others stay as they were."""
    root = make_shop(tmp_path / "shop", 10, {1, 3})
    server = CountingServer(root, delay=0.05).start()
    try:
        database = pg_url()
        config = write_config(
            tmp_path / "run",
            database,
            [{"name": "shop", "url": server.url}],
            redis_url=redis_server,
            redis_prefix=redis_prefix,
        )

        def night() -> None:
            coordinator = monitor(config, "nightly", "--distributed")
            for w in [monitor(config, "worker", "--wait", "60") for _ in range(2)]:
                finish(w)
            finish(coordinator)

        night()
        index = root / "index.html"
        index.write_text(index.read_text(encoding="utf-8").replace("/p/3.html", "/gone.html"))
        night()
    finally:
        server.stop()
    status = {lead.listing.url.split("/", 3)[3]: lead.status for lead in Records(database).leads()}
    assert status["p/3.html"] == "removed"
    assert status["p/1.html"] == "new"
    run = Records(database).runs()[0]
    assert run.stats["totals"]["leads_removed"] == 1


def test_distributed_commands_without_a_reachable_redis_say_so_in_one_line(tmp_path, cli):
    """No crawl.redis_url, or a Redis that does not answer: one line naming the config and
    what is wrong, exit 2, and no run recorded."""
    config = write_config(
        tmp_path / "a",
        f"sqlite:///{tmp_path / 'a.db'}",
        [{"name": "s", "url": "http://127.0.0.1:9/"}],
    )
    for args in (("nightly", "--distributed"), ("worker", "--wait", "1")):
        result = cli(*args, config=config)
        assert result.returncode == 2, result.stderr
        assert "crawl.redis_url" in result.stderr and str(config) in result.stderr
        assert "Traceback" not in result.stderr
    port = _free_port()
    config = write_config(
        tmp_path / "b",
        f"sqlite:///{tmp_path / 'b.db'}",
        [{"name": "s", "url": "http://127.0.0.1:9/"}],
        redis_url=f"redis://127.0.0.1:{port}/0",
    )
    result = cli("nightly", "--distributed", config=config)
    assert result.returncode == 2 and "unreachable" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cli("runs", "list", config=config).stdout.count("nightly") == 0
