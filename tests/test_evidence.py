"""Evidence that holds up in a case file: WARC/WACZ, RFC 3161 timestamps, a printable record.

One crawl of a demo shop, with a real timestamp authority on 127.0.0.1 (`openssl ts -reply`
behind a small HTTP endpoint, its CA and TSA certificate made here with the openssl CLI) that
is down during the crawl and comes back for `monitor evidence timestamp`. Then the lead's
captures are exported as a WACZ and read back with warcio, and its extraction record is printed
to PDF and read back with pdftotext.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from warcio.archiveiterator import ArchiveIterator

from monitor.demo import SHOPS
from monitor.evidence import tsa
from monitor.evidence.browser import find_chromium
from monitor.webserver import ShopServer

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None or find_chromium() is None, reason="needs openssl and Chromium"
)
BAIJIU = "item/baijiu.html"


def openssl(*args, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tsa_files(folder: Path) -> Path:
    """A root CA and a TSA certificate (critical extendedKeyUsage timeStamping); the ts config."""
    folder.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "3", "-subj", "/CN=Test Root CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
            "-subj", "/CN=Test Time Stamp Authority", cwd=folder)  # fmt: skip
    (folder / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n"
    )
    openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "tsa.crt", "-days", "3", "-extfile", "ext.cnf",
            cwd=folder)  # fmt: skip
    (folder / "tsaserial").write_text("01\n")
    (folder / "tsa.cnf").write_text(
        f"""[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {folder}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_alg = sha256
"""
    )
    return folder


class GzipShopHandler(SimpleHTTPRequestHandler):
    """Serves the shop's files gzip-compressed, so evidence must keep the compressed bytes."""

    def do_GET(self):  # noqa: N802 - http.server's name
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            self.send_error(404)
            return
        body = gzip.compress(path.read_bytes())
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TimestampAuthority:
    """`openssl ts -reply` behind HTTP on 127.0.0.1; ``up = False`` makes it answer 503."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.up = True
        self.lock = threading.Lock()
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                query = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not authority.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                with authority.lock:
                    (folder / "q.tsq").write_bytes(query)
                    done = subprocess.run(
                        ["openssl", "ts", "-reply", "-config", "tsa.cnf", "-queryfile",
                         "q.tsq", "-out", "r.tsr"], cwd=folder, capture_output=True,
                    )  # fmt: skip
                    reply = (folder / "r.tsr").read_bytes() if done.returncode == 0 else b""
                self.send_response(200 if reply else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """The xinyuan demo shop crawled with the TSA down, then `evidence timestamp` with it up."""
    root = tmp_path_factory.mktemp("evidence")
    authority = TimestampAuthority(make_tsa_files(root / "tsa"))
    server = ShopServer(SHOPS / "xinyuan", handler=GzipShopHandler).start()
    try:
        config = root / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": {"url": "sqlite:///monitor.db"},
                    "evidence": {
                        "dir": "evidence",
                        "tsa_url": authority.url,
                        "tsa_ca_file": str(root / "tsa" / "ca.crt"),
                        "operator": "王检查员",
                    },
                    "logs": {"dir": "logs"},
                    "crawl": {"obey_robots": False},
                    "targets": [{"name": "鑫源优选商城", "url": server.url}],
                },
                allow_unicode=True,
            ),
            encoding="utf-8",
        )
        authority.up = False
        crawl = run_cli("nightly", config=config)
        assert crawl.returncode == 0, crawl.stderr
        pending = run_cli("evidence", "verify", config=config)
        authority.up = True
        stamped = run_cli("evidence", "timestamp", config=config)
        yield {
            "root": root,
            "config": config,
            "server": server,
            "pending": pending,
            "stamped": stamped,
            "url": server.url + BAIJIU,
        }
    finally:
        server.stop()
        authority.stop()


def lead_of(crawled, url: str) -> int:
    con = sqlite3.connect(crawled["root"] / "monitor.db")
    try:
        return con.execute(
            "SELECT leads.id FROM leads JOIN listings ON leads.listing_id = listings.id "
            "WHERE listings.url = ?",
            (url,),
        ).fetchone()[0]
    finally:
        con.close()


def manifest_of(crawled, lead_id: int) -> tuple[Path, dict]:
    con = sqlite3.connect(crawled["root"] / "monitor.db")
    try:
        (path,) = con.execute(
            "SELECT manifest_path FROM evidence WHERE lead_id = ? ORDER BY id DESC", (lead_id,)
        ).fetchone()
    finally:
        con.close()
    return Path(path), json.loads(Path(path).read_bytes())


def b32_sha256(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()


def test_a_failing_tsa_leaves_captures_pending_and_timestamp_stamps_them(crawled):
    pending = crawled["pending"]
    assert pending.returncode == 0, pending.stderr
    assert "awaiting a timestamp" in pending.stdout  # said, not silently skipped
    assert crawled["stamped"].returncode == 0, crawled["stamped"].stderr
    assert "still pending" in crawled["stamped"].stdout and " 0 still" in crawled["stamped"].stdout
    done = run_cli("evidence", "verify", config=crawled["config"])
    assert done.returncode == 0, done.stderr
    assert "awaiting" not in done.stdout
    lead = lead_of(crawled, crawled["url"])
    path, data = manifest_of(crawled, lead)
    assert data["timestamp"]["authority"].startswith("http://127.0.0.1:")
    assert data["lead"]["listing_url"] == crawled["url"]
    seals = list((crawled["root"] / "evidence" / "runs").glob("*.json"))
    assert len(seals) == 1 and seals[0].with_suffix(".tsr").exists()  # the run's heads, stamped


def test_the_token_verifies_and_fails_after_one_byte_of_the_manifest_changes(crawled):
    lead = lead_of(crawled, crawled["url"])
    path, _ = manifest_of(crawled, lead)
    token = path.with_suffix(".tsr").read_bytes()
    blob = path.read_bytes()
    roots = tsa.load_roots(crawled["root"] / "tsa" / "ca.crt")
    assert tsa.verify_token(token, blob, roots) is None
    info = tsa.token_info(token)
    assert "Test Time Stamp Authority" in info.authority
    changed = bytearray(blob)
    changed[len(changed) // 2] ^= 0x01
    assert "imprint differs" in tsa.verify_token(token, bytes(changed), roots)
    other_root = make_tsa_files(crawled["root"] / "other-ca") / "ca.crt"
    assert "signature not valid" in tsa.verify_token(token, blob, tsa.load_roots(other_root))


def test_verify_names_the_lead_whose_manifest_changed_under_its_token(crawled, tmp_path):
    lead = lead_of(crawled, crawled["url"])
    path, _ = manifest_of(crawled, lead)
    original = path.read_bytes()
    try:
        path.write_bytes(original.replace(b'"status": 200', b'"status": 201'))
        done = run_cli("evidence", "verify", config=crawled["config"])
    finally:
        path.write_bytes(original)
    assert done.returncode == 1
    assert f"线索 {lead}: manifest {path.name}: timestamp token does not cover" in done.stderr
    assert run_cli("evidence", "verify", config=crawled["config"]).returncode == 0


def test_the_wacz_replays_the_capture_with_matching_digests(crawled, tmp_path):
    lead = lead_of(crawled, crawled["url"])
    out = tmp_path / f"lead-{lead}.wacz"
    done = run_cli("evidence", "export", lead, "--wacz", out, config=crawled["config"])
    assert done.returncode == 0, done.stderr
    valid = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(out)], capture_output=True, text=True
    )
    assert valid.returncode == 0 and "is valid" in valid.stdout, valid.stdout + valid.stderr
    _, data = manifest_of(crawled, lead)
    evidence = crawled["root"] / "evidence"
    kept = {a["kind"]: (evidence / a["path"]).read_bytes() for a in data["artifacts"]}
    with zipfile.ZipFile(out) as z:
        warcs = [n for n in z.namelist() if n.startswith("archive/")]
        assert warcs
        records = []
        for name in warcs:
            for rec in ArchiveIterator(io.BytesIO(z.read(name))):
                if rec.rec_type == "warcinfo":
                    continue
                payload = rec.raw_stream.read()  # as served: not decoded, not de-chunked
                block = (rec.http_headers.to_bytes() if rec.http_headers else b"") + payload
                assert rec.rec_headers.get_header("WARC-Block-Digest") == b32_sha256(block)
                if rec.rec_type != "request":
                    digest = rec.rec_headers.get_header("WARC-Payload-Digest")
                    assert digest == b32_sha256(payload)
                uri = rec.rec_headers.get_header("WARC-Target-URI")
                records.append((rec.rec_type, uri, payload))
        pages = z.read("pages/pages.jsonl").decode("utf-8")
    by_uri = {(t, u): p for t, u, p in records}
    assert kept["raw_body"][:2] == b"\x1f\x8b"  # as served: still gzip-compressed
    assert by_uri[("response", crawled["url"])] == kept["raw_body"]
    assert "内部特供白酒".encode() in gzip.decompress(kept["raw_body"])
    assert ("request", crawled["url"]) in by_uri
    assert by_uri[("resource", f"urn:screenshot:{crawled['url']}")] == kept["screenshot"]
    assert by_uri[("resource", f"urn:rendered-dom:{crawled['url']}")] == kept["rendered_dom"]
    request = json.loads(kept["request"])
    assert request["method"] == "GET" and request["url"] == crawled["url"]
    assert any(k.lower() == "user-agent" for k in request["headers"])
    assert crawled["url"] in pages


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_the_pdf_record_carries_the_hashes_the_url_and_the_token_time(crawled, tmp_path):
    lead = lead_of(crawled, crawled["url"])
    pdf = tmp_path / "record.pdf"
    done = run_cli("evidence", "report", lead, "--pdf", pdf, config=crawled["config"])
    assert done.returncode == 0, done.stderr
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    _, data = manifest_of(crawled, lead)
    path, _ = manifest_of(crawled, lead)
    assert "电子数据提取记录" in text
    assert crawled["url"] in text
    assert path.stem in text  # the manifest's sha256
    for art in data["artifacts"]:
        assert art["sha256"] in text, art["kind"]
    assert "王检查员" in text and "北京时间" in text
    assert "Test Time Stamp Authority" in text
    assert "内部特供" in text  # the hit in its context


def test_a_storefront_listing_archive_holds_what_its_page_loaded(shop, make_config, cli, tmp_path):
    """The listing page is a shell filled from the shop's API: its WARC keeps the API reply,
    so a replay shows the listing, not 加载中…"""
    from monitor.demo import YUNGOU

    server = shop("yungou")
    config = make_config(
        [{"name": "云购旗舰店", "url": server.url, "kind": "storefront", "platform": "yungou"}],
        platforms={"yungou": YUNGOU},
    )
    assert cli("nightly", config=config).returncode == 0
    con = sqlite3.connect(tmp_path / "monitor.db")
    lead, url = con.execute(
        "SELECT leads.id, listings.url FROM leads JOIN listings ON leads.listing_id = listings.id "
        "ORDER BY leads.id LIMIT 1"
    ).fetchone()
    con.close()
    out = tmp_path / "lead.wacz"
    assert cli("evidence", "export", lead, "--wacz", out, config=config).returncode == 0
    responses = {}
    with zipfile.ZipFile(out) as z:
        for name in (n for n in z.namelist() if n.startswith("archive/")):
            for rec in ArchiveIterator(io.BytesIO(z.read(name))):
                if rec.rec_type == "response":
                    uri = rec.rec_headers.get_header("WARC-Target-URI")
                    responses[uri] = rec.content_stream().read()
    item_id = url.rsplit("=", 1)[-1]
    api = f"{server.url}api/item-{item_id}.json"
    assert api in responses and url in responses
    served = (SHOPS / "yungou" / "api" / f"item-{item_id}.json").read_bytes()
    assert responses[api] == served
