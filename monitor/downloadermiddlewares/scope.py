"""Keep a crawl on its target: the target's origin, plus hosts the target lists explicitly.

Each request is held to its own target (``meta["target"]``; one crawl serves many shops).
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

from monitor.crawl.stats import TargetStats

logger = logging.getLogger(__name__)


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower().rstrip("."), port


def is_private_address(address: str) -> bool:
    """True for any address that is not plainly on the public internet: private, loopback,
    link-local (169.254.169.254), shared (100.64.0.0/10, where Alibaba Cloud's metadata service
    answers on 100.100.100.200), reserved, unspecified or multicast, IPv4-mapped IPv6 included."""
    try:
        a = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # not an address at all: never treat it as a public one
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped:
        a = a.ipv4_mapped
    return not a.is_global or a.is_private or a.is_reserved or a.is_multicast


@lru_cache(maxsize=4096)
def is_private_host(host: str) -> bool:
    """True when ``host`` is, or resolves to, an address that is not public
    (:func:`is_private_address`)."""
    try:
        addrs = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addrs = [info[4][0] for info in socket.getaddrinfo(host, None)]
        except (OSError, UnicodeError, ValueError):
            return False
    return any(is_private_address(a) for a in addrs)


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
        # per target (meta["target"]): its origins, its allowed hosts, whether it is private
        self.scopes: dict[str, tuple[set[tuple[str, str, int]], set[str], bool]] = {}

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler.stats)
        mw.crawler = crawler
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider) -> None:
        targets = getattr(spider, "targets", None) or {}
        if not targets and getattr(spider, "start_url", None):  # a spider of one target
            targets = {None: spider}
        for name, target in targets.items():
            url = getattr(target, "url", None) or target.start_url
            start = origin(url)
            hosts = {h.lower().rstrip(".") for h in (target.allowed_hosts or [])}
            self.scopes[name] = ({start}, hosts, is_private_host(start[1]))

    def scope_of(self, request: Request):
        scope = self.scopes.get(request.meta.get("target"))
        if scope is None and len(self.scopes) == 1:
            scope = next(iter(self.scopes.values()))
        return scope

    def in_scope(self, request: Request) -> bool:
        """Whether ``request`` stays on its target. The override point."""
        origins, hosts, allow_private = self.scope_of(request)
        o = origin(request.url)
        if o in origins:
            return True
        if o[1] in hosts and o[0] in ("http", "https"):
            return allow_private or not is_private_host(o[1])
        return False

    def process_request(self, request: Request, spider=None):
        if self.scope_of(request) is None or self.in_scope(request):
            return None  # only Scrapy's own robots.txt requests carry no target
        if request.meta.get("redirect_urls"):
            self.stats.inc_value("scope/redirect_filtered")
            logger.info(
                "Refused redirect off target: %s -> %s",
                request.meta["redirect_urls"][-1],
                request.url,
            )
        TargetStats.of(self.crawler).inc(request.meta.get("target"), "scope/filtered")
        raise IgnoreRequest(f"off target: {request.url}")

    def process_response(self, request: Request, response, spider=None):
        if (
            self.scope_of(request) is None
            or response.url == request.url
            or self.in_scope(request.replace(url=response.url))
        ):
            return response
        self.stats.inc_value("scope/left_target")
        logger.info("Refused a page that left the target: %s -> %s", request.url, response.url)
        raise IgnoreRequest(f"left the target: {response.url}")
