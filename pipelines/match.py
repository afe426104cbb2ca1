"""Match each listing against the lexicon; mark unchanged listings so later stages skip them.

A listing is unchanged when its content hash is the one stored for its URL (read for the whole
crawl when the spider opens, by monitor.crawl.revisit.KnownListings: no query per listing)."""

from __future__ import annotations

from scrapy.exceptions import DropItem

from monitor.crawl.crawlercontext import crawler_config, crawler_records
from monitor.crawl.jobstate import jobstate_for
from monitor.crawl.revisit import KnownListings
from monitor.crawl.stats import TargetStats
from monitor.items import ListingItem
from monitor.lexicon import matcher_for
from monitor.store.records import content_hash


class MatchPipeline:
    def __init__(self, matcher, records, stats, jobstate=None, known=None) -> None:
        self.matcher = matcher
        self.records = records
        self.stats = stats
        self.jobstate = jobstate
        self.known = known  # None: every listing is matched

    @classmethod
    def from_crawler(cls, crawler):
        config = crawler_config(crawler)
        return cls(
            matcher_for(config.lexicon_dir),
            crawler_records(crawler),
            TargetStats.of(crawler),
            jobstate_for(crawler),
            KnownListings.of(crawler),
        )

    def process_item(self, item, spider=None):
        if not isinstance(item, ListingItem):
            return item
        self.stats.inc(
            item.target, "monitor/listings" if item.kind == "listing" else "monitor/pages_matched"
        )
        known = (
            self.known.unchanged(item.url, content_hash(item.title, item.text, item.price))
            if self.known is not None
            else None
        )
        if known:
            item.unchanged = True
            self.stats.inc(item.target, "monitor/unchanged")
            return item
        result = self.matcher.match({"title": item.title, "text": item.text})
        item.categories = result.categories
        item.hits = [h.as_dict() for h in result.hits]
        if result.flagged:
            self.stats.inc(item.target, "monitor/flagged")
        elif known is not None:
            item.open_lead = self.records.open_lead(item.url)
        if item.kind == "page" and not result.flagged and not item.open_lead:
            # a page that is not a listing is kept only for wording of its own
            if self.jobstate is not None:
                self.jobstate.done(item.target, item.url)
            raise DropItem("page without violation wording", log_level="DEBUG")
        return item
