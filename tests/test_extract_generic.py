"""The generic product-page model: a page without structured data, page state or a profile."""

from __future__ import annotations

import pytest

from monitor.extract import read
from monitor.extract.generic import price_amount, strip_site_suffix


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("乳白亚克力外壳 60%键盘外壳-淘宝网", "乳白亚克力外壳 60%键盘外壳"),
        ("手剥东北红松218g*2袋【图片 价格 品牌 报价】-京东", "手剥东北红松218g*2袋"),
        ("气枪 铅弹 套装_老店商城", "气枪 铅弹 套装"),
        ("一比一复刻名表_腕表_某某商城 - Powered by ECShop", "一比一复刻名表"),
        ("仿真枪 金属 可发射 - 恒达五金批发", "仿真枪 金属 可发射"),
        ("XR-500 电钻 家用", "XR-500 电钻 家用"),  # a model number is not a suffix
    ],
)
def test_site_suffix_is_stripped_from_titles(title, expected):
    assert strip_site_suffix(title) == expected


@pytest.mark.parametrize(
    ("mention", "amount"),
    [("价格：38元", "38"), ("¥1,299.00", "1299.00"), ("本店售价：￥880元", "880")],
)
def test_prices_are_read_by_price_parser(mention, amount):
    assert price_amount(mention) == amount


def test_bold_line_before_the_price_names_the_product_when_title_is_the_sites():
    html = (
        "<html><head><title>商品详情 - 微商城</title></head><body><strong>手工红糖 古法熬制 500g"
        "</strong><p>¥25.00</p><button>立即购买</button><p>库存 99</p></body></html>"
    )
    reading = read(html, "http://shop.test/item")
    assert reading.listing.title == "手工红糖 古法熬制 500g" and reading.listing.source == "generic"


def test_a_page_of_many_goods_is_a_list_not_a_listing():
    cards = "".join(
        f'<li><a href="/goods/{i}.html">商品{i}号 加厚羽绒服</a><span>¥{100 + i}</span>'
        f'<a href="/cart?id={i}">加入购物车</a></li>'
        for i in range(12)
    )
    html = f"<html><head><title>羽绒服_某店</title></head><body><ul>{cards}</ul><a>下一页</a></body></html>"
    reading = read(html, "http://shop.test/list")
    assert reading.listing is None and reading.kind == "list"
    assert len(reading.candidates) == 12
    assert reading.candidates[0].url == "http://shop.test/goods/0.html"


def test_a_page_without_a_buy_button_or_price_is_not_a_product():
    html = "<html><head><title>关于我们_某店</title></head><body><h1>关于我们</h1><p>库存充足，运费全免</p></body></html>"
    assert read(html, "http://shop.test/about").listing is None
