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

from monitor.crawl.crawlercontext import crawler_config, crawler_records
from monitor.crawl.stats import TargetStats
from monitor.evidence import EvidenceStore
from monitor.evidence.artifacts import Captured, build_all
from monitor.evidence.ledger import lead_id_for
from monitor.evidence.tsa import timestamp_now
from monitor.extract import license as lic
from monitor.items import LicensePage
from monitor.store.models import EntityRecord
from monitor.store.records import REVIEWED, content_hash

logger = logging.getLogger(__name__)

BATCH = 500  # targets judged with one set of queries and one archive transaction
# lead statuses the crawler does not move on its own, or that are closed (monitor.records)
CLOSED = REVIEWED + ("rectified", "removed")
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
        findings, self.findings = self.findings, {}
        self.judge_all(findings)

    def judge_all(self, findings: dict[str, Findings]) -> None:
        """Judge every target whose crawl completed and whose start page was seen (a partial
        crawl proves nothing about what the site shows), BATCH targets at a time. A distributed
        run's coordinator calls it with every worker's findings merged."""
        judged = {
            target: found
            for target, found in findings.items()
            if found.start is not None and self.stats.complete(target)
        }
        targets = list(judged)
        for i in range(0, len(targets), BATCH):
            self.judge_batch({t: judged[t] for t in targets[i : i + BATCH]})

    def judge_batch(self, judged: dict[str, Findings]) -> None:
        """Judge many targets with a few queries and one transaction for their entity archive:
        the targets, their newest archive rows and their licence leads are read at once, and a
        target whose finding did not change writes nothing but "seen again" (most of a night)."""
        try:
            known = self.records.targets_by_name(judged)
            ids = {t: known[t].id for t in judged if t in known}
            archived = self.records.latest_entities(ids.values())
            leads = self.records.license_leads(ids.values())
        except SQLAlchemyError as exc:
            logger.error("Licence findings not recorded: %s", exc)
            for target in judged:
                self.stats.fail(target, f"recording licence findings failed ({type(exc).__name__})")
            return
        new, unchanged, judged_ok = [], [], []
        for target, found in judged.items():
            try:
                row = self._judge(target, found, known.get(target), archived, leads)
            except Exception as exc:  # noqa: BLE001 - one shop's pages must not cost the others
                stored = isinstance(exc, (OSError, SQLAlchemyError))  # else a bug: its traceback
                logger.error(
                    "Licence findings of %s not recorded: %s", target, exc, exc_info=not stored
                )
                self.stats.fail(target, f"recording licence findings failed ({type(exc).__name__})")
                continue
            judged_ok.append(target)
            if isinstance(row, int):
                unchanged.append(row)
            else:
                new.append(row)
        try:
            self.records.archive_entities(new, unchanged, self.run_id, datetime.now(timezone.utc))
        except SQLAlchemyError as exc:
            logger.error("Entity archive not recorded: %s", exc)
            for target in judged_ok:
                self.stats.fail(target, f"recording licence findings failed ({type(exc).__name__})")

    def _judge(self, target: str, found: Findings, known, archived: dict, leads: dict):
        """File, update or rectify the target's licence leads; returns its entity archive row
        (EntityRecord's columns), or the id of its newest row when that says the same."""
        self.start, self.kept, self.pages = found.start, found.kept, found.pages
        registered = known.credit_code if known else None
        verdict = lic.judge(self.pages, registered, self.start.url)
        target_id = known.id if known else self.records.ensure_target(target, self.start.url)
        now = datetime.now(timezone.utc)
        findings: dict[str, list[tuple[str, str | None]]] = {}
        for problem, url in verdict.problems:
            findings.setdefault(problem_kind(problem), []).append((problem, url))
        base = known.url if known else self.start.url
        existing = {url: (status, chash) for url, status, chash in leads.get(target_id, ())}
        for url, (status, _) in existing.items():
            if status in CLOSED or url.rsplit(KEY_SEPARATOR, 1)[-1] in findings:
                continue
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
            lead_url = license_lead_url(base, kind)
            self.file_lead(target, target_id, lead_url, problems, now, existing.get(lead_url))
        row = {
            "target_id": target_id,
            "run_id": self.run_id,
            "operator": verdict.operator,
            "credit_code": verdict.credit_code,
            "icp": verdict.icp,
            "phone": next((p.phone for p in self.pages if p.phone), None),
            "address": next((p.address for p in self.pages if p.address), None),
            "status": verdict.status,
            "problems": [p for p, _ in verdict.problems],
            # sorted: the same pages in another crawl order are the same observation
            "pages": sorted({p.url for p in self.pages})[:20],
        }
        row = EntityRecord.as_stored(row)
        last = archived.get(target_id)
        if last is not None and all(
            getattr(last, key) == value for key, value in row.items() if key != "run_id"
        ):
            return last.id
        return row

    def file_lead(
        self, target: str, target_id: int, lead_url: str, problems, now, existing=None
    ) -> None:
        """One lead per target and kind of problem: the same finding next night updates it (no new
        capture when nothing changed); a new wording of the problem adds a capture. ``existing``:
        the lead's (status, content hash), when it has one."""
        title = f"{lic.LABEL}：{target}"
        text = "\n".join(p for p, _ in problems)
        if (
            existing is not None
            and existing[0] not in CLOSED
            and existing[1] == content_hash(title, text, None)
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
