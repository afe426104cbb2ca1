"""`monitor lexicon review FILE.jsonl`: flagged listings grouped by term, most frequent first."""

from __future__ import annotations

import json


def listings(path, rows):
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def test_review_groups_flagged_listings_by_term(tmp_path, cli):
    src = listings(
        tmp_path / "in.jsonl",
        [
            {"id": "a1", "title": "高仿包 原版五金", "text": ""},
            {"id": "a2", "title": "男士高仿手表", "text": "高仿"},
            {"id": "a3", "title": "高仿皮带", "text": ""},
            {"id": "b1", "title": "淘宝刷单 日结", "text": ""},
            {"id": "c1", "title": "万能遥控器", "text": ""},
            {"id": "c2", "title": "纯棉T恤", "text": ""},
        ],
    )
    result = cli("lexicon", "review", src, "--examples", "2")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "共 6 条，命中 4 条" in out
    # 高仿 flagged three listings (a2 counted once), 刷单 one: most frequent first
    assert out.index("高仿  [假冒伪劣]  3 条") < out.index("刷单  [刷单炒信]  1 条")
    block = out[out.index("高仿  [假冒伪劣]") : out.index("刷单  [刷单炒信]")]
    assert "依据:" in block and "a1\t" in block and "a2\t" in block and "另有 1 条" in block
    assert "c1" not in out and "万能" not in out  # universal remote: not a hit


def test_review_bad_line_is_one_line_error(tmp_path, cli):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": 1, "title": "高仿包"}\n[1, 2]\n', encoding="utf-8")
    result = cli("lexicon", "review", src)
    assert result.returncode == 2 and f"{src}:2:" in result.stderr
    assert "高仿" not in result.stdout


def test_review_dropped_shows_what_the_rules_set_aside(tmp_path, cli):
    src = listings(
        tmp_path / "in.jsonl",
        [
            {"id": "r1", "title": "万能遥控器 适用各品牌", "text": ""},
            {"id": "r2", "title": "电饭煲 象牙灰", "text": ""},
            {"id": "r3", "title": "电动牙刷单价", "text": ""},
        ],
    )
    plain = cli("lexicon", "review", src).stdout
    assert "命中 0 条" in plain and "排除的候选" not in plain
    out = cli("lexicon", "review", src, "--dropped").stdout
    dropped = out[out.index("排除的候选") :]
    assert "万能  [广告法极限用语]  1 条: everyday sense" in dropped and "r1\t" in dropped
    assert "象牙  [禁限售商品]  1 条: part of a name, colour or model" in dropped
    assert "刷单  [刷单炒信]  1 条: not on word boundaries" in dropped
