"""Cut tags with thousands of attributes before anything parses the page.

libxml2 (lxml, so parsel, Scrapy's selectors, extruct) compares each attribute of a tag with
every attribute before it: a single tag of 30,000 attributes, a 300 KB page, takes minutes to
parse, and the parse runs in the reactor's thread, so every shop of the night waits (and
SIGTERM cannot stop the process) while one page is read. A tag with more than
:data:`monitor.extract.limits.MAX_ATTRIBUTES` attributes keeps its first ones; the response
given to the spider is re-made from the cut body, counted as ``monitor/markup_cut``.
The evidence is unaffected: RawResponseMiddleware keeps the bytes as served.

Works on the bytes: ``<``, ``>``, ``=`` and quotes are single ASCII bytes in every encoding a
page is read in (UTF-8, GBK/GB18030, Big5); UTF-16/32 pages are left alone. Only tags longer
than a few kilobytes are looked at, so an ordinary page costs one regular-expression scan.
"""

from __future__ import annotations

import re

from scrapy.http import HtmlResponse

from monitor.crawl.stats import TargetStats, target_of
from monitor.extract.limits import MAX_ATTRIBUTES

# a start tag long enough to hold more than MAX_ATTRIBUTES attributes (each at least 2 bytes)
_LONG_TAG = re.compile(rb"<([A-Za-z][^\s<>/]*)([^<>]{%d,})>" % (2 * MAX_ATTRIBUTES))
_ATTRIBUTE = re.compile(rb"""[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?""")


def cut_attributes(body: bytes, limit: int = MAX_ATTRIBUTES) -> tuple[bytes, int]:
    """``body`` with every tag cut to its first ``limit`` attributes; and how many were cut."""
    cut = 0

    def shorten(match: re.Match) -> bytes:
        nonlocal cut
        attributes = _ATTRIBUTE.findall(match.group(2))
        if len(attributes) <= limit:
            return match.group(0)
        cut += 1
        return b"<" + match.group(1) + b" " + b" ".join(attributes[:limit]) + b">"

    return _LONG_TAG.sub(shorten, body), cut


class MarkupBoundsMiddleware:
    def __init__(self, crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response, spider=None):
        if not isinstance(response, HtmlResponse) or (response.encoding or "").lower().startswith(
            ("utf-16", "utf-32", "utf_16", "utf_32")
        ):
            return response
        body, cut = cut_attributes(response.body)
        if not cut:
            return response
        TargetStats.of(self.crawler).inc(target_of(request), "monitor/markup_cut", cut)
        return response.replace(body=body)
