"""Fold the ways sellers disguise a term, keeping a map back to the original offsets.

Two stages:

1. A one-to-one character table (``str.translate``, C speed): full-width and compatibility
   forms to their plain form (NFKC, where it gives one character), case folding, traditional
   to simplified script (OpenCC t2s, character by character) and the variant characters OpenCC
   leaves alone (倣 -> 仿, 粧 -> 妆, 衞 -> 卫), from a table compiled out of Unihan
   (variants.tsv, see tools/gen_variants.py). Length never changes, so offsets survive.
2. Deletions, each recorded so offsets map back: zero-width characters anywhere; filler
   symbols slipped between two Han characters (刷/单, 高·仿, 好评​返现); and spaces inside a run
   of single Han characters (刷 单 平 台), while a space between real words stays a boundary
   (牙刷 单只装 keeps its space).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
ZERO_WIDTH = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\u3164\ufeff\uffa0"
# Symbols sellers slip between characters; sentence punctuation (，。、；) is not among them,
# so clauses stay apart.
FILLERS = r"·•‧∙⋅・*★☆✩✪✦✧♥♡❤/\\|_~^#@&+=.\-—–…'\"`°※○●◇◆□■△▲▽▼×✕✖"
SPACES = " \t\u3000\u00a0"

#: Variant characters (异体字) OpenCC's t2s leaves alone, folded onto common ones: compiled from
#: Unihan's variant fields by tools/gen_variants.py (rare<TAB>common<TAB>field per line).
VARIANTS_FILE = Path(__file__).with_name("variants.tsv")
#: Bumped when the way the table is built changes, so a cached table is rebuilt.
TABLE_VERSION = 2


@lru_cache(maxsize=1)
def variants() -> dict[str, str]:
    """The variant folding table: {rare character: the common character it stands for}."""
    table = {}
    with open(VARIANTS_FILE, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            rare, common = line.rstrip("\n").split("\t")[:2]
            table[rare] = common
    return table


@lru_cache(maxsize=1)
def char_table() -> dict[int, str]:
    """The one-to-one folding table, built once per process (~0.3 s)."""
    import opencc

    table: dict[int, str] = {}
    han: list[str] = []
    for cp in range(0x20, 0x2FFFF):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) != 1:
            folded = ch
        lowered = folded.lower()
        if len(lowered) == 1:
            folded = lowered
        if folded != ch:
            table[cp] = folded
        if (
            "\u3400" <= folded <= "\u9fff"
            or "\uf900" <= folded <= "\ufaff"
            or folded >= "\U00020000"
        ):
            han.append(folded)
    # OpenCC converts phrases; isolated characters (one per line) give the per-character map.
    unique = sorted(set(han))
    converted = opencc.OpenCC("t2s").convert("\n".join(unique)).split("\n")
    simple = {}
    if len(converted) == len(unique):
        simple = {a: b for a, b in zip(unique, converted, strict=True) if len(b) == 1 and a != b}
    folds = variants()
    for cp in list(range(0x20, 0x2FFFF)):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        cur = table.get(cp, chr(cp))
        new = simple.get(cur, cur)
        new = folds.get(cur) or folds.get(new, new)  # Unihan names the original or its t2s form
        if new != chr(cp):
            table[cp] = new
        elif cp in table:
            del table[cp]
    return table


_RE_ZERO_WIDTH = re.compile(f"[{ZERO_WIDTH}]+")
_RE_FILLER = re.compile(
    f"(?<=[{HAN}])[{FILLERS}{SPACES}{ZERO_WIDTH}]{{0,3}}[{FILLERS}{ZERO_WIDTH}][{FILLERS}{SPACES}{ZERO_WIDTH}]{{0,3}}(?=[{HAN}])"
)
_RE_SPACED_RUN = re.compile(f"(?<![{HAN}])[{HAN}](?:[{SPACES}]+[{HAN}](?![{HAN}]))+")
_RE_SPACES = re.compile(f"[{SPACES}]+")


class OffsetMap:
    """Maps an index in the normalised text back to the original text.

    Kept as the starts of the slices of the original that survived deletion: slice k starts
    at ``norm_starts[k]`` in the normalised text and ``orig_starts[k]`` in the original.
    """

    __slots__ = ("norm_starts", "orig_starts", "orig_len")

    def __init__(self, norm_starts: list[int], orig_starts: list[int], orig_len: int) -> None:
        self.norm_starts = norm_starts
        self.orig_starts = orig_starts
        self.orig_len = orig_len

    def to_orig(self, i: int) -> int:
        """Original index of the character at normalised index ``i``."""
        k = bisect.bisect_right(self.norm_starts, i) - 1
        if k < 0:
            return 0
        return min(self.orig_starts[k] + (i - self.norm_starts[k]), self.orig_len)


@dataclass
class Normalized:
    """Normalised text with the way back to the original (no map: nothing was deleted)."""

    original: str
    text: str
    offsets: OffsetMap | None = None

    def to_orig(self, i: int) -> int:
        if self.offsets is not None:
            i = self.offsets.to_orig(i)
        return min(i, len(self.original))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of the normalised span [start, end)."""
        if end <= start:
            o = self.to_orig(start)
            return o, o
        return self.to_orig(start), self.to_orig(end - 1) + 1


def _delete(text: str, spans: list[tuple[int, int]]) -> tuple[str, OffsetMap]:
    """Remove sorted, non-overlapping spans; return the text left and its offset map."""
    pieces, norm_starts, orig_starts = [], [], []
    pos = n = 0
    for s, e in spans:
        if s > pos:
            pieces.append(text[pos:s])
            norm_starts.append(n)
            orig_starts.append(pos)
            n += s - pos
        pos = e
    if pos < len(text) or not pieces:
        pieces.append(text[pos:])
        norm_starts.append(n)
        orig_starts.append(pos)
    return "".join(pieces), OffsetMap(norm_starts, orig_starts, len(text))


def deletions(text: str) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans of folded ``text`` that normalisation deletes: zero-width
    characters, fillers between Han characters, spaces inside a run of single Han characters."""
    spans = [m.span() for m in _RE_ZERO_WIDTH.finditer(text)]
    spans += [m.span() for m in _RE_FILLER.finditer(text)]
    for run in _RE_SPACED_RUN.finditer(text):
        base = run.start()
        spans.extend((base + m.start(), base + m.end()) for m in _RE_SPACES.finditer(run.group()))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _cache_path():
    import hashlib
    import os

    import opencc

    key = hashlib.sha256(
        repr(
            (
                TABLE_VERSION,
                VARIANTS_FILE.read_bytes(),
                getattr(opencc, "__version__", ""),
                unicodedata.unidata_version,
            )
        ).encode()
    ).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marketplace-monitor"
    return base / f"fold-{key}.npy"


@lru_cache(maxsize=1)
def _table_array():
    """The character table as a code point -> code point array, for numpy lookups.

    Building it takes ~0.7 s (NFKC and OpenCC over every code point), so it is cached on disk
    keyed by the variant table and the OpenCC and Unicode versions."""
    import numpy as np

    path = _cache_path()
    try:
        arr = np.load(path)
        if arr.shape == (0x110000,):
            return arr
    except (OSError, ValueError):
        pass
    arr = np.arange(0x110000, dtype=np.uint32)
    items = char_table()
    arr[np.fromiter(items.keys(), dtype=np.uint32, count=len(items))] = np.fromiter(
        (ord(v) for v in items.values()), dtype=np.uint32, count=len(items)
    )
    try:
        import io

        from monitor.evidence import write_atomic

        buf = io.BytesIO()
        np.save(buf, arr)
        write_atomic(path, buf.getvalue())
    except OSError:
        pass  # a read-only home only costs the rebuild
    return arr


_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2EBEF))
_C_HAN, _C_FILLER, _C_SPACE, _C_ZERO = 1, 2, 4, 8


@lru_cache(maxsize=1)
def _class_array():
    """One byte per code point: is it Han, a filler symbol, a space, a zero-width character."""
    import numpy as np

    classes = np.zeros(0x110000, dtype=np.uint8)
    for lo, hi in _HAN_RANGES:
        classes[lo : hi + 1] |= _C_HAN
    for ch in re.sub(r"\\(.)", r"\1", FILLERS):
        classes[ord(ch)] |= _C_FILLER
    for ch in SPACES:
        classes[ord(ch)] |= _C_SPACE
    for m in re.finditer(
        f"[{ZERO_WIDTH}]",
        "".join(chr(c) for c in range(0x20, 0x10000) if not 0xD800 <= c <= 0xDFFF),
    ):
        classes[ord(m.group())] |= _C_ZERO
    return classes


def _folded_points(text: str):
    """The folded code points of ``text`` (one numpy lookup over its UTF-32 form)."""
    import numpy as np

    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _table_array()[points]


def _as_text(points) -> str:
    return points.tobytes().decode("utf-32-le", "surrogatepass")


def fold_and_flag(text: str):
    """Fold ``text`` and find where normalisation might delete characters, in one numpy pass.

    Returns (folded text, positions): a filler or zero-width character after a Han character
    or a space (刷/单, 高 ·仿), a space after a single Han character (刷 单), or a zero-width
    character anywhere. Used to pick, in a batch, the few fields worth a full normalisation;
    the test looks up to two characters back, so joined fields should start with a separator.
    """
    import numpy as np

    folded = _folded_points(text)
    cls = _class_array()[folded]
    han = (cls & _C_HAN) != 0
    filler = (cls & (_C_FILLER | _C_ZERO)) != 0
    space = (cls & _C_SPACE) != 0
    flags = (cls & _C_ZERO) != 0
    flags[1:] |= filler[1:] & (han[:-1] | space[:-1])
    flags[2:] |= space[2:] & han[1:-1] & ~han[:-2]
    return _as_text(folded), np.flatnonzero(flags)


def fold(text: str) -> str:
    """Stage 1 only: the character table (length preserved).

    ASCII needs only case folding; anything else goes through one numpy lookup over its
    UTF-32 code points, which is several times faster than ``str.translate`` with a dict.
    """
    return text.lower() if text.isascii() else _as_text(_folded_points(text))


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching; see the module docstring."""
    cur = fold(text)
    spans = deletions(cur)
    if not spans:
        return Normalized(text, cur)
    cur, offsets = _delete(cur, spans)
    return Normalized(text, cur, offsets)


def normalize_term(term: str) -> str:
    """A lexicon term in the form the matcher searches for."""
    return normalize(term.strip()).text
