"""Scrapy spiders: site (self-built shops) and storefront (JS-rendered platform shops)."""
