"""Scrapy's RobotsTxtMiddleware, cautious about a robots.txt it cannot read.

Scrapy treats a robots.txt whose download fails as allowing everything and logs the failure
with its traceback (some 40 lines). A shop that serves a robots.txt larger than
DOWNLOAD_MAXSIZE (``crawl.max_page_bytes``) would so have its ``Disallow`` rules ignored. Here
a robots.txt that was cut off for its size disallows the whole host for the night: the rules
are there, only unreadable, and the crawler does not guess which part of them it may skip
(RFC 9309 lets a crawler parse a prefix of at least 500 KiB, but a prefix of rules that a
hostile shop chose the length of is no better a guide). Any failure is one log line, without
traceback; a failure other than the size (refused, timed out) keeps Scrapy's allow-all, as a
missing robots.txt does. Only targets that obey robots.txt ask for it at all.

A target so left alone is reported as not crawled (``TargetStats.fail``): a night with none of
its pages must not pass for a complete crawl, after which its listings would count as removed.
"""

from __future__ import annotations

import logging

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import CancelledError, Deferred

from monitor.crawl.stats import TargetStats, target_of

logger = logging.getLogger(__name__)

TOO_LARGE = (DownloadCancelledError, CancelledError)  # DOWNLOAD_MAXSIZE cut the download
UNREADABLE = "robots.txt too large to read"


class DisallowAll:
    """A robots parser for a robots.txt that could not be read: nothing is allowed."""

    def allowed(self, url: str | bytes, user_agent: str | bytes) -> bool:
        return False


class CautiousRobotsTxtMiddleware(RobotsTxtMiddleware):
    async def robot_parser(self, request: Request):
        netloc = urlparse_cached(request).netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robots = Request(
                f"{urlparse_cached(request).scheme}://{netloc}/robots.txt",
                priority=self.DOWNLOAD_PRIORITY,
                meta={"dont_obey_robotstxt": True},
                callback=NO_CALLBACK,
            )
            try:
                response = await self.crawler.engine.download_async(robots)
                await self._parse_robots(response, netloc, request)
            except Exception as exc:  # noqa: BLE001 - whatever the shop's server did
                self._unreadable(exc, netloc, robots)
            self._stats.inc_value("robotstxt/request_count")
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            return await maybe_deferred_to_future(parser)
        return parser

    def process_request_2(self, rp, request: Request) -> None:
        if isinstance(rp, DisallowAll):
            target = target_of(request)
            if target is not None:
                TargetStats.of(self.crawler).fail(target, UNREADABLE)
            raise IgnoreRequest(UNREADABLE)
        super().process_request_2(rp, request)

    def _unreadable(self, exc: Exception, netloc: str, robots: Request) -> None:
        if isinstance(exc, IgnoreRequest):  # refused by a middleware: logged there
            self._robots_error(exc, netloc)
            return
        if isinstance(exc, TOO_LARGE):
            logger.warning(
                "%s is larger than the download limit (max_page_bytes): nothing on %s is "
                "crawled tonight",
                robots.url,
                netloc,
            )
            self._stats.inc_value("robotstxt/too_large")
            parser_dfd = self._parsers[netloc]
            self._parsers[netloc] = parser = DisallowAll()
            assert isinstance(parser_dfd, Deferred)
            parser_dfd.callback(parser)
            return
        logger.warning(
            "%s could not be read (%s: %s): crawled as if it allowed everything",
            robots.url,
            type(exc).__name__,
            exc,
        )
        self._robots_error(exc, netloc)
