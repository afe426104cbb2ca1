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
archive, a filter that combines without end, which monitor.traps does not recognise - cannot
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
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import re
from collections import Counter, deque
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.pqueues import ScrapyPriorityQueue, _path_safe

if TYPE_CHECKING:
    from collections.abc import Iterable

    from scrapy import Request
    from scrapy.crawler import Crawler

_DIGITS = re.compile(r"\d+")


def branch_of(url: str) -> str:
    """The branch of a shop a URL belongs to (see the module docstring)."""
    path = urlsplit(url).path
    first = path.lstrip("/").split("/", 1)[0]
    return _DIGITS.sub("#", first.lower())


def _key_of(request: Request) -> tuple[str, str]:
    return (request.meta.get("target") or "", branch_of(request.url))


def _dirname(key: tuple[str, str]) -> str:
    # target names can be long and in any script: a fixed-length name on disk
    return hashlib.md5("\t".join(key).encode("utf-8")).hexdigest()  # noqa: S324


class _SlotQueue:
    """One download slot's requests: a priority queue per (target, branch), and a heap of those
    with requests waiting, ordered by how many requests each has been given."""

    def __init__(self, factory, spent: Counter) -> None:
        self.factory = factory
        self.spent = spent  # kept by the caller beyond this queue's life (it empties and refills)
        self.queues: dict[tuple[str, str], ScrapyPriorityQueue] = {}
        self.heap: list[tuple[int, int, tuple[str, str]]] = []
        self.order = itertools.count()

    def add(self, key: tuple[str, str], queue: ScrapyPriorityQueue) -> None:
        self.queues[key] = queue
        heapq.heappush(self.heap, (self.spent[key], next(self.order), key))

    def push(self, request: Request) -> None:
        key = _key_of(request)
        queue = self.queues.get(key)
        if queue is None:
            queue = self.factory(key, ())
            self.add(key, queue)
        queue.push(request)

    def pop(self) -> Request | None:
        while self.heap:
            _, _, key = heapq.heappop(self.heap)
            queue = self.queues[key]
            request = queue.pop()
            if request is not None:
                self.spent[key] += 1
            if len(queue):
                heapq.heappush(self.heap, (self.spent[key], next(self.order), key))
            else:
                del self.queues[key]
                queue.close()
                self.factory.remove(key)
            if request is not None:
                return request
        return None

    def peek(self) -> Request | None:
        return self.queues[self.heap[0][2]].peek() if self.heap else None

    def close(self) -> dict[str, list[int]]:
        active = {"\t".join(key): queue.close() for key, queue in self.queues.items()}
        self.queues.clear()
        self.heap.clear()
        return active


class TargetFairPriorityQueue:
    """SCHEDULER_PRIORITY_QUEUE for a crawl of many shops (see the module docstring)."""

    @classmethod
    def from_crawler(
        cls,
        crawler: Crawler,
        downstream_queue_cls: type,
        key: str,
        startprios: dict | None = None,
        *,
        start_queue_cls: type | None = None,
    ) -> TargetFairPriorityQueue:
        return cls(crawler, downstream_queue_cls, key, startprios, start_queue_cls=start_queue_cls)

    def __init__(
        self,
        crawler: Crawler,
        downstream_queue_cls: type,
        key: str,
        startprios: dict | None = None,
        *,
        start_queue_cls: type | None = None,
    ) -> None:
        if startprios and not isinstance(startprios, dict):
            raise ValueError(
                "TargetFairPriorityQueue cannot resume a queue written by another priority queue"
            )
        self.crawler = crawler
        self.downloader = crawler.engine.downloader
        self.downstream_queue_cls = downstream_queue_cls
        self.start_queue_cls = start_queue_cls
        self.key = key
        self.slots: dict[str, _SlotQueue] = {}
        self.spent: dict[str, Counter] = {}  # slot -> (target, branch) -> requests given
        self.turns: deque[str] = deque()  # slots with requests waiting, in turn
        self.in_turns: set[str] = set()
        self.count = 0
        for slot, branches in (startprios or {}).items():
            slot_queue = self._slot_queue(slot)
            for name, prios in branches.items():
                target, _, branch = name.partition("\t")
                queue = slot_queue.factory((target, branch), prios)
                if len(queue):
                    slot_queue.add((target, branch), queue)
                    self.count += len(queue)
                else:
                    queue.close()

    def _slot_queue(self, slot: str) -> _SlotQueue:
        queue = self.slots.get(slot)
        if queue is None:
            queue = self.slots[slot] = _SlotQueue(
                _Factory(self, slot), self.spent.setdefault(slot, Counter())
            )
            if slot not in self.in_turns:
                self.turns.append(slot)
                self.in_turns.add(slot)
        return queue

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

    def push(self, request: Request) -> None:
        slot = self.downloader.get_slot_key(request)
        self._slot_queue(slot).push(request)
        self.count += 1

    def pop(self) -> Request | None:
        if not self.count:
            return None
        slot = self._next_slot(take=True)
        if slot is None:
            return None
        queue = self.slots[slot]
        request = queue.pop()
        if request is not None:
            self.count -= 1
        if not queue.queues:
            del self.slots[slot]
            if self.key:
                with suppress(OSError):
                    Path(self.key, _path_safe(slot)).rmdir()
        return request

    def peek(self) -> Request | None:
        if not self.count:
            return None
        slot = self._next_slot(take=False)
        return self.slots[slot].peek() if slot is not None else None

    def close(self) -> dict[str, dict[str, list[int]]]:
        active = {slot: queue.close() for slot, queue in self.slots.items()}
        self.slots.clear()
        self.count = 0
        return {slot: branches for slot, branches in active.items() if branches}

    def __len__(self) -> int:
        return self.count

    def __contains__(self, slot: str) -> bool:
        return slot in self.slots


class _Factory:
    """Builds (and removes, on disk) the priority queue of one (target, branch) of a slot."""

    def __init__(self, owner: TargetFairPriorityQueue, slot: str) -> None:
        self.owner = owner
        self.path = owner.key + "/" + _path_safe(slot) if owner.key else ""

    def __call__(self, key: tuple[str, str], startprios: Iterable[int]) -> ScrapyPriorityQueue:
        return ScrapyPriorityQueue(
            self.owner.crawler,
            self.owner.downstream_queue_cls,
            self.path + "/" + _dirname(key) if self.path else "",
            startprios,
            start_queue_cls=self.owner.start_queue_cls,
        )

    def remove(self, key: tuple[str, str]) -> None:
        if self.path:
            with suppress(OSError):
                Path(self.path, _dirname(key)).rmdir()
