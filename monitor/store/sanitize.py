"""Crawled text is hostile: make it inert wherever an analyst reads it.

- a spreadsheet runs a cell starting with = + - @ (or a tab or carriage return) as a formula;
- a terminal obeys escape sequences (ESC[2J clears the screen, OSC 8 hides a link);
- bidirectional overrides (U+202E) make a file name or URL read backwards.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def strip_controls(text: str) -> str:
    """Drop control characters (keeping tab and newline) and bidi overrides."""
    return _CONTROL.sub("", text)


def safe_cell(value) -> str:
    """Text a spreadsheet shows as text, never runs."""
    text = "" if value is None else str(value)
    text = _CONTROL.sub("", text.replace("\t", " ") if text[:1] != "\t" else text)
    if text[:1] in _FORMULA_START or (text[:1] == " " and text.lstrip()[:1] in _FORMULA_START):
        text = "'" + text
    return text


def printable(value) -> str:
    """Text safe to print to a terminal, on one line."""
    text = "" if value is None else str(value)
    return " ".join(strip_controls(text).split()) if "\n" in text else strip_controls(text)
