"""scrapy-playwright's download handler, with Chromium kept on the crawl's target.

Used in place of ``scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler`` (see
:func:`monitor.browser.playwright_settings`). When Scrapy builds it, the spider already
exists: the origins of its targets are the ones the proxy admits (a spider without targets
admits nothing). Whatever PLAYWRIGHT_LAUNCH_OPTIONS, PLAYWRIGHT_CONTEXTS or
``playwright_context_kwargs`` say, the browser is launched through the proxy, a context gets no
proxy of its own, no persistent profile, downloads or service workers, and a remote browser
(PLAYWRIGHT_CDP_URL, PLAYWRIGHT_CONNECT_URL) is not used: it could not be contained.
Refused requests are counted in the stats as ``containment/refused`` (and by kind,
``containment/refused/<kind>``), downloads a page started as ``containment/download_refused``.
"""

from __future__ import annotations

import logging

from scrapy import signals
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from monitor.containment.chromium import (
    contained_context_kwargs,
    contained_launch_options,
    guard_context,
)
from monitor.containment.proxy import OriginProxy
from monitor.downloadermiddlewares.scope import origin, target_origins

logger = logging.getLogger(__name__)


def crawl_origins(spider) -> dict[tuple, bool]:
    """The origins of every target the spider crawls (its ``targets``: monitor.config.Target),
    or of its ``start_url`` and ``allowed_hosts``. Nothing else is admitted: not the analyst's
    machine, the intranet or a metadata address. (Within one crawl of many shops, a rendered page
    of one shop could still reach another shop of the same crawl; the scope middleware drops a
    page that ended up there.)"""
    targets = getattr(spider, "targets", None)
    if isinstance(targets, dict) and targets:
        out: dict[tuple, bool] = {}
        for t in targets.values():
            for o, private in target_origins(t.url, t.allowed_hosts).items():
                out[o] = out.get(o, False) or private
        return out
    return target_origins(
        getattr(spider, "start_url", None), getattr(spider, "allowed_hosts", None)
    )


class ContainedPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        self.proxy = OriginProxy(crawl_origins(crawler.spider)).start()
        if self.config.cdp_url or self.config.connect_url:
            logger.warning("Not using a remote browser: it would be outside the crawl's proxy")
            self.config.cdp_url = self.config.connect_url = None
        self.config.launch_options = contained_launch_options(
            self.config.launch_options, self.proxy.url
        )
        crawler.signals.connect(self._record_refusals, signal=signals.spider_closed)
        self.config.startup_context_kwargs = {
            name: contained_context_kwargs(kwargs)
            for name, kwargs in (self.config.startup_context_kwargs or {}).items()
        }

    async def _create_browser_context(self, name, context_kwargs, spider=None):
        wrapper = await super()._create_browser_context(
            name, contained_context_kwargs(context_kwargs), spider
        )
        await guard_context(wrapper.context)
        return wrapper

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
        if self.proxy.allows(origin(page.url)):
            await super()._apply_page_methods(page, request, spider)

    def _record_refusals(self, spider=None) -> None:
        for kind, count in self.proxy.refusals.items():
            self.stats.set_value(f"containment/refused/{kind}", count)
        self.stats.set_value("containment/refused", sum(self.proxy.refusals.values()))

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self.proxy.stop()
            self._record_refusals()
