"""Benchmark: what a crawl holds of its known listings, at a city's size.

    .venv/bin/python bench/bench_known.py [--shops 60000] [--listings 17] [--not-due 0.7]

Writes a SQLite database of N shops × M stored listings (a real schema, through init_db), then,
side by side in one run, reads them the way KnownListings does when a spider opens, into

- baseline: a dict of URL → content hash and a set of the URLs not due tonight (what the
  extension held before), and
- KnownListings itself (monitor.crawl.revisit: sorted 64-bit keys and values),

and prints for each the memory still held afterwards and the peak while reading (tracemalloc),
the seconds the read took (a second read, untraced), and the lookups per second of "is this link not due" and "is this
listing unchanged" (half known URLs, half new ones).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.crawl.revisit import KnownListings, url_key  # noqa: E402
from monitor.store.db import init_db  # noqa: E402
from monitor.store.records import Records  # noqa: E402


def shop_url(i: int) -> str:
    return f"https://shop{i}.example.cn/"


def build(db: Path, shops: int, listings: int, not_due: float) -> None:
    url = f"sqlite:///{db}"
    init_db(url)
    moment = datetime.now(timezone.utc).replace(tzinfo=None)
    # as SQLAlchemy stores a DateTime in SQLite
    now, later, earlier = (str(moment + timedelta(days=d)) for d in (0, 3, -1))
    con = sqlite3.connect(db)
    con.executemany(
        "INSERT INTO targets (id, name, url, kind, enabled, created_at) VALUES (?, ?, ?, 'site', 1, ?)",
        ((i + 1, f"店{i}", shop_url(i), now) for i in range(shops)),
    )
    rng = random.Random(7)

    def rows():
        n = 0
        for i in range(shops):
            for k in range(listings):
                n += 1
                u = f"{shop_url(i)}item/{k}.html?id={n * 7919}"
                due = later if rng.random() < not_due else earlier
                h = hashlib.sha256(u.encode()).hexdigest()
                yield (n, i + 1, u, f"商品{k}", "", h, due, now, now)

    con.executemany(
        "INSERT INTO listings (id, target_id, url, title, text, content_hash, next_visit, "
        "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    con.commit()
    con.close()


def read_baseline(records: Records, names: list[str]):
    now = datetime.now(timezone.utc)
    hashes, not_due = {}, set()
    for _target, url, content_hash, _etag, _lm, due_at in records.known_listings(names):
        hashes[url] = content_hash
        if due_at is not None and due_at > now:
            not_due.add(url)
    return hashes, not_due


def read_known(records: Records, names: list[str]) -> KnownListings:
    known = KnownListings(records, full=False)
    known.spider_opened(SimpleNamespace(targets={n: SimpleNamespace(url="") for n in names}))
    return known


def measure(label: str, read, lookups) -> None:
    t0 = time.perf_counter()
    held = read()  # timed without tracemalloc, which slows every allocation
    seconds = time.perf_counter() - t0
    del held
    tracemalloc.start()
    held = read()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    not_due, unchanged = lookups(held)
    print(
        f"{label:<14} {current / 2**20:>9.1f} {peak / 2**20:>9.1f} {seconds:>7.2f} "
        f"{not_due / 1e6:>9.2f} {unchanged / 1e6:>9.2f}"
    )


def per_second(fn, probes) -> float:
    t0 = time.perf_counter()
    for url, h in probes:
        fn(url, h)
    return len(probes) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shops", type=int, default=60000)
    ap.add_argument("--listings", type=int, default=17)
    ap.add_argument("--not-due", type=float, default=0.7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "known.db"
        t0 = time.perf_counter()
        build(db, args.shops, args.listings, args.not_due)
        total = args.shops * args.listings
        print(
            f"{args.shops:,} shops × {args.listings} = {total:,} stored listings "
            f"(built in {time.perf_counter() - t0:.0f} s)"
        )
        records = Records(f"sqlite:///{db}")
        names = [f"店{i}" for i in range(args.shops)]
        rng = random.Random(3)
        probes = []
        for _ in range(100_000):
            i, k = rng.randrange(args.shops), rng.randrange(args.listings * 2)  # half unknown
            n = i * args.listings + k + 1
            u = f"{shop_url(i)}item/{k}.html?id={n * 7919}"
            probes.append((u, hashlib.sha256(u.encode()).hexdigest()))
        print(
            f"{'':<14} {'held MB':>9} {'peak MB':>9} {'read s':>7} {'due M/s':>9} {'same M/s':>9}"
        )

        def baseline_lookups(held):
            hashes, not_due = held
            return (
                per_second(lambda u, h: u in not_due, probes),
                per_second(lambda u, h: hashes.get(u) == h, probes),
            )

        def known_lookups(known):
            return (
                per_second(lambda u, h: known.known.get(url_key(u)), probes),
                per_second(known.unchanged, probes),
            )

        import numpy  # noqa: F401 - loaded by the lexicon in a crawl, not counted here

        list(records.known_listings(names[:1]))  # the engine and its statement cache, warm
        measure("dict and set", lambda: read_baseline(records, names), baseline_lookups)
        measure("KnownListings", lambda: read_known(records, names), known_lookups)


if __name__ == "__main__":
    main()
