"""Downloader middlewares wired by monitor.crawl.settings."""
