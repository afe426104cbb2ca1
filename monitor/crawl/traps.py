"""Crawler traps, cut when their links are extracted, before they cost a request.

A shop can (by design or by accident) offer endless pages: a calendar that always has a next
day or month, a query string that is new on every page (session ids, sort orders, filters that
combine without end). Signatures, per target:

- a calendar date far from today in the path or query (``/2031/05/``, ``?date=1999-01-01``);
- one path with ever-new query strings: past ``max_variants`` distinct queries of the same
  path and parameter names, further ones are cut;
- a session id in the path (``/s/9f3a1c0b7e2d/home.html``): a segment that is new on nearly
  every link at the same position, under the same parent and before the same rest of the
  path, on links found on pages that are themselves inside that slot (the trap feeds itself).
  Past ``max_segment_values`` new values so brought (while at least ``NEW_SHARE`` of the
  values those pages link were new when linked), links with a further new value are cut. Only a token-like value counts (:func:`token_like`: 8 characters or more,
  letters and digits mixed, or 16 hex digits), and only a segment that has a non-empty rest
  after it: the last segment is where a shop names its products (``/goods/12345.html``,
  ``/item/abc123``, ``/product/12345/``), and numeric ids (``/goods/12345/detail.html``) are
  never counted; values first linked from outside the slot (a category page) are known, not
  new, so a catalogue of ``/p/SKU12345/detail.html`` is not cut however large. A session id made of digits
  only is not recognised; the fair queue below bounds what it costs.

Breadth-first crawling (DEPTH_PRIORITY) keeps a trap from starving the listings found near the
start page, and the scheduler's queue (monitor.crawl.pqueues) shares a target's budget fairly between
the branches of the shop, so an endless branch these signatures miss takes only its share;
these cuts keep a recognised trap from spending any of it. Off-site links are dropped here
too, at the cost of parsing their URL, instead of costing a scheduled request each.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date
from urllib.parse import parse_qsl, urlsplit

_DATE = re.compile(r"(?<!\d)((?:19|20|21)\d\d)[-/_.]?(0[1-9]|1[0-2])(?:[-/_.]?([0-3]\d))?(?!\d)")


_HEX = re.compile(r"[0-9a-fA-F]{16,}")
NEW_SHARE = 0.9  # "new on nearly every link"


def token_like(segment: str) -> bool:
    """Whether a path segment looks like a generated token (session id, hash), not a name or
    a numeric id: 8 characters or more mixing letters and digits, or 16 hex digits or more."""
    if len(segment) < 8:
        return False
    if _HEX.fullmatch(segment):
        return True
    return any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment)


def calendar_year_out_of_range(url: str, today: date | None = None, years: int = 1) -> bool:
    """Whether ``url`` names a calendar date more than ``years`` years from today."""
    today = today or date.today()
    for m in _DATE.finditer(urlsplit(url).path + "?" + urlsplit(url).query):
        if abs(int(m.group(1)) - today.year) > years:
            return True
    return False


class TrapFilter:
    """Per-target memory of query-string variants and of token-like path segments;
    :meth:`allow` says whether to follow a link."""

    def __init__(self, max_variants: int = 200, max_segment_values: int = 50) -> None:
        self.max_variants = max_variants
        self.max_segment_values = max_segment_values
        self.variants: dict[tuple, set[int]] = defaultdict(set)
        # (target, parent segments, rest of the path): a slot, and the values seen in it
        self.slots: dict[tuple, set[str]] = defaultdict(set)
        # values linked from pages inside the slot, and how many of them were new then
        self.slot_linked: dict[tuple, set[str]] = defaultdict(set)
        self.slot_new: Counter = Counter()
        self.trapped: set[tuple] = set()

    def allow(self, target: str, url: str, source: str | None = None) -> bool:
        """Whether to follow ``url``, a link of ``target`` found on the page ``source``."""
        if calendar_year_out_of_range(url):
            return False
        parts = urlsplit(url)
        if not self._segments_allowed(
            target, parts.path, urlsplit(source).path if source else None
        ):
            return False
        if not parts.query:
            return True
        key = (target, parts.path, tuple(sorted({k for k, _ in parse_qsl(parts.query)})))
        seen = self.variants[key]
        h = hash(parts.query)
        if h in seen:
            return True
        if len(seen) >= self.max_variants:
            return False
        seen.add(h)
        return True

    def _segments_allowed(self, target: str, path: str, source: str | None) -> bool:
        """False when a segment of ``path`` is a new value of a slot that pages inside the slot
        keep linking with a new value on nearly every link (a session id in the path).

        A slot is counted only from links found on a page that is itself inside it (the same
        parent, a segment in that position and more after it): the trap feeds itself. A shop's catalogue, reached
        from its category pages, brings its values from outside, and they are remembered as
        known, so related-product links between product pages are mostly not new."""
        segments = path.split("/")
        inside = source.split("/") if source is not None else None
        for i, value in enumerate(segments[:-1]):
            if not any(segments[i + 1 :]):
                continue
            key = (target, tuple(segments[:i]), tuple(segments[i + 1 :]))
            if not token_like(value) and key not in self.trapped:
                continue  # in a slot recognised as a trap, any new value is cut
            seen = self.slots[key]
            fed = inside is None or (
                len(inside) > i + 1 and inside[:i] == segments[:i] and inside[i] != ""
            )
            if value in seen:
                if fed:
                    self.slot_linked[key].add(value)
                continue
            if fed:
                if key in self.trapped or (
                    self.slot_new[key] >= self.max_segment_values
                    and self.slot_new[key] >= NEW_SHARE * len(self.slot_linked[key])
                ):
                    self.trapped.add(key)  # once recognised, the slot stays cut
                    return False
                self.slot_new[key] += 1
                self.slot_linked[key].add(value)
            seen.add(value)
        return True
