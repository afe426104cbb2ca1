"""Marketplace monitor: crawl shop sites, flag violating listings, keep evidence for case files."""

from pathlib import Path

__version__ = "0.1.0"

#: The project folder (holds keywords/, config.yaml); the lexicon defaults to its keywords/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
