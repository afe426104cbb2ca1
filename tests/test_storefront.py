"""JS-rendered storefronts through Chromium, and screenshots as evidence."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from monitor.demo import YUNGOU
from monitor.evidence.browser import find_chromium

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Debian's chromium is not installed"
)


def leads(db):
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT l.url, d.categories FROM leads d JOIN listings l ON l.id = d.listing_id"
    ).fetchall()
    con.close()
    return {u: sorted(json.loads(c)) for u, c in rows}


@needs_chromium
def test_js_storefront_listings_become_leads_with_verified_screenshots(
    shop, make_config, cli, tmp_path, demo_expected
):
    server = shop("yungou")
    config = make_config(
        [{"name": "云购", "url": server.url, "kind": "storefront", "platform": "yungou"}],
        platforms={"yungou": YUNGOU},
    )
    result = cli("crawl", "--target", "云购", config=config)
    assert result.returncode == 0, result.stderr + result.stdout
    found = leads(tmp_path / "monitor.db")
    for page, expected in demo_expected["yungou"].items():
        url = server.url + page
        if expected:
            assert found.get(url) == expected, (
                page
            )  # listings only exist once JS has run, over 3 pages
        else:
            assert url not in found, f"trap {page} flagged"
    manifests = [
        json.loads(p.read_bytes()) for p in (tmp_path / "evidence" / "manifests").glob("*.json")
    ]
    assert len(manifests) == 5
    for m in manifests:
        shots = [a for a in m["artifacts"] if a["kind"] == "screenshot"]
        assert len(shots) == 1 and shots[0]["media_type"] == "image/png"
        png = (tmp_path / "evidence" / shots[0]["path"]).read_bytes()
        assert png.startswith(b"\x89PNG") and hashlib.sha256(png).hexdigest() == shots[0]["sha256"]
        assert {"raw_body", "rendered_dom", "headers"} <= {a["kind"] for a in m["artifacts"]}
    assert cli("evidence", "verify", config=config).returncode == 0


@needs_chromium
def test_a_page_that_hangs_the_renderer_is_abandoned_and_counted(shop, make_config, cli, tmp_path):
    server = shop("hostile")
    config = make_config([{"name": "恶意", "url": server.url}], browser={"render_timeout": 3})
    result = cli("crawl", "--target", "恶意", config=config, timeout=180)
    assert result.returncode == 0, result.stderr
    found = leads(tmp_path / "monitor.db")
    assert server.url + "item/hang.html" in found and server.url + "item/formula.html" in found
    notes = [
        json.loads(p.read_bytes()).get("notes")
        for p in (tmp_path / "evidence" / "manifests").glob("*.json")
    ]
    assert any(n and "timed out" in n.get("screenshot_missing", "") for n in notes)
    run = json.loads(cli("runs", "show", "1", config=config).stdout)
    assert run["stats"]["targets"]["恶意"]["screenshot_failures"] >= 1


def test_without_chromium_storefronts_are_not_crawled_and_sites_lack_screenshots(
    shop, make_config, cli, tmp_path
):
    site, store = shop("xinyuan"), shop("yungou")
    config = make_config(
        [
            {"name": "site", "url": site.url},
            {"name": "store", "url": store.url, "kind": "storefront"},
        ],
        browser={"executable_path": str(tmp_path / "no-chromium")},
    )
    result = cli("nightly", config=config)
    assert result.returncode == 1
    assert "Chromium not found" in result.stdout
    assert len(leads(tmp_path / "monitor.db")) == 5
    for p in (tmp_path / "evidence" / "manifests").glob("*.json"):
        m = json.loads(p.read_bytes())
        assert "screenshot" not in {a["kind"] for a in m["artifacts"]}
        assert "Chromium not found" in m["notes"]["screenshot_missing"]


@needs_chromium
def test_a_site_built_by_script_is_rendered_without_being_told(
    shop, make_config, cli, tmp_path, demo_expected
):
    server = shop("yungou")  # the JS storefront, crawled as a plain site with no platform selectors
    config = make_config([])
    result = cli("crawl", "--url", server.url, config=config)
    assert result.returncode == 0, result.stderr + result.stdout
    found = leads(tmp_path / "monitor.db")
    flagged = {server.url + page: cats for page, cats in demo_expected["yungou"].items() if cats}
    assert {u: c for u, c in found.items() if "#" not in u} == flagged
    run = json.loads(cli("runs", "show", "1", config=config).stdout)
    assert run["stats"]["totals"]["pages"] > 3


@needs_chromium
def test_one_off_storefront_crawl_from_the_command_line(shop, make_config, cli, tmp_path):
    server = shop("yungou")
    config = make_config([], platforms={"yungou": YUNGOU})
    result = cli(
        "crawl", "--url", server.url, "--kind", "storefront", "--platform", "yungou", config=config
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert len(leads(tmp_path / "monitor.db")) == 5
