"""A worker: the ordinary spiders and pipelines, crawling one run's shared scrapy-redis queues.

The :class:`Worker` extension keeps the worker's lease alive (a Redis key with a time to live,
renewed every second), acknowledges the requests the engine has finished with, gives back the
requests of workers whose lease expired, adds its per-target counters to the run's stats hash,
and keeps the spider open while the run goes on (RedisSpider would wait forever on an empty
queue; here the coordinator decides when the run has drained, and idle workers then close).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections import Counter
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured

from monitor.config import Config
from monitor.distributed.keys import SEP, RunKeys
from monitor.distributed.scheduler import redis_settings, requeue_expired, run_keys

logger = logging.getLogger(__name__)

HEARTBEAT = 1.0  # seconds between lease renewals, acknowledgements and stats pushes


def lease_seconds(settings) -> int:
    return settings.getint("MONITOR_REDIS_LEASE", 30)


def redis_for(url: str):
    import redis

    return redis.Redis.from_url(url)


class Worker:
    """One worker's part in a distributed run (enabled by MONITOR_WORKER_ID)."""

    def __init__(self, crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.worker = settings.get("MONITOR_WORKER_ID")
        self.keys: RunKeys = run_keys(settings)
        self.server = redis_for(settings.get("MONITOR_REDIS_URL"))
        self.lease = lease_seconds(settings)
        self.pushed: dict[tuple[str, str], int] = {}
        self.reasons_pushed: set[tuple[str, str]] = set()
        self.ticker = None

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("MONITOR_WORKER_ID"):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        # after every spider_closed handler (final batches written, licence findings pushed)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider) -> None:
        from twisted.internet.task import LoopingCall

        self.renew()
        self.server.sadd(self.keys.workers, self.worker)
        self.ticker = LoopingCall(self.beat)
        self.ticker.start(HEARTBEAT, now=False)

    def renew(self) -> None:
        self.server.set(self.keys.lease(self.worker), str(os.getpid()), ex=self.lease)

    @property
    def queue(self):
        slot = self.crawler.engine._slot
        if slot is not None:
            self._queue = getattr(slot.scheduler, "queue", None)
        return getattr(self, "_queue", None)

    def acknowledge(self) -> None:
        queue = self.queue
        if queue is None or not hasattr(queue, "acknowledge"):
            return
        # the engine's set of requests being downloaded or processed; a request leaves it once
        # its callback's output (new requests included) has been handled
        slot = self.crawler.engine._slot
        queue.acknowledge(slot.inprogress if slot is not None else set())

    def beat(self) -> None:
        try:
            self.renew()
            self.acknowledge()
            self.push_stats()
            requeued = requeue_expired(self.server, self.keys)
            if requeued:
                logger.warning("Requeued %d request(s) of a worker that stopped", requeued)
            queue = self.queue
            if queue is not None and queue.in_hand:
                self.server.srem(self.keys.idle, self.worker)
            self.nudge()
        except Exception as exc:  # noqa: BLE001 - Redis lost for a moment: try again next beat
            logger.error("Worker heartbeat failed: %s", exc)

    def nudge(self) -> None:
        """Scrapy looks at an empty scheduler again only every 5 s (its engine heartbeat): with
        the queue shared, others may have filled it since, the worker may have become idle, or
        the run may have drained. Ask the engine to look now (its own next-call, as its
        heartbeat does), so a worker joins new work, and closes, within a beat."""
        slot = self.crawler.engine._slot
        if slot is not None and slot.closing is None:
            slot.nextcall.schedule()

    def push_stats(self) -> None:
        """Add what the per-target counters gained since the last push to the run's hash."""
        from monitor.crawl.stats import TargetStats

        counts = TargetStats.of(self.crawler)
        pipe = self.server.pipeline()
        for target, counter in counts.counts.items():
            for key, value in counter.items():
                delta = value - self.pushed.get((target, key), 0)
                if delta:
                    pipe.hincrby(self.keys.stats, f"{target}{SEP}{key}", delta)
                    self.pushed[(target, key)] = value
        for kind, reasons in (("failed", counts.failed), ("incomplete", counts.incomplete)):
            for target, reason in reasons.items():
                if (kind, target) not in self.reasons_pushed:
                    pipe.hsetnx(self.keys.reasons, f"{kind}{SEP}{target}", reason)
                    self.reasons_pushed.add((kind, target))
        pipe.execute()

    def spider_idle(self, spider) -> None:
        self.acknowledge()
        self.server.sadd(self.keys.idle, self.worker)
        if self.server.exists(self.keys.drained):
            return  # the run is over: let the spider close
        raise DontCloseSpider

    def spider_closed(self, spider, reason: str) -> None:
        # a spider closes once the engine holds no request: all it popped is finished
        self.acknowledge()

    def engine_stopped(self) -> None:
        """A clean exit (drained, or shut down by a signal): the last counters, and the worker
        leaves the run. A worker that dies never gets here: its lease runs out instead."""
        if self.ticker is not None and self.ticker.running:
            self.ticker.stop()
        self.push_stats()
        queue = self.queue
        if queue is not None and queue.in_hand:  # not finished: back into the queue at once
            self.server.delete(self.keys.lease(self.worker))
            requeue_expired(self.server, self.keys)
            return
        pipe = self.server.pipeline()
        pipe.srem(self.keys.workers, self.worker)
        pipe.srem(self.keys.idle, self.worker)
        pipe.delete(self.keys.lease(self.worker))
        pipe.execute()


def targets_named(records, names: list[str]) -> dict:
    """The run's targets as the coordinator planned them (one disabled since is still crawled
    tonight: its requests are already queued)."""
    from sqlalchemy import select

    from monitor.store.models import Target as TargetRow
    from monitor.targets import as_spec

    out = {}
    with records.sessions() as s:
        for i in range(0, len(names), 500):
            rows = s.scalars(select(TargetRow).where(TargetRow.name.in_(names[i : i + 500])))
            out.update((row.name, as_spec(row)) for row in rows)
    return out


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def wait_for_run(server, prefix: str, wait: float) -> int | None:
    """The id of the run the coordinator announced; None when none came within ``wait`` s."""
    deadline = time.monotonic() + wait
    while True:
        value = server.get(RunKeys.current(prefix))
        if value:
            return int(value)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)


def run_worker(config: Config, wait: float = 3600.0) -> int:
    """Join the announced run, crawl until it has drained; exit code 0, or 1 without a run."""
    import dataclasses

    from scrapy.crawler import Crawler, CrawlerProcess
    from scrapy.utils.reactor import install_reactor, is_reactor_installed

    from monitor.crawl.run import crawler_settings
    from monitor.evidence.browser import find_chromium
    from monitor.store.records import Records

    url, prefix = config.crawl["redis_url"], config.crawl.get("redis_prefix") or "monitor"
    server = redis_for(url)
    run_id = wait_for_run(server, prefix, wait)
    if run_id is None:
        logger.error("No distributed run announced on %s within %s s", url, wait)
        return 1
    keys = RunKeys(prefix, run_id)
    plan = json.loads(server.get(keys.targets) or "{}")
    me = worker_id()
    config = dataclasses.replace(config, jobs_dir=None)
    records = Records(config.database_url)
    chromium = find_chromium(config.browser.get("executable_path"))
    by_name = targets_named(records, [n for names in plan.get("kinds", {}).values() for n in names])
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(config.logs_dir) / f"run-{run_id}-worker-{me}.log"

    base = crawler_settings(config, run_id, log_path)
    if not is_reactor_installed():
        install_reactor(base["TWISTED_REACTOR"], base["ASYNCIO_EVENT_LOOP"])
    process = CrawlerProcess(base)
    for kind, names in plan.get("kinds", {}).items():
        group = [
            dataclasses.replace(by_name[n], render=bool(by_name[n].render and chromium))
            for n in names
            if n in by_name
        ]
        if not group:
            continue
        settings = crawler_settings(config, run_id, log_path, group, kind)
        settings.setdict(redis_settings(url, prefix, run_id, me), priority="cmdline")
        extensions = dict(settings.getdict("EXTENSIONS"))
        extensions["monitor.distributed.worker.Worker"] = 10
        settings.set("EXTENSIONS", extensions, priority="cmdline")
        settings.set("MONITOR_SEED", False, priority="cmdline")  # the coordinator seeded
        settings.set("MONITOR_FULL", bool(plan.get("full")), priority="cmdline")
        settings.set("MONITOR_KNOW_SHOP_LISTINGS", False, priority="cmdline")  # a nightly
        crawler = Crawler(process.spider_loader.load(kind), settings)
        process.crawl(crawler, targets=group)
    logger.info("Worker %s joins run %s", me, run_id)
    process.start()
    return 0


def merged_counts(server, keys: RunKeys) -> tuple[dict[str, Counter], dict[str, dict[str, str]]]:
    """The run's per-target counters from every worker, and the reasons they reported."""
    counts: dict[str, Counter] = {}
    for field, value in server.hgetall(keys.stats).items():
        target, key = field.decode().split(SEP, 1)
        counts.setdefault(target, Counter())[key] += int(value)
    reasons: dict[str, dict[str, str]] = {"failed": {}, "incomplete": {}}
    for field, value in server.hgetall(keys.reasons).items():
        kind, target = field.decode().split(SEP, 1)
        reasons[kind][target] = value.decode()
    return counts, reasons
