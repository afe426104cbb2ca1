"""Listing text with its hits marked, built from the hits' offsets.

The text is cut into plain and marked segments; the template escapes every segment, so a
title carrying markup shows as the characters it is. Offsets that do not fit the text (a hit
from an older version of the listing) are skipped rather than trusted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Segment:
    text: str
    hit: bool = False
    note: str = ""  # the terms marked here, for the tooltip


def segments(text: str, hits: list[dict], field: str, labels: dict[str, str]) -> list[Segment]:
    spans: list[tuple[int, int, str]] = []
    for hit in hits or []:
        if hit.get("field") != field:
            continue
        start, end = hit.get("start"), hit.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            continue
        if not 0 <= start < end <= len(text):
            continue
        category = labels.get(hit.get("category", ""), hit.get("category", ""))
        spans.append((start, end, f"{hit.get('term', '')}（{category}）"))
    spans.sort()
    merged: list[list] = []
    for start, end, note in spans:
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if note not in last[2]:
                last[2].append(note)
        else:
            merged.append([start, end, [note]])
    out: list[Segment] = []
    pos = 0
    for start, end, notes in merged:
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(Segment(text[start:end], True, "、".join(notes)))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return out
