"""Export leads to CSV for Excel and LibreOffice: UTF-8 with BOM, Chinese headers by default.

Crawled text is hostile: a cell starting with = + - @ (or a tab or carriage return) would run
as a formula in a spreadsheet, so it gets a leading apostrophe; control characters are dropped.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from monitor.evidence import write_atomic
from monitor.models import Lead
from monitor.sanitize import safe_cell

COLUMNS = [
    ("lead_id", "线索编号"),
    ("target", "监测对象"),
    ("url", "商品链接"),
    ("title", "商品标题"),
    ("categories", "违规类别"),
    ("category_labels", "违规类别名称"),
    ("terms", "命中词"),
    ("snippet", "命中上下文"),
    ("price", "价格"),
    ("first_seen", "首次发现时间(UTC)"),
    ("last_seen", "最近发现时间(UTC)"),
    ("status", "处理状态"),
    ("case_no", "案件编号"),
    ("evidence_sha256", "证据清单SHA256"),
    ("evidence_path", "证据清单路径"),
]
STATUS_LABELS = {
    "new": "新线索",
    "confirmed": "已确认",
    "dismissed": "已排除",
    "case": "已立案",
    "rectified": "已整改",
    "removed": "已下架",
}


def lead_row(lead: Lead, labels: dict[str, str]) -> dict[str, str]:
    listing = lead.listing
    latest = lead.evidence[-1] if lead.evidence else None
    terms = []
    for hit in lead.hits or []:
        if hit.get("term") not in terms:
            terms.append(hit.get("term"))
    first_snippet = (lead.hits or [{}])[0].get("snippet", "")
    return {
        "lead_id": lead.id,
        "target": listing.target.name if listing.target else "",
        "url": listing.url,
        "title": listing.title,
        "categories": ";".join(lead.categories or []),
        "category_labels": ";".join(labels.get(c, c) for c in lead.categories or []),
        "terms": ";".join(t for t in terms if t),
        "snippet": first_snippet,
        "price": listing.price or "",
        "first_seen": lead.first_seen.strftime("%Y-%m-%d %H:%M:%S"),
        "last_seen": lead.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
        "status": lead.status,
        "case_no": lead.case_no or "",
        "evidence_sha256": latest.manifest_sha256 if latest else "",
        "evidence_path": latest.manifest_path if latest else "",
    }


def export_csv(
    leads: list[Lead], path: str | Path, labels: dict[str, str], header: str = "zh"
) -> int:
    """Write the leads to ``path`` (atomically); return how many rows were written."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([zh if header == "zh" else en for en, zh in COLUMNS])
    for lead in leads:
        row = lead_row(lead, labels)
        if header == "zh":
            row["status"] = STATUS_LABELS.get(row["status"], row["status"])
        writer.writerow([safe_cell(row[en]) for en, _ in COLUMNS])
    write_atomic(Path(path), ("\ufeff" + buf.getvalue()).encode("utf-8"))
    return len(leads)
