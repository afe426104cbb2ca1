"""Bad files and faults: each is one line on stderr naming the file and line (or the database),
a non-zero exit, and nothing written."""

from __future__ import annotations

import codecs
import sqlite3
import subprocess
import sys

import pytest

from monitor import PROJECT_ROOT
from monitor.targets.csv import read_targets_csv

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9)
)
RECURSIVE = "crawl:\n  obey_robots: false\nloop: &r\n  - 1\n  - *r\n"


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """The command failed with exactly one stderr line holding ``words``, and no traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def config_text(tmp_path, extra: str) -> str:
    return (
        f"database: {{url: 'sqlite:///{tmp_path / 'monitor.db'}'}}\n"
        f"evidence: {{dir: '{tmp_path / 'evidence'}'}}\n"
        f"logs: {{dir: '{tmp_path / 'logs'}'}}\n" + extra
    )


# -- YAML: aliases and nesting -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, line, words",
    [
        (BOMB, 7, "alias bomb"),
        (RECURSIVE, 5, "recursive alias *r"),
        ("crawl:\n  x: " + "[" * 5000 + "]" * 5000 + "\n", 2, "nest"),
    ],
    ids=["alias-bomb", "recursive-alias", "deep-nesting"],
)
def test_config_yaml_bombs_are_refused_fast_in_one_line(tmp_path, cli, text, line, words):
    config = tmp_path / "config.yaml"
    config.write_text(config_text(tmp_path, text), encoding="utf-8")
    result = cli("nightly", config=config, timeout=60)
    one_line_error(result, f"{config}:{line + 3}:", words)
    assert result.returncode == 2
    assert not (tmp_path / "monitor.db").exists()


def test_lexicon_alias_bomb_is_refused_before_a_crawl_writes_anything(tmp_path, cli):
    words = tmp_path / "keywords"
    words.mkdir()
    for f in (PROJECT_ROOT / "keywords").glob("*.yaml"):
        (words / f.name).write_bytes(f.read_bytes())
    bad = words / "counterfeit.yaml"
    bad.write_text(
        bad.read_text(encoding="utf-8") + "bomb:\n  " + BOMB.replace("\n", "\n  ").rstrip() + "\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        config_text(
            tmp_path,
            f"lexicon: {{dir: '{words}'}}\ntargets:\n  - {{name: a, url: 'http://127.0.0.1:9/'}}\n",
        ),
        encoding="utf-8",
    )
    result = cli("crawl", "--target", "a", config=config, timeout=60)
    one_line_error(result, f"{bad}:", "alias bomb")
    assert result.returncode == 2
    assert not (tmp_path / "evidence").exists() and not (tmp_path / "logs").exists()
    check = cli("lexicon", "check", "--dir", words, config=config, timeout=60)
    assert check.returncode == 2 and "alias bomb" in check.stdout + check.stderr
    assert "Traceback" not in check.stdout + check.stderr


# -- config values out of range ----------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, line, words",
    [
        (
            "crawl:\n  per_target_concurrency: 0\n",
            2,
            "crawl.per_target_concurrency: must be at least 1",
        ),
        ("crawl:\n  concurrency: 0\n", 2, "crawl.concurrency: must be at least 1"),
        ("crawl:\n  delay: -1\n", 2, "crawl.delay: must be at least 0"),
        ("crawl:\n  download_timeout: 0\n", 2, "crawl.download_timeout"),
        ("crawl:\n  targets_at_once: 0\n", 2, "crawl.targets_at_once"),
        ("crawl:\n  delay: .nan\n", 2, "finite"),
        ("crawl:\n  concurrency: 16000\n", 2, "at most"),
        ("browser:\n  max_pages: 0\n", 2, "browser.max_pages"),
        ("browser:\n  render_timeout: -5\n", 2, "browser.render_timeout"),
        (
            "targets:\n  - name: a\n    url: http://a.example.cn/\n    page_budget: 0\n",
            4,
            "targets[0].page_budget: must be at least 1",
        ),
        (
            "targets:\n  - name: a\n    url: http://a.example.cn/\n    delay: -2\n",
            4,
            "targets[0].delay",
        ),
        ('crawl:\n  user_agent: "a\\r\\nX-Evil: 1"\n', 2, "control character"),
        (
            f"targets:\n  - name: {'店' * 201}\n    url: http://a.example.cn/\n",
            2,
            "targets[0].name: is 201 characters long",
        ),
        (
            "targets:\n  - name: a\n    url: http://a.example.cn/\n    allowed_hosts: [1]\n",
            4,
            "targets[0].allowed_hosts[0]: must be a host name",
        ),
    ],
)
def test_config_values_out_of_range_are_refused_with_file_and_line(
    tmp_path, cli, extra, line, words
):
    config = tmp_path / "config.yaml"
    config.write_text(config_text(tmp_path, extra), encoding="utf-8")
    result = cli("nightly", config=config, timeout=60)
    one_line_error(result, f"{config}:{line + 3}:", words)
    assert result.returncode == 2
    assert not (tmp_path / "monitor.db").exists()


# -- targets CSV: encodings, sizes, broken files -----------------------------------------------

ROWS = [("甲店", "http://a.example.cn/", "南昌"), ("乙店", "http://b.example.cn/", "台北")]


def table() -> str:
    return "\r\n".join(["名称,网址,地区", *(",".join(row) for row in ROWS)]) + "\r\n"


@pytest.mark.parametrize(
    "encode, names",
    [
        (lambda t: t.encode("utf-8"), ["甲店", "乙店"]),
        (lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), ["甲店", "乙店"]),
        (lambda t: t.replace("台北", "北京").encode("gbk"), ["甲店", "乙店"]),
        (
            lambda t: (
                t.replace("名称,网址,地区", "name,url,region")
                .replace("乙店", "乙號店")
                .encode("big5")
            ),
            ["甲店", "乙號店"],
        ),
        (lambda t: t.encode("utf-16"), ["甲店", "乙店"]),
        (  # Excel's "Unicode text": UTF-16 LE with BOM, tab-separated
            lambda t: codecs.BOM_UTF16_LE + t.replace(",", "\t").encode("utf-16-le"),
            ["甲店", "乙店"],
        ),
    ],
    ids=["utf8", "utf8-bom", "gbk", "big5", "utf16", "excel-unicode-text"],
)
def test_targets_csv_is_read_in_each_encoding_the_registry_uses(tmp_path, encode, names):
    path = tmp_path / "targets.csv"
    path.write_bytes(encode(table()))
    rows = read_targets_csv(path)
    assert [r["name"] for r in rows] == names
    assert [r["url"] for r in rows] == [u for _, u, _ in ROWS]


def test_a_short_big5_csv_with_traditional_headers_imports(tmp_path, make_config, cli):
    """名稱,網址,類型 in Big5: a file this short reads as (mojibake) GB18030 by its characters
    alone; the reading under which its header names known columns wins, and the Traditional
    names are the Simplified columns."""
    config = make_config([])
    path = tmp_path / "big5.csv"
    path.write_bytes(
        "名稱,網址,類型,地區\r\n台北店,http://127.0.0.1:1/,site,台北市\r\n".encode("big5")
    )
    result = cli("targets", "import", path, config=config)
    assert result.returncode == 0, result.stderr
    listed = cli("targets", "list", "--format", "csv", config=config)
    assert listed.returncode == 0, listed.stderr
    assert "台北店" in listed.stdout and "http://127.0.0.1:1/" in listed.stdout
    assert "台北市" in listed.stdout  # its region


def test_targets_csv_in_big5_and_excel_unicode_text_imports_right(
    tmp_path, make_config, cli, database_url
):
    config = make_config([], database={"url": database_url})
    big5 = tmp_path / "big5.csv"
    big5.write_bytes(
        b"name,url,region\r\n" + "臺灣優品店,http://tw.example.com/,臺北市\r\n".encode("big5")
    )
    excel = tmp_path / "excel.txt"
    excel.write_bytes(
        codecs.BOM_UTF16_LE
        + "名称\t网址\r\n江西名品店\thttp://jx.example.cn/\r\n".encode("utf-16-le")
    )
    for path in (big5, excel):
        result = cli("targets", "import", path, config=config)
        assert result.returncode == 0, result.stderr
    from sqlalchemy import text

    from monitor.store.db import engine_for

    with engine_for(database_url).connect() as conn:
        names = {n for (n,) in conn.execute(text("SELECT name FROM targets"))}
    assert {"臺灣優品店", "江西名品店"} <= names


@pytest.mark.parametrize(
    "content, line, words",
    [
        (b"name,url\r\na," + b"x" * 2_000_000 + b"\r\n", 2, "longer than"),
        (
            b"name,url\r\nb,http://b.example.cn/\r\n"
            + ("名" * 300).encode()
            + b",http://c.example.cn/\r\n",
            3,
            "name is 300 characters",
        ),
        (b"name,url\r\nb,http://b.example.cn/\r\nc,http://c.exa\x00mple.cn/\r\n", 3, "NUL"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 3, "NUL"),
        (b'name,url\r\n"unterminated,http://a.example.cn/\r\n' + b"x" * 200_000, 2, "longer than"),
        (
            "name,url\r\n甲,http://a.example.cn/\r\n".encode()
            + b"\xff\xfe\xfa bad\r\n" * 3
            + ("乙,http://b.example.cn/\r\n" * 20000).encode(),
            3,
            "",
        ),
    ],
    ids=["huge-field", "long-name", "nul", "binary", "unterminated-quote", "broken-bytes"],
)
def test_bad_targets_csv_is_one_line_and_imports_nothing(
    tmp_path, make_config, cli, content, line, words
):
    config = make_config([])
    path = tmp_path / "targets.csv"
    path.write_bytes(content)
    result = cli("targets", "import", path, config=config, timeout=60)
    message = one_line_error(result, f"{path}:", words)
    assert result.returncode == 2
    assert f"{path}:{line}:" in message
    if (tmp_path / "monitor.db").exists():
        con = sqlite3.connect(tmp_path / "monitor.db")
        assert con.execute("SELECT COUNT(*) FROM targets").fetchone()[0] == 0


# -- the database down or locked ---------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


@pytest.mark.parametrize(
    "command", [("init",), ("nightly",), ("leads", "list"), ("targets", "list")]
)
def test_postgresql_unreachable_is_named_in_one_line(tmp_path, cli, command):
    config = tmp_path / "config.yaml"
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{_closed_port()}/monitor"
    config.write_text(
        f"database: {{url: '{url}'}}\nevidence: {{dir: ev}}\nlogs: {{dir: logs}}\n"
        "targets:\n  - {name: a, url: 'http://127.0.0.1:9/'}\n",
        encoding="utf-8",
    )
    result = cli(*command, config=config, timeout=60)
    message = one_line_error(result, "database unreachable", "127.0.0.1")
    assert result.returncode == 4
    assert "secret" not in message  # the password is not printed
    assert not (tmp_path / "logs").exists()


def test_sqlite_locked_before_the_run_is_named_in_one_line(tmp_path, make_config, cli):
    config = make_config([{"name": "a", "url": "http://127.0.0.1:9/"}])
    assert cli("init", config=config).returncode == 0
    holder = sqlite3.connect(tmp_path / "monitor.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than we wait
    try:
        result = cli("nightly", config=config, timeout=120)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    one_line_error(result, "database is locked", str(tmp_path / "monitor.db"))
    assert result.returncode == 4
    con = sqlite3.connect(tmp_path / "monitor.db")
    assert con.execute("SELECT COUNT(*) FROM crawl_runs").fetchone()[0] == 0


def test_unreadable_database_path_is_named_in_one_line(tmp_path, cli):
    (tmp_path / "db").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {{url: 'sqlite:///{tmp_path / 'db'}'}}\n", encoding="utf-8")
    result = cli("init", config=config, timeout=60)
    one_line_error(result, "database cannot be opened", str(tmp_path / "db"))


def test_scan_of_missing_file_is_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "scan", "/nonexistent/x.jsonl"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    one_line_error(result, "/nonexistent/x.jsonl")


def test_logs_folder_that_is_a_file_is_one_line(tmp_path, make_config, cli):
    config = make_config([{"name": "a", "url": "http://127.0.0.1:9/"}])
    (tmp_path / "logs").write_text("not a folder")
    result = cli("crawl", "--target", "a", config=config, timeout=60)
    one_line_error(result, str(tmp_path / "logs"))
    assert result.returncode == 1


def test_config_saved_in_gbk_is_one_line_naming_the_line(tmp_path, cli):
    config = tmp_path / "config.yaml"
    config.write_bytes(
        config_text(tmp_path, "targets:\n  - {name: 甲店, url: 'http://a.example.cn/'}\n").encode(
            "gbk"
        )
    )
    result = cli("nightly", config=config, timeout=60)
    one_line_error(result, f"{config}:5:", "not UTF-8")
    assert result.returncode == 2 and not (tmp_path / "monitor.db").exists()
