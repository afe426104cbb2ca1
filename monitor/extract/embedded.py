"""Page state that shops carry in script: the data a page's own script renders the product from.

JD's ``pageConfig``, Taobao's ``g_config``, Tmall's ``TShop.Setup(…)``, and the state objects of
Vue, React, Next.js and Nuxt shops (``window.__INITIAL_STATE__``, ``__NEXT_DATA__``,
``__NUXT__``). A regular expression only finds where a variable is assigned; the object itself is
read by chompjs (a JavaScript-literal parser) or json. When a literal holds expressions chompjs
cannot read (``startTime: +new Date``), a dotted path is followed key by key in the source and
only the value at its end is parsed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import chompjs

from monitor.extract.limits import MAX_CANDIDATES, MAX_SCRIPT
from monitor.extract.page import Page, clean, clip
from monitor.extract.structured import Product, walk

# Assigned by every framework and platform we know; profiles add their own names.
STATE_NAMES = (
    "__INITIAL_STATE__",
    "__NEXT_DATA__",
    "__NUXT__",
    "__PRELOADED_STATE__",
    "__INITIAL_DATA__",
    "__INIT_DATA__",
    "rawData",
)
TITLE_KEYS = (
    "title",
    "name",
    "goodsName",
    "goods_name",
    "productName",
    "product_name",
    "itemName",
    "item_name",
    "store_name",
    "subject",
    "spuName",
    "raw_title",
)
PRICE_KEYS = (
    "price",
    "salePrice",
    "sale_price",
    "minPrice",
    "min_price",
    "goodsPrice",
    "goods_price",
    "shop_price",
    "sellPrice",
    "currentPrice",
    "view_price",
    "minNormalPrice",
)
DESC_KEYS = (
    "description",
    "desc",
    "goods_desc",
    "goodsDesc",
    "brief",
    "goods_brief",
    "subTitle",
    "content",
    "detail",
)
URL_KEYS = (
    "url",
    "link",
    "href",
    "detail_url",
    "detailUrl",
    "itemUrl",
    "item_url",
    "goodsUrl",
    "goods_url",
)
_STRING = re.compile(r"'(?:[^'\\\n]|\\.){0,2000}'|\"(?:[^\"\\\n]|\\.){0,2000}\"")


@dataclass
class State:
    """One state object found in a script: parsed when it could be, with its source."""

    name: str
    data: object | None
    script: str
    start: int  # where the assigned value begins in ``script``


def _assignment(name: str) -> re.Pattern:
    """Where ``name`` is given its value: ``var name = {``, ``window.name={``, ``name({`` (a
    setup call such as Tmall's TShop.Setup)."""
    bare = name.removeprefix("window.")
    return re.compile(
        r"(?:^|[^\w.$])(?:window\.|var\s+|let\s+|const\s+)?"
        + re.escape(bare)
        + r"\s*(?:=(?!=)|\()\s*"
    )


def _parse(text: str):
    try:
        return chompjs.parse_js_object(text[:MAX_SCRIPT])
    except Exception:  # noqa: BLE001 - JS expressions, broken or hostile literals (incl. RecursionError)
        return None


def read_states(page: Page, names: tuple[str, ...] = ()) -> dict[str, State]:
    """The state objects assigned on ``page`` under any of STATE_NAMES and ``names``."""
    found: dict[str, State] = {}
    for script_id in ("__NEXT_DATA__", "__NUXT_DATA__"):
        raw = page.xpath(f"//script[@id='{script_id}']/text()").get()
        if raw:
            try:
                found[script_id] = State(script_id, json.loads(raw[:MAX_SCRIPT]), raw, 0)
            except (ValueError, RecursionError):
                pass
    wanted = [n for n in dict.fromkeys(STATE_NAMES + tuple(names)) if n not in found]
    for script in page.scripts:
        for name in wanted:
            if name in found or name not in script:
                continue
            m = _assignment(name).search(script)
            if m:
                found[name] = State(name, _parse(script[m.end() :]), script, m.end())
    return found


def _step(value, key: str):
    if isinstance(value, list):
        try:
            return value[int(key)]
        except (ValueError, IndexError):
            return None
    return value.get(key) if isinstance(value, dict) else None


def lookup(state: State, path: str):
    """The value at a dotted ``path`` in ``state`` (``product.name``, ``mods.list.0.title``)."""
    keys = [k for k in path.split(".") if k]
    if state.data is not None:
        value = state.data
        for key in keys:
            value = _step(value, key)
            if value is None:
                break
        else:
            return value
    # The whole literal could not be read: follow the keys through the source text.
    pos = state.start
    end = min(len(state.script), state.start + MAX_SCRIPT)
    for key in keys:
        m = re.compile(r"[{,\s]['\"]?" + re.escape(key) + r"['\"]?\s*:\s*").search(
            state.script, pos, end
        )
        if not m:
            return None
        pos = m.end()
    rest = state.script[pos:end]
    if rest[:1] in "{[":
        return _parse(rest)
    literal = _STRING.match(rest)
    if literal:
        parsed = _parse("[" + literal.group(0) + "]")
        return parsed[0] if parsed else None
    number = re.match(r"-?\d+(?:\.\d+)?", rest)
    return number.group(0) if number else None


def scalar(value) -> str:
    """A state value as text (strings, numbers), or ""."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return clean(value) if isinstance(value, str) else ""


def _first(node: dict, keys: tuple[str, ...]) -> str:
    for key in keys:
        value = scalar(node.get(key))
        if value:
            return value
    return ""


def _productlike(node: dict) -> Product | None:
    title = _first(node, TITLE_KEYS)
    price = _first(node, PRICE_KEYS)
    if not title or not price or len(title) < 2 or title.startswith(("http", "//")):
        return None
    if not re.search(r"\d", price):
        return None
    return Product(clip(title), clip(_first(node, DESC_KEYS), 5000), price, _first(node, URL_KEYS))


def products_in(data) -> tuple[Product | None, list[Product]]:
    """The one product a state object describes, and the entries of the lists it holds.

    A list holding several product-like objects is a list of goods (recommendations, search
    results); a product-like object outside such lists, the shallowest, is the page's product."""
    single: list[tuple[int, Product]] = []
    listed: list[Product] = []
    in_lists: set[int] = set()
    for node, depth in walk(data):
        for value in node.values():
            if isinstance(value, list) and len(value) >= 3:
                items = [(id(v), _productlike(v)) for v in value if isinstance(v, dict)]
                hits = [(i, p) for i, p in items if p is not None]
                if len(hits) >= 3:
                    in_lists.update(i for i, _ in hits)
                    listed.extend(p for _, p in hits)
        if id(node) not in in_lists:
            found = _productlike(node)
            if found is not None:
                single.append((depth, found))
    if isinstance(data, list):  # a state that is itself a list of goods
        hits = [p for p in (_productlike(v) for v in data if isinstance(v, dict)) if p]
        if len(hits) >= 3:
            listed.extend(hits)
            single = []
    single.sort(key=lambda dp: dp[0])
    distinct = {p.title for d, p in single if d == single[0][0]} if single else set()
    product = single[0][1] if len(distinct) == 1 else None
    return product, listed[:MAX_CANDIDATES]
