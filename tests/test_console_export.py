"""Exports and the lead filters on SQLite and PostgreSQL: the CLI's files (CSV, XLSX, JSONL)
and the console's export of the same filter are the same rows, written the same way."""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import openpyxl
import pytest

from monitor.export import LeadFilter
from monitor.export.filters import count_leads, page_of_leads
from monitor.store.db import init_db
from monitor.store.records import Records
from tests.console_server import free_port, start_serve, stop

NOV1 = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)
NOV5 = datetime(2026, 11, 5, 23, 59, tzinfo=timezone.utc)
NOV9 = datetime(2026, 11, 9, 0, 0, tzinfo=timezone.utc)
FORMULA_TITLE = '=HYPERLINK("http://evil.example","点我")'


def hit(term: str, category: str) -> dict:
    return {"term": term, "category": category, "field": "title", "start": 0, "end": len(term)}


@pytest.fixture
def leads_db(database_url, make_config):
    """Four leads in two shops, on three days, one confirmed with a case number."""
    init_db(database_url)
    records = Records(database_url)
    a = records.ensure_target("甲商城", "http://a.example/")
    b = records.ensure_target("乙旗舰店", "http://b.example/")
    rows = [
        (a, "http://a.example/1", "高仿手表 一比一", NOV1, ["counterfeit"], [hit("高仿", "counterfeit")]),
        (a, "http://a.example/2", FORMULA_TITLE, NOV5, ["fake_transactions"], [hit("刷单", "fake_transactions")]),
        (b, "http://b.example/3", "全网最低价 高仿包", NOV5, ["absolute_terms", "counterfeit"],
         [hit("全网最低价", "absolute_terms"), hit("高仿", "counterfeit")]),
        (b, "http://b.example/4", "好评返现卡", NOV9, ["fake_transactions"], [hit("好评返现", "fake_transactions")]),
    ]  # fmt: skip
    ids = []
    for n, (target, url, title, seen, categories, hits) in enumerate(rows):
        result = records.save_listing(
            target_id=target,
            url=url,
            title=title,
            text="",
            price="-5" if n == 0 else "99",
            status=200,
            seen_at=seen,
            categories=categories,
            hits=hits,
            manifest_path=f"/evidence/manifests/{n}.json",
            manifest_sha256=f"{n}" * 64,
        )
        ids.append(result.lead_id)
    records.set_status(
        ids[2], "case", case_no="杭市监案〔2026〕12号", note="已立案", reviewer="李四"
    )
    config = make_config(database={"url": database_url})
    return records, ids, config


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, [0, 1, 2, 3]),
        ({"category": "counterfeit"}, [0, 2]),
        ({"target": "乙旗舰店"}, [2, 3]),
        ({"status": "case"}, [2]),
        ({"term": "高仿"}, [0, 2]),
        ({"since": "2026-11-05", "until": "2026-11-05"}, [1, 2]),
        ({"since": "2026-11-06"}, [3]),
        ({"q": "最低价"}, [2]),
        ({"q": "b.example/4"}, [3]),
        ({"q": "〔2026〕12"}, [2]),
        ({"q": "%"}, []),  # a wildcard character is searched for as itself
        ({"q": "A.EXAMPLE/2"}, [1]),  # Latin letters in any case; the escape character too
        ({"category": "fake_transactions", "target": "甲商城"}, [1]),
    ],
)
def test_filters_select_the_same_leads_on_both_databases(leads_db, options, expected):
    records, ids, _ = leads_db
    lead_filter = LeadFilter.parse(options)
    with records.sessions() as s:
        assert count_leads(s, lead_filter) == len(expected)
        shown = [lead.id for lead in page_of_leads(s, lead_filter, 50)]
    assert shown == sorted((ids[i] for i in expected), reverse=True)  # newest first


def test_bad_filter_values_are_named():
    with pytest.raises(ValueError, match="since"):
        LeadFilter.parse({"since": "2026-02-30"})
    with pytest.raises(ValueError, match="status"):
        LeadFilter.parse({"status": "closed"})


def test_cli_exports_csv_xlsx_and_jsonl_of_a_filter(leads_db, cli, tmp_path):
    records, ids, config = leads_db
    out = {fmt: tmp_path / f"leads.{fmt}" for fmt in ("csv", "xlsx", "jsonl")}
    for fmt, path in out.items():
        done = cli("leads", "export", f"--{fmt}", path, "--category", "counterfeit", config=config)
        assert done.returncode == 0, done.stderr
        assert "2" in done.stdout

    raw = out["csv"].read_bytes()
    assert raw.startswith("\ufeff线索编号,监测对象,商品链接".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [int(r["线索编号"]) for r in rows] == [ids[0], ids[2]]
    assert rows[0]["价格"] == "'-5"  # would be a formula in a spreadsheet
    assert rows[1]["处理状态"] == "已立案" and rows[1]["案件编号"] == "杭市监案〔2026〕12号"
    assert rows[0]["首次发现时间(UTC)"] == "2026-11-01 09:30:00"

    sheet = openpyxl.load_workbook(out["xlsx"]).active
    assert [c.value for c in sheet[1]][:3] == ["线索编号", "监测对象", "商品链接"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:O3"
    assert sheet.column_dimensions["C"].width > 30
    first = sheet[2]
    assert first[0].value == ids[0] and first[0].data_type == "n"
    assert first[9].value == datetime(2026, 11, 1, 9, 30) and first[9].is_date
    assert first[2].hyperlink.target == "http://a.example/1"
    assert first[8].value == "-5" and first[8].data_type == "s"  # text, not a number or formula

    lines = [json.loads(line) for line in out["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [rec["id"] for rec in lines] == [ids[0], ids[2]]
    assert lines[1]["history"][-1]["note"] == "已立案" and lines[1]["status"] == "case"
    assert lines[1]["hits"][0]["term"] == "全网最低价" and lines[0]["first_seen"].endswith("Z")


def test_xlsx_keeps_formula_looking_titles_as_text(leads_db, cli, tmp_path):
    _, ids, config = leads_db
    path = tmp_path / "f.xlsx"
    done = cli("leads", "export", "--xlsx", path, "--term", "刷单", config=config)
    assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(path).active
    title = sheet.cell(row=2, column=4)
    assert title.value == FORMULA_TITLE and title.data_type == "s"


def test_export_with_a_bad_date_writes_nothing(leads_db, cli, tmp_path):
    _, _, config = leads_db
    path = tmp_path / "never.csv"
    done = cli("leads", "export", "--csv", path, "--until", "2026-11-31", config=config)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--until" in done.stderr
    assert not path.exists()


def test_console_export_is_the_cli_export_of_the_same_filter(leads_db, cli, tmp_path):
    _, _, config = leads_db
    path = tmp_path / "cli.csv"
    done = cli("leads", "export", "--csv", path, "--target", "乙旗舰店", config=config)
    assert done.returncode == 0, done.stderr
    port = free_port()
    proc = start_serve(config, port)
    try:
        url = f"http://127.0.0.1:{port}/leads/export"
        query = "?target=" + urllib.parse.quote("乙旗舰店")
        with urllib.request.urlopen(url + ".csv" + query) as response:
            assert response.headers["content-disposition"].startswith("attachment")
            assert response.read() == path.read_bytes()
        with urllib.request.urlopen(url + ".xlsx" + query) as response:
            sheet = openpyxl.load_workbook(io.BytesIO(response.read())).active
    finally:
        stop(proc)
    link = sheet.cell(row=2, column=15).hyperlink  # the evidence, on the lead's console page
    assert link.target.startswith(f"http://127.0.0.1:{port}/leads/")
