"""Headless Chromium for evidence: render a flagged listing, keep its DOM, bytes and a screenshot.

Debian's Chromium is used as installed (never `playwright install`), one per process
(:class:`monitor.containment.shared.SharedChromium`, shared with the crawl's rendering). Pages
are hostile: each capture renders in a browser context whose proxy is a lane of the containment
proxy (:mod:`monitor.containment`) admitting only the listing's own origin, so nothing leaves
the target at the network layer (redirect hops, WebSockets, preconnects, popups, WebRTC
included) and captures of other shops in flight are out of reach; a route handler aborts other
origins early as well, so the closed network is not probed. A capture whose page ends up on
another origin keeps no DOM or screenshot: the evidence is the target's page or none. A capture
that hangs or crashes the renderer is abandoned after ``timeout`` seconds, and at most
``max_pages`` pages are open at once in the process. A capture's page is always closed; the
contexts (at most one per capture in flight, each with one blank page kept open) are handed
from shop to shop and recycled, so memory stays flat.

Cost: a night captures one listing in ten shops or so, each on its own origin. A context
created for each capture, whose only page was closed after it, cost Chromium ~0.8 CPU s per
capture here (a fresh renderer, network context and storage each time); a context handed over
between shops and kept with a page open costs ~0.3 (bench/bench_shots.py prints both).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from monitor.containment import contained_context_kwargs, guard_context
from monitor.containment.shared import SharedChromium
from monitor.downloadermiddlewares.scope import is_private_host
from monitor.evidence.recorder import ResponseRecorder

logger = logging.getLogger(__name__)

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LAUNCH_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--disable-quic",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
]


def find_chromium(configured: str | None = None) -> str | None:
    """The Chromium to use: the configured path, else the first one on PATH or in /usr/bin."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CANDIDATES:
        path = shutil.which(name) or (
            f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
        )
        if path:
            return path
    return None


def launch_options(executable: str, headless: bool = True) -> dict:
    args = list(LAUNCH_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    return {"executable_path": executable, "headless": headless, "args": args}


def origin_of(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port or (443 if p.scheme == "https" else 80)


HANDLER = "monitor.containment.handler.ContainedPlaywrightHandler"
NETWORK_QUIET_WAIT = 5.0


async def settle_network(page, seconds: float = NETWORK_QUIET_WAIT) -> None:
    """A PageMethod for rendered crawls: wait for the page's network to go quiet, for at most
    ``seconds``. A page that never goes quiet (a script fetching or reconnecting for ever) is
    taken as it is then, so it cannot hide its listing behind a render timeout."""
    from playwright.async_api import TimeoutError as PlaywrightTimeoutError

    try:
        await page.wait_for_load_state("networkidle", timeout=seconds * 1000)
    except PlaywrightTimeoutError:
        pass


def renders_contained(settings) -> bool:
    """Whether a crawler's settings render pages through the contained scrapy-playwright
    handler (a bare scrapy-playwright handler would let Chromium leave the target)."""
    path = settings.getdict("DOWNLOAD_HANDLERS").get("http")
    if not path:
        return False
    if not isinstance(path, str):
        path = f"{path.__module__}.{path.__qualname__}"
    return path == HANDLER


class SameOriginOnly:
    """For PLAYWRIGHT_ABORT_REQUEST: abort a page's requests to other origins (data: is fine)."""

    def __init__(self, origins: set[tuple]) -> None:
        self.origins = origins

    def __call__(self, request) -> bool:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return False
        return origin_of(url) not in self.origins


@dataclass
class Capture:
    url: str
    status: int | None
    headers: dict
    raw_body: bytes | None
    dom: str
    png: bytes | None
    screenshot_note: str | None = None  # why the picture may not be exact, if it may not
    request: dict | None = None  # the navigation request as Chromium sent it
    loaded: list = field(default_factory=list)  # what the page loaded (evidence.recorder)


VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_HEIGHT = 16384  # Chromium's largest paintable surface; taller pages are cut here

SCREENSHOT_ATTEMPTS = 4
NEXT_FRAMES_JS = """() => new Promise(done =>
    requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"""


class CaptureError(Exception):
    """A page could not be captured (timeout, renderer crash, navigation error)."""


class Browser:
    """Evidence captures in the process's one Chromium (:class:`SharedChromium`).

    Each capture renders in a context bound to a lane of the containment proxy that admits the
    listing's own origin (or the ``origins`` given: its target's), never the origins of other
    captures in flight, so concurrent captures of two shops cannot reach each other. Contexts
    are kept in slots, one capture at a time each: an idle context whose lane admits another
    target is handed over to the next one (its other pages closed, its lane re-admits and cuts
    its connections, its cookies cleared) instead of a new context being created for every
    shop; a context is recycled every ``RECYCLE`` pages. The process's page slots bound the
    pages open at once, shared with the crawl's rendering, and so the slots."""

    RECYCLE = 100  # pages per browser context before a fresh one takes over

    def __init__(
        self, executable: str, max_pages: int = 4, timeout: float = 30.0, settle: float = 3.0
    ) -> None:
        self.executable = executable
        self.max_pages = max(1, max_pages)
        self.timeout = timeout
        self.settle = settle
        self.refusals: Counter = Counter()  # requests its pages tried off their target
        self.handovers = 0  # contexts given from one target to another
        self._shared: SharedChromium | None = None
        self._slots: dict[int, bool] = {}  # context slots, least recently used first
        self._busy: set[int] = set()
        self._keepers: dict = {}  # context -> its blank page (see _new_context)
        self._slot_numbers = itertools.count(1)

    def _chromium(self) -> SharedChromium:
        if self._shared is None or self._shared.closed:
            self._shared = SharedChromium.for_running_loop()
            self._shared.configure(self.max_pages)
            self._shared.recycle = self.RECYCLE
            self._shared.acquire()
        return self._shared

    def contexts(self) -> list:
        """The browser contexts this browser's captures hold open."""
        if self._shared is None:
            return []
        return [x.context for x in self._shared.leases_of(self) if x.context is not None]

    def pages(self) -> list:
        """The pages this browser's captures (or their popups) hold open; not the contexts'
        blank keepers (see :meth:`_new_context`)."""
        return [p for c in self.contexts() for p in c.pages if p is not self._keepers.get(c)]

    async def _new_context(self, lane, name: str):
        """A context on ``lane``: the lane's proxy, and a route handler that aborts other
        origins early (the closed network is not probed).

        It keeps one blank page open for its whole life (its *keeper*): while a context has a
        page, Chromium keeps what it set up for it, and a capture's page opens and renders at
        about half the CPU it costs in a context whose last page closed (measured in
        bench/bench_shots.py). The keeper never navigates and runs no script."""
        browser = await self._shared.launch(launch_options(self.executable))
        context = await browser.new_context(
            **contained_context_kwargs({"viewport": dict(VIEWPORT), "locale": "zh-CN"}, lane.url)
        )
        await guard_context(context)
        guard = SameOriginOnly(lane.origins)

        async def route(r):
            await (r.abort() if guard(r.request) else r.continue_())

        await context.route("**/*", route)
        self._keepers[context] = await context.new_page()
        context.on("close", lambda c: self._keepers.pop(c, None))
        return context

    async def capture(
        self, url: str, screenshot: bool = True, origins: dict[tuple, bool] | None = None
    ) -> Capture:
        """Render ``url``; raise CaptureError if it fails or takes longer than the timeout.
        The page reaches ``origins`` (origin -> may be on a private address) only; by default
        the URL's own origin."""
        if origins is None:
            o = origin_of(url)
            origins = {o: is_private_host(o[1])}
        shared = self._chromium()
        await shared.acquire_page()
        holder: list = []
        lease = None
        slot = self._take_slot(origins)
        try:
            try:
                lease = await shared.lease(
                    self, ("evidence", slot), origins, self._new_context, self.refusals, "evidence"
                )
                return await asyncio.wait_for(
                    self._hand_over_and_render(lease, origins, url, screenshot, holder),
                    self.timeout,
                )
            except asyncio.TimeoutError:
                raise CaptureError(f"render timed out after {self.timeout:g}s") from None
            except CaptureError:
                raise
            except Exception as exc:  # noqa: BLE001 - playwright raises many kinds; the page is hostile
                raise CaptureError(
                    f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                ) from None
        finally:
            for page in holder:
                try:
                    await asyncio.wait_for(page.close(), 10)
                except Exception:  # noqa: BLE001 - a dead renderer can fail to close
                    pass
            if lease is not None:
                shared.unlease(lease)
            self._busy.discard(slot)
            shared.release_page()

    def _take_slot(self, origins: dict[tuple, bool]) -> int:
        """A context slot no capture in flight uses: one whose lane already admits exactly
        ``origins`` if there is one (no hand-over needed), else the idle one used longest ago,
        else a new one. Captures in flight never share a slot, so never a context or a lane."""
        idle = [n for n in self._slots if n not in self._busy]
        for n in idle:
            lease = self._slot_lease(n)
            if lease is not None and lease.lane.admits_only(origins):
                break
        else:
            n = idle[0] if idle else next(self._slot_numbers)
        self._slots.pop(n, None)
        self._slots[n] = True  # most recently used last
        self._busy.add(n)
        return n

    def _slot_lease(self, n: int):
        if self._shared is None:
            return None
        found = [x for x in self._shared.leases_of(self) if x.key == (id(self), ("evidence", n))]
        return found[0] if found and not found[0].closed else None

    async def _hand_over_and_render(
        self, lease, origins: dict[tuple, bool], url: str, screenshot: bool, holder: list
    ) -> Capture:
        """Render in ``lease``'s context; first hand it over to this capture's target when its
        lane admits another target's origins (see :meth:`_hand_over`)."""
        if not lease.lane.admits_only(origins):
            await self._hand_over(lease, origins)
        return await self._render(lease.context, url, screenshot, holder)

    async def _hand_over(self, lease, origins: dict[tuple, bool]) -> None:
        """Give an idle context of another target to this one: its pages (a popup left behind)
        are closed, its cookies are cleared, and its lane admits this target's origins only and
        cuts every connection it served (a kept-alive tunnel to the last target cannot be ridden). Creating a context costs Chromium about as much as the capture itself; the
        route guard reads the lane's origins, so it follows the hand-over too."""
        keeper = self._keepers.get(lease.context)
        for page in list(lease.context.pages):
            if page is not keeper or page.url != "about:blank":
                await page.close()
        # cookies first: should clearing fail, the lane still admits the last target only, so
        # the next capture hands over again instead of riding the old cookies
        await lease.context.clear_cookies()
        lease.lane.hand_over(origins)
        self.handovers += 1

    async def _render(self, context, url: str, screenshot: bool, holder: list) -> Capture:
        page = await context.new_page()
        holder.append(page)
        inflight: set = set()
        page.on("request", lambda r: inflight.add(r))
        page.on("requestfinished", lambda r: inflight.discard(r))
        page.on("requestfailed", lambda r: inflight.discard(r))
        crashed = asyncio.get_running_loop().create_future()
        page.on("crash", lambda _: crashed.done() or crashed.set_result(True))
        navigations = [0]  # of the main frame: the DOM and screenshot must be of one document

        def navigated(frame) -> None:
            if frame.parent_frame is None:
                navigations[0] += 1

        page.on("framenavigated", navigated)
        recorder = ResponseRecorder(page, skip_url=url)
        response = await page.goto(url, wait_until="load", timeout=self.timeout * 1000)
        if crashed.done():
            raise CaptureError("renderer crashed")
        await self._settle(page, inflight)
        seen = navigations[0]
        self._check_on_target(page, url)
        raw = headers = request = None
        status = None
        if response is not None:
            status = response.status
            try:
                sent = response.request
                request = {
                    "method": sent.method,
                    "url": sent.url,
                    "headers": {k: [v] for k, v in (await sent.all_headers()).items()},
                }
            except Exception:  # noqa: BLE001 - the page is hostile; the request is a bonus
                request = None
            headers = {k: [v] for k, v in (await response.all_headers()).items()}
            try:
                raw = await response.body()
            except Exception:  # noqa: BLE001
                raw = None
        try:
            dom = await page.content()
        except Exception as exc:  # noqa: BLE001 - playwright's Error; the page is hostile
            if "navigating" in str(exc):  # a script or refresh took it elsewhere meanwhile
                raise CaptureError("page navigated while it was captured") from None
            raise
        png, note = await self._screenshot(page) if screenshot else (None, None)
        self._check_on_target(page, url)
        if navigations[0] != seen:
            raise CaptureError("page navigated while it was captured")
        loaded = [
            x for x in await recorder.finish() if x.url != (response.url if response else url)
        ]
        return Capture(url, status, headers or {}, raw, dom, png, note, request, loaded)

    async def _screenshot(self, page) -> tuple[bytes, str | None]:
        """The whole document as one picture, as tall as the document and drawn once.

        Chromium's full-page capture paints beyond the viewport, and under load it can tile
        the page into the extra height (the same content again ~a viewport lower). Instead,
        this page's own viewport is made as tall as its document (measured, re-measured after
        the resize, since layouts that follow the window height move) and only the viewport is
        captured: what is in the picture is what the page laid out, once."""
        # The layout size comes from the browser (DevTools), not from the page's scripts, which
        # could lie about their own height.
        cdp = await page.context.new_cdp_session(page)
        notes = []
        try:
            width, height = VIEWPORT["width"], VIEWPORT["height"]
            for _ in range(3):
                metrics = await cdp.send("Page.getLayoutMetrics")
                size = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
                document = math.ceil(size.get("height", 0))
                wanted = max(VIEWPORT["height"], min(document, MAX_SCREENSHOT_HEIGHT))
                if wanted == height:
                    break
                height = wanted
                await page.set_viewport_size({"width": width, "height": height})
                await self._next_frames(page)
        finally:
            await cdp.detach()
        if document > MAX_SCREENSHOT_HEIGHT:
            notes.append(f"the page is {document} px tall; the picture shows its first {height} px")
        # Under load Chromium may hand over a frame whose newly grown area still holds tiles
        # of the top of the page (the content drawn twice). Such a frame is transient: when the
        # viewport grew, take pictures until two in a row agree.
        png = await page.screenshot(full_page=False, type="png", animations="disabled")
        grew = height != VIEWPORT["height"]
        stable = not grew
        for _ in range(SCREENSHOT_ATTEMPTS if grew else 0):
            again = await page.screenshot(full_page=False, type="png", animations="disabled")
            if again == png:
                stable = True
                break
            png = again
        if not stable:
            notes.append(
                f"the page kept changing over {SCREENSHOT_ATTEMPTS + 1} pictures; the last is kept"
            )
        return png, "; ".join(notes) or None

    async def _next_frames(self, page) -> None:
        """Wait until the page has drawn two frames at its new size (at most a second: a
        page's script could replace requestAnimationFrame)."""
        try:
            await asyncio.wait_for(page.evaluate(NEXT_FRAMES_JS), 1.0)
        except asyncio.TimeoutError:
            pass

    @staticmethod
    def _check_on_target(page, url: str) -> None:
        """A page redirected (by its server, a script or a meta refresh) to another origin, whose
        hop the proxy refused, shows what is not the target's: it is no evidence of it."""
        if origin_of(page.url) != origin_of(url):
            raise CaptureError(f"left the target: {page.url[:200]}")

    async def _settle(self, page, inflight: set) -> None:
        """After load, wait until the page's own requests (data fetched by script) are done and
        it has had a moment to render them; at most ``settle`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle
        quiet = 0
        while loop.time() < deadline and quiet < 2:
            quiet = quiet + 1 if not inflight else 0
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Close this browser's contexts and let go of the shared Chromium (the last user
        closes it)."""
        shared, self._shared = self._shared, None
        if self.refusals:
            logger.info(
                "Containment proxy refused %d request(s) of evidence captures off the target: %s",
                sum(self.refusals.values()),
                dict(self.refusals),
            )
        if shared is not None:
            try:
                await shared.drop_owner(self)
            finally:
                await shared.release()


def playwright_settings(executable: str, max_pages: int = 4, timeout: float = 30.0) -> dict:
    """Scrapy settings that route rendered requests through scrapy-playwright and this Chromium,
    contained by :class:`~monitor.containment.handler.ContainedPlaywrightHandler` (each target
    in a context of its own, on its own lane of the proxy; the process's one Chromium serves at
    most ``max_pages`` pages at once)."""
    return {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch_options(executable),
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": max(1, max_pages),
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": timeout * 1000,
    }
