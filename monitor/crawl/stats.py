"""Per-target statistics of a crawl of many targets, the way scrapy.extensions.corestats does it.

One crawl fetches pages of thousands of shops; a run's report is per shop. Components count
through :meth:`TargetStats.inc` (the crawler's global stats are counted too); responses are
counted here from the response_received signal by the request's target (``meta["target"]``).
When the spider closes, each target's figures and outcome (crawled or why not, complete or not)
go into the CrawlRun's stats. Plain `scrapy crawl` (no run given) records a run of its own.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any

from scrapy import signals

logger = logging.getLogger(__name__)

# the report's name -> the stats key counted
COUNTERS = {
    "pages": "response_received_count",
    "listings": "monitor/listings",
    "unchanged": "monitor/unchanged",
    "flagged": "monitor/flagged",
    "leads_new": "monitor/leads_new",
    "leads_updated": "monitor/leads_updated",
    "leads_removed": "monitor/leads_removed",
    "evidence": "monitor/evidence_captured",
    "offsite_filtered": "scope/filtered",
    "screenshots": "monitor/screenshots",
    "not_modified": "monitor/not_modified",
    "not_due": "monitor/not_due",
    "leads_rectified": "monitor/leads_rectified",
    "budget_dropped": "monitor/budget_dropped",
    "traps_cut": "monitor/traps_cut",
}
ERRORS = "monitor/errors/"


def target_of(request_or_response) -> str | None:
    meta = getattr(request_or_response, "meta", None) or {}
    return meta.get("target")


class TargetStats:
    """Counters keyed by target, and each target's state: stopped, budget exhausted, start failed."""

    def __init__(self, crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.failed: dict[str, str] = {}  # target -> why it could not be crawled at all
        self.incomplete: dict[str, str] = {}  # target -> why its crawl is not complete
        self.run_id = crawler.settings.getint("MONITOR_RUN_ID") or None
        # a distributed worker sees only part of each target: its counters go to the run's
        # Redis hash (monitor.distributed.worker), and nothing is judged by absence
        self.distributed = bool(crawler.settings.get("MONITOR_WORKER_ID"))
        self.own_run = False
        self.finish_reason: str | None = None

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        # recorded once everything listening to spider_closed (removal sweep, licence
        # judgement) has counted what it did
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    @classmethod
    def detached(
        cls, counts: dict, failed: dict, incomplete: dict, finish_reason: str = "finished"
    ) -> TargetStats:
        """Counters gathered elsewhere (a distributed run's workers), reported the same way."""
        ext = cls.__new__(cls)
        ext.counts = defaultdict(Counter, counts)
        ext.failed, ext.incomplete = dict(failed), dict(incomplete)
        ext.finish_reason, ext.distributed = finish_reason, False
        ext.stats = None  # no crawler: per-target counters only
        return ext

    @classmethod
    def of(cls, crawler) -> TargetStats:
        ext = crawler.get_extension(cls)
        if ext is None:  # pragma: no cover - EXTENSIONS always lists it
            raise RuntimeError("monitor.crawl.stats.TargetStats is not enabled in EXTENSIONS")
        return ext

    # -- counting ------------------------------------------------------------------------------

    def inc(self, target: str | None, key: str, count: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(key, count)
        if target:
            self.counts[target][key] += count

    def fail(self, target: str, reason: str) -> None:
        """The target could not be crawled (start page failed, storage fault)."""
        self.failed.setdefault(target, reason)
        self.incomplete.setdefault(target, reason)

    def stop_short(self, target: str, reason: str) -> None:
        """The target was crawled, but not completely (page budget): judge nothing by absence."""
        self.incomplete.setdefault(target, reason)

    def complete(self, target: str) -> bool:
        """Whether the target's crawl finished completely (so absence of a page means something)."""
        if self.distributed:  # this worker saw only some of the target's pages
            return False
        return self.finish_reason == "finished" and target not in self.incomplete

    def response_received(self, response, request, spider) -> None:
        target = target_of(request)
        if target and "not_due" not in response.flags:  # answered without a fetch
            self.counts[target]["response_received_count"] += 1

    # -- recording -----------------------------------------------------------------------------

    def outcome(self, target: str) -> dict[str, Any]:
        c = self.counts.get(target, Counter())
        out: dict[str, Any] = {name: int(c.get(key, 0)) for name, key in COUNTERS.items()}
        out["screenshot_failures"] = sum(
            v for k, v in c.items() if k.startswith("monitor/screenshot_failed/")
        )
        out["errors"] = {k[len(ERRORS) :]: v for k, v in c.items() if k.startswith(ERRORS)}
        reason = self.failed.get(target, "")
        if not reason and self.finish_reason not in (None, "finished"):
            reason = f"crawl stopped: {self.finish_reason}"
        out["crawled"] = not reason
        out["reason"] = reason
        out["complete"] = self.complete(target)
        return out

    def spider_opened(self, spider) -> None:
        if self.run_id is None:  # plain `scrapy crawl`: a run of its own, like `monitor crawl`
            from monitor.crawl.crawlercontext import crawler_records

            self.run_id, _ = crawler_records(self.crawler).start_run("scrapy")
            self.own_run = True

    def spider_closed(self, spider, reason: str) -> None:
        self.finish_reason = reason
        self.spider = spider

    def engine_stopped(self) -> None:
        from monitor.crawl.crawlercontext import crawler_records

        spider = getattr(self, "spider", None)
        if spider is None or self.run_id is None or self.distributed:
            return
        targets = {
            name: {"url": t.url, **self.outcome(name)}
            for name, t in (getattr(spider, "targets", {}) or {}).items()
        }
        records = crawler_records(self.crawler)
        try:
            records.add_run_targets(self.run_id, targets)
            if self.own_run:
                records.close_run(self.run_id)
        except Exception as exc:  # noqa: BLE001 - a lost database must not hide the crawl's end
            logger.error("Could not record the run's statistics: %s", exc)
