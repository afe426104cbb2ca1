"""What Scrapy components share: the configuration and records a crawler was started with.

The crawl runner puts the config path into the MONITOR_CONFIG setting; plain `scrapy crawl`
leaves it empty and gets the default config. Components call these instead of loading twice.
"""

from __future__ import annotations

from functools import lru_cache

from monitor.config import Config, load_config
from monitor.records import Records


@lru_cache(maxsize=4)
def _config(path: str | None) -> Config:
    return load_config(path)


def crawler_config(crawler) -> Config:
    return _config(crawler.settings.get("MONITOR_CONFIG") or None)


def crawler_records(crawler) -> Records:
    return Records(crawler_config(crawler).database_url)
