"""The scheduler's priority queue for a crawl of many shops: fair between shops, and between the
branches of a shop.

Scrapy's DownloaderAwarePriorityQueue keeps one queue per download slot (per shop here) and,
to pick the next request, counts the active downloads of *every* slot that has requests
waiting: each pop (and each ``len()``, which the scheduler asks on every engine loop) costs
time in proportion to the number of shops, and a night of thousands of shops grows with their
square. :class:`TargetFairPriorityQueue` does the same job in time that does not grow with the
number of shops: slots with requests waiting take turns (round robin), a slot with nothing
downloading is taken at once, and the number of waiting requests is kept as a count.

Within a slot, requests are kept per **branch** of their target, and the branch that has been
given fewer requests so far goes first; within a branch, Scrapy's priorities (breadth first,
DEPTH_PRIORITY) decide. So one branch of a shop - a category whose pagination never ends, an
archive, a filter that combines without end, which monitor.crawl.traps does not recognise - cannot
spend the shop's page budget (monitor.downloadermiddlewares.budget) before another branch's
listings are reached: each branch gets an equal share of what is fetched while others still
have requests waiting. A shop whose pages are all under one branch is not held back at all:
the order changes, never the number of requests a target may make.

A branch is the first segment of the URL's path, lower-cased, with its runs of digits folded
(:func:`branch_of`): ``/list?page=9`` and ``/list/9`` are branch ``list``, ``/p/3.html`` is
``p``, ``/category.php?id=3&page=9`` is ``category.php``, ``/goods-12.html`` is
``goods-#.html``, the start page ``/`` is the empty branch. It needs no state carried between
requests (a resumed crawl's requests are placed as before) and matches how shops lay out their
sections; a shop that puts everything under one path (``/index.php?route=…``) is one branch,
crawled as before. Requests of different targets that share a download slot are kept apart
(the branch key is target and branch), so such targets share the slot fairly too.

With JOBDIR, waiting requests are kept on disk as Scrapy's disk queues keep them (serialised
with ``Request.to_dict``), but in one spill file of numbered chunks per crawl, not in a folder
per slot and priority: Scrapy's queues made, filled and removed a folder each time a shop's
queue emptied and refilled, and removing folders was a fifth of an unchanged re-run. Memory
holds only where each request lies (a chunk is deleted once all its requests are taken). The
queue does not outlive the crawl: a stopped or killed crawl is resumed by monitor.crawl.jobstate,
which requests again what was pending (and removes Scrapy's queue folder before it opens).
"""

from __future__ import annotations

import heapq
import itertools
import os
import pickle
import re
import shutil
from collections import Counter, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.http.request import _find_method
from scrapy.utils.request import request_from_dict

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_DIGITS = re.compile(r"\d+")
CHUNK_BYTES = 32 * 2**20  # spill file chunk size; a chunk goes once all its requests are taken


def branch_of(url: str) -> str:
    """The branch of a shop a URL belongs to (see the module docstring)."""
    path = urlsplit(url).path
    first = path.lstrip("/").split("/", 1)[0]
    return _DIGITS.sub("#", first.lower())


class _SpillFile:
    """Requests kept on disk: appended to numbered chunk files, read back by position."""

    def __init__(self, folder: Path, crawler: Crawler) -> None:
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)  # what a killed crawl left: see jobstate
        folder.mkdir(parents=True)
        self.crawler = crawler
        self.chunk = -1
        self.fd = -1
        self.size = CHUNK_BYTES
        self.live: Counter = Counter()  # chunk -> requests in it not yet taken
        self.readers: dict[int, int] = {}
        self.methods: dict[Any, str] = {}

    def _method(self, func: Any) -> Any:
        """The spider method's name, as Request.to_dict writes it - remembered: Scrapy finds it
        with inspect.getmembers(spider), which evaluates every property of the spider, for each
        request written."""
        if not callable(func):
            return func
        spider = self.crawler.spider
        if getattr(func, "__self__", None) is not spider:
            return _find_method(spider, func)  # raises ValueError: kept in memory instead
        name = self.methods.get(func.__func__)
        if name is None:
            name = self.methods[func.__func__] = _find_method(spider, func)
        return name

    def _as_dict(self, request: Request) -> dict:
        """Request.to_dict(spider=...), with the spider's method names remembered."""
        d = {
            "url": request.url,
            "callback": self._method(request.callback),
            "errback": self._method(request.errback),
            "headers": dict(request.headers),
        }
        for attr in request.attributes:
            d.setdefault(attr, getattr(request, attr))
        if type(request) is not Request:
            d["_class"] = request.__module__ + "." + request.__class__.__name__
        return d

    def put(self, request: Request) -> tuple[int, int, int]:
        try:
            data = pickle.dumps(self._as_dict(request), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from exc  # the scheduler keeps it in memory instead
        if self.size + len(data) > CHUNK_BYTES:
            self._next_chunk()
        os.write(self.fd, data)
        where = (self.chunk, self.size, len(data))
        self.size += len(data)
        self.live[self.chunk] += 1
        return where

    def take(self, where: tuple[int, int, int]) -> Request:
        chunk, offset, length = where
        fd = self.fd if chunk == self.chunk else self.readers.get(chunk)
        if fd is None:
            fd = self.readers[chunk] = os.open(self.folder / str(chunk), os.O_RDONLY)
        data = os.pread(fd, length, offset)
        self.live[chunk] -= 1
        if not self.live[chunk] and chunk != self.chunk:
            self._drop(chunk)
        return request_from_dict(pickle.loads(data), spider=self.crawler.spider)

    def _next_chunk(self) -> None:
        old = self.chunk
        if self.fd >= 0:
            os.close(self.fd)
        self.chunk += 1
        self.fd = os.open(self.folder / str(self.chunk), os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        self.size = 0
        if old >= 0 and not self.live[old]:
            self._drop(old)

    def _drop(self, chunk: int) -> None:
        del self.live[chunk]
        fd = self.readers.pop(chunk, None)
        if fd is not None:
            os.close(fd)
        (self.folder / str(chunk)).unlink(missing_ok=True)

    def close(self) -> None:
        for fd in [self.fd, *self.readers.values()]:
            if fd >= 0:
                os.close(fd)
        self.readers.clear()
        self.fd = -1
        shutil.rmtree(self.folder, ignore_errors=True)


class _BranchQueue:
    """One (target, branch)'s requests: FIFO per priority, the highest priority first and, at
    one priority, other requests before start requests (as ScrapyPriorityQueue)."""

    __slots__ = ("queues", "count")

    def __init__(self) -> None:
        self.queues: dict[tuple[int, bool], deque] = {}
        self.count = 0

    def push(self, priority: int, start: bool, entry: Any) -> None:
        key = (-priority, start)
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = deque()
        queue.append(entry)
        self.count += 1

    def pop(self) -> Any:
        key = min(self.queues)  # a handful of depths
        queue = self.queues[key]
        entry = queue.popleft()
        if not queue:
            del self.queues[key]
        self.count -= 1
        return entry


class _SlotQueue:
    """One download slot's requests: a queue per (target, branch), and a heap of those with
    requests waiting, ordered by how many requests each has been given."""

    __slots__ = ("branches", "heap", "spent", "order")

    def __init__(self, spent: Counter) -> None:
        self.branches: dict[tuple[str, str], _BranchQueue] = {}
        self.heap: list[tuple[int, int, tuple[str, str]]] = []
        self.spent = spent  # kept by the caller beyond this queue's life (it empties and refills)
        self.order = itertools.count()

    def push(self, key: tuple[str, str], priority: int, start: bool, entry: Any) -> None:
        branch = self.branches.get(key)
        if branch is None:
            branch = self.branches[key] = _BranchQueue()
            heapq.heappush(self.heap, (self.spent[key], next(self.order), key))
        branch.push(priority, start, entry)

    def pop(self) -> Any:
        _, _, key = heapq.heappop(self.heap)
        branch = self.branches[key]
        entry = branch.pop()
        self.spent[key] += 1
        if branch.count:
            heapq.heappush(self.heap, (self.spent[key], next(self.order), key))
        else:
            del self.branches[key]
        return entry


class TargetFairPriorityQueue:
    """SCHEDULER_PRIORITY_QUEUE for a crawl of many shops (see the module docstring)."""

    @classmethod
    def from_crawler(
        cls,
        crawler: Crawler,
        downstream_queue_cls: type,
        key: str,
        startprios: Any = None,
        *,
        start_queue_cls: type | None = None,
    ) -> TargetFairPriorityQueue:
        return cls(crawler, key)

    def __init__(self, crawler: Crawler, key: str = "") -> None:
        self.crawler = crawler
        self.downloader = crawler.engine.downloader
        # JOBDIR's disk queue (key: its folder) or the memory queue (no key)
        self.spill = _SpillFile(Path(key) / "spill", crawler) if key else None
        self.slots: dict[str, _SlotQueue] = {}
        self.spent: dict[str, Counter] = {}  # slot -> (target, branch) -> requests given
        self.turns: deque[str] = deque()  # slots with requests waiting, in turn
        self.in_turns: set[str] = set()
        self.count = 0

    def push(self, request: Request) -> None:
        entry = self.spill.put(request) if self.spill is not None else request
        slot = self.downloader.get_slot_key(request)
        queue = self.slots.get(slot)
        if queue is None:
            queue = self.slots[slot] = _SlotQueue(self.spent.setdefault(slot, Counter()))
            if slot not in self.in_turns:
                self.turns.append(slot)
                self.in_turns.add(slot)
        key = (request.meta.get("target") or "", branch_of(request.url))
        queue.push(key, request.priority, bool(request.meta.get("is_start_request")), entry)
        self.count += 1

    def _active(self, slot: str) -> int:
        s = self.downloader.slots.get(slot)
        return len(s.active) if s is not None else 0

    def _next_slot(self, take: bool) -> str | None:
        """The next slot in turn with nothing downloading, else the least busy one."""
        best, best_active = None, None
        seen = 0
        while seen < len(self.turns):
            slot = self.turns[0]
            if slot not in self.slots:  # emptied since its turn was given
                self.turns.popleft()
                self.in_turns.discard(slot)
                continue
            seen += 1
            active = self._active(slot)
            if best_active is None or active < best_active:
                best, best_active = slot, active
            if active == 0:
                break
            self.turns.rotate(-1)
        if take and best is not None:  # its turn is used: to the back
            if self.turns[0] == best:
                self.turns.popleft()
            else:  # every slot busy: only as many as the crawl's concurrency
                self.turns.remove(best)
            self.turns.append(best)
        return best

    def pop(self) -> Request | None:
        if not self.count:
            return None
        slot = self._next_slot(take=True)
        if slot is None:
            return None
        queue = self.slots[slot]
        entry = queue.pop()
        self.count -= 1
        if not queue.branches:
            del self.slots[slot]
        return self.spill.take(entry) if self.spill is not None else entry

    def close(self) -> dict:
        """Nothing for Scrapy to resume from (see the module docstring)."""
        if self.spill is not None:
            self.spill.close()
        self.slots.clear()
        self.count = 0
        return {}

    def __len__(self) -> int:
        return self.count

    def __contains__(self, slot: str) -> bool:
        return slot in self.slots
