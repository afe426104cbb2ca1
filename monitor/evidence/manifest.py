"""What a manifest says: one capture of one lead's listing, its artifacts, and its chain link.

A manifest names its lead (the listing URL that identifies the lead, its target, and the lead
id once the lead exists) so a capture moved to another lead is seen from either side; it names
the previous manifest of the same lead, so removing or changing a capture breaks the chain;
and it says whether a trusted timestamp authority will stamp it, so a missing token is
explained rather than silent. It is stored as canonical JSON (sorted keys), hashed as written.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

FORMAT = "marketplace-monitor-evidence/2"
NO_TSA = "未配置可信时间戳服务（evidence.tsa_url 未设置），本清单仅以 sha256 固定"


def utc_iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def build(
    *,
    url: str,
    final_url: str,
    status: int | None,
    headers: dict,
    fetched_at: datetime,
    tool: str,
    artifacts: list[dict],
    previous_sha256: str | None,
    listing_url: str | None = None,
    target: str | None = None,
    lead_id: int | None = None,
    tsa_url: str | None = None,
    notes: dict | None = None,
) -> dict:
    data = {
        "format": FORMAT,
        "lead": {"listing_url": listing_url or url, "target": target, "lead_id": lead_id},
        "url": url,
        "final_url": final_url,
        "status": status,
        "headers": headers,
        "fetched_at": utc_iso(fetched_at),
        "captured_at": utc_iso(datetime.now(timezone.utc)),
        "tool": tool,
        "artifacts": artifacts,
        "previous_manifest_sha256": previous_sha256,
        "timestamp": {"authority": tsa_url} if tsa_url else {"authority": None, "note": NO_TSA},
    }
    if notes:
        data["notes"] = notes
    return data


def encode(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def listing_of(data: dict) -> str | None:
    """The listing URL a manifest was captured for (older manifests: their url)."""
    lead = data.get("lead")
    if isinstance(lead, dict) and lead.get("listing_url"):
        return lead["listing_url"]
    return data.get("url")


def lead_id_of(data: dict) -> int | None:
    lead = data.get("lead")
    return lead.get("lead_id") if isinstance(lead, dict) else None
