"""scrapy-playwright's download handler, with each rendered page kept on its own target.

Used in place of ``scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler`` (see
:func:`monitor.evidence.browser.playwright_settings`). One crawl renders many shops, so containment is
per request, not per crawl: a request is rendered in a browser context of its target
(``request.meta["target"]``, the spider's ``targets[name]``), whose proxy is a lane of the
containment proxy admitting that target's origins only (its URL's origin and its allowed
hosts). Shop A's page, its frames, popups, WebSockets, redirect hops and form posts cannot
reach shop B of the same night, nor anything else. A request whose target cannot be told is
not rendered.

The browser is the process's one Chromium (:class:`~monitor.containment.shared.SharedChromium`,
through the :class:`SharedBrowserProvider`), launched only when a first page is rendered: a
crawl that renders nothing starts no Playwright driver. Contexts are leased from it per target,
recycled, and the least recently used idle one is closed when a new target needs room (the
handler's own PLAYWRIGHT_MAX_CONTEXTS semaphore is not used: it would wait for ever on idle
contexts nobody closes). Whatever PLAYWRIGHT_LAUNCH_OPTIONS, PLAYWRIGHT_CONTEXTS,
PLAYWRIGHT_BROWSER_PROVIDER or ``playwright_context_kwargs`` say, the browser is launched
through the proxy, a context gets no proxy but its lane, no persistent profile, downloads or
service workers, and a remote browser (PLAYWRIGHT_CDP_URL, PLAYWRIGHT_CONNECT_URL) is not used:
it could not be contained. Refused requests are counted in the stats as ``containment/refused``
(and by kind, ``containment/refused/<kind>``), downloads a page started as
``containment/download_refused``.
"""

from __future__ import annotations

import logging
from collections import Counter

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotSupported
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from monitor.containment.chromium import contained_context_kwargs, guard_context
from monitor.containment.shared import SharedChromium
from monitor.downloadermiddlewares.scope import origin, target_origins

logger = logging.getLogger(__name__)


def crawl_origins(spider) -> dict[tuple, bool]:
    """The origins of a spider of one target (its ``start_url`` and ``allowed_hosts``)."""
    return target_origins(
        getattr(spider, "start_url", None), getattr(spider, "allowed_hosts", None)
    )


def request_target(request, spider) -> tuple[str, dict[tuple, bool]] | None:
    """The target a request renders for, as (name, origins it may reach): ``meta["target"]``
    among the spider's ``targets`` (monitor.config.Target); without one, the target whose
    origins hold the URL; for a spider of one target, that target."""
    targets = getattr(spider, "targets", None)
    if isinstance(targets, dict) and targets:
        name = request.meta.get("target")
        t = targets.get(name) if name is not None else None
        if t is not None:
            return name, target_origins(t.url, t.allowed_hosts)
        wanted = origin(request.url)
        for name, t in targets.items():
            origins = target_origins(t.url, t.allowed_hosts)
            if wanted in origins:
                return name, origins
        return None
    origins = crawl_origins(spider)
    return ("", origins) if origins else None


class SharedBrowserProvider:
    """scrapy-playwright's browser provider for the process's one Chromium. ``start`` launches
    nothing; ``launch_browser`` launches it (once per process) when a page is first needed."""

    def __init__(self, config) -> None:
        self.config = config
        self.shared: SharedChromium | None = None

    async def start(self) -> None:
        self.shared = SharedChromium.for_running_loop()
        self.shared.configure(self.config.max_pages_per_context)
        self.shared.acquire()

    async def launch_browser(self):
        return await self.shared.launch(self.config.launch_options)

    async def launch_persistent_context(self, context_kwargs: dict):
        raise NotSupported("a persistent browser profile would be outside containment")

    async def close(self) -> None:
        shared, self.shared = self.shared, None
        if shared is not None:
            await shared.release()


class ContainedPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        self.refusals: Counter = Counter()
        self._lanes: dict = {}  # context name -> its lane
        if self.config.cdp_url or self.config.connect_url:
            logger.warning("Not using a remote browser: it would be outside the crawl's proxy")
            self.config.cdp_url = self.config.connect_url = None
        self.browser_provider_cls = SharedBrowserProvider
        if self.config.startup_context_kwargs:
            logger.warning("Ignoring PLAYWRIGHT_CONTEXTS: each target renders in its own context")
            self.config.startup_context_kwargs = {}
        if hasattr(self, "context_semaphore"):  # contexts are bounded by the shared browser
            del self.context_semaphore
        crawler.signals.connect(self._record_refusals, signal=signals.spider_closed)

    @property
    def shared(self) -> SharedChromium:
        return self.browser_provider.shared

    async def _create_page(self, request, spider):
        """A page in the context of the request's target, on the target's lane; a process-wide
        page slot is held until the page closes."""
        request.meta.pop("playwright_page", None)  # a page is always opened on its own lane
        found = request_target(request, spider)
        if found is None or not found[1]:
            raise IgnoreRequest(f"no target to render for: {request.url}")
        name, origins = found
        shared = self.shared
        await shared.acquire_page()
        lease = None
        try:
            context_kwargs = request.meta.get("playwright_context_kwargs")

            async def create(lane, context_name):
                self._lanes[context_name] = lane
                try:
                    wrapper = await self._create_browser_context(
                        context_name, context_kwargs, spider
                    )
                except BaseException:
                    self._lanes.pop(context_name, None)
                    raise
                wrapper.context.on("close", lambda _c: self._lanes.pop(context_name, None))
                return wrapper.context

            lease = await shared.lease(
                self, ("target", name), origins, create, self.refusals, f"target:{name}"
            )
            request.meta["playwright_context"] = lease.name
            page = await super()._create_page(request, spider)
        except BaseException:
            if lease is not None:
                shared.unlease(lease)
            shared.release_page()
            raise
        done = []

        def closed(*_args) -> None:
            if not done:
                done.append(True)
                shared.unlease(lease)
                shared.release_page()

        page.on("close", closed)
        page.on("crash", closed)
        return page

    async def _create_browser_context(self, name, context_kwargs, spider=None):
        lane = self._lanes.get(name)  # without a lane, the launch proxy: it admits nothing
        wrapper = await super()._create_browser_context(
            name, contained_context_kwargs(context_kwargs, lane.url if lane else None), spider
        )
        await guard_context(wrapper.context)
        return wrapper

    def _make_request_handler(self, context_name, **kwargs):
        """Route handler of a page: requests off its lane are aborted before they reach the
        proxy (which would refuse them anyway), so the closed network is not even probed."""
        inner = super()._make_request_handler(context_name=context_name, **kwargs)
        lane = self._lanes.get(context_name)

        async def guarded(route, playwright_request) -> None:
            url = playwright_request.url
            if not url.startswith(("data:", "blob:", "about:")) and (
                lane is None or not lane.allows(origin(url))
            ):
                self.stats.inc_value("playwright/request_count/aborted")
                await route.abort()
                return
            await inner(route, playwright_request)

        return guarded

    async def _get_response_and_download(self, request, page, spider):
        """A page's own download (a script clicking a download link) is refused by the context;
        scrapy-playwright would take it for the response and lose the page, which would let a
        listing hide behind a download. The page's response stands."""
        response, download = await super()._get_response_and_download(request, page, spider)
        if response is not None and download:
            self.stats.inc_value("containment/download_refused")
            download = None
        return response, download

    async def _apply_page_methods(self, page, request, spider) -> None:
        """A page that already left the target (its hop refused) is not waited on: the scope
        middleware drops its response."""
        lane = self._lanes.get(request.meta.get("playwright_context"))
        if lane is not None and lane.allows(origin(page.url)):
            await super()._apply_page_methods(page, request, spider)

    def _record_refusals(self, spider=None) -> None:
        for kind, count in self.refusals.items():
            self.stats.set_value(f"containment/refused/{kind}", count)
        self.stats.set_value("containment/refused", sum(self.refusals.values()))

    async def _close(self) -> None:
        """Close this crawl's contexts and let go of the shared browser (the last user closes
        it); never the browser itself, which other crawls of the process may still use."""
        provider = getattr(self, "browser_provider", None)
        if provider is not None and provider.shared is not None:
            await provider.shared.drop_owner(self)
        self.context_wrappers.clear()
        if provider is not None:
            await provider.close()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._record_refusals()
            if self.refusals:
                logger.info(
                    "Containment proxy refused %d request(s) off the target: %s",
                    sum(self.refusals.values()),
                    dict(self.refusals),
                )
