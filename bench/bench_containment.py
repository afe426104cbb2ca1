"""Benchmark: what the containment proxy costs. The same local product pages (each with a
stylesheet, a script and six images, all on the page's origin) are rendered by Chromium with
the containment flags through the proxy, and by the same Chromium without either, in one run.

    .venv/bin/python bench/bench_containment.py [--pages 60]

Prints pages per second for both and the proxy's cost per page. Screenshots off: the figures
are about the network path, not painting.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from monitor.containment import OriginProxy, contained_launch_options
from monitor.evidence.browser import find_chromium, launch_options
from monitor.webserver import ShopServer

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>商品 {i}</title>
<link rel="stylesheet" href="style.css"><script src="app.js"></script></head>
<body><h1>加厚羽绒服 第{i}款</h1><p class="price">￥{i}9</p>{images}</body></html>"""
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def make_shop(root: Path, pages: int) -> None:
    (root / "style.css").write_text("body { font-family: sans-serif; }")
    (root / "app.js").write_text("document.title += ' ✓';")
    for k in range(6):
        (root / f"i{k}.png").write_bytes(PNG)
    images = "".join(f'<img src="i{k}.png?p={{i}}">' for k in range(6))
    for i in range(pages):
        (root / f"p{i}.html").write_text(PAGE.format(i=i, images=images.format(i=i)))


async def render(urls: list[str], proxy: OriginProxy | None) -> float:
    """Seconds to render ``urls``, four at once, in one context of a fresh Chromium."""
    from playwright.async_api import async_playwright

    semaphore = asyncio.Semaphore(4)
    options = launch_options(find_chromium())
    if proxy is not None:
        options = contained_launch_options(options, proxy.url)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**options)
        context = await browser.new_context()

        async def one(url: str) -> None:
            async with semaphore:
                page = await context.new_page()
                await page.goto(url, wait_until="load")
                await page.content()
                await page.close()

        await one(urls[0])  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(one(u) for u in urls))
        took = time.perf_counter() - started
        await browser.close()
        return took


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=60)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_shop(Path(tmp), a.pages)
        with ShopServer(tmp) as server:
            urls = [f"{server.url}p{i}.html" for i in range(a.pages)]
            base = asyncio.run(render(urls, None))
            origin = ("http", "127.0.0.1", int(server.url.rsplit(":", 1)[1].strip("/")))
            with OriginProxy({origin: True}) as proxy:
                proxied = asyncio.run(render(urls, proxy))
    n = a.pages
    print(f"{n} pages, 8 requests each, 4 at once")
    print(f"without a proxy (baseline)   {n / base:6.1f} pages/s")
    print(f"through the containment proxy {n / proxied:6.1f} pages/s")
    print(f"cost {(proxied - base) / n * 1000:+.0f} ms per page")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
