"""Item pipelines, in order: match (300) -> evidence (500) -> store (800); see monitor.crawl.settings."""
