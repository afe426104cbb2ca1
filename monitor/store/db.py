"""Database engine and sessions, and `monitor init` (Alembic upgrade to head)."""

from __future__ import annotations

import re
import weakref
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import DatabaseUnavailable

__all__ = [
    "DatabaseUnavailable",
    "check_database",
    "dispose_engines",
    "engine_for",
    "init_db",
    "require_database",
    "session_factory",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"  # where Alembic records the revision
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


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()  # every engine the process has open


def dispose_engines() -> None:
    """Close every pooled connection of the process: SQLite folds its write-ahead log back into
    the database file when the last one closes (done by hand where a command exits without
    waiting for the garbage collector, see monitor.cli)."""
    for engine in list(_engines):
        engine.dispose()


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine per database URL in a process."""
    engine = _new_engine(url)
    _engines.add(engine)
    return engine


def _new_engine(url: str) -> Engine:
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
    """Create or upgrade the database to the newest schema; safe to run again. Returns the revision.

    A database already at the newest revision is left as it is without importing Alembic
    (a tenth of a second every crawl starts with)."""
    check_database(url)
    if not schema_is_current(url):
        from alembic import command

        command.upgrade(alembic_config(url), "head")
    return current_revision(url)


def schema_is_current(url: str) -> bool:
    """Whether the database is at the newest revision of the migrations."""
    head = schema_head()
    if head is None:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    return current_revision(url) == head


def current_revision(url: str) -> str | None:
    """The schema revision the database is at (Alembic's version table); None if it has none."""
    from sqlalchemy import inspect, text

    with engine_for(url).connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


# `revision = "0002"`, `down_revision = "0001"` (or None) in a migration file
_REVISION = re.compile(
    r"""^(down_)?revision(?:\s*:[^=]+)?\s*=\s*(?:None|["']([^"']+)["'])\s*$""", re.M
)


@lru_cache(maxsize=1)
def schema_head() -> str | None:
    """The newest revision of the migrations, read from their files: the one no other file
    names as its down_revision. None when the files do not say it plainly (a merge or a branch
    point, whose down_revision is a tuple): then Alembic is asked."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = {bool(m[1]): m[2] for m in _REVISION.finditer(path.read_text(encoding="utf-8"))}
        if not found.get(False) or True not in found:
            return None
        revisions.add(found[False])
        parents.add(found[True])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None
