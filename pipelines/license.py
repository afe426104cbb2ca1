"""Licence display: gather what every page of a target shows about its operator, and after a
complete crawl archive it and file a license_display lead when the licence is missing, has a
credit code that cannot exist, or differs from the code registered for the target.

The lead is filed against the page it was judged on (the start page when nothing was shown
anywhere), with that page's bytes and headers as evidence. Counts: monitor/license_pages,
monitor/license_leads.
"""

from __future__ import annotations

from datetime import datetime, timezone

from scrapy import signals

from monitor import license as lic
from monitor.crawlercontext import crawler_config, crawler_records
from monitor.evidence import EvidenceStore
from monitor.evidence.artifacts import Captured, build_all
from monitor.evidence.ledger import lead_id_for
from monitor.evidence.tsa import timestamp_now
from monitor.items import LicensePage

MAX_KEPT_PAGES = 50  # pages whose bytes are kept in memory as possible evidence


class LicensePipeline:
    def __init__(self, records, store: EvidenceStore, stats, run_id: int | None, config) -> None:
        self.records = records
        self.store = store
        self.stats = stats
        self.run_id = run_id
        self.config = config
        self.pages: list = []
        self.kept: dict[str, LicensePage] = {}
        self.start: LicensePage | None = None

    @classmethod
    def from_crawler(cls, crawler):
        config = crawler_config(crawler)
        pipeline = cls(
            crawler_records(crawler),
            EvidenceStore(config.evidence_dir, config.tsa_url),
            crawler.stats,
            crawler.settings.getint("MONITOR_RUN_ID") or None,
            config,
        )
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def process_item(self, item, spider=None):
        if not isinstance(item, LicensePage):
            return item
        self.stats.inc_value("monitor/license_pages")
        if item.start:
            self.start = item
        if item.info.found:
            self.pages.append(item.info)
            if len(self.kept) < MAX_KEPT_PAGES:
                self.kept[item.url] = item
        return item

    def spider_closed(self, spider, reason: str) -> None:
        if reason != "finished" or self.start is None:
            return  # a partial crawl proves nothing about what the site shows
        target = self.start.target
        known = self.config.target(target)
        registered = (known.credit_code if known else None) or self.records.target_registered_code(
            target
        )
        verdict = lic.judge(self.pages, registered, self.start.url)
        target_id = self.records.ensure_target(
            target, known.url if known else self.start.url, known.kind if known else "site"
        )
        phone = next((p.phone for p in self.pages if p.phone), None)
        address = next((p.address for p in self.pages if p.address), None)
        self.records.archive_entity(
            target_id, self.run_id, verdict, phone, address, [p.url for p in self.pages][:20]
        )
        page_url = verdict.problems[0][1] if verdict.problems else self.start.url
        page = self.kept.get(page_url) or self.start
        lead_url = f"{page.url}#{lic.CATEGORY}"
        now = datetime.now(timezone.utc)
        if not verdict.problems:
            if self.records.open_lead(
                lead_url
            ):  # shown properly now: the licence lead is rectified
                self.records.save_listing(
                    target_id=target_id,
                    url=lead_url,
                    title=f"{lic.LABEL}：{target}",
                    text="营业执照信息公示正常",
                    price=None,
                    status=page.status,
                    seen_at=now,
                    categories=[],
                    hits=[],
                    run_id=self.run_id,
                )
            return
        text = "\n".join(p for p, _ in verdict.problems)
        hits, pos = [], 0
        for problem, url in verdict.problems:
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
            notes={"license_display": [p for p, _ in verdict.problems]},
            listing_url=lead_url,
            target=target,
            lead_id=lead_id_for(self.records, lead_url),
        )
        stamped = timestamp_now(self.store, manifest.sha256)
        self.records.save_listing(
            target_id=target_id,
            url=lead_url,
            title=f"{lic.LABEL}：{target}",
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
        self.stats.inc_value("monitor/license_leads")
