"""The storefront spider: JS-rendered platform shops, through scrapy-playwright and Chromium.

    scrapy crawl storefront -a url=URL [-a target=NAME] [-a platform='{"listing_links": "a.item"}']

It renders the storefront page, waits for its listings, follows listing links and "next
page" links (or scrolls, for infinite scroll), and renders each listing page. How a platform
lays out its pages is declared in config.yaml under ``platforms`` (CSS selectors); a target
names its platform, and :data:`GENERIC` works on simple storefronts.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import scrapy
from scrapy.http import TextResponse

from monitor.extract import ExtractedListing, extract_listing
from monitor.items import ListingItem
from spiders.site import SiteSpider

GENERIC = {
    "listing_links": "a[href]",
    "next_page": "a[rel=next], a.next, .pagination a.next, a.next-page",
    "wait_for": "body",
    "title": "h1",
    "description": "[itemprop=description], .description, .desc, .detail, main",
    "price": "[itemprop=price], .price",
    "scroll": False,
}
SCROLLS = 8


def _scroll_script(times: int) -> str:
    return (
        f"async () => {{ for (let i = 0; i < {times}; i++) {{ window.scrollTo(0, document.body.scrollHeight);"
        " await new Promise(r => setTimeout(r, 300)); } }"
    )


class StorefrontSpider(SiteSpider):
    name = "storefront"

    @classmethod
    def update_settings(cls, settings) -> None:
        """Plain `scrapy crawl storefront` gets scrapy-playwright with Debian's Chromium, always
        through the contained handler (a bare scrapy-playwright handler is replaced)."""
        super().update_settings(settings)
        from monitor.evidence.browser import find_chromium, playwright_settings, renders_contained

        executable = find_chromium()
        if not renders_contained(settings) and executable:
            settings.setdict(playwright_settings(executable), priority="spider")

    def __init__(
        self,
        url: str | None = None,
        target: str | None = None,
        platform: str | dict | None = None,
        **kwargs,
    ) -> None:
        super().__init__(url=url, target=target, **kwargs)
        if isinstance(platform, str):
            platform = json.loads(platform) if platform.strip().startswith("{") else None
        self.platform_given = platform  # for a one-shop crawl: selectors given on the command line

    def platform_of(self, target: str) -> dict:
        """The target's platform layout: its named platform from the config, else GENERIC."""
        if not hasattr(self, "_platforms"):
            self._platforms = self.crawler.settings.getdict("MONITOR_PLATFORMS")
        spec = self.targets[target]
        named = self._platforms.get(spec.platform or "", {}) if spec.platform else {}
        return {**GENERIC, **(named or self.platform_given or {})}

    def page_request(
        self, url: str, target: str, callback, wait_for: str | None, scroll: bool = False, **kw
    ) -> scrapy.Request:
        from scrapy_playwright.page import PageMethod

        methods = []
        if wait_for:
            methods.append(
                PageMethod("wait_for_selector", wait_for, timeout=self.render_timeout_ms())
            )
        if scroll:
            methods.append(PageMethod("evaluate", _scroll_script(SCROLLS)))
        meta = {"playwright": True, "playwright_page_methods": methods, **kw.pop("meta", {})}
        return self.request(url, target, callback=callback, meta=meta, **kw)

    def render_timeout_ms(self) -> int:
        return int(self.crawler.settings.getfloat("PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT", 30000))

    def start_request(self, target, resumed: bool) -> scrapy.Request:
        platform = self.platform_of(target.name)
        return self.page_request(
            target.url,
            target.name,
            self.parse_store,
            platform.get("wait_for"),
            bool(platform.get("scroll")),
            dont_filter=True,
            meta={"start": True},
        )

    def parse_store(self, response):
        if not isinstance(response, TextResponse):
            return
        target = self.target_of(response)
        platform = self.platform_of(target)
        for href in response.css(f"{platform['listing_links']}::attr(href)").getall():
            yield self.page_request(
                response.urljoin(href), target, self.parse_listing, platform.get("title")
            )
        nxt = response.css(f"{platform['next_page']}::attr(href)").get()
        if nxt:
            yield self.page_request(
                response.urljoin(nxt),
                target,
                self.parse_store,
                platform.get("wait_for"),
                bool(platform.get("scroll")),
            )

    def parse_listing(self, response):
        if not isinstance(response, TextResponse):
            return
        found = extract_listing(response.selector, response.url) or self.by_selectors(response)
        if found is None:
            return
        yield ListingItem(
            target=self.target_of(response),
            url=response.url,
            final_url=response.url,
            title=found.title,
            text=found.text,
            price=found.price,
            status=response.status,
            headers={
                k.decode("latin-1"): [v.decode("latin-1") for v in vs]
                for k, vs in response.headers.items()
            },
            raw_body=None,  # a rendered response holds the DOM, not the served bytes: evidence re-fetches them
            fetched_at=datetime.now(timezone.utc),
            source="storefront",
            rendered_dom=response.text,
        )

    def by_selectors(self, response) -> ExtractedListing | None:
        def text(selector: str) -> str:
            return (
                " ".join(" ".join(response.css(f"{selector} ::text").getall()).split())
                if selector
                else ""
            )

        platform = self.platform_of(self.target_of(response))
        title = text(platform.get("title"))
        if not title:
            return None
        return ExtractedListing(
            title,
            text(platform.get("description")),
            text(platform.get("price")) or None,
            "selectors",
        )
