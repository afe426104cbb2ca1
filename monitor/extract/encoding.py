"""Decide how to decode a Chinese page whose declaration is missing or wrong.

A page may declare nothing (Scrapy then guesses utf-8 or cp1252 and GBK comes out as
mojibake), declare the wrong charset, or contain invalid bytes. We keep the declared encoding
when it decodes cleanly (gb2312/gbk widened to gb18030, big5 to big5hkscs); otherwise we try
UTF-8, GB18030 and Big5 strictly and pick the one whose Han characters are most often common
ones (GB2312 level 1 or Big5 level 1): a wrong guess yields rare characters.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

WIDER = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "cp950": "big5hkscs",
    "big5hkscs": "big5hkscs",
    "x-gbk": "gb18030",
    "hz-gb-2312": "gb18030",
}
CANDIDATES = ("utf-8", "gb18030", "big5hkscs")
# Han characters a rival reading must show before it overrules a single-byte declaration
MIN_HAN = 8
# how much more common a rival reading's Han characters must be to overrule the declaration
MARGIN = 0.15
_HAN = re.compile("[\u3400-\u9fff]")


def canonical(name: str | None) -> str | None:
    if not name:
        return None
    try:
        name = codecs.lookup(name).name
    except LookupError:
        return None
    return WIDER.get(name, name)


@lru_cache(maxsize=1)
def common_han() -> frozenset[str]:
    chars = set()
    for hi in range(0xB0, 0xD8):  # GB2312 level 1
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    for hi in range(0xA4, 0xC7):  # Big5 level 1 (frequent characters)
        for lo in list(range(0x40, 0x7F)) + list(range(0xA1, 0xFF)):
            try:
                chars.add(bytes([hi, lo]).decode("big5"))
            except UnicodeDecodeError:
                pass
    return frozenset(chars)


def _score(text: str) -> float:
    han = _HAN.findall(text)
    if not han:
        return 0.5
    common = common_han()
    return sum(c in common for c in han) / len(han)


def _decodes(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def choose_encoding(body: bytes, declared: str | None) -> str:
    """The encoding to decode ``body`` with (never raises)."""
    sample = body[:200_000]
    declared = canonical(declared)
    if declared in (None, "utf-8") and sample.isascii():
        return "utf-8"  # every candidate reads ASCII alike
    declared_text = _decodes(sample, declared) if declared else None
    if declared == "utf-8" and declared_text is not None and _score(declared_text) > 1 - MARGIN:
        return declared  # most pages: no rival can read it MARGIN better (scores are <= 1)
    best, best_score, best_han = None, -1.0, 0
    for enc in CANDIDATES:
        text = _decodes(sample, enc)
        if text is None:
            continue
        score = _score(text) + (0.01 if enc == "utf-8" else 0)  # valid UTF-8 is rarely an accident
        if score > best_score:
            best, best_score = enc, score
            best_han = len(_HAN.findall(text))
    if declared_text is not None and declared not in CANDIDATES:
        # A charset we have no rival for (shift_jis, euc-kr) is kept. A single-byte charset (iso-8859-1, Tomcat's default; windows-1252) decodes any bytes:
        # it is kept for a Latin page, not for bytes that read as common Chinese in a rival.
        single_byte = declared.startswith(("iso8859", "cp12", "latin", "mac-", "koi8"))
        if single_byte and best is not None and best_han >= MIN_HAN and best_score >= 0.8:
            return best
        return declared
    declared_score = _score(declared_text) if declared_text is not None else -1.0
    if declared_text is not None and declared_score >= best_score - MARGIN:
        return declared  # the declaration holds unless another reading is clearly better
    if best is not None:
        return best
    # Nothing decodes strictly (broken bytes): the candidate with the fewest replacements.
    return min(
        [declared] * bool(declared) + list(CANDIDATES),
        key=lambda enc: sample.decode(enc, errors="replace").count("\ufffd"),
    )


def declared_encoding(response) -> str | None:
    """What a response says its encoding is, as browsers rank it: a byte-order mark, then the
    Content-Type header, then the page's own <meta> (read by w3lib). It may lie: see
    :func:`choose_encoding`."""
    bom, _ = read_bom(response.body[:4])
    if bom:
        return bom
    header = response.headers.get(b"Content-Type")
    declared = http_content_type_encoding(header.decode("latin-1")) if header else None
    return declared or html_body_declared_encoding(response.body[:4096])
