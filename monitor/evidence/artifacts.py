"""The artifacts a capture keeps, each a small builder from what the crawler holds.

Kinds: raw_body (bytes as served, before any decompression), headers (the response headers as
served), request (method, URL and headers as sent), rendered_dom, screenshot, and warc (the
capture as WARC records, see :mod:`monitor.evidence.warc`). A new kind is one builder here and
its name in the manifest; the store hashes and files every kind alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class Artifact:
    kind: str  # raw_body | headers | request | rendered_dom | screenshot | warc
    data: bytes
    media_type: str


def _json(kind: str, value: dict) -> Artifact:
    return Artifact(
        kind,
        json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        "application/json",
    )


def headers_artifact(headers: dict) -> Artifact:
    """The response headers as served, as a JSON artifact."""
    return _json("headers", headers)


def request_artifact(request: dict) -> Artifact:
    """The request as sent: {"method", "url", "headers"}."""
    return _json("request", request)


def content_type(headers: dict) -> str:
    for key, values in headers.items():
        if key.lower() == "content-type" and values:
            return values[0].split(";")[0].strip() or "application/octet-stream"
    return "application/octet-stream"
