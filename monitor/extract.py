"""Recognise a product page and pull out its title, description text and price.

In order of trust: schema.org Product in JSON-LD, then in microdata, then OpenGraph product
tags, then a plain page that has a heading and a single price. Pages listing many prices
(category and search pages) are not products. Crawled HTML is hostile: nothing here may raise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import parsel

MAX_TEXT = 20000
_PRICE_RE = re.compile(
    r"(?:[¥￥]|价格|價格|售价|售價|现价|現價|促销价|促銷價|单价|單價|RMB)\s*[:：]?\s*(\d{1,9}(?:[.,]\d{1,2})?)"
)
_VISIBLE = (
    "//body//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)"
    " and not(ancestor::template) and not(ancestor::nav) and not(ancestor::footer)"
    " and not(ancestor::header)]"
)
_MAIN = (
    "//main",
    "//article",
    "//*[@id='content']",
    "//*[@id='product']",
    "//*[contains(@class,'product')]",
    "//*[contains(@class,'detail')]",
)


@dataclass
class ExtractedListing:
    title: str
    text: str
    price: str | None
    source: str


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _types(node: dict) -> list[str]:
    t = node.get("@type")
    types = t if isinstance(t, list) else [t]
    return [str(x).rsplit("/", 1)[-1].lower() for x in types if x]


def _walk_jsonld(data) -> list[dict]:
    found = []
    stack = [data]
    while stack:
        cur = stack.pop()
        if isinstance(cur, list):
            stack.extend(cur)
        elif isinstance(cur, dict):
            if "product" in _types(cur):
                found.append(cur)
            for key in ("@graph", "mainEntity", "itemListElement", "item"):
                if key in cur:
                    stack.append(cur[key])
    return found


def _offer_price(product: dict) -> str | None:
    offers = product.get("offers")
    for offer in offers if isinstance(offers, list) else [offers]:
        if isinstance(offer, dict):
            price = offer.get("price") or offer.get("lowPrice")
            if price not in (None, ""):
                currency = offer.get("priceCurrency")
                return f"{price} {currency}".strip() if currency else str(price)
    return None


def _visible_text(sel: parsel.Selector) -> str:
    for xp in _MAIN:
        node = sel.xpath(xp)
        if node:
            text = _clean(
                " ".join(
                    node[0]
                    .xpath(".//text()[not(ancestor::script) and not(ancestor::style)]")
                    .getall()
                )
            )
            if len(text) > 20:
                return text[:MAX_TEXT]
    return _clean(" ".join(sel.xpath(_VISIBLE).getall()))[:MAX_TEXT]


def _join(*parts: str) -> str:
    seen, out = set(), []
    for p in parts:
        p = _clean(p)
        if p and p not in seen:
            seen.add(p)
            out.append(p)
    return "\n".join(out)[:MAX_TEXT]


def as_selector(page: str | parsel.Selector) -> parsel.Selector | None:
    """A parsed page: the caller's selector (a spider passes response.selector, so a page is
    parsed once), or one parsed from HTML text; None when lxml refuses the input."""
    if isinstance(page, parsel.Selector):
        return page
    try:
        return parsel.Selector(text=page or "<html></html>")
    except Exception:  # noqa: BLE001 - lxml refuses some inputs outright
        return None


def extract_listing(page: str | parsel.Selector, url: str = "") -> ExtractedListing | None:
    """The listing on this page (HTML text or a parsed selector), or None when it is not a
    product page."""
    sel = as_selector(page)
    if sel is None:
        return None
    try:
        return _extract(sel)
    except Exception:  # noqa: BLE001 - hostile markup must never stop a crawl
        return None


def _extract(sel: parsel.Selector) -> ExtractedListing | None:
    page_text = None

    for raw in sel.xpath("//script[@type='application/ld+json']/text()").getall():
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            continue
        for product in _walk_jsonld(data):
            name = _clean(str(product.get("name") or ""))
            if not name:
                continue
            page_text = page_text or _visible_text(sel)
            return ExtractedListing(
                name,
                _join(str(product.get("description") or ""), page_text),
                _offer_price(product),
                "jsonld",
            )

    scope = sel.xpath(
        "//*[@itemtype][contains(translate(@itemtype,'PRODUCT','product'),'schema.org/product')]"
    )
    if scope:
        node = scope[0]
        name = _clean(
            node.xpath(".//*[@itemprop='name'][1]/@content").get()
            or " ".join(node.xpath(".//*[@itemprop='name'][1]//text()").getall())
        )
        if name:
            desc = node.xpath(".//*[@itemprop='description'][1]/@content").get() or " ".join(
                node.xpath(".//*[@itemprop='description'][1]//text()").getall()
            )
            price = node.xpath(".//*[@itemprop='price'][1]/@content").get() or _clean(
                " ".join(node.xpath(".//*[@itemprop='price'][1]//text()").getall())
            )
            return ExtractedListing(
                name, _join(desc, _visible_text(sel)), price or None, "microdata"
            )

    og_type = (sel.xpath("//meta[@property='og:type']/@content").get() or "").strip().lower()
    if og_type.startswith("product"):
        name = _clean(
            sel.xpath("//meta[@property='og:title']/@content").get()
            or sel.xpath("//title/text()").get()
        )
        if name:
            desc = sel.xpath("//meta[@property='og:description']/@content").get() or ""
            price = sel.xpath(
                "//meta[@property='product:price:amount' or @property='og:price:amount']/@content"
            ).get()
            return ExtractedListing(name, _join(desc, _visible_text(sel)), price, "opengraph")

    heading = _clean(" ".join(sel.xpath("//h1[1]//text()").getall()))
    title = heading or _clean(sel.xpath("//title/text()").get())
    if not title:
        return None
    page_text = _visible_text(sel)
    prices = _PRICE_RE.findall(page_text)
    if not heading or not prices or len(set(prices)) > 2:
        return None
    desc = sel.xpath("//meta[@name='description']/@content").get() or ""
    return ExtractedListing(title, _join(desc, page_text), prices[0], "page")
