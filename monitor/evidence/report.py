"""The printable extraction record (电子数据提取记录) of one lead, as HTML and as PDF.

What an officer signs and files: the lead, its target and listing URL, every capture with its
times (UTC and Beijing time), tool and version, operator, every artifact with its sha256, the
timestamp tokens' times and authorities, the newest screenshot and the hits in context. The
HTML is rendered with Jinja2 with autoescaping (crawled text is hostile: it is only ever text
here, and the page forbids scripts and remote loads), and printed to PDF by WeasyPrint with
the Noto CJK fonts. :func:`render_html` is what the console links to.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from monitor.evidence.store import TOOL, EvidenceStore
from monitor.store.sanitize import printable

BEIJING = ZoneInfo("Asia/Shanghai")
KIND_LABELS = {
    "raw_body": "原始响应内容",
    "headers": "响应头",
    "request": "请求（方法、网址、请求头）",
    "rendered_dom": "渲染后页面（DOM）",
    "screenshot": "页面截图（PNG）",
    "warc": "WARC 网页存档",
}
STATUS_LABELS = {
    "none": "未加盖（未配置时间戳服务）",
    "pending": "待加盖（时间戳服务暂不可用，将重试）",
}

_env = Environment(
    loader=PackageLoader("monitor.evidence", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def _times(at: datetime | None) -> tuple[str, str]:
    if at is None:
        return "", ""
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return (
        at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
    )


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _labels(config) -> dict[str, str]:
    from monitor.errors import UserInputError
    from monitor.extract import license
    from monitor.lexicon import load_lexicon

    labels = {license.CATEGORY: license.LABEL}
    try:
        lex = load_lexicon(config.lexicon_dir)
    except UserInputError:
        return labels
    return {**labels, **{cid: c.label for cid, c in lex.categories.items()}}


def _timestamp_line(store: EvidenceStore, row) -> str:
    from monitor.evidence.tsa import token_info

    token = store.token_path(row.manifest_sha256)
    if token.exists():
        try:
            info = token_info(token.read_bytes())
        except Exception:  # noqa: BLE001 - verify names a bad token; the record says so
            return "时间戳令牌无法读取"
        utc, local = _times(info.time)
        return f"{utc}（UTC） / {local}（北京时间），时间戳机构：{info.authority}，序列号 {info.serial}"
    return STATUS_LABELS.get(row.timestamp_status, row.timestamp_status)


def context(config, records, lead_id: int, operator: str | None = None) -> dict:
    """Everything the record shows, as plain values (crawled text made printable)."""
    lead = records.lead(lead_id)
    if lead is None:
        raise LookupError(f"no lead {lead_id}")
    store = EvidenceStore(config.evidence_dir, config.tsa_url)
    labels = _labels(config)
    listing, target = lead.listing, lead.listing.target
    captures, screenshot, screenshot_missing, tool = [], None, None, TOOL
    for row in lead.evidence:
        _, data, problem = store.read_manifest(row.manifest_path)
        data = data or {}
        fetched = _parse(data.get("fetched_at")) or row.captured_at
        utc, local = _times(fetched)
        tool = data.get("tool", tool)
        notes = data.get("notes") or {}
        arts = [
            {
                "label": KIND_LABELS.get(a.get("kind"), a.get("kind")),
                "sha256": a.get("sha256"),
                "size": a.get("size"),
            }
            for a in data.get("artifacts", [])
        ]
        captures.append(
            {
                "time_utc": utc,
                "time_local": local,
                "url": printable(data.get("url", listing.url)),
                "final_url": printable(data.get("final_url") or ""),
                "status": data.get("status"),
                "sha256": row.manifest_sha256,
                "previous": row.previous_sha256,
                "timestamp": _timestamp_line(store, row),
                "notes": printable("；".join(f"{k}: {v}" for k, v in notes.items()))
                + (f"（清单无法读取：{problem}）" if problem else ""),
                "artifacts": arts,
            }
        )
        shot = next((a for a in data.get("artifacts", []) if a.get("kind") == "screenshot"), None)
        if shot is not None:
            png = store.artifact_bytes(shot)
            if png is not None:
                screenshot = {
                    "sha256": shot.get("sha256"),
                    "data": base64.b64encode(png).decode("ascii"),
                    "time": f"{utc}（UTC） / {local}（北京时间）",
                }
        screenshot_missing = notes.get("screenshot_missing", screenshot_missing)
    now_utc, now_local = _times(datetime.now(timezone.utc))
    first, last = _times(lead.first_seen), _times(lead.last_seen)
    return {
        "lead": lead,
        "listing": {
            "url": printable(listing.url),
            "title": printable(listing.title),
            "price": printable(listing.price or ""),
        },
        "target": {
            "name": printable(target.name if target else ""),
            "url": printable(target.url if target else ""),
            "credit_code": target.credit_code if target else None,
        },
        "categories": "、".join(labels.get(c, c) for c in lead.categories or []),
        "hits": [
            {
                "label": labels.get(h.get("category"), h.get("category")),
                "term": printable(h.get("term", "")),
                "field": h.get("field", ""),
                "start": h.get("start", ""),
                "end": h.get("end", ""),
                "snippet": printable(h.get("snippet", "")),
            }
            for h in lead.hits or []
        ],
        "first_seen": f"{first[0]} UTC（北京时间 {first[1]}）",
        "last_seen": f"{last[0]} UTC（北京时间 {last[1]}）",
        "generated": {"utc": now_utc, "local": now_local},
        "tool": tool,
        "operator": printable(operator or ""),
        "tsa_line": (
            f"RFC 3161 时间戳服务：{config.tsa_url}"
            if config.tsa_url
            else "未配置可信时间戳服务（evidence.tsa_url 未设置），仅以 SHA-256 哈希固定"
        ),
        "captures": captures,
        "screenshot": screenshot,
        "screenshot_missing": printable(screenshot_missing or ""),
    }


def render_html(config, records, lead_id: int, operator: str | None = None) -> str:
    """The record of one lead as a self-contained HTML page (no script, no remote loads)."""
    return _env.get_template("report.html.j2").render(**context(config, records, lead_id, operator))


def render_pdf(config, records, lead_id: int, out: Path, operator: str | None = None) -> None:
    """The record of one lead as a PDF, written atomically."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    from monitor.evidence.store import write_atomic

    html = render_html(config, records, lead_id, operator)
    # Only data: URLs (the embedded screenshot) are loaded; nothing is fetched from anywhere.
    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    pdf = HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()
    write_atomic(Path(out), pdf, shared=True)
