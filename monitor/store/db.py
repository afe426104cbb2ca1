"""Database engine and sessions, and `monitor init` (Alembic upgrade to head)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import DatabaseUnavailable

__all__ = [
    "DatabaseUnavailable",
    "check_database",
    "engine_for",
    "init_db",
    "require_database",
    "session_factory",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_WAIT = 5  # seconds a command waits, before it starts, for another process's write lock


def describe_database_error(url: str, exc: BaseException) -> str:
    """One line naming the database (password hidden) and what is wrong with it."""
    parsed = make_url(url)
    orig = getattr(exc, "orig", None) or exc
    detail = " ".join(str(orig).split())[:300]
    low = detail.lower()
    if parsed.drivername.startswith("sqlite"):
        where = parsed.database or ":memory:"
        if "locked" in low or "busy" in low:
            return (
                f"数据库被另一个进程锁住 database is locked by another process: {where} ({detail})"
            )
        return f"数据库无法打开 database cannot be opened: {where} ({detail})"
    where = parsed.render_as_string(hide_password=True)
    if any(
        w in low for w in ("refused", "timeout", "timed out", "could not translate", "no route")
    ):
        return f"数据库无法连接 database unreachable: {where} ({detail})"
    return f"数据库不可用 database unavailable: {where} ({detail})"


def check_database(url: str) -> None:
    """Connect, and on SQLite take the write lock for a moment, so a database that is down or
    locked is named before a command starts work; raises DatabaseUnavailable."""
    from sqlalchemy.exc import DBAPIError

    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_WAIT * 1000}")
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    conn.exec_driver_sql("ROLLBACK")
                finally:
                    conn.exec_driver_sql("PRAGMA busy_timeout = 30000")
            else:
                conn.exec_driver_sql("SELECT 1")
            conn.rollback()
    except DBAPIError as exc:
        engine.dispose()
        raise DatabaseUnavailable(describe_database_error(url, exc)) from None


def require_database(url: str) -> None:
    """For a command that only reads (``targets list``, ``leads``, ``runs``): a SQLite file
    that does not exist is named, not created with its folders by the first connection (a
    typo in ``database.url`` would otherwise leave an empty database anywhere, even as root,
    and list nothing). Only ``monitor init``, ``crawl``, ``nightly`` and writing commands
    create the database."""
    parsed = make_url(url)
    where = parsed.database
    if parsed.drivername.startswith("sqlite") and where and where != ":memory:":
        if not Path(where).is_file():
            raise DatabaseUnavailable(
                f"数据库不存在 database does not exist: {where} (monitor init creates it)"
            )


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per database URL in a process."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets the console read during a crawl
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    connect_args = {"connect_timeout": 10} if parsed.drivername.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


def alembic_config(url: str):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def init_db(url: str) -> str:
    """Create or upgrade the database to the newest schema; safe to run again. Returns the revision."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    check_database(url)
    command.upgrade(alembic_config(url), "head")
    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_is_current(url: str) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head
