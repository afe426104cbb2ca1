"""`monitor targets import FILE.csv`: targets from the registry, all rows checked before any is written.

Columns (a header row, Chinese or English names): name/名称, url/网址, kind/类型 (site|storefront),
region/地区, credit_code/统一社会信用代码, enabled/启用. UTF-8 (with or without BOM) or GB18030.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from monitor.config import TARGET_KINDS, check_http_url
from monitor.errors import TargetsFileError
from monitor.license import credit_code_problem

ALIASES = {
    "name": "name",
    "名称": "name",
    "店铺名称": "name",
    "url": "url",
    "网址": "url",
    "kind": "kind",
    "类型": "kind",
    "region": "region",
    "地区": "region",
    "platform": "platform",
    "平台": "platform",
    "credit_code": "credit_code",
    "统一社会信用代码": "credit_code",
    "enabled": "enabled",
    "启用": "enabled",
}


def read_targets_csv(path: str | Path) -> list[dict]:
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TargetsFileError(file, None, f"cannot read: {exc.strerror}") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise TargetsFileError(
            file, 1, "empty file: a header row with name and url is needed"
        ) from None
    columns = []
    for col in header:
        key = ALIASES.get(col.strip().lower()) or ALIASES.get(col.strip())
        if key is None:
            raise TargetsFileError(
                file,
                1,
                f"unknown column {col!r} (known: name, url, kind, platform, region, credit_code, enabled)",
            )
        columns.append(key)
    for needed in ("name", "url"):
        if needed not in columns:
            raise TargetsFileError(file, 1, f"column {needed} is missing")
    rows, names = [], set()
    for lineno, values in enumerate(reader, 2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            raise TargetsFileError(
                file, lineno, f"{len(values)} fields, the header has {len(columns)}"
            )
        row = {k: v.strip() for k, v in zip(columns, values, strict=True)}
        if not row["name"]:
            raise TargetsFileError(file, lineno, "name is empty")
        if row["name"] in names:
            raise TargetsFileError(file, lineno, f"duplicate name {row['name']!r}")
        names.add(row["name"])
        problem = check_http_url(row["url"])
        if problem:
            raise TargetsFileError(file, lineno, f"url: {problem}")
        row["kind"] = row.get("kind") or "site"
        if row["kind"] not in TARGET_KINDS:
            raise TargetsFileError(
                file, lineno, f"kind must be one of {', '.join(TARGET_KINDS)}, not {row['kind']!r}"
            )
        code = row.get("credit_code", "").upper().replace(" ", "")
        if code:
            why = credit_code_problem(code)
            if why:
                raise TargetsFileError(file, lineno, f"credit_code {code}: {why}")
        row["credit_code"] = code or None
        enabled = row.get("enabled", "").lower()
        if enabled not in ("", "true", "false", "1", "0", "yes", "no", "是", "否"):
            raise TargetsFileError(file, lineno, f"enabled must be true or false, not {enabled!r}")
        row["enabled"] = enabled not in ("false", "0", "no", "否")
        row["line"] = lineno
        rows.append(row)
    return rows
