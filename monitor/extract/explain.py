"""`monitor crawl --url URL --explain`: one line per page saying whether it was taken for a
listing, and why (which layer read it, which signals weighed), printed as the crawl goes.

A Scrapy extension on the ``page_read`` signal the site spider sends for every page it reads.
It prints only when asked: the spider argument ``explain`` (``scrapy crawl site -a explain=1``)
or the MONITOR_EXPLAIN setting (set by ``monitor crawl --explain``, or ``-s MONITOR_EXPLAIN=1``). Page text is
hostile: control characters are removed before it reaches a terminal.
"""

from __future__ import annotations

import sys

from monitor.store.sanitize import strip_controls

page_read = object()  # signal: (reading, url, spider)

KINDS = {"product": "商品页", "list": "列表页", "other": "其他页"}


def line(reading, url: str) -> str:
    """One page, one line: verdict, layer, title, URL and why."""
    if reading.listing is not None:
        head = f"✓ 商品 [{reading.listing.source}] 「{reading.listing.title[:60]}」"
    else:
        head = f"✗ {KINDS.get(reading.kind, reading.kind)}，不作为商品"
        if reading.candidates:
            head += f"（列出 {len(reading.candidates)} 个商品，跟进其链接）"
    profile = f" 模板 {reading.profile}" if reading.profile else ""
    errors = f" 读取问题 {','.join(reading.errors)}" if reading.errors else ""
    return strip_controls(f"{head} {url}{profile} — {reading.why}{errors}")


class ExplainExtension:
    def __init__(self, always: bool = False, out=None) -> None:
        self.always = always
        self.out = out or sys.stdout

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler.settings.getbool("MONITOR_EXPLAIN"))
        crawler.signals.connect(ext.page_read, signal=page_read)
        return ext

    def page_read(self, reading, url: str, spider) -> None:
        if self.always or getattr(spider, "explain", False):
            print(line(reading, url), file=self.out, flush=True)
