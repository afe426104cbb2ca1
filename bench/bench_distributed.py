"""Benchmark: pages per second of a distributed run with one worker and with two, side by side.

    .venv/bin/python bench/bench_distributed.py [--shops 60] [--redis redis://127.0.0.1:6379/0]

The same generated world (bench_city's: one server process, a loopback address per shop, an
index page and 10 listings per shop) is crawled twice by `monitor nightly --distributed`, first
with one `monitor worker`, then with two, each run into a fresh PostgreSQL database (Chromium
and screenshots off). Pages come from the run's merged statistics; the time is from the
coordinator's start to its end. On a machine with fewer free cores than workers, two workers
cannot be faster: the figure to read is the ratio on the hardware the workers will run on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_city import World  # noqa: E402 - the generated world of shops

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


def monitor(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor.cli", "--config", str(config), *args]


def run(world: World, folder: Path, workers: int, redis_url: str) -> dict:
    import psycopg

    name = f"bench_dist_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    folder.mkdir(parents=True)
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": database},
                "evidence": {"dir": "evidence", "screenshots": False},
                "crawl": {
                    "obey_robots": False,
                    "redis_url": redis_url,
                    "redis_prefix": f"bench-{uuid.uuid4().hex[:8]}",
                },
                "browser": {"executable_path": "/nonexistent/chromium"},
            }
        ),
        encoding="utf-8",
    )
    registry = folder / "targets.csv"
    registry.write_text(
        "name,url\n" + "".join(f"shop{i},{u}\n" for i, u in enumerate(world.urls())),
        encoding="utf-8",
    )
    subprocess.run(monitor(config, "init"), check=True, capture_output=True)
    subprocess.run(monitor(config, "targets", "import", str(registry)), check=True)
    try:
        t0 = time.perf_counter()
        coordinator = subprocess.Popen(
            monitor(config, "nightly", "--distributed"), stdout=subprocess.PIPE, text=True
        )
        procs = [
            subprocess.Popen(monitor(config, "worker", "--wait", "60"), cwd=folder)
            for _ in range(workers)
        ]
        for p in procs:
            p.wait()
        coordinator.communicate()
        wall = time.perf_counter() - t0
        shown = subprocess.run(
            monitor(config, "runs", "show", "1"), check=True, capture_output=True, text=True
        )
        totals = json.loads(shown.stdout)["stats"]["totals"]
    finally:
        from monitor.store.db import engine_for

        engine_for(database).dispose()
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {"workers": workers, "wall": wall, "pages": totals.get("pages", 0), **totals}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, default=60)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    world = World(args.shops)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = [run(world, Path(tmp) / f"w{n}", n, args.redis) for n in (1, 2)]
    finally:
        world.stop()
    print(f"world: {args.shops} shops, {world.pages()} pages")
    print(f"{'':<22}{'1 worker':>12}{'2 workers':>12}")
    for label, key in (("pages", "pages"), ("listings", "listings"), ("leads", "leads_new")):
        print(f"{label:<22}" + "".join(f"{r.get(key, 0):>12}" for r in results))
    print(f"{'wall (s)':<22}" + "".join(f"{r['wall']:>12.1f}" for r in results))
    print(f"{'pages/s':<22}" + "".join(f"{r['pages'] / r['wall']:>12.1f}" for r in results))
    print(f"two workers / one: {results[0]['wall'] / results[1]['wall']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
