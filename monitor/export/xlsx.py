"""XLSX through xlsxwriter: a frozen Chinese header row, filters, column widths, the listing
URL and the evidence (the lead's page in the console, when its address is known) as links, and
dates as real dates.

Crawled text is hostile: every text cell is written as a string (never a formula, number or
link guessed from its content), so "=HYPERLINK(...)" shows as the text it is. Only http(s)
listing URLs become links; control characters, which XML cannot hold, are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

import xlsxwriter

from monitor.export.rows import COLUMNS, headers, lead_row
from monitor.store.models import Lead
from monitor.store.sanitize import strip_controls

FORMAT = "xlsx"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LABEL = "Excel (XLSX)"

MAX_LINKS = 65_000  # Excel keeps at most 65,530 hyperlinks a sheet; the rest stay plain text
MAX_URL = 2_000  # nor URLs longer than 2,079 characters


def write(
    leads: Iterable[Lead],
    out: BinaryIO,
    labels: dict[str, str],
    header: str = "zh",
    console_url: str | None = None,
) -> int:
    book = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    sheet = book.add_worksheet("线索" if header == "zh" else "leads")
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    link = book.add_format({"font_color": "blue", "underline": 1})
    for col, (column, title) in enumerate(zip(COLUMNS, headers(header), strict=True)):
        sheet.set_column(col, col, column.width)
        sheet.write_string(0, col, title, bold)
    sheet.freeze_panes(1, 0)
    links = 0
    row_no = 0
    for lead in leads:
        row_no += 1
        row = lead_row(lead, labels, header)
        for col, column in enumerate(COLUMNS):
            value = row[column.key]
            if column.kind == "int":
                sheet.write_number(row_no, col, value)
            elif column.kind == "datetime":
                sheet.write_datetime(row_no, col, value.replace(tzinfo=None), when)
            elif value and column.kind in ("url", "evidence") and links < MAX_LINKS:
                target = (
                    _http_link(str(value))
                    if column.kind == "url"
                    else _http_link(f"{console_url.rstrip('/')}/leads/{lead.id}#evidence")
                    if console_url
                    else None
                )
                if target is not None:
                    sheet.write_url(row_no, col, target, link, strip_controls(str(value)))
                    links += 1
                else:
                    sheet.write_string(row_no, col, strip_controls(str(value)))
            else:
                sheet.write_string(row_no, col, strip_controls(str(value)))
    sheet.autofilter(0, 0, max(row_no, 1), len(COLUMNS) - 1)
    book.close()
    return row_no


def _http_link(value: str) -> str | None:
    """An http(s) URL a cell may link to, or None (anything else stays text)."""
    if len(value) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in value):
        return None
    return value if value.lower().startswith(("http://", "https://")) else None
