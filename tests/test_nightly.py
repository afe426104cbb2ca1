"""Nightly operation: lock, incremental runs, rectification and removal, resuming after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from monitor.crawl.lock import RunLock
from monitor.webserver import ShopServer

PROJECT = Path(__file__).resolve().parent.parent


def product(i: int, flagged: bool) -> str:
    title = f"高仿名表 第{i}款" if flagged else f"加厚羽绒服 第{i}款"
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body><main>'
        f"<h1>{title}</h1><p>价格：￥{100 + i}</p><p>保暖透气，轻薄舒适。</p></main></body></html>"
    )


def make_site(root: Path, n: int, flagged_every: int = 5, per_page: int = 20) -> set[str]:
    """A shop of n listings over index pages of per_page; returns the paths of the flagged ones."""
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
        + "".join(
            f'<a href="/list{k}.html">{k + 1}</a> ' for k in range(0, pages, 10)
        )  # page numbers
        + "<footer>经营者：福州某某商贸有限公司 统一社会信用代码：91350100M000100Y43 闽ICP备2023012345号-1</footer>"
        "</body></html>",
        encoding="utf-8",
    )
    return flagged


class SlowHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        time.sleep(0.02)
        super().do_GET()


def leads(db: Path) -> dict[str, str]:
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT l.url, d.status FROM leads d JOIN listings l ON l.id = d.listing_id"
    ).fetchall()
    evidence = con.execute("SELECT COUNT(*), COUNT(DISTINCT lead_id) FROM evidence").fetchone()
    con.close()
    leads.evidence = evidence
    return dict(rows)


def run_stats(cli, config, run_id):
    return json.loads(cli("runs", "show", run_id, config=config).stdout)["stats"]


def test_second_run_over_unchanged_site_matches_and_writes_nothing(tmp_path, make_config, cli):
    flagged = make_site(tmp_path / "site", 60)
    with ShopServer(tmp_path / "site") as server:
        config = make_config(
            [{"name": "店", "url": server.url}], evidence={"dir": "evidence", "screenshots": False}
        )
        assert cli("nightly", config=config).returncode == 0
        # the next night: every listing is due again (monitor.crawl.revisit)
        con = sqlite3.connect(tmp_path / "monitor.db")
        con.execute("UPDATE listings SET next_visit = NULL")
        con.commit()
        con.close()
        assert cli("nightly", config=config).returncode == 0
        # a second run the same night fetches index pages and the leads' listings, not the rest
        assert cli("nightly", config=config).returncode == 0
        third = run_stats(cli, config, 3)["totals"]
        assert third["not_due"] == 60 - len(flagged) and third["pages"] == 4 + len(flagged)
        assert third["leads_removed"] == third["leads_new"] == 0
    first, second = run_stats(cli, config, 1)["totals"], run_stats(cli, config, 2)["totals"]
    assert first["listings"] == 60 and first["leads_new"] == len(flagged) == first["evidence"]
    assert (
        second["leads_new"]
        == second["leads_updated"]
        == second["evidence"]
        == second["flagged"]
        == 0
    )
    assert (
        second["not_modified"] + second["unchanged"] == 60
    )  # 304s, or bodies whose hash did not change
    assert second["not_modified"] > 0  # the shop's server answers If-Modified-Since


def test_rectified_removed_and_reopened(tmp_path, make_config, cli):
    site = tmp_path / "site"
    make_site(site, 20)
    with ShopServer(site) as server:
        config = make_config(
            [{"name": "店", "url": server.url}], evidence={"dir": "evidence", "screenshots": False}
        )
        assert cli("nightly", config=config).returncode == 0
        db = tmp_path / "monitor.db"
        assert leads(db) == {server.url + f"p/{i}.html": "new" for i in (0, 5, 10, 15)}
        (site / "p" / "0.html").write_text(product(0, False), encoding="utf-8")  # violation removed
        (site / "p" / "5.html").unlink()  # listing deleted: 404
        listing = (
            (site / "list0.html")
            .read_text(encoding="utf-8")
            .replace('<a href="/p/10.html">10</a>', "")
        )
        (site / "list0.html").write_text(
            listing, encoding="utf-8"
        )  # taken out of the shop, URL still answers
        time.sleep(1.1)  # a new Last-Modified second for the edited files
        assert cli("nightly", config=config).returncode == 0
        state = leads(db)
        assert state[server.url + "p/0.html"] == "rectified"
        assert state[server.url + "p/5.html"] == "removed"
        assert state[server.url + "p/10.html"] == "removed"
        assert state[server.url + "p/15.html"] == "new"
        con = sqlite3.connect(db)
        lead_id = con.execute(
            "SELECT d.id FROM leads d JOIN listings l ON l.id = d.listing_id WHERE l.url LIKE '%/p/0.html'"
        ).fetchone()[0]
        con.close()
        shown = cli("leads", "show", lead_id, config=config).stdout
        assert "rectified" in shown and "再次抓取时未发现违规内容" in shown
        time.sleep(1.1)
        (site / "p" / "0.html").write_text(
            product(0, True), encoding="utf-8"
        )  # the violation is back
        assert cli("nightly", config=config).returncode == 0
        assert leads(db)[server.url + "p/0.html"] == "new"
    assert cli("evidence", "verify", config=config).returncode == 0


def test_overlapping_runs_are_refused(tmp_path, make_config, cli):
    config = make_config([])
    with RunLock(tmp_path / "data" / "jobs" / "nightly.lock"):
        result = cli("nightly", config=config)
    assert result.returncode == 3
    assert "another run is in progress" in result.stderr and result.stderr.count("\n") == 1
    assert cli("nightly", config=config).returncode == 0


def test_run_killed_with_sigkill_resumes_to_the_same_leads(tmp_path, make_config):
    # Index pages of 60 links: when the kill lands, Scrapy's disk queue holds more requests than
    # one write buffer, so its chunk files are on disk without their bookkeeping (written only
    # on a clean close) -- the state a resumed run must not trust (see monitor.crawl.jobstate).
    flagged = make_site(tmp_path / "site", 300, flagged_every=7, per_page=60)
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
        db = tmp_path / "monitor.db"
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.3)
            try:
                if len(leads(db)) >= 10:
                    break
            except sqlite3.Error:
                pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        partial = leads(db)
        assert 10 <= len(partial) < len(flagged), "the kill should land mid-crawl"
        assert any((tmp_path / "data" / "jobs").glob("*/scheduled.txt")), (
            "job state kept for the resume"
        )
        resumed = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
    final = leads(db)
    assert set(final) == {server.url + p for p in flagged}
    count, distinct = leads.evidence
    assert count == distinct == len(flagged)  # no capture lost or duplicated
    for manifest in (tmp_path / "evidence" / "manifests").glob("*.json"):
        for art in json.loads(manifest.read_bytes())["artifacts"]:
            assert (tmp_path / "evidence" / art["path"]).exists()
    assert not list((tmp_path / "evidence").rglob(".tmp-*")), "no half-written evidence file"
    assert not list((tmp_path / "data" / "jobs").glob("*/scheduled.txt")), (
        "a finished crawl clears its job state"
    )


class CountingHandler(SlowHandler):
    """Counts the requests for each path (across the server's threads)."""

    fetched: Counter = Counter()

    def do_GET(self):
        type(self).fetched[self.path] += 1
        super().do_GET()


def test_a_resumed_crawl_fetches_each_page_once(tmp_path, make_config):
    """After a SIGKILL, the resumed run requests what was in flight once (not again when a list
    page links to it), requests nothing the killed run stored, and does not take the listings
    it did not fetch again for gone from the shop."""
    flagged = make_site(tmp_path / "site", 300, flagged_every=7, per_page=60)
    CountingHandler.fetched = Counter()
    with ShopServer(tmp_path / "site", handler=CountingHandler) as server:
        config = make_config(
            [{"name": "店", "url": server.url}],
            evidence={"dir": "evidence", "screenshots": False},
            crawl={"obey_robots": False, "per_target_concurrency": 2},
        )
        cmd = [sys.executable, "-m", "monitor.cli", "--config", str(config), "nightly"]
        proc = subprocess.Popen(
            cmd, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        db = tmp_path / "monitor.db"
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.3)
            try:
                if len(leads(db)) >= 10:
                    break
            except sqlite3.Error:
                pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 10 <= len(leads(db)) < len(flagged), "the kill should land mid-crawl"
        before = set(CountingHandler.fetched)
        CountingHandler.fetched = Counter()
        resumed = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        again = CountingHandler.fetched
    twice = {path: n for path, n in again.items() if n > 1}
    assert not twice, f"fetched more than once by the resumed run: {sorted(twice)[:5]}"
    listings = {f"/p/{i}.html" for i in range(300)}
    assert listings <= before | set(again), "every listing fetched by one run or the other"
    refetched = (before & set(again) & listings) - {"/"}
    assert len(refetched) < len(before & listings) / 2, "the killed run's stored pages are kept"
    final = leads(db)
    assert set(final) == {server.url + p for p in flagged}
    assert set(final.values()) == {"new"}, "no lead of the killed run taken for removed"


def test_a_killed_writers_temporary_evidence_file_is_cleared_by_the_next_run(tmp_path):
    """A SIGKILL between writing an evidence file and renaming it leaves a temporary file; the
    next crawl removes it, while a live writer's (a one-off crawl beside it) stays."""
    from monitor.evidence import EvidenceStore, write_atomic

    store = EvidenceStore(tmp_path / "evidence")
    digest, path = store.put(b"raw body")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    orphan = path.parent / f".tmp-{dead.stdout.strip()}-abcd1234"
    orphan.write_bytes(b"half a scr")
    (tmp_path / "evidence" / "manifests").mkdir()
    orphan_manifest = tmp_path / "evidence" / "manifests" / f".tmp-{dead.stdout.strip()}-x"
    orphan_manifest.write_bytes(b'{"url": ')
    live = path.parent / f".tmp-{os.getpid()}-efgh5678"
    live.write_bytes(b"being written")
    assert store.remove_orphaned_temp_files() == 2
    assert not orphan.exists() and not orphan_manifest.exists()
    assert live.exists() and path.read_bytes() == b"raw body"
    write_atomic(tmp_path / "evidence" / "manifests" / "m.json", b"{}")
    assert [p.name for p in (tmp_path / "evidence" / "manifests").iterdir()] == ["m.json"]
