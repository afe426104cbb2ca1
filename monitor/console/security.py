"""Who may use the console, and what a page may do in the analyst's browser.

- Login: when a token is set (config ``console.token`` or MONITOR_CONSOLE_TOKEN; required off
  loopback), every page needs the login cookie, an HMAC of the token, set by the login form.
- Cross-site request forgery: a random per-browser token in an HttpOnly, SameSite=Strict cookie
  must come back in every form (double submit), and an Origin or Referer from another site is
  refused outright.
- Headers: a Content-Security-Policy with no scripts at all, nosniff, no framing, and a
  same-origin referrer policy (following a listing link tells the shop nothing about the console).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

CSRF_COOKIE = "monitor_csrf"
CSRF_FIELD = "csrf"
LOGIN_COOKIE = "monitor_login"
TOKEN_ENV = "MONITOR_CONSOLE_TOKEN"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PUBLIC_PATHS = ("/login", "/static/")

CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Artifacts (captured pages) are never rendered as a page of the console: served with this
# policy a browser that opened one anyway treats it as a unique origin with scripts off.
SANDBOX_CSP = "sandbox; default-src 'none'"


def login_value(token: str) -> str:
    """The login cookie's value: proves the token was given without storing it in the browser."""
    return hmac.new(token.encode("utf-8"), b"monitor-console-login", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def csrf_ok(request: Request, form_value: object) -> bool:
    """The form's token equals the cookie's (both present)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and isinstance(form_value, str) and hmac.compare_digest(cookie, form_value)


def _same_origin(request: Request) -> bool:
    """An unsafe request's Origin (or Referer) names this console, or is absent."""
    origin = request.headers.get("origin")
    source = origin if origin and origin != "null" else request.headers.get("referer")
    if not source:  # a privacy setting may hide both; the form token still has to match
        return True
    parts = urlsplit(source)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


def safe_next(path: str | None) -> str:
    """Where to go after login: a path on this console only."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


class ConsoleSecurity(BaseHTTPMiddleware):
    """Login, forgery checks and security headers around every request."""

    def __init__(self, app, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE)
        new_csrf = None
        if not csrf:
            csrf = new_csrf = secrets.token_urlsafe(32)
        request.state.csrf = csrf
        request.state.login_required = bool(self.token)
        if request.method not in SAFE_METHODS and not _same_origin(request):
            response: Response = PlainTextResponse(
                "跨站请求被拒绝 cross-site request refused", status_code=403
            )
        elif self.token and not self._logged_in(request):
            if request.method in SAFE_METHODS:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
            else:
                response = PlainTextResponse("请先登录 login required", status_code=403)
        else:
            response = await call_next(request)
        if new_csrf:
            response.set_cookie(CSRF_COOKIE, new_csrf, httponly=True, samesite="strict", path="/")
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers.setdefault("Cache-Control", "no-store")
        return response

    def _logged_in(self, request: Request) -> bool:
        if request.url.path.startswith(PUBLIC_PATHS):
            return True
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), login_value(self.token).encode())


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")
