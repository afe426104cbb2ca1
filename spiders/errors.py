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


def failure_kind(failure) -> str:
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    if failure.check(DNSLookupError):
        return "dns"
    if failure.check(ConnectionRefusedError):
        return "connection_refused"
    if failure.check(TimeoutError, TCPTimedOutError):
        return "timeout"
    if failure.check(defer.CancelledError):
        return "too_large"
    if failure.check(ResponseNeverReceived, ResponseFailed, ConnectionLost):
        return "connection_lost"
    return failure.type.__name__ if failure.type else "error"
