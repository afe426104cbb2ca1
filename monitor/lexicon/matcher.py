"""Match listings against the lexicon: Aho-Corasick for candidates, jieba for word boundaries.

For each record, every field is normalised (:mod:`.normalize`), the fields of a whole batch
are joined and scanned in one Aho-Corasick pass, and only the fields with a candidate get
Python-level work:

1. boundary: the clause around the candidate is segmented by jieba with its own dictionary
   (not extended with the lexicon's terms, which would make every term a word wherever it
   stands); the candidate must be a word or a run of words, so 电动牙刷单价 (电动/牙刷/单价)
   holds no 刷单 and 外卖好评 (外卖/好评) no 卖好评;
2. sense: a context listed for the term, its group or its category that contains the candidate
   cancels it (象牙白 for 象牙, 特供应 for 特供), and so does a word right after or before it
   that makes it a name, colour or model (至尊款, 象牙灰, 2005复刻), or company nearby that
   gives it its everyday sense (万能遥控器, 婚庆礼花, 翡翠a货);
3. cues: a negation cue just before the candidate (拒绝, 严禁, 谨防 ...) or a warning cue just
   after it (是诈骗, 骗局 ...), within the same clause, cancels it.

Combination rules make a hit when a word of each list stands within N characters.
The same code path serves ``monitor scan``, the match pipeline and ``monitor lexicon explain``.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import ahocorasick_rs

from monitor.lexicon.loader import PATTERNS, Combo, Lexicon, Sense, Term, load_lexicon
from monitor.lexicon.normalize import HAN, Normalized, fold_and_flag, normalize

DEFAULT_FIELDS = ("title", "text")
SNIPPET_CONTEXT = 15
CLAUSE_MAX = 24
# What ends a clause: sentence punctuation, brackets, whitespace and line breaks.
_RE_CLAUSE_END = re.compile(r"[\s,.;:!?，。；：！？、()\[\]{}<>（）【】《》〈〉「」『』\"“”‘’|/]")
_RE_HAN = re.compile(f"[{HAN}]")
_SEP = "\x00"
_RE_SEP = re.compile(_SEP)

T_TERM, T_COMBO, T_EXCL, T_NEG, T_WARN, T_NEAR = range(6)
NAME_REACH = 12  # how far back a not_after word or year is looked for


@dataclass
class Hit:
    """One kept match: offsets are into the original field text, end exclusive."""

    term: str
    category: str
    field: str
    start: int
    end: int
    snippet: str = ""
    rule: str = ""

    def as_dict(self) -> dict:
        return {
            "term": self.term,
            "category": self.category,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "snippet": self.snippet,
            "rule": self.rule,
        }


@dataclass
class MatchResult:
    hits: list[Hit] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        return sorted({h.category for h in self.hits})

    @property
    def flagged(self) -> bool:
        return bool(self.hits)


@dataclass(frozen=True)
class CompiledSense:
    """A term's sense (its own, its group's and its category's) ready for matching."""

    exclusions: frozenset[str]
    before: re.Pattern | None  # what, right after the term, makes it a name, colour or model
    after: re.Pattern | None  # the same, right before it
    near: frozenset[str]  # company that gives it its everyday sense …
    within: int  # … within this many characters either side


@dataclass
class Decision:
    """What ``explain`` reports for one candidate."""

    field: str
    term: str
    category: str
    start: int
    end: int
    kept: bool
    reason: str


class Matcher:
    """A compiled lexicon. Build once per process (see :func:`matcher_for`)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        # Two automata: words that can make a hit (scanned over everything), and the context
        # that can cancel one (scanned only over fields that have a candidate).
        words: dict[str, list[tuple]] = {}
        for term in lexicon.terms:
            words.setdefault(term.key, []).append((T_TERM, term))
        for idx, combo in enumerate(lexicon.combos):
            for side, parts in ((0, combo.left), (1, combo.right)):
                for w in parts:
                    words.setdefault(w, []).append((T_COMBO, (idx, side)))
        context: dict[str, list[tuple]] = {}
        exclusion_keys = {x for t in lexicon.terms for x in t.exclusions}
        exclusion_keys |= {x for c in lexicon.combos for x in c.exclusions}
        exclusion_keys |= {x for c in lexicon.categories.values() for x in c.exclusions}
        for x in exclusion_keys:
            context.setdefault(x, []).append((T_EXCL, x))
        for cue in lexicon.negation_before:
            context.setdefault(cue, []).append((T_NEG, cue))
        for cue in lexicon.warning_after:
            context.setdefault(cue, []).append((T_WARN, cue))
        company = {w for t in lexicon.terms for w in t.sense.not_near}
        company |= {w for c in lexicon.categories.values() for w in c.sense.not_near}
        for w in company:
            context.setdefault(w, []).append((T_NEAR, w))
        self._words = _automaton(words)
        self._context = _automaton(context)
        self._tokenizer = None
        self._cut = lru_cache(maxsize=65536)(self._cut_uncached)
        self._senses: dict[int, CompiledSense] = {}  # by id(term), see _sense_of

    # -- jieba ----------------------------------------------------------------------------

    @property
    def tokenizer(self):
        """jieba with its own dictionary; loaded on the first candidate."""
        if self._tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.initialize()
            self._tokenizer = tok
        return self._tokenizer

    def _cut_uncached(self, clause: str) -> frozenset[int]:
        """Offsets of the word boundaries jieba finds in ``clause`` (cached per clause)."""
        bounds = {0}
        pos = 0
        for token in self.tokenizer.cut(clause, HMM=False):
            pos += len(token)
            bounds.add(pos)
        return frozenset(bounds)

    def segment(self, clause: str) -> list[str]:
        """jieba's words for a clause, as the boundary check sees them."""
        return list(self.tokenizer.cut(clause, HMM=False))

    # -- matching -------------------------------------------------------------------------

    def match(self, fields: Mapping[str, str], names: Iterable[str] | None = None) -> MatchResult:
        """Match one record's fields (by default title and text)."""
        return self.match_many([fields], names)[0]

    def match_many(
        self, records: list[Mapping[str, str]], names: Iterable[str] | None = None
    ) -> list[MatchResult]:
        """Match a batch of records in one scan; the order of results follows ``records``.

        The fields of the whole batch are joined with NUL (scrubbed from the fields first, so
        nothing spans two fields), folded and scanned at once; only fields with a candidate
        are normalised again on their own and verified.
        """
        names = tuple(names or DEFAULT_FIELDS)
        results = [MatchResult() for _ in records]
        if self._words is None:
            return results
        texts: list[str] = []
        owners: list[tuple[int, str]] = []
        for r, rec in enumerate(records):
            for name in names:
                value = rec.get(name)
                if value and isinstance(value, str):
                    texts.append(value.replace(_SEP, " ") if _SEP in value else value)
                    owners.append((r, name))
        if not texts:
            return results
        folded, flagged = fold_and_flag(_SEP + _SEP.join(texts))
        separators = [
            m.start() for m in _RE_SEP.finditer(folded)
        ]  # field f starts after separators[f]
        candidates = self._candidate_fields(folded, separators)
        # Fields where deletions (fillers, zero-width, spaced-out characters) may hide a term
        # are normalised on their own and scanned again.
        suspicious = {bisect.bisect_right(separators, int(pos)) - 1 for pos in flagged} - candidates
        normalized = {f: normalize(texts[f]) for f in suspicious}
        candidates |= {
            f for f, norm in normalized.items() if self._candidate_fields(norm.text, [-1])
        }
        for f in sorted(candidates):
            r, name = owners[f]
            field_norm = normalized.get(f) or normalize(texts[f])
            results[r].hits.extend(
                self._verify(field_norm, name, self._occurrences(field_norm.text), None)
            )
        return results

    def _candidate_fields(self, text: str, separators: list[int]) -> set[int]:
        """Fields of ``text`` holding a term, or both halves of a combination rule.

        ``separators`` are the positions before each field (``[-1]`` for a single field)."""
        fields: set[int] = set()
        halves: dict[tuple[int, int], int] = {}  # (field, combo) -> sides seen, as bits
        ac, info = self._words
        for idx, start, _ in ac.find_matches_as_indexes(text, overlapping=True):
            _, has_term, sides = info[idx]
            f = bisect.bisect_right(separators, start) - 1
            if has_term:
                fields.add(f)
            for combo, side in sides:
                bits = halves.get((f, combo), 0) | (1 << side)
                halves[(f, combo)] = bits
                if bits == 3:
                    fields.add(f)
        return fields

    def _occurrences(self, text: str) -> list[tuple[int, int, tuple]]:
        occ = []
        for automaton in (self._words, self._context):
            if automaton is not None:
                ac, info = automaton
                for idx, start, end in ac.find_matches_as_indexes(text, overlapping=True):
                    occ.append((start, end, info[idx][0]))
        occ.sort(key=lambda o: (o[0], o[1]))
        return occ

    def explain(self, text: str, name: str = "text") -> tuple[Normalized, list[Decision]]:
        """Every candidate in ``text`` and why it was kept or dropped."""
        norm = normalize(text)
        decisions: list[Decision] = []
        self._verify(norm, name, self._occurrences(norm.text), decisions)
        return norm, decisions

    # -- verification ---------------------------------------------------------------------

    def _clause(self, text: str, start: int, end: int) -> tuple[int, int]:
        lo = start
        while lo > 0 and start - lo < CLAUSE_MAX and not _RE_CLAUSE_END.match(text, lo - 1):
            lo -= 1
        hi = end
        while hi < len(text) and hi - end < CLAUSE_MAX and not _RE_CLAUSE_END.match(text, hi):
            hi += 1
        return lo, hi

    def _on_boundaries(
        self, text: str, start: int, end: int, explain: bool = False
    ) -> tuple[bool, str]:
        key = text[start:end]
        if not _RE_HAN.search(key):
            before = text[start - 1] if start > 0 else " "
            after = text[end] if end < len(text) else " "
            ok = not (before.isalnum() and key[0].isalnum()) and not (
                after.isalnum() and key[-1].isalnum()
            )
            return ok, "" if ok else "part of a longer word or number"
        lo, hi = self._clause(text, start, end)
        bounds = self._cut(text[lo:hi])
        if start - lo in bounds and end - lo in bounds:
            return True, ""
        if not explain:
            return False, "not on word boundaries"
        return False, f"not on word boundaries: {'/'.join(self.segment(text[lo:hi]))}"

    def _cancelled(
        self, text: str, start: int, end: int, exclusions: set[str] | frozenset[str], occ: list
    ) -> str:
        """Why the span is cancelled by context, or '' when it stands."""
        window = self.lexicon.cue_window
        for s, e, payload in occ:
            for kind, data in payload:
                if (
                    kind == T_EXCL
                    and data in exclusions
                    and s <= start
                    and e >= end
                    and (s, e) != (start, end)
                ):
                    return f"exclusion {data}"
                if (
                    kind == T_NEG
                    and e <= start
                    and start - e <= window
                    and not _RE_CLAUSE_END.search(text, e, start)
                ):
                    return f"negation cue {data} before it"
                if (
                    kind == T_WARN
                    and s >= end
                    and s - end <= window
                    and not _RE_CLAUSE_END.search(text, end, s)
                ):
                    return f"warning cue {data} after it"
        return ""

    def _sense_of(self, term: Term) -> CompiledSense:
        """The term's sense with its category's, its name patterns compiled (cached)."""
        found = self._senses.get(id(term))
        if found is None:
            sense: Sense = self.lexicon.categories[term.category].sense + term.sense
            before = _alternation(sense.not_before)
            after = _alternation(sense.not_after)
            found = self._senses[id(term)] = CompiledSense(
                frozenset(sense.exclusions),
                re.compile(f"(?:{before})") if before else None,
                re.compile(f"(?:{after})$") if after else None,
                frozenset(sense.not_near),
                sense.reach,
            )
        return found

    def _other_sense(self, text: str, start: int, end: int, sense: CompiledSense, occ: list) -> str:
        """Why the word at [start, end) is used in another sense, or '' when it is not."""
        if sense.before is not None:
            m = sense.before.match(text, end)
            if m:
                return f"part of a name, colour or model: {m.group()} after it"
        if sense.after is not None:
            m = sense.after.search(text, max(0, start - NAME_REACH), start)
            if m:
                return f"part of a name, colour or model: {m.group()} before it"
        if sense.near:
            for s, e, payload in occ:
                if s > end + sense.within:
                    break
                if e < start - sense.within or (s, e) == (start, end):
                    continue
                for kind, data in payload:
                    if kind == T_NEAR and data in sense.near:
                        return f"everyday sense: {data} near it"
        return ""

    def _verify(
        self, norm: Normalized, name: str, occ: list, trace: list[Decision] | None
    ) -> list[Hit]:
        text = norm.text
        hits: list[Hit] = []
        seen: set[tuple] = set()
        categories = self.lexicon.categories

        def keep(term: str, category: str, rule: str, start: int, end: int) -> None:
            o_start, o_end = norm.span(start, end)
            key = (category, o_start, o_end)
            if key in seen:
                return
            seen.add(key)
            hits.append(
                Hit(
                    term,
                    category,
                    name,
                    o_start,
                    o_end,
                    snippet(norm.original, o_start, o_end),
                    rule,
                )
            )

        def decide(term: str, category: str, start: int, end: int, ok: bool, reason: str) -> None:
            if trace is not None:
                o_start, o_end = norm.span(start, end)
                trace.append(Decision(name, term, category, o_start, o_end, ok, reason or "kept"))

        combo_parts: dict[int, list[tuple[int, int, int]]] = {}
        for s, e, payload in occ:
            for kind, data in payload:
                if kind == T_TERM:
                    term: Term = data
                    ok, reason = self._on_boundaries(text, s, e, trace is not None)
                    if ok:
                        sense = self._sense_of(term)
                        reason = self._cancelled(text, s, e, sense.exclusions, occ)
                        reason = reason or self._other_sense(text, s, e, sense, occ)
                        ok = not reason
                    decide(term.text, term.category, s, e, ok, reason)
                    if ok:
                        keep(term.canonical, term.category, term.source, s, e)
                elif kind == T_COMBO:
                    idx, side = data
                    combo_parts.setdefault(idx, []).append((s, e, side))
        for idx, parts in combo_parts.items():
            combo: Combo = self.lexicon.combos[idx]
            lefts = [(s, e) for s, e, side in parts if side == 0]
            rights = [(s, e) for s, e, side in parts if side == 1]
            for ls, le in lefts:
                for rs, re_ in rights:
                    gap = rs - le if rs >= le else ls - re_
                    if gap < 0 or gap > combo.within:
                        continue
                    if "\n" in text[min(le, re_) : max(ls, rs)]:
                        continue
                    start, end = min(ls, rs), max(le, re_)
                    label = f"{text[ls:le]}+{text[rs:re_]}"
                    reason = ""
                    for ps, pe in ((ls, le), (rs, re_)):
                        ok, why = self._on_boundaries(text, ps, pe, trace is not None)
                        if not ok:
                            reason = f"{text[ps:pe]} {why}"
                            break
                    if not reason:
                        excl = set(combo.exclusions) | set(categories[combo.category].exclusions)
                        reason = self._cancelled(text, ls, le, excl, occ) or self._cancelled(
                            text, rs, re_, excl, occ
                        )
                    decide(label, combo.category, start, end, not reason, reason)
                    if not reason:
                        keep(label, combo.category, combo.source, start, end)
        return hits


def _alternation(words: tuple[str, ...]) -> str:
    """A regex alternation of literal words and placeholders ({model}, {year}), longest first."""
    parts = sorted({PATTERNS.get(w) or re.escape(w) for w in words}, key=len, reverse=True)
    return "|".join(parts)


def _automaton(entries: dict[str, list[tuple]]):
    """An Aho-Corasick automaton over the keys, and per key: (payload, has_term, combo sides)."""
    if not entries:
        return None
    keys = list(entries)
    info = []
    for key in keys:
        payload = tuple(entries[key])
        has_term = any(kind == T_TERM for kind, _ in payload)
        sides = tuple(data for kind, data in payload if kind == T_COMBO)
        info.append((payload, has_term, sides))
    return ahocorasick_rs.AhoCorasick(keys), info


def snippet(text: str, start: int, end: int, context: int = SNIPPET_CONTEXT) -> str:
    """The hit with some text either side, on one line."""
    lo, hi = max(0, start - context), min(len(text), end + context)
    out = ("…" if lo > 0 else "") + text[lo:hi] + ("…" if hi < len(text) else "")
    return " ".join(out.split())


@lru_cache(maxsize=4)
def _cached(directory: str, stamp: tuple) -> Matcher:
    return Matcher(load_lexicon(directory))


def matcher_for(directory: str | Path) -> Matcher:
    """The matcher for a lexicon folder, rebuilt when any of its files changes."""
    directory = Path(directory)
    stamp = (
        tuple(
            sorted(
                (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in directory.glob("*.y*ml")
            )
        )
        if directory.is_dir()
        else ()
    )
    return _cached(str(directory), stamp)
