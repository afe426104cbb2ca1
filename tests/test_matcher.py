"""The matcher: evasions caught, traps left alone, offsets pointing at the original text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import PROJECT_ROOT
from monitor.lexicon import matcher_for
from monitor.lexicon.normalize import normalize

EVAL = PROJECT_ROOT.parent / "shared" / "eval"


@pytest.fixture(scope="module")
def matcher():
    return matcher_for(PROJECT_ROOT / "keywords")


def cats(matcher, title, text=""):
    return matcher.match({"title": title, "text": text}).categories


@pytest.mark.parametrize(
    "text, category",
    [
        ("刷單平臺", "fake_transactions"),  # traditional script
        ("刷*单兼职", "fake_transactions"),  # symbol between characters
        ("刷 单 平 台", "fake_transactions"),  # every character spaced apart
        ("好评\u200b返现", "fake_transactions"),  # zero-width space
        ("好\u2060评\ufeff返\u200d现", "fake_transactions"),  # several zero-width kinds
        ("ＳＨＵＡ单 全网最低价", "fake_transactions"),  # full-width Latin and case
        ("１:１ 精仿 手袋", "counterfeit"),  # full-width digits
        ("複刻名錶", "counterfeit"),
        ("蒙·汗·药", "prohibited_goods"),
        ("钢珠槍 全金屬", "prohibited_goods"),
        ("高倣名錶", "counterfeit"),  # variant character OpenCC keeps (倣, from Unihan)
        ("祖傳秘方 一貼根治", "false_advertising"),
        ("頂級茶葉", "absolute_terms"),
        ("⾼仿包", "counterfeit"),  # Kangxi radical 高
    ],
)
def test_evasions_are_caught(matcher, text, category):
    assert category in cats(matcher, text)


@pytest.mark.parametrize(
    "text",
    [
        "电动牙刷单价 买二送一",  # word boundary: 牙刷/单价
        "牙刷 单只装",  # a space between real words stays a boundary
        "拒绝刷单 诚信经营",  # negation cue before
        "刷单返利是诈骗，切勿相信",  # warning cue after
        "高仿真盆栽 家居摆件",  # exclusion
        "象牙白 衣柜",
        "门店特供应季水果",
        "第一口奶 婴儿奶粉",
        "第一中学 校服",
        "最佳食用期见包装",  # consumer tip, per the 2023 guide
        "国家级非物质文化遗产 传统工艺",
        "1:12 微缩模型",
        "水枪 儿童戏水",
        "烟花烫 卷发棒",
        "金箔画 装饰",
        "迷你药箱 家用收纳",
        "最近上新 秋冬款",
    ],
)
def test_traps_are_not_flagged(matcher, text):
    assert cats(matcher, text) == []


def test_combination_rule_needs_both_words_near(matcher):
    assert "prohibited_goods" in cats(matcher, "银箔蛋糕 装饰", "可食用银箔")
    assert "prohibited_goods" in cats(matcher, "装饰金箔 撒在蛋糕上")
    assert cats(matcher, "金箔 装饰画") == []


def test_offsets_and_snippet_point_at_the_original_text(matcher):
    text = "本店新品：刷\u200b/ 單，日结。"
    hits = matcher.match({"text": text}).hits
    hit = next(h for h in hits if h.category == "fake_transactions")
    assert text[hit.start : hit.end] == "刷\u200b/ 單"
    assert "刷" in hit.snippet and hit.field == "text"


def test_explain_says_why(matcher):
    _, decisions = matcher.explain("电动牙刷单价 拒绝刷单 高仿包")
    dropped = [d.reason for d in decisions if d.term == "刷单" and not d.kept]
    assert any("not on word boundaries" in r for r in dropped)
    assert any("negation cue" in r for r in dropped)
    assert any(d.category == "counterfeit" and d.kept for d in decisions)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_normalisation_never_crashes_and_offsets_stay_in_range(text):
    norm = normalize(text)
    for i in range(len(norm.text)):
        assert 0 <= norm.to_orig(i) < max(1, len(text))
    for start in range(0, len(norm.text), 7):
        s, e = norm.span(start, min(len(norm.text), start + 3))
        assert 0 <= s <= e <= len(text)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("刷单高仿牙电动 ·*\u200b拒绝好评返现最佳第一口奶槍單")),
        max_size=40,
    )
)
def test_hits_always_map_to_original_text(text):
    m = matcher_for(PROJECT_ROOT / "keywords")
    for hit in m.match({"title": text}).hits:
        assert 0 <= hit.start < hit.end <= len(text)


def score(corpus: Path, *extra: str) -> subprocess.CompletedProcess:
    """shared/eval/score.py over ``corpus`` with `monitor scan`, at precision and recall 0.97."""
    if not (EVAL / "score.py").exists():
        pytest.skip("shared/eval is not beside the project")
    cmd = [
        sys.executable,
        str(EVAL / "score.py"),
        str(corpus),
        "--cmd",
        f"{sys.executable} -m monitor.cli scan",
        "--min-precision",
        "0.97",
        "--min-recall",
        "0.97",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)


def test_scan_contract_and_dev_corpus_score():
    result = score(EVAL / "dev_listings.jsonl", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trap 18/18" in result.stdout


def test_other_wordings_of_the_same_kinds():
    """A second labelled set written apart from the dev corpus (same kinds, other wording)."""
    result = score(PROJECT_ROOT / "tests" / "fixtures" / "probe_listings.jsonl")
    assert result.returncode == 0, result.stdout + result.stderr


def test_scan_output_lines(tmp_path, cli):
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "title": "淘宝刷单", "text": ""}, ensure_ascii=False)
        + "\n"
        + json.dumps({"id": 7, "title": "羽绒服", "text": "白鸭绒"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    result = cli("scan", src)
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert lines[0]["id"] == "a" and lines[0]["categories"] == ["fake_transactions"]
    assert all({"term", "category", "field", "start", "end"} <= set(h) for h in lines[0]["hits"])
    assert {"term": "刷单", "field": "title", "start": 2, "end": 4} in [
        {k: h[k] for k in ("term", "field", "start", "end")} for h in lines[0]["hits"]
    ]
    assert lines[1] == {"id": 7, "categories": [], "hits": []}


def test_scan_bad_line_is_one_line_error(tmp_path, cli):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": 1, "title": "x"}\n{oops\n', encoding="utf-8")
    result = cli("scan", src)
    assert result.returncode == 2 and f"{src}:2:" in result.stderr


def test_lexicon_error_names_file_and_line(tmp_path, cli):
    bad = tmp_path / "kw"
    bad.mkdir()
    (bad / "x.yaml").write_text(
        "id: x\nlabel: 测试\nterms:\n  - {term: 刷单, colour: red}\n", encoding="utf-8"
    )
    result = cli("lexicon", "check", "--dir", bad)
    assert result.returncode == 2 and f"{bad / 'x.yaml'}:4" in result.stdout + result.stderr
