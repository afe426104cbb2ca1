"""The command line as a user meets it: every command listed, options declared only when their
command runs still there, the database created or upgraded by the first command that needs it,
and left as one file when the command exits."""

from __future__ import annotations

import json
import sqlite3

import pytest

COMMANDS = (
    "init",
    "crawl",
    "nightly",
    "worker",
    "scan",
    "lexicon",
    "leads",
    "evidence",
    "runs",
    "targets",
    "serve",
    "demo",
)


def test_help_lists_every_command(cli):
    result = cli("--help")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert tuple(listed) == COMMANDS
    for command in COMMANDS:
        assert cli(command, "--help").returncode == 0, command


def test_leads_export_offers_every_format(cli):
    result = cli("leads", "export", "--help")
    assert result.returncode == 0, result.stderr
    for option, label in (
        ("--csv", "CSV (Excel)"),
        ("--xlsx", "Excel (XLSX)"),
        ("--jsonl", "JSONL"),
    ):
        assert f"{option} FILE" in result.stdout
        assert f"write {label}" in result.stdout
    missing = cli("leads", "export")
    assert missing.returncode == 2
    assert "one of the arguments --csv --jsonl --xlsx is required" in missing.stderr


def _revision(db) -> str:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()


def test_init_creates_then_upgrades_an_older_database(cli, make_config, tmp_path):
    from alembic import command
    from alembic.script import ScriptDirectory

    from monitor.store.db import alembic_config

    config = make_config()
    db = tmp_path / "monitor.db"
    url = f"sqlite:///{db}"
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()

    first = cli("init", config=config)
    assert first.returncode == 0, first.stderr
    assert f"(schema {head})" in first.stdout
    again = cli("init", config=config)
    assert again.returncode == 0 and f"(schema {head})" in again.stdout

    # a database left at the previous schema by an older release is brought to the newest
    previous = script.get_revision(head).down_revision
    command.downgrade(alembic_config(url), previous)
    assert _revision(db) == previous
    upgraded = cli("init", config=config)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"(schema {head})" in upgraded.stdout
    assert _revision(db) == head


@pytest.mark.parametrize("older", [False, True])
def test_crawl_and_export_with_a_fresh_or_older_database(cli, shop, make_config, tmp_path, older):
    """`monitor crawl` creates the database or upgrades an older one before it writes, and
    leaves it as one file (no write-ahead log beside it) for an analyst to copy."""
    xinyuan = shop("xinyuan")
    config = make_config(
        [{"name": "鑫源", "url": xinyuan.url}], evidence={"dir": "evidence", "screenshots": False}
    )
    db = tmp_path / "monitor.db"
    if older:
        from alembic import command

        from monitor.store.db import alembic_config, dispose_engines

        command.upgrade(alembic_config(f"sqlite:///{db}"), "0003")
        dispose_engines()  # this process lets go of the file, as an older release would have
    result = cli("crawl", "--target", "鑫源", config=config)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "运行 #1 完成" in result.stdout
    assert not (tmp_path / "monitor.db-wal").exists()
    out = tmp_path / "leads.jsonl"
    exported = cli("leads", "export", "--jsonl", out, config=config)
    assert exported.returncode == 0, exported.stderr
    leads = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert leads and f"exported {len(leads)} lead(s)" in exported.stdout
    run = json.loads(cli("runs", "show", "1", config=config).stdout)
    assert run["status"] == "ok" and run["stats"]["totals"]["pages"] > 0


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(make_config, tmp_path):
    """`monitor targets list --format csv | head -1`: the reader closes the pipe after one line;
    the command stops without a traceback."""
    import subprocess
    import sys

    rows = "".join(f"店铺{i},http://shop{i}.example.cn/\n" for i in range(5000))
    (tmp_path / "shops.csv").write_text("name,url\n" + rows, encoding="utf-8")
    config = make_config()
    base = [sys.executable, "-m", "monitor.cli", "--config", str(config)]
    subprocess.run(base + ["targets", "import", str(tmp_path / "shops.csv")], check=True)
    listing = subprocess.Popen(
        base + ["targets", "list", "--format", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert listing.stdout.readline()  # the first line, then the reader goes away
    listing.stdout.close()
    err = listing.stderr.read().decode()
    assert listing.wait(60) != 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err
