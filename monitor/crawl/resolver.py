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

It answers IPv6 as well (Scrapy's CachingThreadedResolver, the default, is IPv4 only), so an
IPv6 literal target or a name with only AAAA records is crawled, under the same check.

The resolver is built once per process from the CrawlerProcess's settings (Scrapy installs it
on the reactor), so it serves every crawl of the process; override :meth:`resolve` to change
how a name is looked up (the check applies to whatever it returns).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

from scrapy.resolver import CachingThreadedResolver, HostResolution, dnscache
from twisted.internet import defer, threads
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IHostnameResolver
from zope.interface import implementer

from monitor.downloadermiddlewares.scope import is_private_address

if TYPE_CHECKING:
    from collections.abc import Sequence

    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IResolutionReceiver

logger = logging.getLogger(__name__)


def normal_host(host: str) -> str:
    return host.lower().rstrip(".")


class PrivateAddressRefused(DNSLookupError):
    """The name resolved to a private address and its host was not admitted as private."""


@implementer(IHostnameResolver)
class PublicAddressResolver(CachingThreadedResolver):
    """CachingThreadedResolver that answers only public addresses, except for admitted hosts,
    IPv6 included.

    Scrapy's CachingThreadedResolver is IPv4 only (``gethostbyname``): an IPv6 literal target
    (``http://[::1]:8000/``) or a name with only AAAA records failed as ``dns``. This one is
    also the reactor's name resolver (``IHostnameResolver``, which Twisted's HostnameEndpoint
    asks, as Scrapy's CachingHostnameResolver is), answering every address ``getaddrinfo``
    gives, IPv4 and IPv6; every one of them is checked, and one private address refuses the
    name. ``getHostByName`` (the IPv4 interface) answers checked addresses too.

    ``refused`` maps each host refused (and not since resolved to a public address) to the
    address it resolved to, so a middleware can tell a refusal from a name that does not exist
    (Twisted reports both as "no results for hostname lookup").
    """

    def __init__(self, reactor, cache_size: int, timeout: float) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.admitted: set[str] = set()
        self.refused: dict[str, str] = {}

    def install_on_reactor(self) -> None:
        # the reactor's simple resolver becomes Twisted's adapter over this one
        self.reactor.installNameResolver(self)

    def admit(self, host: str) -> None:
        """Let ``host`` resolve to a private address (a target that is itself on one)."""
        self.admitted.add(normal_host(host))

    def resolve(self, name: str, timeout: Sequence[float]) -> Deferred[str | list[str]]:
        """Look ``name`` up: the name -> addresses step only, whose answer is then checked
        (an address, or a list of them)."""
        try:
            return defer.succeed([str(ipaddress.ip_address(name))])
        except ValueError:
            pass
        d = threads.deferToThreadPool(
            self.reactor,
            self.reactor.getThreadPool(),
            socket.getaddrinfo,
            name,
            None,
            0,
            socket.SOCK_STREAM,
        )
        d.addCallback(lambda infos: list(dict.fromkeys(str(i[4][0]) for i in infos)))
        if timeout:
            d.addTimeout(timeout[0], self.reactor)
        return d

    def addresses(self, name: str) -> Deferred[list[str]]:
        """The checked addresses of ``name`` (cached); fails with DNSLookupError."""
        if name in dnscache:
            cached = dnscache[name]
            return defer.succeed([cached] if isinstance(cached, str) else cached)
        d = self.resolve(name, (self.timeout,))  # Scrapy's DNS_TIMEOUT
        d.addCallback(self._checked, name)
        return d

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        def first_ipv4(addresses: list[str]) -> str:
            for address in addresses:
                if ipaddress.ip_address(address.split("%", 1)[0]).version == 4:
                    return address
            raise DNSLookupError(f"{name} has no IPv4 address")

        return self.addresses(name).addCallback(first_ipv4)

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes=None,
        transportSemantics: str = "TCP",
    ) -> HostResolution:
        resolution = HostResolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)

        def deliver(addresses: list[str]) -> None:
            for address in addresses:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
                kind = IPv6Address if ip.version == 6 else IPv4Address
                if addressTypes is None or kind in addressTypes:
                    resolutionReceiver.addressResolved(kind("TCP", address, portNumber))

        d = self.addresses(hostName)
        d.addCallbacks(deliver, lambda _failure: None)  # no address: Twisted's DNSLookupError
        d.addBoth(lambda _: resolutionReceiver.resolutionComplete())
        return resolution

    def _checked(self, answer: str | list[str], name: str) -> list[str]:
        addresses = [answer] if isinstance(answer, str) else list(answer)
        if not addresses:
            raise DNSLookupError(f"no address for {name}")
        host = normal_host(name)
        private = next((a for a in addresses if is_private_address(a)), None)
        if host not in self.admitted and private is not None:
            if host not in self.refused:  # one line per host, however many requests
                logger.warning(
                    "Refused %s: it resolves to %s, a private address, and no target of "
                    "this crawl is on one under that name (DNS rebinding?)",
                    host,
                    private,
                )
            self.refused[host] = private
            raise PrivateAddressRefused(f"{host} resolves to the private address {private}")
        self.refused.pop(host, None)
        if dnscache.limit:  # only a checked answer is cached
            dnscache[name] = addresses
        return addresses


def installed_resolver() -> PublicAddressResolver | None:
    """The reactor's resolver when it is this one (TWISTED_DNS_RESOLVER may name another)."""
    from twisted.internet import reactor

    for resolver in (getattr(reactor, "nameResolver", None), getattr(reactor, "resolver", None)):
        if isinstance(resolver, PublicAddressResolver):
            return resolver
    return None
