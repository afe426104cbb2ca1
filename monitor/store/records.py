"""Reading and writing the records: what the store pipeline, the CLI and the console share.

A listing URL has one Listing row and at most one Lead; seeing it again updates both and adds
an Evidence row for the new capture, never a second lead. Each call is one transaction; the
crawl writes its listings, leads and evidence rows many at a time (:meth:`Records.write_batch`,
:meth:`Records.save_clean_listings`).
"""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from monitor.crawl.revisit import next_visit
from monitor.store.db import session_factory
from monitor.store.models import (
    LEAD_STATUSES,
    CrawlRun,
    Evidence,
    Lead,
    LeadEvent,
    Listing,
    Target,
    utcnow,
)

# Licence-display findings are kept as listings keyed <target url>#license_display-<kind>.
LICENSE_KEY = "#license_display"


def upsert(session: Session, model):
    """INSERT … ON CONFLICT for the session's dialect (PostgreSQL or SQLite): several workers
    write the same records at once, and the unique constraints (listing URL, one lead per
    listing, one evidence row per manifest, target name) decide, not the order of arrival."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(model)


# Statuses a reviewer set by hand; the crawler does not move a lead out of them.
REVIEWED = ("dismissed", "case")


def content_hash(title: str, text: str, price: str | None) -> str:
    """What makes a listing 'unchanged': its title, text and price."""
    h = hashlib.sha256()
    for part in (title or "", text or "", price or ""):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


@dataclass
class SaveResult:
    listing_id: int
    lead_id: int | None
    lead_created: bool
    lead_updated: bool
    unchanged: bool


class Records:
    """The records of one database."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.sessions = session_factory(database_url)

    # -- targets and runs ------------------------------------------------------------------

    def ensure_target(self, name: str, url: str, kind: str = "site", **extra) -> int:
        with self.sessions.begin() as s:
            s.execute(
                upsert(s, Target)
                .values(name=name, url=url, kind=kind, enabled=True, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            target = s.scalar(select(Target).where(Target.name == name).with_for_update())
            target.url, target.kind = url, kind
            for key, value in extra.items():
                if value is not None:
                    setattr(target, key, value)
            s.flush()
            return target.id

    def start_run(self, kind: str, logs_dir: Path | None = None) -> tuple[int, Path | None]:
        """A new running CrawlRun; its log file is logs_dir/run-ID.log. Returns (id, log path)."""
        with self.sessions.begin() as s:
            run = CrawlRun(kind=kind, status="running", stats={})
            s.add(run)
            s.flush()
            log_path = logs_dir / f"run-{run.id}.log" if logs_dir is not None else None
            run.log_path = str(log_path) if log_path else None
            return run.id, log_path

    def finish_run(self, run_id: int, status: str, exit_code: int, stats: dict) -> None:
        with self.sessions.begin() as s:
            run = s.get(CrawlRun, run_id)
            run.status, run.exit_code, run.stats, run.finished_at = (
                status,
                exit_code,
                stats,
                utcnow(),
            )

    def fail_stale_runs(self, kind: str) -> int:
        """Runs of ``kind`` still marked running: the caller holds the lock for that kind, so
        they died (killed, power cut, database lost) and are marked failed."""
        with self.sessions.begin() as s:
            stale = list(
                s.scalars(
                    select(CrawlRun).where(CrawlRun.kind == kind, CrawlRun.status == "running")
                )
            )
            for run in stale:
                run.status, run.exit_code, run.finished_at = "failed", -1, utcnow()
                run.stats = {**(run.stats or {}), "reason": "the run died before it finished"}
            return len(stale)

    def add_run_targets(self, run_id: int, targets: dict[str, dict]) -> None:
        """Merge per-target figures and outcomes into the run's stats (one crawl may be one of
        several in a run: site and storefront targets are crawled by their own spiders)."""
        with self.sessions.begin() as s:
            run = s.get(CrawlRun, run_id)
            stats = dict(run.stats or {})
            stats["targets"] = {**stats.get("targets", {}), **targets}
            run.stats = stats

    def close_run(self, run_id: int, expected: list[str] | None = None) -> CrawlRun:
        """Totals, errors, status and exit code from the per-target figures; a target that was
        expected but never reported is not crawled. Exit 1 when any target was not crawled."""
        with self.sessions.begin() as s:
            run = s.get(CrawlRun, run_id)
            targets = dict((run.stats or {}).get("targets", {}))
            for name in expected or []:
                targets.setdefault(
                    name, {"crawled": False, "reason": "the crawl stopped before this target"}
                )
            totals: dict[str, int] = {}
            errors: dict[str, int] = {}
            for figures in targets.values():
                for key, value in figures.items():
                    if isinstance(value, int) and not isinstance(value, bool):
                        totals[key] = totals.get(key, 0) + value
                for key, value in (figures.get("errors") or {}).items():
                    errors[key] = errors.get(key, 0) + value
            crawled = [bool(t.get("crawled")) for t in targets.values()]
            exit_code = 0 if all(crawled) else 1
            run.status = "ok" if all(crawled) else ("partial" if any(crawled) else "failed")
            run.exit_code, run.finished_at = exit_code, utcnow()
            run.stats = {"totals": totals, "errors": errors, "targets": targets}
            return run

    def runs(self, limit: int = 20) -> list[CrawlRun]:
        with self.sessions() as s:
            return list(s.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)))

    def run(self, run_id: int) -> CrawlRun | None:
        with self.sessions() as s:
            return s.get(CrawlRun, run_id)

    # -- listings and leads ---------------------------------------------------------------

    def previous_manifest(self, url: str) -> str | None:
        """The newest manifest sha256 captured for this listing URL, to chain the next one to."""
        with self.sessions() as s:
            return s.scalar(
                select(Evidence.manifest_sha256)
                .join(Lead, Evidence.lead_id == Lead.id)
                .join(Listing, Lead.listing_id == Listing.id)
                .where(Listing.url == url)
                .order_by(Evidence.id.desc())
                .limit(1)
            )

    @contextmanager
    def _transaction(self, session: Session | None) -> Iterator[Session]:
        """``session`` (a batch's transaction) when given, else a transaction of its own."""
        if session is not None:
            yield session
            return
        with self.sessions.begin() as s:
            yield s

    def save_listing(
        self,
        *,
        target_id: int | None,
        url: str,
        title: str,
        text: str,
        price: str | None,
        status: int | None,
        seen_at: datetime,
        categories: list[str],
        hits: list[dict],
        manifest_path: str | None = None,
        manifest_sha256: str | None = None,
        previous_sha256: str | None = None,
        run_id: int | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        timestamp_status: str = "none",
        session: Session | None = None,
    ) -> SaveResult:
        """Record one crawled listing and, when flagged, its lead and evidence.

        A lead seen again without its violation becomes rectified (with the evidence of the
        clean page); one whose violation comes back reopens. Leads a reviewer dismissed or
        turned into a case keep their status. In ``session``'s transaction when given (a batch,
        :meth:`write_batch`), else in one of its own."""
        with self._transaction(session) as s:
            chash = content_hash(title, text, price)
            # another worker may be writing the same listing: the row is locked while it is
            # judged and written, and created by an upsert (the URL is unique)
            listing = s.scalar(select(Listing).where(Listing.url == url).with_for_update())
            unchanged = listing is not None and listing.content_hash == chash
            if listing is None:
                s.execute(
                    upsert(s, Listing)
                    .values(
                        url=url,
                        target_id=target_id,
                        first_seen=seen_at,
                        last_seen=seen_at,
                        title=title,
                        text=text,
                        content_hash="",
                        unchanged_streak=0,
                    )
                    .on_conflict_do_nothing(index_elements=["url"])
                )
                listing = s.scalar(select(Listing).where(Listing.url == url).with_for_update())
                unchanged = listing.content_hash == chash
            listing.title, listing.text, listing.price = title, text, price
            listing.content_hash, listing.http_status, listing.last_seen = chash, status, seen_at
            listing.etag, listing.last_modified = etag, last_modified
            if not unchanged:  # changed or new: due again next night (see monitor.crawl.revisit)
                listing.unchanged_streak, listing.next_visit = 0, next_visit(seen_at, 1, 7)
            if target_id is not None:
                listing.target_id = target_id
            s.flush()
            lead = s.scalar(select(Lead).where(Lead.listing_id == listing.id))
            created = updated = False
            if categories:
                if lead is None:
                    created = bool(
                        s.execute(
                            upsert(s, Lead)
                            .values(
                                listing_id=listing.id,
                                first_seen=seen_at,
                                last_seen=seen_at,
                                updated_at=utcnow(),
                                status="new",
                                categories=categories,
                                hits=hits,
                            )
                            .on_conflict_do_nothing(index_elements=["listing_id"])
                        ).rowcount
                    )
                    lead = s.scalar(select(Lead).where(Lead.listing_id == listing.id))
                    updated = not created
                else:
                    updated = True
                    if lead.status in ("rectified", "removed"):
                        self._event(s, lead, "new", "system", "违规内容再次出现，线索重新打开")
                        lead.status = "new"
                lead.categories, lead.hits = categories, hits
                lead.last_seen, lead.updated_at = seen_at, utcnow()
            elif lead is not None and lead.status not in REVIEWED + ("rectified", "removed"):
                self._event(s, lead, "rectified", "system", "再次抓取时未发现违规内容")
                lead.status, lead.updated_at = "rectified", utcnow()
                updated = True
            if lead is not None:  # a listing with a lead is watched every night
                listing.next_visit = None
                s.flush()
                self._add_evidence(
                    s,
                    lead,
                    manifest_path,
                    manifest_sha256,
                    previous_sha256,
                    run_id,
                    seen_at,
                    timestamp_status,
                )
            return SaveResult(listing.id, lead.id if lead else None, created, updated, unchanged)

    def write_batch(self, writes: list[tuple[str, dict]]) -> list:
        """Many writes in one transaction: ("listing", save_listing's arguments) for a crawled
        listing with its lead and evidence, ("removed", mark_removed's) for a gone one. Returns
        each one's result (SaveResult, or the removed lead's id) in the order given.

        Written in URL order, so writers sharing one PostgreSQL lock listing rows in the same
        order and never deadlock each other; the sort is stable, so several captures of one
        listing in a batch keep their order, and their evidence rows (and the lead's chain head
        and count) follow the manifests' chain. All or nothing: a failure rolls the batch back."""
        order = sorted(range(len(writes)), key=lambda k: writes[k][1]["url"])
        results: list = [None] * len(writes)
        with self.sessions.begin() as s:
            for k in order:
                kind, values = writes[k]
                if kind == "listing":
                    results[k] = self.save_listing(**values, session=s)
                elif kind == "removed":
                    results[k] = self.mark_removed(**values, session=s)
                else:
                    raise ValueError(f"unknown write {kind!r}")
        return results

    def save_clean_listings(self, rows: list[dict]) -> list[dict]:
        """Record many clean (unflagged) listings in one transaction: new ones inserted, known
        ones updated in bulk. A row whose listing has a lead is returned untouched: it goes
        through :meth:`save_listing` (rectification needs its lead and evidence)."""
        if not rows:
            return []
        with self.sessions.begin() as s:
            urls = [r["url"] for r in rows]
            known: dict[str, tuple[int, bool, str]] = {}
            for i in range(0, len(urls), 500):
                for listing_id, url, lead_id, chash in s.execute(
                    select(Listing.id, Listing.url, Lead.id, Listing.content_hash)
                    .outerjoin(Lead, Lead.listing_id == Listing.id)
                    .where(Listing.url.in_(urls[i : i + 500]))
                ):
                    known[url] = (listing_id, lead_id is not None, chash)
            inserts, updates, with_lead, batch_urls = [], [], [], set()
            for r in rows:
                if r["url"] in batch_urls:
                    continue  # the same URL twice in a batch: the first stands for tonight
                batch_urls.add(r["url"])
                chash = content_hash(r["title"], r["text"], r["price"])
                values = {
                    "url": r["url"],
                    "target_id": r["target_id"],
                    "title": r["title"],
                    "text": r["text"],
                    "price": r["price"],
                    "content_hash": chash,
                    "http_status": r["status"],
                    "last_seen": r["seen_at"],
                    "etag": r.get("etag"),
                    "last_modified": r.get("last_modified"),
                    "unchanged_streak": 0,
                    "next_visit": next_visit(r["seen_at"], 1, 7),
                }
                if r["url"] not in known:
                    inserts.append({**values, "first_seen": r["seen_at"]})
                elif known[r["url"]][1]:
                    with_lead.append(r)
                else:
                    updates.append({"id": known[r["url"]][0], **values})
            if inserts:  # a listing another worker has just inserted is updated instead
                stmt = upsert(s, Listing)
                s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["url"],
                        set_={k: stmt.excluded[k] for k in inserts[0] if k != "first_seen"},
                    ),
                    inserts,
                )
            if updates:
                s.execute(update(Listing), updates)
        return with_lead

    @staticmethod
    def _add_evidence(
        s: Session,
        lead: Lead,
        path: str | None,
        sha: str | None,
        previous: str | None,
        run_id: int | None,
        at: datetime,
        timestamp_status: str = "none",
    ) -> None:
        if sha:
            s.execute(
                upsert(s, Evidence)
                .values(
                    lead_id=lead.id,
                    run_id=run_id,
                    manifest_path=path,
                    manifest_sha256=sha,
                    previous_sha256=previous,
                    captured_at=at,
                    timestamp_status=timestamp_status,
                )
                .on_conflict_do_nothing(index_elements=["manifest_sha256"])
            )
            # the chain's head, kept outside the chain (see monitor.evidence.heads)
            lead.evidence_head = sha
            lead.evidence_count = (lead.evidence_count or 0) + 1

    def open_lead(self, url: str) -> bool:
        """Whether this listing URL has a lead the crawler may still move (not reviewed away)."""
        with self.sessions() as s:
            status = s.scalar(
                select(Lead.status)
                .join(Listing, Lead.listing_id == Listing.id)
                .where(Listing.url == url)
            )
        return status is not None and status not in REVIEWED + ("rectified", "removed")

    def known_listings(
        self, target_names
    ) -> Iterator[tuple[str, str, str, str | None, str | None, datetime | None]]:
        """(target name, url, content hash, etag, last_modified, next visit) of the targets'
        stored listings, read 500 targets per query: what a crawl knows of its listings before it
        starts (see monitor.crawl.revisit.KnownListings)."""
        names = [target_names] if isinstance(target_names, str) else list(target_names)
        with self.sessions() as s:
            for i in range(0, len(names), 500):
                yield from s.execute(
                    select(
                        Target.name,
                        Listing.url,
                        Listing.content_hash,
                        Listing.etag,
                        Listing.last_modified,
                        Listing.next_visit,
                    )
                    .join(Target, Listing.target_id == Target.id)
                    .where(Target.name.in_(names[i : i + 500]))
                )

    def targets_on(self, prefixes) -> list[tuple[str, str]]:
        """(name, url) of the targets whose URL starts with one of ``prefixes`` (``scheme://host``,
        any case), 100 prefixes per query: the targets table is scanned in the database, not
        read whole (173,000 rows for a province)."""
        prefixes = sorted({p.lower() for p in prefixes})
        url = func.lower(Target.url)
        with self.sessions() as s:
            return [
                row
                for i in range(0, len(prefixes), 100)
                for row in s.execute(
                    select(Target.name, Target.url).where(
                        or_(*(url.startswith(p, autoescape=True) for p in prefixes[i : i + 100]))
                    )
                )
            ]

    def mark_unchanged(self, urls: list[str], seen_at: datetime, max_days: float) -> None:
        """Listings fetched and found unchanged (or 304): seen now, and due again later the
        longer they stay unchanged; one with a lead stays due every night."""
        if not urls:
            return
        with self.sessions.begin() as s:
            updates = []
            for i in range(0, len(urls), 500):
                rows = s.execute(
                    select(Listing.id, Listing.unchanged_streak, Lead.status)
                    .outerjoin(Lead, Lead.listing_id == Listing.id)
                    .where(Listing.url.in_(urls[i : i + 500]))
                )
                for listing_id, streak, status in rows:
                    watched = status is not None  # a listing with a lead: every night
                    streak = (streak or 0) + 1
                    updates.append(
                        {
                            "id": listing_id,
                            "unchanged_streak": streak,
                            "last_seen": seen_at,
                            "next_visit": None
                            if watched
                            else next_visit(seen_at, streak, max_days),
                        }
                    )
            if updates:
                s.execute(update(Listing), updates)

    def mark_removed(
        self,
        url: str,
        status: int | None,
        seen_at: datetime,
        manifest_path: str | None = None,
        manifest_sha256: str | None = None,
        previous_sha256: str | None = None,
        run_id: int | None = None,
        note: str | None = None,
        timestamp_status: str = "none",
        session: Session | None = None,
    ) -> int | None:
        """A flagged listing that is gone (404/410, or no longer in its shop): its lead becomes
        removed. Returns the lead's id, or None when there was nothing to mark. In ``session``'s
        transaction when given (a batch, :meth:`write_batch`), else in one of its own."""
        with self._transaction(session) as s:
            listing = s.scalar(select(Listing).where(Listing.url == url))
            if listing is None:
                return None
            if status is not None:
                listing.http_status = status
            lead = s.scalar(select(Lead).where(Lead.listing_id == listing.id))
            if lead is None or lead.status in REVIEWED + ("removed",):
                return None
            self._event(s, lead, "removed", "system", note or f"商品页已下架（HTTP {status}）")
            lead.status, lead.updated_at = "removed", utcnow()
            self._add_evidence(
                s,
                lead,
                manifest_path,
                manifest_sha256,
                previous_sha256,
                run_id,
                seen_at,
                timestamp_status,
            )
            return lead.id

    def target_by_name(self, name: str) -> Target | None:
        with self.sessions() as s:
            return s.scalar(select(Target).where(Target.name == name))

    def targets_by_name(self, names) -> dict[str, Target]:
        """{name: Target} of the named targets that exist, in one query per 500 names."""
        names = list(names)
        out: dict[str, Target] = {}
        with self.sessions() as s:
            for i in range(0, len(names), 500):
                out.update(
                    (t.name, t)
                    for t in s.scalars(select(Target).where(Target.name.in_(names[i : i + 500])))
                )
        return out

    def latest_entities(self, target_ids) -> dict[int, object]:
        """{target id: its newest entity record} for the given targets (one query per 500)."""
        from sqlalchemy import func

        from monitor.store.models import EntityRecord

        ids = list(target_ids)
        out: dict[int, object] = {}
        with self.sessions() as s:
            for i in range(0, len(ids), 500):
                newest = (
                    select(func.max(EntityRecord.id))
                    .where(EntityRecord.target_id.in_(ids[i : i + 500]))
                    .group_by(EntityRecord.target_id)
                )
                out.update(
                    (e.target_id, e)
                    for e in s.scalars(select(EntityRecord).where(EntityRecord.id.in_(newest)))
                )
        return out

    def archive_entities(
        self, new: list[dict], unchanged: list[int], run_id: int | None, seen_at: datetime
    ) -> None:
        """The entity archive of a crawl in one transaction: a row for each target whose site
        shows something new about its operator (``new``: EntityRecord's columns), and for each
        one that shows what its newest row already says (``unchanged``: those rows' ids), that
        row is marked seen again (``seen_at``, ``run_id``: the last run that observed it). So
        the archive keeps every state a site showed, and when it was last checked, without a
        row per target every night."""
        from monitor.store.models import EntityRecord

        with self.sessions.begin() as s:
            if new:
                s.execute(insert(EntityRecord), [{**row, "seen_at": seen_at} for row in new])
            for i in range(0, len(unchanged), 500):
                s.execute(
                    update(EntityRecord)
                    .where(EntityRecord.id.in_(unchanged[i : i + 500]))
                    .values(seen_at=seen_at, run_id=run_id)
                )

    def license_leads(self, target_ids) -> dict[int, list[tuple[str, str, str]]]:
        """{target id: [(key, lead status, content hash)]} of the targets' licence-display
        leads, whatever their status (one query per 500 targets)."""
        ids = list(target_ids)
        out: dict[int, list[tuple[str, str, str]]] = {}
        with self.sessions() as s:
            for i in range(0, len(ids), 500):
                rows = s.execute(
                    select(Listing.target_id, Listing.url, Lead.status, Listing.content_hash)
                    .join(Lead, Lead.listing_id == Listing.id)
                    .where(Listing.target_id.in_(ids[i : i + 500]))
                    .where(Listing.url.contains(LICENSE_KEY))
                )
                for target_id, url, status, chash in rows:
                    out.setdefault(target_id, []).append((url, status, chash))
        return out

    def archive_entity(
        self,
        target_id: int,
        run_id: int | None,
        verdict,
        phone: str | None,
        address: str | None,
        pages: list[str],
    ) -> None:
        from monitor.store.models import EntityRecord

        with self.sessions.begin() as s:
            s.add(
                EntityRecord(
                    target_id=target_id,
                    run_id=run_id,
                    operator=verdict.operator,
                    credit_code=verdict.credit_code,
                    icp=verdict.icp,
                    phone=phone,
                    address=address,
                    status=verdict.status,
                    problems=[p for p, _ in verdict.problems],
                    pages=pages,
                )
            )

    def targets_with_entities(self) -> list[tuple]:
        """(target, latest entity record or None) for every target."""
        from monitor.store.models import EntityRecord

        with self.sessions() as s:
            out = []
            for target in s.scalars(select(Target).order_by(Target.id)):
                latest = s.scalar(
                    select(EntityRecord)
                    .where(EntityRecord.target_id == target.id)
                    .order_by(EntityRecord.id.desc())
                    .limit(1)
                )
                out.append((target, latest))
            return out

    def open_license_leads(self, target_id: int) -> list[str]:
        """Keys of the target's licence-display leads that are still open."""
        with self.sessions() as s:
            rows = s.execute(
                select(Listing.url, Lead.status)
                .join(Lead, Lead.listing_id == Listing.id)
                .where(Listing.target_id == target_id)
                .where(Listing.url.contains(LICENSE_KEY))
            )
            return [
                url for url, status in rows if status not in REVIEWED + ("rectified", "removed")
            ]

    def open_leads_of(self, target_names) -> dict[str, list[str]]:
        """{target name: URLs of its listings with an open lead} (licence findings excluded),
        one query per 500 targets: what :meth:`missing_listings` checks, for many targets."""
        names = list(target_names)
        out: dict[str, list[str]] = {}
        with self.sessions() as s:
            for i in range(0, len(names), 500):
                rows = s.execute(
                    select(Target.name, Listing.url, Lead.status)
                    .join(Lead, Lead.listing_id == Listing.id)
                    .join(Target, Listing.target_id == Target.id)
                    .where(Target.name.in_(names[i : i + 500]))
                    .where(Listing.url.not_like(f"%{LICENSE_KEY}%"))
                )
                for name, url, status in rows:
                    if status not in REVIEWED + ("rectified", "removed"):
                        out.setdefault(name, []).append(url)
        return out

    def missing_listings(self, target_name: str, seen: set[str]) -> list[str]:
        """URLs of the target's listings with an open lead that a complete crawl did not see.
        Licence findings are not listings: they are judged by the licence pipeline."""
        with self.sessions() as s:
            rows = s.execute(
                select(Listing.url, Lead.status)
                .join(Lead, Lead.listing_id == Listing.id)
                .join(Target, Listing.target_id == Target.id)
                .where(Target.name == target_name)
                .where(Listing.url.not_like(f"%{LICENSE_KEY}%"))
            )
            return [
                url
                for url, status in rows
                if url not in seen and status not in REVIEWED + ("rectified", "removed")
            ]

    @staticmethod
    def _event(s: Session, lead: Lead, to_status: str, reviewer: str, note: str | None) -> None:
        s.add(
            LeadEvent(
                lead_id=lead.id,
                reviewer=reviewer,
                from_status=lead.status,
                to_status=to_status,
                note=note,
            )
        )

    def set_status(
        self,
        lead_id: int,
        status: str,
        *,
        case_no: str | None = None,
        note: str | None = None,
        reviewer: str | None = None,
    ) -> Lead:
        if status not in LEAD_STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(LEAD_STATUSES)})")
        if status == "case" and not case_no:
            raise ValueError("status case needs --case-no")
        with self.sessions.begin() as s:
            lead = s.get(Lead, lead_id)
            if lead is None:
                raise LookupError(f"no lead {lead_id}")
            self._event(s, lead, status, reviewer or getpass.getuser(), note)
            lead.status, lead.updated_at = status, utcnow()
            if case_no:
                lead.case_no = case_no
            return lead

    def leads(self, status: str | None = None, category: str | None = None) -> list[Lead]:
        with self.sessions() as s:
            q = (
                select(Lead)
                .options(
                    selectinload(Lead.listing).selectinload(Listing.target),
                    selectinload(Lead.evidence),
                    selectinload(Lead.events),
                )
                .order_by(Lead.id)
            )
            if status:
                q = q.where(Lead.status == status)
            leads = list(s.scalars(q))
        if category:
            leads = [lead for lead in leads if category in (lead.categories or [])]
        return leads

    def lead(self, lead_id: int) -> Lead | None:
        with self.sessions() as s:
            return s.scalar(
                select(Lead)
                .where(Lead.id == lead_id)
                .options(
                    selectinload(Lead.listing).selectinload(Listing.target),
                    selectinload(Lead.evidence),
                    selectinload(Lead.events),
                )
            )

    def evidence(self) -> Iterator[Evidence]:
        with self.sessions() as s:
            yield from s.scalars(select(Evidence).order_by(Evidence.lead_id, Evidence.id))
