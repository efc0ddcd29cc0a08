"""Cookie sessions for browser apps (API.md section 20): the token in an HttpOnly cookie that script cannot
read, and a double-submit CSRF token derived from the session (`orbix_csrf`, readable, echoed in
`X-CSRF-Token` on every unsafe request)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie, State

from app.auth.models import Caller
from app.auth.schemas import Session, SessionKind
from app.auth.service import Device, SignedIn
from app.auth.sessions import csrf_token
from app.config import Settings
from app.http.credentials import CSRF_COOKIE, SESSION_COOKIE
from app.http.rate_limit import client_address

COOKIE_PATH = "/api"


def device(request: Request[Any, Any, Any], state: State, kind: SessionKind) -> Device:
    settings: Settings = state.settings
    return Device(
        user_agent=request.headers.get("user-agent"),
        ip=client_address(settings.trusted_proxies)(request),
        cookie=kind is SessionKind.COOKIE,
    )


def _cookie(settings: Settings, key: str, value: str, max_age: int, *, httponly: bool) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=httponly,
        secure=settings.session_cookie_secure,
        samesite="lax",
    )


def signed_in_answer(signed_in: SignedIn, settings: Settings, status: int) -> Response[Session]:
    """The answer to a login or registration: a bearer session's token in the body; a cookie session's in
    the HttpOnly cookie, with its CSRF token in the body and in the readable cookie."""
    csrf = csrf_token(settings.jwt_secret, signed_in.sid) if signed_in.cookie else None
    body = Session.issued(signed_in.user, signed_in.organization, signed_in.token, csrf)
    if csrf is None:
        return Response(body, status_code=status)
    max_age = settings.jwt_expires_minutes * 60
    cookies = [
        _cookie(settings, SESSION_COOKIE, signed_in.token.access_token, max_age, httponly=True),
        _cookie(settings, CSRF_COOKIE, csrf, max_age, httponly=False),
    ]
    return Response(body, status_code=status, cookies=cookies)


def cleared_cookies(settings: Settings) -> list[Cookie]:
    return [
        _cookie(settings, SESSION_COOKIE, "", 0, httponly=True),
        _cookie(settings, CSRF_COOKIE, "", 0, httponly=False),
    ]


def cookie_csrf(caller: Caller, settings: Settings) -> str | None:
    """The CSRF token of the cookie session that authenticated the request, else None."""
    if not caller.cookie or caller.sid is None:
        return None
    return csrf_token(settings.jwt_secret, caller.sid)
