"""The records on SQLite and PostgreSQL: migrations, one lead per listing, lifecycle."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.store.db import engine_for, init_db
from monitor.store.models import Base
from monitor.store.records import Records

T0 = datetime(2026, 11, 1, 20, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 2, 20, 0, tzinfo=timezone.utc)


def test_migrations_build_exactly_the_models_and_init_is_repeatable(database_url):
    init_db(database_url)
    init_db(database_url)
    with engine_for(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def save(records, **kw):
    base = dict(
        target_id=None,
        url="http://s.example/p1",
        title="高仿手表",
        text="一比一复刻",
        price="10",
        status=200,
        seen_at=T0,
        categories=["counterfeit"],
        hits=[{"term": "高仿", "category": "counterfeit"}],
        run_id=None,
    )
    base.update(kw)
    return records.save_listing(**base)


def test_listing_seen_again_updates_its_lead_never_duplicates(database_url):
    init_db(database_url)
    records = Records(database_url)
    tid = records.ensure_target("店", "http://s.example/")
    first = save(records, target_id=tid, manifest_path="/m/a.json", manifest_sha256="a" * 64)
    second = save(
        records,
        target_id=tid,
        seen_at=T1,
        manifest_path="/m/b.json",
        manifest_sha256="b" * 64,
        previous_sha256="a" * 64,
    )
    assert first.lead_created and not second.lead_created and second.lead_updated
    leads = records.leads()
    assert len(leads) == 1
    lead = leads[0]
    assert lead.first_seen == T0 and lead.last_seen == T1
    assert [e.manifest_sha256[0] for e in lead.evidence] == ["a", "b"]
    assert records.previous_manifest("http://s.example/p1") == "b" * 64


def test_lead_lifecycle_rectified_and_reopened_with_audit_trail(database_url):
    init_db(database_url)
    records = Records(database_url)
    lead_id = save(records).lead_id
    save(records, text="正品", title="手表", categories=[], hits=[], seen_at=T1)
    assert records.lead(lead_id).status == "rectified"
    save(records, seen_at=T1)
    assert records.lead(lead_id).status == "new"
    records.set_status(
        lead_id, "case", case_no="杭市监案〔2026〕12号", note="已立案", reviewer="张三"
    )
    lead = records.lead(lead_id)
    assert lead.status == "case" and lead.case_no == "杭市监案〔2026〕12号"
    assert [(e.from_status, e.to_status) for e in lead.events] == [
        ("new", "rectified"),
        ("rectified", "new"),
        ("new", "case"),
    ]
    assert lead.events[-1].reviewer == "张三"


def test_run_statistics_are_kept(database_url):
    init_db(database_url)
    records = Records(database_url)
    run_id, _ = records.start_run("nightly")
    records.finish_run(run_id, "ok", 0, {"totals": {"pages": 12}, "errors": {"http_404": 1}})
    run = records.run(run_id)
    assert run.stats["totals"]["pages"] == 12 and run.finished_at is not None and run.exit_code == 0
