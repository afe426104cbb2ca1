"""A term hits when it is used as what it names: each kind of false lead seen on real titles,
written here as new rows of our own (never the real titles), beside the use that must still hit.
"""

from __future__ import annotations

import pytest

from monitor import PROJECT_ROOT
from monitor.errors import LexiconError
from monitor.lexicon import load_lexicon, matcher_for
from monitor.lexicon.matcher import Matcher


@pytest.fixture(scope="module")
def matcher():
    return matcher_for(PROJECT_ROOT / "keywords")


def cats(matcher, title: str) -> list[str]:
    return matcher.match({"title": title}).categories


# (listing title, the category it must NOT be flagged for) — one row per kind and wording.
NOT_A_LEAD = [
    # a colour, pattern or material name
    ("北欧实木餐边柜 象牙灰 免安装", "prohibited_goods"),
    ("电饭煲内胆 象牙黄 4L", "prohibited_goods"),
    ("阅读器皮套 玳瑁红 磁吸休眠", "prohibited_goods"),
    ("板材眼镜框 玳瑁纹 复古圆框", "prohibited_goods"),
    ("象牙卡纸 250克 四开", "prohibited_goods"),
    ("雪纺连衣裙 烟花印花 法式", "prohibited_goods"),
    ("手机壳 夏日烟花 卡通图案", "prohibited_goods"),
    ("璀璨烟花 红包 过年 现货", "prohibited_goods"),
    # a brand, model or product-line name (2023 guide: registered names and models)
    ("酷冷至尊 机箱 侧透", "absolute_terms"),
    ("SD存储卡 至尊极速 128G 相机用", "absolute_terms"),
    ("商用冷藏展示柜 至尊款 双门", "absolute_terms"),
    ("豪华版 顶级款 按摩椅", "absolute_terms"),
    ("犀牛角XF-30 空调外机罩 防雨", "prohibited_goods"),
    ("手雷造型 高粱白酒 礼盒", "prohibited_goods"),
    ("天下至尊 手游 首充号 折扣充值", "absolute_terms"),
    ("TCL王牌 液晶电视 遥控器", "absolute_terms"),
    ("至尊数码旗舰店 官方直发", "absolute_terms"),
    ("王牌电器有限公司 出品 电热水壶", "absolute_terms"),
    # a word in its everyday sense
    ("万能遥控器 适用各品牌空调", "absolute_terms"),
    ("车载支架 万能通用 出风口", "absolute_terms"),
    ("万能胶 强力粘合 木工", "absolute_terms"),
    ("情侣T恤 独家定制 印字", "absolute_terms"),
    ("医院专用 病人识别腕带 热敏", "false_advertising"),
    ("硅胶胸垫 插片 丰胸聚拢 泳衣用", "false_advertising"),
    ("聚拢美胸文胸 无钢圈 内衣", "false_advertising"),
    ("中堂挂画 天下第一福 卷轴", "absolute_terms"),
    ("资产标签 设备唯一识别码", "absolute_terms"),
    ("一次性刷手服 手术室 分体", "fake_transactions"),
    ("三国水军战船 拼装模型", "fake_transactions"),
    # a trade grade or term that is not fakery
    ("缅甸翡翠A货 平安扣 附鉴定证书", "counterfeit"),
    ("天然A货 冰种 手镯", "counterfeit"),
    ("篮球鞋 2012复刻 白红配色", "counterfeit"),
    ("复刻版 怀旧游戏机 内置经典卡带", "counterfeit"),
    ("复刻版黑胶唱片 经典专辑", "counterfeit"),
    ("主板 超A88 芯片组", "counterfeit"),
    ("睡衣 日单原单 纯棉", "counterfeit"),
    ("快递 签收原单返回", "counterfeit"),
    # a harmless thing named like a dangerous one
    ("婚庆礼花筒 手持 彩带喷筒", "prohibited_goods"),
    ("生日派对 礼花 纸屑 气球套装", "prohibited_goods"),
    ("仿真鞭炮 春节装饰 挂件 绒布", "prohibited_goods"),
    ("电动连发水弹狙击枪 儿童玩具", "prohibited_goods"),
    ("游戏道具礼包 步枪皮肤 兑换码", "prohibited_goods"),
    ("员工卡套牌证 挂绳 透明", "prohibited_goods"),
    ("蝴蝶刀 练习刀 未开刃 训练用", "prohibited_goods"),
    ("儿童吸盘弩 软弹 亲子玩具", "prohibited_goods"),
    ("世界枪械图鉴 精装 百科", "prohibited_goods"),
    ("江豚公仔 毛绒玩具 科普", "prohibited_goods"),
    ("点钞练功券 银行培训 100张", "prohibited_goods"),
    ("真枪实弹 实战演练 培训课程", "prohibited_goods"),
    # a registered name or a statement that is not the claim
    ("版权所有 盗版必究 精装", "counterfeit"),
    ("正品保证 绝无假货 假一赔十", "counterfeit"),
    ("防癌险 百万保额 线上投保", "false_advertising"),
    ("排石颗粒 10袋 中成药", "false_advertising"),
    ("宝宝身高贴 记录长高 墙贴", "false_advertising"),
    # a hit across a word boundary (jieba: 外卖/好评)
    ("外卖好评 便利贴 奶茶店", "fake_transactions"),
]

# The same words used as what they name: these stay leads.
STILL_A_LEAD = [
    ("出售天然象牙 雕件 摆件", "prohibited_goods"),
    ("玳瑁 手镯 老料", "prohibited_goods"),
    ("至尊品质 全网最低价", "absolute_terms"),
    ("本品万能 药到病除", "absolute_terms"),
    ("独家秘制 行业第一", "absolute_terms"),
    ("丰胸精油 快速增大", "false_advertising"),
    ("野葛根美胸霜 一月见效", "false_advertising"),
    ("A货 名牌包包 原版五金", "counterfeit"),
    ("复刻名表 一比一 机芯", "counterfeit"),
    ("复刻 大牌香水", "counterfeit"),
    ("LV原单 皮具 现货", "counterfeit"),
    ("礼花弹 烟花 批发", "prohibited_goods"),
    ("鞭炮 二踢脚 批发", "prohibited_goods"),
    ("烟花 燃放 厂家直销", "prohibited_goods"),
    ("烟花棒 手持 儿童", "prohibited_goods"),
    ("狙击枪 全金属 可发射", "prohibited_goods"),
    ("甩刀 开刃 钢制", "prohibited_goods"),
    ("专业卖好评 店铺提权", "fake_transactions"),
    ("招刷手 日结 手机操作", "fake_transactions"),
    ("网络水军 控评 删帖", "fake_transactions"),
    ("出售 钢弩 狩猎", "prohibited_goods"),
    ("出售 江豚 鲜活", "prohibited_goods"),
    ("盗版光盘 批发", "counterfeit"),
    ("儿童助长高 增高药", "false_advertising"),
    ("好评返现卡 定制", "fake_transactions"),
    ("老年茶 高血糖克星", "false_advertising"),
    ("高倣名錶 男士机械", "counterfeit"),  # 倣 folded to 仿 from Unihan
]


@pytest.mark.parametrize("title, category", NOT_A_LEAD)
def test_a_word_in_another_sense_is_not_a_lead(matcher, title, category):
    assert category not in cats(matcher, title)


@pytest.mark.parametrize("title, category", STILL_A_LEAD)
def test_the_word_used_as_what_it_names_is_still_a_lead(matcher, title, category):
    assert category in cats(matcher, title)


def test_explain_names_the_sense_that_cancels(matcher):
    _, decisions = matcher.explain("万能遥控器 象牙灰 至尊款 2012复刻 翡翠A货 外卖好评")
    reasons = {d.term: d.reason for d in decisions if not d.kept}
    assert "遥控器" in reasons["万能"] and "everyday sense" in reasons["万能"]
    assert "灰 after it" in reasons["象牙"]
    assert "款 after it" in reasons["至尊"]
    assert "2012 before it" in reasons["复刻"]
    assert "not on word boundaries" in reasons["卖好评"]


def write(folder, text: str):
    folder.mkdir(exist_ok=True)
    (folder / "x.yaml").write_text(text, encoding="utf-8")
    return folder


def test_group_sense_and_why_apply_to_every_term_of_the_group(tmp_path):
    kw = write(
        tmp_path / "kw",
        "id: x\nlabel: 测试\nnot_before: [款]\nterms:\n"
        "  - why: 测试依据\n    not_near: [婚庆]\n    within: 4\n    terms: [礼花, 彩炮]\n"
        "  - {term: 彩弹, not_after: ['{year}'], why: 单独依据}\n",
    )
    lex = load_lexicon(kw)
    assert {t.text: t.why for t in lex.terms} == {
        "礼花": "测试依据",
        "彩炮": "测试依据",
        "彩弹": "单独依据",
    }
    m = Matcher(lex)
    assert m.match({"title": "出售彩炮"}).flagged
    assert not m.match({"title": "婚庆彩炮"}).flagged  # the group's company
    assert not m.match({"title": "彩炮款式"}).flagged  # the category's name suffix
    assert not m.match({"title": "2019彩弹"}).flagged and m.match({"title": "彩弹"}).flagged


def test_unknown_placeholder_is_a_one_line_error(tmp_path):
    kw = write(
        tmp_path / "kw", "id: x\nlabel: 测试\nterms:\n  - {term: 彩弹, not_before: ['{colour}']}\n"
    )
    with pytest.raises(LexiconError) as err:
        load_lexicon(kw)
    assert f"{kw / 'x.yaml'}:4" in str(err.value) and "{colour}" in str(err.value)


def test_check_warns_about_short_bare_terms_and_terms_without_why(tmp_path, cli):
    kw = write(
        tmp_path / "kw",
        "id: x\nlabel: 测试\nterms:\n  - {term: 弩, why: 依据}\n  - 彩炮弹\n"
        "  - {term: 礼花, exclusions: [礼花筒], why: 依据}\n",
    )
    result = cli("lexicon", "check", "--dir", kw)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "'弩' is 1 character(s) with no exclusions" in out
    assert "'彩炮弹' has no why" in out
    assert "礼花" not in out  # short, but it says what it is not
