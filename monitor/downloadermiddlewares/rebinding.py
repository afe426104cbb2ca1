"""Admit the crawl's private targets to the DNS resolver, and name what it refuses.

:class:`monitor.crawl.resolver.PublicAddressResolver` refuses private addresses at connection time
for every host it was not told about. When the spider opens, this middleware admits the hosts
of each target that is itself on a private address (its start host and allowed hosts, as
``scope.target_origins()`` judges them). A refused lookup reaches Scrapy as an ordinary DNS
failure; this middleware marks the request (``meta["private_address"]``) so the spider counts
it as ``private_address`` rather than ``dns``, and so it is not retried: the answer is refused
by rule, and a retry would only log it again (Scrapy's own robots.txt request is ignored
instead, which RobotsTxtMiddleware does not log). Listed after RetryMiddleware (550), because
exceptions pass through the middlewares from the downloader outwards.
"""

from __future__ import annotations

import logging

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError

from monitor.crawl.resolver import installed_resolver, normal_host
from monitor.downloadermiddlewares.scope import target_origins

try:  # Scrapy 2.14+: the download handlers raise their own type for a failed lookup
    from scrapy.exceptions import CannotResolveHostError
except ImportError:  # pragma: no cover - older Scrapy
    CannotResolveHostError = DNSLookupError

logger = logging.getLogger(__name__)


class RebindingMiddleware:
    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider) -> None:
        resolver = installed_resolver()
        if resolver is None:
            logger.warning(
                "Private addresses are not refused at connection time: TWISTED_DNS_RESOLVER "
                "is not monitor.crawl.resolver.PublicAddressResolver"
            )
            return
        targets = getattr(spider, "targets", None) or {}
        if not targets and getattr(spider, "start_url", None):  # a spider of one target
            targets = {None: spider}
        for target in targets.values():
            url = getattr(target, "url", None) or target.start_url
            for (_scheme, host, _port), private in target_origins(
                url, getattr(target, "allowed_hosts", None)
            ).items():
                if private:
                    resolver.admit(host)

    def process_exception(self, request: Request, exception: Exception, spider=None):
        if not isinstance(exception, (DNSLookupError, CannotResolveHostError)):
            return None
        resolver = installed_resolver()
        host = normal_host(urlparse_cached(request).hostname or "")
        address = resolver.refused.get(host) if resolver is not None else None
        if address is None:
            return None
        self.crawler.stats.inc_value("dns/private_address_refused")
        if "target" not in request.meta:
            # Scrapy's own robots.txt request: ignored, so RobotsTxtMiddleware does not log
            # the refusal again with a traceback (the resolver has said it in one line)
            raise IgnoreRequest(f"{host} resolves to the private address {address}")
        request.meta["private_address"] = address
        request.meta["dont_retry"] = True
        return None
