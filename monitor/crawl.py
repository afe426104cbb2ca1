"""Run the spiders over a set of targets as one recorded run (nightly, one-off or demo).

Each target gets its own Scrapy crawler (its own stats, page budget and robots setting);
``crawl.targets_at_once`` of them run together in one reactor. When all are done the run's
statistics, per target and in all, go into its CrawlRun row, and the log into logs/run-N.log.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config import Config, Target
from monitor.records import Records

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
    "leads_rectified": "monitor/leads_rectified",
}


@dataclass
class TargetOutcome:
    name: str
    url: str
    crawled: bool
    reason: str = ""
    counts: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)


@dataclass
class RunReport:
    run_id: int
    exit_code: int
    log_path: Path
    targets: list[TargetOutcome]

    @property
    def totals(self) -> dict:
        out: dict = {}
        for t in self.targets:
            for k, v in t.counts.items():
                out[k] = out.get(k, 0) + v
        return out


def _outcome(target: Target, stats: dict, failure: str | None) -> TargetOutcome:
    counts = {name: int(stats.get(key, 0) or 0) for name, key in COUNTERS.items()}
    errors = {
        k.split("/", 2)[2]: int(v) for k, v in stats.items() if k.startswith("monitor/errors/")
    }
    counts["screenshot_failures"] = sum(
        int(v) for k, v in stats.items() if k.startswith("monitor/screenshot_failed/")
    )
    start_failed = stats.get("monitor/start_failed")
    storage = stats.get("monitor/storage_error")
    reason = (
        failure or (f"start page failed: {start_failed}" if start_failed else "") or (storage or "")
    )
    return TargetOutcome(target.name, target.url, not reason, reason, counts, errors)


def jobdir_for(config: Config, target: Target) -> Path:
    """Scrapy's JOBDIR for a target: kept while its crawl is unfinished, so a killed run resumes."""
    import hashlib

    slug = hashlib.sha256(f"{target.name}\n{target.url}".encode()).hexdigest()[:16]
    return config.jobs_dir / slug


def crawler_settings(
    config: Config, run_id: int | None, log_path: Path | None, target: Target | None = None
):
    from scrapy.settings import Settings

    # Always our settings module, wherever the command runs: get_project_settings() would look
    # for scrapy.cfg in the current folder and silently fall back to Scrapy's defaults.
    settings = Settings()
    settings.setmodule("monitor.settings", priority="project")
    from monitor.addon import settings_from_config

    settings.setdict(settings_from_config(config), priority="cmdline")
    settings.set("MONITOR_RUN_ID", run_id or 0, priority="cmdline")
    if target is not None and target.obey_robots is not None:
        settings.set("ROBOTSTXT_OBEY", target.obey_robots, priority="cmdline")
    if target is not None and target.delay is not None:
        settings.set("DOWNLOAD_DELAY", target.delay, priority="cmdline")
    if target is not None and target.page_budget is not None:
        settings.set("CLOSESPIDER_PAGECOUNT", target.page_budget, priority="cmdline")
    if target is not None and config.jobs_dir is not None:
        settings.set("JOBDIR", str(jobdir_for(config, target)), priority="cmdline")
    if (
        target is not None
    ):  # rendering is available to every target (sites fall back to it when needed)
        from monitor.browser import find_chromium, playwright_settings
        from monitor.downloadermiddlewares.scope import origin

        executable = find_chromium(config.browser.get("executable_path"))
        if executable:
            origins = {origin(target.url)} | {
                (s, h, p)
                for h in (target.allowed_hosts or [])
                for s, p in (("http", 80), ("https", 443))
            }
            settings.setdict(
                playwright_settings(
                    executable,
                    config.browser["max_pages"],
                    config.browser["render_timeout"],
                    origins,
                ),
                priority="cmdline",
            )
    if log_path is not None:
        settings.set("LOG_FILE", str(log_path), priority="cmdline")
        settings.set("LOG_FILE_APPEND", True, priority="cmdline")
    return settings


def run_targets(
    config: Config,
    targets: list[Target],
    kind: str,
    on_target_done: Callable[[TargetOutcome], None] | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> RunReport:
    """Crawl ``targets`` as one run; return what happened. Exit code 1 if a target failed outright."""
    from scrapy.crawler import Crawler, CrawlerProcess

    from monitor.db import init_db

    init_db(config.database_url)
    if kind != "nightly":
        # Only the nightly run keeps resumable job state: a one-off may run beside it.
        config = dataclasses.replace(config, jobs_dir=None)
    records = Records(config.database_url)
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    run_id, log_path = records.start_run(kind, config.logs_dir)
    if kind != "nightly":  # a one-off target goes into the table; nightly's come from it
        from monitor.targets import spec_row, upsert_targets

        upsert_targets(records.sessions, [spec_row(t) for t in targets])

    from scrapy.utils.reactor import install_reactor, is_reactor_installed

    settings = crawler_settings(config, run_id, log_path)
    if not is_reactor_installed():  # before anything imports twisted's default reactor
        install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
    process = CrawlerProcess(settings)
    from twisted.internet import defer, reactor

    from monitor.browser import find_chromium
    from spiders.site import SiteSpider
    from spiders.storefront import StorefrontSpider

    outcomes: list[TargetOutcome] = []
    running: dict = {}  # target name -> its crawler, for progress figures
    semaphore = defer.DeferredSemaphore(max(1, config.crawl["targets_at_once"]))
    chromium = find_chromium(config.browser.get("executable_path"))
    if chromium is None and any(t.kind == "storefront" or t.render for t in targets):
        logging.getLogger(__name__).warning(
            "Chromium not found: storefront targets cannot be crawled, "
            "site targets are crawled without rendering or screenshots"
        )

    def finish(outcome: TargetOutcome) -> None:
        outcomes.append(outcome)
        if on_target_done:
            on_target_done(outcome)

    def crawl_one(target: Target):
        if target.kind == "storefront" and chromium is None:
            finish(
                _outcome(
                    target,
                    {},
                    "Chromium not found (install Debian's chromium or set browser.executable_path)",
                )
            )
            return defer.succeed(None)
        kwargs = {
            "url": target.url,
            "target": target.name,
            "allowed_hosts": target.allowed_hosts or [],
            "render": bool(target.render and chromium),
        }
        spider_cls = SiteSpider
        if target.kind == "storefront":
            spider_cls = StorefrontSpider
            kwargs["platform"] = config.platforms.get(target.platform or "", {})
        crawler = Crawler(spider_cls, crawler_settings(config, run_id, log_path, target))
        running[target.name] = crawler
        d = process.crawl(crawler, **kwargs)

        def done(result):
            failure = None
            if isinstance(result, Exception) or hasattr(result, "getErrorMessage"):
                failure = getattr(result, "getErrorMessage", lambda: str(result))()
                logging.getLogger(__name__).error("Target %s failed: %s", target.name, failure)
            stats = crawler.stats.get_stats() if crawler.stats else {}
            if stats.get("finish_reason") == "finished" and config.jobs_dir is not None:
                # Complete: the next run starts afresh.
                shutil.rmtree(jobdir_for(config, target), ignore_errors=True)
            finish(_outcome(target, stats, failure))

        d.addBoth(done)
        return d

    def report_progress() -> None:
        totals = {"targets_done": len(outcomes), "targets": len(targets)}
        for crawler in running.values():
            stats = crawler.stats.get_stats() if crawler.stats else {}
            for name, key in COUNTERS.items():
                totals[name] = totals.get(name, 0) + int(stats.get(key, 0) or 0)
        on_progress(totals)

    ticker = None
    if on_progress is not None:
        from twisted.internet.task import LoopingCall

        ticker = LoopingCall(report_progress)
        ticker.start(1.0, now=False)
    everything = defer.DeferredList([semaphore.run(crawl_one, t) for t in targets])
    everything.addBoth(lambda _: reactor.callLater(0, reactor.stop))
    process.start(stop_after_crawl=False)
    if ticker is not None and ticker.running:
        ticker.stop()

    order = {t.name: i for i, t in enumerate(targets)}
    outcomes.sort(key=lambda o: order.get(o.name, 0))
    exit_code = 0 if all(o.crawled for o in outcomes) and len(outcomes) == len(targets) else 1
    report = RunReport(run_id, exit_code, log_path, outcomes)
    status = (
        "ok"
        if exit_code == 0
        else ("failed" if not any(o.crawled for o in outcomes) else "partial")
    )
    errors_total: dict = {}
    for o in outcomes:
        for k, v in o.errors.items():
            errors_total[k] = errors_total.get(k, 0) + v
    records.finish_run(
        run_id,
        status,
        exit_code,
        {
            "totals": report.totals,
            "errors": errors_total,
            "targets": {
                o.name: {
                    "url": o.url,
                    "crawled": o.crawled,
                    "reason": o.reason,
                    **o.counts,
                    "errors": o.errors,
                }
                for o in outcomes
            },
        },
    )
    return report
