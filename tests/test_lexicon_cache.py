"""The compiled lexicon is cached on disk (monitor.lexicon.loader): an edit to a keywords file
is seen at once, and a broken file is still refused, cache or not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.errors import LexiconError
from monitor.lexicon import Matcher, load_lexicon

KEYWORDS = Path(__file__).resolve().parent.parent / "keywords"


@pytest.fixture
def lexicon(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "keywords"
    shutil.copytree(KEYWORDS, folder)
    return folder


def flagged(folder: Path, text: str) -> bool:
    return Matcher(load_lexicon(folder)).match({"title": text, "text": ""}).flagged


def test_an_edited_keywords_file_is_used_at_once(lexicon):
    assert load_lexicon(lexicon) == load_lexicon(lexicon)  # the second from the cache
    assert list((lexicon.parent / "cache" / "marketplace-monitor").glob("lexicon-*.pickle"))
    assert not flagged(lexicon, "全新款蓝莓味猫爪杯")
    path = lexicon / "counterfeit.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("terms:\n", "terms:\n  - 猫爪杯\n", 1), encoding="utf-8")
    assert flagged(lexicon, "全新款蓝莓味猫爪杯")


def test_a_broken_keywords_file_is_refused_after_a_good_load(lexicon):
    load_lexicon(lexicon)
    path = lexicon / "counterfeit.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nseverity: extreme\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="severity"):
        load_lexicon(lexicon)
