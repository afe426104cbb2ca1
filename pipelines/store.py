"""Write listings, leads and evidence rows; a listing seen again updates its lead.

It also keeps, per target, the set of listing URLs seen in this crawl (fetched, unchanged or
304): when a target's crawl was complete, an open lead whose listing was not seen any more has
been taken out of the shop and becomes removed. Each result, once written, is marked done in
the job state so a killed run does not fetch it again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone

from scrapy import signals
from sqlalchemy.exc import SQLAlchemyError

from monitor.crawlercontext import crawler_records
from monitor.evidence import release_chain
from monitor.faults import stop_for_storage_error
from monitor.items import ListingGone, ListingItem, ListingSeen
from monitor.jobstate import jobstate_for
from monitor.stats import TargetStats

logger = logging.getLogger(__name__)
BATCH = 500


def _header(headers: dict, name: str) -> str | None:
    for key, values in headers.items():
        if key.lower() == name and values:
            return values[0][:200]
    return None


class StorePipeline:
    def __init__(self, records, counts: TargetStats, run_id: int | None, jobstate) -> None:
        self.records = records
        self.counts = counts
        self.run_id = run_id
        self.jobstate = jobstate
        self.target_ids: dict[str, int] = {}
        self.unchanged_urls: list[str] = []
        self.clean_items: list[ListingItem] = []
        self.revisit_max_days = 7.0
        self.seen: dict[str, set[str]] = defaultdict(set)

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(
            crawler_records(crawler),
            TargetStats.of(crawler),
            crawler.settings.getint("MONITOR_RUN_ID") or None,
            jobstate_for(crawler),
        )
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        pipeline.crawler = crawler
        pipeline.revisit_max_days = crawler.settings.getfloat("MONITOR_REVISIT_MAX_DAYS", 7)
        return pipeline

    def open_spider(self, spider=None):
        from monitor.db import init_db, schema_is_current

        if not schema_is_current(self.records.url):
            init_db(self.records.url)

    def target_id(self, name: str, url: str) -> int:
        if name not in self.target_ids:
            known = self.records.target_by_name(name)
            self.target_ids[name] = known.id if known else self.records.ensure_target(name, url)
        return self.target_ids[name]

    def done(self, item) -> None:
        if self.jobstate is not None:
            self.jobstate.done(item.target, item.url)

    def process_item(self, item, spider=None):
        """Write the item; if the database fails, stop this target (nothing half-recorded)."""
        try:
            return self._store(item)
        except SQLAlchemyError as exc:
            raise stop_for_storage_error(
                self.crawler,
                "writing the database",
                exc,
                getattr(item, "url", ""),
                getattr(item, "target", None),
            ) from None

    def clean(self, item: ListingItem) -> None:
        """A clean listing, new or changed: written with others in one transaction. It is marked
        done in the job state only after its batch is written, so a crash re-fetches it."""
        self.clean_items.append(item)
        if len(self.clean_items) >= BATCH:
            self.flush_clean()

    def flush_clean(self) -> None:
        items, self.clean_items = self.clean_items, []
        if not items:
            return
        rows = [
            {
                "url": i.url,
                "target_id": self.target_id(i.target, i.url),
                "title": i.title,
                "text": i.text,
                "price": i.price,
                "status": i.status,
                "seen_at": i.fetched_at,
                "etag": _header(i.headers, "etag"),
                "last_modified": _header(i.headers, "last-modified"),
            }
            for i in items
        ]
        try:
            with_lead = {r["url"] for r in self.records.save_clean_listings(rows)}
        except SQLAlchemyError as exc:
            for item in items:  # nothing of the batch was written: each target stops
                stop_for_storage_error(
                    self.crawler, "writing the database", exc, item.url, item.target
                )
            return
        for item in items:
            if item.url in with_lead:  # a lead to rectify: the full path, one by one
                item.open_lead = True
                self.process_item(item)
            else:
                self.done(item)

    def unchanged(self, url: str) -> None:
        """Found unchanged: its revisit schedule is written in batches (losing a batch to a crash
        only brings those listings back a night early)."""
        self.unchanged_urls.append(url)
        if len(self.unchanged_urls) >= BATCH:
            self.flush_unchanged()

    def flush_unchanged(self) -> None:
        urls, self.unchanged_urls = self.unchanged_urls, []
        self.records.mark_unchanged(urls, datetime.now(timezone.utc), self.revisit_max_days)

    def _count_evidence(self, item) -> None:
        """Per-target figures of the evidence pipeline (which counts the crawl's totals)."""
        target_counts = self.counts.counts[item.target]
        if item.manifest_sha256:
            target_counts["monitor/evidence_captured"] += 1
        if getattr(item, "screenshot", None) is not None:
            target_counts["monitor/screenshots"] += 1
        missing = getattr(item, "screenshot_missing", None) or ""
        if missing.startswith("capture failed"):
            target_counts["monitor/screenshot_failed/capture"] += 1

    def _store(self, item):
        try:
            return self._write(item)
        finally:  # recorded (or not): the next capture of this listing may chain onto it
            release_chain(item)

    def _write(self, item):
        if isinstance(item, ListingSeen):
            self.seen[item.target].add(item.url)
            if item.checked:
                self.unchanged(item.url)
            self.done(item)
            return item
        if isinstance(item, ListingGone):
            self._count_evidence(item)
            if self.records.mark_removed(
                item.url,
                item.status,
                item.fetched_at,
                item.manifest_path,
                item.manifest_sha256,
                item.previous_sha256,
                self.run_id,
                timestamp_status=item.timestamp_status,
            ):
                self.counts.inc(item.target, "monitor/leads_removed")
            self.done(item)
            return item
        if not isinstance(item, ListingItem):
            return item
        self.seen[item.target].add(item.url)
        if not item.unchanged and not item.categories and not item.open_lead:
            self.clean(item)  # marked done once its batch is written
            return item
        if not item.unchanged:
            self._count_evidence(item)
            result = self.records.save_listing(
                target_id=self.target_id(item.target, item.url),
                url=item.url,
                title=item.title,
                text=item.text,
                price=item.price,
                status=item.status,
                seen_at=item.fetched_at,
                categories=item.categories,
                hits=item.hits,
                manifest_path=item.manifest_path,
                manifest_sha256=item.manifest_sha256,
                previous_sha256=item.previous_sha256,
                run_id=self.run_id,
                etag=_header(item.headers, "etag"),
                last_modified=_header(item.headers, "last-modified"),
                timestamp_status=item.timestamp_status,
            )
            if result.lead_created:
                self.counts.inc(item.target, "monitor/leads_new")
            elif result.lead_updated:
                self.counts.inc(item.target, "monitor/leads_updated")
                if not item.categories:
                    self.counts.inc(item.target, "monitor/leads_rectified")
        else:
            self.unchanged(item.url)
        self.done(item)
        return item

    def spider_closed(self, spider, reason: str) -> None:
        """After a complete crawl of a target: its open leads whose listing is no longer in the
        shop become removed."""
        self.counts.finish_reason = reason
        self.flush_clean()
        try:
            self.flush_unchanged()
        except SQLAlchemyError as exc:
            logger.error("Revisit schedule not recorded: %s", exc)
        if self.counts.distributed:  # judged by the coordinator on every worker's sightings
            from monitor.distributed.removal import push_seen

            push_seen(self.crawler.settings, self.seen)
            return
        now = datetime.now(timezone.utc)
        for target, seen in self.seen.items():
            if not seen or not self.counts.complete(target):
                continue
            try:
                for url in self.records.missing_listings(target, seen):
                    if self.records.mark_removed(
                        url,
                        None,
                        now,
                        run_id=self.run_id,
                        note="完整抓取中该商品已不在店铺内（已下架或删除）",
                    ):
                        self.counts.inc(target, "monitor/leads_removed")
            except SQLAlchemyError as exc:
                self.counts.fail(target, f"writing the database failed ({type(exc).__name__})")
