"""Benchmark: `monitor scan` against a jieba-only baseline on the same generated corpus.

    .venv/bin/python bench/bench_scan.py [--mb 20]

The baseline is what a matcher built on jieba alone does: jieba.lcut on each listing and a
lookup of every token in the same lexicon (normalised terms). Both run as separate processes
on the same JSONL file in the same run. Each is also timed on a one-record file holding a
candidate, which measures its fixed start-up (loading the lexicon and jieba's dictionary);
throughput is reported both as wall clock and with that start-up taken off.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import make  # noqa: E402

BASELINE = r"""
import json, sys
import jieba
from monitor.config import load_config
from monitor.lexicon import load_lexicon
jieba.setLogLevel(60)
lex = load_lexicon(load_config().lexicon_dir)
words = {t.key for t in lex.terms}
out = []
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        rec = json.loads(line)
        found = sorted({lex.terms[0].category for tok in jieba.lcut((rec.get("title") or "") + " " + (rec.get("text") or "")) if tok in words})
        out.append(json.dumps({"id": rec.get("id"), "categories": found}))
sys.stdout.write("\n".join(out))
"""


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--mb",
        type=float,
        default=20.0,
        help="corpus size in MB (at least 20 for the figure of record)",
    )
    a = ap.parse_args()
    py = sys.executable
    monitor = [py, "-m", "monitor.cli", "scan"]
    baseline = [py, "-c", BASELINE]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        records = make(corpus, a.mb)
        one = Path(tmp) / "one.jsonl"
        one.write_text('{"id": 1, "title": "淘宝刷单", "text": "电动牙刷单价"}\n', encoding="utf-8")
        mb = corpus.stat().st_size / 1e6
        print(f"corpus: {records} listings, {mb:.1f} MB")
        timed(monitor + [str(one)])  # warm caches (folding table, jieba's dictionary cache)
        rows = []
        for name, cmd in (("monitor scan", monitor), ("jieba-only baseline", baseline)):
            start = timed(cmd + [str(one)])
            wall = timed(cmd + [str(corpus)])
            rows.append((name, start, wall, mb / wall, mb / max(wall - start, 1e-9)))
    print(f"{'':22} {'start-up s':>10} {'wall s':>8} {'MB/s wall':>10} {'MB/s after start-up':>20}")
    for name, start, wall, tput, steady in rows:
        print(f"{name:22} {start:10.2f} {wall:8.2f} {tput:10.2f} {steady:20.2f}")
    (_, _, _, t_ours, s_ours), (_, _, _, t_base, s_base) = rows
    print(
        f"ratio monitor/baseline: {t_ours / t_base:.1f}x wall clock, {s_ours / s_base:.1f}x after start-up"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
