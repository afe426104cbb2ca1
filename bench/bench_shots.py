"""Benchmark: what one evidence capture costs, on the flagged listings of bench_city's world.

    .venv/bin/python bench/bench_shots.py [--captures 40] [--concurrency 1,4] [--nightly 300]

Captures: the flagged listing of every tenth shop of a generated world (each shop its own
loopback origin, so its own browser context and proxy lane, as in a night) is captured with
monitor.evidence.browser.Browser the way the evidence pipeline does, one after another and then with
several in flight; prints per capture the wall time, the CPU seconds of this process and all
its descendants (Chromium, the Playwright driver, the containment proxy's thread) and where
the wall time went (context and lane, navigation, settling, screenshot, closing).

Nightly (``--nightly N``): `monitor nightly` of bench_city on N shops, with and without
screenshots, wall and CPU seconds; the difference over the captures is what a capture adds to
a night.

To compare against another checkout in the same session, run it twice from a neutral folder
with PYTHONPATH naming each checkout (``-m`` puts the working folder first on the path); a
checkout from before monitor/evidence/browser.py existed (monitor/browser.py) cannot be compared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_city import World, full, shop_host  # noqa: E402

import monitor.evidence.browser as mb  # noqa: E402
from monitor.downloadermiddlewares.scope import target_origins  # noqa: E402
from monitor.evidence.browser import Browser, find_chromium  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def kind_of(pid: int) -> str:
    """A process's kind: Chromium's --type (browser when none), else its command name."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().replace(b"\0", b" ").split()  # Chromium rewrites its title
    except OSError:
        return "?"
    name = os.path.basename(argv[0].decode(errors="replace")) if argv else "?"
    if "chrom" in name:
        kinds = [a[7:].decode() for a in argv if a.startswith(b"--type=")]
        return f"chromium:{kinds[0] if kinds else 'browser'}"
    return name


def tree_cpu(root: int, skip: set[int]) -> dict[str, float]:
    """CPU seconds of ``root`` and its live descendants, with what they reaped (cutime), by
    kind of process."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = sum(int(x) for x in fields[11:15]) / TICK
    total: dict[str, float] = defaultdict(float)
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in skip:
            continue
        total[kind_of(pid)] += times.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


class Phases:
    """Wall time per phase of a capture, by wrapping the browser's steps (whichever exist)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, obj, name: str, label: str) -> None:
        inner = getattr(obj, name, None)
        if inner is None:
            return
        phases = self

        async def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                phases.seconds[label] += time.perf_counter() - t0

        setattr(obj, name, timed)


async def captures(world: World, n: int, concurrency: int, executable: str) -> dict:
    every_tenth = range(0, world.count, 10)
    urls = [f"http://{shop_host(i)}:{world.port}/p/0.html" for i in every_tenth][: n + 1]
    browser = Browser(executable, max_pages=4, timeout=30)
    phases = Phases()
    for name, label in (
        ("_new_context", "context"),
        ("_settle", "settle"),
        ("_screenshot", "screenshot"),
    ):
        phases.wrap(browser, name, label)
    try:
        warm = urls.pop()  # launches Chromium, the driver and the proxy
        await browser.capture(warm, origins=target_origins(warm.rsplit("/p/", 1)[0] + "/"))
        phases.seconds.clear()
        skip = {world.proc.pid}
        cpu0, t0 = tree_cpu(os.getpid(), skip), time.perf_counter()
        sem = asyncio.Semaphore(concurrency)
        shots = notes = 0

        async def one(url: str) -> None:
            nonlocal shots, notes
            async with sem:
                cap = await browser.capture(
                    url, origins=target_origins(url.rsplit("/p/", 1)[0] + "/")
                )
                shots += cap.png is not None
                notes += cap.screenshot_note is not None

        await asyncio.gather(*(one(u) for u in urls))
        wall, cpu1 = time.perf_counter() - t0, tree_cpu(os.getpid(), skip)
        by_kind = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    finally:
        await browser.close()
    return {
        "n": len(urls),
        "wall": wall,
        "cpu": sum(by_kind.values()),
        "by_kind": {k: round(v, 2) for k, v in by_kind.items() if abs(v) >= 0.01},
        "phases": dict(phases.seconds),
        "shots": shots,
        "notes": notes,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captures", type=int, default=40)
    ap.add_argument("--concurrency", default="1,4")
    ap.add_argument("--nightly", type=int, default=0, help="shops of a nightly run (0: none)")
    a = ap.parse_args()
    executable = find_chromium()
    if executable is None:
        raise SystemExit("no Chromium")
    print(f"monitor.evidence.browser from {mb.__file__}")
    world = World(max(10 * (a.captures + 1), a.nightly))
    try:
        for c in [int(x) for x in a.concurrency.split(",")]:
            r = asyncio.run(captures(world, a.captures, c, executable))
            per = {k: f"{1000 * v / r['n']:.0f}" for k, v in sorted(r["phases"].items())}
            print(
                f"captures {r['n']} at {c} in flight: {r['wall']:.2f}s wall "
                f"({1000 * r['wall'] / r['n']:.0f} ms each), {r['cpu']:.2f} CPU s "
                f"({1000 * r['cpu'] / r['n']:.0f} ms each); screenshots {r['shots']}, "
                f"with a note {r['notes']}; ms per capture by phase (summed over pages): {per}",
                flush=True,
            )
            print(f"  CPU s by process: {r['by_kind']}", flush=True)
        if a.nightly:
            small = World(a.nightly)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    for shots in (False, True):
                        run = full(small, Path(tmp) / f"n{int(shots)}", screenshots=shots)[0]
                        t = run["totals"]
                        print(
                            f"nightly {a.nightly} shops, screenshots {shots}: "
                            f"{run['wall']:.1f}s wall, {run['cpu']:.1f} CPU s, "
                            f"{t.get('pages', 0)} pages ({t.get('pages', 0) / run['wall']:.1f} "
                            f"p/s), {t.get('screenshots', t.get('evidence', '?'))} shots",
                            flush=True,
                        )
            finally:
                small.stop()
    finally:
        world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
