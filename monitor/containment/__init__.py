"""Keeping Chromium on the crawl's target at the network layer.

Route handlers only see what Playwright intercepts: redirects followed inside the network
stack, WebSockets, preconnects, service workers, popups and WebRTC never pass through them. So
the process's one Chromium (:class:`~monitor.containment.shared.SharedChromium`) is launched
against :class:`~monitor.containment.proxy.OriginProxy`, a forward proxy on 127.0.0.1 whose
default lane admits nothing, with loopback proxied too, DNS mapped to nowhere and WebRTC kept
off UDP (:mod:`monitor.containment.chromium`); each target renders in a browser context of its
own whose proxy is a lane admitting that target's origins only, so shops crawled in the same
night cannot reach each other. scrapy-playwright gets it through
:class:`~monitor.containment.handler.ContainedPlaywrightHandler`; the evidence browser
(:class:`monitor.evidence.browser.Browser`) leases its contexts from the same shared Chromium.
"""

from monitor.containment.chromium import (
    contained_context_kwargs,
    contained_launch_options,
    guard_context,
)
from monitor.containment.proxy import OriginProxy

__all__ = ["OriginProxy", "contained_context_kwargs", "contained_launch_options", "guard_context"]
