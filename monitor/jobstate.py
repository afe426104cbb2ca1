"""What a crawl of one target has scheduled and finished, so a killed run resumes without loss.

Scrapy's JOBDIR keeps the request queue and the seen-request fingerprints, but a request that
was being downloaded or processed when the process was killed is neither in the queue nor
done, and would never be fetched again. We append every URL the spider schedules to
``scheduled.txt`` and every URL whose result is safely stored to ``done.txt`` (one line each,
flushed at once); on resume the difference is requested again. Re-fetching is harmless: a
listing that was already stored is recognised by its content hash and skipped.
"""

from __future__ import annotations

import os
from pathlib import Path


class JobState:
    def __init__(self, jobdir: str | Path) -> None:
        self.dir = Path(jobdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._scheduled = None
        self._done = None

    def _append(self, name: str, url: str) -> None:
        fd = os.open(self.dir / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (url.replace("\n", " ") + "\n").encode("utf-8"))
        finally:
            os.close(fd)

    def scheduled(self, url: str) -> None:
        self._append("scheduled.txt", url)

    def done(self, url: str) -> None:
        self._append("done.txt", url)

    def _read(self, name: str) -> set[str]:
        try:
            return set((self.dir / name).read_text(encoding="utf-8", errors="replace").splitlines())
        except OSError:
            return set()

    def pending(self) -> set[str]:
        """URLs scheduled by an earlier, interrupted process and never finished."""
        return self._read("scheduled.txt") - self._read("done.txt")

    @property
    def resumed(self) -> bool:
        return (self.dir / "scheduled.txt").exists()


def jobstate_for(crawler) -> JobState | None:
    jobdir = crawler.settings.get("JOBDIR")
    return JobState(jobdir) if jobdir else None
