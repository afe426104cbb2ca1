"""`monitor nightly --distributed` and `monitor worker`: the bodies of the CLI commands."""

from __future__ import annotations

import logging
import sys

from monitor.config import Config
from monitor.errors import UserInputError


def _redis_url(config: Config, command: str) -> str:
    url = config.crawl.get("redis_url")
    if not url:
        raise UserInputError(str(config.path), None, f"{command} needs crawl.redis_url (redis://…)")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        raise UserInputError(str(config.path), None, f"Redis at {url} unreachable: {exc}") from None
    return url


def nightly_distributed(config: Config, targets: list, full: bool) -> int:
    from monitor.distributed.coordinator import run_distributed

    _redis_url(config, "nightly --distributed")
    if not targets:
        print("没有启用的监测对象 no enabled targets")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    print(
        f"分布式抓取 {len(targets)} 个监测对象，等待 worker distributed run of {len(targets)} target(s)"
    )
    report = run_distributed(config, targets, full=full)
    t = report.totals
    print(
        f"运行 #{report.run_id} 完成: 页面 {t.get('pages', 0)}，商品 {t.get('listings', 0)}，"
        f"新线索 {t.get('leads_new', 0)}，更新 {t.get('leads_updated', 0)}"
    )
    return report.exit_code


def worker(config: Config, wait: float) -> int:
    from monitor.distributed.worker import run_worker

    _redis_url(config, "worker")
    code = run_worker(config, wait=wait)
    if code:
        print(f"没有等到分布式任务 no distributed run announced within {wait:g} s", file=sys.stderr)
    return code
