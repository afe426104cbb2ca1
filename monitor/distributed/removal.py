"""Leads whose listing left its shop, in a distributed run: judged once, on every worker's
sightings. A worker sees only part of a shop, so each pushes the listing URLs it saw (fetched,
unchanged or not modified) to the run's set per target; the coordinator marks removed the open
leads of a completely crawled target whose listing no worker saw, as one process would."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from monitor.distributed.keys import RunKeys
from monitor.distributed.scheduler import run_keys

logger = logging.getLogger(__name__)


def seen_key(keys: RunKeys, target: str) -> str:
    return f"{keys.base}:seen:{target}"


def push_seen(settings, seen: dict[str, set[str]]) -> None:
    from monitor.distributed.worker import redis_for

    keys = run_keys(settings)
    server = redis_for(settings.get("MONITOR_REDIS_URL"))
    pipe = server.pipeline()
    for target, urls in seen.items():
        urls = list(urls)
        for i in range(0, len(urls), 1000):
            pipe.sadd(seen_key(keys, target), *urls[i : i + 1000])
    pipe.execute()


def mark_removed(records, server, keys: RunKeys, targets: list[str], stats) -> None:
    """Open leads of completely crawled targets whose listing no worker saw become removed."""
    now = datetime.now(timezone.utc)
    for target in targets:
        seen = {u.decode() for u in server.smembers(seen_key(keys, target))}
        if not seen or not stats.complete(target):
            continue
        try:
            for url in records.missing_listings(target, seen):
                if records.mark_removed(
                    url,
                    None,
                    now,
                    run_id=keys.run_id,
                    note="完整抓取中该商品已不在店铺内（已下架或删除）",
                ):
                    stats.inc(target, "monitor/leads_removed")
        except Exception as exc:  # noqa: BLE001 - one target's failure must not lose the run
            logger.error("Removed listings of %s not recorded: %s", target, exc)
            stats.fail(target, f"writing the database failed ({type(exc).__name__})")
