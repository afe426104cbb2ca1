"""Conditional requests: ask for a known listing only if it changed since we stored it.

At spider open, loads the ETag and Last-Modified the target's listings were stored with and
adds If-None-Match / If-Modified-Since to requests for those URLs. A 304 answer reaches the
spider, which records the listing as seen and does nothing else. Counted in the stats as
``monitor/conditional_requests``. Override :meth:`validators_for` to change the source.
"""

from __future__ import annotations

from scrapy import Request, signals

from monitor.crawlercontext import crawler_records


class ConditionalRequestMiddleware:
    def __init__(self, records, stats) -> None:
        self.records = records
        self.stats = stats
        self.validators: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler_records(crawler), crawler.stats)
        if crawler.settings.getbool("MONITOR_FULL"):
            return mw  # monitor nightly --full: refetch everything, unconditionally
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def validators_for(self, spider) -> dict[str, tuple[str | None, str | None]]:
        """The override point: {url: (etag, last_modified)} for this crawl's targets."""
        try:
            return self.records.validators(list(getattr(spider, "targets", {}) or {}))
        except Exception:  # noqa: BLE001 - a database not yet created has no validators
            return {}

    def spider_opened(self, spider) -> None:
        self.validators = self.validators_for(spider)

    def process_request(self, request: Request, spider=None):
        known = self.validators.get(request.url)
        if not known or request.meta.get("playwright"):
            return None
        etag, last_modified = known
        if etag:
            request.headers.setdefault("If-None-Match", etag)
        if last_modified:
            request.headers.setdefault("If-Modified-Since", last_modified)
        self.stats.inc_value("monitor/conditional_requests")
        return None
