"""Licence display (亮照亮标): extraction, GB 32100 validation, leads, the archive, targets import."""

from __future__ import annotations

import json
import sqlite3

import pytest

from monitor.extract.license import credit_code_problem, extract_license, icp_problem
from monitor.webserver import ShopServer

VALID = "91350100M000100Y43"
OTHER_VALID = "91110000600037341L"


@pytest.mark.parametrize(
    "code, ok",
    [
        (VALID, True),
        (OTHER_VALID, True),
        ("91350100M000100Y44", False),
        ("91350100M000100Y4", False),
        ("91350100M000100I43", False),
    ],
)
def test_credit_code_checksum_and_charset(code, ok):
    assert (credit_code_problem(code) is None) is ok


def test_icp_forms():
    assert icp_problem("赣ICP备2023012345号-1") is None
    assert icp_problem("京ICP证030173号") is None
    assert icp_problem("ICP备2023012345号") is not None


def test_full_width_and_spaced_codes_read_correctly():
    html = (
        "<footer>经营者：南昌某某贸易有限公司 统一社会信用代码：９１３５ ０１００ Ｍ０００ １００Ｙ４３ "
        "赣ＩＣＰ备２０２３０１２３４５号－１ 电话：0791-88886666</footer>"
    )
    info = extract_license(html)
    assert info.credit_codes == [VALID] and info.icps == ["赣ICP备2023012345号-1"]
    assert info.operator == "南昌某某贸易有限公司" and info.phone == "0791-88886666"


def test_json_ld_organization_is_read():
    html = (
        '<script type="application/ld+json">{"@type": "Organization", "legalName": "上海某某电子商务有限公司",'
        f' "taxID": "{VALID}"}}</script>'
    )
    info = extract_license(html)
    assert info.credit_codes == [VALID] and info.operator == "上海某某电子商务有限公司"


def site(root, footer: str):
    root.mkdir(parents=True)
    (root / "index.html").write_text(
        f'<html><head><meta charset="utf-8"></head><body><a href="/about.html">关于</a>'
        f"<footer>{footer}</footer></body></html>",
        encoding="utf-8",
    )
    (root / "about.html").write_text(
        '<html><head><meta charset="utf-8"></head><body>关于我们</body></html>', encoding="utf-8"
    )


def license_leads(db):
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT t.name, l.url, d.hits FROM leads d JOIN listings l ON l.id = d.listing_id "
        "JOIN targets t ON t.id = l.target_id"
    ).fetchall()
    archive = {
        name: status
        for name, status in con.execute(
            "SELECT t.name, e.status FROM entity_records e JOIN targets t ON t.id = e.target_id"
        )
    }
    con.close()
    return {
        name: json.loads(hits) for name, url, hits in rows if "#license_display" in url
    }, archive


def test_licence_leads_after_a_full_crawl(tmp_path, make_config, cli):
    cases = {
        "valid": f"经营者：福州某某商贸有限公司 统一社会信用代码：{VALID} 闽ICP备2023012345号-1",
        "badsum": "统一社会信用代码：91350100M000100Y44 闽ICP备2023012345号",
        "none": "欢迎光临",
        "differs": f"统一社会信用代码：{OTHER_VALID}",
        "fullwidth": "统一社会信用代码：９１３５０１００Ｍ０００１００Ｙ４３",
    }
    servers = {}
    try:
        for name, footer in cases.items():
            site(tmp_path / name, footer)
            servers[name] = ShopServer(tmp_path / name).start()
        targets = [
            {
                "name": n,
                "url": s.url,
                **({"credit_code": VALID} if n in ("differs", "valid") else {}),
            }
            for n, s in servers.items()
        ]
        config = make_config(targets, evidence={"dir": "evidence", "screenshots": False})
        assert cli("nightly", config=config).returncode == 0
    finally:
        for s in servers.values():
            s.stop()
    leads, archive = license_leads(tmp_path / "monitor.db")
    assert set(leads) == {"badsum", "none", "differs"}
    assert "校验位错误" in leads["badsum"][0]["snippet"]
    assert "未公示营业执照信息" in leads["none"][0]["snippet"]
    assert "不一致" in leads["differs"][0]["snippet"]
    assert archive == {
        "valid": "ok",
        "fullwidth": "ok",
        "badsum": "invalid",
        "none": "missing",
        "differs": "invalid",
    }
    out = tmp_path / "leads.csv"
    assert cli("leads", "export", "--csv", out, "--header", "en", config=config).returncode == 0
    import csv

    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert sorted(r["target"] for r in rows if r["categories"] == "license_display") == [
        "badsum",
        "differs",
        "none",
    ]
    assert cli("evidence", "verify", config=config).returncode == 0
    listing = cli("targets", "list", config=config).stdout
    assert "未亮照" in listing and "信息有误" in listing


def test_targets_import_reports_the_bad_line_and_imports_nothing(tmp_path, make_config, cli):
    config = make_config([])
    good = tmp_path / "targets.csv"
    good.write_text(
        f"名称,网址,类型,地区,统一社会信用代码\n甲店,http://a.example.cn/,site,南昌,{VALID}\n"
        "乙店,https://b.example.cn/shop,storefront,赣州,\n",
        encoding="utf-8-sig",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "name,url,kind,credit_code\n丙店,http://c.example.cn/,site,\n丁店,http://d.example.cn/,site,"
        "91350100M000100Y44\n",
        encoding="utf-8",
    )
    result = cli("targets", "import", bad, config=config)
    assert result.returncode == 2 and f"{bad}:3:" in result.stderr and "校验位" in result.stderr
    assert "丙店" not in cli("targets", "list", config=config).stdout
    assert cli("targets", "import", good, config=config).returncode == 0
    listing = cli("targets", "list", config=config).stdout
    assert "甲店" in listing and "乙店" in listing


def test_a_run_of_whitespace_does_not_stall_the_licence_reading():
    # 300,000 spaces (or the gaps flattened deep markup leaves) made the loose ICP pattern
    # backtrack from every position: hours in the reactor's thread, for every shop of the night.
    # Run in a child process, so the timeout bounds a stall rather than measuring speed.
    import subprocess
    import sys

    code = (
        "from monitor.extract.license import extract_license\n"
        "html = ('<html><body><p>' + ' ' * 300000 + '</p><p>' + chr(12288) * 100000 + '</p>'\n"
        "        '<footer>经营者：杭州某某商贸有限公司 浙ICP备12345678号-1 '\n"
        "        '电话：0571-88888888 地址：杭州市西湖区文三路100号</footer></body></html>')\n"
        "i = extract_license(html, 'http://shop.example.cn/')\n"
        "print(i.operator, i.icps, i.phone, i.address)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [
        "杭州某某商贸有限公司",
        "['浙ICP备12345678号-1']",
        "0571-88888888",
        "杭州市西湖区文三路100号",
    ]
