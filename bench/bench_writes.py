"""Benchmark: writes that keep up. A local world of shops where many listings are flagged, crawled
by `monitor nightly` once with MONITOR_WRITE_BATCH = 1 (each flagged listing its own
transaction and its own fsyncs: the behaviour before batching) and once with the default batch,
side by side in one run, on SQLite and (when reachable) PostgreSQL. Prints pages/s, database
commits and transactions per listing, evidence fsyncs per lead, and whether `monitor evidence
verify` passes.

    .venv/bin/python bench/bench_writes.py [--shops 40] [--listings 50] [--flagged 0.5]
                                           [--database sqlite|postgresql|both]

One server process serves every shop: shop i is http://127.0.X.Y:PORT/ (its own loopback
address, so its own origin and download slot), told apart by the Host header. Each crawl runs in
a child process of its own, which counts commits and transactions with SQLAlchemy's engine
events and the evidence store's fsyncs, and sets the batch size through the settings module
(monitor.crawl.settings.MONITOR_WRITE_BATCH), as a deployment would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


# -- the world ---------------------------------------------------------------------------------


def shop_host(i: int) -> str:
    return f"127.{1 + i // 62500}.{(i // 250) % 250}.{1 + i % 250}"


def page(shop: int, path: str, listings: int, flagged: float) -> bytes | None:
    if path in ("/", "/index.html"):
        links = "".join(f'<a href="/p/{k}.html">商品{k}</a> ' for k in range(listings))
        return (
            '<html><head><meta charset="utf-8"><title>店铺</title></head><body>'
            f"{links}<footer>经营者：福州某某商贸有限公司 统一社会信用代码：91350100M000100Y43 "
            "闽ICP备2023012345号-1</footer></body></html>"
        ).encode()
    if path.startswith("/p/"):
        k = int(path.split("/")[2].split(".")[0])
        if k >= listings:
            return None
        bad = (k * 7919 + shop) % 1000 < flagged * 1000  # spread over every shop
        title = f"高仿名表 一比一复刻 第{k}款" if bad else f"加厚羽绒服 第{k}款"
        return (
            f'<html><head><meta charset="utf-8"><title>{title}</title></head><body><main>'
            f"<h1>{title}</h1><p>价格：￥{100 + k}</p><p>保暖透气，轻薄舒适，店铺{shop}。</p>"
            "</main></body></html>"
        ).encode()
    return None


async def handle(reader, writer, shops: dict[str, int], listings: int, flagged: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines[1:] if ln)}
            shop = shops.get(headers.get("host", "").split(":")[0], -1)
            body = page(shop, path, listings, flagged) if shop >= 0 else None
            status = "200 OK" if body is not None else "404 Not Found"
            body = body if body is not None else b"not found"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
        pass
    finally:
        writer.close()


def serve(port: int, count: int, listings: int, flagged: float, ready) -> None:
    shops = {shop_host(i): i for i in range(count)}

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: handle(r, w, shops, listings, flagged), "0.0.0.0", port, backlog=1024
        )
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- one crawl, counted (in a child process) ----------------------------------------------------


def child(config: str, batch: int, out: str) -> int:
    """`monitor nightly` in this process, with the batch size set and the writes counted."""
    import os
    import threading

    counts = {"fsync": 0, "begin": 0, "commit": 0}
    lock = threading.Lock()

    def count(key: str) -> None:
        with lock:
            counts[key] += 1

    real_fsync = os.fsync

    def fsync(fd):
        count("fsync")
        return real_fsync(fd)

    os.fsync = fsync  # the evidence store's fsyncs (SQLite's own are in C, not counted)

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    import monitor.crawl.settings

    monitor.crawl.settings.MONITOR_WRITE_BATCH = batch
    event.listen(Engine, "begin", lambda conn: count("begin"))
    event.listen(Engine, "commit", lambda conn: count("commit"))

    from monitor.cli import main

    t0 = time.perf_counter()
    rc = main(["--config", config, "nightly"])
    wall = time.perf_counter() - t0
    Path(out).write_text(json.dumps({"rc": rc, "wall": wall, **counts}), encoding="utf-8")
    return 0


def pg_database() -> str | None:
    try:
        import psycopg

        name = f"bench_writes_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name
    except Exception:  # noqa: BLE001 - no PostgreSQL here: SQLite only
        return None


def drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def crawl(folder: Path, urls: list[str], database_url: str, batch: int) -> dict:
    folder.mkdir(parents=True)
    config = folder / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": database_url},
                "evidence": {"dir": "evidence", "screenshots": False},
                "crawl": {"obey_robots": False},
                "targets": [{"name": f"shop{i}", "url": u} for i, u in enumerate(urls)],
            }
        ),
        encoding="utf-8",
    )
    out = folder / "counts.json"
    cmd = [sys.executable, __file__, "--child", str(config), str(batch), str(out)]
    done = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"nightly (batch {batch}) failed: {done.stderr[-2000:]}")
    counts = json.loads(out.read_text(encoding="utf-8"))
    monitor = [sys.executable, "-m", "monitor.cli", "--config", str(config)]
    shown = subprocess.run(monitor + ["runs", "show", "1"], capture_output=True, text=True)
    counts["totals"] = json.loads(shown.stdout)["stats"]["totals"]
    verify = subprocess.run(monitor + ["evidence", "verify"], capture_output=True, text=True)
    counts["verify"] = "ok" if verify.returncode == 0 else f"FAILED ({verify.stdout[-200:]})"
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shops", type=int, default=40)
    ap.add_argument("--listings", type=int, default=50, help="listings per shop")
    ap.add_argument("--flagged", type=float, default=0.5, help="share of flagged listings")
    ap.add_argument("--batch", type=int, default=0, help="batch size after (default: settings)")
    ap.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--rounds", type=int, default=2, help="before/after pairs per database")
    a = ap.parse_args()
    import monitor.crawl.settings

    after = a.batch or monitor.crawl.settings.MONITOR_WRITE_BATCH
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=serve, args=(port, a.shops, a.listings, a.flagged, ready), daemon=True
    )
    server.start()
    ready.wait(30)
    urls = [f"http://{shop_host(i)}:{port}/" for i in range(a.shops)]
    rows, dropped = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for dialect in ("sqlite", "postgresql"):
                if a.database not in (dialect, "both"):
                    continue
                runs = [("before", 1), ("after", after)] * a.rounds  # interleaved: load drifts
                for label, batch in runs:
                    folder = Path(tmp) / f"{dialect}-{len(rows)}"
                    if dialect == "sqlite":
                        url = f"sqlite:///{folder / 'monitor.db'}"
                    else:
                        name = pg_database()
                        if name is None:
                            print("PostgreSQL not reachable on 127.0.0.1:5432: SQLite only")
                            break
                        dropped.append(name)
                        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
                    rows.append((dialect, label, batch, crawl(folder, urls, url, batch)))
    finally:
        server.terminate()
        server.join()
        for name in dropped:
            drop_pg(name)

    print(
        f"world: {a.shops} shops x {a.listings} listings, {a.flagged:.0%} flagged "
        f"({a.shops * (a.listings + 1)} pages)"
    )
    print(
        f"{'database':10} {'writes':8} {'batch':>5} | {'wall s':>6} {'pages/s':>8} | "
        f"{'listings':>8} {'leads':>6} | {'commits/listing':>15} {'txns/listing':>12} | "
        f"{'fsyncs/lead':>11} | verify"
    )
    for dialect, label, batch, c in rows:
        t = c["totals"]
        listings = max(1, t.get("listings", 0))
        leads = max(1, t.get("leads_new", 0))
        print(
            f"{dialect:10} {label:8} {batch:5} | {c['wall']:6.1f} {t.get('pages', 0) / c['wall']:8.1f} | "
            f"{t.get('listings', 0):8} {t.get('leads_new', 0):6} | "
            f"{c['commit'] / listings:15.3f} {c['begin'] / listings:12.3f} | "
            f"{c['fsync'] / leads:11.2f} | {c['verify']}"
        )
    for dialect in dict.fromkeys(r[0] for r in rows):
        best = {}
        for d, label, _batch, c in rows:
            if d == dialect:
                pages_s = c["totals"].get("pages", 0) / c["wall"]
                commits = c["commit"] / max(1, c["totals"].get("listings", 0))
                old_best = best.get(label, (0.0, commits))
                best[label] = (max(old_best[0], pages_s), min(old_best[1], commits))
        if "before" in best and "after" in best:
            print(
                f"{dialect}: best pages/s {best['before'][0]:.1f} -> {best['after'][0]:.1f} "
                f"({best['after'][0] / best['before'][0]:.2f}x); commits per listing "
                f"{best['before'][1]:.3f} -> {best['after'][1]:.3f}"
            )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    sys.exit(main())
