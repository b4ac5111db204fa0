"""FastAPI dependencies: DB session per request, authentication, permission checks, CSRF.

Every route declares what it needs with ``requires("perm.code")`` (API) or ``console("perm.code")``
(console pages); the permission-matrix test reads these declarations off the routes.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ketnoi.core.errors import Forbidden, NotAuthenticated
from ketnoi.identity.auth import Authenticated, SessionEnded, authenticate
from ketnoi.identity.principal import Principal
from ketnoi.web.problems import LoginRequired, MustChangePassword

SESSION_COOKIE = "ketnoi_session"
PRE_CSRF_COOKIE = "ketnoi_csrf"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# API paths a user who must change their password may still use
PASSWORD_CHANGE_ALLOWED = {"/api/v1/auth/me", "/api/v1/auth/password", "/api/v1/auth/logout"}


def get_db(request: Request) -> Iterator[Session]:
    db = request.app.state.database.sessionmaker()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


DbDep = Annotated[Session, Depends(get_db, scope="function")]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""


async def _csrf_value(request: Request) -> str:
    token = request.headers.get("x-csrf-token", "")
    if not token and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        token = str(form.get("csrf_token", ""))
    return token


async def check_csrf(request: Request, expected: str) -> None:
    if request.method in UNSAFE:
        got = await _csrf_value(request)
        if not expected or not got or not hmac.compare_digest(got, expected):
            raise Forbidden("Phiên biểu mẫu không hợp lệ hoặc đã hết hạn (CSRF). Hãy tải lại trang và thử lại.")


async def _authenticated(request: Request, db: Session) -> Authenticated:
    cached = getattr(request.state, "auth", None)
    if cached is not None:
        return cached
    token = _bearer(request)
    via_cookie = False
    if not token:
        token = request.cookies.get(SESSION_COOKIE, "")
        via_cookie = True
    a = authenticate(db, token, ip=client_ip(request))
    if via_cookie:
        await check_csrf(request, a.session.csrf_token)
    request.state.auth = a
    return a


async def api_principal(request: Request, db: DbDep) -> Principal:
    a = await _authenticated(request, db)
    if a.principal.must_change_password and request.url.path not in PASSWORD_CHANGE_ALLOWED:
        raise Forbidden("Bạn cần đổi mật khẩu trước khi tiếp tục.")
    return a.principal


def requires(permission: str | None):
    """Dependency: an authenticated principal holding ``permission`` (None = any logged-in user)."""

    async def dep(principal: Annotated[Principal, Depends(api_principal)]) -> Principal:
        if permission and not principal.has(permission):
            raise Forbidden("Bạn không có quyền thực hiện chức năng này.")
        return principal

    dep.ketnoi_permission = permission  # type: ignore[attr-defined]
    return Depends(dep)


async def console_auth(request: Request, db: DbDep) -> Authenticated:
    try:
        return await _authenticated(request, db)
    except SessionEnded as e:
        raise LoginRequired(request.url.path, ended_session=e.session_id)
    except NotAuthenticated:
        raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))


def console(permission: str | None):
    """Console-page dependency: redirects to /login when not logged in, 403 page without permission,
    and to the change-password page while a password change is pending."""

    async def guarded(request: Request, a: Annotated[Authenticated, Depends(console_auth)]) -> Principal:
        p = a.principal
        if p.must_change_password and request.url.path not in ("/account/password", "/logout"):
            raise MustChangePassword()
        if permission and not p.has(permission):
            raise Forbidden("Bạn không có quyền truy cập trang này.")
        return p

    guarded.ketnoi_permission = permission  # type: ignore[attr-defined]
    return Depends(guarded)


def pre_session_csrf(request: Request) -> str:
    """Token for forms shown before login (login, forgot password): double-submit cookie."""
    return request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(24)
