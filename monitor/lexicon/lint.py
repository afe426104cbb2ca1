"""`monitor lexicon check | stats | explain`: what an analyst runs after editing keywords/."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from monitor.errors import LexiconError
from monitor.lexicon.loader import Category, Term, load_lexicon
from monitor.lexicon.matcher import Matcher

SHORT = 2  # a term this short, with nothing saying what it is not, is the usual false lead


def says_what_it_is_not(term: Term, category: Category) -> bool:
    """Whether the term, its group or a rule of its category says what the term is not."""
    cat = category.sense
    return bool(
        term.sense
        or cat.not_before
        or cat.not_after
        or cat.not_near
        or any(term.key in x for x in cat.exclusions)
    )


def warnings(directory: Path) -> list[str]:
    """What a lexicon keeper should look at: terms without a stated reason, and short bare
    terms (one or two characters) that say nothing about what they are not."""
    lex = load_lexicon(directory)
    out = []
    seen = set()
    for t in lex.terms:
        if t.source in seen:
            continue  # a term and its variants share one entry
        seen.add(t.source)
        if not t.why:
            out.append(
                f"{t.source}: term {t.text!r} has no why (the rule or case wording it comes from)"
            )
        if len(t.key) <= SHORT and not says_what_it_is_not(t, lex.categories[t.category]):
            out.append(
                f"{t.source}: term {t.text!r} is {len(t.key)} character(s) with no exclusions, "
                "not_before/not_after or not_near: say what it is not"
            )
    for c in lex.combos:
        if not (c.why or c.note):
            out.append(f"{c.source}: combination {c.name!r} has no why")
    return out


def problems(directory: Path) -> list[str]:
    """Warnings about a loadable lexicon: duplicates, self-cancelling terms, jieba splits."""
    lex = load_lexicon(directory)
    matcher = Matcher(lex)
    out = []
    seen: dict[tuple[str, str], str] = {}
    for t in lex.terms:
        key = (t.category, t.key)
        if key in seen and seen[key] != t.source:
            out.append(f"{t.source}: duplicate term {t.text!r} (also at {seen[key]})")
        seen.setdefault(key, t.source)
    for t in lex.terms:
        excl = set(t.exclusions) | set(lex.categories[t.category].exclusions)
        if t.key in excl:
            out.append(f"{t.source}: term {t.text!r} is also an exclusion, so it can never hit")
    for t in lex.terms:
        if matcher.match({"text": t.text}).categories == []:
            words = "/".join(matcher.segment(t.key))
            out.append(
                f"{t.source}: term {t.text!r} does not hit on its own (jieba: {words}; or an exclusion/cue cancels it)"
            )
    return out


def run_check(directory: Path) -> int:
    """Problems (exit 1) are mistakes; warnings (exit 0) are what a keeper should review."""
    try:
        found = problems(directory)
        warned = warnings(directory)
    except LexiconError as exc:
        print(f"error: {exc}")
        return 2
    for line in found:
        print(line)
    for line in warned:
        print(f"warning: {line}")
    print(f"{len(found)} problem(s), {len(warned)} warning(s) in {directory}")
    return 1 if found else 0


def run_stats(directory: Path) -> int:
    lex = load_lexicon(directory)
    terms = Counter(t.category for t in lex.terms)
    combos = Counter(c.category for c in lex.combos)
    print(
        f"{'category':20} {'label':12} {'terms':>6} {'combos':>6} {'excl':>5} {'sense':>5} "
        f"{'why':>5}  severity"
    )
    for cid, cat in sorted(lex.categories.items()):
        mine = [t for t in lex.terms if t.category == cid]
        excl = len(cat.exclusions) + sum(len(t.exclusions) for t in mine)
        sense = sum(1 for t in mine if says_what_it_is_not(t, cat))
        why = sum(1 for t in mine if t.why)
        print(
            f"{cid:20} {cat.label:12} {terms[cid]:6} {combos[cid]:6} {excl:5} {sense:5} {why:5}"
            f"  {cat.severity}"
        )
    print(
        f"cues: {len(lex.negation_before)} negation, {len(lex.warning_after)} warning (window {lex.cue_window})"
    )
    return 0


def run_explain(directory: Path, text: str) -> int:
    matcher = Matcher(load_lexicon(directory))
    norm, decisions = matcher.explain(text)
    print(f"原文 original:    {text}")
    print(f"归一化 normalised: {norm.text}")
    print(f"分词 words:        {'/'.join(matcher.segment(norm.text))}")
    if not decisions:
        print("无候选 no candidates")
    why = {(t.text, t.category): t.why for t in matcher.lexicon.terms}
    for d in decisions:
        mark = "命中 HIT " if d.kept else "排除 drop"
        print(
            f"  {mark} [{d.category}] {d.term} @ {d.start}-{d.end} '{text[d.start : d.end]}': {d.reason}"
        )
        if d.kept and why.get((d.term, d.category)):
            print(f"           依据: {why[(d.term, d.category)]}")
    return 0
