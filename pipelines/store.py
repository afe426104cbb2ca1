"""Write listings, leads and evidence rows; a listing seen again updates its lead.

It also keeps, per target, the set of listing URLs seen in this crawl (fetched, unchanged, 304,
or linked to and not due tonight: monitor.crawl.revisit.KnownListings): when a target's crawl was
complete, an open lead whose listing was not seen any more has been taken out of the shop and
becomes removed. Each result, once written, is marked done in the job state so a killed run does not
fetch it again.

Writes are batched, so they keep up with the crawl. Clean listings go 500 to a transaction.
Flagged listings, leads to rectify and gone listings wait in a batch of MONITOR_WRITE_BATCH
(flushed when full, every MONITOR_WRITE_INTERVAL seconds, and when the spider closes): their
evidence files, already written and in place, are fsynced together with their folders, then
the listings, leads and evidence rows of the whole batch are recorded in one transaction. Why
this keeps every lead of a crawl that is killed (SIGKILL) at any point:

- a row is committed only after its files are synced, so no row ever names a missing file;
- an item is marked done in the job state only after its batch is committed. A batch lost with
  the process leaves its requests pending, and the resumed run (JOBDIR) fetches them again; a
  listing with no row is new to the revisit policy (monitor.crawl.revisit), so even without the job
  state the next night fetches it. The lost batch's manifests are named in the evidence
  store's journal and removed by the next crawl once the database says they were never
  recorded, so `monitor evidence verify` does not take them for deleted rows;
- a listing's chain lock is held until its capture is recorded. A second capture of the same
  listing in one batch links to the first (the evidence store's pending head) and is recorded
  after it, in the same transaction or a later one, never before: a capture whose predecessor
  is not recorded yet waits for the next batch, and one whose predecessor was given up is given
  up too, so the recorded chain always follows the manifests' links.

A storage fault stops only the targets whose items it hit: a file that cannot be synced stops
its item's target, a database error on the batch is retried item by item (unless the database
itself is gone) so one bad row stops one target, and nothing is marked done that was not
recorded. At a batch of 1 this is the old one-listing-per-transaction behaviour.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from scrapy import signals
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from monitor.crawl.crawlercontext import crawler_evidence_store, crawler_records
from monitor.crawl.faults import stop_for_storage_error
from monitor.crawl.jobstate import jobstate_for
from monitor.crawl.stats import TargetStats
from monitor.evidence import release_chain
from monitor.items import ListingGone, ListingItem, ListingSeen

logger = logging.getLogger(__name__)
BATCH = 500


def _header(headers: dict, name: str) -> str | None:
    for key, values in headers.items():
        if key.lower() == name and values:
            return values[0][:200]
    return None


@dataclass(eq=False)
class Queued:
    """What a batch needs of a queued item: not the item itself, whose raw bytes, rendered DOM
    and screenshot are on disk by now and need not stay in memory until the batch is written."""

    target: str
    url: str
    categories: list
    manifest_sha256: str | None
    previous_sha256: str | None
    evidence_files: list
    chain_lock: object  # the listing's chain hold, released once recorded or given up
    write_settled: bool = False
    dropped: Exception | None = None  # why it was not recorded
    waiter: object = None  # asyncio future a distributed worker's process_item awaits

    @classmethod
    def of(cls, item) -> Queued:
        queued = cls(
            item.target,
            item.url,
            list(getattr(item, "categories", None) or ()),
            getattr(item, "manifest_sha256", None),
            getattr(item, "previous_sha256", None),
            list(getattr(item, "evidence_files", None) or ()),
            getattr(item, "chain_lock", None),
        )
        item.chain_lock = None  # held by the batch now
        return queued


@dataclass(eq=False)
class Write:
    """An item waiting for its batch: what Records.write_batch is to do for it."""

    item: Queued
    kind: str  # listing | removed | seen (a refetch riding with its listing's capture)
    values: dict


class StorePipeline:
    def __init__(
        self,
        records,
        counts: TargetStats,
        run_id: int | None,
        jobstate,
        evidence=None,
        batch_size: int = 100,
        interval: float = 2.0,
    ) -> None:
        self.records = records
        self.counts = counts
        self.run_id = run_id
        self.jobstate = jobstate
        self.evidence = evidence  # the deferred EvidenceStore whose files a batch syncs
        self.batch_size = max(1, batch_size)
        self.interval = interval
        self.writes: list[Write] = []
        self.given_up: set[str] = set()  # manifests whose rows were not recorded (faults)
        self.target_ids: dict[str, int] = {}
        self.unchanged_urls: list[str] = []
        self.clean_items: list[ListingItem] = []
        self.revisit_max_days = 7.0
        self.seen: dict[str, set[str]] = defaultdict(set)
        self.ticker = None

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(
            crawler_records(crawler),
            TargetStats.of(crawler),
            crawler.settings.getint("MONITOR_RUN_ID") or None,
            jobstate_for(crawler),
            crawler_evidence_store(crawler),
            crawler.settings.getint("MONITOR_WRITE_BATCH", 100),
            crawler.settings.getfloat("MONITOR_WRITE_INTERVAL", 2.0),
        )
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        pipeline.crawler = crawler
        pipeline.revisit_max_days = crawler.settings.getfloat("MONITOR_REVISIT_MAX_DAYS", 7)
        return pipeline

    def open_spider(self, spider=None):
        from monitor.store.db import init_db, schema_is_current

        if not schema_is_current(self.records.url):
            init_db(self.records.url)
        if self.jobstate is not None and self.jobstate.resumed:
            # what the interrupted run stored was seen tonight: a resumed crawl does not fetch it
            # again, and its leads must not be taken for gone from the shop
            for target, url in self.jobstate.before()[1]:
                self.seen[target].add(url)
        if self.interval > 0:
            from scrapy.utils.asyncio import create_looping_call

            self.ticker = create_looping_call(self.flush_all)
            self.ticker.start(self.interval, now=False)

    def target_id(self, name: str, url: str) -> int:
        if not self.target_ids and getattr(self, "crawler", None) is not None:
            self._load_target_ids()
        if name not in self.target_ids:
            known = self.records.target_by_name(name)
            self.target_ids[name] = known.id if known else self.records.ensure_target(name, url)
        return self.target_ids[name]

    def _load_target_ids(self) -> None:
        """The ids of the crawl's targets, read at once (a night of thousands of shops would
        otherwise ask for them one by one)."""
        spider = getattr(self.crawler, "spider", None)
        names = list(getattr(spider, "targets", None) or ())
        if names:
            self.target_ids.update(
                (name, t.id) for name, t in self.records.targets_by_name(names).items()
            )

    def done(self, item) -> None:
        if self.jobstate is not None:
            self.jobstate.done(item.target, item.url)

    def process_item(self, item, spider=None):
        """Queue or write the item; if the database fails, stop this target (nothing
        half-recorded). A distributed worker's item is done only once recorded: its request is
        acknowledged to the shared queue when the engine has finished with it, and a worker that
        dies must leave what it had not recorded to be requeued (monitor.distributed)."""
        try:
            queued = self._store(item)
        except SQLAlchemyError as exc:
            raise stop_for_storage_error(
                self.crawler,
                "writing the database",
                exc,
                getattr(item, "url", ""),
                getattr(item, "target", None),
            ) from None
        if queued is None or not self.counts.distributed:
            return item
        if queued.write_settled:  # written (or given up) by a batch this item filled
            if queued.dropped is not None:
                raise queued.dropped
            return item
        import asyncio

        queued.waiter = asyncio.get_running_loop().create_future()
        return self._recorded_then(item, queued.waiter)

    def clean(self, item: ListingItem) -> None:
        """A clean listing, new or changed: written with others in one transaction. It is marked
        done in the job state only after its batch is written, so a crash re-fetches it."""
        self.clean_items.append(item)
        if len(self.clean_items) >= BATCH:
            self.flush_clean()

    def flush_clean(self) -> None:
        items, self.clean_items = self.clean_items, []
        if not items:
            return
        rows = [
            {
                "url": i.url,
                "target_id": self.target_id(i.target, i.url),
                "title": i.title,
                "text": i.text,
                "price": i.price,
                "status": i.status,
                "seen_at": i.fetched_at,
                "etag": _header(i.headers, "etag"),
                "last_modified": _header(i.headers, "last-modified"),
            }
            for i in items
        ]
        try:
            with_lead = {r["url"] for r in self.records.save_clean_listings(rows)}
        except SQLAlchemyError as exc:
            for item in items:  # nothing of the batch was written: each target stops
                stop_for_storage_error(
                    self.crawler, "writing the database", exc, item.url, item.target
                )
            return
        for item in items:
            if item.url in with_lead:  # a lead to rectify: the full path, in the other batch
                item.open_lead = True
                try:
                    self._store(item)
                except SQLAlchemyError as exc:
                    stop_for_storage_error(
                        self.crawler, "writing the database", exc, item.url, item.target
                    )
            else:
                self.done(item)

    def unchanged(self, url: str) -> None:
        """Found unchanged: its revisit schedule is written in batches (losing a batch to a crash
        only brings those listings back a night early)."""
        self.unchanged_urls.append(url)
        if len(self.unchanged_urls) >= BATCH:
            self.flush_unchanged()

    def flush_unchanged(self) -> None:
        urls, self.unchanged_urls = self.unchanged_urls, []
        self.records.mark_unchanged(urls, datetime.now(timezone.utc), self.revisit_max_days)

    def _count_evidence(self, item) -> None:
        """Per-target figures of the evidence pipeline (which counts the crawl's totals)."""
        target_counts = self.counts.counts[item.target]
        if item.manifest_sha256:
            target_counts["monitor/evidence_captured"] += 1
        if getattr(item, "screenshot", None) is not None:
            target_counts["monitor/screenshots"] += 1
        missing = getattr(item, "screenshot_missing", None) or ""
        if missing.startswith("capture failed"):
            target_counts["monitor/screenshot_failed/capture"] += 1

    def _store(self, item) -> Queued | None:
        self.queued = None
        try:
            self._write(item)
        except BaseException:  # not recorded: the next capture of this listing may chain on
            if self.queued is None:
                self.give_up_chain(item)
            raise
        if self.queued is None:
            release_chain(item)
        return self.queued

    @staticmethod
    async def _recorded_then(item, waiter):
        await waiter
        return item

    # -- the batch of listings, leads and evidence rows -----------------------------------------

    def queue(self, item, kind: str, values: dict) -> None:
        queued = self.queued = Queued.of(item)
        self.writes.append(Write(queued, kind, values))
        if len(self.writes) >= self.batch_size:
            self.flush_logged()

    def flush_all(self) -> None:
        """The batches, whatever their size (the timer, and the spider's close)."""
        try:
            self.flush_clean()  # may hand listings with a lead on to the other batch
        except Exception:  # noqa: BLE001 - the timer goes on; what failed stopped its target
            logger.exception("Writing a batch of records failed")
        self.flush_logged()

    def flush_logged(self) -> None:
        """flush(), whose failures concern the batch's items (their targets are stopped), not
        whoever happened to fill it."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001
            logger.exception("Writing a batch of records failed")

    def flush(self) -> None:
        """Sync the batch's evidence files, then record its rows in one transaction."""
        writes, self.writes = self.writes, []
        ready, waiting = self._in_chain_order(writes)
        self.writes = waiting + self.writes  # their predecessors are not recorded yet
        if not ready:
            return
        try:
            self._record(ready)
        except Exception as exc:
            for w in ready:  # whatever went wrong, nothing unrecorded is left holding its lock
                if not getattr(w.item, "write_settled", False):
                    self.give_up(w.item, "writing the database", exc)
            raise

    def _record(self, ready: list[Write]) -> None:
        ready = self._sync_files(ready)
        if not ready:
            return
        try:
            written = [w for w in ready if w.kind != "seen"]
            results = iter(self.records.write_batch([(w.kind, w.values) for w in written]))
        except SQLAlchemyError as exc:
            if len(ready) == 1 or isinstance(exc, OperationalError):
                for w in ready:  # nothing of the batch was written
                    self.give_up(w.item, "writing the database", exc)
                return
            self._write_one_by_one(ready)  # one bad row should stop one target, not all
            return
        for w in ready:
            self.recorded(w, None if w.kind == "seen" else next(results))
        self.evidence_settled([w.item for w in ready], recorded=True)

    def _in_chain_order(self, writes: list[Write]) -> tuple[list[Write], list[Write]]:
        """(ready, waiting): a capture whose previous manifest is neither recorded nor ahead of it
        in this batch waits; one whose previous was given up is given up. Ready ones come in
        chain order (write_batch keeps it within a listing)."""
        unrecorded = self.evidence.unrecorded() if self.evidence is not None else set()
        ready: list[Write] = []
        placed: set[str] = set()
        todo = list(writes)
        while True:
            left = []
            for w in todo:
                previous = getattr(w.item, "previous_sha256", None)
                if previous in self.given_up:
                    self.give_up(
                        w.item, "writing evidence", RuntimeError("previous capture not recorded")
                    )
                elif previous is None or previous not in unrecorded or previous in placed:
                    ready.append(w)
                    if getattr(w.item, "manifest_sha256", None):
                        placed.add(w.item.manifest_sha256)
                else:
                    left.append(w)
            if len(left) == len(todo):
                return ready, left
            todo = left

    def _sync_files(self, writes: list[Write]) -> list[Write]:
        """The batch's evidence files made durable; items whose files failed are given up."""
        if self.evidence is None:
            return writes
        files = {w: list(getattr(w.item, "evidence_files", None) or ()) for w in writes}
        failed = self.evidence.sync(p for paths in files.values() for p in paths)
        if not failed:
            return writes
        ok = []
        for w in writes:
            bad = next((failed[p] for p in files[w] if p in failed), None)
            if bad is None:
                ok.append(w)
            else:
                self.give_up(w.item, "writing evidence", bad)
        return ok

    def _write_one_by_one(self, writes: list[Write]) -> None:
        for w in writes:
            if w.kind == "seen":
                if w.item.previous_sha256 in self.given_up:
                    self.give_up(w.item, "writing the database", RuntimeError("not recorded"))
                else:
                    self.recorded(w, None)
                continue
            try:
                (result,) = self.records.write_batch([(w.kind, w.values)])
            except SQLAlchemyError as exc:
                self.give_up(w.item, "writing the database", exc)
                continue
            self.recorded(w, result)
            self.evidence_settled([w.item], recorded=True)

    def recorded(self, w: Write, result) -> None:
        item = w.item
        item.write_settled = True
        if item.waiter is not None and not item.waiter.done():
            item.waiter.set_result(None)
        if w.kind == "seen":
            pass
        elif w.kind == "removed":
            if result:
                self.counts.inc(item.target, "monitor/leads_removed")
        elif result.lead_created:
            self.counts.inc(item.target, "monitor/leads_new")
        elif result.lead_updated:
            self.counts.inc(item.target, "monitor/leads_updated")
            if not item.categories:
                self.counts.inc(item.target, "monitor/leads_rectified")
        self.done(item)
        release_chain(item)

    def give_up(self, item, what: str, exc: BaseException) -> None:
        """Not recorded: stop the item's target (monitor.crawl.faults); it stays pending in the job
        state, so the next run fetches it again."""
        item.write_settled = True
        item.dropped = stop_for_storage_error(self.crawler, what, exc, item.url, item.target)
        if item.waiter is not None and not item.waiter.done():
            item.waiter.set_exception(item.dropped)
        self.give_up_chain(item)

    def give_up_chain(self, item) -> None:
        if getattr(item, "manifest_sha256", None):
            self.given_up.add(item.manifest_sha256)
        self.evidence_settled([item], recorded=False)
        release_chain(item)

    def evidence_settled(self, items, recorded: bool) -> None:
        if self.evidence is not None:
            self.evidence.settle(
                ((i.url, i.manifest_sha256) for i in items if getattr(i, "manifest_sha256", None)),
                recorded,
            )

    def _write(self, item):
        if isinstance(item, ListingSeen):
            self.seen[item.target].add(item.url)
            if item.checked:
                self.unchanged(item.url)
            self.done(item)
            return item
        if isinstance(item, ListingGone):
            self._count_evidence(item)
            self.queue(
                item,
                "removed",
                {
                    "url": item.url,
                    "status": item.status,
                    "seen_at": item.fetched_at,
                    "manifest_path": item.manifest_path,
                    "manifest_sha256": item.manifest_sha256,
                    "previous_sha256": item.previous_sha256,
                    "run_id": self.run_id,
                    "timestamp_status": item.timestamp_status,
                },
            )  # marked done once its batch is written
            return item
        if not isinstance(item, ListingItem):
            return item
        self.seen[item.target].add(item.url)
        if not item.unchanged and not item.categories and not item.open_lead:
            self.clean(item)  # marked done once its batch is written
            return item
        if getattr(item, "pending_capture", None):  # its capture is still in the batch
            item.previous_sha256 = item.pending_capture  # done once that is recorded
            self.queue(item, "seen", {"url": item.url})
            return item
        if item.unchanged:
            self.unchanged(item.url)
            self.done(item)
            return item
        self._count_evidence(item)
        self.queue(
            item,
            "listing",
            {
                "target_id": self.target_id(item.target, item.url),
                "url": item.url,
                "title": item.title,
                "text": item.text,
                "price": item.price,
                "status": item.status,
                "seen_at": item.fetched_at,
                "categories": item.categories,
                "hits": item.hits,
                "manifest_path": item.manifest_path,
                "manifest_sha256": item.manifest_sha256,
                "previous_sha256": item.previous_sha256,
                "run_id": self.run_id,
                "etag": _header(item.headers, "etag"),
                "last_modified": _header(item.headers, "last-modified"),
                "timestamp_status": item.timestamp_status,
            },
        )  # marked done once its batch is written
        return item

    def spider_closed(self, spider, reason: str) -> None:
        """After a complete crawl of a target: its open leads whose listing is no longer in the
        shop become removed."""
        self.counts.finish_reason = reason
        if self.ticker is not None and self.ticker.running:
            self.ticker.stop()
        self.flush_all()
        for w in self.writes:  # waiting for a capture that never came: not recorded
            self.give_up(w.item, "writing evidence", RuntimeError("previous capture not recorded"))
        self.writes = []
        if self.evidence is not None:
            self.evidence.close()
        try:
            self.flush_unchanged()
        except SQLAlchemyError as exc:
            logger.error("Revisit schedule not recorded: %s", exc)
        from monitor.crawl.revisit import KnownListings

        known = KnownListings.of(self.crawler)
        for target, urls in (known.seen() if known is not None else {}).items():
            self.seen[target] |= urls  # links to listings not due tonight: in the shop still
        if self.counts.distributed:  # judged by the coordinator on every worker's sightings
            from monitor.distributed.removal import push_seen

            push_seen(self.crawler.settings, self.seen)
            return
        self.remove_missing()

    def remove_missing(self) -> None:
        """Open leads of completely crawled targets whose listing was not seen: the open leads
        of many targets are read in one query, and the few that are gone are marked removed
        together in one transaction (write_batch) per batch of targets."""
        complete = [t for t, seen in self.seen.items() if seen and self.counts.complete(t)]
        now = datetime.now(timezone.utc)
        for i in range(0, len(complete), BATCH):
            targets = complete[i : i + BATCH]
            try:
                open_leads = self.records.open_leads_of(targets)
            except SQLAlchemyError as exc:
                for target in targets:
                    self.counts.fail(target, f"writing the database failed ({type(exc).__name__})")
                continue
            gone = [
                (target, url)
                for target in targets
                for url in open_leads.get(target, ())
                if url not in self.seen[target]
            ]
            if not gone:
                continue
            try:
                removed = self.records.write_batch(
                    [
                        (
                            "removed",
                            {
                                "url": url,
                                "status": None,
                                "seen_at": now,
                                "run_id": self.run_id,
                                "note": "完整抓取中该商品已不在店铺内（已下架或删除）",
                            },
                        )
                        for _, url in gone
                    ]
                )
            except SQLAlchemyError as exc:
                for target in {t for t, _ in gone}:
                    self.counts.fail(target, f"writing the database failed ({type(exc).__name__})")
                continue
            for (target, _), lead_id in zip(gone, removed, strict=True):
                if lead_id:
                    self.counts.inc(target, "monitor/leads_removed")
