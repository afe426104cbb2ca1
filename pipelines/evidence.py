"""Capture evidence for flagged listings, content-addressed, with a chained manifest.

For each flagged listing: the raw response bytes and headers as served and the request as
sent, and, when Chromium is available, the page rendered again for its full-page screenshot and
rendered DOM (only flagged listings are rendered, so a nightly run stays fast); all of it also
as WARC records. The manifest names its lead and listing and links to the lead's previous one;
with a timestamp authority configured it is timestamped at once (a failure leaves it pending
for `monitor evidence timestamp`). When a screenshot cannot be taken the manifest says why.
Counts: monitor/evidence_captured, monitor/screenshots, monitor/screenshot_failed/<reason>,
monitor/timestamps, monitor/timestamp_pending.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from monitor.browser import Browser, CaptureError, find_chromium
from monitor.crawlercontext import crawler_config, crawler_records
from monitor.evidence import EvidenceStore, release_chain
from monitor.evidence.artifacts import Artifact, Captured, build_all
from monitor.evidence.ledger import lead_id_for
from monitor.evidence.recorder import decoded_headers
from monitor.evidence.tsa import timestamp_now
from monitor.faults import stop_for_storage_error
from monitor.items import ListingGone, ListingItem

logger = logging.getLogger(__name__)


class EvidencePipeline:
    def __init__(
        self,
        store: EvidenceStore,
        records,
        stats,
        browser: Browser | None,
        why_no_browser: str | None,
    ) -> None:
        self.store = store
        self.records = records
        self.stats = stats
        self.browser = browser
        self.why_no_browser = why_no_browser

    crawler = None

    @classmethod
    def from_crawler(cls, crawler):
        config = crawler_config(crawler)
        browser, why = None, None
        if not config.screenshots:
            why = "screenshots are turned off (evidence.screenshots: false)"
        else:
            executable = find_chromium(config.browser.get("executable_path"))
            if executable is None:
                why = (
                    "Chromium not found (install Debian's chromium, or set browser.executable_path)"
                )
                logger.warning(
                    "No Chromium: flagged listings are kept without screenshots. %s", why
                )
            else:
                browser = Browser(
                    executable, config.browser["max_pages"], config.browser["render_timeout"]
                )
        pipeline = cls(
            EvidenceStore(config.evidence_dir, config.tsa_url),
            crawler_records(crawler),
            crawler.stats,
            browser,
            why,
        )
        pipeline.crawler = crawler
        # what a killed run was writing when it died (never recorded): cleared before writing
        pipeline.store.remove_orphaned_temp_files()
        return pipeline

    @staticmethod
    def artifacts(item: ListingItem) -> list[Artifact]:
        return build_all(
            Captured(
                url=item.final_url,
                status=item.status,
                headers=item.headers,
                fetched_at=item.fetched_at,
                raw_body=item.raw_body,
                request=item.request,
                rendered_dom=item.rendered_dom,
                screenshot=item.screenshot,
                loaded=item.loaded,
            )
        )

    async def render(self, item: ListingItem) -> None:
        """Screenshot and rendered DOM (and raw bytes, if the spider had none) from Chromium."""
        if self.browser is None:
            item.screenshot_missing = item.screenshot_missing or self.why_no_browser
            return
        try:
            cap = await self.browser.capture(item.final_url)
        except CaptureError as exc:
            reason = str(exc)
            self.stats.inc_value(f"monitor/screenshot_failed/{reason.split(' ')[0].split(':')[0]}")
            item.screenshot_missing = f"capture failed: {reason}"
            return
        item.screenshot = cap.png
        if cap.screenshot_note:
            item.screenshot_note = cap.screenshot_note
        item.rendered_dom = cap.dom
        item.loaded = cap.loaded
        if item.raw_body is None and cap.raw_body is not None:
            # Chromium hands over the body decoded: its encoding headers no longer apply
            item.raw_body = cap.raw_body
            item.headers = decoded_headers(cap.headers) or item.headers
            item.request = cap.request
        self.stats.inc_value("monitor/screenshots")

    async def process_item(self, item, spider=None):
        if isinstance(item, ListingGone):
            if self.records.open_lead(item.url):  # evidence that the listing is gone
                await self.lock_chain(item)
                arts = build_all(
                    Captured(
                        url=item.url,
                        status=item.status,
                        headers=item.headers,
                        fetched_at=item.fetched_at,
                        raw_body=item.raw_body or b"",
                        request=item.request,
                    )
                )
                self.capture(
                    item,
                    item.url,
                    item.status,
                    item.headers,
                    item.fetched_at,
                    arts,
                    {"state": f"gone (HTTP {item.status})"},
                )
                await self.timestamp(item)
            return item
        if (
            not isinstance(item, ListingItem)
            or item.unchanged
            or not (item.categories or item.open_lead)
        ):
            return item
        await self.render(item)
        notes = {}
        if item.screenshot_missing:
            notes["screenshot_missing"] = item.screenshot_missing
        if item.screenshot_note:
            notes["screenshot"] = item.screenshot_note
        if not item.categories:
            notes["state"] = "violation no longer shown (rectified)"
        await self.lock_chain(item)
        self.capture(
            item,
            item.final_url,
            item.status,
            item.headers,
            item.fetched_at,
            self.artifacts(item),
            notes,
        )
        await self.timestamp(item)
        return item

    async def lock_chain(self, item) -> None:
        """Hold the listing's chain lock until the store pipeline has recorded the capture
        (released there); waited for in a thread, so the crawl goes on meanwhile."""
        lock = self.store.chain_lock(item.url)
        await asyncio.to_thread(lock.acquire)
        item.chain_lock = lock

    async def timestamp(self, item) -> None:
        """Timestamp the new manifest when a TSA is configured; on failure leave it pending."""
        if not self.store.tsa_url or not item.manifest_sha256:
            return
        item.timestamp_status = await asyncio.to_thread(
            timestamp_now, self.store, item.manifest_sha256
        )
        self.stats.inc_value(
            "monitor/timestamps" if item.timestamp_status == "ok" else "monitor/timestamp_pending"
        )

    def capture(self, item, final_url, status, headers, fetched_at, artifacts, notes) -> None:
        """Write the evidence; on a storage failure stop this target, and record nothing."""
        try:
            previous = self.records.previous_manifest(item.url)
            manifest = self.store.capture(
                listing_url=item.url,
                target=item.target,
                lead_id=lead_id_for(self.records, item.url),
                url=item.url,
                final_url=final_url,
                status=status,
                headers=headers,
                fetched_at=fetched_at,
                artifacts=artifacts,
                previous_sha256=previous,
                notes=notes or None,
            )
        except (OSError, SQLAlchemyError) as exc:
            release_chain(item)
            raise stop_for_storage_error(
                self.crawler, "writing evidence", exc, item.url, item.target
            ) from None
        item.manifest_path = str(manifest.path)
        item.manifest_sha256 = manifest.sha256
        item.previous_sha256 = previous
        self.stats.inc_value("monitor/evidence_captured")

    async def close_spider(self, spider=None):
        if self.browser is not None:
            await self.browser.close()
