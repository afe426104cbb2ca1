"""CSV for Excel and LibreOffice: UTF-8 with BOM, CRLF, Chinese headers by default.

Crawled text is hostile: a cell starting with = + - @ (or a tab or carriage return) would run
as a formula in a spreadsheet, so it gets a leading apostrophe; control characters are dropped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import BinaryIO

from monitor.export.rows import COLUMNS, DATETIME_FORMAT, headers, lead_row
from monitor.store.models import Lead
from monitor.store.sanitize import safe_cell

FORMAT = "csv"
MEDIA_TYPE = "text/csv; charset=utf-8"
LABEL = "CSV (Excel)"


def write(
    leads: Iterable[Lead],
    out: BinaryIO,
    labels: dict[str, str],
    header: str = "zh",
    console_url: str | None = None,
) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(headers(header))
    count = 0
    for lead in leads:
        row = lead_row(lead, labels, header)
        writer.writerow(
            [
                row[c.key].strftime(DATETIME_FORMAT)
                if c.kind == "datetime"
                else safe_cell(row[c.key])
                for c in COLUMNS
            ]
        )
        count += 1
    text.flush()
    text.detach()  # leave ``out`` open for the caller
    return count
