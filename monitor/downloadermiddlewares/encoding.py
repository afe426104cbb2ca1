"""Decode HTML right when its charset declaration is missing or wrong (see monitor.extract.encoding).

For each text response, compares the encoding Scrapy inferred with what the bytes support and
re-labels the response when they disagree; counted as ``monitor/encoding_fixed``. Override
:meth:`choose` to change the rule.
"""

from __future__ import annotations

from scrapy.http import HtmlResponse, TextResponse

from monitor.extract.encoding import canonical, choose_encoding, declared_encoding


class EncodingMiddleware:
    def __init__(self, stats) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def choose(self, response: TextResponse) -> str:
        """The override point: the encoding to decode this response with."""
        return choose_encoding(response.body, declared_encoding(response))

    def process_response(self, request, response, spider=None):
        if (
            not isinstance(response, HtmlResponse)
            or not response.body
            or "playwright" in response.flags
        ):
            return response
        chosen = self.choose(response)
        if canonical(response.encoding) != chosen:
            self.stats.inc_value("monitor/encoding_fixed")
            return response.replace(encoding=chosen)
        return response
