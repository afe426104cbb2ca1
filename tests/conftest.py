"""Shared fixtures: fixture shops served on 127.0.0.1, configs in a temp folder, the CLI, databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import yaml

from monitor.demo import SHOPS as DEMO_SHOPS
from monitor.webserver import ShopServer

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROJECT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def demo_expected() -> dict:
    return json.loads((DEMO_SHOPS / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def shop():
    """Start a server for a shop folder: shop('xinyuan') or shop(Path)."""
    servers = []

    def start(name_or_path) -> ShopServer:
        path = Path(name_or_path)
        if not path.is_absolute():
            path = (
                DEMO_SHOPS / name_or_path
                if (DEMO_SHOPS / name_or_path).is_dir()
                else FIXTURES / "shops" / name_or_path
            )
        server = ShopServer(path).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def make_config(tmp_path):
    """Write a config.yaml in a temp folder; returns its path."""

    def make(targets=(), **sections) -> Path:
        data = {
            "database": {"url": "sqlite:///monitor.db"},
            "evidence": {"dir": "evidence"},
            "logs": {"dir": "logs"},
            "crawl": {"obey_robots": False},
        }
        data.update(sections)
        data["targets"] = [dict(t) for t in targets]
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    return make


def run_cli(
    *args,
    config: Path | None = None,
    env: dict | None = None,
    cwd: Path | None = None,
    timeout: int = 300,
) -> subprocess.CompletedProcess:
    """Run `monitor` in a child process, as a user would."""
    cmd = [sys.executable, "-m", "monitor.cli"]
    if config is not None:
        cmd += ["--config", str(config)]
    full_env = {**os.environ, **(env or {})}
    if cwd is None:  # as a user would: from some folder that is not the project's
        cwd = Path(tempfile.gettempdir()) / "monitor-tests-cwd"
        cwd.mkdir(exist_ok=True)
    return subprocess.run(
        cmd + [str(a) for a in args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3
        ):
            return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database on each dialect."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.db'}"
        return
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"monitor_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from monitor.store.db import engine_for

    engine_for(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}").dispose()
    with psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
