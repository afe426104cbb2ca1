"""Run a night's targets as one recorded run: one Scrapy crawl per spider kind, not per shop.

All site targets are crawled by one Crawler of the ``site`` spider, all storefronts by one of
``storefront`` (spiders looked up by Scrapy's spider loader), side by side in one reactor. Each
request carries its target in meta; politeness is per shop through download slots, page budget
and scope are enforced per target by middlewares, and per-target figures are recorded into the
CrawlRun by the monitor.crawl.stats.TargetStats extension. The log goes to logs/run-N.log.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from monitor.config import Config, Target
from monitor.crawl.stats import COUNTERS  # noqa: F401 - the report's figures, re-exported
from monitor.store.records import Records

logger = logging.getLogger(__name__)


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


def jobdir_for(config: Config, kind: str) -> Path:
    """Scrapy's JOBDIR for a night's crawl of one spider kind: kept while it is unfinished, so a
    killed run resumes (and what a page budget deferred is continued the next night)."""
    return config.jobs_dir / kind


def crawler_settings(
    config: Config,
    run_id: int | None,
    log_path: Path | None,
    targets: list[Target] | None = None,
    kind: str = "site",
):
    from scrapy.settings import Settings

    from monitor.crawl.addon import settings_from_config

    # Always our settings module, wherever the command runs: get_project_settings() would look
    # for scrapy.cfg in the current folder and silently fall back to Scrapy's defaults.
    settings = Settings()
    settings.setmodule("monitor.crawl.settings", priority="project")
    settings.setdict(settings_from_config(config), priority="cmdline")
    settings.set("MONITOR_RUN_ID", run_id or 0, priority="cmdline")
    targets = targets or []
    if any(t.obey_robots for t in targets):  # the others opt out per request
        settings.set("ROBOTSTXT_OBEY", True, priority="cmdline")
    slots = {urlsplit(t.url).netloc: {"delay": t.delay} for t in targets if t.delay is not None}
    if slots:
        settings.set("DOWNLOAD_SLOTS", slots, priority="cmdline")
    if targets and config.jobs_dir is not None:
        settings.set("JOBDIR", str(jobdir_for(config, kind)), priority="cmdline")
    if targets:  # rendering is available to every target (sites fall back to it when needed)
        from monitor.evidence.browser import find_chromium, playwright_settings

        executable = find_chromium(config.browser.get("executable_path"))
        if executable:  # each target renders on its own lane (monitor.containment.handler)
            settings.setdict(
                playwright_settings(
                    executable, config.browser["max_pages"], config.browser["render_timeout"]
                ),
                priority="cmdline",
            )
    if log_path is not None:
        settings.set("LOG_FILE", str(log_path), priority="cmdline")
        settings.set("LOG_FILE_APPEND", True, priority="cmdline")
    return settings


def seal_evidence_heads(config, records, run_id: int) -> None:
    """The run's list of evidence-chain heads, outside the chain (monitor.evidence.heads)."""
    from monitor.evidence import EvidenceStore
    from monitor.evidence.heads import seal_run

    try:
        seal_run(records, EvidenceStore(config.evidence_dir, config.tsa_url), run_id)
    except Exception:  # noqa: BLE001 - the captures are recorded; verify reports a missing seal
        logging.getLogger(__name__).exception("Could not seal the evidence heads of run %s", run_id)


def _outcome(name: str, url: str, figures: dict) -> TargetOutcome:
    counts = {k: v for k, v in figures.items() if isinstance(v, int) and not isinstance(v, bool)}
    for key in COUNTERS:
        counts.setdefault(key, 0)
    return TargetOutcome(
        name,
        figures.get("url", url),
        bool(figures.get("crawled")),
        figures.get("reason", ""),
        counts,
        dict(figures.get("errors") or {}),
    )


def run_targets(
    config: Config,
    targets: list[Target],
    kind: str,
    on_target_done: Callable[[TargetOutcome], None] | None = None,
    on_progress: Callable[[dict], None] | None = None,
    full: bool = False,
    explain: bool = False,
) -> RunReport:
    """Crawl ``targets`` as one run; return what happened. Exit code 1 if a target failed outright."""
    from scrapy.crawler import Crawler, CrawlerProcess

    from monitor.store.db import init_db

    init_db(config.database_url)
    if kind != "nightly":
        # Only the nightly run keeps resumable job state: a one-off may run beside it.
        config = dataclasses.replace(config, jobs_dir=None)
    records = Records(config.database_url)
    if kind == "nightly":  # the caller holds the nightly lock: a nightly still "running" died
        records.fail_stale_runs("nightly")
    config.logs_dir.mkdir(parents=True, exist_ok=True)
    run_id, log_path = records.start_run(kind, config.logs_dir)
    if kind != "nightly":  # a one-off target goes into the table; nightly's come from it
        from monitor.targets import spec_row, upsert_targets

        upsert_targets(records.sessions, [spec_row(t) for t in targets], insert_only=True)

    from scrapy.utils.reactor import install_reactor, is_reactor_installed

    settings = crawler_settings(config, run_id, log_path)
    if not is_reactor_installed():  # before anything imports twisted's default reactor
        install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
    # Scrapy's HTTP handler defines deprecated aliases, each reading the source of every frame
    # on the stack (inspect.stack()): imported here, a few frames deep, rather than deep in the
    # first crawl's engine, that costs a tenth of a second less.
    import scrapy.core.downloader.handlers.http11  # noqa: F401

    process = CrawlerProcess(settings)
    from monitor.evidence.browser import find_chromium

    chromium = find_chromium(config.browser.get("executable_path"))
    by_kind: dict[str, list[Target]] = {}
    not_crawled: dict[str, dict] = {}
    for t in targets:
        if t.kind == "storefront" and chromium is None:
            not_crawled[t.name] = {
                "url": t.url,
                "crawled": False,
                "reason": "Chromium not found (install Debian's chromium or set browser.executable_path)",
            }
            continue
        by_kind.setdefault(t.kind, []).append(
            dataclasses.replace(t, render=bool(t.render and chromium))
        )
    if chromium is None and any(t.kind == "storefront" or t.render for t in targets):
        logger.warning(
            "Chromium not found: storefront targets cannot be crawled, "
            "site targets are crawled without rendering or screenshots"
        )
    if not_crawled:
        records.add_run_targets(run_id, not_crawled)

    crawlers: list[Crawler] = []
    for spider_kind, group in by_kind.items():
        spider_cls = process.spider_loader.load(spider_kind)
        settings = crawler_settings(config, run_id, log_path, group, spider_kind)
        settings.set("MONITOR_FULL", full, priority="cmdline")
        settings.set("MONITOR_KNOW_SHOP_LISTINGS", kind != "nightly", priority="cmdline")
        settings.set("MONITOR_EXPLAIN", explain, priority="cmdline")
        crawler = Crawler(spider_cls, settings)
        crawlers.append(crawler)
        process.crawl(crawler, targets=group).addErrback(
            lambda failure, k=spider_kind: logger.error("The %s crawl failed: %s", k, failure)
        )

    def report_progress() -> None:
        totals = {"targets_done": 0, "targets": len(targets)}
        for crawler in crawlers:
            stats = crawler.stats.get_stats() if crawler.stats else {}
            for name, key in COUNTERS.items():
                totals[name] = totals.get(name, 0) + int(stats.get(key, 0) or 0)
        on_progress(totals)

    ticker = None
    if on_progress is not None:
        from twisted.internet.task import LoopingCall

        ticker = LoopingCall(report_progress)
        ticker.start(1.0, now=False)
    process.start()  # returns when every crawl has finished
    if ticker is not None and ticker.running:
        ticker.stop()

    from monitor.crawl.jobstate import jobstate_for
    from monitor.crawl.stats import TargetStats

    for crawler in crawlers:
        counts = crawler.get_extension(TargetStats) if crawler.extensions else None
        state = jobstate_for(crawler) if crawler.settings.get("JOBDIR") else None
        if state is not None and counts is not None and counts.finish_reason == "finished":
            # Complete: the next run starts afresh, except where a page budget deferred pages
            # (at most a budget's worth per target: what the next night can fetch).
            default = crawler.settings.getint("MONITOR_PAGE_BUDGET", 5000)
            budgets = {t.name: t.page_budget or default for t in targets}
            state.finish(set(counts.incomplete), budgets)
        elif state is not None:
            state.close()

    seal_evidence_heads(config, records, run_id)
    run = records.close_run(run_id, [t.name for t in targets])
    figures = run.stats["targets"]
    outcomes = [_outcome(t.name, t.url, figures.get(t.name, {})) for t in targets]
    if on_target_done is not None:
        for o in outcomes:
            on_target_done(o)
    return RunReport(run_id, run.exit_code, log_path, outcomes)
