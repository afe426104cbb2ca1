"""What a crawl has scheduled and finished, so a killed run resumes without loss.

Scrapy's JOBDIR keeps the request queue and the seen-request fingerprints, but a request that
was being downloaded or processed when the process was killed is neither in the queue nor
done, and would never be fetched again. Every request the spider schedules is appended to
``scheduled.txt`` and every one whose result is safely stored to ``done.txt`` (one line each,
``target<TAB>url``, written at once through a file kept open); on resume the difference is
requested again. Re-fetching is harmless: a listing already stored is recognised by its content
hash and skipped. A request a target's page budget deferred is never done, so it stays pending
and the next night continues there: at most the target's page budget of them (what one night
can fetch), the earliest scheduled first (breadth first, so nearest the start page). A shop
with an endless branch the trap filter missed would otherwise carry every link the branch
offered once its budget was spent (138,227 of them in a red-team run) into every later night.

This job state, not Scrapy's disk queue, is what a resumed crawl trusts: Scrapy writes the
queue's bookkeeping (``requests.queue/active.json`` and each queue's ``info.json``) only when
it closes cleanly. After a SIGKILL the chunk files stay without it, and queuelib reopens such a
queue as empty while appending to the old chunk and reading from its start: it hands back the
killed run's stale requests and silently drops as many new ones (the links a resumed page
yields). Everything that queue held is pending here anyway, so on resume it is removed before
Scrapy's scheduler opens it.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

FILES = ("scheduled.txt", "done.txt")
SCRAPY_QUEUE = "requests.queue"  # scrapy.core.scheduler's disk queues inside JOBDIR
MAX_CARRY_OVER = 5000  # pending URLs kept per target without a limit given (the default budget)


class JobState:
    def __init__(self, jobdir: str | Path) -> None:
        self.dir = Path(jobdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.resumed = (self.dir / "scheduled.txt").exists()
        if self.resumed:  # re-requested from pending(); the queue cannot be trusted after a kill
            shutil.rmtree(self.dir / SCRAPY_QUEUE, ignore_errors=True)
        self._fds: dict[str, int] = {}

    def _append(self, name: str, target: str, url: str) -> None:
        fd = self._fds.get(name)
        if fd is None:
            fd = self._fds[name] = os.open(
                self.dir / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
            )
        line = f"{target.replace(chr(9), ' ')}\t{url}".replace("\n", " ") + "\n"
        os.write(fd, line.encode("utf-8"))

    def scheduled(self, target: str, url: str) -> None:
        self._append("scheduled.txt", target, url)

    def done(self, target: str, url: str) -> None:
        self._append("done.txt", target, url)

    def _read(self, name: str) -> dict[tuple[str, str], None]:
        """The (target, url) lines of ``name``, once each, in the order written."""
        try:
            lines = (self.dir / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return {}
        return dict.fromkeys(tuple(line.split("\t", 1)) for line in lines if "\t" in line)

    def pending(self) -> set[tuple[str, str]]:
        """(target, url) scheduled by an earlier, interrupted process and never finished."""
        return set(self._pending())

    def _pending(self) -> list[tuple[str, str]]:
        done = self._read("done.txt")
        return [key for key in self._read("scheduled.txt") if key not in done]

    def before(self) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(scheduled, done): what the interrupted process requested and what it finished, as
        the files held when this one started (read once; later lines are this run's own).

        A resumed crawl requests the pending ones itself and makes no request for a link to
        any of them: the done ones are stored, and Scrapy's seen-set cannot say so reliably
        (its file is written through a buffer that a SIGKILL loses, and requests sent with
        dont_filter are never added to it)."""
        if not hasattr(self, "_before"):
            self._before = (set(self._read("scheduled.txt")), set(self._read("done.txt")))
        return self._before

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def finish(self, incomplete: set[str], limits: Mapping[str, int] | None = None) -> None:
        """The crawl ended: keep only what incomplete targets left pending (the next night
        continues them with a fresh queue), at most ``limits[target]`` each (their page
        budgets), the earliest scheduled first; with none, the job folder goes."""
        self.close()
        limits = limits or {}
        kept: Counter = Counter()
        keep = []
        for t, u in self._pending():
            if t in incomplete and kept[t] < limits.get(t, MAX_CARRY_OVER):
                kept[t] += 1
                keep.append((t, u))
        shutil.rmtree(self.dir, ignore_errors=True)
        if keep:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "scheduled.txt").write_text(
                "".join(f"{t}\t{u}\n" for t, u in keep), encoding="utf-8"
            )


def jobstate_for(crawler) -> JobState | None:
    """One JobState per crawler (spider and pipelines share it). Built when the store pipeline
    is (ExecutionEngine.__init__), so before the scheduler opens its disk queue in JOBDIR."""
    jobdir = crawler.settings.get("JOBDIR")
    if not jobdir:
        return None
    state = getattr(crawler, "_monitor_jobstate", None)
    if state is None:
        state = crawler._monitor_jobstate = JobState(jobdir)
    return state
