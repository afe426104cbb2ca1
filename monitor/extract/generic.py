"""The generic product-page model: is this page one product, and what is it called?

For pages without structured data, page state or a known profile: an old table-layout shop with
the name in <b> and 价格：38元 in the text, a template shop with its own class names. The title is
the strongest of the <title> without the site's suffix, data-title, og:title and the page's
headings or bold lines, preferring a candidate that two of them agree on. Whether the page is a
product is weighed from what product pages show (buy buttons, one price, a SKU choice, stock,
shipping) against what list pages show (many prices, many buy buttons, pagination).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from price_parser import Price

from monitor.extract.limits import MAX_CANDIDATES
from monitor.extract.page import Page, clean, clip, compiled
from monitor.extract.structured import Product

BUY_WORDS = (
    "加入购物车",
    "加入購物車",
    "立即购买",
    "立即購買",
    "立即抢购",
    "马上购买",
    "立即订购",
    "放入购物车",
    "加入购物袋",
    "add to cart",
    "buy now",
    "add to basket",
)
SKU_WORDS = (
    "规格",
    "規格",
    "颜色分类",
    "顏色分類",
    "尺码",
    "尺碼",
    "选择型号",
    "购买数量",
    "購買數量",
    "数量：",
    "數量：",
)
STOCK_WORDS = ("库存", "庫存", "有货", "现货", "in stock")
SHIPPING_WORDS = ("运费", "運費", "快递", "包邮", "配送至", "shipping")
NEXT_WORDS = ("下一页", "下一頁", "下页", "尾页", "末页", "上一页", "next page")
SITE_WORDS = (
    "网",
    "網",
    "商城",
    "店",
    "官网",
    "旗舰",
    "天猫",
    "淘宝",
    "京东",
    "阿里巴巴",
    "拼多多",
    "有赞",
    "微店",
    ".com",
    ".cn",
    "shop",
    "mall",
    "store",
    "powered by",
)
# Where a price is written: a currency sign, a price label, or a number followed by 元.
PRICE_MENTION = re.compile(
    r"(?:[¥￥]\s*|(?:价格|價格|售价|售價|现价|現價|促销价|促銷價|本店价|本店售价|商城价|会员价|單價|单价|价|價|RMB|CNY)\s*[:：]?\s*(?:[¥￥]\s*)?)"
    r"\d{1,9}(?:,\d{3})*(?:\.\d{1,2})?(?:\s*元)?"
    r"|\d{1,9}(?:,\d{3})*(?:\.\d{1,2})?\s*元"
)
_BRACKETS = re.compile(r"[【\[［][^】\]］]{0,40}[】\]］]")
_SEPARATOR = re.compile(r"\s*(?:[_|｜–—·]|\s-\s|-)\s*")
_PRODUCT_LINK = re.compile(r"(?:item|goods|product|detail|sku|offer|/p/|\bid=)", re.I)


@dataclass
class Signals:
    """What the page shows, for and against its being one product."""

    prices: list[str] = field(default_factory=list)  # distinct amounts, in page order
    buy: int = 0
    sku: bool = False
    stock: bool = False
    shipping: bool = False
    pagination: bool = False
    product_links: int = 0
    named: bool = False  # a heading or bold line says what <title> says: one thing is shown

    @property
    def product_score(self) -> int:
        return (
            2 * (1 <= self.buy <= 3)
            + self.named
            + (1 <= len(self.prices) <= 3)
            + self.sku
            + self.stock
            + self.shipping
        )

    @property
    def shows_one(self) -> bool:
        """A buy button or a price of its own: without either, nothing is offered here."""
        return 1 <= self.buy <= 3 or 1 <= len(self.prices) <= 3

    @property
    def list_score(self) -> int:
        return (
            2 * (len(self.prices) >= 5)
            + 2 * (self.buy >= 4)
            + self.pagination
            + (self.product_links >= 12)
        )

    def describe(self) -> str:
        parts = [f"价格{len(self.prices)}个", f"购买按钮{self.buy}个"]
        parts += [
            w
            for w, on in (
                ("标题一致", self.named),
                ("规格", self.sku),
                ("库存", self.stock),
                ("运费", self.shipping),
                ("分页", self.pagination),
            )
            if on
        ]
        parts.append(f"商品链接{self.product_links}个")
        return "、".join(parts)


def price_amount(mention: str) -> str | None:
    """The amount in a price mention (价格：38元, ¥1,299.00), read by price-parser."""
    price = Price.fromstring(mention)
    return str(price.amount) if price.amount is not None else None


def signals(page: Page) -> Signals:
    s = Signals()
    text = page.text
    low = text.lower()
    seen = set()
    # prices outside links: a product page's recommendations are linked cards with prices
    for m in PRICE_MENTION.finditer(page.own_text):
        amount = price_amount(m.group(0))
        if amount and amount not in seen:
            seen.add(amount)
            s.prices.append(amount)
    controls = " ".join(
        page.strings(
            # text under links and buttons, asked of the text nodes: libxml2 merges the results
            # of //a//text() link by link, quadratic in the links (30,000 links: seconds)
            "//text()[ancestor::a or ancestor::button]"
            " | //input[@type='submit' or @type='button']/@value"
            " | //*[@title or @shortcut-label]/@title"
        )
    ).lower()
    s.buy = max(controls.count(w) for w in BUY_WORDS)  # one button per card on a list page
    s.sku = any(w in text for w in SKU_WORDS) or page.has(
        "//input[@name='number' or @name='quantity' or @name='qty' or @name='goods_number'"
        " or @name='buy_num' or @name='amount']"
    )
    s.stock = any(w in low for w in STOCK_WORDS)
    s.shipping = any(w in low for w in SHIPPING_WORDS)
    s.pagination = any(w in low for w in NEXT_WORDS) or page.has(
        "//a[@rel='next'] | //*[contains(@class,'pagination') or contains(@class,'pager')]"
    )
    hrefs = {h for h in page.strings("//a/@href") if _PRODUCT_LINK.search(h or "")}
    s.product_links = max(len(hrefs), len(repeated_links(page)))
    return s


def repeated_links(page: Page) -> list[Product]:
    """Goods a list page links to: links sharing one numbered shape (/goods/123.html,
    /xianzhi/456.html, goods.php?id=7), four or more of them, each with its longest link text."""
    shapes: dict[str, dict[str, str]] = {}
    for node in page.nodes("//body//a[@href]")[:5000]:
        url = page.absolute(node.get("href"))
        if not url or not re.search(r"\d", url):
            continue
        shape = re.sub(r"\d+", "#", url.split("#", 1)[0])
        text = clean(node.get("title") or " ".join(_texts(node, ".//text()")))
        links = shapes.setdefault(shape, {})
        if len(text) > len(links.get(url, "")) and not any(w in text.lower() for w in BUY_WORDS):
            links[url] = text
        else:
            links.setdefault(url, "")
    # the shape whose links are named (goods), not the one of their buy buttons
    best = max(
        shapes.values(), key=lambda ls: (sum(1 for t in ls.values() if t), len(ls)), default={}
    )
    if len(best) < 4:
        return []
    return [Product(clip(t), url=u) for u, t in best.items()][:MAX_CANDIDATES]


def _texts(node, query: str) -> list[str]:
    """The text nodes an XPath selects under an lxml element."""
    return [t for t in compiled(query)(node) if isinstance(t, str)]


def strip_site_suffix(title: str, suffixes: list[str] = (), site_name: str = "") -> str:
    """A page title without the site's own name: 商品-淘宝网, 商品【图片 价格】-京东, 商品_店名."""
    title = clean(title)
    for suffix in sorted(suffixes, key=len, reverse=True):
        if suffix and title.endswith(suffix) and len(title) > len(suffix):
            title = title[: -len(suffix)].strip()
            break
    title = re.split(r"\s*[-_|]?\s*powered by", title, flags=re.I)[0]
    title = clean(_BRACKETS.sub(" ", title)) or title
    for _ in range(3):
        parts = list(_SEPARATOR.finditer(title))
        if not parts:
            break
        last = parts[-1]
        head, tail = title[: last.start()].strip(), title[last.end() :].strip()
        sep = last.group(0).strip()
        spaced = sep == "-" and last.group(0) != "-"  # "商品 - 店名", not "XR-500"
        site_like = (site_name and tail in site_name) or any(w in tail.lower() for w in SITE_WORDS)
        short = len(tail) <= 16 and (sep in "_|｜" or spaced)
        if len(head) >= 2 and len(tail) <= 24 and (site_like or short):
            title = head
        else:
            break
    return clip(title)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


@dataclass
class Title:
    text: str
    how: str  # which part of the page it came from (for --explain)


def title_candidates(page: Page, suffixes: list[str] = ()) -> list[Title]:
    """Possible titles, in the order they are trusted when nothing corroborates any."""
    out = [
        Title(clean(" ".join(page.strings("//h1[1]//text()"))), "h1"),
        Title(page.meta("og:title"), "og:title"),
    ]
    for value in page.strings("//*[@data-title]/@data-title")[:20]:
        out.append(Title(clean(value), "data-title"))
    for tag in ("h2", "h3"):
        out.append(Title(clean(" ".join(page.strings(f"//{tag}[1]//text()"))), tag))
    for node in page.nodes("//body//b | //body//strong")[:30]:
        out.append(Title(clean(" ".join(_texts(node, ".//text()"))), "粗体"))
    for node in page.nodes(
        "//*[contains(@class,'title') or contains(@class,'name')][not(self::a)]"
    )[:30]:
        out.append(Title(clean(" ".join(_texts(node, "./text()"))), "标题样式"))
    stripped = strip_site_suffix(
        page.title_tag, suffixes, page.meta("og:site_name", "application-name")
    )
    out.append(Title(stripped, "title"))
    return [Title(clip(t.text), t.how) for t in out if len(t.text) >= 2]


def choose_title(page: Page, suffixes: list[str] = ()) -> Title | None:
    """The strongest title: one the page's <title> agrees with, else a heading, else <title>."""
    candidates = title_candidates(page, suffixes)
    if not candidates:
        return None
    stripped = candidates[-1] if candidates[-1].how == "title" else None
    if stripped is not None:
        key = _norm(stripped.text)
        agreeing = [
            c
            for c in candidates[:-1]
            if len(c.text) >= 4 and (_norm(c.text) in key or key in _norm(c.text))
        ]
        if agreeing:
            # a candidate inside the title is the title without what the site adds; one that
            # wraps the title (a heading with its buttons) adds words of its own: take the title
            inside = [c for c in agreeing if _norm(c.text) in key]
            best = max(inside, key=lambda c: len(c.text)) if inside else agreeing[0]
            text = best.text if inside else stripped.text
            return Title(text, f"{best.how}（与<title>一致）")
    for how in ("h1", "og:title"):
        found = next((c for c in candidates if c.how == how), None)
        if found:
            return found
    if stripped is None or _norm(stripped.text) not in _norm(page.text):
        # the <title> is the site's, not the product's: the heading or bold line nearest
        # before the price names what is sold
        near = _nearest_before_price(page, [c for c in candidates if c.how != "title"])
        if near is not None:
            return Title(near.text, f"{near.how}（价格前）")
    if stripped is not None:
        return stripped
    return candidates[0]


def _nearest_before_price(page: Page, candidates: list[Title]) -> Title | None:
    nodes = page.text_nodes
    price_at = next((i for i, t in enumerate(nodes) if PRICE_MENTION.search(t)), None)
    if price_at is None:
        return None
    best, best_at = None, -1
    for c in candidates:
        window = range(price_at, max(-1, price_at - 200), -1)  # nearby only: bounded cost
        at = next((i for i in window if c.text[:20] in nodes[i]), -1)
        if at > best_at and len(c.text) >= 4:
            best, best_at = c, at
    return best


def first_price(page: Page, after: str = "") -> str | None:
    """The first price written on the page after the node holding ``after`` (its title), else
    the first price anywhere. The whole text is searched: nothing before the price hides it."""
    nodes = page.text_nodes
    start = 0
    if after:
        key = after[:20]
        start = next((i for i, t in enumerate(nodes) if key and key in t), 0)
    for pool in (nodes[start:], nodes[:start]):
        for text in pool:
            m = PRICE_MENTION.search(text)
            if m:
                return price_amount(m.group(0))
    # a label and its number in neighbouring nodes: 价格：<span>38</span>元
    m = PRICE_MENTION.search(" ".join(nodes[start:]))
    return price_amount(m.group(0)) if m else None
