"""Recognise what a crawled page is: one product (a listing), a list of goods, or neither.

A page is parsed once (:class:`Page`) and read in layers, strongest first (see
:mod:`monitor.extract.reading`): structured data, embedded page state, a platform or shop-system
profile (data files in ``profiles/``), then the generic product-page model. Plain library, no
Scrapy. Crawled HTML is hostile: nothing here raises, and every reader is bounded
(:mod:`monitor.extract.limits`).
"""

from __future__ import annotations

import logging

import parsel

from monitor.errors import UserInputError
from monitor.extract.page import Page
from monitor.extract.reading import SOURCES, ExtractedListing, Reading, page_wording, read_page

__all__ = [
    "SOURCES",
    "ExtractedListing",
    "Page",
    "Reading",
    "as_selector",
    "extract_listing",
    "page_wording",
    "read",
    "read_page",
]

logger = logging.getLogger(__name__)


def as_selector(page: str | parsel.Selector) -> parsel.Selector | None:
    """A parsed page: the caller's selector, or one parsed from HTML text; None when lxml
    refuses the input."""
    parsed = Page.of(page)
    return parsed.selector if parsed is not None else None


def read(page: str | parsel.Selector | Page, url: str = "", profile: str | None = None) -> Reading:
    """Read a page (HTML text, a parsed selector or a Page); never raises: a reader that fails
    on hostile input gives a reading of kind ``other`` naming the error."""
    parsed = Page.of(page, url)
    if parsed is None:
        return Reading(url, errors=["unparsable"], reasons=["无法解析的页面"])
    try:
        return read_page(parsed, profile)
    except UserInputError:
        raise  # a broken profile file is the operator's to fix, not the page's fault
    except RecursionError:
        return Reading(url, errors=["too_deep"], reasons=["页面嵌套过深，无法读取"])
    except Exception as exc:  # noqa: BLE001 - hostile markup must never stop a crawl
        logger.warning("Could not read %s: %r", url, exc)
        return Reading(
            url, errors=[type(exc).__name__], reasons=[f"读取出错：{type(exc).__name__}"]
        )


def extract_listing(
    page: str | parsel.Selector | Page, url: str = "", profile: str | None = None
) -> ExtractedListing | None:
    """The listing on this page, or None when it is not one product."""
    return read(page, url, profile).listing
