"""The one list of targets: the targets table.

config.yaml's targets and imported CSVs are upserted into it by URL (a row whose URL is new but
whose name is known updates that target: the shop moved); `monitor nightly` crawls every enabled
row. Upserts are bulk statements in one transaction, so a 60,000-row registry imports in seconds,
and rows are checked whole before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, select, update

from monitor.config import Config
from monitor.config import Target as TargetSpec
from monitor.errors import TargetsFileError
from monitor.store.models import Target

FIELDS = ("name", "url", "kind", "platform", "region", "credit_code", "enabled")
OPTIONS = ("render", "obey_robots", "allowed_hosts", "delay", "page_budget")


def spec_row(spec: TargetSpec) -> dict:
    """A config.yaml target as a row of the targets table."""
    row = {f: getattr(spec, f) for f in FIELDS}
    options = {k: getattr(spec, k) for k in OPTIONS if getattr(spec, k) not in (None, False)}
    row["options"] = options or None
    return row


def as_spec(target: Target) -> TargetSpec:
    """A row of the targets table as the crawl runner takes it."""
    options = target.options or {}
    return TargetSpec(
        name=target.name,
        url=target.url,
        kind=target.kind or "site",
        enabled=bool(target.enabled),
        platform=target.platform,
        region=target.region,
        credit_code=target.credit_code,
        **{k: options.get(k, False if k == "render" else None) for k in OPTIONS},
    )


def check_rows(rows: list[dict], file: str) -> None:
    """Refuse a registry that names one URL twice (line numbers from the parser)."""
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        line = row.get("line", i + 2)
        if row["url"] in seen:
            raise TargetsFileError(
                file, line, f"url {row['url']} is already on line {seen[row['url']]}"
            )
        seen[row["url"]] = line


def upsert_targets(sessions, rows: Iterable[dict], insert_only: bool = False) -> tuple[int, int]:
    """Insert or update targets by URL (else by name) in one transaction. Returns (new, updated).
    A row without "options" keeps the target's options; one without "enabled" keeps its state.
    ``insert_only``: known targets are left as they are (a one-off crawl of a known shop)."""
    with sessions.begin() as s:
        by_url, by_name = {}, {}
        for tid, name, url in s.execute(select(Target.id, Target.name, Target.url)):
            by_url[url] = tid
            by_name[name] = tid
        inserts, updates = [], []
        for row in rows:
            values = {k: row[k] for k in (*FIELDS, "options") if k in row}
            values["kind"] = values.get("kind") or "site"
            for k in ("platform", "region", "credit_code"):
                if k in values:
                    values[k] = values[k] or None
            tid = by_url.get(row["url"]) or by_name.get(row["name"])
            if tid is None:
                values.setdefault("enabled", True)
                inserts.append(values)
                by_url[row["url"]] = by_name[row["name"]] = -1
            elif tid > 0 and not insert_only:
                updates.append({"id": tid, **values})
        if inserts:
            s.execute(insert(Target), inserts)
        if updates:
            s.execute(update(Target), updates)
    return len(inserts), len(updates)


def sync_config_targets(sessions, config: Config) -> None:
    """config.yaml's targets into the table (the table is what a run crawls)."""
    if config.targets:
        upsert_targets(sessions, [spec_row(t) for t in config.targets])


def enabled_targets(sessions) -> list[TargetSpec]:
    with sessions() as s:
        rows = s.scalars(select(Target).where(Target.enabled.is_(True)).order_by(Target.id))
        return [as_spec(t) for t in rows]


def find_target(sessions, key: str) -> Target | None:
    """A target by name or URL."""
    with sessions() as s:
        return s.scalar(select(Target).where((Target.name == key) | (Target.url == key)).limit(1))
