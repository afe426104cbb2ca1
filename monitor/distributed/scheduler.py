"""scrapy-redis's scheduler, queue and duplicate filter, with what a night's run needs added.

- :class:`LeasedPriorityQueue`: scrapy-redis's priority queue, but a pop moves the request into
  the worker's in-flight hash in the same atomic step (a Lua script), so a worker that dies with
  requests in hand loses nothing: :func:`requeue_expired` puts them back once its lease expires.
- :class:`RenderAwareDupeFilter`: scrapy-redis fingerprints method, URL and body only; a page
  fetched plainly and the same page rendered in Chromium are different fetches.
- :class:`DistributedScheduler`: always persistent (SCHEDULER_PERSIST off would let the first
  worker to stop delete the queue and the duplicate filter of every other worker).
"""

from __future__ import annotations

import hashlib
import itertools
import json

from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler

from monitor.distributed.keys import RunKeys

# pop: the best request moves from the queue into the worker's in-flight hash (token -> request)
# and its score and queue into the meta hash, atomically.
POP = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return false end
redis.call('ZREM', KEYS[1], r[1])
redis.call('HSET', KEYS[2], ARGV[1], r[1])
redis.call('HSET', KEYS[3], ARGV[1], r[2] .. '\\t' .. KEYS[1])
return r[1]
"""

# requeue: a worker whose lease has expired gives its in-flight requests back to their queues.
REQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local items = redis.call('HGETALL', KEYS[2])
local n = 0
for i = 1, #items, 2 do
  local meta = redis.call('HGET', KEYS[3], items[i])
  local tab = string.find(meta, '\\t', 1, true)
  redis.call('ZADD', string.sub(meta, tab + 1), string.sub(meta, 1, tab - 1), items[i + 1])
  n = n + 1
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
return n
"""


def run_keys(settings) -> RunKeys:
    return RunKeys(
        settings.get("MONITOR_REDIS_PREFIX", "monitor"), settings.getint("MONITOR_RUN_ID")
    )


class LeasedPriorityQueue(PriorityQueue):
    """A priority queue whose pops are acknowledged: see :class:`monitor.distributed.worker.Worker`."""

    def __init__(self, server, spider, key, serializer=None) -> None:
        super().__init__(server, spider, key, serializer)
        settings = spider.crawler.settings
        self.worker = settings.get("MONITOR_WORKER_ID") or None
        self.keys = run_keys(settings)
        self._pop = server.register_script(POP)
        self._tokens = itertools.count(1)
        # token -> request handed to the engine, not yet acknowledged
        self.in_hand: dict[str, object] = {}

    def pop(self, timeout: int = 0):
        if self.worker is None:  # the coordinator only seeds
            return super().pop(timeout)
        token = f"{self.spider.name}:{next(self._tokens)}"
        data = self._pop(
            keys=[self.key, self.keys.inflight(self.worker), self.keys.inflight_meta(self.worker)],
            args=[token],
        )
        if not data:
            return None
        request = self._decode_request(data)
        self.in_hand[token] = request
        return request

    def acknowledge(self, still_in_progress) -> int:
        """Drop from the in-flight hash every request the engine no longer holds (its callback
        has run and the requests it yielded are queued). Returns how many were acknowledged."""
        done = [t for t, r in self.in_hand.items() if r not in still_in_progress]
        if done:
            pipe = self.server.pipeline()
            pipe.hdel(self.keys.inflight(self.worker), *done)
            pipe.hdel(self.keys.inflight_meta(self.worker), *done)
            pipe.execute()
            for token in done:
                del self.in_hand[token]
        return len(done)


class RenderAwareDupeFilter(RFPDupeFilter):
    """scrapy-redis's fingerprint (method, canonical URL, body) plus whether it is rendered."""

    def request_fingerprint(self, request) -> str:
        plain = super().request_fingerprint(request)
        if not request.meta.get("playwright"):
            return plain
        return hashlib.sha1(json.dumps([plain, "rendered"]).encode()).hexdigest()


class DistributedScheduler(Scheduler):
    """scrapy-redis's scheduler, never flushing on close: the coordinator cleans up a drained run."""

    def __init__(self, server, **kwargs) -> None:
        kwargs["persist"] = True
        kwargs["flush_on_start"] = False
        super().__init__(server, **kwargs)

    def close(self, reason: str) -> None:  # persist: nothing to delete
        return None


def requeue_expired(server, keys: RunKeys) -> int:
    """Give back the in-flight requests of every worker whose lease has expired (it died or
    hung): they are fetched again by a live worker. Returns how many were requeued."""
    script = server.register_script(REQUEUE)
    total = 0
    for worker in server.smembers(keys.workers):
        worker = worker.decode() if isinstance(worker, bytes) else worker
        n = script(
            keys=[
                keys.lease(worker),
                keys.inflight(worker),
                keys.inflight_meta(worker),
                keys.workers,
                keys.idle,
            ],
            args=[worker],
        )
        total += max(int(n), 0)
    return total


def redis_settings(redis_url: str, prefix: str, run_id: int, worker_id: str = "") -> dict:
    """The Scrapy settings that put a crawler on the run's shared queue and duplicate filter."""
    keys = RunKeys(prefix, run_id)
    return {
        "SCHEDULER": "monitor.distributed.scheduler.DistributedScheduler",
        "SCHEDULER_QUEUE_CLASS": "monitor.distributed.scheduler.LeasedPriorityQueue",
        "DUPEFILTER_CLASS": "monitor.distributed.scheduler.RenderAwareDupeFilter",
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": keys.queue(),
        "SCHEDULER_DUPEFILTER_KEY": keys.dupefilter(),
        "REDIS_URL": redis_url,
        # the run's queue is the job state: no JOBDIR (a disk queue would bypass Redis)
        "JOBDIR": None,
        "MONITOR_REDIS_URL": redis_url,
        "MONITOR_REDIS_PREFIX": prefix,
        "MONITOR_RUN_ID": run_id,
        "MONITOR_WORKER_ID": worker_id,
    }
