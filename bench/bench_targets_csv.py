"""Benchmark: reading and checking a targets CSV of a million rows (a city's whole registry),
beside a bare ``csv.reader`` pass over the same bytes as the floor, in UTF-8 and in Excel's
"Unicode text" (UTF-16, tab-separated).

    .venv/bin/python bench/bench_targets_csv.py [--rows 1000000]

Every row is checked (URL, kind, credit code, lengths, duplicates) before anything is written,
so this is the part of `monitor targets import` that grows with the file; the database write is
one bulk statement after it.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import tempfile
import time
from pathlib import Path

from monitor.targets.csv import read_targets_csv


def make_table(rows: int) -> str:
    lines = ["名称,网址,类型,地区,启用"]
    lines += [
        f"网店{i:07d},http://shop{i}.example.cn/,{'storefront' if i % 7 == 0 else 'site'},南昌,是"
        for i in range(rows)
    ]
    return "\r\n".join(lines) + "\r\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    a = ap.parse_args()
    text = make_table(a.rows)
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "utf-8": (Path(tmp) / "t.csv", codecs.BOM_UTF8 + text.encode("utf-8"), ","),
            "utf-16 tab": (
                Path(tmp) / "t.txt",
                codecs.BOM_UTF16_LE + text.replace(",", "\t").encode("utf-16-le"),
                "\t",
            ),
        }
        for label, (path, raw, delimiter) in files.items():
            path.write_bytes(raw)
            started = time.perf_counter()
            decoded = path.read_bytes().decode("utf-8-sig" if label == "utf-8" else "utf-16")
            floor = sum(1 for _ in csv.reader(io.StringIO(decoded), delimiter=delimiter)) - 1
            floor_s = time.perf_counter() - started
            started = time.perf_counter()
            rows = read_targets_csv(path)
            took = time.perf_counter() - started
            assert len(rows) == floor == a.rows
            print(
                f"{label:11} {a.rows:,} rows ({len(raw) / 2**20:.0f} MiB): read and checked in "
                f"{took:.2f} s; bare csv.reader {floor_s:.2f} s (x{took / floor_s:.1f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
