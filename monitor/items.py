"""The items spiders yield and pipelines consume (plain dataclasses; Scrapy adapts them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ListingItem:
    """One product page as fetched, with what the match and evidence pipelines add."""

    target: str
    url: str
    final_url: str
    title: str
    text: str
    price: str | None
    status: int
    headers: dict
    raw_body: bytes
    fetched_at: datetime
    # how the page was read: jsonld | microdata | rdfa | opengraph | embedded | platform |
    # generic; for a page item, the page's kind (list | other)
    source: str = ""
    # listing: a product page; page: a page that is not one product, matched for wording of its
    # own (a 招刷手 recruitment page) as a lead of its own kind
    kind: str = "listing"
    profile: str | None = None  # the platform or shop-system profile the page was read with
    rendered_dom: str | None = None
    screenshot: bytes | None = None
    screenshot_missing: str | None = None
    screenshot_note: str | None = None  # why the screenshot may not be exact
    request: dict | None = None  # the request as sent: method, url, headers
    loaded: list = field(default_factory=list)  # what the rendered page loaded, for replay
    # set by the pipelines
    unchanged: bool = False
    open_lead: bool = False  # not flagged now, but its lead is open: capture the clean state
    categories: list[str] = field(default_factory=list)
    hits: list[dict] = field(default_factory=list)
    manifest_path: str | None = None
    manifest_sha256: str | None = None
    previous_sha256: str | None = None
    timestamp_status: str = "none"  # none | pending | ok


# What `scrapy crawl site -O items.jsonl` writes: what was read and matched, not the raw bytes
# and headers kept as evidence (bytes would break a JSON feed and belong in the evidence store).
FEED_FIELDS = [
    "target",
    "url",
    "final_url",
    "kind",
    "source",
    "profile",
    "title",
    "price",
    "text",
    "status",
    "fetched_at",
    "categories",
    "hits",
]


@dataclass
class ListingGone:
    """A listing URL that answered 404 or 410: its lead, if any, becomes removed."""

    target: str
    url: str
    status: int
    fetched_at: datetime
    headers: dict = field(default_factory=dict)
    raw_body: bytes | None = None
    request: dict | None = None
    manifest_path: str | None = None
    manifest_sha256: str | None = None
    previous_sha256: str | None = None
    timestamp_status: str = "none"  # none | pending | ok


@dataclass
class ListingSeen:
    """A known listing that answered 304 Not Modified (or was not due for a visit tonight,
    ``checked`` false): seen in this run, nothing to redo."""

    target: str
    url: str
    checked: bool = True


@dataclass
class LicensePage:
    """What one page of a target shows about its operator (licence display), with its bytes."""

    target: str
    url: str
    info: object  # monitor.extract.license.LicenseInfo
    status: int
    headers: dict
    raw_body: bytes
    fetched_at: datetime
    start: bool = False
