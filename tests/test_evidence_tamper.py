"""Evidence that cannot be cut or swapped unnoticed (#16 part 6), on SQLite and PostgreSQL.

Two leads with chains of captures, a run that sealed their heads; then each tampering a person
with write access to the database and the evidence folder could try. `monitor evidence verify`
must exit non-zero and name the lead and what failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, update

from monitor.evidence import Artifact, EvidenceStore, headers_artifact
from monitor.evidence.heads import seal_run
from monitor.store.db import init_db
from monitor.store.models import Evidence, Lead
from monitor.store.records import Records

T0 = datetime(2026, 11, 1, 18, 0, tzinfo=timezone.utc)
URL_A = "http://shop.test/item/a.html"
URL_B = "http://shop.test/item/b.html"


def capture(records, store, url: str, body: str, at: datetime, run_id: int) -> str:
    previous = records.previous_manifest(url)
    manifest = store.capture(
        url=url,
        final_url=url,
        status=200,
        headers={"Content-Type": ["text/html"]},
        fetched_at=at,
        artifacts=[
            Artifact("raw_body", body.encode("utf-8"), "text/html"),
            headers_artifact({"Content-Type": ["text/html"]}),
        ],
        previous_sha256=previous,
        listing_url=url,
        target="测试商城",
    )
    records.save_listing(
        target_id=None,
        url=url,
        title=body,
        text=body,
        price="1",
        status=200,
        seen_at=at,
        categories=["prohibited_goods"],
        hits=[{"term": "特供", "category": "prohibited_goods"}],
        manifest_path=str(manifest.path),
        manifest_sha256=manifest.sha256,
        previous_sha256=previous,
        run_id=run_id,
    )
    return manifest.sha256


@pytest.fixture
def world(database_url, tmp_path, make_config):
    """Lead A with three nightly captures, lead B with two; each night's heads sealed."""
    init_db(database_url)
    records = Records(database_url)
    store = EvidenceStore(tmp_path / "evidence")
    for night in range(3):
        run_id, _ = records.start_run("nightly")
        at = T0 + timedelta(days=night)
        capture(records, store, URL_A, f"内部特供白酒 第{night}晚", at, run_id)
        if night < 2:
            capture(records, store, URL_B, f"特供香烟 第{night}晚", at, run_id)
        seal_run(records, store, run_id)
    config = make_config(database={"url": database_url}, evidence={"dir": str(store.root)})
    with records.sessions() as s:
        ids = {url: lead_id for lead_id, url in s.execute(_lead_urls())}
    return records, store, config, ids[URL_A], ids[URL_B]


def _lead_urls():
    from monitor.store.models import Listing

    return select(Lead.id, Listing.url).join(Listing, Lead.listing_id == Listing.id)


def verify(cli, config):
    return cli("evidence", "verify", config=config)


def test_untouched_evidence_verifies_with_heads_and_seals(world, cli):
    records, store, config, a, b = world
    done = verify(cli, config)
    assert done.returncode == 0, done.stderr
    assert "all 5 evidence capture(s) verified" in done.stdout
    assert "3 sealed run head list(s)" in done.stdout
    with records.sessions() as s:
        lead_a = s.get(Lead, a)
        newest = s.scalars(select(Evidence).where(Evidence.lead_id == a).order_by(Evidence.id))
        assert lead_a.evidence_head == list(newest)[-1].manifest_sha256
        assert lead_a.evidence_count == 3


def test_a_cut_chain_tail_is_named(world, cli):
    records, store, config, a, b = world
    with records.sessions.begin() as s:  # the newest capture of A removed, row and file
        newest = s.scalar(
            select(Evidence).where(Evidence.lead_id == a).order_by(Evidence.id.desc()).limit(1)
        )
        path = newest.manifest_path
        s.delete(newest)
    import os

    os.unlink(path)
    done = verify(cli, config)
    assert done.returncode == 1
    assert f"线索 {a}: chain head on the lead's record" in done.stderr
    assert f"线索 {a}: run 3 sealed head" in done.stderr
    assert f"线索 {b}" not in done.stderr


def test_captures_swapped_between_leads_are_named(world, cli):
    records, store, config, a, b = world
    with records.sessions.begin() as s:
        ev_a = s.scalar(select(Evidence).where(Evidence.lead_id == a).order_by(Evidence.id))
        ev_b = s.scalar(select(Evidence).where(Evidence.lead_id == b).order_by(Evidence.id))
        ev_a.lead_id, ev_b.lead_id = b, a
    done = verify(cli, config)
    assert done.returncode == 1
    assert f"线索 {a}: manifest" in done.stderr and f"lead {b}'s listing {URL_B}" in done.stderr
    assert f"线索 {b}: manifest" in done.stderr and f"lead {a}'s listing {URL_A}" in done.stderr


def test_a_leads_deleted_evidence_rows_are_named(world, cli):
    records, store, config, a, b = world
    with records.sessions.begin() as s:
        s.execute(delete(Evidence).where(Evidence.lead_id == b))
    done = verify(cli, config)
    assert done.returncode == 1
    assert f"线索 {b}: chain head on the lead's record" in done.stderr
    assert f"线索 {b}: 2 manifest(s) in the evidence folder name this lead's listing" in done.stderr
    assert f"线索 {a}:" not in done.stderr


def _forge_newest(records, store, lead_id: int, url: str) -> str:
    """Replace the lead's newest capture by a forged one that still links into the chain."""
    with records.sessions() as s:
        rows = list(
            s.scalars(select(Evidence).where(Evidence.lead_id == lead_id).order_by(Evidence.id))
        )
    newest = rows[-1]
    forged = store.capture(
        url=url,
        final_url=url,
        status=200,
        headers={},
        fetched_at=newest.captured_at,
        artifacts=[Artifact("raw_body", "已整改，无违规内容".encode(), "text/html")],
        previous_sha256=rows[-2].manifest_sha256,
        listing_url=url,
        target="测试商城",
    )
    with records.sessions.begin() as s:
        s.execute(
            update(Evidence)
            .where(Evidence.id == newest.id)
            .values(manifest_sha256=forged.sha256, manifest_path=str(forged.path))
        )
    return forged.sha256


def test_a_forged_latest_manifest_is_named(world, cli):
    records, store, config, a, b = world
    _forge_newest(records, store, a, URL_A)
    done = verify(cli, config)
    assert done.returncode == 1
    assert f"线索 {a}: chain head on the lead's record" in done.stderr
    assert "(captures cut, deleted or forged)" in done.stderr


def test_a_forged_latest_manifest_with_its_lead_row_moved_too_is_named_by_the_run_seal(world, cli):
    records, store, config, a, b = world
    forged = _forge_newest(records, store, a, URL_A)
    with records.sessions.begin() as s:
        s.execute(update(Lead).where(Lead.id == a).values(evidence_head=forged))
    done = verify(cli, config)
    assert done.returncode == 1
    assert f"线索 {a}: run 3 sealed head" in done.stderr
    # and the genuine newest manifest, still in the folder, is no longer recorded
    assert f"线索 {a}: 1 manifest(s) in the evidence folder" in done.stderr


def test_every_capture_is_kept_and_the_record_shows_each_night(world):
    """History: what the listing said each night, in the printable record too."""
    from monitor.config import load_config
    from monitor.evidence.report import render_html

    records, store, config, a, b = world
    page = render_html(load_config(config), records, a, operator="李四")
    for night in range(3):
        assert f"第 {night + 1} 次提取" in page
    with records.sessions() as s:
        shas = list(s.scalars(select(Evidence.manifest_sha256).where(Evidence.lead_id == a)))
    assert len(shas) == 3 and all(sha in page for sha in shas)
    assert "<script" not in page.lower()


def test_without_a_tsa_each_manifest_says_so_and_bad_requests_are_one_line(world, cli, tmp_path):
    import json

    records, store, config, a, b = world
    with records.sessions() as s:
        path = s.scalar(select(Evidence.manifest_path).where(Evidence.lead_id == a).limit(1))
    stamp = json.loads(open(path, encoding="utf-8").read())["timestamp"]
    assert stamp["authority"] is None and "未配置可信时间戳服务" in stamp["note"]
    assert cli("evidence", "timestamp", config=config).returncode == 2
    missing = cli("evidence", "report", 999, "--pdf", tmp_path / "x.pdf", config=config)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: LEAD_ID: no lead 999"
    blocked = tmp_path / "file"
    blocked.write_text("")
    bad = cli("evidence", "report", a, "--pdf", blocked / "x.pdf", config=config)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "cannot write" in bad.stderr


def test_captures_kept_before_warcs_export_as_a_valid_wacz(world, cli, tmp_path):
    """These captures hold raw bytes and headers only: export writes their WARC records."""
    import io
    import subprocess
    import sys
    import zipfile

    from warcio.archiveiterator import ArchiveIterator

    records, store, config, a, b = world
    out = tmp_path / "a.wacz"
    done = cli("evidence", "export", a, "--wacz", out, config=config)
    assert done.returncode == 0, done.stderr
    valid = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(out)], capture_output=True, text=True
    )
    assert "is valid" in valid.stdout, valid.stdout + valid.stderr
    bodies = []
    with zipfile.ZipFile(out) as z:
        for name in sorted(n for n in z.namelist() if n.startswith("archive/")):
            for rec in ArchiveIterator(io.BytesIO(z.read(name))):
                if rec.rec_type == "response":
                    bodies.append(rec.raw_stream.read().decode("utf-8"))
    assert bodies == [f"内部特供白酒 第{night}晚" for night in range(3)]  # every night, in order


def test_a_run_whose_seal_was_unrecorded_is_named(world, cli):
    from monitor.store.models import CrawlRun

    records, store, config, a, b = world
    with records.sessions.begin() as s:
        s.execute(update(CrawlRun).where(CrawlRun.id == 3).values(heads_sha256=None))
    done = verify(cli, config)
    assert done.returncode == 1
    assert "is not recorded on any run (run records altered)" in done.stderr


def test_the_store_checks_a_leads_files_for_the_console(world):
    """EvidenceStore.verify: the live check the console runs on one lead's captures."""
    records, store, config, a, b = world
    with records.sessions() as s:
        rows = list(s.scalars(select(Evidence).where(Evidence.lead_id == a).order_by(Evidence.id)))
    captures = [(a, r.manifest_path, r.manifest_sha256) for r in rows]
    assert store.verify(captures) == (3, [])
    import json

    art = json.loads(open(rows[0].manifest_path, encoding="utf-8").read())["artifacts"][0]
    (store.root / art["path"]).write_bytes(b"altered")
    checked, problems = store.verify(captures)
    assert checked == 3 and problems == [(a, f"raw_body artifact altered: {art['path']}")]


def test_hostile_listing_text_is_only_text_in_the_record(world):
    from monitor.config import load_config
    from monitor.evidence.report import render_html

    records, store, config, a, b = world
    evil = '<script>alert(1)</script><img src="http://127.0.0.1:9/x" onerror="alert(2)">'
    records.save_listing(
        target_id=None,
        url=URL_A,
        title=evil,
        text=evil,
        price="1",
        status=200,
        seen_at=T0 + timedelta(days=5),
        categories=["prohibited_goods"],
        hits=[{"term": "特供", "category": "prohibited_goods", "snippet": evil}],
    )
    page = render_html(load_config(config), records, a)
    assert "<script" not in page and '<img src="http' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "default-src 'none'" in page  # and the page itself loads nothing remote
