"""Conditional requests: ask for a known listing only if it changed since we stored it.

Adds If-None-Match / If-Modified-Since to requests for listings stored with an ETag or a
Last-Modified (read when the spider opens by monitor.crawl.revisit.KnownListings; none with
``monitor nightly --full``). A 304 answer reaches the spider, which records the listing as seen
and does nothing else. Counted in the stats as ``monitor/conditional_requests``.
"""

from __future__ import annotations

from scrapy import Request

from monitor.crawl.revisit import KnownListings


class ConditionalRequestMiddleware:
    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request, spider=None):
        known = KnownListings.of(self.crawler)
        validators = known.validators.get(request.url) if known is not None else None
        if not validators or request.meta.get("playwright"):
            return None
        etag, last_modified = validators
        if etag:
            request.headers.setdefault("If-None-Match", etag)
        if last_modified:
            request.headers.setdefault("If-Modified-Since", last_modified)
        self.stats.inc_value("monitor/conditional_requests")
        return None
