"""The overview's chart figures, kept fresh in the background.

Grouping 100,000 leads by day and category and by target takes a few hundred milliseconds, too
long to make an analyst wait for on every visit. The figures are computed when the console
starts, served from memory, and recomputed in a background thread once they are older than a
minute (or after a status change), so a visit never waits for them except the very first.
The status counts are cheap and are always read live.
"""

from __future__ import annotations

import threading
import time

from monitor.console import queries
from monitor.store.records import Records

MAX_AGE = 60.0  # seconds


class ChartFigures:
    """New leads per day by category, and the targets with the most open leads."""

    def __init__(self, records: Records, max_age: float = MAX_AGE) -> None:
        self.records = records
        self.max_age = max_age
        self._figures: dict | None = None
        self._at = 0.0
        self._lock = threading.Lock()
        self._refreshing = False

    def compute(self) -> dict:
        with self.records.sessions() as s:
            days, per_category = queries.new_leads_per_day(s, 30)
            return {
                "days": days,
                "per_category": per_category,
                "by_target": queries.open_leads_by_target(s, 10),
            }

    def get(self) -> dict:
        if self._figures is None:
            with self._lock:
                if self._figures is None:
                    self._store(self.compute())
        elif time.monotonic() - self._at > self.max_age:
            self.refresh_in_background()
        return self._figures

    def outdated(self) -> None:
        """Something changed (a status): recompute at the next visit, in the background."""
        self._at = 0.0

    def refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._refresh, name="overview-figures", daemon=True).start()

    def _refresh(self) -> None:
        try:
            self._store(self.compute())
        except Exception:  # the database went away: keep the old figures, try again later
            pass
        finally:
            self._refreshing = False

    def _store(self, figures: dict) -> None:
        self._figures, self._at = figures, time.monotonic()
