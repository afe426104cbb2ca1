"""The console's Starlette application: routes, templates and the security middleware."""

from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from monitor.config import Config
from monitor.console import pages
from monitor.console.figures import ChartFigures
from monitor.console.security import TOKEN_ENV, ConsoleSecurity
from monitor.export import category_labels
from monitor.export.rows import STATUS_LABELS
from monitor.store.records import Records

HERE = Path(__file__).resolve().parent
# Without a login, only a page the analyst opened on this machine may talk to the console: a
# site whose name was re-pointed at 127.0.0.1 (DNS rebinding) sends its own name as Host.
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]


def console_token(config: Config) -> str | None:
    """The login token: MONITOR_CONSOLE_TOKEN, else config ``console.token``; None if unset."""
    return os.environ.get(TOKEN_ENV) or (config.console or {}).get("token") or None


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every crawled string is escaped, in every template
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["STATUS_LABELS"] = STATUS_LABELS
    env.filters["http_only"] = pages.http_only
    env.filters["when"] = pages.when
    return Jinja2Templates(env=env)


def create_app(config: Config, token: str | None = None) -> Starlette:
    """The console over ``config``'s database and evidence folder (created/upgraded first)."""
    from monitor.store.db import init_db

    init_db(config.database_url)
    app = Starlette(
        routes=[
            Route("/", pages.overview),
            Route("/leads", pages.lead_list),
            Route("/leads/export.{fmt:str}", pages.lead_export),
            Route("/leads/{lead_id:int}", pages.lead_page),
            Route("/leads/{lead_id:int}/status", pages.lead_status, methods=["POST"]),
            Route("/leads/{lead_id:int}/evidence/{evidence_id:int}/manifest.json", pages.manifest),
            Route("/leads/{lead_id:int}/evidence/{evidence_id:int}/{sha256:str}", pages.artifact),
            Route("/runs", pages.run_list),
            Route("/runs/{run_id:int}", pages.run_page),
            Route("/targets", pages.target_list),
            Route("/favicon.ico", pages.no_icon),
            Route("/login", pages.login, methods=["GET", "POST"]),
            Route("/logout", pages.logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=["*"] if token else LOOPBACK_NAMES),
            Middleware(ConsoleSecurity, token=token),
        ],
    )
    app.state.config = config
    app.state.token = token
    app.state.records = Records(config.database_url)
    app.state.figures = ChartFigures(app.state.records)
    app.state.figures.refresh_in_background()  # ready before the first visit
    app.state.labels = category_labels(config.lexicon_dir)
    app.state.templates = _templates()
    return app
