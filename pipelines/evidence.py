"""Capture evidence for flagged listings, content-addressed, with a chained manifest.

For each flagged listing: the raw response bytes and headers as served and the request as
sent, and, when Chromium is available, the page rendered again for its full-page screenshot and
rendered DOM (only flagged listings are rendered, so a nightly run stays fast); all of it also
as WARC records. The manifest names its lead and listing and links to the lead's previous one;
with a timestamp authority configured it is timestamped at once (a failure leaves it pending
for `monitor evidence timestamp`). When a screenshot cannot be taken the manifest says why.

Files go to the crawler's deferred evidence store: written and put in place here, synced with
the rest of their batch by the store pipeline just before it records their rows (see
pipelines.store). The listing's chain lock is held until then; a second capture of a listing
whose first is still waiting in the batch links to it (EvidenceStore.pending_head).

Counts: monitor/evidence_captured, monitor/screenshots, monitor/screenshot_failed/<reason>,
monitor/timestamps, monitor/timestamp_pending.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from monitor.crawl.crawlercontext import crawler_config, crawler_evidence_store, crawler_records
from monitor.crawl.faults import stop_for_storage_error
from monitor.downloadermiddlewares.scope import origin, target_origins
from monitor.evidence import EvidenceStore, release_chain
from monitor.evidence.artifacts import Artifact, Captured, build_all
from monitor.evidence.browser import Browser, CaptureError, find_chromium
from monitor.evidence.ledger import chain_of, recorded_manifests
from monitor.evidence.recorder import decoded_headers
from monitor.evidence.tsa import timestamp_now
from monitor.items import ListingGone, ListingItem
from monitor.store.records import content_hash

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
        self.captured: dict[str, tuple[str, str]] = {}  # url -> (manifest, content hash)
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
            crawler_evidence_store(crawler),
            crawler_records(crawler),
            crawler.stats,
            browser,
            why,
        )
        pipeline.crawler = crawler
        pipeline.clear_unrecorded()
        return pipeline

    def clear_unrecorded(self) -> None:
        """What a killed writer left in the evidence folder and never recorded (temporary files,
        manifests of a batch it did not commit) is removed before this crawl writes."""
        self.store.remove_orphaned_temp_files()
        try:
            removed = self.store.recover_unrecorded(
                lambda shas: recorded_manifests(self.records, shas)
            )
        except (OSError, SQLAlchemyError) as exc:  # kept for the next crawl to judge
            logger.warning("Unrecorded evidence of a stopped crawl not cleared yet: %s", exc)
            return
        if removed:
            logger.info("Removed %d manifest(s) a stopped crawl wrote but never recorded", removed)

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

    def target_origins(self, item: ListingItem) -> dict[tuple, bool] | None:
        """What the listing's page may load while it is rendered: its target's origins (a
        listing on one of the target's allowed hosts loads the shop's other origins too), never
        another shop's. None (the listing URL's own origin only) when the target is not known."""
        spider = getattr(self.crawler, "spider", None)
        target = (getattr(spider, "targets", None) or {}).get(item.target)
        if target is None:
            return None
        origins = target_origins(target.url, target.allowed_hosts)
        return origins if origin(item.final_url) in origins else None

    async def render(self, item: ListingItem) -> None:
        """Screenshot and rendered DOM (and raw bytes, if the spider had none) from Chromium."""
        if self.browser is None:
            item.screenshot_missing = item.screenshot_missing or self.why_no_browser
            return
        try:
            cap = await self.browser.capture(item.final_url, origins=self.target_origins(item))
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
        if self.captured_in_batch(item):
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
        self.remember(item)
        await self.timestamp(item)
        return item

    def captured_in_batch(self, item: ListingItem) -> bool:
        """The same listing, unchanged, fetched again while its capture waits for its batch
        (a resumed run may request a page twice): not captured again. It rides with that
        capture (``pending_capture``), so the store marks it done only once that is recorded."""
        chash = content_hash(item.title, item.text, item.price)
        pending = self.store.pending_head(item.url)
        if pending is None or self.captured.get(item.url) != (pending, chash):
            return False
        item.unchanged = True
        item.pending_capture = pending
        return True

    def remember(self, item: ListingItem) -> None:
        """What was just captured for this listing, until its batch is recorded."""
        if len(self.captured) > 1000 + 2 * self.store.waiting():
            self.captured = {
                url: seen
                for url, seen in self.captured.items()
                if self.store.pending_head(url) == seen[0]
            }
        self.captured[item.url] = (
            item.manifest_sha256,
            content_hash(item.title, item.text, item.price),
        )

    async def lock_chain(self, item) -> None:
        """Hold the listing's chain lock until the store pipeline has recorded the capture
        (released there, after its batch); waited for in a thread, so the crawl goes on."""
        hold = self.store.hold_chain(item.url)
        try:
            await asyncio.to_thread(hold.acquire)
        except BaseException:
            hold.release()
            raise
        item.chain_lock = hold

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
            lead_id, previous = chain_of(self.records, item.url)
            # a capture of this listing still waiting in the batch is the newest link
            previous = self.store.pending_head(item.url) or previous
            manifest = self.store.capture(
                listing_url=item.url,
                target=item.target,
                lead_id=lead_id,
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
        item.evidence_files = manifest.unsynced  # synced by the store pipeline with its batch
        self.stats.inc_value("monitor/evidence_captured")

    async def close_spider(self, spider=None):
        if self.browser is not None:
            await self.browser.close()
