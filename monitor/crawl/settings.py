"""Scrapy settings for the monitor (scrapy.cfg: default = monitor.crawl.settings).

Concurrency, politeness, robots, size and depth limits come from config.yaml, written once into
the crawler's settings by monitor.crawl.addon (the runner for `monitor crawl`/`nightly`, ConfigAddon
for plain `scrapy crawl site -a url=URL`): one source, so both crawl alike. `-s` still overrides.
"""

from scrapy.settings import default_settings

BOT_NAME = "monitor"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

DOWNLOAD_WARNSIZE = 0
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 1
# A page yields a listing and its licence findings: Scrapy's default of 100 parallel item
# slots per response costs 100 asyncio tasks per page for nothing.
CONCURRENT_ITEMS = 4
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# Scrapy resolves each host again when it connects: this resolver refuses a private, loopback
# or link-local answer for a host not admitted as private (DNS rebinding), see monitor.crawl.resolver.
TWISTED_DNS_RESOLVER = "monitor.crawl.resolver.PublicAddressResolver"

DOWNLOADER_MIDDLEWARES = {
    # Scrapy's, cautious about a robots.txt too large to read (disallows the host)
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "monitor.downloadermiddlewares.robots.CautiousRobotsTxtMiddleware": 100,
    "monitor.downloadermiddlewares.scope.TargetScopeMiddleware": 50,
    "monitor.downloadermiddlewares.revisit.RevisitMiddleware": 52,
    "monitor.downloadermiddlewares.budget.TargetBudgetMiddleware": 55,
    "monitor.downloadermiddlewares.conditional.ConditionalRequestMiddleware": 60,
    # after RetryMiddleware (550): names the resolver's refusals before a retry is scheduled
    "monitor.downloadermiddlewares.rebinding.RebindingMiddleware": 560,
    "monitor.downloadermiddlewares.encoding.EncodingMiddleware": 580,  # after decompression (590)
    # tags of thousands of attributes cut before any parse (libxml2 is quadratic in them)
    "monitor.downloadermiddlewares.markup.MarkupBoundsMiddleware": 570,
    "monitor.downloadermiddlewares.raw.RawResponseMiddleware": 950,
}

ITEM_PIPELINES = {
    "pipelines.match.MatchPipeline": 300,
    "pipelines.evidence.EvidencePipeline": 500,
    "pipelines.store.StorePipeline": 800,
    "pipelines.license.LicensePipeline": 900,
}

# shops are crawled over http(s) only (TargetScopeMiddleware): no FTP or S3 handler to import
DOWNLOAD_HANDLERS = {"ftp": None, "s3": None}

ADDONS = {"monitor.crawl.addon.ConfigAddon": 0}
# Scrapy's built-in extensions but its remote control and telnet console: a nightly crawler
# opens no ports. Left out here, not set to None in EXTENSIONS, so they are not even imported
# (Scrapy imports every key EXTENSIONS names; the remote control's aiohttp costs 0.1 s a run).
_opens_a_port = (
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.telnet.TelnetConsole",
)
EXTENSIONS_BASE = {
    path: order
    for path, order in default_settings.EXTENSIONS_BASE.items()
    if path not in _opens_a_port
}
EXTENSIONS = {
    "monitor.crawl.stats.TargetStats": 0,
    "monitor.crawl.revisit.KnownListings": 0,  # what the database knows of the listings (revisit policy)
    # `monitor crawl --explain` / `scrapy crawl site -a explain=1`: how each page was read
    "monitor.extract.explain.ExplainExtension": 500,
}
# every exception a callback raises is counted by kind, per target
SPIDER_MIDDLEWARES = {"spiders.errors.CallbackErrorsMiddleware": 45}

# One crawl for many shops: each shop (host:port) is a download slot with its own concurrency
# and delay (CONCURRENT_REQUESTS_PER_DOMAIN, DOWNLOAD_DELAY, AutoThrottle); breadth first
# within a shop, so a deep branch or a trap cannot spend the budget before the listings.
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
# shops take turns in time that does not grow with their number; within a shop, the branch that
# has had fewer requests goes first, so one endless branch cannot spend the page budget
SCHEDULER_PRIORITY_QUEUE = "monitor.crawl.pqueues.TargetFairPriorityQueue"
MONITOR_PAGE_BUDGET = 5000
# Revisit policy (monitor.crawl.revisit): a clean unchanged listing waits longer each night it stays
# unchanged, at most this many days; MONITOR_FULL (monitor nightly --full) refetches everything.
MONITOR_REVISIT_MAX_DAYS = 7
MONITOR_FULL = False
# A one-off crawl (`monitor crawl --url`, `scrapy crawl`) also knows the listings other targets
# hold on its shops (a category page of a watched shop: its flagged listings are not captured
# again nor taken from that shop); a nightly's targets know only their own, so a shop entered
# again under a new name takes its listings over.
MONITOR_KNOW_SHOP_LISTINGS = True
# print how each page was read (monitor.extract.explain): `monitor crawl --explain`
MONITOR_EXPLAIN = False
# Trap signatures (monitor.crawl.traps): distinct query strings followed per path and parameter names.
MONITOR_TRAP_MAX_VARIANTS = 200

# Writes (pipelines.store): flagged listings, their leads and evidence rows are recorded this many
# at a time, one transaction each, their evidence files synced together just before; and at least
# every MONITOR_WRITE_INTERVAL seconds, so leads show up and other writers' chain locks are freed.
# 1: each listing on its own, as before batching.
MONITOR_WRITE_BATCH = 100
MONITOR_WRITE_INTERVAL = 2.0

# Path of config.yaml (database, evidence folder, lexicon); empty: $MONITOR_CONFIG or the default.
MONITOR_CONFIG = ""
MONITOR_RUN_ID = 0

# Scrapy 2.19's remote-control HTTP listener: a nightly crawler opens no ports.
REMOTE_CONTROL_ENABLED = False
