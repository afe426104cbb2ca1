"""`monitor targets import FILE.csv`: targets from the registry, all rows checked before any is written.

Columns (a header row, Chinese or English names): name/名称, url/网址, kind/类型 (site|storefront),
platform/平台, region/地区, credit_code/统一社会信用代码, enabled/启用; Traditional names
(名稱, 網址, 類型...) are read as their Simplified ones (OpenCC t2s).

The file is read as the registry's tools write it: UTF-8 with or without BOM, GBK/GB18030 or
Big5 (told apart by which reading gives common characters, see :mod:`monitor.extract.encoding`; a
short file has few characters to tell by, so a reading under which the header row names known
columns is preferred), or
Excel's "Unicode text" (UTF-16 with BOM, tab-separated). Every field has a length limit that
fits its column, so a huge or binary field is one error line naming the row, never a traceback.
"""

from __future__ import annotations

import codecs
import csv
import io
from functools import lru_cache
from pathlib import Path

from monitor.config import TARGET_KINDS, TARGET_LENGTHS, check_http_url
from monitor.errors import TargetsFileError
from monitor.extract.encoding import CANDIDATES, choose_encoding
from monitor.extract.license import credit_code_problem

ALIASES = {
    "name": "name",
    "名称": "name",
    "店铺名称": "name",
    "url": "url",
    "网址": "url",
    "kind": "kind",
    "类型": "kind",
    "platform": "platform",
    "平台": "platform",
    "region": "region",
    "地区": "region",
    "credit_code": "credit_code",
    "统一社会信用代码": "credit_code",
    "enabled": "enabled",
    "启用": "enabled",
}
MAX_LENGTH = {**TARGET_LENGTHS, "enabled": 10}
FIELD_LIMIT = max(MAX_LENGTH.values()) * 4  # csv stops reading a field past this
MAX_BYTES = 1024**3  # some 15 million rows
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
TRUE = {"", "true", "1", "yes", "是"}
FALSE = {"false", "0", "no", "否"}


def decode_table(raw: bytes, file: str) -> str:
    """The file's text: by its BOM, else UTF-16 told by its NUL bytes, else UTF-8/GB18030/Big5."""
    bom, encoding = next(((b, e) for b, e in BOMS if raw.startswith(b)), (b"", None))
    raw = raw[len(bom) :]
    if encoding is None:
        head = raw[:4096]
        if head and head.count(b"\x00") * 3 >= len(head):  # UTF-16 without a BOM
            encoding = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        else:
            encoding = _guess_encoding(raw)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        raise TargetsFileError(
            file, line, f"not readable as {encoding} text (byte {exc.start}); save it as UTF-8"
        ) from None


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def column_key(name: str) -> str | None:
    """The column a header cell names (English, Simplified or Traditional Chinese), or None."""
    col = name.strip()
    key = ALIASES.get(col.lower()) or ALIASES.get(col)
    if key is None and col and not col.isascii():
        key = ALIASES.get(_t2s().convert(col))
    return key


def _names_columns(first_line: bytes, encoding: str) -> bool:
    try:
        text = first_line.decode(encoding).strip()
    except UnicodeDecodeError:
        return False
    cells = text.split(_delimiter(text))
    return all(column_key(c) is not None for c in cells)


def _guess_encoding(raw: bytes) -> str:
    """By which reading gives common characters; when that reading makes a non-ASCII header
    row name no known column (a short Big5 file read as GB18030), the reading that does, if
    the whole file decodes under it."""
    guess = choose_encoding(raw, None)
    first = raw.split(b"\n", 1)[0][:4096]
    if first.isascii() or _names_columns(first, guess):
        return guess
    for encoding in CANDIDATES:
        if encoding != guess and _names_columns(first, encoding):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            return encoding
    return guess


def _delimiter(text: str) -> str:
    """Comma, or tab for Excel's "Unicode text" and other tab-separated exports."""
    first = text.split("\n", 1)[0]
    return "\t" if first.count("\t") > first.count(",") else ","


def read_targets_csv(path: str | Path) -> list[dict]:
    file = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_BYTES:
            raise TargetsFileError(file, None, f"{size:,} bytes: too large for a list of targets")
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TargetsFileError(file, None, f"cannot read: {exc.strerror}") from None
    text = decode_table(raw, file)
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise TargetsFileError(file, line, "contains a NUL character: not a text table")
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    return _rows(_records(reader, file), file)


def _records(reader, file: str):
    """(line where the record starts, its fields); a broken record is one error naming its line
    (a quote left open runs on to the end of the file, so csv's own position would not do)."""
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = str(exc)
            if "field larger than field limit" in message:
                message = f"a field is longer than {FIELD_LIMIT} characters"
            raise TargetsFileError(file, start, f"not a valid CSV row: {message}") from None
        yield start, values


def _rows(records, file: str) -> list[dict]:
    try:
        _, header = next(records)
    except StopIteration:
        raise TargetsFileError(
            file, 1, "empty file: a header row with name and url is needed"
        ) from None
    columns = []
    for col in header:
        key = column_key(col)
        if key is None:
            raise TargetsFileError(
                file,
                1,
                f"unknown column {col[:50]!r} (known: name, url, kind, platform, region, "
                "credit_code, enabled)",
            )
        if key in columns:
            raise TargetsFileError(file, 1, f"column {key} appears twice")
        columns.append(key)
    for needed in ("name", "url"):
        if needed not in columns:
            raise TargetsFileError(file, 1, f"column {needed} is missing")
    width = len(columns)
    rows, names = [], set()
    for lineno, values in records:
        if len(values) != width:
            if not any(v.strip() for v in values):
                continue
            raise TargetsFileError(file, lineno, f"{len(values)} fields, the header has {width}")
        row = {k: v.strip() for k, v in zip(columns, values)}  # noqa: B905 - widths checked
        for key, value in row.items():
            if len(value) > MAX_LENGTH[key]:
                raise TargetsFileError(
                    file,
                    lineno,
                    f"{key} is {len(value)} characters long (at most {MAX_LENGTH[key]})",
                )
        name = row["name"]
        if not name:
            if not any(row.values()):
                continue
            raise TargetsFileError(file, lineno, "name is empty")
        if name in names:
            raise TargetsFileError(file, lineno, f"duplicate name {name!r}")
        names.add(name)
        problem = check_http_url(row["url"])
        if problem:
            raise TargetsFileError(file, lineno, f"url: {problem}")
        kind = row["kind"] = row.get("kind") or "site"
        if kind not in TARGET_KINDS:
            raise TargetsFileError(
                file, lineno, f"kind must be one of {', '.join(TARGET_KINDS)}, not {kind!r}"
            )
        code = row.get("credit_code", "").upper().replace(" ", "")
        if code:
            why = credit_code_problem(code)
            if why:
                raise TargetsFileError(file, lineno, f"credit_code {code}: {why}")
        row["credit_code"] = code or None
        enabled = row.get("enabled", "").lower()
        if enabled not in TRUE and enabled not in FALSE:
            raise TargetsFileError(file, lineno, f"enabled must be true or false, not {enabled!r}")
        row["enabled"] = enabled not in FALSE
        row["line"] = lineno
        rows.append(row)
    return rows
