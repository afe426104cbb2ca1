"""Capture evidence for flagged listings, content-addressed, with a chained manifest.

For each flagged listing: the raw response bytes and headers as served, and, when Chromium is
available, the page rendered again for its full-page screenshot and rendered DOM (only flagged
listings are rendered, so a nightly run stays fast). When a screenshot cannot be taken the
manifest says why. Counts: monitor/evidence_captured, monitor/screenshots,
monitor/screenshot_failed/<reason>.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from monitor.browser import Browser, CaptureError, find_chromium
from monitor.crawlercontext import crawler_config, crawler_records
from monitor.evidence import Artifact, EvidenceStore, headers_artifact, release_chain
from monitor.faults import stop_for_storage_error
from monitor.items import ListingGone, ListingItem

logger = logging.getLogger(__name__)


def _content_type(headers: dict) -> str:
    for key, values in headers.items():
        if key.lower() == "content-type" and values:
            return values[0].split(";")[0].strip() or "application/octet-stream"
    return "application/octet-stream"


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
            EvidenceStore(config.evidence_dir),
            crawler_records(crawler),
            crawler.stats,
            browser,
            why,
        )
        pipeline.crawler = crawler
        return pipeline

    def artifacts(self, item: ListingItem) -> list[Artifact]:
        arts = []
        if item.raw_body is not None:
            arts.append(Artifact("raw_body", item.raw_body, _content_type(item.headers)))
        arts.append(headers_artifact(item.headers))
        if item.rendered_dom is not None:
            arts.append(Artifact("rendered_dom", item.rendered_dom.encode("utf-8"), "text/html"))
        if item.screenshot is not None:
            arts.append(Artifact("screenshot", item.screenshot, "image/png"))
        return arts

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
        item.rendered_dom = cap.dom
        if item.raw_body is None and cap.raw_body is not None:
            item.raw_body, item.headers = cap.raw_body, cap.headers or item.headers
        self.stats.inc_value("monitor/screenshots")

    async def process_item(self, item, spider=None):
        if isinstance(item, ListingGone):
            if self.records.open_lead(item.url):  # evidence that the listing is gone
                await self.lock_chain(item)
                self.capture(
                    item,
                    item.url,
                    item.status,
                    item.headers,
                    item.fetched_at,
                    [
                        Artifact("raw_body", item.raw_body or b"", _content_type(item.headers)),
                        headers_artifact(item.headers),
                    ],
                    {"state": f"gone (HTTP {item.status})"},
                )
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
        return item

    async def lock_chain(self, item) -> None:
        """Hold the listing's chain lock until the store pipeline has recorded the capture
        (released there); waited for in a thread, so the crawl goes on meanwhile."""
        import asyncio

        lock = self.store.chain_lock(item.url)
        await asyncio.to_thread(lock.acquire)
        item.chain_lock = lock

    def capture(self, item, final_url, status, headers, fetched_at, artifacts, notes) -> None:
        """Write the evidence; on a storage failure stop this target, and record nothing."""
        try:
            previous = self.records.previous_manifest(item.url)
            manifest = self.store.capture(
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
