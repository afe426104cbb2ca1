"""How long reading a page costs, beside the baseline of parsing it (lxml via parsel) alone.

    .venv/bin/python bench/bench_extract.py [ROUNDS]

Reads the real marketplace pages in ../shared/eval/real/pages (when present) and the fixture
shops' pages; prints milliseconds per page for the parse alone and for parse + read_page +
licence extraction (the site spider's work per page).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import parsel

from monitor.extract import Page, read
from monitor.extract.encoding import choose_encoding
from monitor.extract.license import extract_license

ROOT = Path(__file__).resolve().parents[1]


def pages() -> list[str]:
    paths = sorted((ROOT / ".." / "shared" / "eval" / "real" / "pages").glob("*.html"))
    paths += sorted((ROOT / "tests" / "fixtures" / "shops").rglob("*.html"))
    out = []
    for p in paths:
        body = p.read_bytes()
        out.append(body.decode(choose_encoding(body, None), errors="replace"))
    return out


def main(rounds: int = 5) -> None:
    texts = pages()
    t0 = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            parsel.Selector(text=text)
    parse = (time.perf_counter() - t0) / (rounds * len(texts)) * 1000
    t0 = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            page = Page.of(text, "http://127.0.0.1/x")
            read(page, page.url)
            extract_license(page, page.url)
    full = (time.perf_counter() - t0) / (rounds * len(texts)) * 1000
    print(f"{len(texts)} pages x {rounds} rounds")
    print(f"baseline parse only      {parse:7.2f} ms/page")
    print(f"parse + read + licence   {full:7.2f} ms/page")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
