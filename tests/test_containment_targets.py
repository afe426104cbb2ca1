"""One crawl, many shops, one Chromium: each rendered page reaches only its own target.

Two hostile shops on two loopback ports are rendered in one night's crawl (and captured as
evidence side by side); each shop's pages try every way to reach the other one, whose server
must record no request on those trap paths while both shops' listings are still found. And a
night with a storefront and a site with flagged listings runs exactly one Chromium, while a
night where nothing is rendered starts none (nor a Playwright driver).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.evidence.browser import Browser, CaptureError, find_chromium

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Debian's chromium is not installed"
)

FLAGGED = "高仿名表 一比一 刷单返现"  # the lexicon flags it: evidence is captured for it


def listing(title: str, body: str = "", head: str = "") -> bytes:
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{head}<title>{title}</title></head>'
        f'<body><h1>{title}</h1><p class="price">价格：99元</p>{body}</body></html>'
    ).encode()


def traps(other: str) -> str:
    """Every way a rendered page has to reach ``other`` (another shop of the same night)."""
    ws = other.replace("http://", "ws://")
    return f"""
    <link rel="stylesheet" href="{other}/trap/style.css"><link rel="preconnect" href="{other}">
    <img src="{other}/trap/img.png"><script src="{other}/trap/script.js"></script>
    <iframe src="{other}/trap/frame"></iframe>
    <img src="/redirect?to={other}/trap/img-hop.png">
    <script src="/redirect?to={other}/trap/script-hop.js"></script>
    <iframe src="/redirect?to={other}/trap/frame-hop"></iframe>
    <iframe name="sink"></iframe>
    <form id="f" action="{other}/trap/form" method="post" target="sink"><input name="q"></form>
    <script>
    const t = (f) => {{ try {{ f(); }} catch (e) {{}} }};
    t(() => fetch('{other}/trap/fetch', {{mode: 'no-cors'}}).catch(() => {{}}));
    t(() => fetch('/redirect?to={other}/trap/fetch-hop').catch(() => {{}}));
    t(() => navigator.sendBeacon('{other}/trap/beacon', 'leak'));
    t(() => new WebSocket('{ws}/trap/ws'));
    t(() => new EventSource('{other}/trap/events'));
    t(() => document.getElementById('f').submit());
    t(() => window.open('{other}/trap/popup'));
    t(() => {{ new Image().src = '{other}/trap/new-image.png'; }});
    fetch('/ran?page-ran').catch(() => {{}});
    </script>"""


class Shop:
    """A storefront on its own 127.0.0.1 port whose every listing tries to reach ``other``;
    records the paths it is asked for."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.paths: list[str] = []
        self.other = ""
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path, _, query = self.path.partition("?")
                shop.paths.append(self.path)
                if path == "/":
                    body = (
                        '<html><head><meta charset="utf-8"></head><body>'
                        '<a class="item" href="/item/1.html">1</a>'
                        '<a class="item" href="/item/2.html">2</a>'
                        '<a class="item" href="/nav.html">3</a>'
                        '<a class="item" href="/moved">4</a>'
                        f'<a class="item" href="{shop.other}/trap/link">5</a></body></html>'
                    ).encode()
                    return self.answer(200, body)
                if path.startswith("/item/"):
                    title = f"{FLAGGED} {shop.label}店 {path}"
                    return self.answer(200, listing(title, traps(shop.other)))
                if path == "/nav.html":  # the page itself goes to the other shop by script
                    script = f"<script>setTimeout(() => location = '{shop.other}/trap/nav', 200)</script>"
                    return self.answer(200, listing(f"{shop.label}店 跳转页", script))
                if path == "/moved":  # a listing link that redirects to the other shop
                    return self.answer(302, b"", {"Location": f"{shop.other}/trap/page-hop"})
                if path == "/redirect":
                    return self.answer(302, b"", {"Location": query.partition("=")[2]})
                if path.startswith("/trap/"):  # reached only through a leak
                    return self.answer(200, listing("仿真枪 外站页面"))
                return self.answer(204 if path == "/ran" else 404, b"")

            do_POST = do_GET

            def answer(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.origin + "/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def trap_hits(self) -> list[str]:
        return [p for p in self.paths if p.startswith("/trap/")]

    def ran(self) -> int:
        return self.paths.count("/ran?page-ran")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def two_shops():
    a, b = Shop("甲"), Shop("乙")
    a.other, b.other = b.origin, a.origin
    yield a, b
    a.stop()
    b.stop()


# -- watching the process tree ---------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            out.setdefault(ppid, []).append(int(entry))
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def run_watching(args: list[str], config: Path, timeout: float = 300) -> tuple[object, dict]:
    """Run `monitor --config CONFIG ARGS…` and watch its process tree every 50 ms: the ids of
    Chromium browser processes (Chromium's main process: not one of its --type= children, nor
    a child it forked that has not yet become one) and of Playwright drivers seen in the run."""
    cwd = Path(tempfile.gettempdir()) / "monitor-tests-cwd"
    cwd.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    seen: dict[str, set[int]] = {"chromium": set(), "driver": set()}
    stop = threading.Event()

    def kind(command: str) -> str | None:
        # a child of Chromium may rewrite its command line into one string: search it whole
        if "chrom" in os.path.basename(command.split(" ", 1)[0]) and "--type=" not in command:
            return "chromium"
        if "playwright" in command and "run-driver" in command:
            return "driver"
        return None

    def watch() -> None:
        while not stop.is_set():
            children, stack = _children(), [(proc.pid, None)]
            while stack:
                pid, parent_kind = stack.pop()
                this = kind(" ".join(_cmdline(pid)))
                stack.extend((c, this) for c in children.get(pid, []))
                if this is not None and this != parent_kind:  # not a fork before its exec
                    seen[this].add(pid)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop.set()
        watcher.join()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), seen


# -- the tests -------------------------------------------------------------------------------


@needs_chromium
def test_one_night_of_two_rendered_shops_keeps_each_shops_pages_off_the_other(
    two_shops, make_config, tmp_path
):
    a, b = two_shops
    config = make_config(
        [
            {"name": "甲店", "url": a.url, "kind": "storefront", "platform": "p"},
            {"name": "乙店", "url": b.url, "kind": "storefront", "platform": "p"},
        ],
        platforms={"p": {"listing_links": "a.item", "title": "h1", "wait_for": "body"}},
        browser={"render_timeout": 15, "max_pages": 4},
    )
    result, seen = run_watching(["nightly"], config, timeout=300)
    time.sleep(1)  # late timers and popups of the last pages
    assert a.trap_hits == [] and b.trap_hits == [], (a.trap_hits, b.trap_hits, result.stderr)
    # the traps did run, in the crawl's rendering and in the evidence captures
    assert a.ran() >= 2 and b.ran() >= 2, (a.paths, b.paths)
    assert any(p.startswith("/redirect?to=") for p in a.paths + b.paths)
    con = sqlite3.connect(tmp_path / "monitor.db")
    found = {
        (name, url)
        for name, url in con.execute(
            "SELECT t.name, l.url FROM listings l JOIN targets t ON t.id = l.target_id"
        )
    }
    for shop, name in ((a, "甲店"), (b, "乙店")):
        for page in ("item/1.html", "item/2.html"):
            assert (name, shop.url + page) in found, (found, result.stdout, result.stderr)
    assert all(url.startswith(a.url if name == "甲店" else b.url) for name, url in found), found
    manifests = [
        json.loads(p.read_bytes()) for p in (tmp_path / "evidence" / "manifests").glob("*.json")
    ]
    shot = {m["url"] for m in manifests if any(x["kind"] == "screenshot" for x in m["artifacts"])}
    assert {a.url + "item/1.html", b.url + "item/1.html"} <= shot, manifests
    for m in manifests:
        for art in m["artifacts"]:
            if art["kind"] == "rendered_dom":
                dom = (tmp_path / "evidence" / art["path"]).read_text(encoding="utf-8")
                assert "外站页面" not in dom
    log = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "logs").glob("*.log"))
    assert "'containment/refused':" in log
    assert len(seen["chromium"]) == 1, seen


@needs_chromium
def test_concurrent_evidence_captures_of_two_shops_cannot_reach_each_other(two_shops, monkeypatch):
    """Captures of both shops in flight at once, in one browser; with the Playwright switch
    that would stop proxying loopback set in the driver's environment."""
    a, b = two_shops
    monkeypatch.setenv("PLAYWRIGHT_DISABLE_FORCED_CHROMIUM_PROXIED_LOOPBACK", "1")

    async def capture_both():
        browser = Browser(find_chromium(), max_pages=4, timeout=20, settle=2)
        try:
            caps = await asyncio.gather(
                *(
                    browser.capture(shop.url + page)
                    for page in ("item/1.html", "item/2.html")
                    for shop in (a, b)
                ),
                return_exceptions=True,
            )
            await asyncio.sleep(1.5)  # popups, late requests
            return caps, dict(browser.refusals)
        finally:
            await browser.close()

    caps, refusals = asyncio.run(capture_both())
    time.sleep(0.5)
    assert a.trap_hits == [] and b.trap_hits == [], (a.trap_hits, b.trap_hits)
    assert not [c for c in caps if isinstance(c, (CaptureError, BaseException))], caps
    assert [FLAGGED in c.dom for c in caps] == [True] * 4
    assert "甲店" in caps[0].dom and "乙店" in caps[1].dom
    assert a.ran() == 2 and b.ran() == 2  # each page ran its traps
    assert refusals.get("off_target", 0) >= 8 and refusals.get("connect_off_target", 0) >= 2


@needs_chromium
def test_a_night_of_a_storefront_and_a_site_with_screenshots_runs_one_chromium(
    shop, make_config, tmp_path, demo_expected
):
    from monitor.demo import YUNGOU

    store, site = shop("yungou"), shop("xinyuan")
    config = make_config(
        [
            {"name": "云购", "url": store.url, "kind": "storefront", "platform": "yungou"},
            {"name": "鑫源", "url": site.url, "kind": "site"},
        ],
        platforms={"yungou": YUNGOU},
    )
    result, seen = run_watching(["nightly"], config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(seen["chromium"]) == 1, seen
    assert len(seen["driver"]) == 1, seen
    manifests = [
        json.loads(p.read_bytes()) for p in (tmp_path / "evidence" / "manifests").glob("*.json")
    ]
    shots = {m["url"] for m in manifests if any(x["kind"] == "screenshot" for x in m["artifacts"])}
    flagged = {
        shop.url + page
        for shop, name in ((store, "yungou"), (site, "xinyuan"))
        for page, expected in demo_expected[name].items()
        if expected
    }
    assert flagged and flagged <= shots, (flagged - shots, result.stderr[-2000:])


@needs_chromium
def test_a_night_where_nothing_is_rendered_starts_no_chromium_and_no_driver(
    shop, make_config, tmp_path
):
    site = shop("xinyuan")
    config = make_config(
        [{"name": "鑫源", "url": site.url, "kind": "site"}],
        evidence={"dir": "evidence", "screenshots": False},
    )
    result, seen = run_watching(["nightly"], config)
    assert result.returncode == 0, result.stdout + result.stderr
    con = sqlite3.connect(tmp_path / "monitor.db")
    assert con.execute("SELECT count(*) FROM listings").fetchone()[0] > 0
    assert seen == {"chromium": set(), "driver": set()}


@needs_chromium
def test_evidence_contexts_are_handed_over_between_shops_and_recycled(shop):
    """More shops than captures in flight: an idle context is handed over to the next shop
    instead of a context being created per shop, so at most ``max_pages`` are open; a context
    that served its share of pages is replaced."""
    servers = [shop("xinyuan") for _ in range(6)]

    async def run():
        browser = Browser(find_chromium(), max_pages=1, timeout=20, settle=0.2)
        browser.RECYCLE = 2
        most = 0
        try:
            doms = []
            for s in servers:  # six origins, one page at a time: one context, handed over
                doms.append((await browser.capture(s.url, screenshot=False)).dom)
                most = max(most, len(browser._shared.browser.contexts))
            opened, handed = browser._shared.contexts_opened, browser.handovers
            for _ in range(3):  # one origin again and again: a fresh context every 2 pages
                await browser.capture(servers[0].url, screenshot=False)
            shared = browser._shared
            return (
                doms,
                most,
                opened,
                handed,
                shared.contexts_opened - opened,
                browser.handovers - handed,
                shared.launches,
            )
        finally:
            await browser.close()

    doms, most, opened, handed, reopened, handed_again, launches = asyncio.run(run())
    assert len(doms) == 6 and all("<body" in d and len(d) > 500 for d in doms), doms[0][:300]
    # six shops on one context at a time: created for the 1st, 3rd and 5th (recycled after two
    # pages), handed over for the 2nd, 4th and 6th
    assert (most, opened, handed, launches) == (1, 3, 3, 1)
    # the same shop again: no hand-over, and a fresh context every 2 pages
    assert (reopened, handed_again) == (2, 0)


@needs_chromium
def test_a_context_handed_over_from_one_shop_to_the_other_cannot_reach_the_first(two_shops):
    """One page at a time, so shop 乙's capture gets the context shop 甲's just used (and the
    other way round): each page's traps still reach nothing of the other shop."""
    a, b = two_shops

    async def capture_in_turn():
        browser = Browser(find_chromium(), max_pages=1, timeout=20, settle=1)
        try:
            caps = []
            for shop in (a, b, a, b):
                caps.append(await browser.capture(shop.url + "item/1.html"))
            await asyncio.sleep(1.5)  # popups, late requests
            return caps, browser.handovers, len(browser.contexts()), dict(browser.refusals)
        finally:
            await browser.close()

    caps, handovers, contexts, refusals = asyncio.run(capture_in_turn())
    time.sleep(0.5)
    assert a.trap_hits == [] and b.trap_hits == [], (a.trap_hits, b.trap_hits)
    assert (handovers, contexts) == (3, 1)
    assert ["甲店" in c.dom for c in caps] == [True, False, True, False]
    assert ["乙店" in c.dom for c in caps] == [False, True, False, True]
    assert all(c.png for c in caps)
    assert a.ran() == 2 and b.ran() == 2  # each page ran its traps
    assert refusals.get("off_target", 0) >= 8 and refusals.get("connect_off_target", 0) >= 2


def test_a_lane_handed_over_cuts_its_open_tunnels_and_refuses_the_old_origin():
    """A tunnel Chromium kept open to the last target (an idle keep-alive socket, a WebSocket)
    is cut when its lane is handed over, and the old origin is refused from then on."""
    from monitor.containment.proxy import OriginProxy

    def echo_server():
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()

        def serve():
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=echo, args=(conn,), daemon=True).start()

        def echo(conn):
            with conn:
                while data := conn.recv(100):
                    conn.sendall(data)

        threading.Thread(target=serve, daemon=True).start()
        return server, server.getsockname()[1]

    old, old_port = echo_server()
    new, new_port = echo_server()
    proxy = OriginProxy().start()

    def connect(lane, port):
        s = socket.create_connection(("127.0.0.1", lane.port), timeout=10)
        s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        return s, s.recv(100)

    try:
        lane = proxy.open_lane({("https", "127.0.0.1", old_port): True})
        tunnel, answer = connect(lane, old_port)
        assert answer.startswith(b"HTTP/1.1 200")
        tunnel.sendall(b"ping")
        assert tunnel.recv(100) == b"ping"  # the tunnel is open and kept
        lane.hand_over({("https", "127.0.0.1", new_port): True})
        try:
            cut = tunnel.recv(100) == b""
        except ConnectionError:
            cut = True
        tunnel.close()
        assert cut
        refused, answer = connect(lane, old_port)
        refused.close()
        assert answer.startswith(b"HTTP/1.1 403")
        admitted, answer = connect(lane, new_port)
        admitted.close()
        assert answer.startswith(b"HTTP/1.1 200")
        assert lane.admits_only({("https", "127.0.0.1", new_port): True})
    finally:
        proxy.stop()
        old.close()
        new.close()
