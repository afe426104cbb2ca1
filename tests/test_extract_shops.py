"""Fixture shops in the styles real Chinese shops publish, crawled end to end by `monitor nightly`:
an old GBK table shop (names in <b>, no <h1>, 价格：38元, a Big5 page, a page whose meta charset
lies, a 招刷手 recruitment page), a Vue shop whose data is only in window.__INITIAL_STATE__, and a
WooCommerce shop with RDFa. Every violating product is a lead, no trap is, and each page says
how it was read."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

SHOPS = Path(__file__).resolve().parent / "fixtures" / "shops"
EXPECTED = json.loads((SHOPS / "extract_expected.json").read_text(encoding="utf-8"))


def _rows(db: Path) -> tuple[dict, dict]:
    con = sqlite3.connect(db)
    leads = {
        url: (title, sorted(json.loads(cats)))
        for url, title, cats in con.execute(
            "SELECT l.url, l.title, d.categories FROM leads d JOIN listings l ON l.id = d.listing_id"
            " WHERE d.categories NOT LIKE '%license_display%'"
        )
    }
    listings = dict(con.execute("SELECT url, title FROM listings").fetchall())
    con.close()
    return leads, listings


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    import yaml

    from monitor.webserver import ShopServer
    from tests.conftest import run_cli

    tmp = tmp_path_factory.mktemp("extract_shops")
    servers = {name: ShopServer(SHOPS / name).start() for name in EXPECTED}
    config = tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": "sqlite:///monitor.db"},
                "evidence": {"dir": "evidence", "screenshots": False},
                "logs": {"dir": "logs"},
                "crawl": {"obey_robots": False},
                "targets": [{"name": n, "url": s.url + "index.html"} for n, s in servers.items()],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    result = run_cli("nightly", config=config)
    log = "\n".join(p.read_text(encoding="utf-8") for p in (tmp / "logs").glob("run-*.log"))
    yield {"result": result, "db": tmp / "monitor.db", "servers": servers, "log": log}
    for s in servers.values():
        s.stop()


def test_every_violating_product_is_a_lead_and_no_trap(crawled):
    assert crawled["result"].returncode == 0, crawled["result"].stderr + crawled["result"].stdout
    leads, listings = _rows(crawled["db"])
    flagged, expected_flagged = 0, 0
    for shop, pages in EXPECTED.items():
        base = crawled["servers"][shop].url
        for page, categories in pages.items():
            url = base + page.split("#")[0]
            if categories:
                expected_flagged += 1
                assert url in leads, f"{shop}/{page} should be a lead"
                assert leads[url][1] == sorted(categories), (shop, page, leads[url])
                flagged += 1
            else:
                assert url in listings, f"{shop}/{page} was not recognised as a listing"
                assert url not in leads, f"trap {shop}/{page} flagged: {leads[url]}"
    assert flagged == expected_flagged == 12  # 11 listings and the recruitment page


def test_titles_come_without_site_suffix_and_decoded_right(crawled):
    _, listings = _rows(crawled["db"])
    laodian = crawled["servers"]["laodian"].url
    assert listings[laodian + "goods-1.html"] == "高仿LV女包 原单"  # <b>, not "_老店商城"
    assert listings[laodian + "goods-9.html"] == "高仿名錶 一比一 原單"  # Big5
    assert listings[laodian + "goods-10.html"] == "催情水 速效 女用"  # meta says utf-8, bytes GBK
    vue = crawled["servers"]["vueshop"].url
    assert listings[vue + "item-1.html"] == "特效药 包治百病 根治糖尿病"  # not "商品详情 - 微商城"


def test_recruitment_page_is_a_page_lead_of_its_own(crawled):
    leads, listings = _rows(crawled["db"])
    laodian = crawled["servers"]["laodian"].url
    assert leads[laodian + "recruit.html"][1] == ["fake_transactions"]
    # list pages are not listings, and are not leads for the goods they list
    for shop in EXPECTED:
        assert crawled["servers"][shop].url + "index.html" not in leads


def test_each_page_read_is_counted_by_layer_and_kind(crawled):
    log = crawled["log"]  # Scrapy's stats dump, per target, in the run's log
    for key in (
        "monitor/source/generic",
        "monitor/source/embedded",
        "monitor/source/rdfa",
        "monitor/page_kind/list",
        "monitor/page_kind/product",
        "monitor/profile/woocommerce",
    ):
        assert f"'{key}'" in log, key


def test_crawl_explain_prints_each_page_with_its_verdict(shop, make_config, cli):
    woo = shop(SHOPS / "woo")
    config = make_config(evidence={"dir": "evidence", "screenshots": False})
    result = cli("crawl", "--url", woo.url + "index.html", "--explain", config=config)
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(("✓ 商品", "✗ "))]
    listed = [ln for ln in lines if ln.startswith("✓ 商品 [rdfa]")]
    assert len(listed) == 4 and all("woocommerce" in ln for ln in listed)
    index = next(ln for ln in lines if "/index.html " in ln)
    assert index.startswith("✗ 列表页") and "列出 4 个商品" in index
