"""`monitor demo`: crawl the bundled demo shops on 127.0.0.1 with the real spider and pipelines."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import yaml

from monitor import PROJECT_ROOT
from monitor.webserver import ShopServer

SHOPS = Path(__file__).resolve().parent / "shops"
DEMO_SHOPS = [  # folder, name, kind
    ("xinyuan", "鑫源优选商城", "site"),
    ("hengda", "恒达五金批发", "site"),
    ("yungou", "云购旗舰店", "storefront"),
]
YUNGOU = {
    "listing_links": "a.item",
    "next_page": "a.next",
    "wait_for": "#app a.item, #app h2",
    "title": "h1.title",
    "description": ".desc",
    "price": ".price",
}


def write_demo_config(workdir: Path, servers: dict[str, ShopServer]) -> Path:
    """A config for the demo run: everything inside ``workdir``, the lexicon of the project."""
    config = {
        "database": {"url": "sqlite:///monitor.db"},
        "evidence": {"dir": "evidence"},
        "lexicon": {"dir": str(PROJECT_ROOT / "keywords")},
        "logs": {"dir": "logs"},
        "crawl": {"obey_robots": False},
        "platforms": {"yungou": YUNGOU},
        "targets": [
            {
                "name": name,
                "url": servers[folder].url,
                "kind": kind,
                **({"platform": "yungou"} if folder == "yungou" else {}),
            }
            for folder, name, kind in DEMO_SHOPS
        ],
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def serve_demo_shops(stack: ExitStack) -> dict[str, ShopServer]:
    return {folder: stack.enter_context(ShopServer(SHOPS / folder)) for folder, _, _ in DEMO_SHOPS}
