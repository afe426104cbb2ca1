"""Do not fetch a known, clean, unchanged listing before it is due (see monitor.crawl.revisit).

The spider makes no request for a link to a listing that is not due tonight (it records it as
seen); a request for one that comes another way (a resumed crawl's pending pages) is answered
here with a 304 flagged ``not_due`` instead of going out, so the spider records the listing as
seen (it is still in its shop: no removal) and the night's pages go to what may have changed.
Index pages, new links and listings with open leads are always fetched; MONITOR_FULL
(``monitor nightly --full``) fetches everything. Counted as ``monitor/not_due``.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.http import Response

from monitor.crawl.revisit import KnownListings


class RevisitMiddleware:
    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request, spider=None):
        known = KnownListings.of(self.crawler)
        if (
            known is None
            or request.meta.get("start")
            or not known.take(request.url, request.meta.get("target"))
        ):
            return None  # once: a redirect or retry goes out
        return Response(request.url, status=304, request=request, flags=["not_due"])
