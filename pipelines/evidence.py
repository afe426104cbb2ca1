"""Capture evidence for flagged listings: raw bytes and headers as served, rendered DOM and
screenshot when the spider rendered the page, all content-addressed, with a chained manifest."""

from __future__ import annotations

import json

from monitor.evidence import Artifact, EvidenceStore
from monitor.items import ListingItem
from pipelines.common import crawler_config, crawler_records


def _content_type(headers: dict) -> str:
    for key, values in headers.items():
        if key.lower() == "content-type" and values:
            return values[0].split(";")[0].strip() or "application/octet-stream"
    return "application/octet-stream"


class EvidencePipeline:
    def __init__(self, store: EvidenceStore, records, stats) -> None:
        self.store = store
        self.records = records
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        config = crawler_config(crawler)
        return cls(EvidenceStore(config.evidence_dir), crawler_records(crawler), crawler.stats)

    def artifacts(self, item: ListingItem) -> list[Artifact]:
        arts = [
            Artifact("raw_body", item.raw_body, _content_type(item.headers)),
            Artifact(
                "headers",
                json.dumps(item.headers, ensure_ascii=False, sort_keys=True).encode("utf-8"),
                "application/json",
            ),
        ]
        if item.rendered_dom is not None:
            arts.append(Artifact("rendered_dom", item.rendered_dom.encode("utf-8"), "text/html"))
        if item.screenshot is not None:
            arts.append(Artifact("screenshot", item.screenshot, "image/png"))
        return arts

    def process_item(self, item, spider=None):
        if not isinstance(item, ListingItem) or item.unchanged or not item.categories:
            return item
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
