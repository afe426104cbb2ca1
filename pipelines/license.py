"""Licence display: gather what every page of a target shows about its operator, and after a
complete crawl archive it and file a license_display lead when the licence is missing, has a
credit code that cannot exist, or differs from the code registered for the target.

One lead per target and kind of problem (keyed by the target's URL, not by the page), updated
when seen again and rectified when the footer is fixed; its evidence is the page the problem
was judged on (the start page when nothing was shown anywhere). Counts: monitor/license_pages,
monitor/license_leads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from scrapy import signals
from sqlalchemy.exc import SQLAlchemyError

from monitor import license as lic
from monitor.crawlercontext import crawler_config, crawler_records
from monitor.evidence import EvidenceStore
from monitor.evidence.artifacts import Captured, build_all
from monitor.evidence.ledger import lead_id_for
from monitor.evidence.tsa import timestamp_now
from monitor.items import LicensePage
from monitor.stats import TargetStats
from monitor.store.records import content_hash

logger = logging.getLogger(__name__)

MAX_KEPT_PAGES = 5  # pages per target whose bytes are kept in memory as possible evidence
KEY_SEPARATOR = "#license_display-"


def problem_kind(problem: str) -> str:
    """The kind of a licence problem, which (with the target) keys its lead."""
    if problem.startswith("未公示"):
        return "missing"
    if problem.startswith("公示的统一社会信用代码"):
        return "code_mismatch"
    if problem.startswith("统一社会信用代码"):
        return "invalid_code"
    if problem.startswith("ICP"):
        return "icp"
    return "other"


def license_lead_url(target_url: str, kind: str) -> str:
    """The lead's key: the target and the kind of problem, never the page it was judged on
    (that changes with crawl order, and would file a new lead every night)."""
    return f"{target_url.split('#', 1)[0]}{KEY_SEPARATOR}{kind}"


@dataclass
class Findings:
    """What one target's pages showed in this crawl."""

    pages: list = field(default_factory=list)
    kept: dict[str, LicensePage] = field(default_factory=dict)
    start: LicensePage | None = None


class LicensePipeline:
    def __init__(self, records, store: EvidenceStore, stats, run_id: int | None) -> None:
        self.records = records
        self.store = store
        self.stats = stats
        self.run_id = run_id
        self.findings: dict[str, Findings] = {}

    @classmethod
    def from_crawler(cls, crawler):
        config = crawler_config(crawler)
        pipeline = cls(
            crawler_records(crawler),
            EvidenceStore(config.evidence_dir, config.tsa_url),
            TargetStats.of(crawler),
            crawler.settings.getint("MONITOR_RUN_ID") or None,
        )
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        pipeline.settings = crawler.settings
        return pipeline

    def process_item(self, item, spider=None):
        if not isinstance(item, LicensePage):
            return item
        self.stats.inc(item.target, "monitor/license_pages")
        found = self.findings.setdefault(item.target, Findings())
        if item.start:
            found.start = item
        if item.info.found:
            found.pages.append(item.info)
            if len(found.kept) < MAX_KEPT_PAGES:
                found.kept[item.url] = item
        return item

    def spider_closed(self, spider, reason: str) -> None:
        self.stats.finish_reason = reason
        if self.stats.distributed:  # judged by the coordinator once every worker has reported
            from monitor.distributed.license import push_findings

            push_findings(self.settings, self.findings)
            self.findings.clear()
            return
        for target, found in self.findings.items():
            if found.start is None or not self.stats.complete(target):
                continue  # a partial crawl proves nothing about what the site shows
            try:
                self.judge(target, found)
            except (OSError, SQLAlchemyError) as exc:
                logger.error("Licence findings of %s not recorded: %s", target, exc)
                self.stats.fail(target, f"recording licence findings failed ({type(exc).__name__})")
        self.findings.clear()

    def judge(self, target: str, found: Findings) -> None:
        self.start, self.kept, self.pages = found.start, found.kept, found.pages
        known = self.records.target_by_name(target)
        registered = known.credit_code if known else None
        verdict = lic.judge(self.pages, registered, self.start.url)
        target_id = known.id if known else self.records.ensure_target(target, self.start.url)
        phone = next((p.phone for p in self.pages if p.phone), None)
        address = next((p.address for p in self.pages if p.address), None)
        self.records.archive_entity(
            target_id, self.run_id, verdict, phone, address, [p.url for p in self.pages][:20]
        )
        now = datetime.now(timezone.utc)
        findings: dict[str, list[tuple[str, str | None]]] = {}
        for problem, url in verdict.problems:
            findings.setdefault(problem_kind(problem), []).append((problem, url))
        base = known.url if known else self.start.url
        for url in self.records.open_license_leads(target_id):
            if url.rsplit(KEY_SEPARATOR, 1)[-1] not in findings:
                # shown properly now: this licence lead is rectified
                self.records.save_listing(
                    target_id=target_id,
                    url=url,
                    title=f"{lic.LABEL}：{target}",
                    text="营业执照信息公示正常",
                    price=None,
                    status=self.start.status,
                    seen_at=now,
                    categories=[],
                    hits=[],
                    run_id=self.run_id,
                )
                self.stats.inc(target, "monitor/leads_rectified")
        for kind, problems in findings.items():
            self.file_lead(target, target_id, license_lead_url(base, kind), problems, now)

    def file_lead(self, target: str, target_id: int, lead_url: str, problems, now) -> None:
        """One lead per target and kind of problem: the same finding next night updates it (no new
        capture when nothing changed); a new wording of the problem adds a capture."""
        title = f"{lic.LABEL}：{target}"
        text = "\n".join(p for p, _ in problems)
        if self.records.open_lead(lead_url) and self.records.listing_hash(lead_url) == (
            content_hash(title, text, None)
        ):
            self.stats.inc(target, "monitor/license_unchanged")
            return
        page = self.kept.get(problems[0][1]) or self.start
        hits, pos = [], 0
        for problem, url in problems:
            hits.append(
                {
                    "term": problem.split("：")[0][:40],
                    "category": lic.CATEGORY,
                    "field": "text",
                    "start": pos,
                    "end": pos + len(problem),
                    "snippet": problem,
                    "rule": lic.LEGAL_BASIS,
                    "page": url,
                }
            )
            pos += len(problem) + 1
        with self.store.chain_lock(lead_url):  # another writer may be extending this chain
            previous = self.records.previous_manifest(lead_url)
            manifest = self.store.capture(
                url=page.url,
                final_url=page.url,
                status=page.status,
                headers=page.headers,
                fetched_at=page.fetched_at,
                artifacts=build_all(
                    Captured(
                        url=page.url,
                        status=page.status,
                        headers=page.headers,
                        fetched_at=page.fetched_at,
                        raw_body=page.raw_body,
                    )
                ),
                previous_sha256=previous,
                notes={"license_display": [p for p, _ in problems]},
                listing_url=lead_url,
                target=target,
                lead_id=lead_id_for(self.records, lead_url),
            )
            stamped = timestamp_now(self.store, manifest.sha256)
            result = self.records.save_listing(
                target_id=target_id,
                url=lead_url,
                title=title,
                text=text,
                price=None,
                status=page.status,
                seen_at=now,
                categories=[lic.CATEGORY],
                hits=hits,
                manifest_path=str(manifest.path),
                manifest_sha256=manifest.sha256,
                previous_sha256=previous,
                run_id=self.run_id,
                timestamp_status=stamped,
            )
        if result.lead_created or result.lead_updated:
            self.stats.inc(target, "monitor/license_leads")
