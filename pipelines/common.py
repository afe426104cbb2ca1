"""What the pipelines share: the configuration and records a crawler was started with."""

from __future__ import annotations

from functools import lru_cache

from monitor.config import Config, load_config
from monitor.records import Records


@lru_cache(maxsize=4)
def _config(path: str | None) -> Config:
    return load_config(path)


def crawler_config(crawler) -> Config:
    """The config named by the MONITOR_CONFIG setting (or the default one)."""
    return _config(crawler.settings.get("MONITOR_CONFIG") or None)


def crawler_records(crawler) -> Records:
    return Records(crawler_config(crawler).database_url)
