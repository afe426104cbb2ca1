"""One lead as one row: the columns every export format and the console share.

Values keep their types (datetimes stay datetimes, so XLSX writes real dates); each format
decides how to write them. Headers are Chinese by default, English on request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.store.models import Lead


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    width: int = 14  # characters, for XLSX
    kind: str = "text"  # text | url | datetime | int | evidence


COLUMNS = [
    Column("lead_id", "线索编号", 9, "int"),
    Column("target", "监测对象", 16),
    Column("url", "商品链接", 40, "url"),
    Column("title", "商品标题", 36),
    Column("categories", "违规类别", 18),
    Column("category_labels", "违规类别名称", 18),
    Column("terms", "命中词", 24),
    Column("snippet", "命中上下文", 40),
    Column("price", "价格", 10),
    Column("first_seen", "首次发现时间(UTC)", 19, "datetime"),
    Column("last_seen", "最近发现时间(UTC)", 19, "datetime"),
    Column("status", "处理状态", 10),
    Column("case_no", "案件编号", 20),
    Column("evidence_sha256", "证据清单SHA256", 20),
    Column("evidence_path", "证据清单路径", 40, "evidence"),
]
STATUS_LABELS = {
    "new": "新线索",
    "confirmed": "已确认",
    "dismissed": "已排除",
    "case": "已立案",
    "rectified": "已整改",
    "removed": "已下架",
}
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def headers(header: str = "zh") -> list[str]:
    return [c.zh if header == "zh" else c.key for c in COLUMNS]


def hit_terms(lead: Lead) -> list[str]:
    """The distinct terms that matched, in the order they were found."""
    terms: list[str] = []
    for hit in lead.hits or []:
        term = hit.get("term")
        if term and term not in terms:
            terms.append(term)
    return terms


def lead_row(lead: Lead, labels: dict[str, str], header: str = "zh") -> dict[str, object]:
    """The row of one lead (listing, target and evidence loaded); status in Chinese for zh."""
    listing = lead.listing
    latest = lead.evidence[-1] if lead.evidence else None
    return {
        "lead_id": lead.id,
        "target": listing.target.name if listing.target else "",
        "url": listing.url,
        "title": listing.title,
        "categories": ";".join(lead.categories or []),
        "category_labels": ";".join(labels.get(c, c) for c in lead.categories or []),
        "terms": ";".join(hit_terms(lead)),
        "snippet": (lead.hits or [{}])[0].get("snippet", ""),
        "price": listing.price or "",
        "first_seen": lead.first_seen,
        "last_seen": lead.last_seen,
        "status": STATUS_LABELS.get(lead.status, lead.status) if header == "zh" else lead.status,
        "case_no": lead.case_no or "",
        "evidence_sha256": latest.manifest_sha256 if latest else "",
        "evidence_path": latest.manifest_path if latest else "",
    }


def category_labels(lexicon_dir: Path) -> dict[str, str]:
    """Category id -> Chinese label, from the lexicon (ids alone if it cannot be read)."""
    from monitor.errors import UserInputError
    from monitor.extract import license
    from monitor.lexicon import load_lexicon

    labels = {license.CATEGORY: license.LABEL}
    try:
        lex = load_lexicon(lexicon_dir)
    except UserInputError:
        return labels
    return {**labels, **{cid: c.label for cid, c in lex.categories.items()}}
