"""Exports an analyst hands on: one module per format (csv, xlsx, jsonl), one code path.

``monitor leads export`` and the console's export buttons both call :func:`export_leads` with a
:class:`~monitor.export.filters.LeadFilter`, so a file holds exactly the rows the console lists.
A format is a module here with FORMAT, MEDIA_TYPE, LABEL, ``write(leads, out, labels, header,
console_url) -> rows`` and, if it writes the review history, HISTORY = True; adding one is
adding its file.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

from sqlalchemy.orm import Session

from monitor.evidence import write_atomic
from monitor.export.filters import LeadFilter, iter_leads
from monitor.export.rows import COLUMNS, STATUS_LABELS, category_labels, lead_row
from monitor.store.models import Lead

__all__ = [
    "COLUMNS",
    "FORMATS",
    "STATUS_LABELS",
    "LeadFilter",
    "category_labels",
    "export_csv",
    "export_file",
    "export_leads",
    "lead_row",
]


def _discover() -> dict[str, ModuleType]:
    formats = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "FORMAT") and hasattr(module, "write"):
            formats[module.FORMAT] = module
    return formats


#: format name ("csv", "xlsx", "jsonl") -> its module
FORMATS: dict[str, ModuleType] = _discover()


def export_leads(
    session: Session,
    lead_filter: LeadFilter,
    fmt: str,
    out: BinaryIO,
    labels: dict[str, str],
    header: str = "zh",
    console_url: str | None = None,
) -> int:
    """Write the leads the filter selects to ``out`` in format ``fmt``; return the row count.

    With ``console_url`` (the console's address) a lead's evidence links to its page there."""
    module = FORMATS[fmt]
    leads = iter_leads(session, lead_filter, history=getattr(module, "HISTORY", False))
    return module.write(leads, out, labels, header, console_url)


def export_file(
    session: Session,
    lead_filter: LeadFilter,
    fmt: str,
    path: str | Path,
    labels: dict[str, str],
    header: str = "zh",
    console_url: str | None = None,
) -> int:
    """As :func:`export_leads`, into ``path``: complete or absent, never half-written."""
    buf = io.BytesIO()
    count = export_leads(session, lead_filter, fmt, buf, labels, header, console_url)
    write_atomic(Path(path), buf.getvalue())
    return count


def export_csv(
    leads: Iterable[Lead], path: str | Path, labels: dict[str, str], header: str = "zh"
) -> int:
    """Write already loaded leads (listing, target and evidence loaded) as CSV to ``path``."""
    buf = io.BytesIO()
    count = FORMATS["csv"].write(leads, buf, labels, header)
    write_atomic(Path(path), buf.getvalue())
    return count
