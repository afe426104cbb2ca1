"""A forward proxy on 127.0.0.1 that lets Chromium reach the target's origins and nothing else.

Chromium sends every request through it (``--proxy-server``, with loopback proxied too), so
the check here sees each hop of a redirect, every subresource, frame, fetch, beacon, popup,
form submit and preconnect, whatever Playwright's route handlers saw. A request is allowed
when its origin (scheme, host and port: 127.0.0.1:8001 is not 127.0.0.1:8002) was admitted;
anything else gets a 403 without a connection being opened. ``CONNECT`` is allowed only to an
admitted https origin (a WebSocket to an http origin is a CONNECT too, so it is refused), a
plain request asking to upgrade is refused, and a host that resolves to a private, loopback or
link-local address is reached only when its origin was admitted as private (the crawl's target
is on such an address), so DNS rebinding cannot turn the target's name into 169.254.169.254.
The proxy connects to the address it checked, never resolving twice.

Small by design (no caching, one request per client connection, HTTP/1.1 only): it is the
part of the crawler that must be easy to read. It runs its own asyncio loop in a daemon
thread, so it serves Chromium whichever loop or reactor the caller runs.

Lanes. One crawl renders many shops, and one Chromium serves them all, so what a page may reach
must depend on whose page it is. The proxy serves *lanes*: each lane is a listening port of its
own with its own admitted origins, and each target renders in a browser context whose proxy
(Playwright's per-context ``proxy``) is its lane's port, so shop A's page, frames, popups,
WebSockets and redirect hops reach only A's origins, whatever else the night crawls. A lane is
told by the port a connection arrives on, not by credentials: a 407 challenge would be answered
by Playwright through request interception, per request, and would rely on Chromium sending
the credentials on every kind of connection (preconnects and WebSocket tunnels included); a
port cannot be forgotten or replayed by a page. The proxy's own port (``url``) is the default
lane, given to the browser at launch: it admits only what the constructor was given (for a
shared browser, nothing), so a context without a lane reaches nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import threading
from collections import Counter, deque
from urllib.parse import urlsplit

from monitor.downloadermiddlewares.scope import is_private_address

logger = logging.getLogger(__name__)

Origin = tuple[str, str, int]
HEAD_LIMIT = 64 * 1024
IDLE_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
MAX_CONNECTIONS = 256
HOP_BY_HOP = {
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
}
REFUSAL = (
    "本次抓取只允许访问监测对象本身，其他地址已被拒绝。\n"
    "refused: the crawler's browser may only reach the target being crawled.\n"
).encode()


def normal_origin(scheme: str, host: str, port: int | None) -> Origin:
    scheme = scheme.lower()
    return scheme, host.lower().rstrip("."), port or (443 if scheme in ("https", "wss") else 80)


class Refused(Exception):
    """The request leaves the admitted origins (or breaks the proxy's rules)."""


class Unreachable(Exception):
    """An admitted origin could not be reached (answered 502)."""


class Lane:
    """One listening port of an :class:`OriginProxy` and the origins it admits.

    ``admit``/``dismiss`` are reference counted, so uses of one origin can overlap.
    ``refusals`` counts refused requests by kind (the owner's counter when one is given).
    """

    def __init__(
        self, proxy: OriginProxy, origins: dict[Origin, bool] | None, refusals: Counter | None
    ) -> None:
        self.proxy = proxy
        self._admitted: dict[Origin, int] = {}
        self._private_ok: dict[Origin, bool] = {}
        self.origins: set[Origin] = set()  # live view, also used by route-level guards
        self.refusals: Counter = refusals if refusals is not None else Counter()
        self.port: int | None = None
        self._server = None
        self._writers: set[asyncio.StreamWriter] = set()  # connections it serves (proxy thread)
        for origin, private_ok in (origins or {}).items():
            self.admit(origin, private_ok)

    def admit(self, origin: Origin, private_ok: bool) -> None:
        origin = normal_origin(*origin)
        self._admitted[origin] = self._admitted.get(origin, 0) + 1
        self._private_ok[origin] = self._private_ok.get(origin, False) or private_ok
        self.origins.add(origin)

    def dismiss(self, origin: Origin) -> None:
        origin = normal_origin(*origin)
        left = self._admitted.get(origin, 0) - 1
        if left > 0:
            self._admitted[origin] = left
            return
        self._admitted.pop(origin, None)
        self._private_ok.pop(origin, None)
        self.origins.discard(origin)

    def allows(self, origin: Origin) -> bool:
        return normal_origin(*origin) in self.origins

    def private_ok(self, origin: Origin) -> bool:
        return self._private_ok.get(origin, False)

    def admits_only(self, origins: dict[Origin, bool]) -> bool:
        """Whether the lane admits exactly ``origins``, each as private or not alike."""
        wanted = {normal_origin(*o): bool(p) for o, p in origins.items()}
        return wanted == {o: self._private_ok.get(o, False) for o in self.origins}

    def hand_over(self, origins: dict[Origin, bool]) -> None:
        """Admit ``origins`` instead of what the lane admitted, and drop every connection it
        still serves, before returning.

        For a browser context that renders another target once the pages of the last one are
        closed (a context is far cheaper to reuse than to create): the old target's origins are
        refused from now on, and a tunnel Chromium kept open to one of them (an idle keep-alive
        socket, a WebSocket) is cut, so the next target's page cannot ride it; the next
        connection is checked against the new origins. Swapping the admitted origins in place
        only ever refuses more in between (a request checked meanwhile sees fewer origins)."""
        self.origins.clear()
        self._private_ok.clear()
        self._admitted.clear()
        for origin, private_ok in origins.items():
            self.admit(origin, private_ok)
        self.proxy.drop_connections(self)

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the proxy lane is not open")
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop listening (connections already open finish on their own)."""
        self.proxy.close_lane(self)


class OriginProxy:
    """Forward proxy on 127.0.0.1; ``start()`` it, hand ``url`` (its default lane) to Chromium
    at launch and each context its own lane (:meth:`open_lane`).

    ``admit``/``dismiss``/``allows``/``origins`` are the default lane's. ``refusals`` counts
    refused requests of every lane by kind; ``refused`` keeps the last ones for the log.
    """

    def __init__(self, origins: dict[Origin, bool] | None = None) -> None:
        self.refusals: Counter = Counter()
        self.refused: deque[str] = deque(maxlen=200)
        self.default = Lane(self, origins, self.refusals)
        self.lanes: set[Lane] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections = 0

    # -- what is allowed (the default lane) --------------------------------------------------

    @property
    def origins(self) -> set[Origin]:
        return self.default.origins

    @property
    def port(self) -> int | None:
        return self.default.port

    def admit(self, origin: Origin, private_ok: bool) -> None:
        self.default.admit(origin, private_ok)

    def dismiss(self, origin: Origin) -> None:
        self.default.dismiss(origin)

    def allows(self, origin: Origin) -> bool:
        return self.default.allows(origin)

    # -- lanes -------------------------------------------------------------------------------

    def open_lane(
        self, origins: dict[Origin, bool] | None = None, refusals: Counter | None = None
    ) -> Lane:
        """A new lane admitting ``origins``, listening on a port of its own."""
        if self._loop is None:
            raise RuntimeError("the proxy is not started")
        lane = Lane(self, origins, refusals)
        future = asyncio.run_coroutine_threadsafe(self._listen(lane), self._loop)
        future.result(10)
        self.lanes.add(lane)
        return lane

    def drop_connections(self, lane: Lane) -> None:
        """Cut every connection ``lane`` serves (tunnels included) and wait until they are."""
        loop = self._loop
        if loop is None or loop.is_closed() or not lane._writers:
            return

        async def drop() -> None:
            for writer in list(lane._writers):
                writer.transport.abort()
            lane._writers.clear()

        asyncio.run_coroutine_threadsafe(drop(), loop).result(10)

    def close_lane(self, lane: Lane) -> None:
        self.lanes.discard(lane)
        server, lane._server = lane._server, None
        loop = self._loop
        if server is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(server.close)

    async def _listen(self, lane: Lane) -> None:
        lane._server = await asyncio.start_server(
            functools.partial(self._serve, lane), "127.0.0.1", 0, limit=HEAD_LIMIT
        )
        lane.port = lane._server.sockets[0].getsockname()[1]

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the proxy is not started")
        return self.default.url

    def start(self) -> OriginProxy:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._listen(self.default))
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                for task in asyncio.all_tasks(loop):
                    task.cancel()
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()

        self._thread = threading.Thread(target=run, name="containment-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure or self.port is None:
            raise RuntimeError(f"the containment proxy could not start: {failure[:1]}")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        def shutdown() -> None:
            for lane in [self.default, *list(self.lanes)]:
                if lane._server is not None:
                    lane._server.close()
                    lane._server = None
            loop.stop()

        if not loop.is_closed():
            loop.call_soon_threadsafe(shutdown)
        thread.join(10)
        self._thread = self._loop = None
        self.lanes.clear()
        self.default.port = None
        if self.refusals:
            logger.info(
                "Containment proxy refused %d request(s) off the target: %s",
                sum(self.refusals.values()),
                dict(self.refusals),
            )

    def __enter__(self) -> OriginProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------------

    def _refuse(self, lane: Lane, kind: str, what: str) -> None:
        lane.refusals[kind] += 1
        if lane.refusals is not self.refusals:
            self.refusals[kind] += 1
        self.refused.append(what[:300])
        logger.debug("Containment proxy refused %s: %s", kind, what[:300])

    async def _serve(
        self, lane: Lane, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._connections += 1
        lane._writers.add(writer)
        upstream_writer = None
        try:
            if self._connections > MAX_CONNECTIONS:
                self._refuse(lane, "too_many_connections", "")
                return
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
                return
            lines = head[:-4].decode("latin-1").split("\r\n")
            try:
                method, target, _version = lines[0].split(" ", 2)
            except ValueError:
                self._refuse(lane, "malformed", lines[0])
                await self._answer(writer, 400, b"")
                return
            headers = []
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    self._refuse(lane, "malformed", line)
                    await self._answer(writer, 400, b"")
                    return
                headers.append((name, value.strip()))
            try:
                if method.upper() == "CONNECT":
                    upstream_writer = await self._tunnel(lane, target, reader, writer)
                else:
                    upstream_writer = await self._forward(
                        lane, method, target, headers, reader, writer
                    )
            except Refused as exc:
                kind, what = exc.args
                self._refuse(
                    lane, kind, f"{method} {target} ({what})" if what else f"{method} {target}"
                )
                await self._answer(writer, 403, b"" if method.upper() == "CONNECT" else REFUSAL)
            except Unreachable as exc:
                await self._answer(writer, 502, str(exc).encode("utf-8", "replace"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a reset or timed-out connection ends quietly
            logger.debug("Containment proxy connection ended: %r", exc)
        finally:
            self._connections -= 1
            lane._writers.discard(writer)
            for w in (upstream_writer, writer):
                if w is not None:
                    w.close()

    async def _answer(self, writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
        reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nX-Monitor-Refused: off-target\r\n"
            "Connection: close\r\n\r\n".encode("latin-1")
            + body
        )
        try:
            await asyncio.wait_for(writer.drain(), 5)
        except (ConnectionError, OSError, TimeoutError, asyncio.TimeoutError):
            pass

    async def _open(self, lane: Lane, origin: Origin):
        """Connect to an admitted origin, checking the address it resolves to."""
        _scheme, host, port = origin
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
            raise Unreachable(f"cannot resolve {host}: {exc}") from None
        private_ok = lane.private_ok(origin)
        for _family, _type, _proto, _name, sockaddr in infos:
            if is_private_address(sockaddr[0]) and not private_ok:
                raise Refused("private_address", f"{host} resolves to {sockaddr[0]}")
        family, _type, _proto, _name, sockaddr = infos[0]
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(sockaddr[0], sockaddr[1], family=family), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
            raise Unreachable(f"cannot connect to {host}:{port}: {exc}") from None

    async def _tunnel(self, lane: Lane, authority: str, reader, writer):
        try:
            parts = urlsplit(f"//{authority}")
            host, port = parts.hostname, parts.port
        except ValueError:
            host = port = None
        if not host or not port:
            raise Refused("malformed", "")
        # Chromium tunnels https and every WebSocket; only an https origin may be tunnelled to.
        origin = normal_origin("https", host, port)
        if origin not in lane.origins:
            raise Refused("connect_off_target", "")
        up_reader, up_writer = await self._open(lane, origin)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await self._pipe_both(reader, writer, up_reader, up_writer)
        return up_writer

    async def _forward(self, lane: Lane, method: str, target: str, headers: list, reader, writer):
        try:
            parts = urlsplit(target)
            origin = normal_origin(parts.scheme, parts.hostname or "", parts.port)
        except ValueError:
            raise Refused("malformed", "") from None
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise Refused("malformed", "not an absolute http URL")
        if origin not in lane.origins:
            raise Refused("off_target", "")
        names = {n.lower(): v for n, v in headers}
        if "upgrade" in names or "upgrade" in names.get("connection", "").lower():
            raise Refused("upgrade", names.get("upgrade", ""))
        if "transfer-encoding" in names:
            raise Refused("chunked_upload", "")
        try:
            length = int(names.get("content-length", "0") or 0)
        except ValueError:
            raise Refused("malformed", "bad Content-Length") from None
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        netloc = parts.netloc.rsplit("@", 1)[-1]
        out = [f"{method} {path} HTTP/1.1", f"Host: {netloc}"]
        out += [f"{n}: {v}" for n, v in headers if n.lower() not in HOP_BY_HOP | {"host"}]
        out.append("Connection: close")
        up_reader, up_writer = await self._open(lane, origin)
        up_writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        while length > 0:
            chunk = await asyncio.wait_for(reader.read(min(length, 65536)), IDLE_TIMEOUT)
            if not chunk:
                break
            up_writer.write(chunk)
            await up_writer.drain()
            length -= len(chunk)
        await up_writer.drain()
        # The answer's head, told to close: one request per connection keeps the checks simple.
        response_head = await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        status_line, *rest = response_head[:-4].split(b"\r\n")
        kept = [
            h
            for h in rest
            if h.split(b":", 1)[0].strip().lower().decode("latin-1") not in HOP_BY_HOP
        ]
        writer.write(b"\r\n".join([status_line, *kept, b"Connection: close"]) + b"\r\n\r\n")
        await self._pipe(up_reader, writer)
        return up_writer

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def _pipe_both(self, reader, writer, up_reader, up_writer) -> None:
        tasks = [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                if t.done() and not t.cancelled():
                    t.exception()  # retrieved: a reset connection is not worth a log line
