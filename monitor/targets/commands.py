"""`monitor targets list|import|enable|disable|remove`: the bodies behind monitor.cli."""

from __future__ import annotations

import csv
import sys

from sqlalchemy import delete, func, select, update

from monitor.errors import UserInputError
from monitor.store.models import EntityRecord, Listing, Target
from monitor.targets import check_rows, find_target, sync_config_targets, upsert_targets

LICENCE_LABELS = {"ok": "已亮照", "missing": "未亮照", "invalid": "信息有误", None: "未检查"}
COLUMNS = (
    ("名称", "name"),
    ("网址", "url"),
    ("类型", "kind"),
    ("平台", "platform"),
    ("地区", "region"),
    ("登记信用代码", "credit_code"),
    ("启用", "enabled"),
    ("亮照状态", "licence"),
    ("公示经营者", "operator"),
    ("公示信用代码", "shown_code"),
    ("ICP备案", "icp"),
    ("检查时间(UTC)", "checked_at"),
)


def import_file(records, path: str) -> str:
    from monitor.targets.csv import read_targets_csv

    rows = read_targets_csv(path)  # every row checked before anything is written
    check_rows(rows, str(path))
    new, updated = upsert_targets(records.sessions, rows)
    return f"已导入 {len(rows)} 个监测对象（新增 {new}，更新 {updated}） imported {len(rows)} target(s)"


def set_enabled(records, key: str, enabled: bool) -> str:
    target = find_target(records.sessions, key)
    if target is None:
        raise UserInputError("targets", None, f"no target named or at {key!r}")
    with records.sessions.begin() as s:
        s.execute(update(Target).where(Target.id == target.id).values(enabled=enabled))
    return f"{'已启用' if enabled else '已停用'} {target.name} ({'enabled' if enabled else 'disabled'})"


def remove(records, key: str) -> str:
    """Remove a target that has no records; one with listings or leads is disabled instead, so no
    lead or its evidence loses its shop."""
    target = find_target(records.sessions, key)
    if target is None:
        raise UserInputError("targets", None, f"no target named or at {key!r}")
    with records.sessions.begin() as s:
        listings = s.scalar(select(func.count()).where(Listing.target_id == target.id))
        if listings:
            s.execute(update(Target).where(Target.id == target.id).values(enabled=False))
            return (
                f"{target.name} 有 {listings} 条商品记录，已停用而不删除 "
                f"(has {listings} listing(s): disabled, not deleted)"
            )
        s.execute(delete(EntityRecord).where(EntityRecord.target_id == target.id))
        s.execute(delete(Target).where(Target.id == target.id))
    return f"已删除 {target.name} (removed)"


def table_rows(records) -> list[dict]:
    out = []
    for target, entity in records.targets_with_entities():
        out.append(
            {
                "name": target.name,
                "url": target.url,
                "kind": target.kind,
                "platform": target.platform or "",
                "region": target.region or "",
                "credit_code": target.credit_code or "",
                "enabled": "是" if target.enabled else "否",
                "licence": LICENCE_LABELS[entity.status if entity else None],
                "operator": (entity.operator or "") if entity else "",
                "shown_code": (entity.credit_code or "") if entity else "",
                "icp": (entity.icp or "") if entity else "",
                "checked_at": f"{entity.seen_at:%Y-%m-%d %H:%M}" if entity else "",
            }
        )
    return out


def list_targets(records, config, fmt: str, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from monitor.store.sanitize import printable, safe_cell

    sync_config_targets(records.sessions, config)  # the config file's targets are listed too
    rows = table_rows(records)
    if fmt == "csv":  # UTF-8 with BOM for Excel; cells a spreadsheet would run are neutralised
        out = sys.stdout
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([label for label, _ in COLUMNS])
        for row in rows:
            writer.writerow([safe_cell(row[key]) for _, key in COLUMNS])
        return
    table = Table(title=f"监测对象 targets ({len(rows)})")
    for label, _ in COLUMNS:
        table.add_column(label)
    for row in rows:
        table.add_row(*(escape(printable(str(row[key]))) for _, key in COLUMNS))
    console.print(table)
