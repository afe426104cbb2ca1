"""The records (SQLAlchemy 2.x): targets, runs, listings, leads and their evidence.

Times are stored as UTC. SQLite keeps no time zone, so :class:`UTCDateTime` stores naive UTC
and hands back aware datetimes on both dialects; comparisons and exports never mix the two.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from monitor.store.sanitize import strip_controls

LEAD_STATUSES = ("new", "confirmed", "dismissed", "case", "rectified", "removed")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp kept in UTC on every dialect."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class CleanText(TypeDecorator):
    """Text as the web sends it, minus NUL (PostgreSQL refuses it in text: a hostile page's NUL
    must not pass for a storage failure) and the other control characters and bidi overrides
    (:func:`monitor.store.sanitize.strip_controls`: ESC and BEL would reach the console's pages and a
    terminal an analyst copies them into). Listing text is already clean when read
    (``monitor.extract.page.clean``), so hit offsets still fit; this covers every other field."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return strip_controls(value) if isinstance(value, str) else value


class Clipped(TypeDecorator):
    """A bounded text column: NUL and control characters removed (as in :class:`CleanText`)
    and the value cut to the column's length, so a long price or header from a hostile page
    is stored (cut), never refused by the database."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if not isinstance(value, str):
            return value
        value = strip_controls(value)
        return value[: self.impl.length] if self.impl.length else value


class Base(DeclarativeBase):
    @classmethod
    def as_stored(cls, values: dict) -> dict:
        """``values`` as this table's columns store them (control characters dropped, bounded
        text cut): a new observation compared with a stored row must be compared in that form,
        or a value the column changes never equals itself and is written again every night."""
        out = dict(values)
        for key, value in values.items():
            column = cls.__table__.columns.get(key)
            if column is not None and isinstance(column.type, (Clipped, CleanText)):
                out[key] = column.type.process_bind_param(value, None)
        return out


class Target(Base):
    """A shop to monitor."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text, index=True)  # targets are upserted by URL
    kind: Mapped[str] = mapped_column(String(20), default="site")
    platform: Mapped[str | None] = mapped_column(Clipped(100))
    region: Mapped[str | None] = mapped_column(Clipped(100))
    credit_code: Mapped[str | None] = mapped_column(Clipped(32))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # config.yaml's per-target crawl options: render, obey_robots, allowed_hosts, delay, page_budget
    options: Mapped[dict | None] = mapped_column(JSON)


class CrawlRun(Base):
    """One nightly or one-off run and what it counted."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # nightly | crawl | demo
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|ok|partial|failed
    exit_code: Mapped[int | None] = mapped_column(Integer)
    stats: Mapped[dict] = mapped_column(JSON, default=dict)
    log_path: Mapped[str | None] = mapped_column(Text)
    # The sealed list of evidence-chain heads this run left (a file in the evidence folder),
    # by its sha256; timestamped when a TSA is configured.
    heads_sha256: Mapped[str | None] = mapped_column(String(64))


class Listing(Base):
    """The latest known state of one listing URL."""

    __tablename__ = "listings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int | None] = mapped_column(ForeignKey("targets.id"), index=True)
    url: Mapped[str] = mapped_column(CleanText, unique=True)
    title: Mapped[str] = mapped_column(CleanText, default="")
    text: Mapped[str] = mapped_column(CleanText, default="")
    price: Mapped[str | None] = mapped_column(Clipped(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    http_status: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(Clipped(200))
    last_modified: Mapped[str | None] = mapped_column(Clipped(100))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # revisit policy: nights in a row it was found unchanged, and when it is due again
    unchanged_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_visit: Mapped[datetime | None] = mapped_column(UTCDateTime)

    target: Mapped[Target | None] = relationship()


class Lead(Base):
    """A flagged listing: what matched, and where it stands in review."""

    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), unique=True)
    categories: Mapped[list] = mapped_column(JSON, default=list)
    hits: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    # The head of the lead's evidence chain, kept outside the chain: its newest manifest's
    # sha256 and how many captures the chain holds. A cut tail, a forged newest manifest or
    # deleted evidence rows no longer agree with it.
    evidence_head: Mapped[str | None] = mapped_column(String(64))
    evidence_count: Mapped[int] = mapped_column(Integer, default=0)
    case_no: Mapped[str | None] = mapped_column(Clipped(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    listing: Mapped[Listing] = relationship()
    evidence: Mapped[list[Evidence]] = relationship(back_populates="lead", order_by="Evidence.id")
    events: Mapped[list[LeadEvent]] = relationship(back_populates="lead", order_by="LeadEvent.id")


class LeadEvent(Base):
    """The audit trail of a lead: every status change, with who and when."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewer: Mapped[str] = mapped_column(Clipped(100))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(CleanText)

    lead: Mapped[Lead] = relationship(back_populates="events")


class Evidence(Base):
    """One capture of a flagged listing: its manifest, hashed, linked to the previous one."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("manifest_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    manifest_path: Mapped[str] = mapped_column(Text)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    previous_sha256: Mapped[str | None] = mapped_column(String(64))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # RFC 3161 token beside the manifest: none (no TSA configured) | pending (the TSA failed;
    # `monitor evidence timestamp` retries) | ok
    timestamp_status: Mapped[str] = mapped_column(String(10), default="none")

    lead: Mapped[Lead] = relationship(back_populates="evidence")


class EntityRecord(Base):
    """The entity archive (主体建档): each state a target's site showed about its operator; a
    night that finds the same state again marks its row seen (``seen_at``, ``run_id``)."""

    __tablename__ = "entity_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    operator: Mapped[str | None] = mapped_column(Clipped(200))
    credit_code: Mapped[str | None] = mapped_column(Clipped(32))
    icp: Mapped[str | None] = mapped_column(Clipped(64))
    phone: Mapped[str | None] = mapped_column(Clipped(64))
    address: Mapped[str | None] = mapped_column(CleanText)
    status: Mapped[str] = mapped_column(String(20))  # ok | missing | invalid
    problems: Mapped[list] = mapped_column(JSON, default=list)
    pages: Mapped[list] = mapped_column(JSON, default=list)
