"""The console's read-only queries beyond what :mod:`monitor.store.records` offers: the figures of
the overview page, each one grouped query (they stay fast at 100,000 leads)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from monitor.store.models import Lead, Listing, Target

OPEN_STATUSES = ("new", "confirmed", "case")  # still needing someone's attention


def new_leads_per_day(session: Session, days: int = 30) -> tuple[list[date], dict[str, dict]]:
    """The last ``days`` UTC days, and category -> day -> leads first seen that day.

    Grouped by the categories' JSON text (a handful of combinations a day) and split here, so
    the database reads the first-seen index range once instead of expanding JSON per lead."""
    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=days - 1)
    day = func.date(Lead.first_seen)
    combination = cast(Lead.categories, Text)
    rows = session.execute(
        select(day, combination, func.count())
        .where(Lead.first_seen >= datetime.combine(first, datetime.min.time(), timezone.utc))
        .group_by(day, combination)
    )
    per_category: dict[str, dict] = {}
    for when, categories, count in rows:
        when = when if isinstance(when, date) else date.fromisoformat(str(when)[:10])
        for category in json.loads(categories or "[]"):
            counts = per_category.setdefault(category, {})
            counts[when] = counts.get(when, 0) + count
    return [first + timedelta(days=i) for i in range(days)], per_category


def open_leads_by_target(session: Session, limit: int | None = 10) -> list[tuple[str, int]]:
    """Targets with the most open leads (new, confirmed or in a case), most first."""
    count = func.count(Lead.id)
    stmt = (
        select(Listing.target_id, count)
        .select_from(Lead)
        .join(Listing, Lead.listing_id == Listing.id)
        .where(Lead.status.in_(OPEN_STATUSES), Listing.target_id.is_not(None))
        .group_by(Listing.target_id)
        .order_by(count.desc(), Listing.target_id)
    )
    if limit:
        stmt = stmt.limit(limit)
    counts = session.execute(stmt).all()
    names = dict(
        session.execute(
            select(Target.id, Target.name).where(Target.id.in_([t for t, _ in counts]))
        ).all()
    )
    return [(names[t], n) for t, n in counts]


def status_counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Lead.status, func.count()).group_by(Lead.status)).all())


def target_names(session: Session, limit: int = 1000) -> list[str]:
    """Names offered in the lead filter's target field (a city's thousands are typed instead)."""
    return list(session.scalars(select(Target.name).order_by(Target.name).limit(limit)))
