"""Keep a crawl on its target: the target's origin, plus hosts the target lists explicitly.

Modelled on Scrapy's OffsiteMiddleware, but by origin (scheme, host and port) rather than by
domain, since a shop at http://127.0.0.1:8001 must not wander to :8002, and hostile pages
link and redirect anywhere. Requests to private, loopback and link-local addresses are
refused unless the target itself is on one. Dropped requests are counted in the stats as
``scope/filtered`` (and ``scope/redirect_filtered``, ``scope/private_filtered``). A response
whose URL left the target (a page Chromium followed elsewhere: its proxy refuses the hop, but
the page's URL is the other origin's) is dropped too, counted as ``scope/left_target``, so no
other origin's page becomes a listing or its rendered-DOM evidence.
Override :meth:`in_scope` to change the rule.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest

logger = logging.getLogger(__name__)


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower().rstrip("."), port


@lru_cache(maxsize=4096)
def is_private_host(host: str) -> bool:
    """True when ``host`` is, or resolves to, a private, loopback or link-local address."""
    try:
        addrs = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addrs = [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, None)]
        except (OSError, UnicodeError, ValueError):
            return False
    return any(
        a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_unspecified
        for a in addrs
    )


def target_origins(start_url: str | None, allowed_hosts=None) -> dict[tuple, bool]:
    """The origins a target's crawl may reach, each with whether it may be on a private address:
    the start URL's origin, and http/https on the default ports for each allowed host."""
    if not start_url:
        return {}
    start = origin(start_url)
    private = is_private_host(start[1])
    out = {start: private}
    for host in allowed_hosts or []:
        host = host.lower().rstrip(".")
        for scheme, port in (("http", 80), ("https", 443)):
            out.setdefault((scheme, host, port), private)
    return out


class TargetScopeMiddleware:
    def __init__(self, stats) -> None:
        self.stats = stats
        self.origins: set[tuple[str, str, int]] = set()
        self.hosts: set[str] = set()
        self.allow_private = False

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler.stats)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider) -> None:
        start = getattr(spider, "start_url", None)
        if start:
            self.origins.add(origin(start))
            self.allow_private = is_private_host(origin(start)[1])
        self.hosts = {h.lower().rstrip(".") for h in (getattr(spider, "allowed_hosts", None) or [])}

    def in_scope(self, request: Request) -> bool:
        """Whether ``request`` stays on the target. The override point."""
        o = origin(request.url)
        if o in self.origins:
            return True
        if o[1] in self.hosts and o[0] in ("http", "https"):
            return self.allow_private or not is_private_host(o[1])
        return False

    def process_request(self, request: Request, spider=None):
        if not self.origins or self.in_scope(request):
            return None
        if request.meta.get("redirect_urls"):
            self.stats.inc_value("scope/redirect_filtered")
            logger.info(
                "Refused redirect off target: %s -> %s",
                request.meta["redirect_urls"][-1],
                request.url,
            )
        self.stats.inc_value("scope/filtered")
        raise IgnoreRequest(f"off target: {request.url}")

    def process_response(self, request: Request, response, spider=None):
        if not self.origins or response.url == request.url or self.in_scope(response):
            return response
        self.stats.inc_value("scope/left_target")
        logger.info("Refused a page that left the target: %s -> %s", request.url, response.url)
        raise IgnoreRequest(f"left the target: {response.url}")
