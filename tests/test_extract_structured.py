"""Structured data read with extruct, one layer each, and one parse serving listing and licence."""

from __future__ import annotations

from monitor.extract import Page, read
from monitor.extract.license import extract_license

MICRODATA = """<html><head><title>店</title></head><body>
<div itemscope itemtype="http://schema.org/Product"><span itemprop="name">高仿名表 一比一</span>
<div itemprop="offers" itemscope itemtype="http://schema.org/Offer"><span itemprop="price">880</span></div>
<p itemprop="description">瑞士机芯</p></div></body></html>"""

OPENGRAPH = """<html><head><title>店</title><meta property="og:type" content="product">
<meta property="og:title" content="内部特供白酒"><meta property="product:price:amount" content="1280">
</head><body><p>酱香型</p></body></html>"""

ITEMLIST = """<html><head><script type="application/ld+json">{"@context":"https://schema.org",
"@type":"ItemList","itemListElement":[
{"@type":"ListItem","position":1,"url":"/goods/1.html","name":"甲"},
{"@type":"ListItem","position":2,"url":"/goods/2.html","name":"乙"},
{"@type":"ListItem","position":3,"url":"/goods/3.html","name":"丙"}]}</script></head>
<body><p>分类</p></body></html>"""


def test_microdata_product():
    reading = read(MICRODATA, "http://shop.test/1")
    assert (reading.listing.title, reading.listing.price, reading.listing.source) == (
        "高仿名表 一比一",
        "880",
        "microdata",
    )
    assert "瑞士机芯" in reading.listing.text


def test_opengraph_product():
    reading = read(OPENGRAPH, "http://shop.test/2")
    assert (reading.listing.title, reading.listing.price, reading.listing.source) == (
        "内部特供白酒",
        "1280",
        "opengraph",
    )


def test_json_ld_item_list_gives_candidates_not_a_listing():
    reading = read(ITEMLIST, "http://shop.test/c/")
    assert reading.listing is None
    assert [c.url for c in reading.candidates] == [
        "http://shop.test/goods/1.html",
        "http://shop.test/goods/2.html",
        "http://shop.test/goods/3.html",
    ]


def test_one_parse_serves_listing_and_licence():
    html = (
        '<html><head><script type="application/ld+json">[{"@type":"Organization",'
        '"legalName":"福州某某商贸有限公司","taxID":"91350100M000100Y43"},'
        '{"@type":"Product","name":"加厚羽绒服","offers":{"price":"299"}}]</script></head>'
        "<body><p>冬装</p></body></html>"
    )
    page = Page.of(html, "http://shop.test/p")
    assert read(page, page.url).listing.title == "加厚羽绒服"
    info = extract_license(page, page.url)
    assert info.operator == "福州某某商贸有限公司" and info.credit_codes == ["91350100M000100Y43"]
    assert page.__dict__["_structured"] is not None  # read once, shared
