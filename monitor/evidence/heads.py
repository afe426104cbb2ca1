"""Each lead's chain head, kept outside the chain, and sealed once per run.

A chain whose manifests link backwards proves nothing about its end: cutting the newest
captures, or replacing the newest manifest, leaves a chain that still links. So the head is
kept twice outside the chain: on the lead's row (newest manifest sha256 and capture count,
moved in the same transaction as the Evidence row) and in a per-run list of the heads this run
left, written to ``runs/<sha256>.json`` in the evidence folder, its sha256 recorded on the run,
and timestamped by the TSA when one is configured (token beside it). `monitor evidence verify`
checks the rows, the chain and every sealed list against each other.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from monitor.evidence import ledger
from monitor.evidence.store import TOOL, EvidenceStore, sha256_hex, write_atomic
from monitor.evidence.tsa import TimestampError, request_token, retry_pending


def seal_path(store: EvidenceStore, sha256: str) -> Path:
    return store.root / "runs" / f"{sha256}.json"


def seal_token_path(store: EvidenceStore, sha256: str) -> Path:
    return store.root / "runs" / f"{sha256}.tsr"


def seal_run(records, store: EvidenceStore, run_id: int) -> str | None:
    """Write and record the list of chain heads this run left; None when it captured nothing.

    A TSA failure here is not fatal: the list is still hashed into the run's record, and
    `monitor evidence timestamp` stamps it later."""
    heads = ledger.heads_of_run(records, run_id)
    if not heads:
        return None
    data = {
        "run_id": run_id,
        "sealed_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "tool": TOOL,
        "heads": [
            {"lead_id": lid, "listing_url": url, "head": head, "count": count}
            for lid, url, head, count in heads
        ],
    }
    blob = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    sha = sha256_hex(blob)
    write_atomic(seal_path(store, sha), blob)
    ledger.set_run_heads(records, run_id, sha)
    if store.tsa_url:
        stamp_seal(store, sha)
        # captures left pending earlier in this run or an earlier one: one more try each
        # (stopping at the first failure, so a TSA that is down does not hold the run up)
        retry_pending(records, store, only_pending=True, stop_at_first_failure=True)
    return sha


def stamp_seal(store: EvidenceStore, sha: str) -> bool:
    """Timestamp a sealed list if a TSA is configured and it has no token yet."""
    if not store.tsa_url or seal_token_path(store, sha).exists():
        return False
    try:
        reply = request_token(store.tsa_url, seal_path(store, sha).read_bytes())
    except (TimestampError, OSError):
        return False
    write_atomic(seal_token_path(store, sha), reply)
    return True
