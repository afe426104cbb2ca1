"""Keep each response's bytes and headers exactly as the server sent them.

Scrapy's HttpCompressionMiddleware (590) decodes gzip/br bodies and drops Content-Encoding,
so evidence taken from the final response would not be what the server served. This
middleware sits nearer the downloader (950), sees the response first, and records the raw
body and headers in ``request.meta["raw_response"]`` for the evidence pipeline, with the
request as it was sent (method, URL and headers after every other middleware added theirs), so
the evidence can hold a WARC request/response pair.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.http import Response


def headers_as_dict(headers) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, values in headers.items():
        name = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        out[name] = [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in values]
    return out


class RawResponseMiddleware:
    meta_key = "raw_response"

    def process_response(self, request: Request, response: Response, spider=None) -> Response:
        request.meta[self.meta_key] = {
            "body": response.body,
            "headers": headers_as_dict(response.headers),
            "status": response.status,
            "url": response.url,
            "request": {
                "method": request.method,
                "url": request.url,
                "headers": headers_as_dict(request.headers),
            },
        }
        return response
