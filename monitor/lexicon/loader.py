"""Read keywords/*.yaml into a :class:`Lexicon`, validating as it goes.

One file per category (``id``, ``label``, ``legal_basis``, ``severity``, ``terms``,
``exclusions``, ``combos``). Files whose name starts with ``_`` hold shared context:
``_context.yaml`` has the negation cues that cancel a hit when they stand just before it
(拒绝刷单) and the warning cues that cancel it when they follow (刷单是诈骗).
Every error names the file and line; nothing is half-loaded.

A term hits only when it is used as what it names, so each term (or a group of terms, or the
whole category) can say what it is *not*:

- ``exclusions``: longer words it must not be part of (象牙 in 象牙白, 特供 in 特供应);
- ``not_before`` / ``not_after``: what, standing right after / right before it, makes it part of
  a name, a colour or a model (至尊 + 款, 象牙 + 灰, 2005 + 复刻); ``{model}`` stands for a
  Latin/digit model code (犀牛角 WM-D6), ``{year}`` for a year, ``{shop}`` for the rest of a
  shop or company name (至尊数码旗舰店);
- ``not_near`` (within ``within`` characters either side): the company that gives it its
  everyday sense (万能 + 遥控器 is "universal", 礼花 + 婚庆 is confetti, a货 + 翡翠 is a grade);
- ``why``: the rule or case wording it comes from, shown by ``lexicon explain``/``review``.

A ``terms`` entry may be a group: ``{why: …, not_near: […], terms: [...]}``; its terms share
what it says, and their own keys add to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import LexiconError
from monitor.lexicon.normalize import normalize_term
from monitor.yamlfile import dotted, line_of, load_yaml

SEVERITIES = ("high", "medium", "low")
SENSE_KEYS = ("exclusions", "not_before", "not_after", "not_near", "within")
CATEGORY_KEYS = (
    "id",
    "label",
    "legal_basis",
    "severity",
    "description",
    "terms",
    "combos",
) + SENSE_KEYS
TERM_KEYS = ("term", "note", "why", "variants") + SENSE_KEYS
GROUP_KEYS = ("group", "note", "why", "terms") + SENSE_KEYS
#: Placeholders in not_before / not_after.
PATTERNS = {
    "{model}": r"[a-z]{1,6}[-_]?[a-z]*\d",  # a Latin/digit model code: wm-d6, x5
    "{year}": r"(?:19|20)\d\d年?",
    # the rest of a shop or company name: 至尊数码旗舰店, 王牌电器有限公司
    "{shop}": r"[\u4e00-\u9fff]{0,6}?(?:旗舰店|专营店|专卖店|官方店|有限公司|公司|集团)",
}
DEFAULT_WITHIN = 8
COMBO_KEYS = ("name", "any", "with", "within", "note", "why", "exclusions")
CONTEXT_KEYS = ("negation_before", "warning_after", "window")


@dataclass(frozen=True)
class Sense:
    """What a word is not: the contexts that give it another sense (see the module docstring)."""

    exclusions: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()
    not_after: tuple[str, ...] = ()
    not_near: tuple[str, ...] = ()
    within: int | None = None  # None: not said here (the nearest that says it wins)

    def __add__(self, other: Sense) -> Sense:
        """This sense narrowed by ``other`` (a group by its term, a category by its group)."""
        return Sense(
            self.exclusions + other.exclusions,
            self.not_before + other.not_before,
            self.not_after + other.not_after,
            self.not_near + other.not_near,
            self.within if other.within is None else other.within,
        )

    @property
    def reach(self) -> int:
        """How far (characters either side) ``not_near`` company is looked for."""
        return DEFAULT_WITHIN if self.within is None else self.within

    def __bool__(self) -> bool:
        return bool(self.exclusions or self.not_before or self.not_after or self.not_near)


@dataclass(frozen=True)
class Term:
    """A word or phrase that makes a hit on its own."""

    text: str  # as written in the file
    key: str  # normalised, what the matcher searches for
    category: str
    canonical: str  # the main term, for a variant
    exclusions: tuple[str, ...] = ()
    note: str | None = None
    source: str = ""
    sense: Sense = Sense()  # the term's own and its group's (not the category's)
    why: str | None = None


@dataclass(frozen=True)
class Combo:
    """Two word lists: a hit when a word of each stands within ``within`` characters."""

    name: str
    category: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    within: int
    exclusions: tuple[str, ...] = ()
    note: str | None = None
    source: str = ""
    why: str | None = None


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    legal_basis: tuple[str, ...]
    severity: str
    file: str
    exclusions: tuple[str, ...] = ()
    sense: Sense = Sense()


@dataclass
class Lexicon:
    """Everything the matcher needs, loaded from a folder of YAML files."""

    directory: Path
    categories: dict[str, Category] = field(default_factory=dict)
    terms: list[Term] = field(default_factory=list)
    combos: list[Combo] = field(default_factory=list)
    negation_before: tuple[str, ...] = ()
    warning_after: tuple[str, ...] = ()
    cue_window: int = 6

    def label(self, category: str) -> str:
        cat = self.categories.get(category)
        return cat.label if cat else category


def _strings(value: Any, file: str, lines: dict, path: tuple, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise LexiconError(
            file, line_of(lines, path), f"{dotted(path)}: {what} must be a list of words"
        )
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, (str, int)) or isinstance(v, bool) or not str(v).strip():
            raise LexiconError(
                file,
                line_of(lines, path + (i,)),
                f"{dotted(path)}[{i}]: {what} must be a non-empty word",
            )
        out.append(str(v).strip())
    return out


def _key(text: str, file: str, line: int | None) -> str:
    key = normalize_term(text)
    if not key:
        raise LexiconError(file, line, f"{text!r} is empty once normalised")
    return key


def _sense(entry: dict, file: str, lines: dict, path: tuple) -> Sense:
    """The sense keys of a category, group or term mapping."""

    def words(key: str, what: str, placeholders: bool = False) -> tuple[str, ...]:
        out = []
        for i, s in enumerate(_strings(entry.get(key), file, lines, path + (key,), what)):
            if placeholders and s.startswith("{"):
                if s not in PATTERNS:
                    raise LexiconError(
                        file,
                        line_of(lines, path + (key, i)),
                        f"{dotted(path + (key,))}[{i}]: unknown placeholder {s!r} "
                        f"(known: {', '.join(PATTERNS)})",
                    )
                out.append(s)
            else:
                out.append(_key(s, file, line_of(lines, path + (key, i))))
        return tuple(out)

    within = entry.get("within")
    if within is not None and (
        not isinstance(within, int) or isinstance(within, bool) or within < 0
    ):
        raise LexiconError(
            file,
            line_of(lines, path + ("within",)),
            f"{dotted(path + ('within',))}: must be a whole number of characters",
        )
    return Sense(
        words("exclusions", "an exclusion"),
        words("not_before", "a word", True),
        words("not_after", "a word", True),
        words("not_near", "a word"),
        within,
    )


def _why(entry: dict, file: str, lines: dict, path: tuple) -> str | None:
    why = entry.get("why")
    if why is not None and (not isinstance(why, str) or not why.strip()):
        raise LexiconError(file, line_of(lines, path + ("why",)), "why must be text")
    return why.strip() if why else None


def _load_context(lex: Lexicon, path: Path) -> None:
    file = str(path)
    data, lines = load_yaml(path, LexiconError)
    data = data or {}
    if not isinstance(data, dict):
        raise LexiconError(file, 1, "must be a mapping")
    for key in data:
        if key not in CONTEXT_KEYS:
            raise LexiconError(
                file,
                line_of(lines, (key,)),
                f"unknown key {key!r} (known: {', '.join(CONTEXT_KEYS)})",
            )
    lex.negation_before += tuple(
        _key(s, file, None)
        for s in _strings(data.get("negation_before"), file, lines, ("negation_before",), "a cue")
    )
    lex.warning_after += tuple(
        _key(s, file, None)
        for s in _strings(data.get("warning_after"), file, lines, ("warning_after",), "a cue")
    )
    window = data.get("window", lex.cue_window)
    if not isinstance(window, int) or isinstance(window, bool) or window < 0:
        raise LexiconError(
            file, line_of(lines, ("window",)), "window must be a whole number of characters"
        )
    lex.cue_window = window


def _load_category(lex: Lexicon, path: Path) -> None:
    file = str(path)
    data, lines = load_yaml(path, LexiconError)
    if not isinstance(data, dict):
        raise LexiconError(file, 1, "a category file must be a mapping with id, label and terms")

    def fail(keypath: tuple, message: str) -> None:
        raise LexiconError(
            file, line_of(lines, keypath), f"{dotted(keypath)}: {message}" if keypath else message
        )

    for key in data:
        if key not in CATEGORY_KEYS:
            fail((key,), f"unknown key (known: {', '.join(CATEGORY_KEYS)})")
    for key in ("id", "label"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            fail((key,) if key in data else (), f"{key} is required (text)")
    cid = data["id"].strip()
    if cid in lex.categories:
        fail(("id",), f"category {cid!r} is also defined in {lex.categories[cid].file}")
    severity = data.get("severity", "medium")
    if severity not in SEVERITIES:
        fail(("severity",), f"must be one of {', '.join(SEVERITIES)}")
    basis = _strings(data.get("legal_basis"), file, lines, ("legal_basis",), "a legal basis")
    cat_sense = _sense(data, file, lines, ())
    lex.categories[cid] = Category(
        cid, data["label"].strip(), tuple(basis), severity, file, cat_sense.exclusions, cat_sense
    )

    def load_terms(entries: Any, path: tuple, group: Sense, group_why: str | None) -> None:
        if not isinstance(entries, list):
            fail(path, "must be a list")
        for i, entry in enumerate(entries):
            path_i = path + (i,)
            line = line_of(lines, path_i)
            if isinstance(entry, (str, int)) and not isinstance(entry, bool):
                entry = {"term": str(entry)}
            if not isinstance(entry, dict):
                fail(path_i, "a term is a word, a mapping with term, or a group with terms")
            if "terms" in entry:
                if len(path) > 1:
                    fail(path_i, "a group cannot hold another group")
                for key in entry:
                    if key not in GROUP_KEYS:
                        fail(path_i + (key,), f"unknown key (known: {', '.join(GROUP_KEYS)})")
                load_terms(
                    entry["terms"],
                    path_i + ("terms",),
                    group + _sense(entry, file, lines, path_i),
                    _why(entry, file, lines, path_i) or group_why,
                )
                continue
            for key in entry:
                if key not in TERM_KEYS:
                    fail(path_i + (key,), f"unknown key (known: {', '.join(TERM_KEYS)})")
            text = entry.get("term")
            if not isinstance(text, (str, int)) or isinstance(text, bool) or not str(text).strip():
                fail(path_i, "term is required (text)")
            text = str(text).strip()
            note = entry.get("note")
            sense = group + _sense(entry, file, lines, path_i)
            why = _why(entry, file, lines, path_i) or group_why
            source = f"{file}:{line}"
            variants = _strings(
                entry.get("variants"), file, lines, path_i + ("variants",), "a variant"
            )
            for written in [text, *variants]:
                lex.terms.append(
                    Term(
                        written,
                        _key(written, file, line),
                        cid,
                        text,
                        sense.exclusions,
                        note,
                        source,
                        sense,
                        why,
                    )
                )

    load_terms(data.get("terms") or [], ("terms",), Sense(), None)

    combos = data.get("combos") or []
    if not isinstance(combos, list):
        fail(("combos",), "must be a list")
    for i, entry in enumerate(combos):
        path_i = ("combos", i)
        line = line_of(lines, path_i)
        if not isinstance(entry, dict):
            fail(path_i, "a combination rule is a mapping with any, with and within")
        for key in entry:
            if key not in COMBO_KEYS:
                fail(path_i + (key,), f"unknown key (known: {', '.join(COMBO_KEYS)})")
        left = _strings(entry.get("any"), file, lines, path_i + ("any",), "a word")
        right = _strings(entry.get("with"), file, lines, path_i + ("with",), "a word")
        if not left or not right:
            fail(path_i, "a combination rule needs both any: and with: word lists")
        within = entry.get("within", 10)
        if not isinstance(within, int) or isinstance(within, bool) or within < 0:
            fail(path_i + ("within",), "must be a whole number of characters")
        name = str(entry.get("name") or f"{left[0]}+{right[0]}")
        excl = tuple(
            _key(s, file, line)
            for s in _strings(
                entry.get("exclusions"), file, lines, path_i + ("exclusions",), "an exclusion"
            )
        )
        lex.combos.append(
            Combo(
                name,
                cid,
                tuple(_key(s, file, line) for s in left),
                tuple(_key(s, file, line) for s in right),
                within,
                excl,
                entry.get("note"),
                f"{file}:{line}",
                _why(entry, file, lines, path_i),
            )
        )


def load_lexicon(directory: str | Path) -> Lexicon:
    """Load every keywords/*.yaml in ``directory``; raise :class:`LexiconError` on the first problem.

    Reading and normalising the files costs about 0.15 s, on every command that loads them: a
    lexicon that loaded cleanly is kept in the cache folder (:func:`_cached_path`), keyed by
    the files' names and bytes and by the code that reads them, and read back from there."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LexiconError(str(directory), None, "lexicon folder not found")
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise LexiconError(str(directory), None, "no *.yaml lexicon files in the folder")
    cached = _cached_path(directory, files)
    if cached is not None:
        lex = _read_cached(cached)
        if lex is not None:
            return lex
    lex = Lexicon(directory=directory)
    for path in files:
        if path.name.startswith("_"):
            _load_context(lex, path)
        else:
            _load_category(lex, path)
    if cached is not None:
        _write_cached(cached, lex)
    return lex


CACHE_KEEP = 16  # cached lexicons kept (tests and reviews load many folders)


def _cached_path(directory: Path, files: list[Path]) -> Path | None:
    """Where the lexicon of these exact files is cached (None: a file cannot be read; the
    loader then names it)."""
    import hashlib
    import pickle
    import sys

    from monitor.lexicon.normalize import _cache_path

    digest = hashlib.sha256()
    fold = _cache_path()  # keyed by the variant table and the OpenCC and Unicode versions
    for part in (
        str(directory),
        fold.name,
        sys.version,
        str(pickle.HIGHEST_PROTOCOL),
        Path(__file__).read_bytes(),
        (Path(__file__).parent / "normalize.py").read_bytes(),
    ):
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    try:
        for path in files:
            digest.update(path.name.encode("utf-8", "surrogatepass") + b"\0")
            digest.update(path.read_bytes() + b"\0")
    except OSError:
        return None
    return fold.parent / f"lexicon-{digest.hexdigest()[:32]}.pickle"


def _read_cached(path: Path) -> Lexicon | None:
    import pickle

    try:
        with path.open("rb") as f:
            lex = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    return lex if isinstance(lex, Lexicon) else None


def _write_cached(path: Path, lex: Lexicon) -> None:
    """Write atomically (a concurrent reader sees the old file or the new one); keep the
    CACHE_KEEP most recent lexicons. A cache folder that cannot be written only costs time."""
    import os
    import pickle
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lexicon-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(lex, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        cached = sorted(path.parent.glob("lexicon-*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in cached[:-CACHE_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
