"""Feed exporters for `scrapy crawl site -O items.jsonl`: listings (and page leads) only.

The spider also yields bookkeeping items the pipelines need (licence pages, 304s, 404s); a feed
of what the spider recognised should hold listings. Scrapy's per-feed ``item_classes`` option
cannot be set for a feed given on the command line, so the spider maps the usual formats to
these exporters, which skip anything but a ListingItem.
"""

from __future__ import annotations

from scrapy.exporters import CsvItemExporter, JsonItemExporter, JsonLinesItemExporter

from monitor.items import ListingItem


class _ListingsOnly:
    def export_item(self, item):
        if isinstance(item, ListingItem):
            return super().export_item(item)
        return None


class ListingJsonLinesExporter(_ListingsOnly, JsonLinesItemExporter):
    pass


class ListingJsonExporter(_ListingsOnly, JsonItemExporter):
    pass


class ListingCsvExporter(_ListingsOnly, CsvItemExporter):
    pass


FEED_EXPORTERS = {
    "jsonl": "spiders.feeds.ListingJsonLinesExporter",
    "jsonlines": "spiders.feeds.ListingJsonLinesExporter",
    "json": "spiders.feeds.ListingJsonExporter",
    "csv": "spiders.feeds.ListingCsvExporter",
}
