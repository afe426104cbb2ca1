"""The Redis keys of one distributed run, in one place (all under one prefix, per run id)."""

from __future__ import annotations

from dataclasses import dataclass

SEP = "\x1f"  # between a target name and a counter in the stats hash (never in either)


@dataclass(frozen=True)
class RunKeys:
    prefix: str
    run_id: int

    @property
    def base(self) -> str:
        return f"{self.prefix}:run:{self.run_id}"

    @staticmethod
    def current(prefix: str) -> str:
        """The run the workers should join (its id), set by the coordinator."""
        return f"{prefix}:current"

    def queue(self, spider: str = "%(spider)s") -> str:
        return f"{self.base}:{spider}:requests"

    def dupefilter(self, spider: str = "%(spider)s") -> str:
        return f"{self.base}:{spider}:dupefilter"

    @property
    def targets(self) -> str:
        """JSON: {spider kind: [target names]} of the run."""
        return f"{self.base}:targets"

    @property
    def workers(self) -> str:
        return f"{self.base}:workers"

    @property
    def idle(self) -> str:
        return f"{self.base}:idle"

    def inflight(self, worker: str) -> str:
        return f"{self.base}:inflight:{worker}"

    def inflight_meta(self, worker: str) -> str:
        return f"{self.base}:inflight-meta:{worker}"

    def lease(self, worker: str) -> str:
        return f"{self.base}:lease:{worker}"

    @property
    def stats(self) -> str:
        return f"{self.base}:stats"

    @property
    def reasons(self) -> str:
        return f"{self.base}:reasons"

    @property
    def drained(self) -> str:
        return f"{self.base}:drained"

    def all_keys(self, server) -> list:
        return list(server.scan_iter(match=f"{self.base}:*", count=1000))
