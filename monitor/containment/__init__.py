"""Keeping Chromium on the crawl's target at the network layer.

Route handlers only see what Playwright intercepts: redirects followed inside the network
stack, WebSockets, preconnects, service workers, popups and WebRTC never pass through them. So
every Chromium the crawler starts is launched against :class:`~monitor.containment.proxy.OriginProxy`,
a forward proxy on 127.0.0.1 that lets through the target's origins and refuses everything else,
with loopback proxied too, DNS mapped to nowhere and WebRTC kept off UDP
(:mod:`monitor.containment.chromium`). scrapy-playwright gets it through
:class:`~monitor.containment.handler.ContainedPlaywrightHandler`; the evidence browser
(:class:`monitor.browser.Browser`) through the same launch options.
"""

from monitor.containment.chromium import (
    contained_context_kwargs,
    contained_launch_options,
    guard_context,
)
from monitor.containment.proxy import OriginProxy

__all__ = ["OriginProxy", "contained_context_kwargs", "contained_launch_options", "guard_context"]
