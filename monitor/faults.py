"""Stopping one target cleanly when storage fails under it.

A full disk, a read-only evidence folder or a database that went away is not something the
next page will fix: the target's crawl is closed with a reason (``storage_error``), the item
in hand is dropped before anything records it, and the run reports the target as not crawled.
Whatever was not stored is fetched again by the next run (its job state is kept).
"""

from __future__ import annotations

import logging

from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro

logger = logging.getLogger(__name__)
STORAGE_ERROR = "storage_error"


def stop_for_storage_error(crawler, what: str, exc: BaseException, url: str) -> DropItem:
    """Log one clear line, count it, close the crawl; return the DropItem to raise."""
    message = f"{what} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); stopping this target"
    if not crawler.stats.get_value("monitor/storage_error"):
        logger.error("%s — %s", message, url)
    crawler.stats.set_value("monitor/storage_error", message)
    crawler.stats.inc_value("monitor/errors/storage")
    if crawler.engine is not None and crawler.engine.running:
        deferred_from_coro(crawler.engine.close_spider_async(reason=STORAGE_ERROR))
    return DropItem(f"not stored: {message}")
