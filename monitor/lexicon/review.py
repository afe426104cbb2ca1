"""`monitor lexicon review FILE.jsonl`: what the lexicon catches in a file of real listings.

A reviewer who adds a term wants to see at once what it flags in real text, not in the rows
they imagined: the flagged listings grouped by term, the term that flags most first, each with
its count, the rule it comes from (``why``) and a few listings shown in context. With
``--dropped``, the candidates that the lexicon's own rules set aside are shown too, by term and
reason, so a new exclusion or company word can be checked against what it cancels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import UserInputError
from monitor.lexicon.matcher import DEFAULT_FIELDS, Matcher, matcher_for, snippet

BATCH = 2000


def read_listings(path: str | Path) -> Iterator[dict]:
    """The records of a JSONL file (``-`` for standard input); a bad line is a one-line error."""
    import sys

    import orjson

    try:
        fh = sys.stdin.buffer if str(path) == "-" else Path(path).open("rb")
    except OSError as exc:
        raise UserInputError(str(path), None, f"cannot read: {exc.strerror}") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise UserInputError(str(path), lineno, f"not a JSON object ({exc})") from None
            if not isinstance(rec, dict):
                raise UserInputError(str(path), lineno, "not a JSON object")
            yield rec


@dataclass
class TermGroup:
    """The listings one term flagged."""

    term: str
    category: str
    why: str
    listings: list[tuple[object, str]] = field(default_factory=list)  # (id, snippet)


def dropped_candidates(
    matcher: Matcher, records: list[dict], fields: tuple[str, ...] = DEFAULT_FIELDS
) -> list[TermGroup]:
    """Candidates set aside (word boundary, exclusion, sense, cue), grouped by term and reason."""
    groups: dict[tuple[str, str, str], TermGroup] = {}
    for rec in records:
        for name in fields:
            value = rec.get(name)
            if not value or not isinstance(value, str):
                continue
            norm, decisions = matcher.explain(value, name)
            for d in decisions:
                if d.kept:
                    continue
                reason = d.reason.split(":")[0]  # the kind of reason, not its detail
                key = (d.term, d.category, reason)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = TermGroup(d.term, d.category, reason)
                group.listings.append((rec.get("id"), snippet(value, d.start, d.end)))
    return sorted(groups.values(), key=lambda g: (-len(g.listings), g.category, g.term))


def review(matcher: Matcher, records: Iterator[dict]) -> tuple[int, int, list[TermGroup]]:
    """(listings read, listings flagged, groups most frequent first)."""
    why = {(t.canonical, t.category): t.why or "" for t in matcher.lexicon.terms}
    combos = {c.source: c for c in matcher.lexicon.combos}
    why.update({(c.name, c.category): c.why or c.note or "" for c in combos.values()})
    groups: dict[tuple[str, str], TermGroup] = {}
    total = flagged = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal flagged
        for rec, res in zip(batch, matcher.match_many(batch), strict=True):
            if not res.hits:
                continue
            flagged += 1
            seen = set()
            for hit in res.hits:
                combo = combos.get(hit.rule)
                key = (combo.name if combo else hit.term, hit.category)
                if key in seen:
                    continue  # one listing counts once per term
                seen.add(key)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = TermGroup(key[0], hit.category, why.get(key, ""))
                group.listings.append((rec.get("id"), hit.snippet))
        batch.clear()

    for rec in records:
        total += 1
        batch.append(rec)
        if len(batch) >= BATCH:
            flush()
    flush()
    ordered = sorted(groups.values(), key=lambda g: (-len(g.listings), g.category, g.term))
    return total, flagged, ordered


def run_review(directory: Path, path: str, examples: int = 5, dropped: bool = False) -> int:
    matcher = matcher_for(directory)
    records = list(read_listings(path))
    total, flagged, groups = review(matcher, iter(records))
    share = 100 * flagged / total if total else 0.0
    print(f"{path}: 共 {total} 条，命中 {flagged} 条 ({share:.2f}%)，{len(groups)} 个词")
    for group in groups:
        label = matcher.lexicon.label(group.category)
        print(f"\n{group.term}  [{label}]  {len(group.listings)} 条")
        if group.why:
            print(f"  依据: {group.why}")
        for ident, context in group.listings[:examples]:
            print(f"  {ident}\t{context}")
        if len(group.listings) > examples:
            print(f"  … 另有 {len(group.listings) - examples} 条")
    if dropped:
        print("\n排除的候选 (dropped candidates):")
        for group in dropped_candidates(matcher, records):
            label = matcher.lexicon.label(group.category)
            print(f"\n{group.term}  [{label}]  {len(group.listings)} 条: {group.why}")
            for ident, text in group.listings[:examples]:
                print(f"  {ident}\t{text}")
    return 0
