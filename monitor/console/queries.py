"""The console's read-only queries beyond what :mod:`monitor.records` offers: the figures of
the overview page, each one grouped query (they stay fast at 100,000 leads)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.models import Lead, Listing, Target

OPEN_STATUSES = ("new", "confirmed", "case")  # still needing someone's attention


def _category_items(dialect: str):
    """The categories of a lead as rows (one per category) for a lateral join."""
    if dialect == "postgresql":
        return func.json_array_elements_text(Lead.categories).table_valued("value").render_derived()
    return func.json_each(Lead.categories).table_valued("value")


def new_leads_per_day(session: Session, days: int = 30) -> tuple[list[date], dict[str, dict]]:
    """The last ``days`` UTC days, and category -> day -> leads first seen that day."""
    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=days - 1)
    items = _category_items(session.get_bind().dialect.name)
    day = func.date(Lead.first_seen)
    rows = session.execute(
        select(day, items.c.value, func.count())
        .select_from(Lead)
        .join(items, items.c.value.is_not(None))
        .where(Lead.first_seen >= datetime.combine(first, datetime.min.time(), timezone.utc))
        .group_by(day, items.c.value)
    )
    per_category: dict[str, dict] = {}
    for when, category, count in rows:
        when = when if isinstance(when, date) else date.fromisoformat(str(when)[:10])
        per_category.setdefault(category, {})[when] = count
    return [first + timedelta(days=i) for i in range(days)], per_category


def open_leads_by_target(session: Session, limit: int | None = 10) -> list[tuple[str, int]]:
    """Targets with the most open leads (new, confirmed or in a case), most first."""
    count = func.count(Lead.id)
    stmt = (
        select(Target.name, count)
        .select_from(Lead)
        .join(Listing, Lead.listing_id == Listing.id)
        .join(Target, Listing.target_id == Target.id)
        .where(Lead.status.in_(OPEN_STATUSES))
        .group_by(Target.name)
        .order_by(count.desc(), Target.name)
    )
    if limit:
        stmt = stmt.limit(limit)
    return [(name, n) for name, n in session.execute(stmt)]


def status_counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Lead.status, func.count()).group_by(Lead.status)).all())


def target_names(session: Session) -> list[str]:
    return list(session.scalars(select(Target.name).order_by(Target.name)))
