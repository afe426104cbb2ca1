"""config.yaml written once into a crawler's settings, so every way of crawling behaves the same.

``monitor crawl``/``nightly`` load the config and pass :func:`settings_from_config` to their
crawler; plain ``scrapy crawl site -a url=URL`` gets the same settings from :class:`ConfigAddon`
(listed in ADDONS), which loads the config named by MONITOR_CONFIG (or the default one) only
when the runner has not already written it. Components then read ``MONITOR_*`` settings (see
monitor.crawl.crawlercontext) and nothing reads the YAML file again.
"""

from __future__ import annotations

from typing import Any

from monitor.config import Config, load_config

# config.yaml crawl keys -> the Scrapy setting each one is
CRAWL_SETTINGS = {
    "concurrency": "CONCURRENT_REQUESTS",
    "per_target_concurrency": "CONCURRENT_REQUESTS_PER_DOMAIN",
    "delay": "DOWNLOAD_DELAY",
    "autothrottle": "AUTOTHROTTLE_ENABLED",
    "obey_robots": "ROBOTSTXT_OBEY",
    "max_page_bytes": "DOWNLOAD_MAXSIZE",
    "page_budget": "MONITOR_PAGE_BUDGET",
    "depth_limit": "DEPTH_LIMIT",
    "download_timeout": "DOWNLOAD_TIMEOUT",
    "user_agent": "USER_AGENT",
    "revisit_max_days": "MONITOR_REVISIT_MAX_DAYS",
}


def settings_from_config(config: Config) -> dict[str, Any]:
    """The Scrapy and MONITOR_* settings a configuration stands for."""
    out: dict[str, Any] = {
        setting: config.crawl[key] for key, setting in CRAWL_SETTINGS.items() if key in config.crawl
    }
    out.update(
        {
            "MONITOR_CONFIG": str(config.path) if config.path else "",
            "MONITOR_DATABASE_URL": config.database_url,
            "MONITOR_EVIDENCE_DIR": str(config.evidence_dir),
            "MONITOR_LEXICON_DIR": str(config.lexicon_dir),
            "MONITOR_LOGS_DIR": str(config.logs_dir),
            "MONITOR_JOBS_DIR": str(config.jobs_dir) if config.jobs_dir else "",
            "MONITOR_SCREENSHOTS": config.screenshots,
            "MONITOR_TSA_URL": config.tsa_url or "",
            "MONITOR_TSA_CA_FILE": str(config.tsa_ca_file) if config.tsa_ca_file else "",
            "MONITOR_OPERATOR": config.operator or "",
            "MONITOR_CRAWL": dict(config.crawl),
            "MONITOR_BROWSER": dict(config.browser),
            "MONITOR_PLATFORMS": {k: dict(v) for k, v in config.platforms.items()},
        }
    )
    return out


class ConfigAddon:
    """Scrapy add-on: fill in the configuration when the runner did not (plain `scrapy crawl`)."""

    def update_settings(self, settings) -> None:
        if settings.get("MONITOR_DATABASE_URL"):
            return  # written by the runner from the config it already loaded
        config = load_config(settings.get("MONITOR_CONFIG") or None)
        for name, value in settings_from_config(config).items():
            settings.set(name, value, priority="addon")
