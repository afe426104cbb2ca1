"""Keep what a page loaded while Chromium rendered it, so its archive replays as it was seen.

A storefront's listing is an empty shell filled by script from the shop's own API; a WARC of
the shell alone replays as "加载中…". While the evidence browser renders a flagged listing, this
recorder keeps each response the page received (request as sent, status, headers, body) up to
fixed limits, and the capture's WARC holds them as request/response pairs. Chromium hands over
bodies already decoded, so the encoding headers are renamed (X-Archive-Orig-…) as replay
tools expect. Only what the page was allowed to load is seen here: the browser's own network
rules decide that, not this module.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

MAX_RESPONSES = 200
MAX_BODY = 5 * 1024 * 1024
MAX_TOTAL = 30 * 1024 * 1024
ENCODING_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


@dataclass
class Loaded:
    """One response a rendered page received."""

    request: dict  # method, url, headers as sent
    url: str
    status: int
    headers: dict
    body: bytes


def decoded_headers(headers: dict | None) -> dict:
    """Headers for a body Chromium has already decoded: how it was encoded is kept aside."""
    return {
        (f"X-Archive-Orig-{k}" if k.lower() in ENCODING_HEADERS else k): v
        for k, v in (headers or {}).items()
    }


class ResponseRecorder:
    """Attach to a page before it navigates; ``await finish()`` after it has settled."""

    def __init__(self, page, skip_url: str | None = None) -> None:
        self.skip_url = skip_url
        self.loaded: list[Loaded] = []
        self.dropped = 0
        self._total = 0
        self._tasks: list[asyncio.Task] = []
        page.on("response", self._on_response)

    def _on_response(self, response) -> None:
        if len(self._tasks) >= MAX_RESPONSES:
            self.dropped += 1
            return
        self._tasks.append(asyncio.ensure_future(self._keep(response)))

    async def _keep(self, response) -> None:
        try:
            if response.url == self.skip_url or not response.url.startswith(("http:", "https:")):
                return
            if 300 <= response.status < 400:
                return  # a redirect has no body to replay; its target is recorded itself
            headers = await response.all_headers()
            size = headers.get("content-length")
            if size and size.isdigit() and int(size) > MAX_BODY:
                self.dropped += 1
                return
            body = await response.body()
            if len(body) > MAX_BODY or self._total + len(body) > MAX_TOTAL:
                self.dropped += 1
                return
            self._total += len(body)
            sent = response.request
            self.loaded.append(
                Loaded(
                    request={
                        "method": sent.method,
                        "url": sent.url,
                        "headers": {k: [v] for k, v in (await sent.all_headers()).items()},
                    },
                    url=response.url,
                    status=response.status,
                    headers=decoded_headers({k: [v] for k, v in headers.items()}),
                    body=body,
                )
            )
        except Exception:  # noqa: BLE001 - a page closing or a failed load just is not kept
            self.dropped += 1

    async def finish(self, timeout: float = 5.0) -> list[Loaded]:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)
            for task in self._tasks:
                task.cancel()
        return self.loaded
