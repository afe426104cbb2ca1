"""What Scrapy components share: the configuration and records a crawler was started with.

The configuration is in the crawler's settings (MONITOR_*, written once by monitor.crawl.addon);
components call these instead of loading config.yaml again. One Records (one session
factory, one engine) per database in a process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from monitor.config import Config
from monitor.store.records import Records


def crawler_config(crawler) -> Config:
    """The configuration as the crawler's settings hold it (targets live in the database)."""
    s = crawler.settings
    return Config(
        path=Path(s.get("MONITOR_CONFIG")) if s.get("MONITOR_CONFIG") else None,
        database_url=s.get("MONITOR_DATABASE_URL"),
        evidence_dir=Path(s.get("MONITOR_EVIDENCE_DIR")),
        lexicon_dir=Path(s.get("MONITOR_LEXICON_DIR")),
        logs_dir=Path(s.get("MONITOR_LOGS_DIR")),
        jobs_dir=Path(s.get("MONITOR_JOBS_DIR")) if s.get("MONITOR_JOBS_DIR") else None,
        screenshots=s.getbool("MONITOR_SCREENSHOTS", True),
        tsa_url=s.get("MONITOR_TSA_URL") or None,
        tsa_ca_file=Path(s.get("MONITOR_TSA_CA_FILE")) if s.get("MONITOR_TSA_CA_FILE") else None,
        operator=s.get("MONITOR_OPERATOR") or None,
        crawl=dict(s.getdict("MONITOR_CRAWL")),
        browser=dict(s.getdict("MONITOR_BROWSER")),
        platforms=dict(s.getdict("MONITOR_PLATFORMS")),
    )


@lru_cache(maxsize=8)
def records_for(database_url: str) -> Records:
    return Records(database_url)


def crawler_records(crawler) -> Records:
    return records_for(crawler.settings.get("MONITOR_DATABASE_URL"))


def crawler_evidence_store(crawler):
    """The crawler's evidence store, shared by the evidence pipeline (which writes captures)
    and the store pipeline (which syncs them in batches before recording their rows): deferred,
    so files are synced a batch at a time (monitor.evidence.store)."""
    store = getattr(crawler, "_monitor_evidence_store", None)
    if store is None:
        from monitor.evidence import EvidenceStore

        config = crawler_config(crawler)
        store = EvidenceStore(config.evidence_dir, config.tsa_url, deferred=True)
        crawler._monitor_evidence_store = store
    return store
