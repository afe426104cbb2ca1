"""The coordinator of a distributed run: `monitor nightly --distributed`.

It records the CrawlRun, announces the run to the workers, seeds each spider's scrapy-redis
queue with the enabled targets' start requests (through scrapy-redis's own scheduler, so the
duplicate filter knows them), then watches: expired leases are requeued, and when no request is
queued or in flight and every worker is idle the run has drained. It then tells the workers
(they close), merges their per-target counters into the CrawlRun and deletes the run's keys.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable

from monitor.config import Config, Target
from monitor.crawl.run import RunReport, _outcome
from monitor.distributed.keys import RunKeys
from monitor.distributed.scheduler import redis_settings, requeue_expired
from monitor.distributed.worker import lease_seconds, merged_counts, redis_for
from monitor.store.records import Records

logger = logging.getLogger(__name__)

POLL = 0.5

# queued + in flight, counted in one atomic step (a pop moves a request from one to the other)
OUTSTANDING = """
local n = 0
for i = 1, #KEYS do n = n + redis.call('ZCARD', KEYS[i]) end
local workers = redis.call('SMEMBERS', ARGV[1])
for _, w in ipairs(workers) do n = n + redis.call('HLEN', ARGV[2] .. w) end
return {n, #workers, redis.call('SCARD', ARGV[3])}
"""


def seed(
    config: Config, run_id: int, kind: str, targets: list[Target], url: str, prefix: str
) -> int:
    """Put the targets' start requests into the spider's shared queue. Returns how many."""
    from scrapy.crawler import Crawler
    from scrapy.spiderloader import SpiderLoader

    from monitor.crawl.run import crawler_settings
    from monitor.distributed.scheduler import DistributedScheduler

    settings = crawler_settings(config, run_id, None, targets, kind)
    settings.setdict(redis_settings(url, prefix, run_id), priority="cmdline")
    spider_cls = SpiderLoader.from_settings(settings.frozencopy()).load(kind)
    crawler = Crawler(spider_cls, settings)
    spider = spider_cls.from_crawler(crawler, targets=targets)
    scheduler = DistributedScheduler.from_settings(settings)  # no stats: nothing crawls here
    scheduler.open(spider)
    return sum(bool(scheduler.enqueue_request(spider.start_request(t, False))) for t in targets)


def run_distributed(
    config: Config,
    targets: list[Target],
    on_target_done: Callable | None = None,
    full: bool = False,
) -> RunReport:
    """Run ``targets`` as one nightly run crawled by however many workers join it."""
    from monitor.evidence.browser import find_chromium
    from monitor.store.db import init_db

    url, prefix = config.crawl["redis_url"], config.crawl.get("redis_prefix") or "monitor"
    server = redis_for(url)
    server.ping()  # unreachable Redis: stop before a run is recorded
    init_db(config.database_url)
    records = Records(config.database_url)
    records.fail_stale_runs("nightly")
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    run_id, log_path = records.start_run("nightly", config.logs_dir)
    keys = RunKeys(prefix, run_id)
    config = dataclasses.replace(config, jobs_dir=None)

    chromium = find_chromium(config.browser.get("executable_path"))
    plan: dict[str, list[Target]] = {}
    not_crawled: dict[str, dict] = {}
    for t in targets:
        if t.kind == "storefront" and chromium is None:
            not_crawled[t.name] = {"url": t.url, "crawled": False, "reason": "Chromium not found"}
            continue
        plan.setdefault(t.kind, []).append(
            dataclasses.replace(t, render=bool(t.render and chromium))
        )
    if not_crawled:
        records.add_run_targets(run_id, not_crawled)

    try:
        return _coordinate(
            config, targets, records, server, keys, plan, log_path, on_target_done, full
        )
    except BaseException:
        records.finish_run(run_id, "failed", 1, {"reason": "the coordinator stopped"})
        cleanup(server, keys)
        raise


def _coordinate(config, targets, records, server, keys, plan, log_path, on_target_done, full):
    url, prefix, run_id = config.crawl["redis_url"], keys.prefix, keys.run_id
    server.set(
        keys.targets,
        json.dumps({"full": full, "kinds": {k: [t.name for t in g] for k, g in plan.items()}}),
    )
    for kind, group in plan.items():
        n = seed(config, run_id, kind, group, url, prefix)
        logger.info("Run %s: %d start request(s) queued for the %s spider", run_id, n, kind)
    server.set(RunKeys.current(prefix), run_id)  # workers may join now

    wait_until_drained(server, keys, list(plan), lease_seconds_for(config))
    counts, reasons = merged_counts(server, keys)
    from monitor.crawl.stats import TargetStats

    merged = TargetStats.detached(counts, reasons["failed"], reasons["incomplete"])
    from monitor.distributed.license import judge_all
    from monitor.distributed.removal import mark_removed

    judge_all(config, records, server, keys, merged)
    mark_removed(records, server, keys, [t.name for g in plan.values() for t in g], merged)
    figures = {t.name: {"url": t.url, **merged.outcome(t.name)} for g in plan.values() for t in g}
    records.add_run_targets(run_id, figures)
    run = records.close_run(run_id, [t.name for t in targets])
    cleanup(server, keys)
    outcomes = [_outcome(t.name, t.url, run.stats["targets"].get(t.name, {})) for t in targets]
    if on_target_done is not None:
        for o in outcomes:
            on_target_done(o)
    return RunReport(run_id, run.exit_code, log_path, outcomes)


def lease_seconds_for(config: Config) -> int:
    from scrapy.settings import Settings

    return lease_seconds(Settings({"MONITOR_REDIS_LEASE": config.crawl.get("redis_lease", 30)}))


def wait_until_drained(server, keys: RunKeys, kinds: list[str], lease: int) -> None:
    """Block until the run has drained, then tell the workers and wait for them to close."""
    outstanding = server.register_script(OUTSTANDING)
    queues = [keys.queue(kind) for kind in kinds]
    quiet = 0
    announced = False
    reported = time.monotonic()
    while True:
        requeue_expired(server, keys)
        n, workers, idle = outstanding(
            keys=queues, args=[keys.workers, keys.inflight(""), keys.idle]
        )
        if n == 0 and workers and idle >= workers:
            quiet += 1
            if quiet >= 2:  # twice in a row, a beat apart: no worker was between two steps
                break
        else:
            quiet = 0
        if time.monotonic() - reported >= 10:
            reported = time.monotonic()
            logger.info(
                "Run %s: %d worker(s), %d page(s) fetched, %d request(s) queued or in flight",
                keys.run_id,
                workers,
                pages_fetched(server, keys),
                n,
            )
        if not workers and not announced:
            logger.info("Run %s: waiting for workers (monitor worker)", keys.run_id)
            announced = True
        time.sleep(POLL)
    server.set(keys.drained, 1)
    deadline = time.monotonic() + lease + 5
    while server.scard(keys.workers) and time.monotonic() < deadline:
        requeue_expired(server, keys)
        time.sleep(POLL)


def pages_fetched(server, keys: RunKeys) -> int:
    """Pages fetched so far by every worker (their counters, pushed every beat)."""
    return sum(
        int(value)
        for field, value in server.hscan_iter(keys.stats, match="*response_received_count")
    )


def cleanup(server, keys: RunKeys) -> None:
    """Delete the run's queue, duplicate filter, hashes and flags (the records hold the run)."""
    stale = keys.all_keys(server)
    if stale:
        server.delete(*stale)
    current = RunKeys.current(keys.prefix)
    if server.get(current) in (str(keys.run_id).encode(), str(keys.run_id)):
        server.delete(current)
