"""The site spider: crawl one self-built shop and yield its product pages as listings.

    scrapy crawl site -a url=https://shop.example.cn/ [-a target=NAME] [-a profile=NAME]

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
from scrapy.linkextractors import IGNORED_EXTENSIONS, LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from w3lib.url import canonicalize_url, safe_url_string

from monitor.config import Target
from monitor.crawl.jobstate import jobstate_for
from monitor.crawl.revisit import KnownListings
from monitor.crawl.stats import TargetStats
from monitor.crawl.traps import TrapFilter
from monitor.downloadermiddlewares.budget import BudgetDeferred
from monitor.downloadermiddlewares.raw import RawResponseMiddleware, headers_as_dict
from monitor.downloadermiddlewares.scope import origin
from monitor.extract import Page, Reading, page_wording, read
from monitor.extract.explain import line as explain_line
from monitor.extract.explain import page_read
from monitor.extract.license import extract_license
from monitor.extract.profiles import load_profiles
from monitor.items import FEED_FIELDS, LicensePage, ListingGone, ListingItem, ListingSeen
from spiders.errors import failure_kind
from spiders.feeds import FEED_EXPORTERS

_DENIED = ["." + e for e in IGNORED_EXTENSIONS]
_DENIED_SUFFIXES = frozenset(e for e in _DENIED if e.count(".") == 1)
_DENIED_LONGER = tuple(e for e in _DENIED if e.count(".") > 1)  # .tar.gz


def denied_extension(url: str) -> bool:
    """What LinkExtractor's deny_extensions leaves out (IGNORED_EXTENSIONS, as
    scrapy.utils.url.url_has_any_extension reads the path), with one set lookup instead of a
    test per extension: a night follows every link of thousands of shops' pages."""
    path = urlsplit(url).path
    last = path.rfind("/")
    params = path.find(";", last)  # urlparse's params: only those of the last segment
    if params >= 0:
        path = path[:params]
    dot = path.rfind(".")
    if dot < 0 or dot < last:
        return False
    path = path.lower()
    return path[dot:] in _DENIED_SUFFIXES or path.endswith(_DENIED_LONGER)


class SiteSpider(scrapy.Spider):
    """One crawl for many shops: every request carries its target's name in ``meta["target"]``;
    scope, page budget and politeness are enforced per target by middlewares and download slots.

    ``scrapy crawl site -a url=URL [-a target=NAME]`` crawls one shop; the runner passes
    ``targets`` (monitor.config.Target objects) to crawl all of a night's shops at once."""

    name = "site"
    custom_settings = {
        # `scrapy crawl site -O items.jsonl`: what was read, not the raw bytes kept as evidence
        "FEED_EXPORT_FIELDS": FEED_FIELDS,
        "FEED_EXPORTERS": FEED_EXPORTERS,
    }

    def __init__(
        self,
        url: str | None = None,
        target: str | None = None,
        allowed_hosts: str | list | None = None,
        render: str | bool = False,
        profile: str | None = None,
        explain: str | bool = False,
        targets: list | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if targets is None:
            if not url:
                raise ValueError("the site spider needs a start URL: scrapy crawl site -a url=URL")
            if isinstance(allowed_hosts, str):
                allowed_hosts = [h.strip() for h in allowed_hosts.split(",") if h.strip()]
            targets = [
                Target(
                    name=target or urlsplit(url).hostname or url,
                    url=url,
                    allowed_hosts=allowed_hosts or None,
                    render=str(render).lower() in ("1", "true", "yes"),
                    profile=profile or None,
                )
            ]
        load_profiles()  # a broken profile file stops the crawl here, in one line, not per page
        self.explain = str(explain).lower() in ("1", "true", "yes")
        self.targets: dict[str, Target] = {t.name: t for t in targets}
        # targets rendered in Chromium (configured, or found to build their pages by script)
        self.rendering: set[str] = {t.name for t in targets if t.render}
        # Scrapy's IGNORED_EXTENSIONS (images, media, archives, office) are left out by follow()
        self.links = LinkExtractor(unique=True, deny_extensions=[])

    handle_httpstatus_list = [304]
    requested_before: set[str] = set()  # resumed: what the interrupted run requested

    @property
    def target_name(self) -> str:
        """The target of a one-shop crawl (plain `scrapy crawl site -a url=URL`)."""
        return next(iter(self.targets))

    @property
    def start_url(self) -> str:
        return self.targets[self.target_name].url

    @staticmethod
    def target_of(response_or_request) -> str:
        return response_or_request.meta["target"]

    @property
    def jobstate(self):
        if not hasattr(self, "_jobstate"):
            self._jobstate = jobstate_for(self.crawler)
        return self._jobstate

    def request(self, url: str, target: str, **kwargs) -> scrapy.Request:
        """Every request of the crawl goes through here: it carries its target, and is written to
        the job state so a killed run can find it again."""
        meta = {"playwright": target in self.rendering, **kwargs.pop("meta", {}), "target": target}
        # one download slot per shop (host and port): its own concurrency and delay
        meta.setdefault("download_slot", urlsplit(url).netloc)
        if self.targets[target].obey_robots is False:
            meta["dont_obey_robotstxt"] = True
        if meta["playwright"] and "playwright_page_methods" not in meta:
            from scrapy_playwright.page import PageMethod

            from monitor.evidence.browser import settle_network

            # content that script fetches after the load event: wait for the network to go quiet
            meta["playwright_page_methods"] = [PageMethod(settle_network)]
        if self.jobstate is not None:
            self.jobstate.scheduled(target, url)
        return scrapy.Request(
            url,
            callback=kwargs.pop("callback", self.parse),
            errback=self.on_error,
            meta=meta,
            **kwargs,
        )

    def start_request(self, target: Target, resumed: bool) -> scrapy.Request:
        # Filtered like any request, so a link back to the home page does not fetch it again;
        # a resumed crawl's seen-set may already hold it, so there it must be let through (once:
        # start() does not request it again as pending).
        return self.request(target.url, target.name, dont_filter=resumed, meta={"start": True})

    async def start(self):
        if not self.crawler.settings.getbool("MONITOR_SEED", True):
            return  # a distributed worker: the coordinator seeded the run's shared queue
        resumed = self.jobstate is not None and self.jobstate.resumed
        if resumed:
            scheduled, done = self.jobstate.before()
            pending = sorted(scheduled - done)
            # a link to any of these is not requested again (see JobState.before)
            self.requested_before = {canonicalize_url(url) for _, url in scheduled}
            self.logger.info(
                "Resuming: %d request(s) in flight when the last run stopped", len(pending)
            )
            for target, url in pending:
                if target in self.targets and url != self.targets[target].url:
                    yield self.request(url, target, dont_filter=True)
        for target in self.targets.values():
            yield self.start_request(target, resumed)

    def parse(self, response):
        if response.status == 304:
            due = "not_due" not in response.flags  # see ConditionalRequestMiddleware
            key = "monitor/not_modified" if due else "monitor/not_due"
            TargetStats.of(self.crawler).inc(self.target_of(response), key)
            yield ListingSeen(self.target_of(response), response.url, checked=due)
            return
        if not isinstance(response, TextResponse):
            self.done(response)
            return
        target = self.target_of(response)
        page = Page.from_response(response)
        reading = read(
            page, response.url, response.meta.get("profile") or self.targets[target].profile
        )
        if self.needs_rendering(response, reading):
            # the shop builds its pages with script: render it from now on
            self.rendering.add(target)
            self.crawler.stats.inc_value("monitor/render_fallback")
            self.logger.info("Page is built by script, rendering it in Chromium: %s", response.url)
            yield self.request(
                response.url,
                target,
                dont_filter=True,
                meta={"start": response.meta.get("start", False)},
            )
            return
        self.record(reading, response)
        info = extract_license(page, response.url)
        if info.found or response.meta.get("start"):
            raw = response.meta.get(RawResponseMiddleware.meta_key) or {}
            yield LicensePage(
                target,
                response.url,
                info,
                response.status,
                raw.get("headers") or headers_as_dict(response.headers),
                raw.get("body", response.body),
                datetime.now(timezone.utc),
                start=bool(response.meta.get("start")),
            )
        followed = 0
        # A list's goods are yielded before its other links, each to become a listing from its
        # own page. (Not with a raised request priority: with JOBDIR, a run killed by SIGKILL
        # then resumed lost listings queued at another priority - tests/test_nightly.py.)
        candidates = [response.urljoin(p.url) for p in reading.candidates if p.url]
        for request in self.follow(response, candidates):
            followed += 1
            yield request
        # the extractor's links are absolute and already made safe (as a Request would)
        for request in self.follow(
            response, (link.url for link in self.links.extract_links(response)), safe=True
        ):
            followed += 1
            yield request
        item = self.item(response, reading, page)
        if (
            response.meta.get("start")
            and reading.listing is None
            and not followed
            and not response.meta.get("links_known")
        ):
            # nothing to crawl: the target must not be reported as crawled with 0 listings
            TargetStats.of(self.crawler).fail(target, "start page: no links or listings")
        if item is not None:
            yield item  # the store pipeline marks it done once it is written
        else:
            self.done(response)

    def record(self, reading: Reading, response) -> None:
        """Count how the page was read, so a run on a new shop shows at once how it went."""
        counts = TargetStats.of(self.crawler)
        target = self.target_of(response)
        counts.inc(target, f"monitor/page_kind/{reading.kind}")
        if reading.listing is not None:
            counts.inc(target, f"monitor/source/{reading.listing.source}")
        if reading.profile:
            counts.inc(target, f"monitor/profile/{reading.profile}")
        for kind in reading.errors:
            counts.inc(target, f"monitor/errors/{kind}")
        if reading.candidates:
            counts.inc(target, "monitor/list_candidates", len(reading.candidates))
        self.crawler.signals.send_catch_log(
            page_read, reading=reading, url=response.url, spider=self
        )
        self.logger.debug("%s", explain_line(reading, response.url))

    def follow(self, response, urls, safe: bool = False):
        """Requests for the page's links that stay on its target and are no trap: off-site links
        and trap signatures are dropped here, at the cost of reading their URL. A link to a
        listing not due tonight is recorded by monitor.crawl.revisit.KnownListings, not yielded as
        anything (most of an unchanged night's links: no item for Scrapy's scraper to carry
        through the spider middlewares and pipelines). ``safe``: the URLs are as a Request would hold them."""
        target = self.target_of(response)
        spec = self.targets[target]
        origins = self.origins(spec)
        counts = TargetStats.of(self.crawler)
        known = KnownListings.of(self.crawler)
        for url in urls:
            if origin(url) not in origins and urlsplit(url).hostname not in (
                spec.allowed_hosts or ()
            ):
                counts.inc(target, "scope/filtered")
                continue
            if denied_extension(url):
                continue
            if not self.traps.allow(target, url, response.url):
                counts.inc(target, "monitor/traps_cut")
                continue
            if self.requested_before and canonicalize_url(url) in self.requested_before:
                # a resumed crawl: stored, or requested again by start()
                response.meta["links_known"] = True  # links all the same
                continue
            if known is not None:
                as_requested = url if safe else safe_url_string(url)  # as a Request holds it
                if known.take(as_requested, target):  # a clean listing not due tonight: seen
                    counts.inc(target, "monitor/not_due")
                    response.meta["links_known"] = True
                    continue
                if known.already_taken(as_requested):
                    response.meta["links_known"] = True
                    continue
            yield self.request(url, target)

    def origins(self, spec: Target) -> set:
        if not hasattr(self, "_origins"):
            self._origins: dict[str, set] = {}
        if spec.name not in self._origins:
            self._origins[spec.name] = {origin(spec.url)}
        return self._origins[spec.name]

    @property
    def traps(self) -> TrapFilter:
        if not hasattr(self, "_traps"):
            self._traps = TrapFilter(self.crawler.settings.getint("MONITOR_TRAP_MAX_VARIANTS", 200))
        return self._traps

    def done(self, response_or_request) -> None:
        if self.jobstate is not None:
            self.jobstate.done(self.target_of(response_or_request), response_or_request.url)

    def needs_rendering(self, response: TextResponse, reading: Reading) -> bool:
        """A start page with scripts but almost no text and no links is an empty shell that script
        fills (<div id="app"></div>): worth rendering, when Chromium is configured for this crawl.
        Only the start page is judged, so ordinary pages pay nothing for the check."""
        if (
            not response.meta.get("start")
            or self.target_of(response) in self.rendering
            or "playwright" in response.flags
        ):
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
            and not any(
                not denied_extension(link.url) for link in self.links.extract_links(response)
            )
            and reading.listing is None
            and not any(p.url for p in reading.candidates)  # page state lists its goods
        )

    @property
    def can_render(self) -> bool:
        if not hasattr(self, "_can_render"):  # the settings do not change during a crawl
            from monitor.evidence.browser import renders_contained

            self._can_render = renders_contained(self.crawler.settings)
        return self._can_render

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
            target=self.target_of(response),
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
        request = failure.request
        target = self.target_of(request)
        counts = TargetStats.of(self.crawler)
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            if "max redirections" in str(failure.value):
                counts.inc(target, "monitor/errors/redirect_loop")
            if "during decompression" in str(failure.value):  # a decompression bomb
                counts.inc(target, "monitor/errors/bomb")
                if request.meta.get("start"):
                    counts.fail(target, "start page failed: bomb")
            if not failure.check(BudgetDeferred):  # left pending for the next night
                self.done(request)
            return  # filtered on purpose (off target, robots.txt); counted by its middleware
        kind = failure_kind(failure)
        counts.inc(target, f"monitor/errors/{kind}")
        if request.meta.get("start"):
            counts.fail(target, f"start page failed: {kind}")
        if failure.check(HttpError) and failure.value.response.status in (404, 410):
            response = failure.value.response
            raw = response.meta.get(RawResponseMiddleware.meta_key) or {}
            yield ListingGone(
                target,
                request.url,
                response.status,
                datetime.now(timezone.utc),
                headers=raw.get("headers") or headers_as_dict(response.headers),
                raw_body=raw.get("body", response.body),
                request=raw.get("request"),
            )
        else:
            self.done(request)
