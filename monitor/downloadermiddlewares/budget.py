"""Each target's page budget, in a crawl of many targets.

CLOSESPIDER_PAGECOUNT would close the whole crawl when one shop runs out; here every request
is charged to its target (``meta["target"]``) and a target that has spent its budget
(``page_budget`` of the target, else MONITOR_PAGE_BUDGET) gets no more requests: they are left
pending in the job state, so the next night continues the shop. A target stopped by a storage
fault gets none either. Counted as ``monitor/budget_dropped`` per target.

What the budget is spent on is decided by the scheduler's queue (monitor.crawl.pqueues): within a
target, the branch of the shop (first path segment) that has had fewer requests goes first, so
an endless branch takes an equal share of the budget, not all of it, and a shop whose pages
are all under one branch spends the whole budget there.
"""

from __future__ import annotations

from collections import Counter

from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from monitor.crawl.stats import TargetStats, target_of


class BudgetDeferred(IgnoreRequest):
    """Not fetched this night: the target's page budget is spent (or the target was stopped)."""


class TargetBudgetMiddleware:
    def __init__(self, counts: TargetStats, default_budget: int) -> None:
        self.counts = counts
        self.default_budget = default_budget
        self.spent: Counter = Counter()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(TargetStats.of(crawler), crawler.settings.getint("MONITOR_PAGE_BUDGET", 5000))

    def budget(self, target: str, spider) -> int:
        """The override point: how many requests ``target`` may make tonight."""
        spec = (getattr(spider, "targets", None) or {}).get(target)
        budget = getattr(spec, "page_budget", None)
        return self.default_budget if budget is None else budget

    def process_request(self, request: Request, spider=None):
        target = target_of(request)
        if target is None:
            return None
        if target in self.counts.failed:
            raise BudgetDeferred(f"target stopped: {self.counts.failed[target]}")
        spider = spider or getattr(self.counts.crawler, "spider", None)
        if self.spent[target] >= self.budget(target, spider):
            self.counts.stop_short(target, "page budget spent")
            self.counts.inc(target, "monitor/budget_dropped")
            raise BudgetDeferred(f"page budget of {target} spent")
        self.spent[target] += 1
        return None
