"""Benchmark: Chromium captures over 1,000 local pages, with and without screenshots.

    .venv/bin/python bench/bench_render.py [--pages 1000]

Serves generated Chinese product pages on 127.0.0.1 and captures each with
monitor.browser.Browser (fresh context per page, closed after use, at most browser.max_pages
at once; a browser context serves 100 pages, then a fresh one takes over), first with full-page screenshots and then without, in the same run. Prints pages
per second and the peak memory of this process plus all its Chromium processes, sampled
every 0.2 s, and the memory after the first and the last 100 pages, so growth would show.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from monitor.browser import Browser, find_chromium
from monitor.webserver import ShopServer

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>商品 {i}</title></head>
<body><main><h1>加厚羽绒服 第{i}款</h1><p class="price">￥{price}</p>
<div class="description">{text}</div><ul>{items}</ul></main>
<script>document.querySelector('h1').dataset.rendered = '1';</script></body></html>"""


def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0] or 0)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 1024


async def run(base: str, pages: int, screenshot: bool, executable: str) -> dict:
    browser = Browser(executable, max_pages=4, timeout=30)
    peak = 0.0
    marks = {}
    done = 0
    stop = threading.Event()

    def sample():  # in a thread: reading /proc must not stall the event loop being measured
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_mb(os.getpid()))
            time.sleep(0.2)

    async def one(i: int):
        nonlocal done
        await browser.capture(f"{base}p{i}.html", screenshot=screenshot)
        done += 1
        if done in (100, pages - 100):
            marks[done] = tree_rss_mb(os.getpid())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    queue = list(range(pages))

    async def worker():
        while queue:
            await one(queue.pop())

    await asyncio.gather(*(worker() for _ in range(4)))
    elapsed = time.perf_counter() - t0
    stop.set()
    sampler.join()
    await browser.close()
    return {"pages_per_s": pages / elapsed, "peak_mb": peak, "marks": marks}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    a = ap.parse_args()
    executable = find_chromium()
    if executable is None:
        print("Chromium not found: install Debian's chromium")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(a.pages):
            items = "".join(f"<li>规格{j}：{j * 10}厘米</li>" for j in range(30))
            (root / f"p{i}.html").write_text(
                PAGE.format(i=i, price=100 + i, text="保暖透气，轻薄舒适。" * 40, items=items),
                encoding="utf-8",
            )
        with ShopServer(root) as server:
            rows = [
                (label, asyncio.run(run(server.url, a.pages, shot, executable)))
                for label, shot in (("with screenshots", True), ("without screenshots", False))
            ]
    print(f"{a.pages} pages each run, 4 at once, a fresh browser context every 100 pages")
    print(f"{'':22} {'pages/s':>8} {'peak MB':>8} {'MB after 100':>13} {'MB near the end':>16}")
    for label, r in rows:
        m = r["marks"]
        print(
            f"{label:22} {r['pages_per_s']:8.1f} {r['peak_mb']:8.0f} {m.get(100, 0):13.0f} {m.get(a.pages - 100, 0):16.0f}"
        )
    w, wo = rows[0][1], rows[1][1]
    print(
        f"screenshots cost {(1 / w['pages_per_s'] - 1 / wo['pages_per_s']) * 1000:.0f} ms per page"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
