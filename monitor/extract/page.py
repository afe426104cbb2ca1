"""One parse of one page, shared by every reader (listing, list candidates, licence display).

A spider builds a :class:`Page` from its response (reusing the selector Scrapy already parsed),
a library caller from HTML text. Whatever a reader asks (structured data, script state, the
visible text) is computed once and cached on the page. Crawled HTML is hostile: nothing here
raises, and markup nested deeper than lxml will read is re-read flattened, so a wrapper of
thousands of <div> cannot hide what follows it.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from urllib.parse import urljoin

import parsel
from lxml import etree
from w3lib.html import get_base_url

from monitor.extract.limits import MARKUP_DEPTH, MAX_SCRIPT, MAX_TITLE
from monitor.store.sanitize import strip_controls

# Text an analyst would read: not script, style or templates; the site's chrome (nav, header,
# footer) is kept out of a listing's text but is read for licence display separately.
_NOT_TEXT = "ancestor::script or ancestor::style or ancestor::noscript or ancestor::template"
_CHROME = "ancestor::nav or ancestor::footer or ancestor::header"
# Container tags dropped when markup is too deep to parse: what they wrap stays readable.
_CONTAINERS = re.compile(
    r"</?(?:div|span|section|article|main|aside|font|center|p|ul|ol|li|dl|dt|dd|table|thead|"
    r"tbody|tfoot|tr|td|th|em|i|u|s|small|big|strong|label|form|fieldset|blockquote|q|sub|sup|"
    r"nobr|marquee|figure|figcaption|picture)\b[^>]*>",
    re.I,
)


def clean(text: str | None) -> str:
    """Whitespace folded to single spaces, control characters (ESC, BEL, C1) and bidi
    overrides dropped: every title and text a listing is matched and stored with is read
    here, so the words matched are the words stored and shown, hit offsets included."""
    return " ".join(strip_controls(text or "").split())


def clip(text: str, limit: int = MAX_TITLE) -> str:
    """``text`` cut to ``limit`` characters (after parsing, so nothing before it is lost)."""
    return text if len(text) <= limit else text[:limit].rstrip()


@lru_cache(maxsize=512)
def compiled(query: str) -> etree.XPath:
    """An XPath compiled once for every page: readers ask the same few dozen questions of each
    page, and compiling one costs about as much as evaluating it on a small page."""
    return etree.XPath(query, smart_strings=False)


def _selector(text: str) -> parsel.Selector | None:
    try:
        return parsel.Selector(text=text or "<html></html>")
    except Exception:  # noqa: BLE001 - lxml refuses some inputs outright
        return None


def _too_deep(root) -> bool:
    try:
        return bool(compiled(f"boolean(//*[count(ancestor::*) >= {MARKUP_DEPTH}])")(root))
    except Exception:  # noqa: BLE001 - XPath on a broken tree
        return False


class Page:
    """A parsed page and everything read from it so far."""

    def __init__(self, selector: parsel.Selector, url: str = "", source: str | None = None) -> None:
        self.url = url
        self.source = source  # the decoded HTML, when known (needed to re-read deep markup)
        self.selector = selector
        self.flattened = False
        # a page with too few tags cannot nest that deep (a tag may imply two more elements:
        # <td> its <tbody> and <tr>): no walk of its tree
        deep = source is not None and 3 * source.count("<") >= MARKUP_DEPTH
        if deep and _too_deep(selector.root):
            flat = _selector(_CONTAINERS.sub(" ", source))
            if flat is not None:
                self.selector, self.flattened = flat, True

    @classmethod
    def of(cls, page: str | parsel.Selector | Page | None, url: str = "") -> Page | None:
        """A Page from HTML text, a parsed selector or a Page; None when lxml refuses it."""
        if isinstance(page, Page):
            return page
        if isinstance(page, parsel.Selector):
            return cls(page, url)
        sel = _selector(page or "")
        return cls(sel, url, page or "") if sel is not None else None

    @classmethod
    def from_response(cls, response) -> Page:
        """The page of a Scrapy TextResponse, reusing the selector Scrapy parsed."""
        return cls(response.selector, response.url, response.text)

    @property
    def root(self):
        return self.selector.root

    def xpath(self, query: str) -> parsel.SelectorList:
        return self.selector.xpath(query)

    def strings(self, query: str) -> list[str]:
        """The strings an XPath selects (text nodes, attributes), straight from lxml: a
        Selector per text node would cost more than the page's parse."""
        try:
            return [v for v in compiled(query)(self.root) if isinstance(v, str)]
        except Exception:  # noqa: BLE001 - XPath on a broken tree
            return []

    def nodes(self, query: str) -> list:
        """The elements an XPath selects, as lxml elements (see :meth:`strings`)."""
        try:
            return [v for v in compiled(query)(self.root) if isinstance(v, etree._Element)]
        except Exception:  # noqa: BLE001 - XPath on a broken tree
            return []

    def has(self, query: str) -> bool:
        """Whether an XPath selects anything on the page."""
        try:
            return bool(compiled(f"boolean({query})")(self.root))
        except Exception:  # noqa: BLE001 - XPath on a broken tree
            return False

    def first(self, query: str) -> str:
        """The whitespace-folded text of the first match of an XPath, or ""."""
        return clean(self.selector.xpath(query).get())

    @cached_property
    def base_url(self) -> str:
        if self.source is not None:
            try:
                return get_base_url(self.source[:8192], self.url)
            except Exception:  # noqa: BLE001 - a hostile <base href>
                return self.url
        base = self.selector.xpath("//base/@href").get()
        return urljoin(self.url, base) if base else self.url

    def absolute(self, link: str | None) -> str:
        """A link on the page as an absolute URL ("" for javascript: and empty links)."""
        link = (link or "").strip()
        if not link or link.lower().startswith(("javascript:", "#", "data:", "mailto:")):
            return ""
        try:
            return urljoin(self.base_url, link)
        except ValueError:
            return ""

    @cached_property
    def title_tag(self) -> str:
        return clip(clean(" ".join(self.strings("//title[1]//text()"))))

    def meta(self, *names: str) -> str:
        """The content of the first <meta name=…> or <meta property=…> among ``names``."""
        for name in names:
            values = self.strings(
                f"//meta[translate(@name,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')"
                f"='{name}' or @property='{name}' or @itemprop='{name}']/@content"
            )
            if values and values[0].strip():
                return clean(values[0])
        return ""

    @cached_property
    def scripts(self) -> list[str]:
        """Inline scripts (not JSON-LD), each cut to MAX_SCRIPT characters."""
        out = []
        for node in self.strings("//script[not(@src)][not(@type='application/ld+json')]/text()"):
            out.append(node[:MAX_SCRIPT])
        return out

    @cached_property
    def text_nodes(self) -> list[str]:
        """The visible text of the page's content, node by node in document order (uncut)."""
        out = [
            clean(t) for t in self.strings(f"//body//text()[not({_NOT_TEXT}) and not({_CHROME})]")
        ]
        return [t for t in out if t]

    @cached_property
    def text(self) -> str:
        return " ".join(self.text_nodes)

    @cached_property
    def full_text(self) -> str:
        """All visible text including the site's header and footer (where licences are shown)."""
        return " ".join(self.strings(f"//body//text()[not({_NOT_TEXT})]"))

    @cached_property
    def own_text(self) -> str:
        """Visible text that is not link text: what the page says itself, not what it lists."""
        nodes = self.strings(
            f"//body//text()[not({_NOT_TEXT}) and not({_CHROME}) and not(ancestor::a)"
            " and not(ancestor::button) and not(ancestor::select) and not(ancestor::option)]"
        )
        return " ".join(t for t in (clean(x) for x in nodes) if t)

    @cached_property
    def fingerprint_text(self) -> str:
        """What shop systems and platforms give themselves away by: generator, asset paths,
        body classes, the names of script variables."""
        parts = self.strings(
            "//meta[translate(@name,'GENERATOR','generator')='generator']/@content"
            " | //script/@src | //link/@href | //body/@class | //html/@class"
        )
        parts += [s[:4000] for s in self.scripts[:40]]
        return "\n".join(parts)
