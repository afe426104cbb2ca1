"""The artifacts a capture keeps: one builder per kind, over what the crawler captured.

Kinds, in the order a manifest lists them: raw_body (bytes as served, before any
decompression), headers (the response headers as served), request (method, URL and headers as
sent), rendered_dom, screenshot, and warc (the capture as WARC records, see
:mod:`monitor.evidence.warc`). A new kind is one builder function here, added to ``BUILDERS``;
the store hashes and files every kind alike and the manifest, verify, report and export read
them by kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Artifact:
    kind: str  # raw_body | headers | request | rendered_dom | screenshot | warc
    data: bytes
    media_type: str


@dataclass
class Captured:
    """What one capture of a listing holds, before it is stored."""

    url: str  # the URL the response came from (after redirects)
    status: int | None
    headers: dict
    fetched_at: datetime
    raw_body: bytes | None = None
    request: dict | None = None
    rendered_dom: str | None = None
    screenshot: bytes | None = None
    loaded: list = field(default_factory=list)  # evidence.recorder.Loaded, for replay


def _json(kind: str, value: dict) -> Artifact:
    return Artifact(
        kind,
        json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        "application/json",
    )


def content_type(headers: dict) -> str:
    for key, values in headers.items():
        if key.lower() == "content-type" and values:
            return values[0].split(";")[0].strip() or "application/octet-stream"
    return "application/octet-stream"


def headers_artifact(headers: dict) -> Artifact:
    """The response headers as served, as a JSON artifact."""
    return _json("headers", headers)


def request_artifact(request: dict) -> Artifact:
    """The request as sent: {"method", "url", "headers"}."""
    return _json("request", request)


def raw_body(c: Captured) -> Artifact | None:
    if c.raw_body is None:
        return None
    return Artifact("raw_body", c.raw_body, content_type(c.headers))


def headers(c: Captured) -> Artifact | None:
    return headers_artifact(c.headers)


def request(c: Captured) -> Artifact | None:
    return request_artifact(c.request) if c.request else None


def rendered_dom(c: Captured) -> Artifact | None:
    if c.rendered_dom is None:
        return None
    return Artifact("rendered_dom", c.rendered_dom.encode("utf-8"), "text/html")


def screenshot(c: Captured) -> Artifact | None:
    return Artifact("screenshot", c.screenshot, "image/png") if c.screenshot else None


def warc(c: Captured) -> Artifact | None:
    from monitor.evidence.warc import capture_warc

    return capture_warc(
        url=c.url,
        status=c.status,
        headers=c.headers,
        body=c.raw_body,
        request=c.request,
        fetched_at=c.fetched_at,
        rendered_dom=c.rendered_dom.encode("utf-8") if c.rendered_dom is not None else None,
        screenshot=c.screenshot,
        loaded=c.loaded,
    )


BUILDERS: tuple[Callable[[Captured], Artifact | None], ...] = (
    raw_body,
    headers,
    request,
    rendered_dom,
    screenshot,
    warc,
)


def build_all(captured: Captured) -> list[Artifact]:
    """Every artifact this capture has, in manifest order."""
    return [art for build in BUILDERS if (art := build(captured)) is not None]
