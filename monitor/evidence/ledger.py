"""The evidence rows and chain heads in the database, as the evidence commands need them.

monitor.store.records writes a capture's Evidence row and moves its lead's head in the same
transaction; this module reads them back (a lead's captures in order, every lead's head) and
keeps the per-run seal of heads and the timestamp status, so the evidence package needs no
query of its own elsewhere.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from monitor.store.models import CrawlRun, Evidence, Lead, Listing


def lead_id_for(records, listing_url: str) -> int | None:
    """The id of the lead of this listing URL, if it has one yet."""
    with records.sessions() as s:
        return s.scalar(
            select(Lead.id)
            .join(Listing, Lead.listing_id == Listing.id)
            .where(Listing.url == listing_url)
        )


def chain_of(records, listing_url: str) -> tuple[int | None, str | None]:
    """(lead id, newest recorded manifest sha256) of this listing URL, in one query: what its
    next capture names and links to (each None when there is none yet)."""
    with records.sessions() as s:
        row = s.execute(
            select(Lead.id, Evidence.manifest_sha256)
            .select_from(Listing)
            .join(Lead, Lead.listing_id == Listing.id)
            .outerjoin(Evidence, Evidence.lead_id == Lead.id)
            .where(Listing.url == listing_url)
            .order_by(Evidence.id.desc().nulls_last())
            .limit(1)
        ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def recorded_manifests(records, shas: list[str]) -> set[str]:
    """Which of these manifest sha256s are recorded as some lead's evidence."""
    out: set[str] = set()
    with records.sessions() as s:
        for i in range(0, len(shas), 500):
            out.update(
                s.scalars(
                    select(Evidence.manifest_sha256).where(
                        Evidence.manifest_sha256.in_(shas[i : i + 500])
                    )
                )
            )
    return out


def leads_with_evidence(records) -> list[Lead]:
    """Every lead with its listing, target and evidence rows (oldest capture first)."""
    with records.sessions() as s:
        return list(
            s.scalars(
                select(Lead)
                .options(
                    selectinload(Lead.listing).selectinload(Listing.target),
                    selectinload(Lead.evidence),
                )
                .order_by(Lead.id)
            )
        )


def evidence_rows(records) -> list[Evidence]:
    with records.sessions() as s:
        return list(s.scalars(select(Evidence).order_by(Evidence.lead_id, Evidence.id)))


def pending_timestamps(records, statuses: tuple[str, ...] = ("pending", "none")) -> list[Evidence]:
    """Captures without a token: pending (the TSA failed) and, by default, those made before
    a TSA was configured."""
    with records.sessions() as s:
        return list(
            s.scalars(
                select(Evidence)
                .where(Evidence.timestamp_status.in_(statuses))
                .order_by(Evidence.id)
            )
        )


def set_timestamp_status(records, evidence_id: int, status: str) -> None:
    with records.sessions.begin() as s:
        s.execute(
            update(Evidence).where(Evidence.id == evidence_id).values(timestamp_status=status)
        )


def heads_of_run(records, run_id: int) -> list[tuple[int, str, str, int]]:
    """(lead id, listing URL, head sha256, capture count) of every lead this run captured."""
    with records.sessions() as s:
        lead_ids = set(s.scalars(select(Evidence.lead_id).where(Evidence.run_id == run_id)))
        if not lead_ids:
            return []
        rows = s.execute(
            select(Lead.id, Listing.url, Lead.evidence_head, Lead.evidence_count)
            .join(Listing, Lead.listing_id == Listing.id)
            .where(Lead.id.in_(lead_ids))
            .order_by(Lead.id)
        )
        return [tuple(r) for r in rows]


def set_run_heads(records, run_id: int, sha256: str) -> None:
    with records.sessions.begin() as s:
        s.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(heads_sha256=sha256))


def runs_with_heads(records) -> list[CrawlRun]:
    with records.sessions() as s:
        return list(
            s.scalars(
                select(CrawlRun).where(CrawlRun.heads_sha256.is_not(None)).order_by(CrawlRun.id)
            )
        )
