"""Scrapy's DNS resolver, refusing a private address for a target that is not on one.

TargetScopeMiddleware judges a host by its own lookup when a request is scheduled, but Scrapy
resolves the name again when it connects, so a shop with a public name can answer 127.0.0.1,
169.254.169.254 or 10.x by then (DNS rebinding) and the crawler would fetch the analyst's own
machine or intranet. The check belongs where the connection is made: Scrapy's
``TWISTED_DNS_RESOLVER`` (``DNS_RESOLVER`` before Scrapy 2.19), which every connection of the
HTTP download handler asks, literal IP addresses included (Twisted's HostnameEndpoint passes
them through it as well). This one refuses, as a failed DNS lookup, any address that is not
public (:func:`monitor.downloadermiddlewares.scope.is_private_address`) for a host that was not
admitted as private, and logs one line per host. A host is admitted when a target of the crawl
is itself on a private address (the rule of ``scope.target_origins()``):
:class:`monitor.downloadermiddlewares.rebinding.RebindingMiddleware` admits them when the
spider opens, and names the refusals in the run's errors (``private_address``).

The resolver is built once per process from the CrawlerProcess's settings (Scrapy installs it
on the reactor), so it serves every crawl of the process; override :meth:`resolve` to change
how a name is looked up (the check applies to whatever it returns).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.resolver import CachingThreadedResolver, dnscache
from twisted.internet import defer
from twisted.internet.base import ThreadedResolver
from twisted.internet.error import DNSLookupError

from monitor.downloadermiddlewares.scope import is_private_address

if TYPE_CHECKING:
    from collections.abc import Sequence

    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)


def normal_host(host: str) -> str:
    return host.lower().rstrip(".")


class PrivateAddressRefused(DNSLookupError):
    """The name resolved to a private address and its host was not admitted as private."""


class PublicAddressResolver(CachingThreadedResolver):
    """CachingThreadedResolver that answers only public addresses, except for admitted hosts.

    ``refused`` maps each host refused (and not since resolved to a public address) to the
    address it resolved to, so a middleware can tell a refusal from a name that does not exist
    (Twisted reports both as "no results for hostname lookup").
    """

    def __init__(self, reactor, cache_size: int, timeout: float) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.admitted: set[str] = set()
        self.refused: dict[str, str] = {}

    def admit(self, host: str) -> None:
        """Let ``host`` resolve to a private address (a target that is itself on one)."""
        self.admitted.add(normal_host(host))

    def resolve(self, name: str, timeout: Sequence[float]) -> Deferred[str]:
        """Look ``name`` up: the name -> address step only, whose answer is then checked."""
        return ThreadedResolver.getHostByName(self, name, timeout)

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        if name in dnscache:
            d = defer.succeed(dnscache[name])
        else:  # Scrapy's DNS_TIMEOUT, as CachingThreadedResolver does
            d = self.resolve(name, (self.timeout,))
        return d.addCallback(self._checked, name)

    def _checked(self, address: str, name: str) -> str:
        host = normal_host(name)
        if host not in self.admitted and is_private_address(address):
            if host not in self.refused:  # one line per host, however many requests
                logger.warning(
                    "Refused %s: it resolves to %s, a private address, and no target of "
                    "this crawl is on one under that name (DNS rebinding?)",
                    host,
                    address,
                )
            self.refused[host] = address
            raise PrivateAddressRefused(f"{host} resolves to the private address {address}")
        self.refused.pop(host, None)
        if dnscache.limit:  # only a checked answer is cached
            dnscache[name] = address
        return address


def installed_resolver() -> PublicAddressResolver | None:
    """The reactor's resolver when it is this one (TWISTED_DNS_RESOLVER may name another)."""
    from twisted.internet import reactor

    resolver = getattr(reactor, "resolver", None)
    return resolver if isinstance(resolver, PublicAddressResolver) else None
