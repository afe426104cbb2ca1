"""The site spider: crawl one self-built shop and yield its product pages as listings.

    scrapy crawl site -a url=https://shop.example.cn/ [-a target=NAME]

Follows links on the target only (TargetScopeMiddleware enforces it). Each page is parsed
once and read by :mod:`monitor.extract` (structured data, page state, platform profiles, the
generic product-page model): a product page yields a ListingItem with the decoded text and the
raw bytes and headers as served; a list page's goods are followed first, so each becomes a
listing from its own page; a page that is neither is matched for wording of its own as a
``kind="page"`` item. How each page was read is counted (``monitor/page_kind/<kind>``,
``monitor/source/<layer>``) and, with ``-a explain=1`` or ``monitor crawl --explain``, printed.
A listing URL that answers 404/410 yields ListingGone so its lead can be marked removed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError

from monitor.downloadermiddlewares.raw import RawResponseMiddleware, headers_as_dict
from monitor.downloadermiddlewares.scope import origin
from monitor.extract import Page, Reading, page_wording, read
from monitor.extract.explain import line as explain_line
from monitor.extract.explain import page_read
from monitor.extract.profiles import load_profiles
from monitor.items import FEED_FIELDS, LicensePage, ListingGone, ListingItem, ListingSeen
from monitor.jobstate import jobstate_for
from monitor.license import extract_license
from spiders.errors import failure_kind
from spiders.feeds import FEED_EXPORTERS

SKIP_EXTENSIONS = [
    "jpg",
    "jpeg",
    "png",
    "gif",
    "webp",
    "svg",
    "ico",
    "css",
    "js",
    "pdf",
    "zip",
    "rar",
    "mp4",
    "mp3",
    "avi",
    "mov",
    "exe",
    "apk",
    "woff",
    "woff2",
    "ttf",
    "xls",
    "xlsx",
    "doc",
    "docx",
]


class SiteSpider(scrapy.Spider):
    name = "site"
    custom_settings = {
        # `scrapy crawl site -O items.jsonl`: what was read, not the raw bytes kept as evidence
        "FEED_EXPORT_FIELDS": FEED_FIELDS,
        "FEED_EXPORTERS": FEED_EXPORTERS,
        "SPIDER_MIDDLEWARES": {"spiders.errors.CallbackErrorsMiddleware": 45},
        "EXTENSIONS": {"monitor.extract.explain.ExplainExtension": 500},
    }

    def __init__(
        self,
        url: str | None = None,
        target: str | None = None,
        allowed_hosts: str | list | None = None,
        render: str | bool = False,
        profile: str | None = None,
        explain: str | bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not url:
            raise ValueError("the site spider needs a start URL: scrapy crawl site -a url=URL")
        self.start_url = url
        self.target_name = target or urlsplit(url).hostname or url
        if isinstance(allowed_hosts, str):
            allowed_hosts = [h.strip() for h in allowed_hosts.split(",") if h.strip()]
        self.allowed_hosts = allowed_hosts or []
        self.render = str(render).lower() in ("1", "true", "yes")
        self.profile = profile or None  # a platform/shop-system profile name; else detected
        load_profiles()  # a broken profile file stops the crawl here, in one line, not per page
        self.explain = str(explain).lower() in ("1", "true", "yes")
        self.links = LinkExtractor(deny_extensions=SKIP_EXTENSIONS, unique=True)

    handle_httpstatus_list = [304]

    @property
    def jobstate(self):
        if not hasattr(self, "_jobstate"):
            self._jobstate = jobstate_for(self.crawler)
        return self._jobstate

    def request(self, url: str, **kwargs) -> scrapy.Request:
        """Every request of the crawl goes through here, so a killed run can find it again."""
        meta = {"playwright": self.render, **kwargs.pop("meta", {})}
        if meta["playwright"] and "playwright_page_methods" not in meta:
            from scrapy_playwright.page import PageMethod

            from monitor.browser import settle_network

            # content that script fetches after the load event: wait for the network to go quiet
            meta["playwright_page_methods"] = [PageMethod(settle_network)]
        if self.jobstate is not None:
            self.jobstate.scheduled(url)
        return scrapy.Request(
            url,
            callback=kwargs.pop("callback", self.parse),
            errback=self.on_error,
            meta=meta,
            **kwargs,
        )

    async def start(self):
        if self.jobstate is not None and self.jobstate.resumed:
            pending = sorted(self.jobstate.pending())
            self.logger.info(
                "Resuming: %d request(s) in flight when the last run stopped", len(pending)
            )
            for url in pending:
                yield self.request(url, dont_filter=True)
        yield self.request(self.start_url, dont_filter=True, meta={"start": True})

    def parse(self, response):
        if response.status == 304:
            self.crawler.stats.inc_value("monitor/not_modified")
            yield ListingSeen(self.target_name, response.url)
            return
        if not isinstance(response, TextResponse):
            self.done(response.url)
            return
        page = Page.from_response(response)
        reading = read(page, response.url, response.meta.get("profile") or self.profile)
        if self.needs_rendering(response, reading):
            self.render = True  # the shop builds its pages with script: render from now on
            self.crawler.stats.inc_value("monitor/render_fallback")
            self.logger.info("Page is built by script, rendering it in Chromium: %s", response.url)
            yield self.request(
                response.url, dont_filter=True, meta={"start": response.meta.get("start", False)}
            )
            return
        self.record(reading, response)
        info = extract_license(page, response.url)
        if info.found or response.meta.get("start"):
            raw = response.meta.get(RawResponseMiddleware.meta_key) or {}
            yield LicensePage(
                self.target_name,
                response.url,
                info,
                response.status,
                raw.get("headers") or headers_as_dict(response.headers),
                raw.get("body", response.body),
                datetime.now(timezone.utc),
                start=bool(response.meta.get("start")),
            )
        on_target = 0
        # A list's goods are yielded before its other links, each to become a listing from its
        # own page. (Not with a raised request priority: with JOBDIR, a run killed by SIGKILL
        # then resumed lost listings queued at another priority - tests/test_nightly.py.)
        for product in reading.candidates:
            url = response.urljoin(product.url) if product.url else ""
            if url and self.on_target(url):
                on_target += 1
                yield self.request(url)
        for link in self.links.extract_links(response):
            url = response.urljoin(link.url)
            on_target += self.on_target(url)
            yield self.request(url)
        item = self.item(response, reading, page)
        if response.meta.get("start") and reading.listing is None and not on_target:
            # nothing to crawl: the target must not be reported as crawled with 0 listings
            self.crawler.stats.set_value("monitor/start_failed", "no links or listings")
        if item is not None:
            yield item  # the store pipeline marks it done once it is written
        else:
            self.done(response.url)

    def on_target(self, url: str) -> bool:
        """Whether a link stays on the target (the scope middleware has the last word)."""
        o = origin(url)
        return o == origin(self.start_url) or o[1] in {h.lower() for h in self.allowed_hosts}

    def record(self, reading: Reading, response) -> None:
        """Count how the page was read, so a run on a new shop shows at once how it went."""
        stats = self.crawler.stats
        stats.inc_value(f"monitor/page_kind/{reading.kind}")
        if reading.listing is not None:
            stats.inc_value(f"monitor/source/{reading.listing.source}")
        if reading.profile:
            stats.inc_value(f"monitor/profile/{reading.profile}")
        for kind in reading.errors:
            stats.inc_value(f"monitor/errors/{kind}")
        if reading.candidates:
            stats.inc_value("monitor/list_candidates", len(reading.candidates))
        self.crawler.signals.send_catch_log(
            page_read, reading=reading, url=response.url, spider=self
        )
        self.logger.debug("%s", explain_line(reading, response.url))

    def done(self, url: str) -> None:
        if self.jobstate is not None:
            self.jobstate.done(url)

    def needs_rendering(self, response: TextResponse, reading: Reading) -> bool:
        """A start page with scripts but almost no text and no links is an empty shell that script
        fills (<div id="app"></div>): worth rendering, when Chromium is configured for this crawl.
        Only the start page is judged, so ordinary pages pay nothing for the check."""
        if not response.meta.get("start") or self.render or "playwright" in response.flags:
            return False
        if not self.can_render:
            return False
        if not response.xpath("//script"):
            return False
        text = "".join(
            response.xpath(
                "//body//text()[not(ancestor::script) and not(ancestor::style)]"
            ).getall()
        )
        return (
            len(text.strip()) < 200
            and not self.links.extract_links(response)
            and reading.listing is None
            and not any(p.url for p in reading.candidates)  # page state lists its goods
        )

    @property
    def can_render(self) -> bool:
        from monitor.browser import renders_contained

        return renders_contained(self.crawler.settings)

    def item(self, response: TextResponse, reading: Reading, page: Page) -> ListingItem | None:
        """The page's listing; or, for a page that is not one, its own wording as a page item
        (matched as a lead of its own kind, never merged with a listing's)."""
        if reading.listing is not None:
            found, kind = reading.listing, "listing"
            title, text, price, source = found.title, found.text, found.price, found.source
        else:
            title, text = page_wording(reading, page)
            if len(text) + len(title) < 4:
                return None
            kind, price, source = "page", None, reading.kind
        raw = response.meta.get(RawResponseMiddleware.meta_key) or {}
        rendered = "playwright" in response.flags
        return ListingItem(
            target=self.target_name,
            url=response.meta.get("redirect_urls", [response.url])[0],
            final_url=response.url,
            title=title,
            text=text,
            price=price,
            status=response.status,
            headers=raw.get("headers") or headers_as_dict(response.headers),
            # a rendered response holds the DOM, not the served bytes: evidence fetches those
            raw_body=None if rendered else raw.get("body", response.body),
            fetched_at=datetime.now(timezone.utc),
            source=source,
            kind=kind,
            profile=reading.profile,
            rendered_dom=response.text if rendered else None,
            request=None if rendered else raw.get("request"),
        )

    def on_error(self, failure):
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            if "max redirections" in str(failure.value):
                self.crawler.stats.inc_value("monitor/errors/redirect_loop")
            if "during decompression" in str(failure.value):  # a decompression bomb
                self.crawler.stats.inc_value("monitor/errors/bomb")
                if failure.request.meta.get("start"):
                    self.crawler.stats.set_value("monitor/start_failed", "bomb")
            self.done(failure.request.url)
            return  # filtered on purpose (off target, robots.txt); counted by its middleware
        kind = failure_kind(failure)
        request = failure.request
        self.crawler.stats.inc_value(f"monitor/errors/{kind}")
        if request.meta.get("start"):
            self.crawler.stats.set_value("monitor/start_failed", kind)
        if failure.check(HttpError) and failure.value.response.status in (404, 410):
            response = failure.value.response
            raw = response.meta.get(RawResponseMiddleware.meta_key) or {}
            yield ListingGone(
                self.target_name,
                request.url,
                response.status,
                datetime.now(timezone.utc),
                headers=raw.get("headers") or headers_as_dict(response.headers),
                raw_body=raw.get("body", response.body),
                request=raw.get("request"),
            )
        else:
            self.done(request.url)
