"""Which leads: the filters of the console's lead list and of `monitor leads export`.

One :class:`LeadFilter` is read from the console's query string or from the CLI's options and
turned into one SQL query, so the list on screen and the file handed to a case officer hold the
same rows.

Categories and hit terms live in JSON columns written by SQLAlchemy's JSON serializer; they are
matched on that JSON text (a quoted string can only match a whole JSON string, since quotes
inside strings are escaped), which is several times faster than expanding the JSON per row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from monitor.store.models import LEAD_STATUSES, Lead, Listing, Target

CATEGORY_ID = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class LeadFilter:
    """What an analyst asked for; every field optional (none set: all leads)."""

    status: str | None = None
    category: str | None = None
    target: str | None = None  # target name
    since: date | None = None  # first seen on or after this UTC day
    until: date | None = None  # first seen on or before this UTC day
    term: str | None = None  # a matched lexicon term
    q: str | None = None  # words in the title, URL, shop name or case number

    @classmethod
    def parse(cls, values: Mapping[str, object]) -> LeadFilter:
        """From query parameters or CLI options; raises ValueError naming the bad one."""
        given: dict[str, object] = {}
        for name in ("status", "category", "target", "term", "q"):
            value = values.get(name)
            text = str(value).strip() if value is not None else ""
            given[name] = text or None
        if given["category"] and not CATEGORY_ID.fullmatch(given["category"]):
            raise ValueError(f"category: not a category id: {given['category']!r}")
        if given["status"] and given["status"] not in LEAD_STATUSES:
            raise ValueError(
                f"status: unknown status {given['status']!r} (one of {', '.join(LEAD_STATUSES)})"
            )
        for name in ("since", "until"):
            value = values.get(name)
            if isinstance(value, date):
                given[name] = value
                continue
            text = str(value).strip() if value is not None else ""
            try:
                given[name] = date.fromisoformat(text) if text else None
            except ValueError:
                raise ValueError(f"{name}: not a date (YYYY-MM-DD): {text!r}") from None
        return cls(**given)

    def params(self) -> dict[str, str]:
        """The filters that are set, as query parameters (for links that keep them)."""
        return {k: str(v) for k, v in asdict(self).items() if v not in (None, "")}

    def is_empty(self) -> bool:
        return not self.params()

    def needs_listing(self) -> bool:
        """Whether the filter reads the listing or target (else leads alone answer it)."""
        return bool(self.target)

    def conditions(self, dialect: str, default_json: bool = True) -> list:
        """SQL conditions; ``default_json``: the engine writes JSON with plain json.dumps."""
        conds = []
        if self.status:
            conds.append(Lead.status == self.status)
        if self.category:
            conds.append(
                _json_text(Lead.categories).contains(json.dumps(self.category), autoescape=True)
            )
        if self.target:
            conds.append(Target.name == self.target)
        if self.since:
            conds.append(Lead.first_seen >= _day_start(self.since))
        if self.until:
            conds.append(Lead.first_seen < _day_start(self.until + timedelta(days=1)))
        if self.term:
            hits = _json_text(Lead.hits)
            quoted = {json.dumps(self.term)}  # SQLAlchemy's default: json.dumps, ASCII-escaped
            if not default_json:  # a custom serializer may keep Chinese as it is
                quoted.add(json.dumps(self.term, ensure_ascii=False))
            conds.append(
                or_(*(hits.contains(f'"term": {q}', autoescape=True) for q in sorted(quoted)))
            )
        if self.q:
            # Chinese has no case: plain LIKE then. Latin letters: PostgreSQL needs ILIKE,
            # SQLite's LIKE already ignores ASCII case.
            caseless = self.q.lower() == self.q.upper()

            def like(column):
                if dialect == "postgresql" and not caseless:
                    return column.ilike(f"%{_escape_like(self.q)}%", escape="/")
                return column.contains(self.q, autoescape=True)

            # Listings first, in a subquery: a scan of the listings alone, not of the join.
            shops = select(Target.id).where(like(Target.name))
            listings = select(Listing.id).where(
                or_(like(Listing.title), like(Listing.url), Listing.target_id.in_(shops))
            )
            conds.append(or_(Lead.listing_id.in_(listings), like(Lead.case_no)))
        return conds


def _escape_like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _json_text(column):
    return cast(column, Text)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _filtered(session: Session, lead_filter: LeadFilter, stmt: Select, join: bool = True) -> Select:
    if join or lead_filter.needs_listing():
        stmt = stmt.join(Listing, Lead.listing_id == Listing.id).outerjoin(
            Target, Listing.target_id == Target.id
        )
    dialect = session.get_bind().dialect
    default_json = getattr(dialect, "_json_serializer", None) is None
    return stmt.where(*lead_filter.conditions(dialect.name, default_json))


def count_leads(session: Session, lead_filter: LeadFilter) -> int:
    stmt = _filtered(session, lead_filter, select(func.count(Lead.id)), join=False)
    return session.scalar(stmt) or 0


def page_of_leads(
    session: Session, lead_filter: LeadFilter, limit: int, offset: int = 0
) -> list[Lead]:
    """One page of the lead list, newest first, with listing and target (no evidence).

    The page's ids are chosen first (skipped rows are read by index, never loaded whole), then
    only those leads are loaded with their listing and target."""
    ids = (
        _filtered(session, lead_filter, select(Lead.id), join=False)
        .order_by(Lead.id.desc())
        .limit(limit)
        .offset(offset)
    )
    stmt = (
        select(Lead)
        .join(Listing, Lead.listing_id == Listing.id)
        .outerjoin(Target, Listing.target_id == Target.id)
        .options(contains_eager(Lead.listing).contains_eager(Listing.target))
        .where(Lead.id.in_(ids.scalar_subquery()))
        .order_by(Lead.id.desc())
    )
    return list(session.scalars(stmt))


def first_page_and_count(
    session: Session, lead_filter: LeadFilter, limit: int
) -> tuple[list[Lead], int]:
    """The first page and the number of leads in all; a page that is not full is the count
    (a narrow search then reads the table once, not twice)."""
    leads = page_of_leads(session, lead_filter, limit)
    return leads, len(leads) if len(leads) < limit else count_leads(session, lead_filter)


def iter_leads(
    session: Session, lead_filter: LeadFilter, batch: int = 1000, history: bool = True
) -> Iterator[Lead]:
    """Every lead the filter selects, oldest first, with its evidence (and its review history
    unless ``history`` is false), loaded in batches."""
    loads = [
        contains_eager(Lead.listing).contains_eager(Listing.target),
        selectinload(Lead.evidence),
    ]
    if history:
        loads.append(selectinload(Lead.events))
    stmt = (
        _filtered(session, lead_filter, select(Lead))
        .options(*loads)
        .order_by(Lead.id)
        .execution_options(yield_per=batch)
    )
    yield from session.scalars(stmt)
