"""Read a page in layers, strongest first, and say which layer decided and why.

1. structured data (extruct: JSON-LD, microdata, RDFa, OpenGraph);
2. embedded page state (a profile's JSON paths, then any product-shaped state object);
3. a platform or shop-system profile's selectors;
4. the generic product-page model.

A page is a ``product`` (one listing), a ``list`` (titles of goods, with links to follow) or
``other``. The item records the layer as its ``source``; the reasons are what ``monitor crawl
--explain`` prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from monitor.extract import generic
from monitor.extract.embedded import lookup, products_in, read_states, scalar
from monitor.extract.limits import MAX_CANDIDATES, MAX_TEXT
from monitor.extract.page import Page, clean, clip
from monitor.extract.profiles import Profile, detect, load_profiles
from monitor.extract.structured import Product, read_structured

SOURCES = ("jsonld", "microdata", "rdfa", "opengraph", "embedded", "platform", "generic")


@dataclass
class ExtractedListing:
    title: str
    text: str
    price: str | None
    source: str


@dataclass
class Reading:
    """What one page is and what it shows."""

    url: str
    kind: str = "other"  # product | list | other
    listing: ExtractedListing | None = None
    candidates: list[Product] = field(default_factory=list)  # goods a list page shows
    profile: str | None = None
    reasons: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # kinds of data that could not be read
    flattened: bool = False  # markup too deep for lxml, re-read without its containers

    @property
    def why(self) -> str:
        return "；".join(self.reasons)


def _text(page: Page, *first: str) -> str:
    """The listing's text: its own description first, then what the page says outside links
    (links name other goods: related items must not lend a listing their words); cut after
    assembly."""
    seen, out = set(), []
    for part in (*first, page.meta("description", "og:description"), page.own_text):
        part = clean(part)
        if part and part not in seen:
            seen.add(part)
            out.append(part)
    return "\n".join(out)[:MAX_TEXT]


_PSEUDO = re.compile(r"^(.*?)(\s*)::(text|attr\(([^)]*)\))$")


def _css(page, queries: list[str], first: bool = False) -> str:
    """The text of the first of ``queries`` that matches (CSS, ending in ``::text`` for an
    element's own text, `` ::text`` for all the text inside it, or ``::attr(name)``): of its
    first element when ``first``, else of every element it matches."""
    sel = page.selector if isinstance(page, Page) else page
    for query in queries or []:
        m = _PSEUDO.match(query.strip())
        base, inside, attr = (
            (m.group(1), bool(m.group(2)), m.group(4)) if m else (query, True, None)
        )
        try:
            nodes = sel.css(base.strip() or "*")
        except Exception:  # noqa: BLE001 - a bad selector in a profile must not stop a crawl
            continue
        values = []
        for node in nodes[: 1 if first else 50]:
            if attr is not None:
                values.append(node.attrib.get(attr.strip(), ""))
            else:
                values += node.xpath(".//text()" if inside else "./text()").getall()
        value = clean(" ".join(values))
        if value:
            return value
    return ""


def _profile_item(page: Page, profile: Profile, states: dict, reading: Reading):
    """The product as the profile finds it: state paths first, then selectors."""
    suffixes = profile.title_suffixes
    for spec in profile.item.get("state", []):
        state = states.get(spec["name"])
        if state is None:
            continue
        title = scalar(lookup(state, spec["title"])) if spec.get("title") else ""
        if title:
            price = scalar(lookup(state, spec["price"])) if spec.get("price") else ""
            desc = scalar(lookup(state, spec["description"])) if spec.get("description") else ""
            reading.reasons.append(f"页面脚本 {spec['name']}.{spec['title']}（{profile.name}）")
            return "embedded", clip(title), price or None, desc
    title = _css(page, profile.item.get("title", []), first=True)
    if title:
        price = _css(page, profile.item.get("price", []))
        price = (generic.price_amount(price) if price else None) or generic.first_price(page, title)
        desc = _css(page, profile.item.get("description", []))
        reading.reasons.append(f"{profile.label or profile.name}模板选择器")
        return "platform", clip(strip(title, suffixes)), price or None, desc
    return None


def strip(title: str, suffixes: list[str]) -> str:
    return generic.strip_site_suffix(title, suffixes) or title


def _profile_list(page: Page, profile: Profile, states: dict) -> list[Product]:
    found: list[Product] = []
    for spec in profile.list.get("state", []):
        state = states.get(spec["name"])
        items = lookup(state, spec.get("items", "")) if state is not None else None
        for entry in items if isinstance(items, list) else []:
            if isinstance(entry, dict):
                title = scalar(entry.get(spec.get("title", "title")))
                url = scalar(entry.get(spec.get("url", "url")))
                if title or url:
                    found.append(Product(clip(title), url=page.absolute(url)))
    cards = profile.list.get("items")
    if cards:
        try:
            nodes = page.selector.css(cards)[:MAX_CANDIDATES]
        except Exception:  # noqa: BLE001 - a bad selector in a profile
            nodes = []
        for node in nodes:
            title = _css(node, profile.list.get("item_title") or [" ::text"], first=True)
            link = _css(node, profile.list.get("item_link") or ["a::attr(href)"])
            if title or link:
                found.append(Product(clip(title), url=page.absolute(link)))
    return found[:MAX_CANDIDATES]


def read_page(
    page: Page, profile: str | Profile | None = None, profiles_dir: str | None = None
) -> Reading:
    """Read ``page``: its kind, its listing if it is one product, the goods it lists."""
    reading = Reading(page.url, flattened=page.flattened)
    if page.flattened:
        reading.errors.append("deep_markup")
    profiles = load_profiles(profiles_dir)
    if isinstance(profile, str):
        chosen = profiles.get(profile)
        if chosen is None:
            reading.reasons.append(f"未知模板 {profile}，按特征识别")
    else:
        chosen = profile
    chosen = chosen or detect(page.url, page.fingerprint_text, profiles)
    reading.profile = chosen.name if chosen else None

    structured = read_structured(page)
    reading.errors += structured.errors
    for syntax in ("jsonld", "microdata", "rdfa", "opengraph"):
        products = structured.products.get(syntax) or []
        titles = {p.title for p in products}
        if len(titles) == 1:
            p = products[0]
            reading.kind = "product"
            reading.listing = ExtractedListing(
                clip(p.title), _text(page, p.description), p.price, syntax
            )
            reading.reasons.append(f"结构化数据 {syntax} 中的商品「{clip(p.title, 40)}」")
            return reading
        if len(titles) > 1:
            reading.candidates += products
            reading.reasons.append(f"结构化数据 {syntax} 中有 {len(titles)} 个商品")
    reading.candidates += structured.listed

    names = chosen.state_names() if chosen else ()
    states = read_states(page, names)
    if chosen is not None:
        found = _profile_item(page, chosen, states, reading)
        if found:
            source, title, price, desc = found
            reading.kind = "product"
            reading.listing = ExtractedListing(title, _text(page, desc), price, source)
            return reading
        reading.candidates += _profile_list(page, chosen, states)

    signals = generic.signals(page)
    page_title = generic.strip_site_suffix(page.title_tag)
    for name, state in states.items():
        if state.data is None:
            continue
        product, listed = products_in(state.data)
        reading.candidates += [Product(p.title, url=page.absolute(p.url)) for p in listed]
        if product is None:
            continue
        agrees = product.title[:20] in page.title_tag or page_title[:20] in product.title
        if len(listed) < 8 or agrees:
            reading.kind = "product"
            reading.listing = ExtractedListing(
                product.title, _text(page, product.description), product.price, "embedded"
            )
            reading.reasons.append(f"页面脚本 {name} 中的商品「{clip(product.title, 40)}」")
            return reading

    reading.candidates = _unique(reading.candidates, page)
    many = len(reading.candidates) >= 3
    if not many and signals.list_score >= 2:
        reading.candidates = _unique(reading.candidates + generic.repeated_links(page), page)
    title = generic.choose_title(page, chosen.title_suffixes if chosen else [])
    # one thing is shown: a heading says what <title> says, or the page's one <h1> names it
    signals.named = title is not None and (
        title.how.endswith("（与<title>一致）")
        or (title.how.startswith("h1") and len(page.nodes("//h1")) == 1)
    )
    facts = signals.describe()
    if title is None:
        reading.reasons.append(f"没有标题（{facts}）")
    elif (
        signals.product_score >= 2
        and signals.shows_one
        and signals.product_score > signals.list_score
        and not many
    ):
        price = generic.first_price(page, title.text)
        reading.kind = "product"
        reading.listing = ExtractedListing(title.text, _text(page), price, "generic")
        reading.reasons.append(
            f"商品页特征（{facts}），标题取自{title.how}「{clip(title.text, 40)}」"
        )
        return reading
    else:
        reading.reasons.append(f"不像单个商品页（{facts}）")
    if many or signals.list_score >= 2:
        reading.kind = "list"
        reading.reasons.append(f"列表页：{len(reading.candidates)} 个商品标题")
    return reading


def _unique(products: list[Product], page: Page) -> list[Product]:
    """Each product once, its link made absolute against the page."""
    seen, out = set(), []
    for p in products:
        p = Product(p.title, p.description, p.price, page.absolute(p.url))
        key = (p.title, p.url)
        if key not in seen and (p.title or p.url):
            seen.add(key)
            out.append(p)
    return out[:MAX_CANDIDATES]


def page_wording(reading: Reading, page: Page) -> tuple[str, str]:
    """What a page that is not a listing says in its own words (not the goods it lists):
    its title and its text outside links, for matching as a page lead of its own."""
    text = page.own_text
    for p in reading.candidates:
        if p.title and len(p.title) >= 4:
            text = text.replace(p.title, " ")
    title = generic.strip_site_suffix(page.title_tag) or page.title_tag
    return title, clean(" ".join([page.meta("description"), text]))[:MAX_TEXT]
