"""Do not fetch a known, clean, unchanged listing before it is due (see monitor.revisit).

At spider open, loads which of the crawl's listing URLs are not due tonight; a request for one
is answered here with a 304 flagged ``not_due`` instead of going out, so the spider records the
listing as seen (it is still in its shop: no removal) and the night's pages go to what may
have changed. Index pages, new links and listings with open leads are always fetched;
MONITOR_FULL (``monitor nightly --full``) fetches everything. Counted as ``monitor/not_due``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from scrapy import Request, signals
from scrapy.http import Response

from monitor.crawlercontext import crawler_records


class RevisitMiddleware:
    def __init__(self, records, full: bool) -> None:
        self.records = records
        self.full = full
        self.not_due: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler_records(crawler), crawler.settings.getbool("MONITOR_FULL"))
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider) -> None:
        if self.full:
            return
        try:
            self.not_due = self.records.not_due(
                list(getattr(spider, "targets", {}) or {}), datetime.now(timezone.utc)
            )
        except Exception:  # noqa: BLE001 - a database not yet created has nothing to skip
            self.not_due = set()

    def process_request(self, request: Request, spider=None):
        if request.url not in self.not_due or request.meta.get("start"):
            return None
        self.not_due.discard(request.url)  # once: a redirect or retry goes out
        return Response(request.url, status=304, request=request, flags=["not_due"])
