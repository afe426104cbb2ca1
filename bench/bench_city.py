"""Benchmark: a city's night on one machine. Generates a local world of shops on loopback and
prints, side by side in one run: a bare Scrapy spider's pages/s, the full pipeline's pages/s
without and with screenshots (Chromium), the unchanged re-run's wall time against the first
run, seconds of overhead per target, and the peak memory of the process tree.

    .venv/bin/python bench/bench_city.py [--shops 2000 --small-shops 500] [--big-shops 4]
                                         [--no-chromium] [--repeat 3]

One server process serves every shop: shop i is http://127.0.X.Y:PORT/ (each its own loopback
address, so its own origin and download slot), told apart by the Host header; listings answer
If-Modified-Since with 304. Each shop: an index page with its licence footer, 10 listings
(one in ten shops has a violating listing). Targets (issue #12): full pipeline >= 80 % of bare
without Chromium and >= 60 % with it, re-run <= 25 % of the first run, peak memory flat (+-20 %)
from the small world to the large one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

LISTINGS = 10
VALID_CODE = "91350100M000100Y43"
MODIFIED = "Mon, 30 Nov 2026 00:00:00 GMT"

BARE_SPIDER = '''
import scrapy
from scrapy.linkextractors import LinkExtractor

class Bare(scrapy.Spider):
    """What Scrapy does with no pipelines: fetch, extract links, follow them on the same host."""
    name = "bare"

    def __init__(self, urls="", **kw):
        super().__init__(**kw)
        self.urls = [u for u in open(urls).read().split()]
        self.links = LinkExtractor(unique=True)

    async def start(self):
        for u in self.urls:
            yield scrapy.Request(u)

    def parse(self, response):
        host = response.url.split("/")[2]
        for link in self.links.extract_links(response):
            if link.url.split("/")[2] == host:
                yield response.follow(link.url)
        if "/p/" in response.url:
            yield {"url": response.url, "title": response.css("h1::text").get()}
'''


# -- the world -----------------------------------------------------------------------------------


def shop_host(i: int) -> str:
    return f"127.{1 + i // 62500}.{(i // 250) % 250}.{1 + i % 250}"


def page(shop: int, path: str, big: int) -> bytes | None:
    n = big or LISTINGS
    if path in ("/", "/index.html"):
        links = "".join(f'<a href="/p/{k}.html">商品{k}</a> ' for k in range(min(n, 50)))
        more = '<a href="/list/1.html">下一页</a>' if n > 50 else ""
        return (
            '<html><head><meta charset="utf-8"><title>店铺</title></head><body>'
            f"{links}{more}<footer>经营者：福州某某商贸有限公司 统一社会信用代码：{VALID_CODE} "
            "闽ICP备2023012345号-1</footer></body></html>"
        ).encode()
    if path.startswith("/list/"):
        k = int(path.split("/")[2].split(".")[0])
        start, end = k * 50, min(n, (k + 1) * 50)
        if start >= n:
            return None
        links = "".join(f'<a href="/p/{j}.html">商品{j}</a> ' for j in range(start, end))
        more = f'<a href="/list/{k + 1}.html">下一页</a>' if end < n else ""
        return (
            f'<html><head><meta charset="utf-8"></head><body>{links}{more}</body></html>'.encode()
        )
    if path.startswith("/p/"):
        k = int(path.split("/")[2].split(".")[0])
        if k >= n:
            return None
        flagged = k == 0 and shop % 10 == 0
        title = f"高仿名表 第{k}款" if flagged else f"加厚羽绒服 第{k}款"
        return (
            f'<html><head><meta charset="utf-8"><title>{title}</title></head><body><main>'
            f"<h1>{title}</h1><p>价格：￥{100 + k}</p><p>保暖透气，轻薄舒适，店铺{shop}。</p>"
            "</main></body></html>"
        ).encode()
    return None


async def handle(reader, writer, shops: dict[str, int], big: int) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines[1:] if ln)}
            shop = shops.get(headers.get("host", "").split(":")[0], -1)
            body = page(shop, path, big) if shop >= 0 else None
            if body is None:
                status, body, extra = "404 Not Found", b"not found", ""
            elif headers.get("if-modified-since") == MODIFIED and path.startswith("/p/"):
                status, body, extra = "304 Not Modified", b"", ""
            else:
                status, extra = "200 OK", f"Last-Modified: {MODIFIED}\r\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n{extra}"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
        pass
    finally:
        writer.close()


def serve(port: int, count: int, big: int, ready) -> None:
    shops = {shop_host(i): i for i in range(count)}

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: handle(r, w, shops, big), "0.0.0.0", port, backlog=1024
        )
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class World:
    """``count`` shops served by one process on ``port`` (``big``: listings per shop, else 10)."""

    def __init__(self, count: int, big: int = 0) -> None:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.count, self.big = count, big
        ready = multiprocessing.Event()
        self.proc = multiprocessing.Process(
            target=serve, args=(self.port, count, big, ready), daemon=True
        )
        self.proc.start()
        ready.wait(30)

    def urls(self) -> list[str]:
        return [f"http://{shop_host(i)}:{self.port}/" for i in range(self.count)]

    def pages(self) -> int:
        n = self.big or LISTINGS
        return self.count * (1 + n + ((n - 1) // 50 if n > 50 else 0))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join()


# -- measuring -----------------------------------------------------------------------------------


def tree_rss(pid: int) -> int:
    """RSS in bytes of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


def timed(cmd: list[str], **kw) -> tuple[float, int, subprocess.CompletedProcess, float]:
    """Wall seconds, peak process-tree RSS and CPU seconds (user + system) of a command. CPU
    time is what to compare on a machine shared with other work: wall time there measures the
    other work too."""
    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc.pid))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, peak, subprocess.CompletedProcess(cmd, proc.returncode, out, err), cpu


def bare(world: World, folder: Path) -> tuple[float, int, int, float]:
    spider = folder / "bare_spider.py"
    spider.write_text(BARE_SPIDER, encoding="utf-8")
    urls = folder / "urls.txt"
    urls.write_text("\n".join(world.urls()), encoding="utf-8")
    stats = folder / "bare-stats.json"
    cmd = [
        sys.executable, "-m", "scrapy", "runspider", str(spider), "-a", f"urls={urls}",
        "-s", "LOG_LEVEL=WARNING", "-s", "CONCURRENT_REQUESTS=16",
        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=4", "-s", "ROBOTSTXT_OBEY=False",
        "-s", "TELNETCONSOLE_ENABLED=False", "-s", "COOKIES_ENABLED=False",
        "-s", "TWISTED_REACTOR=twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "-s", "STATS_DUMP=True", "-o", str(folder / "bare.jsonl"),
    ]  # fmt: skip
    wall, peak, result, cpu = timed(cmd, cwd=folder)
    if result.returncode != 0:
        raise SystemExit(f"bare spider failed: {result.stderr[-2000:]}")
    del stats
    pages = sum(1 for _ in open(folder / "bare.jsonl", encoding="utf-8"))  # listings
    return wall, peak, pages, cpu


def monitor(folder: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor.cli", "--config", str(folder / "config.yaml"), *args]


def full(world: World, folder: Path, screenshots: bool, reruns: int = 0) -> list[dict]:
    """The full pipeline via `monitor nightly` over an imported registry; then unchanged re-runs."""
    folder.mkdir(parents=True)
    browser = {} if screenshots else {"executable_path": "/nonexistent/chromium"}
    (folder / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "database": {"url": "sqlite:///monitor.db"},
                "evidence": {"dir": "evidence", "screenshots": screenshots},
                "crawl": {"obey_robots": False},
                "browser": browser,
            }
        ),
        encoding="utf-8",
    )
    registry = folder / "targets.csv"
    registry.write_text(
        "name,url\n" + "".join(f"shop{i},{u}\n" for i, u in enumerate(world.urls())),
        encoding="utf-8",
    )
    subprocess.run(monitor(folder, "init"), check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run(
        monitor(folder, "targets", "import", str(registry)), check=True, capture_output=True
    )
    import_s = time.perf_counter() - t0
    out = []
    for run in range(1 + reruns):
        wall, peak, result, cpu = timed(monitor(folder, "nightly"))
        if result.returncode not in (0, 1):
            raise SystemExit(f"nightly failed: {result.stderr[-2000:]}")
        shown = subprocess.run(
            monitor(folder, "runs", "show", str(run + 1)),
            check=True,
            capture_output=True,
            text=True,
        )
        totals = json.loads(shown.stdout)["stats"]["totals"]
        out.append({"wall": wall, "peak": peak, "totals": totals, "import_s": import_s, "cpu": cpu})
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


def mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def report(row: tuple, header: bool) -> None:
    """One world's figures, printed as soon as they are measured."""
    if header:
        print(f"{'world':10} {'shops':>6} {'pages':>7} | {'bare p/s':>8} | {'full p/s':>8} {'%bare':>6} "
              f"| {'shots p/s':>9} {'%bare':>6} | {'rerun/1st':>9} | {'s/target':>8} | "
              f"{'peak bare':>9} {'peak full':>9} {'peak shots':>10}")  # fmt: skip
    label, count, _per, pages, b_wall, b_peak, runs, shots, b_cpu = row
    first, rerun = runs[0], runs[1]
    bare_ps = pages / b_wall
    full_ps = first["totals"].get("pages", 0) / first["wall"]
    shots_ps = shots[0]["totals"].get("pages", 0) / shots[0]["wall"] if shots else 0
    overhead = (first["wall"] - b_wall) / count
    print(
        f"{label:10} {count:6} {pages:7} | {bare_ps:8.1f} | {full_ps:8.1f} "
        f"{100 * full_ps / bare_ps:5.0f}% | "
        + (
            f"{shots_ps:9.1f} {100 * shots_ps / bare_ps:5.0f}% | "
            if shots
            else f"{'-':>9} {'':6} | "
        )
        + f"{rerun['wall'] / first['wall']:9.2f} | {overhead:8.3f} | "
        f"{mb(b_peak):>9} {mb(first['peak']):>9} "
        + (f"{mb(shots[0]['peak']):>10}" if shots else f"{'-':>10}")
    )
    print(
        f"{'':10} first run {first['wall']:.1f}s ({first['totals'].get('pages', 0)} pages, "
        f"{first['totals'].get('listings', 0)} listings, {first['totals'].get('leads_new', 0)} "
        f"new leads), re-run {rerun['wall']:.1f}s ({rerun['totals'].get('pages', 0)} pages, "
        f"{rerun['totals'].get('not_modified', 0)} 304), bare {b_wall:.1f}s, "
        f"import of {count} targets {first['import_s']:.1f}s"
    )
    full_pages = first["totals"].get("pages", 0)
    print(
        f"{'':10} CPU seconds: bare {b_cpu:.1f}, first run {first['cpu']:.1f}, re-run "
        f"{rerun['cpu']:.1f} | pages per CPU-second full/bare "
        f"{100 * (full_pages / first['cpu']) / (pages / b_cpu):.0f}% | re-run/1st CPU "
        f"{rerun['cpu'] / first['cpu']:.2f} | CPU s/target over bare "
        f"{(first['cpu'] - b_cpu) / count:.4f}",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shops", type=int, default=2000)
    ap.add_argument("--small-shops", type=int, default=500)
    ap.add_argument("--big-shops", type=int, default=4, help="shops of 1,000 listings")
    ap.add_argument("--no-chromium", action="store_true", help="skip the screenshots run")
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs of each measurement; the median is printed"
    )
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        worlds = [("small", a.small_shops, 0), ("large", a.shops, 0)]
        if a.big_shops:
            worlds.append(("big shops", a.big_shops, 1000))
        for label, count, big in worlds:
            world = World(count, big)
            try:
                folder = tmp / label.replace(" ", "_")
                folder.mkdir()
                bares, fulls = [], []
                for r in range(a.repeat):  # interleaved, so both see the machine alike
                    (folder / f"bare{r}").mkdir()
                    bares.append(bare(world, folder / f"bare{r}"))
                    fulls.append(full(world, folder / f"full{r}", screenshots=False, reruns=1))
                b_wall, b_peak = median([b[0] for b in bares]), median([b[1] for b in bares])
                b_cpu = median([b[3] for b in bares])
                runs = [
                    {
                        "wall": median([f[i]["wall"] for f in fulls]),
                        "peak": median([f[i]["peak"] for f in fulls]),
                        "totals": fulls[0][i]["totals"],
                        "import_s": median([f[i]["import_s"] for f in fulls]),
                        "cpu": median([f[i]["cpu"] for f in fulls]),
                    }
                    for i in (0, 1)
                ]
                shots = (
                    full(world, folder / "shots", screenshots=True)
                    if not a.no_chromium and label == "large"
                    else None
                )
            finally:
                world.stop()
            pages = world.pages()
            row = (label, count, big or LISTINGS, pages, b_wall, b_peak, runs, shots, b_cpu)
            rows.append(row)
            report(row, header=len(rows) == 1)
    small = next(r for r in rows if r[0] == "small")
    large = next(r for r in rows if r[0] == "large")
    print(
        f"peak memory of the full pipeline, {small[1]} -> {large[1]} shops: "
        f"{mb(small[6][0]['peak'])} -> {mb(large[6][0]['peak'])} "
        f"({100 * (large[6][0]['peak'] / small[6][0]['peak'] - 1):+.0f} %)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
