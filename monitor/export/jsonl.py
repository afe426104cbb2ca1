"""JSON Lines: one lead a line with everything known about it, for other tools.

Unlike the spreadsheet formats it keeps hits with their offsets, every evidence capture and
the review history; text is kept as crawled (JSON escapes it; nothing here is ever executed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

import orjson

from monitor.export.rows import lead_row
from monitor.store.models import Lead

FORMAT = "jsonl"
MEDIA_TYPE = "application/x-ndjson"
LABEL = "JSONL"
HISTORY = True  # each lead's review history is written too


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def write(
    leads: Iterable[Lead],
    out: BinaryIO,
    labels: dict[str, str],
    header: str = "zh",
    console_url: str | None = None,
) -> int:
    count = 0
    for lead in leads:
        row = lead_row(lead, labels, header="en")
        record = {
            "id": lead.id,
            "target": row["target"],
            "url": row["url"],
            "title": row["title"],
            "text": lead.listing.text,
            "price": lead.listing.price,
            "categories": list(lead.categories or []),
            "category_labels": [labels.get(c, c) for c in lead.categories or []],
            "hits": list(lead.hits or []),
            "status": lead.status,
            "case_no": lead.case_no,
            "first_seen": _iso(lead.first_seen),
            "last_seen": _iso(lead.last_seen),
            "console_url": f"{console_url.rstrip('/')}/leads/{lead.id}" if console_url else None,
            "evidence": [
                {
                    "manifest_sha256": ev.manifest_sha256,
                    "manifest_path": ev.manifest_path,
                    "previous_sha256": ev.previous_sha256,
                    "captured_at": _iso(ev.captured_at),
                }
                for ev in lead.evidence
            ],
            "history": [
                {
                    "at": _iso(e.at),
                    "reviewer": e.reviewer,
                    "from": e.from_status,
                    "to": e.to_status,
                    "note": e.note,
                }
                for e in lead.events
            ],
        }
        out.write(orjson.dumps(record) + b"\n")
        count += 1
    return count
