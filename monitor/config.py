"""The configuration: config.yaml, validated on load, with embedded defaults.

Every key has a default, so a config file holds only what differs. Relative paths resolve
against the folder of the config file; the lexicon defaults to the project's own keywords/.
A wrong key, type or URL raises :class:`ConfigError` naming the file, line and key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor import PROJECT_ROOT
from monitor.errors import ConfigError
from monitor.yamlfile import dotted, line_of, load_yaml

ENV_VAR = "MONITOR_CONFIG"
_SPACE = re.compile(r"\s")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TARGET_KINDS = ("site", "storefront")

# section -> key -> (types, default). A default of None means "not set".
SECTIONS: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "database": {"url": ((str,), "sqlite:///data/monitor.db")},
    "evidence": {
        "dir": ((str,), "data/evidence"),
        "screenshots": ((bool,), True),
        "tsa_url": ((str,), None),  # RFC 3161 timestamp authority; unset: manifests say so
        "tsa_ca_file": ((str,), None),  # PEM root(s) the authority's tokens are checked against
        "operator": ((str,), None),  # who extracted the evidence, for the printed record
    },
    "lexicon": {"dir": ((str,), None)},
    "logs": {"dir": ((str,), "data/logs")},
    "jobs": {"dir": ((str,), "data/jobs")},
    "crawl": {
        "concurrency": ((int,), 16),
        "per_target_concurrency": ((int,), 4),
        "targets_at_once": ((int,), 4),
        "delay": ((int, float), 0.0),
        "autothrottle": ((bool,), False),
        "obey_robots": ((bool,), True),
        "max_page_bytes": ((int,), 10 * 1024 * 1024),
        "page_budget": ((int,), 5000),
        "depth_limit": ((int,), 100),
        "revisit_max_days": ((int, float), 7),
        "download_timeout": ((int, float), 30),
        "user_agent": ((str,), "Mozilla/5.0 (compatible; marketplace-monitor/0.1)"),
        # distributed runs (monitor.distributed): scrapy-redis on this Redis, keys under prefix
        "redis_url": ((str,), None),
        "redis_prefix": ((str,), "monitor"),
        "redis_lease": ((int,), 30),
    },
    "browser": {
        "executable_path": ((str,), None),
        "max_pages": ((int,), 4),
        "render_timeout": ((int, float), 30),
    },
    "console": {"token": ((str,), None)},  # login token for `monitor serve` off loopback
}
# (least, most) for numbers: a concurrency of 0 would hang a crawl, a negative delay or timeout
# means nothing, and a value past the top is a typo (16000 for 16) rather than a wish.
RANGES: dict[str, tuple[float, float]] = {
    "crawl.concurrency": (1, 1000),
    "crawl.per_target_concurrency": (1, 100),
    "crawl.targets_at_once": (1, 100),
    "crawl.delay": (0, 3600),
    "crawl.max_page_bytes": (1024, 1024**3),
    "crawl.page_budget": (1, 10_000_000),
    "crawl.depth_limit": (0, 100_000),
    "crawl.download_timeout": (0.1, 3600),
    "browser.max_pages": (1, 64),
    "browser.render_timeout": (0.1, 3600),
    "target.delay": (0, 3600),
    "target.page_budget": (1, 10_000_000),
}
# The longest text each target field may hold (the targets table's columns; a URL is a URL).
TARGET_LENGTHS = {
    "name": 200,
    "url": 2048,
    "kind": 20,
    "platform": 100,
    "region": 100,
    "credit_code": 32,
}
TARGET_KEYS: dict[str, tuple[tuple[type, ...], Any]] = {
    "name": ((str,), None),
    "url": ((str,), None),
    "kind": ((str,), "site"),
    "enabled": ((bool,), True),
    "platform": ((str,), None),
    "profile": ((str,), None),
    "render": ((bool,), False),
    "region": ((str,), None),
    "credit_code": ((str,), None),
    "obey_robots": ((bool,), None),
    "allowed_hosts": ((list,), None),
    "delay": ((int, float), None),
    "page_budget": ((int,), None),
}
PLATFORM_KEYS = (
    "listing_links",
    "title",
    "description",
    "price",
    "next_page",
    "wait_for",
    "scroll",
)


@dataclass
class Target:
    """A shop to monitor, as listed in config.yaml (or imported into the database)."""

    name: str
    url: str
    kind: str = "site"
    enabled: bool = True
    platform: str | None = None
    profile: str | None = None  # a page profile (monitor/extract/profiles/NAME.yaml); else detected
    render: bool = False
    region: str | None = None
    credit_code: str | None = None
    obey_robots: bool | None = None
    allowed_hosts: list[str] | None = None
    delay: float | None = None
    page_budget: int | None = None


@dataclass
class Config:
    """A loaded, validated configuration. Paths are absolute."""

    path: Path | None
    database_url: str
    evidence_dir: Path
    lexicon_dir: Path
    logs_dir: Path
    jobs_dir: Path | None = None
    screenshots: bool = True
    tsa_url: str | None = None
    tsa_ca_file: Path | None = None
    operator: str | None = None
    crawl: dict[str, Any] = field(default_factory=dict)
    browser: dict[str, Any] = field(default_factory=dict)
    console: dict[str, Any] = field(default_factory=dict)
    platforms: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)


def default_config_path() -> Path:
    """MONITOR_CONFIG, else ./config.yaml, else the project's own config.yaml."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    local = Path.cwd() / "config.yaml"
    return local if local.exists() else PROJECT_ROOT / "config.yaml"


def _type_name(types: tuple[type, ...]) -> str:
    names = {
        str: "text",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a mapping",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_type(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def range_problem(name: str, value: Any) -> str | None:
    """Why a number is out of the range RANGES gives ``name`` ("crawl.delay"), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return f"must be a finite number, not {value}"
    least, most = RANGES.get(name, (0, float("inf")))
    if value < least:
        return f"must be at least {least:g}, not {value:g}" + (
            " (0 would stop the crawl)" if least >= 1 and value == 0 else ""
        )
    if value > most:
        return f"must be at most {most:g}, not {value:g}"
    return None


def check_http_url(url: str) -> str | None:
    """Why ``url`` is not a usable http(s) URL, or None when it is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"not an http(s) URL: {url!r}"
    if not parts.hostname:
        return f"URL has no host: {url!r}"
    if _SPACE.search(url):
        return f"URL contains spaces: {url!r}"
    return None


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _resolve_db_url(base: Path, url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        if not db.is_absolute():
            parsed = parsed.set(database=str((base / db).resolve()))
    return parsed.render_as_string(hide_password=False)


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a configuration file (or the default one)."""
    path = Path(path) if path else default_config_path()
    file = str(path)
    data, lines = load_yaml(path, ConfigError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, line_of(lines, ()), "the file must be a mapping of sections")

    def fail(keypath: tuple, message: str) -> None:
        raise ConfigError(file, line_of(lines, keypath), f"{dotted(keypath)}: {message}")

    known = set(SECTIONS) | {"targets", "platforms"}
    for key in data:
        if key not in known:
            fail((key,), f"unknown key (known: {', '.join(sorted(known))})")

    values: dict[str, dict[str, Any]] = {}
    for section, spec in SECTIONS.items():
        given = data.get(section) or {}
        if not isinstance(given, dict):
            fail((section,), "must be a mapping")
        for key in given:
            if key not in spec:
                fail((section, key), f"unknown key (known: {', '.join(spec)})")
        values[section] = {}
        for key, (types, default) in spec.items():
            value = given.get(key, default)
            if value is not None and not _check_type(value, types):
                fail((section, key), f"must be {_type_name(types)}, not {value!r}")
            problem = range_problem(f"{section}.{key}", value)
            if problem:
                fail((section, key), problem)
            if isinstance(value, str) and _CONTROL.search(value):
                fail((section, key), "contains a control character (a line break?)")
            values[section][key] = value

    base = path.resolve().parent
    try:
        database_url = _resolve_db_url(base, values["database"]["url"])
    except Exception as exc:  # sqlalchemy's ArgumentError and friends
        fail(("database", "url"), f"not a database URL ({exc})")

    tsa_url = values["evidence"]["tsa_url"]
    if tsa_url and (problem := check_http_url(tsa_url)):
        fail(("evidence", "tsa_url"), problem)
    tsa_ca_file = values["evidence"]["tsa_ca_file"]
    if tsa_ca_file and not _resolve(base, tsa_ca_file).is_file():
        fail(("evidence", "tsa_ca_file"), f"no such file: {_resolve(base, tsa_ca_file)}")

    platforms = data.get("platforms") or {}
    if not isinstance(platforms, dict):
        fail(("platforms",), "must be a mapping of platform name to selectors")
    for pname, spec in platforms.items():
        if not isinstance(spec, dict):
            fail(("platforms", pname), "must be a mapping of selectors")
        for key, value in spec.items():
            if key not in PLATFORM_KEYS:
                fail(("platforms", pname, key), f"unknown key (known: {', '.join(PLATFORM_KEYS)})")
            if not isinstance(value, (str, bool, int)):
                fail(("platforms", pname, key), "must be a CSS selector (text)")

    raw_targets = data.get("targets") or []
    if not isinstance(raw_targets, list):
        fail(("targets",), "must be a list of targets")
    targets: list[Target] = []
    names: set[str] = set()
    for i, raw in enumerate(raw_targets):
        if not isinstance(raw, dict):
            fail(("targets", i), "must be a mapping with name and url")
        for key in raw:
            if key not in TARGET_KEYS:
                fail(("targets", i, key), f"unknown key (known: {', '.join(TARGET_KEYS)})")
        for key in ("name", "url"):
            if raw.get(key) in (None, ""):
                fail(("targets", i), f"{key} is required")
        kwargs = {}
        for key, (types, default) in TARGET_KEYS.items():
            value = raw.get(key, default)
            if value is not None and not _check_type(value, types):
                fail(("targets", i, key), f"must be {_type_name(types)}, not {value!r}")
            problem = range_problem(f"target.{key}", value)
            if problem:
                fail(("targets", i, key), problem)
            if isinstance(value, str) and len(value) > TARGET_LENGTHS.get(key, 2048):
                fail(
                    ("targets", i, key),
                    f"is {len(value)} characters long (at most {TARGET_LENGTHS.get(key, 2048)})",
                )
            kwargs[key] = value
        for j, host in enumerate(kwargs["allowed_hosts"] or []):
            if (
                not isinstance(host, str)
                or not host
                or "/" in host
                or any(c.isspace() for c in host)
            ):
                fail(("targets", i, "allowed_hosts", j), f"must be a host name, not {host!r}")
        problem = check_http_url(kwargs["url"])
        if problem:
            fail(("targets", i, "url"), problem)
        if kwargs["kind"] not in TARGET_KINDS:
            fail(
                ("targets", i, "kind"),
                f"must be one of {', '.join(TARGET_KINDS)}, not {kwargs['kind']!r}",
            )
        if kwargs["name"] in names:
            fail(("targets", i, "name"), f"duplicate target name {kwargs['name']!r}")
        if kwargs["platform"] and kwargs["platform"] not in platforms:
            fail(
                ("targets", i, "platform"),
                f"unknown platform {kwargs['platform']!r} (declare it under platforms)",
            )
        if kwargs["profile"]:
            from monitor.extract.profiles import load_profiles

            if kwargs["profile"] not in load_profiles():
                fail(
                    ("targets", i, "profile"),
                    f"unknown profile {kwargs['profile']!r} "
                    f"(known: {', '.join(sorted(load_profiles()))})",
                )
        names.add(kwargs["name"])
        targets.append(Target(**kwargs))

    lexicon_dir = values["lexicon"]["dir"]
    return Config(
        path=path.resolve(),
        database_url=database_url,
        evidence_dir=_resolve(base, values["evidence"]["dir"]),
        lexicon_dir=_resolve(base, lexicon_dir) if lexicon_dir else PROJECT_ROOT / "keywords",
        logs_dir=_resolve(base, values["logs"]["dir"]),
        jobs_dir=_resolve(base, values["jobs"]["dir"]),
        screenshots=values["evidence"]["screenshots"],
        tsa_url=values["evidence"]["tsa_url"],
        tsa_ca_file=(
            _resolve(base, values["evidence"]["tsa_ca_file"])
            if values["evidence"]["tsa_ca_file"]
            else None
        ),
        operator=values["evidence"]["operator"],
        crawl=values["crawl"],
        browser=values["browser"],
        console=values["console"],
        platforms=platforms,
        targets=targets,
    )
