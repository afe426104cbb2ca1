"""Benchmark: a first nightly run over a generated local shop of 5,000+ listings, then the
same run again over the unchanged shop, in one go. Prints both wall times and their ratio.

    .venv/bin/python bench/bench_incremental.py [--listings 5000]

The second run asks for each known listing with If-Modified-Since (the local server answers
304) and skips unchanged bodies by content hash, so it neither matches, captures nor writes.
Screenshots are off here so the figures show the crawl, not Chromium.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from monitor.webserver import ShopServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_nightly import make_site  # noqa: E402 - the same generated shop as the tests


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listings", type=int, default=5000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        flagged = make_site(tmp / "site", a.listings, flagged_every=10)
        with ShopServer(tmp / "site") as server:
            config = tmp / "config.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "evidence": {"dir": "evidence", "screenshots": False},
                        "crawl": {"obey_robots": False, "page_budget": a.listings * 2},
                        "targets": [{"name": "bench", "url": server.url}],
                    }
                ),
                encoding="utf-8",
            )
            cmd = [sys.executable, "-m", "monitor.cli", "--config", str(config), "nightly"]
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - t0)
            stats = [
                json.loads(
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "monitor.cli",
                            "--config",
                            str(config),
                            "runs",
                            "show",
                            str(i),
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                )["stats"]["totals"]
                for i in (1, 2)
            ]
    print(f"shop: {a.listings} listings ({len(flagged)} violating)")
    print(
        f"{'':16} {'wall s':>8} {'pages':>7} {'matched':>8} {'unchanged':>10} {'304':>6} {'leads new':>10}"
    )
    for name, t, s in (("first run", times[0], stats[0]), ("unchanged rerun", times[1], stats[1])):
        matched = s["listings"] - s["unchanged"]
        print(
            f"{name:16} {t:8.1f} {s['pages']:7} {matched:8} {s['unchanged']:10} {s['not_modified']:6} {s['leads_new']:10}"
        )
    print(
        f"second run takes {times[1] / times[0]:.2f} of the first ({times[0] / times[1]:.1f}x faster)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
