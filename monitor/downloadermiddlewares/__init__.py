"""Downloader middlewares wired by monitor.settings."""
