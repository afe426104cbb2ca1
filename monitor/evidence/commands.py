"""The bodies of `monitor evidence verify | timestamp | export | report` (cli.py parses)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from monitor.errors import UserInputError
from monitor.evidence import heads as hd
from monitor.evidence import ledger
from monitor.evidence.store import EvidenceStore


@contextmanager
def _writing(path: str):
    """A file that cannot be written is one line naming it, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise UserInputError(str(path), None, f"cannot write: {exc.strerror or exc}") from None


def _store(config) -> EvidenceStore:
    return EvidenceStore(config.evidence_dir, config.tsa_url)


def _lead(records, lead_id: int):
    lead = records.lead(lead_id)
    if lead is None:
        raise UserInputError("LEAD_ID", None, f"no lead {lead_id}")
    return lead


def verify(config, records) -> int:
    from monitor.evidence.verify import verify_all

    report = verify_all(records, _store(config), config.tsa_ca_file)
    extra = f"，时间戳 {report.tokens} 个有效 ({report.tokens} timestamp token(s) valid)"
    if report.pending:
        extra += (
            f"；{report.pending} 份待加盖时间戳 ({report.pending} awaiting a timestamp: "
            "run `monitor evidence timestamp`)"
        )
    if not report.problems:
        print(
            f"证据校验通过 all {report.checked} evidence capture(s) verified, "
            f"{report.sealed_runs} sealed run head list(s) hold{extra}"
        )
        return 0
    for lead_id, problem in report.problems:
        who = f"线索 {lead_id}" if lead_id is not None else "运行记录"
        print(f"{who}: {problem}", file=sys.stderr)
    failed = sorted({lid for lid, _ in report.problems if lid is not None})
    print(
        f"证据校验失败 evidence failed for lead(s): {', '.join(map(str, failed)) or '-'}",
        file=sys.stderr,
    )
    return 1


def timestamp(config, records) -> int:
    """Stamp every capture (and run seal) that has no token yet."""
    from monitor.evidence.tsa import retry_pending

    if not config.tsa_url:
        print("未配置时间戳服务 evidence.tsa_url is not set: nothing to timestamp", file=sys.stderr)
        return 2
    store = _store(config)
    done, failures = retry_pending(records, store)
    for line in failures:
        print(line, file=sys.stderr)
    for run in ledger.runs_with_heads(records):
        hd.stamp_seal(store, run.heads_sha256)
    print(f"已加盖时间戳 timestamped {done} capture(s); {len(failures)} still pending")
    return 1 if failures else 0


def _warc_of(store: EvidenceStore, data: dict) -> bytes:
    """The capture's WARC artifact; for a capture made before WARCs were kept, one written now
    from its stored artifacts (their bytes unchanged, the digests computed over them)."""
    import json
    from datetime import datetime, timezone

    from monitor.evidence.artifacts import Captured, warc

    stored = {}
    for art in data.get("artifacts", []):
        content = store.artifact_bytes(art)
        if content is None:
            raise UserInputError(art.get("path", ""), None, f"{art.get('kind')} artifact missing")
        stored[art.get("kind")] = content
    if "warc" in stored:
        return stored["warc"]
    fetched = data.get("fetched_at") or data.get("captured_at")
    at = (
        datetime.fromisoformat(fetched.replace("Z", "+00:00"))
        if fetched
        else datetime.now(timezone.utc)
    )
    return warc(
        Captured(
            url=data.get("final_url") or data.get("url", ""),
            status=data.get("status"),
            headers=json.loads(stored["headers"]) if "headers" in stored else {},
            fetched_at=at,
            raw_body=stored.get("raw_body"),
            request=json.loads(stored["request"]) if "request" in stored else None,
            rendered_dom=stored["rendered_dom"].decode("utf-8", "replace")
            if "rendered_dom" in stored
            else None,
            screenshot=stored.get("screenshot"),
        )
    ).data


def export(config, records, lead_id: int, wacz: str) -> int:
    from monitor.evidence.warc import ExportError, write_wacz

    lead = _lead(records, lead_id)
    store = _store(config)
    warcs = []
    for i, row in enumerate(lead.evidence, 1):
        _, data, problem = store.read_manifest(row.manifest_path)
        if problem:
            raise UserInputError(row.manifest_path, None, problem)
        warcs.append((f"lead-{lead.id}-capture-{i:03d}.warc.gz", _warc_of(store, data)))
    try:
        with _writing(wacz):
            write_wacz(
                warcs,
                Path(wacz),
                title=f"线索 {lead.id} 电子数据 {lead.listing.title}"[:200],
                description=f"marketplace-monitor lead {lead.id}: {len(warcs)} capture(s)",
            )
    except ExportError as exc:
        print(f"error: lead {lead.id}: {exc}", file=sys.stderr)
        return 1
    print(f"已导出 exported {len(warcs)} capture(s) of lead {lead.id} to {wacz}")
    return 0


def report(config, records, lead_id: int, pdf: str | None, html: str | None, operator) -> int:
    from monitor.evidence.report import render_html, render_pdf

    _lead(records, lead_id)
    operator = operator or config.operator
    if pdf:
        with _writing(pdf):
            render_pdf(config, records, lead_id, Path(pdf), operator=operator)
        print(f"已生成电子数据提取记录 PDF: {pdf}")
    page = render_html(config, records, lead_id, operator=operator)
    if html:
        from monitor.evidence.store import write_atomic

        with _writing(html):
            write_atomic(Path(html), page.encode("utf-8"), shared=True)
        print(f"已生成电子数据提取记录 HTML: {html}")
    elif not pdf:
        sys.stdout.write(page)
    return 0
