"""Writes that keep up: listings, leads and evidence rows recorded a batch per transaction, evidence
files synced a batch at a time, and still no lead lost and no row without its files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from monitor.store.db import init_db
from monitor.store.records import Records
from monitor.webserver import ShopServer

PROJECT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc)


def product(i: int, flagged: bool) -> str:
    title = f"高仿名表 第{i}款" if flagged else f"加厚羽绒服 第{i}款"
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body>'
        f"<main><h1>{title}</h1><p>价格：￥{100 + i}</p><p>保暖透气，轻薄舒适。</p></main>"
        "</body></html>"
    )


def make_site(root: Path, n: int, flagged_every: int = 2, per_page: int = 50) -> set[str]:
    """A shop of n listings, every ``flagged_every``-th one flagged; returns their paths."""
    (root / "p").mkdir(parents=True, exist_ok=True)
    flagged = set()
    for i in range(n):
        is_flagged = i % flagged_every == 0
        (root / "p" / f"{i}.html").write_text(product(i, is_flagged), encoding="utf-8")
        if is_flagged:
            flagged.add(f"p/{i}.html")
    pages = (n + per_page - 1) // per_page
    for k in range(pages):
        links = "".join(
            f'<a href="/p/{i}.html">{i}</a> '
            for i in range(k * per_page, min(n, (k + 1) * per_page))
        )
        nxt = f'<a href="/list{k + 1}.html">下一页</a>' if k + 1 < pages else ""
        (root / f"list{k}.html").write_text(
            f'<html><head><meta charset="utf-8"></head><body>{links}{nxt}</body></html>',
            encoding="utf-8",
        )
    (root / "index.html").write_text(
        '<html><head><meta charset="utf-8"></head><body><a href="/list0.html">全部商品</a>'
        "<footer>经营者：福州某某商贸有限公司 统一社会信用代码：91350100M000100Y43 "
        "闽ICP备2023012345号-1</footer></body></html>",
        encoding="utf-8",
    )
    return flagged


class SlowHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        time.sleep(0.03)
        super().do_GET()


def state(database_url: str) -> dict:
    """Leads by listing URL, and every evidence row (lead id, manifest path)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            leads = dict(
                conn.execute(
                    text("SELECT l.url, d.id FROM leads d JOIN listings l ON l.id = d.listing_id")
                ).all()
            )
            evidence = conn.execute(
                text("SELECT lead_id, manifest_path FROM evidence ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    return {"leads": leads, "evidence": evidence}


def missing_files(evidence_dir: Path, rows) -> list[str]:
    """Files a recorded evidence row needs that are not on disk."""
    missing = []
    for _lead, manifest_path in rows:
        manifest = Path(manifest_path)
        if not manifest.exists():
            missing.append(str(manifest))
            continue
        for art in json.loads(manifest.read_bytes())["artifacts"]:
            if not (evidence_dir / art["path"]).exists():
                missing.append(art["path"])
    return missing


# -- records: one transaction per batch, on SQLite and PostgreSQL ------------------------------


def listing(url: str, sha: str | None, previous: str | None = None, **kw) -> tuple[str, dict]:
    values = dict(
        target_id=None,
        url=url,
        title="高仿手表",
        text="一比一复刻",
        price="10",
        status=200,
        seen_at=T0,
        categories=["counterfeit"],
        hits=[{"term": "高仿", "category": "counterfeit"}],
        manifest_path=f"/m/{sha}.json" if sha else None,
        manifest_sha256=sha,
        previous_sha256=previous,
    )
    values.update(kw)
    return ("listing", values)


def test_a_batch_records_leads_and_chains_in_one_transaction(database_url):
    init_db(database_url)
    records = Records(database_url)
    a, b, c, d = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
    # given out of URL order, with two captures of one listing (its first and second) in it
    results = records.write_batch(
        [
            listing("http://s.example/z", a),
            listing("http://s.example/p", b),
            listing("http://s.example/z", c, previous=a, text="一比一复刻 第二版"),
            listing("http://s.example/clean", None, categories=[], hits=[]),
        ]
    )
    assert [r.lead_created for r in results] == [True, True, False, False]
    assert results[2].lead_updated and results[3].lead_id is None
    leads = {lead.listing.url: lead for lead in records.leads()}
    assert set(leads) == {"http://s.example/z", "http://s.example/p"}
    z = leads["http://s.example/z"]
    assert [e.manifest_sha256 for e in z.evidence] == [a, c]  # the chain's order
    assert z.evidence_head == c and z.evidence_count == 2 and "第二版" in z.listing.text
    assert records.previous_manifest("http://s.example/z") == c

    # a removal in a batch moves the lead and adds its capture after the others
    (removed,) = records.write_batch(
        [("removed", {"url": "http://s.example/p", "status": 404, "seen_at": T0,
                      "manifest_path": "/m/d.json", "manifest_sha256": d,
                      "previous_sha256": b})]
    )  # fmt: skip
    assert removed == leads["http://s.example/p"].id
    assert records.lead(removed).status == "removed" and records.lead(removed).evidence_head == d


def test_a_failing_write_rolls_its_whole_batch_back(database_url):
    init_db(database_url)
    records = Records(database_url)
    with pytest.raises(IntegrityError):
        records.write_batch(
            [
                listing("http://s.example/1", "1" * 64),
                listing("http://s.example/2", "2" * 64, target_id=987654),  # no such target
            ]
        )
    assert records.leads() == [] and state(database_url)["evidence"] == []
    records.write_batch([listing("http://s.example/1", "1" * 64)])
    assert len(records.leads()) == 1


# -- a crawl with many flagged listings ----------------------------------------------------------


def test_many_flagged_listings_are_all_recorded_with_their_files_and_verify(
    tmp_path, make_config, cli, database_url
):
    flagged = make_site(tmp_path / "site", 240, flagged_every=2)  # 120 leads: more than a batch
    with ShopServer(tmp_path / "site") as server:
        config = make_config(
            [{"name": "店", "url": server.url}],
            database={"url": database_url},
            evidence={"dir": "evidence", "screenshots": False},
        )
        result = cli("nightly", config=config)
        assert result.returncode == 0, result.stdout + result.stderr
    got = state(database_url)
    assert set(got["leads"]) == {server.url + p for p in flagged}
    assert len(got["evidence"]) == len({lead for lead, _ in got["evidence"]}) == len(flagged)
    assert missing_files(tmp_path / "evidence", got["evidence"]) == []
    assert not list((tmp_path / "evidence" / "journal").glob("*")), "a clean end leaves no journal"
    shown = json.loads(cli("runs", "show", "1", config=config).stdout)["stats"]["totals"]
    assert shown["leads_new"] == shown["evidence"] == len(flagged)
    verify = cli("evidence", "verify", config=config)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_run_killed_mid_batch_keeps_every_lead_and_no_row_without_its_files(
    tmp_path, make_config
):
    flagged = make_site(tmp_path / "site", 400, flagged_every=2)
    evidence = tmp_path / "evidence"
    database_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    with ShopServer(tmp_path / "site", handler=SlowHandler) as server:
        config = make_config(
            [{"name": "店", "url": server.url}],
            evidence={"dir": "evidence", "screenshots": False},
            crawl={"obey_robots": False, "per_target_concurrency": 2},
        )
        cmd = [sys.executable, "-m", "monitor.cli", "--config", str(config), "nightly"]
        proc = subprocess.Popen(
            cmd, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # kill it once some leads are recorded and a batch of captures is written, not recorded
        deadline, unrecorded = time.time() + 120, 0
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                got = state(database_url)
            except Exception:  # noqa: BLE001 - the database is still being created
                continue
            manifests = len(list((evidence / "manifests").glob("*.json")))
            unrecorded = manifests - len(got["evidence"])
            if len(got["leads"]) >= 10 and unrecorded >= 5:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = state(database_url)
        assert 10 <= len(killed["leads"]) < len(flagged), "the kill should land mid-crawl"
        assert unrecorded >= 5, "the kill should land with captures waiting for their batch"
        assert missing_files(evidence, killed["evidence"]) == [], "no row without its files"
        assert list((evidence / "journal").glob("*.txt")), "the unrecorded captures are named"

        resumed = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = state(database_url)
    assert set(final["leads"]) == {server.url + p for p in flagged}
    assert len(final["evidence"]) == len({lead for lead, _ in final["evidence"]}) == len(flagged)
    assert missing_files(evidence, final["evidence"]) == []
    recorded = {Path(p).name for _, p in final["evidence"]}
    on_disk = {p.name for p in (evidence / "manifests").glob("*.json")}
    assert on_disk == recorded, "the killed batch's unrecorded manifests are cleared"
    verify = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "evidence", "verify"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


# -- a storage fault in the middle of a batch ---------------------------------------------------


def refuse_leads_of(database_url: str, url_prefix: str) -> None:
    """The database refuses to file leads of one shop (as a full or failing disk would)."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER fault BEFORE INSERT ON leads WHEN (SELECT url FROM listings "
                    f"WHERE id = NEW.listing_id) LIKE '{url_prefix}%' "
                    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION fault() RETURNS trigger AS $$ BEGIN IF (SELECT url FROM "
                    f"listings WHERE id = NEW.listing_id) LIKE '{url_prefix}%' THEN "
                    "RAISE EXCEPTION 'could not extend file: No space left on device'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER fault BEFORE INSERT ON leads "
                    "FOR EACH ROW EXECUTE FUNCTION fault()"
                )
            )
    engine.dispose()


def captures(database_url: str) -> str:
    """Every evidence row with its listing, to show what was recorded twice."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.id, e.run_id, l.url, e.previous_sha256 FROM evidence e "
                "JOIN leads d ON d.id = e.lead_id JOIN listings l ON l.id = d.listing_id "
                "ORDER BY e.id"
            )
        ).all()
    engine.dispose()
    return "\n".join(map(str, rows))


def heal(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text("DROP TRIGGER fault" + (" ON leads" if "postgresql" in database_url else ""))
        )
    engine.dispose()


def test_a_storage_fault_in_a_batch_stops_only_its_target_and_is_reported(
    tmp_path, make_config, cli, database_url
):
    good = make_site(tmp_path / "good", 30, flagged_every=3)
    bad = make_site(tmp_path / "bad", 30, flagged_every=3)
    with ShopServer(tmp_path / "good") as s_good, ShopServer(tmp_path / "bad") as s_bad:
        config = make_config(
            [{"name": "好店", "url": s_good.url}, {"name": "坏店", "url": s_bad.url}],
            database={"url": database_url},
            evidence={"dir": "evidence", "screenshots": False},
        )
        assert cli("init", config=config).returncode == 0
        refuse_leads_of(database_url, s_bad.url)
        result = cli("nightly", config=config)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "writing the database failed" in result.stdout
        run = json.loads(cli("runs", "show", "1", config=config).stdout)["stats"]["targets"]
        assert run["好店"]["crawled"] and not run["坏店"]["crawled"]
        assert "writing the database failed" in run["坏店"]["reason"]
        got = state(database_url)
        assert set(got["leads"]) == {s_good.url + p for p in good}  # the other shop is whole
        assert missing_files(tmp_path / "evidence", got["evidence"]) == []

        heal(database_url)  # the disk is fixed: the next night records what was refused
        result = cli("nightly", config=config)
        assert result.returncode == 0, result.stdout + result.stderr
    got = state(database_url)
    assert set(got["leads"]) == {s_good.url + p for p in good} | {s_bad.url + p for p in bad}
    # one capture each: a page the resumed run requests twice is not captured twice
    assert len(got["evidence"]) == len(good) + len(bad), captures(database_url)
    verify = cli("evidence", "verify", config=config)
    assert verify.returncode == 0, verify.stdout + verify.stderr


# -- the evidence store: a capture waiting in a batch ------------------------------------------


def test_a_killed_writers_unrecorded_manifests_are_cleared_and_recorded_ones_kept(tmp_path):
    """What a SIGKILL leaves of a batch: manifests in place and named in the dead writer's
    journal. The next crawl removes those the database does not record, keeps the others, and
    never touches a live writer's journal."""
    from monitor.evidence import EvidenceStore
    from monitor.evidence.artifacts import Artifact

    def capture(store, n):
        return store.capture(
            url=f"http://s.example/{n}",
            final_url=f"http://s.example/{n}",
            status=200,
            headers={},
            fetched_at=T0 + timedelta(seconds=n),
            artifacts=[Artifact("raw_body", f"body {n}".encode(), "text/html")],
            previous_sha256=None,
        )

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    store = EvidenceStore(tmp_path / "evidence", deferred=True)
    kept, lost = capture(store, 1), capture(store, 2)
    assert kept.unsynced and store.sync(kept.unsynced + lost.unsynced) == {}
    assert store.pending_head("http://s.example/2") == lost.sha256
    store.close()
    journal = store._journal_path()
    journal.rename(journal.with_name(journal.name.replace(f"-{os.getpid()}-", f"-{dead}-")))
    live = EvidenceStore(tmp_path / "evidence", deferred=True)
    live_capture = capture(live, 3)  # a live writer's (a one-off crawl beside the nightly)

    reader = EvidenceStore(tmp_path / "evidence")
    asked = []
    removed = reader.recover_unrecorded(lambda shas: asked.extend(shas) or {kept.sha256})
    assert removed == 1 and sorted(asked) == sorted([kept.sha256, lost.sha256])
    assert kept.path.exists() and not lost.path.exists() and live_capture.path.exists()
    assert reader.recover_unrecorded(lambda shas: set()) == 0  # the dead journal is gone
    live.settle([("http://s.example/3", live_capture.sha256)], recorded=True)
    live.close()
    assert not list((tmp_path / "evidence" / "journal").iterdir())
