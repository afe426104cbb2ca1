"""The console end to end: the real demo crawl, `monitor serve` in a child process, and an
analyst's browser (headless Chromium through Playwright) filtering, reviewing and exporting."""

from __future__ import annotations

import csv
import io
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.evidence import Artifact, EvidenceStore
from monitor.store.records import Records
from tests.conftest import run_cli
from tests.console_server import free_port, start_serve, stop

CHROMIUM = "/usr/bin/chromium"
HOSTILE_TITLE = (
    '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2;alert(1)">高仿手表'
)
HOSTILE_TEXT = "正品 <b>一比一复刻</b> 高仿手表 </p><script>alert(document.cookie)</script>"
HOSTILE_PAGE = b"<html><body><script>window.__pwned=3</script>captured</body></html>"


def add_hostile_lead(config_path: Path) -> int:
    """A listing whose title and text carry markup and scripts, with a captured page that
    carries one too, stored through the records layer and the evidence store."""
    config = load_config(config_path)
    records = Records(config.database_url)
    target_id = records.ensure_target("恶意店铺<i>", "http://127.0.0.1:9/")
    store = EvidenceStore(config.evidence_dir)
    manifest = store.capture(
        url="http://127.0.0.1:9/evil",
        final_url="http://127.0.0.1:9/evil",
        status=200,
        headers={"Content-Type": ["text/html"]},
        fetched_at=datetime.now(timezone.utc),
        artifacts=[Artifact("raw_body", HOSTILE_PAGE, "text/html")],
        previous_sha256=None,
    )
    start = HOSTILE_TITLE.index("高仿")
    result = records.save_listing(
        target_id=target_id,
        url="http://127.0.0.1:9/evil",
        title=HOSTILE_TITLE,
        text=HOSTILE_TEXT,
        price="=1+1",
        status=200,
        seen_at=datetime.now(timezone.utc),
        categories=["counterfeit"],
        hits=[
            {
                "term": "高仿",
                "category": "counterfeit",
                "field": "title",
                "start": start,
                "end": start + 2,
                "snippet": HOSTILE_TITLE,
            }
        ],
        manifest_path=str(manifest.path),
        manifest_sha256=manifest.sha256,
    )
    return result.lead_id


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The real demo crawl into a temp folder, one hostile lead added, and the console on it."""
    workdir = tmp_path_factory.mktemp("console-demo")
    done = run_cli("demo", "--workdir", workdir)
    assert done.returncode == 0, done.stderr
    config = workdir / "config.yaml"
    assert "monitor --config" in done.stdout and "serve" in done.stdout
    hostile_id = add_hostile_lead(config)
    port = free_port()
    proc = start_serve(config, port)
    yield {
        "url": f"http://127.0.0.1:{port}",
        "config": config,
        "records": Records(load_config(config).database_url),
        "hostile_id": hostile_id,
    }
    stop(proc)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def test_analyst_filters_opens_confirms_and_exports_the_filtered_csv(demo, browser, tmp_path):
    records = demo["records"]
    expected = sorted(
        lead.id
        for lead in records.leads()
        if "counterfeit" in lead.categories and lead.listing.target.name == "云购旗舰店"
    )
    assert expected, "the demo should have counterfeit leads at 云购旗舰店"

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(demo["url"] + "/leads")
    page.select_option("select[name=category]", "counterfeit")
    page.fill("input[name=target]", "云购旗舰店")
    page.click("form#filters button[type=submit]")
    page.wait_for_url("**/leads?*category=counterfeit*")
    assert "target=" in page.url  # the filter is in the address, to bookmark or paste
    shown = sorted(
        int(x) for x in page.locator("table.leads tbody tr td:first-child").all_inner_texts()
    )
    assert shown == expected
    assert page.inner_text("#lead-total") == str(len(expected))

    lead_id = expected[0]
    page.click(f"table.leads a[href='/leads/{lead_id}'] >> nth=0")
    page.wait_for_url(f"**/leads/{lead_id}")
    lead = records.lead(lead_id)
    assert lead.listing.title in page.inner_text("#listing-title")
    assert page.locator("#listing-title mark").count() >= 1  # the hit is highlighted
    img = page.locator("img#screenshot")
    img.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('img#screenshot').complete")
    assert img.evaluate("el => el.naturalWidth") > 0  # the screenshot loads, as an image
    shot = page.request.get(demo["url"] + img.get_attribute("src"))
    assert shot.headers["content-type"] == "image/png"
    assert shot.headers["x-content-type-options"] == "nosniff"
    assert "✓" in page.inner_text("#evidence-check")  # hashes recomputed and matching

    note = "已核实：商品页宣称一比一复刻，转办案科"
    page.select_option("select[name=status]", "confirmed")
    page.fill("input[name=reviewer]", "张三")
    page.fill("textarea[name=note]", note)
    page.click("form.review button[type=submit]")
    page.wait_for_url(f"**/leads/{lead_id}*")
    history = page.inner_text("#history")
    assert note in history and "张三" in history and "已确认" in history
    assert page.inner_text("#lead-status") == "已确认"
    lead = records.lead(lead_id)
    assert lead.status == "confirmed"
    assert (lead.events[-1].reviewer, lead.events[-1].note) == ("张三", note)

    page.go_back()
    page.goto(
        demo["url"] + "/leads?category=counterfeit&target=" + urllib.parse.quote("云购旗舰店")
    )
    with page.expect_download() as info:
        page.click("a.export[href^='/leads/export.csv']")
    path = tmp_path / "export.csv"
    info.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert sorted(int(r["线索编号"]) for r in rows) == expected
    assert {r["线索编号"]: r["处理状态"] for r in rows}[str(lead_id)] == "已确认"
    context.close()


def test_a_case_needs_its_case_number(demo, browser):
    records = demo["records"]
    lead = records.leads(status="new")[-1]
    page = browser.new_page()
    page.goto(demo["url"] + f"/leads/{lead.id}")
    page.select_option("select[name=status]", "case")
    page.fill("input[name=reviewer]", "王五")
    page.click("form.review button[type=submit]")
    assert "立案需要填写案件编号" in page.inner_text("#form-error")
    assert records.lead(lead.id).status == "new"
    page.fill("input[name=case_no]", "杭市监案〔2026〕7号")
    page.click("form.review button[type=submit]")
    page.wait_for_url(f"**/leads/{lead.id}*")
    assert "杭市监案〔2026〕7号" in page.inner_text("h1")
    assert records.lead(lead.id).case_no == "杭市监案〔2026〕7号"


def test_a_listing_carrying_scripts_shows_as_text_and_runs_nothing(demo, browser):
    lead_id = demo["hostile_id"]
    context = browser.new_context()
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in (
        f"/leads/{lead_id}",
        "/leads?q=" + urllib.parse.quote("<script>"),
        "/targets",
        "/",
    ):
        page.goto(demo["url"] + path)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert page.evaluate("document.scripts.length") == 0, path
        assert (
            page.evaluate("document.querySelectorAll('[onerror], i, #listing-text b').length") == 0
        )
    page.goto(demo["url"] + f"/leads/{lead_id}")
    assert page.inner_text("#listing-title") == HOSTILE_TITLE  # every character, as text
    assert page.inner_text("#listing-title mark") == "高仿"
    assert "<script>alert(document.cookie)</script>" in page.inner_text("#listing-text")
    assert dialogs == []

    # The captured page is a download with a sandbox policy, never a page of the console.
    link = page.locator("#evidence table a").first.get_attribute("href")
    response = page.request.get(demo["url"] + link)
    assert response.body() == HOSTILE_PAGE
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    context.close()


def _post(url: str, data: dict, headers: dict | None = None) -> int:
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(data).encode(), headers=headers or {}, method="POST"
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_status_change_without_the_form_token_is_refused(demo):
    records = demo["records"]
    lead_id = records.leads(status="new")[0].id
    url = f"{demo['url']}/leads/{lead_id}/status"
    form = {"status": "dismissed", "reviewer": "攻击者", "note": "forged"}
    assert _post(url, form) == 403  # no cookie, no token
    cookie = {"Cookie": "monitor_csrf=known-to-the-browser"}
    assert _post(url, {**form, "csrf": "guessed"}, cookie) == 403  # token does not match
    forged_origin = {**cookie, "Origin": "http://evil.example"}
    assert _post(url, {**form, "csrf": "known-to-the-browser"}, forged_origin) == 403
    lead = records.lead(lead_id)
    assert lead.status == "new" and all(e.note != "forged" for e in lead.events)


def test_pages_are_refused_to_a_site_pointed_at_the_console(demo):
    """DNS rebinding: evil.example re-pointed at 127.0.0.1 sends its own name as Host."""
    request = urllib.request.Request(demo["url"] + "/leads", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 400
    assert _get(demo["url"].replace("127.0.0.1", "localhost") + "/leads")[0] == 200


def test_serve_refuses_a_non_loopback_address_without_a_token(make_config):
    config = make_config()
    env = {"MONITOR_CONSOLE_TOKEN": ""}
    done = run_cli("--config", config, "serve", "--host", "0.0.0.0", "--port", free_port(), env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "token" in lines[0] and "0.0.0.0" in lines[0]


def test_with_a_token_every_page_needs_the_login(make_config, browser):
    config = make_config()
    port = free_port()
    proc = start_serve(config, port, env={"MONITOR_CONSOLE_TOKEN": "s3cret-口令"})
    try:
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/leads/export.csv") as response:  # follows to login
            assert "/login?" in response.url and "线索编号" not in response.read().decode()
        page = browser.new_page()
        page.goto(url + "/leads?status=new")
        assert "/login" in page.url
        page.fill("input[name=token]", "wrong")
        page.click("form.login button")
        assert "口令不正确" in page.content()
        page.fill("input[name=token]", "s3cret-口令")
        page.click("form.login button")
        page.wait_for_url("**/leads?status=new")
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert (
            cookies["monitor_login"]["httpOnly"]
            and "s3cret" not in cookies["monitor_login"]["value"]
        )
    finally:
        stop(proc)


def _get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_overview_runs_and_targets_show_the_demo(demo):
    records = demo["records"]
    run = records.runs(1)[0]
    pages = run.stats["totals"]["pages"]
    status, headers, body = _get(demo["url"] + "/")
    html = body.decode()
    assert status == 200 and "近 30 天每日新线索" in html and html.count("<rect") > 3
    assert "script-src" not in headers["content-security-policy"]  # no script allowed at all
    assert "default-src 'none'" in headers["content-security-policy"]
    assert f"#{run.id}: {pages}" in html  # the run's pages, in the chart's tooltip
    html = _get(demo["url"] + "/runs")[2].decode()
    assert f'href="/runs/{run.id}"' in html and "演示" in html
    html = _get(demo["url"] + f"/runs/{run.id}")[2].decode()
    assert all(name in html for name in ("鑫源优选商城", "恒达五金批发", "云购旗舰店"))
    html = _get(demo["url"] + "/targets")[2].decode()
    assert "信息有误" in html and "已亮照" in html  # the demo's licence findings
    assert _get(demo["url"] + "/leads/999999")[0] == 404


def test_the_evidence_check_is_live(demo):
    """Altering an evidence file shows on the lead's page at the next visit."""
    config = load_config(demo["config"])
    lead = demo["records"].lead(demo["hostile_id"])
    store = EvidenceStore(config.evidence_dir)
    path = store.object_path(store.put(HOSTILE_PAGE)[0])
    page_url = demo["url"] + f"/leads/{lead.id}"
    assert "✓ 证据校验通过" in _get(page_url)[2].decode()
    path.write_bytes(HOSTILE_PAGE + b"<!-- altered -->")
    try:
        html = _get(page_url)[2].decode()
        assert "✗ 证据校验失败" in html and "✓" not in html.split('id="evidence-check"')[1][:40]
    finally:
        path.write_bytes(HOSTILE_PAGE)
    assert "✓ 证据校验通过" in _get(page_url)[2].decode()


def test_hits_are_marked_from_their_offsets_and_bad_offsets_are_skipped():
    from monitor.console.highlight import segments

    hits = [
        {"field": "title", "start": 0, "end": 2, "term": "高仿", "category": "counterfeit"},
        {"field": "title", "start": 1, "end": 4, "term": "仿大牌", "category": "counterfeit"},
        {"field": "title", "start": 8, "end": 99, "term": "越界", "category": "counterfeit"},
        {"field": "text", "start": 0, "end": 2, "term": "别处", "category": "counterfeit"},
    ]
    parts = segments("高仿大牌<b>包", hits, "title", {"counterfeit": "假冒伪劣"})
    assert [(p.text, p.hit) for p in parts] == [("高仿大牌", True), ("<b>包", False)]
    assert parts[0].note == "高仿（假冒伪劣）、仿大牌（假冒伪劣）"
