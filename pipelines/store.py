"""Write listings, leads and evidence rows; a listing seen again updates its lead.

It also keeps the set of listing URLs seen in this crawl (fetched, unchanged or 304): when a
crawl of the target finishes completely, an open lead whose listing was not seen any more
has been taken out of the shop and becomes removed. Each result, once written, is marked done
in the job state so a killed run does not fetch it again.
"""

from __future__ import annotations

from datetime import datetime, timezone

from scrapy import signals
from sqlalchemy.exc import SQLAlchemyError

from monitor.crawlercontext import crawler_config, crawler_records
from monitor.faults import stop_for_storage_error
from monitor.items import ListingGone, ListingItem, ListingSeen
from monitor.jobstate import jobstate_for


def _header(headers: dict, name: str) -> str | None:
    for key, values in headers.items():
        if key.lower() == name and values:
            return values[0][:200]
    return None


class StorePipeline:
    def __init__(self, records, stats, run_id: int | None, config, jobstate) -> None:
        self.records = records
        self.stats = stats
        self.run_id = run_id
        self.config = config
        self.jobstate = jobstate
        self.target_ids: dict[str, int] = {}
        self.seen: set[str] = set()
        self.target_name: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        run_id = crawler.settings.getint("MONITOR_RUN_ID") or None
        pipeline = cls(
            crawler_records(crawler),
            crawler.stats,
            run_id,
            crawler_config(crawler),
            jobstate_for(crawler),
        )
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        pipeline.crawler = crawler
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

    def done(self, url: str) -> None:
        if self.jobstate is not None:
            self.jobstate.done(url)

    def process_item(self, item, spider=None):
        """Write the item; if the database fails, stop this target (nothing half-recorded)."""
        try:
            return self._store(item)
        except SQLAlchemyError as exc:
            raise stop_for_storage_error(
                self.crawler, "writing the database", exc, getattr(item, "url", "")
            ) from None

    def _store(self, item):
        if isinstance(item, ListingSeen):
            self.seen.add(item.url)
            self.target_name = item.target
            self.done(item.url)
            return item
        if isinstance(item, ListingGone):
            if self.records.mark_removed(
                item.url,
                item.status,
                item.fetched_at,
                item.manifest_path,
                item.manifest_sha256,
                item.previous_sha256,
                self.run_id,
            ):
                self.stats.inc_value("monitor/leads_removed")
            self.done(item.url)
            return item
        if not isinstance(item, ListingItem):
            return item
        self.seen.add(item.url)
        self.target_name = item.target
        if not item.unchanged:
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
            )
            if result.lead_created:
                self.stats.inc_value("monitor/leads_new")
            elif result.lead_updated:
                self.stats.inc_value("monitor/leads_updated")
                if not item.categories:
                    self.stats.inc_value("monitor/leads_rectified")
        self.done(item.url)
        return item

    def spider_closed(self, spider, reason: str) -> None:
        """After a complete crawl: open leads whose listing is no longer in the shop become removed."""
        target = self.target_name or getattr(spider, "target_name", None)
        if reason != "finished" or not target or not self.seen:
            return
        now = datetime.now(timezone.utc)
        for url in self.records.missing_listings(target, self.seen):
            if self.records.mark_removed(
                url,
                None,
                now,
                run_id=self.run_id,
                note="完整抓取中该商品已不在店铺内（已下架或删除）",
            ):
                self.stats.inc_value("monitor/leads_removed")
