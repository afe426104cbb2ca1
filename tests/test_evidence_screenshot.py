"""A screenshot shows the page as it was: as tall as the document, nothing drawn twice.

Each fixture page is captured many times, concurrently, through one shared browser context
(as a nightly run does), and every capture is compared row by row with a reference rendering
of the same page made alone in a fresh context. The comparison must catch the defect seen in
the demo (the page's content repeated ~830 px lower), which the last test checks directly.
"""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from monitor.evidence.browser import Browser, find_chromium, launch_options

PAGES = ["short.html", "tall.html", "grows.html", "wide.html"]
ROUNDS = 10
TOLERANCE = 24  # per channel: anti-aliasing may differ slightly, content may not

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium")


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def row_mismatch(got: np.ndarray, want: np.ndarray) -> str | None:
    """Why ``got`` is not the same picture as ``want`` (None when every row matches)."""
    if got.shape != want.shape:
        return f"size {got.shape[1]}x{got.shape[0]}, reference {want.shape[1]}x{want.shape[0]}"
    bad = np.nonzero(np.abs(got - want).max(axis=(1, 2)) > TOLERANCE)[0]
    if len(bad):
        return f"{len(bad)} pixel rows differ, first at y={bad[0]}, last at y={bad[-1]}"
    return None


async def references(urls: list[str]) -> dict[str, np.ndarray]:
    """Each page rendered alone: measured in one fresh context, then pictured in another
    whose window is exactly as tall as the document (nothing painted beyond the window)."""
    from playwright.async_api import async_playwright

    out = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**launch_options(CHROMIUM))
        for url in urls:
            height = 900
            for _ in range(2):
                context = await browser.new_context(
                    viewport={"width": 1280, "height": height}, locale="zh-CN"
                )
                page = await context.new_page()
                await page.goto(url, wait_until="load")
                await page.wait_for_timeout(200)
                measured = await page.evaluate(
                    "Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"
                )
                if measured == height:
                    out[url] = pixels(await page.screenshot(type="png"))
                    await context.close()
                    break
                height = max(900, measured)
                await context.close()
            else:
                raise AssertionError(f"{url}: no stable height for the reference")
        await browser.close()
    return out


async def shared_context_captures(urls: list[str]) -> list[tuple[str, bytes]]:
    browser = Browser(CHROMIUM, max_pages=4, timeout=60)
    try:
        out = []
        for _ in range(ROUNDS):
            caps = await asyncio.gather(*(browser.capture(u) for u in urls))
            out += [(u, c.png) for u, c in zip(urls, caps, strict=True)]
        return out
    finally:
        await browser.close()


def test_every_capture_matches_its_page_rendered_alone(shop):
    server = shop("screens")
    urls = [server.url + p for p in PAGES]
    refs = asyncio.run(references(urls))
    assert refs[server.url + "tall.html"].shape[0] > 1700  # taller than the window
    assert refs[server.url + "short.html"].shape[0] == 900  # the window's height, nothing more
    captures = asyncio.run(shared_context_captures(urls))
    assert len(captures) == ROUNDS * len(PAGES)
    failures = [
        f"{url.rsplit('/', 1)[-1]} capture {i}: {why}"
        for i, (url, png) in enumerate(captures)
        if (why := row_mismatch(pixels(png), refs[url]))
    ]
    assert not failures, "\n".join(failures)


def test_the_comparison_fails_on_a_doubled_page(shop):
    """The defect from the demo: the short page's content drawn again 830 px lower."""
    server = shop("screens")
    url = server.url + "short.html"
    ref = asyncio.run(references([url]))[url]
    content = np.nonzero((ref < 250).any(axis=(1, 2)))[0]
    top, bottom = content[0], content[-1] + 1
    doubled = np.concatenate([ref, np.full((830, ref.shape[1], 3), 255, np.int16)])
    doubled[top + 830 : bottom + 830] = ref[top:bottom]
    assert row_mismatch(doubled, ref) is not None
    same_size = ref.copy()
    same_size[top + 300 : bottom + 300] = ref[top:bottom]  # a copy within the window's height
    assert row_mismatch(same_size, ref) is not None
    assert row_mismatch(ref.copy(), ref) is None
