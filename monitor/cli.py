"""The `monitor` command line.

    monitor [--config PATH] init | crawl | nightly | scan | leads | evidence | lexicon | runs | demo

A mistake in a file the user gave (config, lexicon, targets) prints one line naming the file,
line and problem, and exits 2 before anything is written.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import sys
from pathlib import Path

from monitor import __version__
from monitor.errors import DatabaseUnavailable, UserInputError


def _console():
    from rich.console import Console

    # Piped into a file or cron's mail, tables keep their columns instead of an 80-column squeeze.
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def _config(args):
    from monitor.config import load_config

    return load_config(args.config)


# -- init, crawl, nightly --------------------------------------------------------------------


def cmd_init(args) -> int:
    from monitor.store.db import init_db

    config = _config(args)
    rev = init_db(config.database_url)
    print(f"数据库已就绪 database ready: {config.database_url} (schema {rev})")
    return 0


def _print_outcome(console, outcome) -> None:
    c = outcome.counts
    mark = "[green]✓[/]" if outcome.crawled else "[red]✗[/]"
    errors = ", ".join(f"{k} {v}" for k, v in sorted(outcome.errors.items()))
    line = (
        f"{mark} {outcome.name}  页面 {c['pages']}  商品 {c['listings']}  命中 {c['flagged']}  "
        f"新线索 {c['leads_new']}  更新 {c['leads_updated']}  未变化 {c['unchanged']}"
    )
    if errors:
        line += f"  错误 {errors}"
    if outcome.reason:
        line += f"  [red]未能抓取: {outcome.reason}[/]"
    console.print(line)


def warn_if_no_chromium(console, config, targets) -> None:
    """One clear warning when screenshots or storefronts need a Chromium that is not there."""
    from monitor.evidence.browser import find_chromium

    needs = config.screenshots or any(t.kind == "storefront" or t.render for t in targets)
    if needs and find_chromium(config.browser.get("executable_path")) is None:
        console.print(
            "[yellow]警告 warning: Chromium not found — storefront targets will not be crawled and "
            "leads will have no screenshots. Install Debian's chromium and fonts-noto-cjk "
            "(bash setup.sh does), or set browser.executable_path.[/]"
        )


def _run(config, targets, kind: str, full: bool = False, explain: bool = False) -> int:
    from monitor.crawl.run import run_targets

    console = _console()
    if not targets:
        console.print("没有启用的监测对象 no enabled targets in the config")
        return 0
    console.print(f"开始抓取 {len(targets)} 个监测对象 crawling {len(targets)} target(s) …")
    warn_if_no_chromium(console, config, targets)
    status = console.status("") if console.is_terminal else None  # live figures in a terminal only

    def progress(t: dict) -> None:
        status.update(
            f"对象 {t['targets_done']}/{t['targets']}  页面 {t.get('pages', 0)}  商品 {t.get('listings', 0)}  "
            f"命中 {t.get('flagged', 0)}  新线索 {t.get('leads_new', 0)}"
        )

    if status is not None:
        status.start()
    try:
        report = run_targets(
            config,
            targets,
            kind,
            on_target_done=lambda o: _print_outcome(console, o),
            on_progress=progress if status is not None else None,
            full=full,
            explain=explain,
        )
    finally:
        if status is not None:
            status.stop()
    t = report.totals
    console.print(
        f"运行 #{report.run_id} 完成: 页面 {t.get('pages', 0)}，商品 {t.get('listings', 0)}，"
        f"新线索 {t.get('leads_new', 0)}，更新 {t.get('leads_updated', 0)}；日志 {report.log_path}"
    )
    return report.exit_code


def cmd_crawl(args) -> int:
    from monitor.config import Target, check_http_url

    config = _config(args)
    from monitor.lexicon import matcher_for

    # a broken keywords/ file stops before any write; the crawl's match pipeline reuses it
    matcher_for(config.lexicon_dir)
    if args.url:
        problem = check_http_url(args.url)
        if problem:
            raise UserInputError("--url", None, problem)
        if args.platform and args.platform not in config.platforms:
            raise UserInputError(
                str(config.path), None, f"no platform named {args.platform!r} under platforms"
            )
        from monitor.targets import as_spec, find_target

        known = find_target(_records(config).sessions, args.name or args.url)
        target = as_spec(known) if known is not None and known.url == args.url else None
        target = target or Target(
            name=args.name or args.url, url=args.url, kind=args.kind, platform=args.platform
        )
    else:
        from monitor.targets import as_spec, find_target, sync_config_targets

        records = _records(config)
        sync_config_targets(records.sessions, config)
        found = find_target(records.sessions, args.target)
        if found is None:
            raise UserInputError(str(config.path), None, f"no target named {args.target!r}")
        target = as_spec(found)
    return _run(config, [target], "crawl", explain=args.explain)


EXIT_ALREADY_RUNNING = 3
EXIT_DATABASE = 4  # the database is down, unreachable or locked: nothing was done


def cmd_nightly(args) -> int:
    from monitor.crawl.lock import AlreadyRunning, RunLock

    config = _config(args)
    try:
        with RunLock(config.jobs_dir / "nightly.lock"):
            from monitor.lexicon import matcher_for
            from monitor.targets import enabled_targets, sync_config_targets

            # a broken keywords/ file stops before any write; the match pipeline reuses it
            matcher_for(config.lexicon_dir)
            records = _records(config)
            sync_config_targets(records.sessions, config)  # the table is the list of targets
            if args.distributed:
                from monitor.distributed.commands import nightly_distributed

                return nightly_distributed(config, enabled_targets(records.sessions), args.full)
            return _run(config, enabled_targets(records.sessions), "nightly", full=args.full)
    except AlreadyRunning as exc:
        print(f"已有夜间任务在运行，本次不启动 nightly refused: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING


def cmd_worker(args) -> int:
    from monitor.distributed.commands import worker

    return worker(_config(args), args.wait)


# -- scan and lexicon ------------------------------------------------------------------------


def cmd_scan(args) -> int:
    import orjson

    from monitor.lexicon import matcher_for
    from monitor.lexicon.review import read_listings

    config = _config(args)
    matcher = matcher_for(config.lexicon_dir)
    out = sys.stdout.buffer
    batch: list[dict] = []

    def flush() -> None:
        lines = [
            orjson.dumps(
                {
                    "id": rec.get("id"),
                    "categories": res.categories,
                    "hits": [h.as_dict() for h in res.hits],
                }
            )
            for rec, res in zip(batch, matcher.match_many(batch), strict=True)
        ]
        if lines:
            out.write(b"\n".join(lines) + b"\n")
        batch.clear()

    for rec in read_listings(args.file):
        batch.append(rec)
        if len(batch) >= 2000:
            flush()
    flush()
    out.flush()
    return 0


def cmd_lexicon(args) -> int:
    from monitor.lexicon import lint

    config = _config(args)
    directory = Path(args.dir) if getattr(args, "dir", None) else config.lexicon_dir
    if args.lexicon_cmd == "check":
        return lint.run_check(directory)
    if args.lexicon_cmd == "stats":
        return lint.run_stats(directory)
    if args.lexicon_cmd == "review":
        from monitor.lexicon.review import run_review

        return run_review(directory, args.file, args.examples, args.dropped)
    return lint.run_explain(directory, args.text)


# -- leads, evidence, runs -------------------------------------------------------------------


def _records(config, create: bool = True):
    """The config's database, brought to the newest schema. ``create=False`` for a command
    that only reads what earlier runs stored: a database that does not exist is an error."""
    from monitor.store.db import init_db, require_database
    from monitor.store.records import Records

    if not create:
        require_database(config.database_url)
    init_db(config.database_url)
    return Records(config.database_url)


def _labels(config) -> dict[str, str]:
    from monitor.export import category_labels

    return category_labels(config.lexicon_dir)


def print_leads_table(leads, labels, console=None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from monitor.store.sanitize import printable

    console = console or _console()
    table = Table(title=f"线索 leads ({len(leads)})", show_lines=False)
    for col in ("编号", "监测对象", "商品标题", "违规类别", "命中词", "状态"):
        table.add_column(col)
    for lead in leads:
        terms = sorted({h.get("term", "") for h in lead.hits or []})
        table.add_row(
            str(lead.id),
            escape(printable(lead.listing.target.name if lead.listing.target else "")),
            escape(printable(lead.listing.title)[:40]),
            escape("、".join(labels.get(c, c) for c in lead.categories)),
            escape(printable("、".join(terms))[:40]),
            lead.status,
        )
    console.print(table)


def _lead_filter(args):
    from monitor.export import LeadFilter

    try:
        return LeadFilter.parse(vars(args))
    except ValueError as exc:
        raise UserInputError(f"monitor leads {args.leads_cmd}", None, f"--{exc}") from None


def cmd_leads(args) -> int:
    from monitor.store.sanitize import printable

    config = _config(args)
    records = _records(config, create=False)
    labels = _labels(config)
    if args.leads_cmd == "list":
        from monitor.export.filters import iter_leads

        lead_filter = _lead_filter(args)
        with records.sessions() as session:
            print_leads_table(list(iter_leads(session, lead_filter)), labels)
        return 0
    if args.leads_cmd == "show":
        lead = records.lead(args.id)
        if lead is None:
            print(f"没有编号为 {args.id} 的线索 no lead {args.id}", file=sys.stderr)
            return 1
        listing = lead.listing
        print(
            f"线索 {lead.id}  状态 {lead.status}"
            + (f"  案件编号 {lead.case_no}" if lead.case_no else "")
        )
        print(f"监测对象: {printable(listing.target.name if listing.target else '')}")
        print(f"商品链接: {printable(listing.url)}")
        print(f"商品标题: {printable(listing.title)}")
        print(f"价格: {printable(listing.price)}")
        print(f"违规类别: {'、'.join(labels.get(c, c) for c in lead.categories)}")
        print(
            f"首次发现 {lead.first_seen:%Y-%m-%d %H:%M:%S} UTC，最近发现 {lead.last_seen:%Y-%m-%d %H:%M:%S} UTC"
        )
        print("命中:")
        for h in lead.hits:
            print(
                f"  [{labels.get(h['category'], h['category'])}] {printable(h['term'])} "
                f"({h['field']} {h['start']}-{h['end']}): {printable(h.get('snippet', ''))}"
            )
        print("证据:")
        for ev in lead.evidence:
            print(
                f"  {ev.captured_at:%Y-%m-%d %H:%M:%S} UTC  {ev.manifest_path}  sha256 {ev.manifest_sha256}"
            )
        if lead.events:
            print("处理记录:")
            for e in lead.events:
                print(
                    f"  {e.at:%Y-%m-%d %H:%M:%S} UTC {e.reviewer}: {e.from_status} -> {e.to_status}"
                    + (f" ({printable(e.note)})" if e.note else "")
                )
        return 0
    if args.leads_cmd == "status":
        try:
            lead = records.set_status(
                args.id, args.status, case_no=args.case_no, note=args.note, reviewer=args.reviewer
            )
        except (ValueError, LookupError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"线索 {lead.id} -> {lead.status}")
        return 0
    return _export(args, records, labels)


def _export(args, records, labels) -> int:
    from monitor.export import FORMATS, export_file

    fmt = next(f for f in FORMATS if getattr(args, f, None))
    path = getattr(args, fmt)
    lead_filter = _lead_filter(args)
    with records.sessions() as session:
        n = export_file(session, lead_filter, fmt, path, labels, args.header, args.console_url)
    print(f"已导出 {n} 条线索 exported {n} lead(s) to {path}")
    return 0


def cmd_evidence(args) -> int:
    from monitor.evidence import commands

    config = _config(args)
    records = _records(config, create=False)
    if args.evidence_cmd == "export":
        return commands.export(config, records, args.lead_id, args.wacz)
    if args.evidence_cmd == "report":
        return commands.report(config, records, args.lead_id, args.pdf, args.html, args.operator)
    if args.evidence_cmd == "timestamp":
        return commands.timestamp(config, records)
    return commands.verify(config, records)


def cmd_runs(args) -> int:
    config = _config(args)
    records = _records(config, create=False)
    if args.runs_cmd == "show":
        run = records.run(args.id)
        if run is None:
            print(f"no run {args.id}", file=sys.stderr)
            return 1
        print(
            json.dumps(
                {
                    "id": run.id,
                    "kind": run.kind,
                    "status": run.status,
                    "exit_code": run.exit_code,
                    "started_at": run.started_at.isoformat(),
                    "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                    "log": run.log_path,
                    "stats": run.stats,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    for run in records.runs():
        t = (run.stats or {}).get("totals", {})
        print(
            f"#{run.id} {run.kind:8} {run.status:8} {run.started_at:%Y-%m-%d %H:%M} "
            f"pages {t.get('pages', 0)} listings {t.get('listings', 0)} new leads {t.get('leads_new', 0)}"
        )
    return 0


def cmd_targets(args) -> int:
    from monitor.targets import commands

    config = _config(args)
    records = _records(config, create=args.targets_cmd != "list")
    if args.targets_cmd == "list":
        commands.list_targets(records, config, args.format, _console())
        return 0
    if args.targets_cmd == "import":
        message = commands.import_file(records, args.file)
    elif args.targets_cmd == "remove":
        message = commands.remove(records, args.key)
    else:
        message = commands.set_enabled(records, args.key, args.targets_cmd == "enable")
    print(message)
    return 0


def cmd_serve(args) -> int:
    from monitor.console.serve import serve

    return serve(_config(args), args.host, args.port)


# -- demo ------------------------------------------------------------------------------------


def _command_name() -> str:
    """How the analyst runs this command again: ``monitor`` when it is on PATH, else the path
    it was started by (``.venv/bin/monitor`` right after setup.sh)."""
    import shutil
    import sys

    started = Path(sys.argv[0])
    if started.name == "monitor" and shutil.which("monitor") != str(started.resolve()):
        try:
            return str(started.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(started)
    return "monitor"


def cmd_demo(args) -> int:
    from contextlib import ExitStack

    from monitor.config import load_config
    from monitor.crawl.run import run_targets
    from monitor.demo import serve_demo_shops, write_demo_config
    from monitor.export import export_csv
    from monitor.store.records import Records

    workdir = Path(args.workdir).resolve()
    console = _console()
    with ExitStack() as stack:
        servers = serve_demo_shops(stack)
        config = load_config(write_demo_config(workdir, servers))
        console.print(
            "演示商城已在本机启动 demo shops on 127.0.0.1: "
            + "，".join(f"{t.name} {t.url}" for t in config.targets)
        )
        report = run_targets(
            config, config.targets, "demo", on_target_done=lambda o: _print_outcome(console, o)
        )
    records = Records(config.database_url)
    labels = _labels(config)
    leads = records.leads()
    print_leads_table(leads, labels, console)
    csv_path = workdir / "leads.csv"
    export_csv(leads, csv_path, labels)
    console.print(f"线索表格 CSV (Excel 可直接打开): {csv_path}")
    console.print(
        f"证据目录 evidence: {config.evidence_dir}   数据库 database: {config.database_url}"
    )
    demo_config = Path(args.workdir) / "config.yaml"
    monitor = _command_name()
    console.print(
        f"网页控制台 web console: {monitor} --config {demo_config} serve"
        "   然后打开 then open http://127.0.0.1:8765/",
        markup=False,
    )
    if leads:
        console.print(
            f"命令行查看一条线索 one lead in the terminal: "
            f"{monitor} --config {demo_config} leads show {leads[0].id}",
            markup=False,
        )
    return report.exit_code


# -- parser ----------------------------------------------------------------------------------


def _lead_filter_options(q: argparse.ArgumentParser) -> None:
    """The console's lead filters, as options (monitor.export.filters.LeadFilter reads them)."""
    q.add_argument("--status")
    q.add_argument("--category", help="category id, e.g. counterfeit")
    q.add_argument("--target", help="target name")
    q.add_argument("--since", help="first seen on or after this UTC day (YYYY-MM-DD)")
    q.add_argument("--until", help="first seen on or before this UTC day (YYYY-MM-DD)")
    q.add_argument("--term", help="a matched lexicon term")
    q.add_argument("--q", help="words in the title, URL, target name or case number")


def _export_options(q: argparse.ArgumentParser) -> None:
    """``leads export``'s options: one per format module of monitor.export."""
    from monitor.export import FORMATS

    g = q.add_mutually_exclusive_group(required=True)
    for fmt, module in FORMATS.items():
        g.add_argument(f"--{fmt}", metavar="FILE", help=f"write {module.LABEL}")
    q.add_argument("--header", choices=("zh", "en"), default="zh")
    _lead_filter_options(q)
    q.add_argument(
        "--console-url", help="the console's address (http://HOST:PORT): evidence links to it"
    )


class DeclaredOnUse(argparse.ArgumentParser):
    """A subcommand whose options need an import (``leads export``'s come from the export
    formats, which import the database models): ``declare(parser)`` adds them when that
    subcommand is parsed, so every other command starts without the import."""

    def __init__(self, *args, declare=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._declare = declare

    def parse_known_args(self, args=None, namespace=None):
        if self._declare is not None:
            declare, self._declare = self._declare, None
            declare(self)
        return super().parse_known_args(args, namespace)


def build_parser() -> argparse.ArgumentParser:
    """The command line. Building it imports nothing a command needs: each command imports its
    modules when it runs (``monitor --help`` or ``nightly`` pay for no export or console)."""
    p = argparse.ArgumentParser(
        prog="monitor", description="网络交易监测爬虫 marketplace monitoring crawler"
    )
    p.add_argument(
        "--config",
        help="config file (default: $MONITOR_CONFIG, ./config.yaml, the project's config.yaml)",
    )
    p.add_argument("--version", action="version", version=f"monitor {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("init", help="create or upgrade the database").set_defaults(func=cmd_init)

    c = sub.add_parser("crawl", help="one-off crawl of a URL or a configured target")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--url")
    g.add_argument("--target")
    c.add_argument("--name", help="target name to file the leads under (with --url)")
    c.add_argument(
        "--kind", choices=("site", "storefront"), default="site", help="with --url (default: site)"
    )
    c.add_argument(
        "--platform", help="with --url and --kind storefront: a platform declared in the config"
    )
    c.add_argument(
        "--explain",
        action="store_true",
        help="print, per page, whether it was taken for a listing and why",
    )
    c.set_defaults(func=cmd_crawl)

    n = sub.add_parser("nightly", help="crawl every enabled target")
    n.add_argument(
        "--full", action="store_true", help="refetch every page (ignore the revisit schedule)"
    )
    n.add_argument(
        "--distributed",
        action="store_true",
        help="seed crawl.redis_url's queue and wait for `monitor worker`s to drain it",
    )
    n.set_defaults(func=cmd_nightly)

    w = sub.add_parser("worker", help="crawl a distributed run's queue (crawl.redis_url)")
    w.add_argument("--wait", type=float, default=3600, help="seconds to wait for a run (3600)")
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("scan", help="match a JSONL file of listings; one JSON line out per record")
    s.add_argument("file")
    s.set_defaults(func=cmd_scan)

    lx = sub.add_parser("lexicon", help="check, count, explain or review the lexicon")
    lsub = lx.add_subparsers(dest="lexicon_cmd", required=True)
    for name in ("check", "stats"):
        q = lsub.add_parser(name)
        q.add_argument("--dir", help="lexicon folder (default: the config's)")
    q = lsub.add_parser("explain")
    q.add_argument("text")
    q.add_argument("--dir")
    q = lsub.add_parser("review", help="flagged listings of a JSONL file, grouped by term")
    q.add_argument("file")
    q.add_argument("--examples", type=int, default=5, help="listings shown per term")
    q.add_argument("--dropped", action="store_true", help="also the candidates set aside, and why")
    q.add_argument("--dir")
    lx.set_defaults(func=cmd_lexicon)

    ld = sub.add_parser("leads", help="list, show, review and export leads")
    lsub = ld.add_subparsers(dest="leads_cmd", required=True, parser_class=DeclaredOnUse)
    q = lsub.add_parser("list", help="the leads (or those the filters select)")
    _lead_filter_options(q)
    q = lsub.add_parser("show")
    q.add_argument("id", type=int)
    q = lsub.add_parser("status")
    q.add_argument("id", type=int)
    q.add_argument("status")
    q.add_argument("--case-no")
    q.add_argument("--note")
    q.add_argument("--reviewer")
    lsub.add_parser(
        "export",
        help="the leads (or those the filters select) to a file",
        declare=_export_options,
    )
    ld.set_defaults(func=cmd_leads)

    ev = sub.add_parser("evidence", help="verify, timestamp, export and print evidence")
    esub = ev.add_subparsers(dest="evidence_cmd", required=True)
    esub.add_parser("verify", help="check every hash, chain, head, binding and timestamp")
    esub.add_parser("timestamp", help="timestamp captures left pending (needs evidence.tsa_url)")
    q = esub.add_parser("export", help="a lead's captures as a WACZ web archive")
    q.add_argument("lead_id", type=int)
    q.add_argument("--wacz", required=True, help="the .wacz file to write")
    q = esub.add_parser("report", help="电子数据提取记录: HTML (stdout or --html) and/or --pdf")
    q.add_argument("lead_id", type=int)
    q.add_argument("--pdf")
    q.add_argument("--html")
    q.add_argument("--operator", help="who extracted the evidence (default: evidence.operator)")
    ev.set_defaults(func=cmd_evidence)

    rn = sub.add_parser("runs", help="past runs and their statistics")
    rsub = rn.add_subparsers(dest="runs_cmd", required=True)
    rsub.add_parser("list")
    q = rsub.add_parser("show")
    q.add_argument("id", type=int)
    rn.set_defaults(func=cmd_runs)

    tg = sub.add_parser("targets", help="targets, their licence display status, and CSV import")
    tsub = tg.add_subparsers(dest="targets_cmd", required=True)
    q = tsub.add_parser("list")
    q.add_argument("--format", choices=("table", "csv"), default="table")
    q = tsub.add_parser("import")
    q.add_argument("file")
    for name in ("enable", "disable", "remove"):
        tsub.add_parser(name).add_argument("key", help="target name or URL")
    tg.set_defaults(func=cmd_targets)

    sv = sub.add_parser("serve", help="the case-lookup web console")
    sv.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    sv.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="crawl the bundled demo shops and export their leads")
    d.add_argument("--workdir", default="demo-output")
    d.set_defaults(func=cmd_demo)
    return p


def _at_exit() -> None:
    """Close the databases, then spare the interpreter's shutdown a garbage collection over every
    object a crawl leaves (0.2 s a run): they are freed with the process. Files and connections
    are closed by their owners, not by the collector."""
    db = sys.modules.get("monitor.store.db")  # not imported: no database was opened
    if db is not None:
        db.dispose_engines()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    atexit.register(_at_exit)
    try:
        return args.func(args)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader of the output has gone (`monitor targets list | head`): nothing to report;
        # what is still buffered must not fail again when the interpreter flushes it at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        if exc.filename is None:  # not a file or folder the user can fix: a real bug, shown whole
            raise
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        if not isinstance(exc, OperationalError):  # a bug, not a fault of the database
            raise
        from monitor.store.db import describe_database_error

        url = _config(args).database_url
        print(f"error: {describe_database_error(url, exc)}", file=sys.stderr)
        return EXIT_DATABASE


if __name__ == "__main__":
    sys.exit(main())
