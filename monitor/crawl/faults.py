"""Stopping one target cleanly when storage fails under it.

A full disk, a read-only evidence folder or a database that went away is not something the
next page will fix: the target is stopped with a reason (its further requests are not sent),
the item in hand is dropped before anything records it, and the run reports the target as not
crawled. Other targets of the crawl go on (if the fault is general, each stops at its first
write). Whatever was not stored is fetched again by the next run (its job state is kept).
"""

from __future__ import annotations

import logging

from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro

logger = logging.getLogger(__name__)
STORAGE_ERROR = "storage_error"


def stop_for_storage_error(
    crawler, what: str, exc: BaseException, url: str, target: str | None = None
) -> DropItem:
    """Log one clear line, count it, stop the target (the crawl, when the target is unknown);
    return the DropItem to raise."""
    from monitor.crawl.stats import TargetStats

    message = f"{what} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); stopping this target"
    if not crawler.stats.get_value("monitor/storage_error"):
        logger.error("%s — %s", message, url)
    crawler.stats.set_value("monitor/storage_error", message)
    counts = TargetStats.of(crawler)
    counts.inc(target, "monitor/errors/storage")
    if target is not None:
        counts.fail(target, message)
    elif crawler.engine is not None and crawler.engine.running:
        deferred_from_coro(crawler.engine.close_spider_async(reason=STORAGE_ERROR))
    return DropItem(f"not stored: {message}")
