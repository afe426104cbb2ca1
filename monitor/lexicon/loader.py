"""Read keywords/*.yaml into a :class:`Lexicon`, validating as it goes.

One file per category (``id``, ``label``, ``legal_basis``, ``severity``, ``terms``,
``exclusions``, ``combos``). Files whose name starts with ``_`` hold shared context:
``_context.yaml`` has the negation cues that cancel a hit when they stand just before it
(拒绝刷单) and the warning cues that cancel it when they follow (刷单是诈骗).
Every error names the file and line; nothing is half-loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import LexiconError
from monitor.lexicon.normalize import normalize_term
from monitor.yamlfile import dotted, line_of, load_yaml

SEVERITIES = ("high", "medium", "low")
CATEGORY_KEYS = (
    "id",
    "label",
    "legal_basis",
    "severity",
    "description",
    "terms",
    "exclusions",
    "combos",
)
TERM_KEYS = ("term", "note", "variants", "exclusions")
COMBO_KEYS = ("name", "any", "with", "within", "note", "exclusions")
CONTEXT_KEYS = ("negation_before", "warning_after", "window")


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


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    legal_basis: tuple[str, ...]
    severity: str
    file: str
    exclusions: tuple[str, ...] = ()


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
    cat_excl = tuple(
        _key(s, file, line_of(lines, ("exclusions", i)))
        for i, s in enumerate(
            _strings(data.get("exclusions"), file, lines, ("exclusions",), "an exclusion")
        )
    )
    lex.categories[cid] = Category(
        cid, data["label"].strip(), tuple(basis), severity, file, cat_excl
    )

    terms = data.get("terms") or []
    if not isinstance(terms, list):
        fail(("terms",), "must be a list")
    for i, entry in enumerate(terms):
        path_i = ("terms", i)
        line = line_of(lines, path_i)
        if isinstance(entry, (str, int)) and not isinstance(entry, bool):
            entry = {"term": str(entry)}
        if not isinstance(entry, dict):
            fail(path_i, "a term is a word or a mapping with term, note, variants, exclusions")
        for key in entry:
            if key not in TERM_KEYS:
                fail(path_i + (key,), f"unknown key (known: {', '.join(TERM_KEYS)})")
        text = entry.get("term")
        if not isinstance(text, (str, int)) or isinstance(text, bool) or not str(text).strip():
            fail(path_i, "term is required (text)")
        text = str(text).strip()
        note = entry.get("note")
        excl = tuple(
            _key(s, file, line)
            for s in _strings(
                entry.get("exclusions"), file, lines, path_i + ("exclusions",), "an exclusion"
            )
        )
        source = f"{file}:{line}"
        lex.terms.append(Term(text, _key(text, file, line), cid, text, excl, note, source))
        for v in _strings(entry.get("variants"), file, lines, path_i + ("variants",), "a variant"):
            lex.terms.append(Term(v, _key(v, file, line), cid, text, excl, note, source))

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
            )
        )


def load_lexicon(directory: str | Path) -> Lexicon:
    """Load every keywords/*.yaml in ``directory``; raise :class:`LexiconError` on the first problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LexiconError(str(directory), None, "lexicon folder not found")
    lex = Lexicon(directory=directory)
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        raise LexiconError(str(directory), None, "no *.yaml lexicon files in the folder")
    for path in files:
        if path.name.startswith("_"):
            _load_context(lex, path)
        else:
            _load_category(lex, path)
    return lex
