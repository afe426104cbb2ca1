"""Chromium launch options and context settings that keep a hostile page inside the proxy.

- all traffic to the proxy, loopback included (Chromium bypasses proxies for 127.0.0.1 and
  localhost unless told ``<-loopback>``), no PAC, no other proxy a setting could slip in; each
  context goes through its own lane of the proxy (:func:`lane_proxy`), and the launch-level
  proxy, for anything without a lane, admits nothing;
- host resolution mapped to nowhere (``~NOTFOUND``) except the proxy's own address, so nothing
  Chromium resolves itself (prefetch, STUN server names) reaches a DNS server;
- WebRTC kept off UDP that does not go through the proxy (there is none: an HTTP proxy carries
  no UDP), QUIC off, and ``RTCPeerConnection`` removed from pages as a second layer;
- contexts without downloads or service workers, WebSockets closed at the page, popups closed.

Settings a caller passes are kept unless they would undo one of these.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

OVERRIDDEN_FLAGS = (
    "--proxy-server",
    "--proxy-bypass-list",
    "--proxy-pac-url",
    "--no-proxy-server",
    "--proxy-auto-detect",
    "--host-resolver-rules",
    "--force-webrtc-ip-handling-policy",
    "--webrtc-ip-handling-policy",
    "--remote-debugging-address",
)
NO_WEBRTC = """
(() => {
  for (const name of ['RTCPeerConnection', 'webkitRTCPeerConnection', 'RTCDataChannel',
                      'RTCSessionDescription', 'RTCIceCandidate', 'WebTransport']) {
    try { delete window[name]; } catch (e) {}
    try { Object.defineProperty(window, name, {value: undefined, configurable: false}); } catch (e) {}
  }
})();
"""


def contained_launch_options(options: dict, proxy_url: str) -> dict:
    """``options`` (Playwright launch options) with Chromium sent through ``proxy_url`` only."""
    out = dict(options)
    dropped = out.pop("proxy", None)
    if dropped:
        logger.warning("Ignoring a configured browser proxy: Chromium goes through the crawler's")
    args = [a for a in out.get("args") or [] if not a.startswith(OVERRIDDEN_FLAGS)]
    args += [
        f"--proxy-server={proxy_url}",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--disable-quic",
        "--no-pings",
        "--disable-background-networking",
        "--disable-domain-reliability",
    ]
    out["args"] = list(dict.fromkeys(args))
    # Playwright's own proxy handling honours an environment switch that stops proxying
    # loopback; the flags above are passed directly, so nothing in the environment undoes them.
    return out


def lane_proxy(lane_url: str) -> dict:
    """A context's Playwright ``proxy`` option for its lane of the containment proxy.

    ``bypass`` is given explicitly: without it Playwright adds ``<-loopback>`` (proxy loopback
    too) only while PLAYWRIGHT_DISABLE_FORCED_CHROMIUM_PROXIED_LOOPBACK is unset in the
    driver's environment, and with it set Chromium would reach 127.0.0.1 and localhost directly,
    around the lane. ``<-loopback>`` alone bypasses nothing and proxies loopback."""
    return {"server": lane_url, "bypass": "<-loopback>"}


def contained_context_kwargs(kwargs: dict | None, lane_url: str | None = None) -> dict:
    """Browser context options: the context's lane of the containment proxy as its proxy (or,
    without one, the browser's, which admits nothing), no downloads, no service workers, and no
    persistent profile (it would launch a second, uncontained browser)."""
    out = dict(kwargs or {})
    for key in ("proxy", "user_data_dir"):
        if out.pop(key, None):
            logger.warning("Ignoring browser context option %r: it would leave containment", key)
    if lane_url is not None:
        out["proxy"] = lane_proxy(lane_url)
    out["accept_downloads"] = False
    out["service_workers"] = "block"
    return out


async def _refuse_websocket(ws) -> None:
    await ws.close(code=1008, reason="WebSockets are not allowed while crawling")


async def _close(page) -> None:
    try:
        await page.close()
    except Exception:  # noqa: BLE001 - already closed or crashed
        pass


def _watch_popups(page) -> None:
    page.on("popup", _close)


async def guard_context(context) -> None:
    """Page-level layers on top of the proxy: no WebRTC objects, WebSockets closed, popups
    closed as soon as they open."""
    await context.add_init_script(NO_WEBRTC)
    await context.route_web_socket(re.compile(".*"), _refuse_websocket)
    context.on("page", _watch_popups)
    for page in context.pages:
        _watch_popups(page)
