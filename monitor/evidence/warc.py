"""Each capture as standard web-archive records, and a lead's captures as one WACZ.

A capture becomes a small gzipped WARC (ISO 28500, written with warcio): the request as sent,
the response as served (status line, headers and the undecoded body, so a replay tool such
as pywb or ReplayWeb.page decodes it as a browser did), and the rendered DOM and the screenshot
as resource records (``urn:rendered-dom:`` / ``urn:screenshot:`` + URL, as Browsertrix names
its extra records). Every record carries WARC-Block-Digest and WARC-Payload-Digest in sha256.
The WARC is itself an artifact of the capture, hashed in its manifest.

`monitor evidence export LEAD --wacz FILE` gathers the WARCs of every capture of the lead,
oldest first, and packages them with the `wacz` tool (index, pages, datapackage digests).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from http.client import responses
from pathlib import Path
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from monitor.evidence.artifacts import Artifact

# Headers that describe how the bytes travelled, not the bytes kept: the body is stored
# de-chunked, so a replay must not try to de-chunk it again (pywb renames them the same way).
TRANSPORT_HEADERS = ("transfer-encoding",)


class SHA256WARCWriter(WARCWriter):
    """warcio's writer with sha256 block and payload digests (its default is sha1)."""

    @staticmethod
    def _create_digester():
        return Digester("sha256")


def _warc_date(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header_list(headers: dict) -> list[tuple[str, str]]:
    out = []
    for name, values in (headers or {}).items():
        for value in values if isinstance(values, list) else [values]:
            if name.lower() in TRANSPORT_HEADERS:
                name = f"X-Archive-Orig-{name}"
            out.append((str(name), str(value)))
    return out


def _write_exchange(
    writer: WARCWriter,
    *,
    url: str,
    status: int | None,
    headers: dict,
    body: bytes | None,
    request: dict | None,
    common: dict,
) -> str | None:
    """A response record (when there is a body) and the request that fetched it, linked by
    WARC-Concurrent-To; returns the response's record id."""
    response_id = None
    if body is not None and status is not None:
        http = StatusAndHeaders(
            f"{status} {responses.get(status, '')}".strip(),
            _header_list(headers),
            protocol="HTTP/1.1",
        )
        response = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict=dict(common),
        )
        writer.write_record(response)
        response_id = response.rec_headers.get_header("WARC-Record-ID")
    if request:
        target = urlsplit(request.get("url") or url)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        req_headers = _header_list(request.get("headers") or {})
        if not any(k.lower() == "host" for k, _ in req_headers):
            req_headers.insert(0, ("Host", target.netloc))
        http = StatusAndHeaders(
            f"{request.get('method', 'GET')} {path} HTTP/1.1",
            req_headers,
            is_http_request=True,
        )
        extra = dict(common)
        if response_id:
            extra["WARC-Concurrent-To"] = response_id
        writer.write_record(
            writer.create_warc_record(
                request.get("url") or url,
                "request",
                payload=io.BytesIO(b""),
                length=0,
                http_headers=http,
                warc_headers_dict=extra,
            )
        )
    return response_id


def capture_warc(
    *,
    url: str,
    status: int | None,
    headers: dict,
    body: bytes | None,
    request: dict | None,
    fetched_at: datetime,
    rendered_dom: bytes | None = None,
    screenshot: bytes | None = None,
    loaded: list | None = None,
) -> Artifact:
    """One capture as WARC records (gzip per record), as an artifact of kind ``warc``: the
    listing's request and response, what the rendered page loaded (``loaded``, see
    :mod:`monitor.evidence.recorder`), and the rendered DOM and screenshot as resources."""
    buf = io.BytesIO()
    writer = SHA256WARCWriter(buf, gzip=True)
    common = {"WARC-Date": _warc_date(fetched_at)}
    writer.write_record(
        writer.create_warcinfo_record(
            "capture.warc.gz",
            {"software": "marketplace-monitor (warcio)", "format": "WARC File Format 1.1"},
        )
    )
    response_id = _write_exchange(
        writer, url=url, status=status, headers=headers, body=body, request=request, common=common
    )
    for item in loaded or []:
        _write_exchange(
            writer,
            url=item.url,
            status=item.status,
            headers=item.headers,
            body=item.body,
            request=item.request,
            common=common,
        )
    for kind, data, media in (
        ("rendered-dom", rendered_dom, "text/html; charset=utf-8"),
        ("screenshot", screenshot, "image/png"),
    ):
        if data is None:
            continue
        extra = {**common, "Content-Type": media}
        if response_id:
            extra["WARC-Concurrent-To"] = response_id
        writer.write_record(
            writer.create_warc_record(
                f"urn:{kind}:{url}",
                "resource",
                payload=io.BytesIO(data),
                length=len(data),
                warc_content_type=media,
                warc_headers_dict=extra,
            )
        )
    return Artifact("warc", buf.getvalue(), "application/warc")


def _pages_jsonl(warcs: list[tuple[str, bytes]], title: str) -> str:
    """One replayable page per capture: the response's URL at its WARC date."""
    import json

    from warcio.archiveiterator import ArchiveIterator

    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Pages"})]
    for _, data in warcs:
        for record in ArchiveIterator(io.BytesIO(data)):
            if record.rec_type == "response":
                lines.append(
                    json.dumps(
                        {
                            "url": record.rec_headers.get_header("WARC-Target-URI"),
                            "ts": record.rec_headers.get_header("WARC-Date"),
                            "title": title,
                        },
                        ensure_ascii=False,
                    )
                )
                break
    return "\n".join(lines) + "\n"


class ExportError(Exception):
    """A lead's captures could not be packaged (said in one line)."""


def write_wacz(warcs: list[tuple[str, bytes]], out: Path, *, title: str, description: str) -> None:
    """Package WARC files (name, bytes) as a WACZ at ``out`` with the `wacz` tool."""
    if not warcs:
        raise ExportError("no WARC records to export (captures made before WARC were kept)")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="wacz-") as tmp:
        names = []
        for name, data in warcs:
            path = Path(tmp) / name
            path.write_bytes(data)
            names.append(str(path))
        pages = Path(tmp) / "pages.jsonl"
        pages.write_text(_pages_jsonl(warcs, title), encoding="utf-8")
        partial = Path(tmp) / "out.wacz"
        cmd = [sys.executable, "-m", "wacz", "create", "-o", str(partial), "-p", str(pages)]
        cmd += ["--hash-type", "sha256", "--title", title, "--desc", description]
        done = subprocess.run(cmd + names, capture_output=True, text=True)
        if done.returncode != 0 or not partial.exists():
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["unknown error"]
            raise ExportError(f"wacz create failed: {last[0]}")
        from monitor.evidence.store import write_atomic

        write_atomic(out, partial.read_bytes(), shared=True)
