"""Scrapy settings for the monitor (scrapy.cfg: default = monitor.settings).

The crawl runner (monitor.crawl) overrides concurrency, politeness and the config path from
config.yaml; plain `scrapy crawl site -a url=URL` uses these defaults and the default config.
"""

BOT_NAME = "monitor"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 0
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 1
DEPTH_LIMIT = 20
CLOSESPIDER_PAGECOUNT = 5000
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
USER_AGENT = "Mozilla/5.0 (compatible; marketplace-monitor/0.1)"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

DOWNLOADER_MIDDLEWARES = {
    "monitor.downloadermiddlewares.scope.TargetScopeMiddleware": 50,
    "monitor.downloadermiddlewares.conditional.ConditionalRequestMiddleware": 60,
    "monitor.downloadermiddlewares.encoding.EncodingMiddleware": 580,  # after decompression (590)
    "monitor.downloadermiddlewares.raw.RawResponseMiddleware": 950,
}

ITEM_PIPELINES = {
    "pipelines.match.MatchPipeline": 300,
    "pipelines.evidence.EvidencePipeline": 500,
    "pipelines.store.StorePipeline": 800,
    "pipelines.license.LicensePipeline": 900,
}

# Path of config.yaml (database, evidence folder, lexicon); empty: the default config.
MONITOR_CONFIG = ""
MONITOR_RUN_ID = 0

# Scrapy 2.19's remote-control HTTP listener: a nightly crawler opens no ports.
REMOTE_CONTROL_ENABLED = False
