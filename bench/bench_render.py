"""Benchmark: Chromium captures over 1,000 local pages, with and without screenshots; and the
memory of nights of N rendered shops at two sizes, side by side.

    .venv/bin/python bench/bench_render.py [--pages 1000] [--shops 10,40] [--only shops|captures]

Nights: N storefront shops (each on its own 127.0.0.1 port, so its own target, context and
proxy lane; an index built by script and 4 listings, one of them flagged, so it is rendered by
the crawl and captured as evidence) crawled by `monitor nightly` in a child process; prints
per size the rendered pages, pages/s, the peak memory of the child's whole process tree
(sampled every 0.2 s) and the most Chromium browser processes seen at once. With one Chromium
per process, a fixed number of pages and recycled contexts, the peak should stay flat as N grows.

Serves generated Chinese product pages on 127.0.0.1 and captures each with
monitor.evidence.browser.Browser (contexts kept in slots and handed over between targets, at
most browser.max_pages at once; a context serves 100 pages, then a fresh one takes over), first
with full-page screenshots and then without, in the same run. Prints pages
per second and the peak memory of this process plus all its Chromium processes, sampled
every 0.2 s, and the memory after the first and the last 100 pages, so growth would show.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from monitor.evidence.browser import Browser, find_chromium
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


STORE = """<!doctype html><html><head><meta charset="utf-8"><title>店铺 {i}</title></head>
<body><div id="app"></div><script>
const app = document.getElementById('app');
for (let k = 0; k < 4; k++) {{
  const a = document.createElement('a'); a.className = 'item'; a.href = '/p' + k + '.html';
  a.textContent = '商品' + k; app.appendChild(a);
}}</script></body></html>"""
FLAGGED_TITLE = "高仿名表 一比一"


def chromium_mains(root: int) -> int:
    """Chromium browser processes under ``root`` (not their --type= children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    count, stack = 0, [(root, False)]
    while stack:
        pid, under = stack.pop()
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                command = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            command = ""
        chromium = "chrom" in os.path.basename(command.split(" ", 1)[0])
        if chromium and not under and "--type=" not in command:
            count += 1
        stack.extend((c, under or chromium) for c in children.get(pid, []))
    return count


def night(shops: int, folder: Path) -> dict:
    """Serve ``shops`` storefronts, run `monitor nightly` over them; its figures."""
    servers = []
    for i in range(shops):
        root = folder / f"shop{i}"
        root.mkdir(parents=True)
        (root / "index.html").write_text(STORE.format(i=i), encoding="utf-8")
        for k in range(4):
            title = f"{FLAGGED_TITLE} 第{i}店{k}号" if k == 0 else f"加厚羽绒服 第{i}店{k}号"
            items = "".join(f"<li>规格{j}：{j * 10}厘米</li>" for j in range(30))
            (root / f"p{k}.html").write_text(
                PAGE.format(
                    i=i, price=100 + k, text="保暖透气，轻薄舒适。" * 40, items=items
                ).replace(f"加厚羽绒服 第{i}款", title),
                encoding="utf-8",
            )
        servers.append(ShopServer(root).start())
    config = {
        "database": {"url": "sqlite:///monitor.db"},
        "evidence": {"dir": "evidence"},
        "logs": {"dir": "logs"},
        "crawl": {"obey_robots": False},
        "browser": {"max_pages": 4},
        "platforms": {"p": {"listing_links": "a.item", "title": "h1", "wait_for": "a.item"}},
        "targets": [
            {"name": f"店{i}", "url": s.url, "kind": "storefront", "platform": "p"}
            for i, s in enumerate(servers)
        ],
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--config", str(folder / "config.yaml"), "nightly"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=folder,
    )
    peak, browsers = 0.0, 0
    t0 = time.perf_counter()
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        browsers = max(browsers, chromium_mains(proc.pid))
        time.sleep(0.2)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode("utf-8", "replace")
    for s in servers:
        s.stop()
    con = sqlite3.connect(folder / "monitor.db")
    listings = con.execute("SELECT count(*) FROM listings").fetchone()[0]
    shots = sum(
        any(a["kind"] == "screenshot" for a in json.loads(m.read_bytes())["artifacts"])
        for m in (folder / "evidence" / "manifests").glob("*.json")
    )
    con.close()
    if listings < shops * 4:
        print(f"  warning: {listings} of {shops * 4} listings found; {err[-300:]}")
    rendered = listings + shops + shots  # storefront pages, listing pages, evidence captures
    return {
        "shops": shops,
        "rendered": rendered,
        "shots": shots,
        "seconds": elapsed,
        "pages_per_s": rendered / elapsed,
        "peak_mb": peak,
        "browsers": browsers,
        "exit": proc.returncode,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--shops", default="10,40", help="two numbers of shops, e.g. 10,40")
    ap.add_argument("--only", choices=("shops", "captures"))
    a = ap.parse_args()
    executable = find_chromium()
    if executable is None:
        print("Chromium not found: install Debian's chromium")
        return 2
    if a.only != "captures":
        sizes = [int(x) for x in a.shops.split(",")]
        rows = []
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(night(n, Path(tmp)))
        print("Nights of N rendered storefronts (4 listings each, 1 flagged), browser.max_pages 4")
        print(
            f"{'shops':>6} {'rendered':>9} {'shots':>6} {'seconds':>8} {'pages/s':>8}"
            f" {'peak MB':>8} {'Chromiums':>10} {'exit':>5}"
        )
        for r in rows:
            print(
                f"{r['shops']:6d} {r['rendered']:9d} {r['shots']:6d} {r['seconds']:8.1f}"
                f" {r['pages_per_s']:8.1f} {r['peak_mb']:8.0f} {r['browsers']:10d} {r['exit']:5d}"
            )
        if len(rows) >= 2 and rows[0]["peak_mb"]:
            print(
                f"peak memory at {rows[-1]['shops']} shops is "
                f"{rows[-1]['peak_mb'] / rows[0]['peak_mb'] * 100:.0f} % of that at "
                f"{rows[0]['shops']} shops"
            )
        if a.only == "shops":
            return 0
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
