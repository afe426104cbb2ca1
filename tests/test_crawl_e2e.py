"""The main job end to end: fixture shops on 127.0.0.1 -> crawl -> leads, evidence, CSV."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest


def _leads(db: Path) -> dict[str, dict]:
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT l.url, l.title, d.categories, d.id, d.status FROM leads d JOIN listings l ON l.id = d.listing_id"
    ).fetchall()
    con.close()
    return {
        url: {"title": t, "categories": sorted(json.loads(c)), "id": i, "status": s}
        for url, t, c, i, s in rows
    }


@pytest.fixture
def crawled(shop, make_config, cli, tmp_path):
    """Both demo shops (UTF-8 JSON-LD and GBK table layout) crawled once with `monitor nightly`."""
    xinyuan, hengda = shop("xinyuan"), shop("hengda")
    config = make_config(
        [{"name": "鑫源", "url": xinyuan.url}, {"name": "恒达", "url": hengda.url}]
    )
    result = cli("nightly", config=config)
    assert result.returncode == 0, result.stderr + result.stdout
    return {
        "config": config,
        "dir": tmp_path,
        "servers": {"xinyuan": xinyuan, "hengda": hengda},
        "out": result.stdout,
    }


def test_flags_violations_with_their_categories_and_not_traps(crawled, demo_expected):
    leads = _leads(crawled["dir"] / "monitor.db")
    for shop in ("xinyuan", "hengda"):
        pages = demo_expected[shop]
        base = crawled["servers"][shop].url
        for page, expected in pages.items():
            url = base + page
            if expected:
                assert url in leads, f"{page} should be a lead"
                assert leads[url]["categories"] == sorted(expected), page
            else:
                assert url not in leads, f"trap {page} was flagged as {leads.get(url)}"


def test_gbk_page_declared_only_in_meta_is_decoded(crawled):
    leads = _leads(crawled["dir"] / "monitor.db")
    gun = leads[crawled["servers"]["hengda"].url + "goods/gun.html"]
    assert gun["title"] == "仿真枪 金属 可发射"


def test_evidence_matches_manifest_and_raw_bytes_as_served(crawled, cli):
    evidence_dir = crawled["dir"] / "evidence"
    manifests = list((evidence_dir / "manifests").glob("*.json"))
    assert len(manifests) == 10  # 9 listings and the GBK shop's licence lead
    for path in manifests:
        blob = path.read_bytes()
        assert hashlib.sha256(blob).hexdigest() == path.stem
        manifest = json.loads(blob)
        assert manifest["fetched_at"].endswith("Z") and manifest["status"] == 200
        kinds = {a["kind"]: a for a in manifest["artifacts"]}
        raw = evidence_dir / kinds["raw_body"]["path"]
        assert hashlib.sha256(raw.read_bytes()).hexdigest() == kinds["raw_body"]["sha256"]
        if "hengda" in manifest["url"] or manifest["url"].startswith(
            crawled["servers"]["hengda"].url
        ):
            served = (
                Path(__file__).parent.parent
                / "monitor/demo/shops/hengda"
                / (manifest["url"].split("/", 3)[3] or "index.html")
            ).read_bytes()
            assert raw.read_bytes() == served  # the GBK bytes, not a re-encoding
    assert cli("evidence", "verify", config=crawled["config"]).returncode == 0


def test_verify_fails_after_one_byte_of_evidence_changes(crawled, cli):
    evidence_dir = crawled["dir"] / "evidence"
    manifest = json.loads(next((evidence_dir / "manifests").glob("*.json")).read_bytes())
    raw = evidence_dir / next(a for a in manifest["artifacts"] if a["kind"] == "raw_body")["path"]
    data = bytearray(raw.read_bytes())
    data[10] ^= 0x01
    raw.write_bytes(bytes(data))
    result = cli("evidence", "verify", config=crawled["config"])
    assert result.returncode != 0
    assert "raw_body artifact altered" in result.stderr
    lead_ids = _leads(crawled["dir"] / "monitor.db")
    assert any(f"线索 {v['id']}:" in result.stderr for v in lead_ids.values() if v["id"])


def test_second_crawl_adds_no_duplicate_lead(crawled, cli):
    before = _leads(crawled["dir"] / "monitor.db")
    result = cli("nightly", config=crawled["config"])
    assert result.returncode == 0, result.stderr
    after = _leads(crawled["dir"] / "monitor.db")
    assert {k: v["id"] for k, v in after.items()} == {k: v["id"] for k, v in before.items()}


def test_csv_export_has_bom_chinese_headers_and_english_on_request(crawled, cli):
    out = crawled["dir"] / "leads.csv"
    assert cli("leads", "export", "--csv", out, config=crawled["config"]).returncode == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:3] == ["线索编号", "监测对象", "商品链接"]
    assert len(rows) == 11 and any("仿真枪" in r[3] for r in rows[1:])

    en = crawled["dir"] / "leads-en.csv"
    assert (
        cli("leads", "export", "--csv", en, "--header", "en", config=crawled["config"]).returncode
        == 0
    )
    table = list(csv.DictReader(en.read_bytes().decode("utf-8-sig").splitlines()))
    needed = {
        "lead_id",
        "target",
        "url",
        "title",
        "categories",
        "terms",
        "snippet",
        "first_seen",
        "last_seen",
        "status",
        "evidence_sha256",
        "evidence_path",
    }
    assert needed <= set(table[0])
    for row in table:
        manifest = Path(row["evidence_path"])
        assert hashlib.sha256(manifest.read_bytes()).hexdigest() == row["evidence_sha256"]


def test_formula_cells_are_neutralised_and_offsite_links_not_followed(
    shop, make_config, cli, tmp_path
):
    hostile = shop("hostile")
    config = make_config(
        [{"name": "恶意", "url": hostile.url}], evidence={"dir": "evidence", "screenshots": False}
    )
    result = cli("crawl", "--target", "恶意", config=config)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "x.csv"
    assert cli("leads", "export", "--csv", out, "--header", "en", config=config).returncode == 0
    rows = list(csv.DictReader(out.read_bytes().decode("utf-8-sig").splitlines()))
    formula = next(r for r in rows if r["url"].endswith("formula.html"))
    assert formula["title"].startswith("'=HYPERLINK")
    assert all(not v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    run = json.loads(cli("runs", "show", "1", config=config).stdout)
    assert run["stats"]["totals"]["offsite_filtered"] >= 1
    assert run["stats"]["errors"].get("http_404") == 1


def test_plain_scrapy_crawl_works(shop, make_config, tmp_path):
    import os
    import subprocess
    import sys

    server = shop("xinyuan")
    config = make_config([])
    env = {**os.environ, "MONITOR_CONFIG": str(config)}
    project = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "site",
            "-a",
            f"url={server.url}",
            "-s",
            "LOG_LEVEL=WARNING",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(_leads(tmp_path / "monitor.db")) == 5


def test_unreachable_target_makes_nightly_exit_1_but_others_are_crawled(
    shop, make_config, cli, tmp_path
):
    server = shop("xinyuan")
    config = make_config(
        [{"name": "ok", "url": server.url}, {"name": "down", "url": "http://127.0.0.1:9/"}]
    )
    result = cli("nightly", config=config)
    assert result.returncode == 1
    assert len(_leads(tmp_path / "monitor.db")) == 5
    run = json.loads(cli("runs", "show", "1", config=config).stdout)
    assert run["stats"]["targets"]["down"]["crawled"] is False
    assert run["stats"]["targets"]["ok"]["crawled"] is True
    assert run["exit_code"] == 1


def test_demo_command_prints_leads_and_writes_csv(cli, tmp_path):
    result = cli("demo", "--workdir", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert "仿真枪" in result.stdout and "leads.csv" in result.stdout
    assert (tmp_path / "demo" / "leads.csv").read_bytes().startswith(b"\xef\xbb\xbf")
