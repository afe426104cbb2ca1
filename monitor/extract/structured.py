"""Structured data a page declares about itself, read with extruct: JSON-LD, microdata, RDFa and
OpenGraph, reduced to the products (and product lists) they describe.

extruct reads the page's one lxml tree; only RDFa needs a DOM-flavoured tree of its own, so it is
parsed again, and only when the page carries RDFa (``typeof``). Each JSON-LD script is read on its
own, so one broken or hostile script (deeply nested, huge) is skipped without hiding the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from monitor.extract.limits import MAX_CANDIDATES, MAX_JSON_DEPTH, MAX_JSON_NODES, MAX_SCRIPT
from monitor.extract.page import Page, clean

logger = logging.getLogger(__name__)

PRODUCT_TYPES = {"product", "productgroup", "individualproduct", "productmodel", "vehicle"}
SCHEMA = ("http://schema.org/", "https://schema.org/")


@dataclass
class Product:
    """A product as some layer of the page describes it."""

    title: str
    description: str = ""
    price: str | None = None
    url: str = ""


@dataclass
class Structured:
    """What one page declares: its products per syntax, list entries, and raw JSON-LD nodes."""

    products: dict[str, list[Product]] = field(default_factory=dict)  # syntax -> products
    listed: list[Product] = field(default_factory=list)  # ItemList entries (list pages)
    jsonld: list[dict] = field(default_factory=list)  # every JSON-LD node (licence display)
    errors: list[str] = field(default_factory=list)  # kinds of what could not be read


def short_type(value) -> list[str]:
    types = value if isinstance(value, list) else [value]
    return [str(t).rsplit("/", 1)[-1].rsplit("#", 1)[-1].lower() for t in types if t]


def walk(data, max_depth: int = MAX_JSON_DEPTH, max_nodes: int = MAX_JSON_NODES):
    """Every dict inside ``data`` with its depth, breadth first, bounded in depth and count."""
    queue = [(data, 0)]
    seen = 0
    while queue and seen < max_nodes:
        nxt = []
        for value, depth in queue:
            seen += 1
            if seen >= max_nodes:
                break
            if isinstance(value, dict):
                yield value, depth
                children = value.values()
            elif isinstance(value, list):
                children = value
            else:
                continue
            if depth < max_depth:
                nxt.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
        queue = nxt


def text_of(value) -> str:
    """A schema.org value as text: plain, {"@value": …}, or the first of a list."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("@value") or value.get("name") or ""
    return clean(str(value)) if isinstance(value, (str, int, float)) else ""


def _offer_price(offers) -> str | None:
    for offer in offers if isinstance(offers, list) else [offers]:
        if isinstance(offer, dict):
            price = text_of(offer.get("price") or offer.get("lowPrice"))
            if price:
                currency = text_of(offer.get("priceCurrency"))
                return f"{price} {currency}".strip()
    return None


def _product(node: dict) -> Product | None:
    name = text_of(node.get("name"))
    if not name:
        return None
    return Product(
        name,
        text_of(node.get("description")),
        _offer_price(node.get("offers")),
        text_of(node.get("url")),
    )


def _jsonld(page: Page, out: Structured) -> None:
    nodes = page.nodes("//script[@type='application/ld+json']")
    if not nodes:
        return  # extruct (0.2 s to import) is imported by the first page that declares any
    from extruct.jsonld import JsonLdExtractor

    extractor = JsonLdExtractor()
    for node in nodes:
        if len(node.text or "") > MAX_SCRIPT:
            out.errors.append("jsonld_too_large")
            continue
        try:
            items = extractor.extract_items(node)  # this one script
        except RecursionError:
            out.errors.append("jsonld_too_deep")
            continue
        except Exception:  # noqa: BLE001 - broken JSON: skip this script only
            out.errors.append("jsonld_invalid")
            continue
        for item in items:
            for obj, _depth in walk(item):
                out.jsonld.append(obj)
                types = short_type(obj.get("@type"))
                if PRODUCT_TYPES.intersection(types):
                    found = _product(obj)
                    if found:
                        out.products.setdefault("jsonld", []).append(found)
                elif "itemlist" in types:
                    for entry in obj.get("itemListElement") or []:
                        if isinstance(entry, dict):
                            inner = (
                                entry.get("item") if isinstance(entry.get("item"), dict) else entry
                            )
                            name, url = text_of(inner.get("name")), text_of(inner.get("url"))
                            if name or url:
                                out.listed.append(Product(name, url=url))


def _microdata_product(item: dict) -> Product | None:
    props = item.get("properties") or {}
    name = text_of(props.get("name"))
    if not name:
        return None
    offers = props.get("offers")
    price = None
    for offer in offers if isinstance(offers, list) else [offers]:
        if isinstance(offer, dict):
            op = offer.get("properties") or {}
            price = text_of(op.get("price") or op.get("lowPrice")) or None
            if price:
                break
    price = price or text_of(props.get("price")) or None
    return Product(name, text_of(props.get("description")), price, text_of(props.get("url")))


def _microdata(page: Page, out: Structured) -> None:
    if not page.has("//*[@itemscope]"):
        return  # no microdata here: spare the extractor's walk of the tree
    from extruct.w3cmicrodata import MicrodataExtractor

    items = MicrodataExtractor().extract_items(page.root, page.base_url)
    for top in items:
        for obj, _depth in walk(top):
            if "properties" in obj and PRODUCT_TYPES.intersection(short_type(obj.get("type"))):
                found = _microdata_product(obj)
                if found:
                    out.products.setdefault("microdata", []).append(found)


def _opengraph(page: Page, out: Structured) -> None:
    if not page.has("//meta[starts-with(@property,'og:')]"):
        return  # no OpenGraph product here
    from extruct.opengraph import OpenGraphExtractor

    for item in OpenGraphExtractor().extract_items(page.root):
        props = {}
        for key, value in item.get("properties") or []:
            props.setdefault(key, value)
        if not props.get("og:type", "").strip().lower().startswith("product"):
            continue
        name = clean(props.get("og:title") or page.title_tag)
        if name:
            price = props.get("product:price:amount") or props.get("og:price:amount")
            out.products.setdefault("opengraph", []).append(
                Product(name, clean(props.get("og:description")), price or None)
            )


def _rdfa(page: Page, out: Structured) -> None:
    if page.source is None or not page.has("//body//*[@typeof]"):
        return  # no RDFa here: spare the second parse
    from extruct.rdfa import RDFaExtractor
    from extruct.utils import parse_xmldom_html

    tree = parse_xmldom_html(page.source, encoding="utf-8")
    nodes = RDFaExtractor().extract_items(tree, base_url=page.base_url)
    by_id = {n.get("@id"): n for n in nodes if isinstance(n, dict)}

    def prop(node: dict, name: str):
        for prefix in SCHEMA:
            if prefix + name in node:
                return node[prefix + name]
        return None

    for node in nodes:
        if not isinstance(node, dict) or not PRODUCT_TYPES.intersection(
            short_type(node.get("@type"))
        ):
            continue
        name = text_of(prop(node, "name"))
        if not name:
            continue
        price = text_of(prop(node, "price")) or None
        for ref in prop(node, "offers") or []:
            offer = by_id.get(ref.get("@id")) if isinstance(ref, dict) else None
            if offer:
                price = text_of(prop(offer, "price") or prop(offer, "lowPrice")) or price
        out.products.setdefault("rdfa", []).append(
            Product(name, text_of(prop(node, "description")), price)
        )


READERS = (
    ("jsonld", _jsonld),
    ("microdata", _microdata),
    ("rdfa", _rdfa),
    ("opengraph", _opengraph),
)


def read_structured(page: Page) -> Structured:
    """All structured data on ``page`` (never raises: a syntax that fails is noted and skipped).
    Read once per page: the listing and the licence readers share it."""
    cached = page.__dict__.get("_structured")
    if cached is not None:
        return cached
    out = page.__dict__["_structured"] = Structured()
    for name, reader in READERS:
        try:
            reader(page, out)
        except RecursionError:
            out.errors.append(f"{name}_too_deep")
        except Exception as exc:  # noqa: BLE001 - hostile markup must never stop a crawl
            logger.debug("%s unreadable on %s: %r", name, page.url, exc)
            out.errors.append(f"{name}_invalid")
    del out.listed[MAX_CANDIDATES:]
    return out
