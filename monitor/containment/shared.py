"""One Chromium per process, shared by every part of the crawler that renders.

A night runs the site and storefront crawls side by side in one reactor, each with its
scrapy-playwright download handler and its evidence pipeline; each used to launch a Chromium
(and a Playwright driver) of its own. :class:`SharedChromium` is the one browser of the process
(of its event loop): the Playwright driver and Chromium start only when a first page must be
rendered, so a run where nothing renders starts neither; at most ``max_pages`` pages are open
at once over all its users; browser contexts are recycled; it closes when its last user lets go
(or, under Scrapy's reactor, when the reactor shuts down, so crawls that follow one another in
one process do not launch it twice).

Every context is bound to one *lane* of the process's containment proxy
(:class:`monitor.containment.proxy.OriginProxy`), admitting only the origins of the target it
renders (see :meth:`SharedChromium.lease`). Contexts are kept per key while they serve (a shop's
pages reuse its context, which is much cheaper than a context per page) and the least recently
used idle one is closed when a new one is needed beyond ``max_contexts``; a context is retired
after ``recycle`` pages so no context grows for ever.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import weakref
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from monitor.containment.chromium import contained_launch_options
from monitor.containment.proxy import Lane, OriginProxy

logger = logging.getLogger(__name__)

RECYCLE = 100  # pages a context serves before a fresh one takes over
CLOSE_TIMEOUT = 10.0


@dataclass(eq=False)
class Lease:
    """A browser context bound to its lane, held by the pages rendering in it."""

    key: Hashable
    owner: Any
    name: str
    lane: Lane
    context: Any = None
    in_use: int = 0
    served: int = 0
    retired: bool = False
    closed: bool = field(default=False, repr=False)
    ready: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class SharedChromium:
    """The process's Chromium: use :meth:`for_running_loop`, then :meth:`acquire` /
    :meth:`release` around a user's life, :meth:`page_slot` and :meth:`lease` around a page."""

    _instances: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def for_running_loop(cls) -> SharedChromium:
        loop = asyncio.get_running_loop()
        shared = cls._instances.get(loop)
        if shared is None or shared.closed:
            shared = cls._instances[loop] = cls()
        return shared

    def __init__(self) -> None:
        self.proxy = OriginProxy()  # its default lane, given at launch, admits nothing
        self.max_pages: int | None = None
        self.max_contexts = 8
        self.recycle = RECYCLE
        self.launches = 0
        self.contexts_opened = 0
        self.closed = False
        self._users = 0
        self._playwright = None
        self._browser = None
        self._launch_lock = asyncio.Lock()
        self._pages: asyncio.Semaphore | None = None
        self._leases: OrderedDict[Hashable, Lease] = OrderedDict()  # least recently used first
        self._retired: set[Lease] = set()
        self._waiters: list[asyncio.Future] = []
        self._names = itertools.count(1)
        self._held_by_reactor = False

    # -- users -------------------------------------------------------------------------------

    def configure(self, max_pages: int) -> None:
        """The number of pages open at once, over every user; the first user's value holds."""
        if self.max_pages is None:
            self.max_pages = max(1, int(max_pages))
            self.max_contexts = max(4, 2 * self.max_pages)
        elif max_pages != self.max_pages:
            logger.debug("Chromium already serves %d pages at once", self.max_pages)

    def acquire(self) -> None:
        """A user (a download handler, an evidence browser) starts using the browser. Nothing
        is launched yet."""
        self._users += 1
        if not self._held_by_reactor:
            reactor = _running_reactor(asyncio.get_running_loop())
            if reactor is not None:  # crawls that follow one another share one launch
                self._held_by_reactor = True
                self._users += 1
                reactor.addSystemEventTrigger("before", "shutdown", self._reactor_shutdown)

    async def release(self) -> None:
        """A user is done; the last one closes the browser, the driver and the proxy."""
        self._users -= 1
        if self._users <= 0:
            await self.close()

    def _reactor_shutdown(self):
        from twisted.internet.defer import Deferred

        return Deferred.fromFuture(asyncio.ensure_future(self.release()))

    # -- the browser -------------------------------------------------------------------------

    @property
    def browser(self):
        return self._browser

    async def launch(self, launch_options: dict):
        """The browser, launched on first use (through the proxy whose default lane admits
        nothing), and again if it died."""
        async with self._launch_lock:
            if self.closed:
                raise RuntimeError("the shared Chromium is closed")
            if self._browser is None or not self._browser.is_connected():
                from playwright.async_api import async_playwright

                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self.proxy.start()
                logger.info("Launching Chromium (one per process, contained)")
                self._browser = await self._playwright.chromium.launch(
                    **contained_launch_options(launch_options, self.proxy.url)
                )
                self._browser.on("disconnected", lambda _b: self._forget_contexts())
                self.launches += 1
            return self._browser

    # -- pages -------------------------------------------------------------------------------

    async def acquire_page(self) -> None:
        """Wait for one of the ``max_pages`` page slots of the process."""
        if self._pages is None:
            self.configure(self.max_pages or 4)
            self._pages = asyncio.Semaphore(self.max_pages)
        await self._pages.acquire()

    def release_page(self) -> None:
        if self._pages is not None:
            self._pages.release()

    # -- contexts ----------------------------------------------------------------------------

    async def lease(
        self,
        owner: Any,
        key: Hashable,
        origins: dict,
        create: Callable[[Lane, str], Awaitable[Any]],
        refusals: Counter | None = None,
        label: str = "ctx",
    ) -> Lease:
        """The context for ``(owner, key)``, bound to a lane admitting ``origins`` only, created
        by ``create(lane, name)`` when there is none (or the last one served ``recycle`` pages).
        Call :meth:`unlease` when the page is closed. Take a page slot first: with every lease
        under a page slot and ``max_contexts`` above ``max_pages``, an idle context can always
        be closed to make room."""
        full_key = (id(owner), key)
        while True:
            lease = self._leases.get(full_key)
            if lease is not None and (lease.served >= self.recycle or lease.closed):
                self._retire(lease)
                lease = None
            if lease is not None:
                lease.in_use += 1
                lease.served += 1
                self._leases.move_to_end(full_key)
                await lease.ready.wait()  # another page of the key may be creating it
                if lease.context is not None and not lease.closed:
                    return lease
                self.unlease(lease)
                continue
            if len(self._leases) + len(self._retired) < self.max_contexts:
                break
            idle = next((x for x in self._leases.values() if x.in_use == 0), None)
            if idle is not None:
                self._retire(idle)
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        self.proxy.start()
        lease = Lease(
            full_key,
            owner,
            f"{label}#{next(self._names)}",
            self.proxy.open_lane(origins, refusals),
            in_use=1,
            served=1,
        )
        self._leases[full_key] = lease
        self.contexts_opened += 1
        try:
            lease.context = await create(lease.lane, lease.name)
            lease.context.on("close", lambda _c: setattr(lease, "closed", True))
        except BaseException:
            lease.in_use = 0
            self._retire(lease)
            raise
        finally:
            lease.ready.set()
        return lease

    def unlease(self, lease: Lease) -> None:
        lease.in_use -= 1
        if lease.in_use <= 0 and (lease.retired or lease.closed):
            self._retire(lease)
        self._wake()

    def leases_of(self, owner: Any) -> list[Lease]:
        return [x for x in (*self._leases.values(), *self._retired) if x.owner is owner]

    async def drop_owner(self, owner: Any) -> None:
        """Close every context of ``owner`` (at the end of its crawl)."""
        closing = []
        for lease in self.leases_of(owner):
            lease.in_use = 0
            closing.append(self._retire(lease))
        await asyncio.gather(*[c for c in closing if c is not None], return_exceptions=True)

    def _retire(self, lease: Lease) -> asyncio.Task | None:
        """Take ``lease`` out of use; close its context and lane once no page holds it."""
        if self._leases.get(lease.key) is lease:
            del self._leases[lease.key]
        lease.retired = True
        if lease.in_use > 0:
            self._retired.add(lease)
            return None
        self._retired.discard(lease)
        task = None
        if not lease.closed:
            lease.closed = True
            task = asyncio.ensure_future(self._close_lease(lease))
        self._wake()
        return task

    async def _close_lease(self, lease: Lease) -> None:
        try:
            if lease.context is not None:
                await asyncio.wait_for(lease.context.close(), CLOSE_TIMEOUT)
        except Exception:  # noqa: BLE001 - a dead renderer or browser can fail to close
            pass
        finally:
            lease.lane.close()

    def _forget_contexts(self) -> None:
        """The browser is gone (or new): its contexts are, too."""
        for lease in [*self._leases.values(), *self._retired]:
            lease.closed = True
            lease.lane.close()
        self._leases.clear()
        self._retired.clear()
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await asyncio.gather(
                *[self._close_lease(x) for x in (*self._leases.values(), *self._retired)],
                return_exceptions=True,
            )
            self._leases.clear()
            self._retired.clear()
            if self._browser is not None:
                try:
                    await self._browser.close()
                except Exception:  # noqa: BLE001 - already gone
                    pass
            if self._playwright is not None:
                await self._playwright.stop()
        finally:
            self._browser = self._playwright = None
            self.proxy.stop()
            self._wake()


def _running_reactor(loop):
    """Scrapy's asyncio reactor, when it runs on ``loop`` (never imports one that is not
    installed: importing twisted.internet.reactor would install the default one)."""
    if "twisted.internet.reactor" not in sys.modules:
        return None
    from twisted.internet import reactor

    if getattr(reactor, "_asyncioEventloop", None) is loop and reactor.running:
        return reactor
    return None
