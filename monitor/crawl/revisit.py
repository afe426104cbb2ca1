"""When a known listing is due again: the revisit policy.

List and index pages are not listings and are fetched every night (they bring new links,
which are fetched at once); so is every listing with a lead (open, rectified or under review:
a violation may come back). A clean listing is due the night after it was fetched; found
unchanged, it waits 2, 4 … nights, at most ``MONITOR_REVISIT_MAX_DAYS`` (the adaptive schedule
of StormCrawler and Heritrix's revisit policies); any change brings it back to every night.
A second run on the same night fetches only what is due (`monitor nightly --full`: all).
"""

from __future__ import annotations

import logging
from array import array
from bisect import bisect_left
from datetime import datetime, timedelta

logger = logging.getLogger(__name__)

# a nightly run starts at about the same time each night: a listing due "in one day" must be
# due at the next run even if that starts a little earlier
SLACK = timedelta(hours=3)


def next_visit(seen_at: datetime, unchanged_streak: int, max_days: float) -> datetime | None:
    """When a listing seen unchanged ``unchanged_streak`` nights running is next due (None: every
    night)."""
    if unchanged_streak <= 0:
        return None
    days = min(2 ** (unchanged_streak - 1), max_days)
    return seen_at + timedelta(days=days) - SLACK


def url_key(url: str) -> int:
    """64 bits standing for a URL in this process (a str caches its hash). Two URLs share a key
    about once in 10^7 nights of a million listings; the cost is one listing matched again, or
    passed as not due."""
    return hash(url) & 0xFFFF_FFFF_FFFF_FFFF


NOT_DUE = 1  # a known listing's value: its content hash's first 63 bits, and this bit


def hash_bits(content_hash: str) -> int:
    """A content hash (sha256 in hex; "" while its row is being written) as a value's first 63
    bits."""
    return int(content_hash[:16] or "0", 16) & ~NOT_DUE


class Keys64:
    """A read-only map of 64-bit keys to 64-bit values, 16 bytes an entry.

    What a crawl knows of a city's million listings would take ~350 bytes each as a dict and a
    set of their URLs and hashes (350 MB in every crawler and worker); sorted machine words
    take 16, and a lookup is a C bisect (about as fast as a set)."""

    def __init__(self, keys: array, values: array) -> None:
        self.keys, self.values = array("Q"), array("Q")
        if not keys:
            return
        import numpy as np  # loaded with the lexicon anyway

        k = np.frombuffer(keys, dtype=np.uint64)
        order = np.argsort(k, kind="stable")
        self.keys.frombytes(k[order].tobytes())
        self.values.frombytes(np.frombuffer(values, dtype=np.uint64)[order].tobytes())

    def get(self, key: int) -> int | None:
        i = bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            return self.values[i]
        return None


class KnownListings:
    """What the database knows of the crawl's listings, read once when the spider opens.

    An extension, so that every component asks one map instead of the database once per page:

    - which known, clean listings are not due tonight (the revisit policy). The spider records
      a link to one as seen without making a request or an item for it (most of an unchanged
      night's links: no scheduling, job-state line, queue spill or pass through the
      pipelines), monitor.downloadermiddlewares.revisit answers any other request for one (a
      resumed crawl's pending pages) without fetching, and the store pipeline counts what was
      taken as seen in its shop (:meth:`seen`). MONITOR_FULL (``monitor nightly --full``)
      leaves this set empty;
    - each listing's stored content hash, so that the match pipeline passes an unchanged
      listing without matching it again;
    - its ETag and Last-Modified, for conditional requests
      (monitor.downloadermiddlewares.conditional).

    The first two are one :class:`Keys64` (16 bytes a listing, so a city's million listings
    cost 16 MB in each crawler, not 350); validators are kept, as text, for due listings only.
    """

    def __init__(self, records, full: bool, shop_listings: bool = False) -> None:
        self.records = records
        self.full = full
        self.shop_listings = shop_listings  # MONITOR_KNOW_SHOP_LISTINGS
        # url key -> the stored content hash's first 63 bits, and whether it is not due tonight
        self.known = Keys64(array("Q"), array("Q"))
        self.validators: dict[str, tuple[str | None, str | None]] = {}
        # recorded as seen tonight (url: target): further links need nothing
        self.taken: dict[str, str | None] = {}

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy import signals

        from monitor.crawl.crawlercontext import crawler_records

        settings = crawler.settings
        ext = cls(
            crawler_records(crawler),
            settings.getbool("MONITOR_FULL"),
            settings.getbool("MONITOR_KNOW_SHOP_LISTINGS"),
        )
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        return ext

    @classmethod
    def of(cls, crawler) -> KnownListings | None:
        """The crawl's map, or None where the extension is not enabled (nothing is known)."""
        return crawler.get_extension(cls)

    def spider_opened(self, spider) -> None:
        from datetime import timezone

        from sqlalchemy.exc import SQLAlchemyError

        now = datetime.now(timezone.utc)
        targets = getattr(spider, "targets", None) or {}
        keys, values = array("Q"), array("Q")

        def add(rows) -> None:  # a city's million rows: names bound once
            key, value, bits, validators = keys.append, values.append, hash_bits, self.validators
            for _target, url, content_hash, etag, last_modified, due_at in rows:
                key(url_key(url))
                if not self.full and due_at is not None and due_at > now:
                    value(bits(content_hash) | NOT_DUE)
                    continue
                value(bits(content_hash))
                if not self.full and (etag or last_modified):
                    validators[url] = (etag, last_modified)

        try:
            add(self.records.known_listings(list(targets)))
        except SQLAlchemyError as exc:
            # every listing is then matched as new and every flagged one captured again
            logger.error("Known listings not read, every listing is taken as new tonight: %s", exc)
        if self.shop_listings:
            try:
                add(self._held_by_others(targets))
            except SQLAlchemyError as exc:
                logger.error("Listings other targets hold on these shops not read: %s", exc)
        self.known = Keys64(keys, values)

    def unchanged(self, url: str, content_hash: str) -> bool | None:
        """Whether a listing fetched tonight has the content hash stored for it; None when it
        is not a known listing."""
        value = self.known.get(url_key(url))
        if value is None:
            return None
        return value & ~NOT_DUE == hash_bits(content_hash)

    def _held_by_others(self, targets: dict) -> list[tuple]:
        """Listings on the shops of ``targets`` that other targets hold (see
        MONITOR_KNOW_SHOP_LISTINGS): a one-off crawl of a watched shop's page knows what is
        already stored and captured there, and leaves it with its shop."""
        from monitor.downloadermiddlewares.scope import origin

        shops = {origin(t.url) for t in targets.values()}
        others = [
            name
            for name, url in self.records.targets_on({f"{s}://{h}" for s, h, _ in shops})
            if name not in targets and origin(url) in shops
        ]
        return [
            row
            for row in self.records.known_listings(others)
            if origin(row[1]) in shops  # a sibling's listings on another host stay its own
        ]

    def take(self, url: str, target: str | None = None) -> bool:
        """True the first time ``url`` is asked for if it is not due: it is recorded as seen
        tonight in ``target``. Asked again, it is no longer in the set (see
        :meth:`already_taken`)."""
        if url in self.taken:
            return False
        value = self.known.get(url_key(url))
        if value is not None and value & NOT_DUE:
            self.taken[url] = target
            return True
        return False

    def already_taken(self, url: str) -> bool:
        return url in self.taken

    def seen(self) -> dict[str, set[str]]:
        """{target: its listings taken as seen tonight without a fetch}."""
        out: dict[str, set[str]] = {}
        for url, target in self.taken.items():
            if target is not None:
                out.setdefault(target, set()).add(url)
        return out
