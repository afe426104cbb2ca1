"""Crawler traps, cut when their links are extracted, before they cost a request.

A shop can (by design or by accident) offer endless pages: a calendar that always has a next
day or month, a query string that is new on every page (session ids, sort orders, filters that
combine without end). Signatures, per target:

- a calendar date far from today in the path or query (``/2031/05/``, ``?date=1999-01-01``);
- one path with ever-new query strings: past ``max_variants`` distinct queries of the same
  path and parameter names, further ones are cut.

Breadth-first crawling (DEPTH_PRIORITY) keeps a trap from starving the listings found near the
start page, and the scheduler's queue (monitor.pqueues) shares a target's budget fairly between
the branches of the shop, so an endless branch these signatures miss takes only its share;
these cuts keep a recognised trap from spending any of it. Off-site links are dropped here
too, at the cost of parsing their URL, instead of costing a scheduled request each.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from urllib.parse import parse_qsl, urlsplit

_DATE = re.compile(r"(?<!\d)((?:19|20|21)\d\d)[-/_.]?(0[1-9]|1[0-2])(?:[-/_.]?([0-3]\d))?(?!\d)")


def calendar_year_out_of_range(url: str, today: date | None = None, years: int = 1) -> bool:
    """Whether ``url`` names a calendar date more than ``years`` years from today."""
    today = today or date.today()
    for m in _DATE.finditer(urlsplit(url).path + "?" + urlsplit(url).query):
        if abs(int(m.group(1)) - today.year) > years:
            return True
    return False


class TrapFilter:
    """Per-target memory of query-string variants; :meth:`allow` says whether to follow a link."""

    def __init__(self, max_variants: int = 200) -> None:
        self.max_variants = max_variants
        self.variants: dict[tuple, set[int]] = defaultdict(set)

    def allow(self, target: str, url: str) -> bool:
        if calendar_year_out_of_range(url):
            return False
        parts = urlsplit(url)
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
