"""Terminal escapes in a crawled title or text (ESC, BEL, C1 controls) are dropped when the
page is read, so the database, the console's lead page and every export hold clean text."""

from __future__ import annotations

import re
import sqlite3
import urllib.request

from monitor.webserver import ShopServer
from tests.console_server import free_port, start_serve, stop

CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
TITLE = "\x1b]8;;http://127.0.0.1:1/\x07点这里\x1b]8;;\x07 \x1b[2J\x1b[31m高仿手表\x85"


def test_escape_sequences_in_a_listing_reach_neither_the_database_nor_the_console(
    tmp_path, make_config, cli
):
    root = tmp_path / "site"
    root.mkdir()
    (root / "watch.html").write_text(
        f'<html><head><meta charset="utf-8"><title>{TITLE}</title></head><body><main>'
        f"<h1>{TITLE}</h1><p>价格：￥399</p><p>一比一\x07复刻，\x1b[5m原单尾货。</p>"
        "</main></body></html>",
        encoding="utf-8",
    )
    (root / "index.html").write_text(
        '<html><head><meta charset="utf-8"></head><body><a href="/watch.html">手表</a>'
        "</body></html>",
        encoding="utf-8",
    )
    with ShopServer(root) as server:
        config = make_config(
            [{"name": "表店", "url": server.url}],
            evidence={"dir": "evidence", "screenshots": False},
        )
        result = cli("nightly", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    con = sqlite3.connect(tmp_path / "monitor.db")
    rows = con.execute("SELECT title, text FROM listings WHERE url LIKE '%/watch.html'").fetchall()
    leads = [i for (i,) in con.execute("SELECT id FROM leads")]
    con.close()
    assert rows and "高仿手表" in rows[0][0], rows
    assert not CONTROLS.search(rows[0][0] + rows[0][1]), rows
    assert leads
    port = free_port()
    proc = start_serve(config, port)
    shown = []
    try:
        for lead in leads:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/leads/{lead}") as response:
                html = response.read().decode("utf-8")
            shown.append("高仿手表" in html)
            assert not CONTROLS.search(html.replace("\n", "").replace("\t", "").replace("\r", ""))
    finally:
        stop(proc)
    assert any(shown)  # the watch's lead page was among them
