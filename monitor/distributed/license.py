"""Licence findings of a distributed run: judged once, by the coordinator, on every page.

A licence judgement needs all of a target's pages (the licence may be shown on any one of them),
and a worker sees only some: each worker pushes its findings per target to the run's list, and
the coordinator merges them and judges each completely crawled target with the ordinary
LicensePipeline.judge_all, as one process does: 500 targets per set of queries, one entity
record and one lead per target and problem.
"""

from __future__ import annotations

import pickle

from monitor.distributed.keys import RunKeys
from monitor.distributed.scheduler import run_keys


def license_key(keys: RunKeys) -> str:
    return f"{keys.base}:license"


def push_findings(settings, findings: dict) -> None:
    """A worker's licence findings, per target, onto the run's list (requests are pickled into
    the same Redis by scrapy-redis already: it is the run's own trusted store)."""
    if not findings:
        return
    from monitor.distributed.worker import redis_for

    keys = run_keys(settings)
    server = redis_for(settings.get("MONITOR_REDIS_URL"))
    server.rpush(
        license_key(keys),
        *(
            pickle.dumps((target, found.start, found.pages, found.kept))
            for target, found in findings.items()
        ),
    )


def merged_findings(server, keys: RunKeys) -> dict:
    from pipelines.license import MAX_KEPT_PAGES, Findings

    merged: dict[str, Findings] = {}
    for raw in server.lrange(license_key(keys), 0, -1):
        target, start, pages, kept = pickle.loads(raw)  # noqa: S301 - written by our workers
        found = merged.setdefault(target, Findings())
        found.start = found.start or start
        found.pages.extend(pages)
        for url, page in kept.items():
            if len(found.kept) < MAX_KEPT_PAGES:
                found.kept.setdefault(url, page)
    return merged


def judge_all(config, records, server, keys: RunKeys, stats) -> None:
    """Judge every target whose crawl completed and whose start page was seen."""
    from scrapy.utils.misc import load_object

    from monitor.evidence import EvidenceStore

    pipeline_cls = load_object("pipelines.license.LicensePipeline")
    pipeline = pipeline_cls(records, EvidenceStore(config.evidence_dir), stats, keys.run_id)
    pipeline.judge_all(merged_findings(server, keys))
