"""Platform and shop-system profiles: how a known kind of shop lays out its pages, as data.

One YAML file per platform or shop system in ``monitor/extract/profiles/`` (like keywords/):
where its item pages keep the title, price and description (CSS selectors with parsel's
``::text`` / ``::attr(name)``, and dotted paths into script state), how its list pages show
goods, and the fingerprints that give it away (generator meta, asset paths, script variables,
host names). A target may name its profile (``profile:`` in config.yaml); otherwise the
profile whose fingerprints the page shows most is used. Adding a profile is a data file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from monitor.errors import UserInputError
from monitor.yamlfile import dotted, line_of, load_yaml

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


class ProfileError(UserInputError):
    """A profile file is malformed."""


# key -> (type, description); every key optional except name.
KEYS = {
    "name": str,
    "label": str,
    "fingerprint": dict,
    "title_suffixes": list,
    "item": dict,
    "list": dict,
}
FINGERPRINT_KEYS = {"hosts": list, "generator": list, "markers": list}
ITEM_KEYS = {"state": list, "title": list, "price": list, "description": list, "signals": list}
LIST_KEYS = {"state": list, "items": str, "item_title": list, "item_link": list}
STATE_KEYS = {"name", "title", "price", "description", "items", "url"}


@dataclass
class Profile:
    """One platform or shop system."""

    name: str
    label: str = ""
    hosts: list[str] = field(default_factory=list)
    generator: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    title_suffixes: list[str] = field(default_factory=list)
    item: dict = field(default_factory=dict)
    list: dict = field(default_factory=dict)

    def state_names(self) -> tuple[str, ...]:
        return tuple(
            s["name"]
            for part in (self.item, self.list)
            for s in part.get("state", [])
            if s.get("name")
        )

    def score(self, host: str, low: str) -> int:
        """How strongly a page shows this profile's fingerprints (0: not at all), given the
        page's host and fingerprint text, both lower-cased (once per page, not per profile)."""
        score = 0
        if any(host == h or host.endswith("." + h) for h in self.hosts):
            score += 3
        score += 2 * sum(1 for g in self.generator if g.lower() in low)
        score += sum(1 for m in self.markers if m.lower() in low)
        return score


def _check(data, spec: dict, file: str, lines, path: tuple) -> None:
    if not isinstance(data, dict):
        raise ProfileError(
            file, line_of(lines, path), f"{dotted(path) or 'the file'} must be a mapping"
        )
    for key, value in data.items():
        if key not in spec:
            raise ProfileError(
                file, line_of(lines, path + (key,)), f"unknown key {dotted(path + (key,))!r}"
            )
        if not isinstance(value, spec[key]):
            raise ProfileError(
                file,
                line_of(lines, path + (key,)),
                f"{dotted(path + (key,))} must be a {spec[key].__name__}",
            )


def load_profile(path: Path) -> Profile:
    data, lines = load_yaml(path, ProfileError)
    file = str(path)
    _check(data, KEYS, file, lines, ())
    if not data.get("name"):
        raise ProfileError(file, 1, "a profile needs a name")
    fp = data.get("fingerprint") or {}
    _check(fp, FINGERPRINT_KEYS, file, lines, ("fingerprint",))
    for part, spec in (("item", ITEM_KEYS), ("list", LIST_KEYS)):
        _check(data.get(part) or {}, spec, file, lines, (part,))
        for i, state in enumerate((data.get(part) or {}).get("state", [])):
            where = (part, "state", i)
            if not isinstance(state, dict) or not state.get("name"):
                raise ProfileError(file, line_of(lines, where), f"{dotted(where)} needs a name")
            extra = set(state) - STATE_KEYS
            if extra:
                raise ProfileError(
                    file,
                    line_of(lines, where),
                    f"unknown key {sorted(extra)[0]!r} in {dotted(where)}",
                )
    return Profile(
        name=data["name"],
        label=data.get("label", ""),
        hosts=[str(h).lower() for h in fp.get("hosts", [])],
        generator=[str(g) for g in fp.get("generator", [])],
        markers=[str(m) for m in fp.get("markers", [])],
        title_suffixes=[str(s) for s in data.get("title_suffixes", [])],
        item=data.get("item") or {},
        list=data.get("list") or {},
    )


@lru_cache(maxsize=4)
def load_profiles(directory: str | None = None) -> dict[str, Profile]:
    """Every profile in ``directory`` (default: the shipped ones), by name."""
    folder = Path(directory) if directory else PROFILE_DIR
    out: dict[str, Profile] = {}
    for path in sorted(folder.glob("*.yaml")):
        profile = load_profile(path)
        out[profile.name] = profile
    return out


def detect(url: str, fingerprint_text: str, profiles: dict[str, Profile]) -> Profile | None:
    """The profile the page shows most fingerprints of (at least two), or None."""
    best, best_score = None, 1
    host, low = (urlsplit(url).hostname or "").lower(), fingerprint_text.lower()
    for profile in profiles.values():
        score = profile.score(host, low)
        if score > best_score:
            best, best_score = profile, score
    return best
