"""Which leads: the filters of the console's lead list and of `monitor leads export`.

One :class:`LeadFilter` is read from the console's query string or from the CLI's options and
turned into one SQL query, so the list on screen and the file handed to a case officer hold the
same rows. Categories and hit terms live in JSON columns; they are matched with the database's
own JSON functions (SQLite ``json_each``, PostgreSQL ``jsonb @>``), never by pattern on the text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Select, cast, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, contains_eager, selectinload

from monitor.models import LEAD_STATUSES, Lead, Listing, Target


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

    def conditions(self, dialect: str) -> list:
        conds = []
        if self.status:
            conds.append(Lead.status == self.status)
        if self.category:
            conds.append(_json_list_has(Lead.categories, self.category, dialect))
        if self.target:
            conds.append(Target.name == self.target)
        if self.since:
            conds.append(Lead.first_seen >= _day_start(self.since))
        if self.until:
            conds.append(Lead.first_seen < _day_start(self.until + timedelta(days=1)))
        if self.term:
            conds.append(_hits_have_term(Lead.hits, self.term, dialect))
        if self.q:
            conds.append(
                or_(
                    Listing.title.icontains(self.q, autoescape=True),
                    Listing.url.icontains(self.q, autoescape=True),
                    Target.name.icontains(self.q, autoescape=True),
                    Lead.case_no.icontains(self.q, autoescape=True),
                )
            )
        return conds


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _json_list_has(column, value: str, dialect: str):
    if dialect == "postgresql":
        return cast(column, JSONB).contains([value])
    items = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(items).where(items.c.value == value))


def _hits_have_term(column, term: str, dialect: str):
    if dialect == "postgresql":
        return cast(column, JSONB).contains([{"term": term}])
    items = func.json_each(column).table_valued("value")
    return exists(
        select(literal(1))
        .select_from(items)
        .where(func.json_extract(items.c.value, "$.term") == term)
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _filtered(session: Session, lead_filter: LeadFilter, stmt: Select) -> Select:
    stmt = stmt.join(Listing, Lead.listing_id == Listing.id).outerjoin(
        Target, Listing.target_id == Target.id
    )
    return stmt.where(*lead_filter.conditions(_dialect(session)))


def count_leads(session: Session, lead_filter: LeadFilter) -> int:
    return session.scalar(_filtered(session, lead_filter, select(func.count(Lead.id)))) or 0


def page_of_leads(
    session: Session, lead_filter: LeadFilter, limit: int, offset: int = 0
) -> list[Lead]:
    """One page of the lead list, newest first, with listing and target (no evidence)."""
    stmt = (
        _filtered(session, lead_filter, select(Lead))
        .options(contains_eager(Lead.listing).contains_eager(Listing.target))
        .order_by(Lead.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt))


def iter_leads(session: Session, lead_filter: LeadFilter, batch: int = 1000) -> Iterator[Lead]:
    """Every lead the filter selects, oldest first, with evidence and history, in batches."""
    stmt = (
        _filtered(session, lead_filter, select(Lead))
        .options(
            contains_eager(Lead.listing).contains_eager(Listing.target),
            selectinload(Lead.evidence),
            selectinload(Lead.events),
        )
        .order_by(Lead.id)
        .execution_options(yield_per=batch)
    )
    yield from session.scalars(stmt)
