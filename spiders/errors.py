"""Name the kind of a failed request, for the run's error counts."""

from __future__ import annotations

from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import defer
from twisted.internet.error import (
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

try:  # Scrapy 2.14+ raises its own exception types from the download handlers
    from scrapy.exceptions import (
        CannotResolveHostError,
        DownloadCancelledError,
        DownloadConnectionRefusedError,
        DownloadFailedError,
        DownloadTimeoutError,
        ResponseDataLossError,
    )
except ImportError:  # pragma: no cover - older Scrapy
    CannotResolveHostError = DownloadCancelledError = DownloadConnectionRefusedError = ()
    DownloadFailedError = DownloadTimeoutError = ResponseDataLossError = ()


def failure_kind(failure) -> str:
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    if failure.check(DNSLookupError, *_tuple(CannotResolveHostError)):
        request = getattr(failure, "request", None)
        if request is not None and request.meta.get("private_address"):
            return "private_address"  # refused by monitor.crawl.resolver (DNS rebinding)
        return "dns"
    if failure.check(ConnectionRefusedError, *_tuple(DownloadConnectionRefusedError)):
        return "connection_refused"
    if failure.check(TimeoutError, TCPTimedOutError, *_tuple(DownloadTimeoutError)):
        return "timeout"
    if failure.check(defer.CancelledError, *_tuple(DownloadCancelledError)):
        return "too_large"  # the download handler cancels a body over DOWNLOAD_MAXSIZE
    if failure.check(
        ResponseNeverReceived,
        ResponseFailed,
        ConnectionLost,
        *_tuple(ResponseDataLossError),
        *_tuple(DownloadFailedError),
    ):
        return "connection_lost"
    return failure.type.__name__ if failure.type else "error"


def _tuple(exc) -> tuple:
    return exc if isinstance(exc, tuple) else (exc,)


class CallbackErrorsMiddleware:
    """Count every exception a spider callback raises by its kind (``monitor/errors/<kind>``),
    and mark the target not crawled when it was the start page's, so a page that breaks the
    parser is reported rather than leaving the run "crawled, 0 listings"."""

    def __init__(self, counts) -> None:
        self.counts = counts

    @classmethod
    def from_crawler(cls, crawler):
        from monitor.crawl.stats import TargetStats

        return cls(TargetStats.of(crawler))

    def process_spider_exception(self, response, exception, spider=None):
        from monitor.crawl.stats import target_of

        kind = f"callback_{type(exception).__name__}"
        target = target_of(response)
        self.counts.inc(target, f"monitor/errors/{kind}")
        if response.meta.get("start") and target:
            self.counts.fail(target, f"start page failed: {kind}")
        return None  # Scrapy logs it and goes on with the crawl
