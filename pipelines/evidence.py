"""Capture evidence for flagged listings, content-addressed, with a chained manifest.

For each flagged listing: the raw response bytes and headers as served, and, when Chromium is
available, the page rendered again for its full-page screenshot and rendered DOM (only flagged
listings are rendered, so a nightly run stays fast). When a screenshot cannot be taken the
manifest says why. Counts: monitor/evidence_captured, monitor/screenshots,
monitor/screenshot_failed/<reason>.
"""

from __future__ import annotations

import json
import logging

from monitor.browser import Browser, CaptureError, find_chromium
from monitor.evidence import Artifact, EvidenceStore
from monitor.items import ListingItem
from pipelines.common import crawler_config, crawler_records

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
        return cls(
            EvidenceStore(config.evidence_dir),
            crawler_records(crawler),
            crawler.stats,
            browser,
            why,
        )

    def artifacts(self, item: ListingItem) -> list[Artifact]:
        arts = []
        if item.raw_body is not None:
            arts.append(Artifact("raw_body", item.raw_body, _content_type(item.headers)))
        arts.append(
            Artifact(
                "headers",
                json.dumps(item.headers, ensure_ascii=False, sort_keys=True).encode("utf-8"),
                "application/json",
            )
        )
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
        if not isinstance(item, ListingItem) or item.unchanged or not item.categories:
            return item
        await self.render(item)
        previous = self.records.previous_manifest(item.url)
        notes = {"screenshot_missing": item.screenshot_missing} if item.screenshot_missing else None
        manifest = self.store.capture(
            url=item.url,
            final_url=item.final_url,
            status=item.status,
            headers=item.headers,
            fetched_at=item.fetched_at,
            artifacts=self.artifacts(item),
            previous_sha256=previous,
            notes=notes,
        )
        item.manifest_path = str(manifest.path)
        item.manifest_sha256 = manifest.sha256
        item.previous_sha256 = previous
        self.stats.inc_value("monitor/evidence_captured")
        return item

    async def close_spider(self, spider=None):
        if self.browser is not None:
            await self.browser.close()
