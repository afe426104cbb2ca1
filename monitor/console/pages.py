"""The console's pages. Each handler reads through the records layer and renders a template;
only the status form and login change anything, and both go through the forgery check."""

from __future__ import annotations

import asyncio
import io
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitor.console import charts, queries
from monitor.console.highlight import segments
from monitor.console.security import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SANDBOX_CSP,
    csrf_ok,
    login_value,
    safe_next,
    token_matches,
)
from monitor.evidence import EvidenceStore
from monitor.export import FORMATS, LeadFilter, export_leads
from monitor.export.filters import count_leads, first_page_and_count, page_of_leads
from monitor.export.rows import hit_terms
from monitor.store.models import LEAD_STATUSES, Evidence
from monitor.store.sanitize import strip_controls

PAGE_SIZE = 50
REVIEWER_COOKIE = "monitor_reviewer"
ARTIFACT_LABELS = {
    "raw_body": "原始响应",
    "headers": "响应头",
    "rendered_dom": "渲染后页面",
    "screenshot": "截图",
}
RUN_STATUS_LABELS = {"running": "运行中", "ok": "完成", "partial": "部分完成", "failed": "失败"}
RUN_KIND_LABELS = {"nightly": "夜间", "crawl": "单次", "demo": "演示"}
STAT_LABELS = {
    "pages": "页面",
    "listings": "商品",
    "unchanged": "未变化",
    "not_modified": "未修改(304)",
    "flagged": "命中",
    "leads_new": "新线索",
    "leads_updated": "更新线索",
    "leads_rectified": "已整改",
    "leads_removed": "已下架",
    "evidence": "证据",
    "screenshots": "截图",
    "screenshot_failures": "截图失败",
    "offsite_filtered": "站外请求拦截",
}
LICENCE_LABELS = {"ok": "已亮照", "missing": "未亮照", "invalid": "信息有误", None: "未检查"}


# -- template helpers ----------------------------------------------------------------------


def http_only(url: str | None) -> str | None:
    """A crawled URL usable as a link: http(s) only (never javascript:, data: …)."""
    url = strip_controls(url or "").strip()
    return url if url.lower().startswith(("http://", "https://")) else None


def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(timezone.utc).strftime(fmt) if value else ""


def _render(request: Request, name: str, status_code: int = 200, **context) -> Response:
    state = request.app.state
    context.setdefault("labels", state.labels)
    context["csrf"] = request.state.csrf
    context["login_required"] = request.state.login_required
    context["csrf_field"] = CSRF_FIELD
    return state.templates.TemplateResponse(request, name, context, status_code=status_code)


def _duration(run) -> float | None:
    if run.finished_at and run.started_at:
        return (run.finished_at - run.started_at).total_seconds()
    return None


def _errors(run) -> int:
    return sum((run.stats or {}).get("errors", {}).values())


# -- overview ------------------------------------------------------------------------------


def overview(request: Request) -> Response:
    """Counts (live) and charts (at most a minute old: see :mod:`monitor.console.figures`)."""
    state = request.app.state
    records, labels = state.records, state.labels
    figures = state.figures.get()
    with records.sessions() as s:
        counts = queries.status_counts(s)
    days, per_category = figures["days"], figures["per_category"]
    by_target = figures["by_target"]
    runs = list(reversed(records.runs(14)))
    day_labels = [d.strftime("%m-%d") for d in days]
    series = {cat: [per_day.get(d, 0) for d in days] for cat, per_day in per_category.items()}

    def per_run(value) -> list[tuple[str, float]]:
        return [(f"#{r.id}", value(r)) for r in runs]

    return _render(
        request,
        "overview.html",
        counts=counts,
        total=sum(counts.values()),
        new_chart=charts.stacked_columns(day_labels, series, labels, every=5),
        target_chart=charts.rows(by_target, charts.PALETTE[0]),
        pages_chart=charts.columns(
            per_run(lambda r: (r.stats or {}).get("totals", {}).get("pages", 0)), charts.PALETTE[0]
        ),
        errors_chart=charts.columns(per_run(_errors), charts.PALETTE[3]),
        duration_chart=charts.columns(
            per_run(lambda r: round((_duration(r) or 0) / 60, 1)), charts.PALETTE[2], "分"
        ),
    )


# -- leads ---------------------------------------------------------------------------------


def _filter_or_error(request: Request) -> tuple[LeadFilter, str | None]:
    try:
        return LeadFilter.parse(request.query_params), None
    except ValueError as exc:
        return LeadFilter(), f"筛选条件有误: {exc}"


def lead_list(request: Request) -> Response:
    lead_filter, error = _filter_or_error(request)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    records = request.app.state.records
    with records.sessions() as s:
        if page == 1:
            leads, total = first_page_and_count(s, lead_filter, PAGE_SIZE)
        else:
            total = count_leads(s, lead_filter)
            page = min(page, max(1, math.ceil(total / PAGE_SIZE)))
            leads = page_of_leads(s, lead_filter, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        targets = queries.target_names(s)
    params = lead_filter.params()

    def page_url(n: int) -> str:
        return "/leads?" + urlencode({**params, "page": n})

    return _render(
        request,
        "leads.html",
        status_code=400 if error else 200,
        error=error,
        f=lead_filter,
        leads=leads,
        terms={lead.id: hit_terms(lead) for lead in leads},
        total=total,
        page=page,
        pages=pages,
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
        query=urlencode(params),
        targets=targets,
        statuses=LEAD_STATUSES,
        formats=FORMATS,
    )


def lead_export(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    if fmt not in FORMATS:
        raise HTTPException(404, "没有这种导出格式 unknown export format")
    lead_filter, error = _filter_or_error(request)
    if error:
        raise HTTPException(400, error)
    state = request.app.state
    buf = io.BytesIO()
    with state.records.sessions() as s:
        export_leads(s, lead_filter, fmt, buf, state.labels, "zh", str(request.base_url))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Response(
        buf.getvalue(),
        media_type=FORMATS[fmt].MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="leads-{stamp}.{fmt}"'},
    )


def _lead_or_404(request: Request):
    lead = request.app.state.records.lead(request.path_params["lead_id"])
    if lead is None:
        raise HTTPException(404, "没有这条线索 no such lead")
    return lead


def _captures(lead) -> list[dict]:
    """Each evidence capture with its manifest's artifacts (as recorded in the manifest)."""
    out = []
    for ev in lead.evidence:
        try:
            manifest = json.loads(Path(ev.manifest_path).read_bytes())
        except (OSError, ValueError):
            manifest = {}
        out.append({"ev": ev, "manifest": manifest, "artifacts": manifest.get("artifacts", [])})
    return out


def _lead_context(request: Request, lead) -> dict:
    state = request.app.state
    labels = state.labels
    captures = _captures(lead)
    # The live check: every artifact's and manifest's hash recomputed now, and the chain.
    checked, problems = EvidenceStore(state.config.evidence_dir).verify(
        (lead.id, ev.manifest_path, ev.manifest_sha256) for ev in lead.evidence
    )
    screenshot = None
    for capture in reversed(captures):
        art = next((a for a in capture["artifacts"] if a.get("kind") == "screenshot"), None)
        if art:
            screenshot = (capture["ev"].id, art["sha256"])
            break
    return {
        "lead": lead,
        "listing": lead.listing,
        "title_segments": segments(lead.listing.title or "", lead.hits, "title", labels),
        "text_segments": segments(lead.listing.text or "", lead.hits, "text", labels),
        "captures": captures,
        "checked": checked,
        "problems": [p for _, p in problems],
        "screenshot": screenshot,
        "artifact_labels": ARTIFACT_LABELS,
        "statuses": LEAD_STATUSES,
        "reviewer": _remembered_reviewer(request),
        "error": None,
        "form": {},
    }


def _remembered_reviewer(request: Request) -> str:
    try:
        return bytes.fromhex(request.cookies.get(REVIEWER_COOKIE, "")).decode("utf-8")
    except ValueError:
        return ""


def lead_page(request: Request) -> Response:
    lead = _lead_or_404(request)
    return _render(request, "lead.html", **_lead_context(request, lead))


async def lead_status(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        return Response("表单已失效，请刷新页面后重试 form token missing or wrong", 403)
    lead_id = request.path_params["lead_id"]
    status = str(form.get("status") or "")
    case_no = strip_controls(str(form.get("case_no") or "")).strip() or None
    note = strip_controls(str(form.get("note") or "")).strip() or None
    reviewer = strip_controls(str(form.get("reviewer") or "")).strip()
    error = None
    if not reviewer:
        error = "请填写审核人 reviewer is required"
    else:
        try:
            await run_in_threadpool(
                request.app.state.records.set_status,
                lead_id,
                status,
                case_no=case_no,
                note=note,
                reviewer=reviewer[:100],
            )
        except LookupError:
            raise HTTPException(404, "没有这条线索 no such lead") from None
        except ValueError as exc:
            error = (
                "立案需要填写案件编号 case needs a case number" if status == "case" else str(exc)
            )
    if error:
        lead = await run_in_threadpool(_lead_or_404, request)
        context = await run_in_threadpool(_lead_context, request, lead)
        context.update(
            error=error,
            form={"status": status, "case_no": case_no, "note": note},
            reviewer=reviewer or context["reviewer"],
        )
        return _render(request, "lead.html", status_code=400, **context)
    request.app.state.figures.outdated()
    response = RedirectResponse(f"/leads/{lead_id}#history", status_code=303)
    response.set_cookie(
        REVIEWER_COOKIE, reviewer[:100].encode("utf-8").hex(), httponly=True, samesite="strict"
    )
    return response


def _evidence_of(request: Request) -> Evidence:
    with request.app.state.records.sessions() as s:
        ev = s.scalar(
            select(Evidence).where(
                Evidence.id == request.path_params["evidence_id"],
                Evidence.lead_id == request.path_params["lead_id"],
            )
        )
    if ev is None:
        raise HTTPException(404, "没有这份证据 no such evidence")
    return ev


def manifest(request: Request) -> Response:
    ev = _evidence_of(request)
    try:
        blob = Path(ev.manifest_path).read_bytes()
    except OSError:
        raise HTTPException(404, "证据清单文件不存在 manifest file missing") from None
    name = f"lead-{ev.lead_id}-manifest-{ev.manifest_sha256[:12]}.json"
    return Response(
        blob,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": SANDBOX_CSP,
        },
    )


def artifact(request: Request) -> Response:
    """One artifact of a capture. A screenshot is shown as a PNG image; anything else (raw or
    rendered HTML, headers) is only ever a download, never a page of the console."""
    sha = request.path_params["sha256"]
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise HTTPException(404, "没有这个证据文件 no such artifact")
    ev = _evidence_of(request)
    try:
        entries = json.loads(Path(ev.manifest_path).read_bytes()).get("artifacts", [])
    except (OSError, ValueError):
        entries = []
    art = next((a for a in entries if a.get("sha256") == sha), None)
    if art is None:
        raise HTTPException(404, "没有这个证据文件 no such artifact")
    store = EvidenceStore(request.app.state.config.evidence_dir)
    path = store.object_path(sha)  # by its hash, never by a path read from a file
    try:
        data = path.read_bytes()
    except OSError:
        raise HTTPException(404, "证据文件不存在 artifact file missing") from None
    headers = {"Content-Security-Policy": SANDBOX_CSP, "Cache-Control": "private, max-age=3600"}
    if art.get("kind") == "screenshot" and data.startswith(b"\x89PNG\r\n\x1a\n"):
        return Response(data, media_type="image/png", headers=headers)
    suffix = {"headers": "json", "screenshot": "png"}.get(art.get("kind", ""), "txt")
    name = f"lead-{ev.lead_id}-{art.get('kind', 'artifact')}-{sha[:12]}.{suffix}"
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(data, media_type="application/octet-stream", headers=headers)


# -- runs and targets ----------------------------------------------------------------------


def run_list(request: Request) -> Response:
    runs = request.app.state.records.runs(100)
    return _render(
        request,
        "runs.html",
        runs=[
            {
                "run": r,
                "totals": (r.stats or {}).get("totals", {}),
                "errors": _errors(r),
                "duration": _duration(r),
            }
            for r in runs
        ],
        kinds=RUN_KIND_LABELS,
        run_statuses=RUN_STATUS_LABELS,
    )


def run_page(request: Request) -> Response:
    run = request.app.state.records.run(request.path_params["run_id"])
    if run is None:
        raise HTTPException(404, "没有这次运行 no such run")
    stats = run.stats or {}
    return _render(
        request,
        "run.html",
        run=run,
        totals=stats.get("totals", {}),
        errors=stats.get("errors", {}),
        targets=stats.get("targets", {}),
        duration=_duration(run),
        stat_labels=STAT_LABELS,
        kinds=RUN_KIND_LABELS,
        run_statuses=RUN_STATUS_LABELS,
    )


def target_list(request: Request) -> Response:
    records = request.app.state.records
    with records.sessions() as s:
        open_counts = dict(queries.open_leads_by_target(s, None))
    return _render(
        request,
        "targets.html",
        targets=records.targets_with_entities(),
        open_counts=open_counts,
        licence_labels=LICENCE_LABELS,
    )


def no_icon(request: Request) -> Response:
    return Response(status_code=204)


# -- login ---------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    token = request.app.state.token
    next_path = safe_next(request.query_params.get("next"))
    if request.method == "GET" or not token:
        return _render(request, "login.html", next=next_path, error=None)
    form = await request.form()
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        return Response("表单已失效，请刷新页面后重试 form token missing or wrong", 403)
    next_path = safe_next(str(form.get("next") or next_path))
    if not token_matches(str(form.get("token") or ""), token):
        await asyncio.sleep(1)  # guessing tokens over the network is slow
        return _render(request, "login.html", status_code=403, next=next_path, error="口令不正确")
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        LOGIN_COOKIE,
        login_value(token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        return Response("表单已失效，请刷新页面后重试 form token missing or wrong", 403)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(LOGIN_COOKIE)
    return response
