"""Write listings, leads and evidence rows; a listing seen again updates its lead."""

from __future__ import annotations

from monitor.items import ListingGone, ListingItem
from pipelines.common import crawler_config, crawler_records


class StorePipeline:
    def __init__(self, records, stats, run_id: int | None, config) -> None:
        self.records = records
        self.stats = stats
        self.run_id = run_id
        self.config = config
        self.target_ids: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler):
        run_id = crawler.settings.getint("MONITOR_RUN_ID") or None
        return cls(crawler_records(crawler), crawler.stats, run_id, crawler_config(crawler))

    def open_spider(self, spider=None):
        from monitor.db import init_db, schema_is_current

        if not schema_is_current(self.records.url):
            init_db(self.records.url)

    def target_id(self, name: str, url: str) -> int:
        if name not in self.target_ids:
            known = self.config.target(name)
            kind = known.kind if known else "site"
            self.target_ids[name] = self.records.ensure_target(
                name, known.url if known else url, kind
            )
        return self.target_ids[name]

    def process_item(self, item, spider=None):
        if isinstance(item, ListingGone):
            if self.records.mark_removed(item.url, item.status, item.fetched_at):
                self.stats.inc_value("monitor/leads_removed")
            return item
        if not isinstance(item, ListingItem) or item.unchanged:
            return item
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
        )
        if result.lead_created:
            self.stats.inc_value("monitor/leads_new")
        elif result.lead_updated:
            self.stats.inc_value("monitor/leads_updated")
        return item
