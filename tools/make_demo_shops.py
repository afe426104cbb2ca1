"""Write the bundled demo shops (monitor/demo/shops/) from the listings below.

    python tools/make_demo_shops.py

xinyuan/: a UTF-8 shop whose product pages carry schema.org Product in JSON-LD.
hengda/:  a GBK shop with table layout that declares its charset only in a <meta> tag.
Each shop has violating listings and traps that must not be flagged.
"""

import html
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "monitor" / "demo" / "shops"

XINYUAN = [  # (slug, title, description, price, expected categories)
    (
        "watch",
        "瑞士名表 复刻款 男士机械表",
        "一比一复刻，原厂机芯，专柜验货无压力。",
        "899",
        ["counterfeit"],
    ),
    (
        "review",
        "店铺好评返现卡 定制",
        "收货五星好评晒图，好评返现5元，联系客服领取。",
        "0.5",
        ["fake_transactions"],
    ),
    (
        "baijiu",
        "内部特供白酒 53度 500ml",
        "机关专供酒，限量发售，送礼有面子。",
        "1280",
        ["prohibited_goods"],
    ),
    ("moxa", "艾灸贴 颈椎 肩周", "祖传秘方，一贴见效，根治风湿骨病。", "59", ["false_advertising"]),
    ("tea", "明前龙井 新茶", "顶级茶叶，国家级工艺，口感最佳。", "368", ["absolute_terms"]),
    ("toothbrush", "声波电动牙刷 家用", "电动牙刷单价 199 元，买二送一，软毛护龈。", "199", []),
    ("wardrobe", "象牙白 三门衣柜", "E0级板材，环保无味，免费上门安装。", "1599", []),
    ("milk", "婴儿配方奶粉 1段", "宝宝第一口奶，正品行货，最佳食用期见包装。", "268", []),
    ("kettle", "不锈钢电热水壶 1.7L", "304不锈钢内胆，自动断电。", "89", []),
]
HENGDA = [
    ("gun", "仿真枪 金属 可发射", "全金属仿真手枪，送钢珠弹。", "680", ["prohibited_goods"]),
    ("knife", "户外弹簧刀 折叠", "弹簧刀 一键弹出，锋利开刃。", "120", ["prohibited_goods"]),
    ("drops", "催情水 女用 速效", "无色无味，快递隐蔽包装。", "98", ["prohibited_goods"]),
    ("seal", "办证刻章 各类证件", "专业办假证，毕业证、身份证加急。", "300", ["prohibited_goods"]),
    ("watergun", "儿童水枪 大号", "儿童戏水玩具，射程远，大容量。", "39", []),
    ("plant", "高仿真盆栽 客厅摆件", "仿真绿植，免浇水，家居装饰。", "75", []),
    ("curler", "烟花烫 卷发棒", "陶瓷涂层 负离子 不伤发。", "129", []),
    ("wrench", "活动扳手 8寸", "铬钒钢，开口大。", "25", []),
]


def jsonld_page(title, desc, price):
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": title,
        "description": desc,
        "offers": {"@type": "Offer", "price": price, "priceCurrency": "CNY"},
    }
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)} - 鑫源优选商城</title>
<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script></head>
<body><header><a href="/index.html">鑫源优选商城</a></header>
<main class="product"><h1>{html.escape(title)}</h1><p class="price">￥{price}</p>
<div class="description">{html.escape(desc)}</div></main>
<footer>本店承诺：拒绝刷单，诚信经营。<a href="/about.html">关于我们</a></footer></body></html>
"""


def write_xinyuan():
    d = ROOT / "xinyuan"
    (d / "item").mkdir(parents=True, exist_ok=True)
    links = []
    for slug, title, desc, price, _ in XINYUAN:
        (d / "item" / f"{slug}.html").write_text(jsonld_page(title, desc, price), encoding="utf-8")
        links.append(f'<li><a href="/item/{slug}.html">{html.escape(title)}</a> ￥{price}</li>')
    index = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>鑫源优选商城</title></head>
<body><h1>鑫源优选商城</h1><ul>{"".join(links)}</ul>
<p><a href="http://127.0.0.1:9/elsewhere.html">友情链接（站外）</a></p>
<footer><a href="/about.html">关于我们</a> 经营者：福州鑫源商贸有限公司 统一社会信用代码：91350100M000100Y43
闽ICP备2023012345号-1</footer></body></html>
"""
    (d / "index.html").write_text(index, encoding="utf-8")
    (d / "about.html").write_text(
        """<!doctype html><html><head><meta charset="utf-8"><title>关于我们</title></head>
<body><p>鑫源优选商城，拒绝刷单，诚信经营。</p><a href="/index.html">首页</a></body></html>
""",
        encoding="utf-8",
    )


def table_page(title, desc, price):
    return f"""<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk">
<title>{title} - 恒达五金批发</title></head><body>
<table width="760" border="0"><tr><td><a href="../index.html">恒达五金批发</a></td></tr>
<tr><td><h1>{title}</h1></td></tr>
<tr><td><table border="1"><tr><td>商品名称</td><td>{title}</td></tr>
<tr><td>价格</td><td>￥{price}</td></tr><tr><td>说明</td><td>{desc}</td></tr></table></td></tr>
</table></body></html>
"""


def write_hengda():
    d = ROOT / "hengda"
    (d / "goods").mkdir(parents=True, exist_ok=True)
    rows = []
    for slug, title, desc, price, _ in HENGDA:
        (d / "goods" / f"{slug}.html").write_bytes(table_page(title, desc, price).encode("gbk"))
        rows.append(f'<tr><td><a href="goods/{slug}.html">{title}</a></td><td>￥{price}</td></tr>')
    index = f"""<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk">
<title>恒达五金批发</title></head><body><table border="1">{"".join(rows)}</table>
<p>杭州恒达五金经营部 营业执照注册号：91330106MA2H0T8X40 电话：0571-88886666</p></body></html>
"""
    (d / "index.html").write_bytes(index.encode("gbk"))


def expected() -> dict:
    """Expected categories per shop and page, for the tests (the licence lead is keyed by the
    target and the kind of problem: <shop url>#license_display-<kind>)."""
    return {
        "xinyuan": {f"item/{s}.html": c for s, _, _, _, c in XINYUAN},
        "hengda": {
            **{f"goods/{s}.html": c for s, _, _, _, c in HENGDA},
            "#license_display-invalid_code": ["license_display"],
        },
    }


if __name__ == "__main__":
    write_xinyuan()
    write_hengda()
    path = ROOT / "expected.json"
    merged = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    merged.update(expected())  # keeps the hand-written storefront's entry
    path.write_text(json.dumps(merged, ensure_ascii=False, indent=1), encoding="utf-8")
    print("demo shops written to", ROOT)

# yungou/ (the JS-rendered storefront: index.html and item.html fetch /api/*.json) is written
# by hand; its expected categories are kept in expected.json under "yungou".
