"""Every check `monitor evidence verify` makes, each failure named with its lead.

For each lead, oldest capture first: the manifest's bytes hash to the recorded sha256, every
artifact to the sha256 in its manifest; each manifest links to the lead's previous one and the
first to none; each manifest names this lead's listing (and lead id, once known) — a capture
moved to another lead fails here; a timestamp token, where there is one, covers the manifest
and is signed by the configured authority. Then the heads: the lead's row must name its newest
capture and their number (a cut tail or a forged newest manifest fails here), every sealed
per-run list of heads must hash as recorded and still be found in its chain. Last, the other
way round: a manifest in the folder that names a lead's listing but is not recorded as its
evidence means rows were deleted or moved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag

from monitor.evidence import heads as hd
from monitor.evidence import ledger, tsa
from monitor.evidence import manifest as mf
from monitor.evidence.store import EvidenceStore, sha256_hex


@dataclass
class Report:
    checked: int = 0
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    pending: int = 0
    tokens: int = 0
    sealed_runs: int = 0

    def fail(self, lead_id: int | None, problem: str) -> None:
        self.problems.append((lead_id, problem))


def _short(sha: str | None) -> str:
    return (sha or "-")[:12]


def _same_listing(named: str | None, listing_url: str, legacy: bool) -> bool:
    if named == listing_url:
        return True
    # manifests written before they named their lead carry the page URL (no #fragment)
    return legacy and named == urldefrag(listing_url)[0]


def check_manifest(store: EvidenceStore, row, roots: list, report: Report) -> dict | None:
    """Hashes, artifacts and token of one recorded capture; its data if readable."""
    lead_id = row.lead_id
    blob, data, problem = store.read_manifest(row.manifest_path)
    name = Path(row.manifest_path).name
    if problem:
        report.fail(lead_id, problem)
        return None
    if sha256_hex(blob) != row.manifest_sha256:
        report.fail(lead_id, f"manifest {name} does not match its recorded sha256")
    for art in data.get("artifacts", []):
        content = store.artifact_bytes(art)
        if content is None:
            report.fail(lead_id, f"{art.get('kind')} artifact missing: {art.get('path')}")
        elif sha256_hex(content) != art.get("sha256") or len(content) != art.get("size"):
            report.fail(lead_id, f"{art.get('kind')} artifact altered: {art.get('path')}")
    token = store.token_path(row.manifest_sha256)
    if token.exists():
        why = tsa.verify_token(token.read_bytes(), blob, roots)
        if why:
            report.fail(lead_id, f"manifest {name}: {why}")
        else:
            report.tokens += 1
    elif row.timestamp_status == "ok":
        report.fail(lead_id, f"manifest {name}: timestamp token missing ({token.name})")
    elif row.timestamp_status == "pending":
        report.pending += 1
    return data


def verify_all(records, store: EvidenceStore, ca_file: str | Path | None = None) -> Report:
    report = Report()
    roots = tsa.load_roots(ca_file)
    leads = ledger.leads_with_evidence(records)
    by_listing = {lead.listing.url: lead for lead in leads}
    recorded: set[str] = set()
    chains: dict[int, list[str]] = {}
    for lead in leads:
        rows = list(lead.evidence)
        previous = None
        for row in rows:
            report.checked += 1
            recorded.add(row.manifest_sha256)
            data = check_manifest(store, row, roots, report)
            name = Path(row.manifest_path).name
            if data is None:
                previous = row.manifest_sha256
                continue
            link = data.get("previous_manifest_sha256")
            if link != previous:
                report.fail(
                    lead.id,
                    f"chain broken at {name}: links to {_short(link)}, "
                    f"previous recorded capture is {_short(previous)}",
                )
            named = mf.listing_of(data)
            if not _same_listing(named, lead.listing.url, "lead" not in data):
                owner = by_listing.get(named)
                whose = f"lead {owner.id}'s" if owner else "another"
                report.fail(
                    lead.id,
                    f"manifest {name} was captured for {whose} listing {named}, "
                    f"not this lead's {lead.listing.url}",
                )
            named_id = mf.lead_id_of(data)
            if named_id is not None and named_id != lead.id:
                report.fail(lead.id, f"manifest {name} names lead {named_id}, not lead {lead.id}")
            previous = row.manifest_sha256
        chains[lead.id] = [r.manifest_sha256 for r in rows]
        newest = rows[-1].manifest_sha256 if rows else None
        if (lead.evidence_head or None) != newest:
            report.fail(
                lead.id,
                f"chain head on the lead's record is {_short(lead.evidence_head)}, newest recorded "
                f"capture is {_short(newest)} (captures cut, deleted or forged)",
            )
        elif (lead.evidence_count or 0) != len(rows):
            report.fail(
                lead.id,
                f"the lead's record counts {lead.evidence_count} capture(s), "
                f"{len(rows)} recorded (captures cut or deleted)",
            )
    _check_seals(records, store, roots, chains, report)
    _check_unrecorded(store, by_listing, recorded, report)
    return report


def _check_seals(records, store, roots, chains, report: Report) -> None:
    import json

    runs = ledger.runs_with_heads(records)
    recorded = {run.heads_sha256 for run in runs}
    folder = store.root / "runs"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.stem not in recorded:
            report.fail(
                None,
                f"sealed list of chain heads {path.name} is not recorded on any run "
                "(run records altered)",
            )
    for run in runs:
        path = hd.seal_path(store, run.heads_sha256)
        try:
            blob = path.read_bytes()
        except OSError:
            report.fail(None, f"run {run.id}: sealed list of chain heads missing ({path.name})")
            continue
        if sha256_hex(blob) != run.heads_sha256:
            report.fail(None, f"run {run.id}: sealed list of chain heads altered")
            continue
        report.sealed_runs += 1
        token = hd.seal_token_path(store, run.heads_sha256)
        if token.exists():
            why = tsa.verify_token(token.read_bytes(), blob, roots)
            if why:
                report.fail(None, f"run {run.id}: sealed list of heads: {why}")
        for entry in json.loads(blob).get("heads", []):
            lead_id, head, count = entry.get("lead_id"), entry.get("head"), entry.get("count", 0)
            chain = chains.get(lead_id, [])
            if len(chain) < count or not count or chain[count - 1] != head:
                report.fail(
                    lead_id,
                    f"run {run.id} sealed head {_short(head)} as capture {count} of this lead; "
                    f"the recorded chain has {len(chain)} capture(s) and "
                    + (
                        f"{_short(chain[count - 1])} there"
                        if 0 < count <= len(chain)
                        else "no capture there"
                    )
                    + " (captures cut, deleted, moved or forged)",
                )


def _check_unrecorded(store, by_listing, recorded: set[str], report: Report) -> None:
    """Manifests naming a lead's listing that are not recorded as its evidence."""
    missing = defaultdict(list)
    for sha, path in store.manifests():
        if sha in recorded:
            continue
        _, data, problem = store.read_manifest(path)
        if problem or not isinstance(data, dict):
            continue
        lead = by_listing.get(mf.listing_of(data))
        if lead is not None:
            missing[lead.id].append(path.name)
    for lead_id, names in sorted(missing.items()):
        report.fail(
            lead_id,
            f"{len(names)} manifest(s) in the evidence folder name this lead's listing but are "
            "not recorded as its evidence (rows deleted or moved, or a crash before they were "
            f"written): {', '.join(names[:3])}",
        )


def verify_captures(store: EvidenceStore, captures) -> tuple[int, list[tuple[int, str]]]:
    """The file checks alone, for callers holding a lead's rows (the console's live check):
    captures given in order as (owner id, manifest path, sha256); every file's hash, tokens,
    and that each manifest links to its owner's previous one. Returns the number checked and
    (owner id, problem) for each failure. Heads, seals and bindings need the records:
    :func:`verify_all`."""
    from types import SimpleNamespace

    report = Report()
    latest: dict[int, str] = {}
    for owner, path, sha in captures:
        report.checked += 1
        row = SimpleNamespace(
            lead_id=owner, manifest_path=str(path), manifest_sha256=sha, timestamp_status="none"
        )
        data = check_manifest(store, row, [], report)
        if data is not None and owner in latest:
            if data.get("previous_manifest_sha256") != latest[owner]:
                report.fail(
                    owner, f"chain broken at {Path(path).name}: previous manifest does not match"
                )
        latest[owner] = sha
    return report.checked, report.problems
