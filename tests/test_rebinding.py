"""DNS rebinding: Scrapy resolves a host again when it connects, so the check is in its resolver.

A shop's public name that answers 127.0.0.1 when the crawler connects must not reach the
analyst's machine; a target that is itself on a private address still crawls. The name ->
address step is taken from a table (tests/dns_table.py: there is no DNS server to rebind here);
the check, the connection and the HTTP server are real.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from scrapy import Request

from monitor.downloadermiddlewares.scope import TargetScopeMiddleware

PROJECT = Path(__file__).resolve().parent.parent
PAGE = """<html><head><meta charset="utf-8"><title>高仿名牌手表 - 店</title></head><body>
<h1>高仿名牌手表</h1><p>价格 ￥199</p><button>加入购物车</button>
<a href="/p/2.html">下一件</a></body></html>"""


@pytest.fixture
def counting_shop():
    """A shop on 127.0.0.1 that records every request it receives."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


def scrapy_crawl(url: str, config: Path, table: dict, *args: str) -> subprocess.CompletedProcess:
    """`scrapy crawl site` as a user runs it, with the table resolver for the name lookups."""
    env = {
        **os.environ,
        "MONITOR_CONFIG": str(config),
        "MONITOR_TEST_DNS_TABLE": json.dumps(table),
    }
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"url={url}", *args]
        + ["-s", "TWISTED_DNS_RESOLVER=tests.dns_table.TableResolver"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_stats(config: Path, cli) -> dict:
    result = cli("runs", "show", "1", config=config)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["stats"]


def test_public_name_that_resolves_to_loopback_is_refused_in_one_line(
    counting_shop, make_config, cli
):
    port, hits = counting_shop
    config = make_config([], crawl={"obey_robots": True})  # robots.txt is asked for too
    result = scrapy_crawl(
        f"http://shop.rebind.test:{port}/",
        config,
        {"shop.rebind.test": "127.0.0.1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert hits == [], "the analyst's machine was reached through the shop's name"
    loud = [
        line
        for line in result.stderr.splitlines()
        if re.search(r"\] (WARNING|ERROR|CRITICAL):", line)
    ]
    assert len(loud) == 1 and "shop.rebind.test" in loud[0] and "127.0.0.1" in loud[0], loud
    assert "Traceback" not in result.stderr
    stats = run_stats(config, cli)
    assert stats["errors"] == {"private_address": 1}
    target = stats["targets"]["shop.rebind.test"]
    assert target["crawled"] is False and "private_address" in target["reason"]


def test_the_same_lookup_reaches_a_target_that_is_itself_on_loopback(
    counting_shop, make_config, cli
):
    # the table answers localhost too, so the refused crawl above went the same way
    port, hits = counting_shop
    config = make_config([])
    result = scrapy_crawl(f"http://localhost:{port}/", config, {"localhost": "127.0.0.1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert hits[:2] == ["/", "/p/2.html"]
    stats = run_stats(config, cli)
    assert stats["targets"]["localhost"]["crawled"] is True
    assert not stats["errors"]


def test_monitor_crawl_of_a_target_named_localhost_still_crawls(shop, make_config, cli, tmp_path):
    # the shipped resolver (monitor.crawl.settings) admits a target whose name resolves to loopback
    server = shop("xinyuan")
    url = server.url.replace("127.0.0.1", "localhost")
    config = make_config([], evidence={"dir": "evidence", "screenshots": False})
    result = cli("crawl", "--url", url, config=config)
    assert result.returncode == 0, result.stderr + result.stdout
    con = sqlite3.connect(tmp_path / "monitor.db")
    assert con.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 5
    con.close()


@pytest.fixture
def ipv6_shop():
    """The counting shop's page on the IPv6 loopback, [::1]."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    server = Server(("::1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


def test_an_ipv6_literal_target_is_crawled(ipv6_shop, make_config, cli, tmp_path):
    """Scrapy's default resolver is IPv4 only: ``http://[::1]:PORT/`` failed as ``dns``."""
    port, hits = ipv6_shop
    url = f"http://[::1]:{port}/"
    config = make_config(
        [{"name": "v6", "url": url}], evidence={"dir": "evidence", "screenshots": False}
    )
    result = cli("nightly", config=config)
    assert result.returncode == 0, result.stderr + result.stdout
    assert hits[:2] == ["/", "/p/2.html"]
    stats = run_stats(config, cli)
    assert stats["targets"]["v6"]["crawled"] is True, stats
    con = sqlite3.connect(tmp_path / "monitor.db")
    assert con.execute("SELECT COUNT(*) FROM leads").fetchone()[0] >= 1
    con.close()


def test_public_name_that_resolves_to_ipv6_loopback_is_refused(ipv6_shop, make_config, cli):
    port, hits = ipv6_shop
    config = make_config([])
    result = scrapy_crawl(f"http://shop.rebind.test:{port}/", config, {"shop.rebind.test": "::1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert hits == []
    assert run_stats(config, cli)["errors"] == {"private_address": 1}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://10.0.0.8/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud's metadata service
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]:8765/",
        "http://0.0.0.0:8765/",
    ],
)
def test_scope_refuses_private_literal_addresses_for_a_public_target(url):
    class Spider:
        start_url = "http://shop.example.cn/"
        allowed_hosts = ["10.0.0.8", "100.100.100.200", "127.0.0.1"]  # listed, still refused

    class Stats:
        def inc_value(self, *a):
            pass

    mw = TargetScopeMiddleware(Stats())
    mw.spider_opened(Spider())
    assert mw.in_scope(Request("http://shop.example.cn/p/1.html"))
    assert not mw.in_scope(Request(url))
