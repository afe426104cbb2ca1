"""When a known listing is due again: the revisit policy.

List and index pages are not listings and are fetched every night (they bring new links,
which are fetched at once); so is every listing with a lead (open, rectified or under review:
a violation may come back). A clean listing is due the night after it was fetched; found
unchanged, it waits 2, 4 … nights, at most ``MONITOR_REVISIT_MAX_DAYS`` (the adaptive schedule
of StormCrawler and Heritrix's revisit policies); any change brings it back to every night.
A second run on the same night fetches only what is due (`monitor nightly --full`: all).
"""

from __future__ import annotations

from datetime import datetime, timedelta

# a nightly run starts at about the same time each night: a listing due "in one day" must be
# due at the next run even if that starts a little earlier
SLACK = timedelta(hours=3)


def next_visit(seen_at: datetime, unchanged_streak: int, max_days: float) -> datetime | None:
    """When a listing seen unchanged ``unchanged_streak`` nights running is next due (None: every
    night)."""
    if unchanged_streak <= 0:
        return None
    days = min(2 ** (unchanged_streak - 1), max_days)
    return seen_at + timedelta(days=days) - SLACK
