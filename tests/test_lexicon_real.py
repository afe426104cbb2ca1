"""Precision on real marketplace titles (../shared/eval/real), judged flag by flag.

tests/fixtures/real_judgments.tsv holds our verdicts (id, T|F|B, reason; ids only, no title
text) on every title the matcher flags; they are read over shared/eval/real/judged.tsv, as
`score_real.py --judged` does. B counts half. The real titles stay in shared/ (never copied here).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from monitor import PROJECT_ROOT
from monitor.lexicon import matcher_for

REAL = PROJECT_ROOT.parent / "shared" / "eval" / "real"
JUDGMENTS = PROJECT_ROOT / "tests" / "fixtures" / "real_judgments.tsv"
MIN_PRECISION = 0.9

pytestmark = pytest.mark.skipif(
    not (REAL / "titles.jsonl").exists(), reason="shared/eval/real is not beside the project"
)


def verdicts() -> dict[str, str]:
    out = {}
    for path in (REAL / "judged.tsv", JUDGMENTS):
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
        for row in rows[1:]:
            if row:
                out[row[0]] = row[1].strip()
    return out


@pytest.fixture(scope="module")
def titles() -> list[dict]:
    with open(REAL / "titles.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def flagged(titles) -> set[str]:
    matcher = matcher_for(PROJECT_ROOT / "keywords")
    results = matcher.match_many(titles)
    return {rec["id"] for rec, res in zip(titles, results, strict=True) if res.flagged}


def test_judgments_file_names_rows_by_id_only(titles):
    text = {rec["id"]: rec["title"] for rec in titles}
    with open(JUDGMENTS, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["id", "verdict", "reason"]
    for row in rows[1:]:
        assert len(row) == 3 and row[0] in text and row[1] in ("T", "F", "B"), row
        title = text[row[0]]
        # no title copied into the reason: no run of 8 characters of the title in it
        assert not any(title[i : i + 8] in row[2] for i in range(max(0, len(title) - 7))), row


def test_every_flag_is_judged_and_precision_holds(flagged):
    judged = verdicts()
    missing = sorted(flagged - judged.keys())
    assert not missing, f"flagged titles without a verdict: {missing}"
    counts = {v: sum(1 for i in flagged if judged[i] == v) for v in "TBF"}
    precision = (counts["T"] + 0.5 * counts["B"]) / len(flagged)
    assert precision >= MIN_PRECISION, f"precision {precision:.2f} ({counts})"


def test_no_true_lead_is_lost(flagged, titles):
    ids = {rec["id"] for rec in titles}
    lost = sorted(i for i, v in verdicts().items() if v == "T" and i in ids and i not in flagged)
    assert not lost, f"titles judged T no longer flagged: {lost}"


def test_score_real_reads_the_judgments():
    result = subprocess.run(
        [
            sys.executable,
            str(REAL / "score_real.py"),
            "--cmd",
            f"{sys.executable} -m monitor.cli scan",
            "--judged",
            str(JUDGMENTS),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "not judged yet 0; true leads no longer flagged 0" in result.stdout
