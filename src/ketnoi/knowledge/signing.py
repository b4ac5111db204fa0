"""Signed partner requests of the knowledge API (KB-01): the HMAC scheme, API keys (create, rotate,
revoke), nonce and freshness checks, the call log, and the ``signed_or_bearer`` dependency.

The scheme, byte for byte (core/signing.py; docs/KNOWLEDGE_API.md has a worked example)::

    secret    = hex(HMAC-SHA256(server secret key, "ketnoi-api-key:" + key_id + ":" + salt))
    canonical = METHOD "\\n" PATH "\\n" QUERY "\\n" TIMESTAMP "\\n" NONCE "\\n" BODY_SHA256
    signature = hex(HMAC-SHA256(secret as ASCII, canonical))

PATH is the percent-encoded path (RFC 3986 unreserved characters and "/" kept); QUERY is every
``name=value`` pair, percent-encoded the same way, sorted, joined with "&"; BODY_SHA256 is the hex
SHA-256 of the raw body (of b"" when there is none).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ketnoi.audit.service import record, snapshot
from ketnoi.core.errors import DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.core.signing import (  # noqa: F401  (re-exported: the scheme is part of this API)
    HEADER_BODY,
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    KEY_ID_RE,
    NONCE_RE,
    SIGNED_HEADERS,
    SignatureRefused,
    body_sha256,
    canonical_path,
    canonical_query,
    canonical_request,
    check_signed_request,
    is_signed,
    sign,
    signed_headers,
)
from ketnoi.db.base import new_id, utcnow
from ketnoi.identity.models import Organization
from ketnoi.identity.permissions import CATALOG
from ketnoi.identity.principal import Principal
from ketnoi.knowledge.models import ApiCallLog, ApiKey, ApiNonce
from ketnoi.web.deps import DbDep, api_principal, client_ip

log = logging.getLogger(__name__)

MAX_SKEW = 300  # seconds a timestamp may be older or newer than the server clock
# A nonce must be remembered for as long as a request carrying it could still be fresh: a request
# stamped t is accepted until t + MAX_SKEW and may have been first seen as early as t - MAX_SKEW.
NONCE_TTL = timedelta(seconds=2 * MAX_SKEW)
ROTATION_GRACE = timedelta(hours=24)  # the replaced key keeps working this long after a rotation
SCOPES = ("knowledge.read", "knowledge.write")
SCOPE_LABELS = {"knowledge.read": "Đọc, tra cứu", "knowledge.write": "Biên tập (tạo, sửa, xóa)"}

OUTCOME_LABELS = {
    "ok": "Chấp nhận", "bearer": "Phiên đăng nhập/bearer", "missing_headers": "Thiếu tiêu đề ký",
    "unknown_key": "Khóa không tồn tại", "revoked_key": "Khóa đã thu hồi", "expired_key": "Khóa hết hạn",
    "bad_timestamp": "Thời điểm ký không hợp lệ", "stale": "Quá hạn/lệch giờ", "bad_body_hash": "Sai băm nội dung",
    "bad_signature": "Sai chữ ký", "bad_nonce": "Nonce không hợp lệ", "replay": "Gửi lặp (nonce đã dùng)",
    "forbidden_scope": "Khóa không đủ quyền", "unauthenticated": "Chưa xác thực", "error": "Lỗi xử lý",
}


# --- the scheme (pure) ---------------------------------------------------------------------------
def derive_secret(server_key: str, key_id: str, salt: str) -> str:
    """The partner's secret: never stored, recomputed from the server key and the key's salt."""
    msg = f"ketnoi-api-key:{key_id}:{salt}".encode()
    return hmac.new(server_key.encode(), msg, hashlib.sha256).hexdigest()


def check_request(headers, method: str, path: str, query: str, body: bytes, now: float,
                  find_secret) -> tuple[str, str]:
    """The scheme's checks with the knowledge API's MAX_SKEW; returns (key_id, nonce)."""
    return check_signed_request(headers, method, path, query, body, now, MAX_SKEW, find_secret)


# --- keys ----------------------------------------------------------------------------------------
KEY_FIELDS = ("key_id", "name", "scopes", "is_active", "expires_at", "revoked_at", "replaced_by")


def _server_key() -> str:
    from ketnoi.settings import get_settings

    return get_settings().effective_secret_key()


def secret_of(key: ApiKey) -> str:
    return derive_secret(_server_key(), key.key_id, key.salt)


def key_state(key: ApiKey, now: datetime | None = None) -> str:
    """active | revoked | expired"""
    now = now or utcnow()
    if not key.is_active or key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


KEY_STATE_LABELS = {"active": "Đang dùng", "revoked": "Đã thu hồi", "expired": "Hết hạn"}


def normalize_scopes(scopes: list[str]) -> str:
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValidationFailed.field("scopes", "Chọn quyền trong: " + ", ".join(SCOPES) + ".")
    return " ".join(s for s in SCOPES if s in scopes)


def key_permissions(key: ApiKey) -> frozenset[str]:
    """The key's scopes, with their parents as for roles (knowledge.write implies knowledge.read)."""
    codes = set(key.scopes.split())
    for code in list(codes):
        spec = CATALOG.get(code)
        while spec and spec.parent:
            codes.add(spec.parent)
            spec = CATALOG.get(spec.parent)
    return frozenset(codes)


@dataclass
class IssuedKey:
    key: ApiKey
    secret: str  # shown once


def _key_org(p: Principal, requested: str | None) -> str:
    if p.is_sysadmin:
        if not requested:
            raise ValidationFailed.field("organization_id", "Chọn tổ chức của khóa API.")
        return requested
    if requested and requested != p.organization_id:
        raise Forbidden("Không thể tạo khóa API cho tổ chức khác.")
    assert p.organization_id
    return p.organization_id


def _issue(db: Session, organization_id: str, name: str, scopes: str, created_by: str | None,
           expires_at: datetime | None) -> IssuedKey:
    key = ApiKey(id=new_id(), organization_id=organization_id, key_id="kn_" + secrets.token_hex(8),
                 salt=secrets.token_hex(16), name=name, scopes=scopes, is_active=True, created_by_id=created_by,
                 created_at=utcnow(), expires_at=expires_at)
    db.add(key)
    db.flush()
    return IssuedKey(key, secret_of(key))


def create_key(db: Session, p: Principal, name: str, scopes: list[str], *, expires_at: datetime | None = None,
               organization_id: str | None = None) -> IssuedKey:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.field("name", "Nhập tên đối tác hoặc mục đích của khóa.")
    if len(name) > 200:
        raise ValidationFailed.field("name", "Tối đa 200 ký tự.")
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed.field("expires_at", "Thời hạn phải ở tương lai.")
    org = _key_org(p, organization_id)
    if db.get(Organization, org) is None:
        raise ValidationFailed.field("organization_id", "Tổ chức không tồn tại.")
    issued = _issue(db, org, name, normalize_scopes(scopes), p.user_id or None, expires_at)
    record(db, p, "api_key.created", "api_key", issued.key.key_id, after=snapshot(issued.key, KEY_FIELDS),
           organization_id=org, summary=f"Tạo khóa API {issued.key.key_id} – {name}")
    return issued


def get_key(db: Session, p: Principal, key_id: str) -> ApiKey:
    key = db.scalar(select(ApiKey).where(ApiKey.key_id == key_id[:40]))
    if key is None or not p.sees_organization(key.organization_id):
        raise NotFound("Không tìm thấy khóa API.")
    return key


def list_keys(db: Session, p: Principal, params: ListParams, *, state: str = "") -> Page:
    stmt = select(ApiKey)
    if not p.is_sysadmin:
        stmt = stmt.where(ApiKey.organization_id == p.organization_id)
    now = utcnow()
    if state == "active":
        stmt = stmt.where(ApiKey.is_active.is_(True), ApiKey.revoked_at.is_(None),
                          (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now))
    elif state == "inactive":
        stmt = stmt.where((ApiKey.is_active.is_(False)) | (ApiKey.revoked_at.is_not(None)) | (ApiKey.expires_at <= now))
    if params.q:
        stmt = apply_search(stmt, params.q, [ApiKey.key_id, ApiKey.name])
    return paginate(db, stmt, params, {"created_at": ApiKey.created_at, "name": ApiKey.name,
                                       "last_used_at": ApiKey.last_used_at}, "-created_at")


def rotate_key(db: Session, p: Principal, key_id: str) -> IssuedKey:
    """A new key id and secret with the same name and scopes; the old key keeps working for
    ROTATION_GRACE so that the partner can switch without downtime, then expires."""
    old = get_key(db, p, key_id)
    if key_state(old) != "active":
        raise ValidationFailed.field("key_id", "Chỉ đổi được khóa đang dùng.")
    if old.replaced_by:
        raise ValidationFailed.field("key_id", f"Khóa đã được thay bằng {old.replaced_by}.")
    before = snapshot(old, KEY_FIELDS)
    issued = _issue(db, old.organization_id, old.name, old.scopes, p.user_id or None, None)
    grace_end = utcnow() + ROTATION_GRACE
    old.expires_at = min(old.expires_at, grace_end) if old.expires_at else grace_end
    old.replaced_by = issued.key.key_id
    db.flush()
    record(db, p, "api_key.rotated", "api_key", old.key_id, before=before, after=snapshot(old, KEY_FIELDS),
           organization_id=old.organization_id,
           summary=f"Đổi khóa API {old.key_id} → {issued.key.key_id} (khóa cũ còn dùng được 24 giờ)")
    return issued


def revoke_key(db: Session, p: Principal, key_id: str) -> ApiKey:
    key = get_key(db, p, key_id)
    if key.revoked_at is not None or not key.is_active:
        return key
    before = snapshot(key, KEY_FIELDS)
    key.is_active = False
    key.revoked_at = utcnow()
    db.flush()
    record(db, p, "api_key.revoked", "api_key", key.key_id, before=before, after=snapshot(key, KEY_FIELDS),
           organization_id=key.organization_id, summary=f"Thu hồi khóa API {key.key_id} – {key.name}")
    return key


# --- verification against the database -----------------------------------------------------------
def key_principal(key: ApiKey, ip: str = "") -> Principal:
    """Who acts for a signed request: the key itself, inside its organization."""
    return Principal(user_id="", username=f"api:{key.key_id}", full_name=f"Khóa API {key.name}",
                     organization_id=key.organization_id, department_id=None, is_sysadmin=False,
                     permissions=key_permissions(key), unit_path=None, session_kind="api_key", ip=ip)


def verify_signed(db: Session, headers, method: str, path: str, query: str, body: bytes, *, now: float | None = None,
                  ip: str = "") -> tuple[ApiKey, Principal]:
    """Verifies a signed request and consumes its nonce. The nonce is written and committed on
    ``db`` — pass a session of its own, so that a replay is refused even when the request fails."""
    now = time.time() if now is None else now
    found: dict[str, ApiKey] = {}

    def find_secret(key_id: str) -> str:
        key = db.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
        if key is None:
            raise SignatureRefused("unknown_key", "Khóa API không tồn tại.")
        found["key"] = key
        state = key_state(key)
        if state == "revoked":
            raise SignatureRefused("revoked_key", "Khóa API đã bị thu hồi.")
        if state == "expired":
            extra = f" Hãy dùng khóa mới {key.replaced_by}." if key.replaced_by else ""
            raise SignatureRefused("expired_key", "Khóa API đã hết hạn." + extra)
        return secret_of(key)

    try:
        key_id, nonce = check_request(headers, method, path, query, body, now, find_secret)
    except SignatureRefused as e:
        key = found.get("key")
        if key is None and KEY_ID_RE.match((headers.get(HEADER_KEY) or "").strip()):
            key = db.scalar(select(ApiKey).where(ApiKey.key_id == headers.get(HEADER_KEY).strip()))
        e.organization_id = key.organization_id if key else None  # so the organization sees its refusals
        raise
    key = found["key"]
    at = utcnow()
    db.execute(delete(ApiNonce).where(ApiNonce.seen_at < at - NONCE_TTL))
    try:
        with db.begin_nested():
            db.add(ApiNonce(key_id=key_id, nonce=nonce, seen_at=at))
    except IntegrityError:
        e = SignatureRefused("replay", "Yêu cầu đã được gửi trước đó (nonce đã dùng); hãy ký lại với nonce mới.")
        e.organization_id = key.organization_id
        raise e from None
    key.last_used_at = at
    db.commit()
    return key, key_principal(key, ip)


# --- call log ------------------------------------------------------------------------------------
def log_call(db: Session, *, key_id: str, organization_id: str | None, method: str, path: str, status: int,
             outcome: str, ip: str, duration_ms: int) -> ApiCallLog:
    row = ApiCallLog(key_id=key_id[:40], organization_id=organization_id, at=utcnow(), method=method[:10],
                     path=path[:500], status=status, outcome=outcome[:40], ip=ip[:64], duration_ms=duration_ms)
    db.add(row)
    return row


@dataclass
class CallFilters:
    key_id: str = ""
    outcome: str = ""
    status: str = ""  # "ok" (< 400) | "error" (>= 400) | a number
    since: datetime | None = None
    until: datetime | None = None


def list_calls(db: Session, p: Principal, params: ListParams, f: CallFilters) -> Page:
    stmt = select(ApiCallLog)
    if not p.is_sysadmin:
        stmt = stmt.where(ApiCallLog.organization_id == p.organization_id)
    if f.key_id:
        stmt = stmt.where(ApiCallLog.key_id == f.key_id)
    if f.outcome:
        stmt = stmt.where(ApiCallLog.outcome == f.outcome)
    if f.status == "ok":
        stmt = stmt.where(ApiCallLog.status < 400)
    elif f.status == "error":
        stmt = stmt.where(ApiCallLog.status >= 400)
    elif f.status.isdigit():
        stmt = stmt.where(ApiCallLog.status == int(f.status))
    if f.since:
        stmt = stmt.where(ApiCallLog.at >= f.since)
    if f.until:
        stmt = stmt.where(ApiCallLog.at < f.until)
    if params.q:
        stmt = apply_search(stmt, params.q, [ApiCallLog.path, ApiCallLog.ip, ApiCallLog.key_id])
    return paginate(db, stmt, params, {"at": ApiCallLog.at, "status": ApiCallLog.status,
                                       "duration_ms": ApiCallLog.duration_ms}, "-at")


def purge_calls(db: Session, older_than: timedelta = timedelta(days=180)) -> int:
    """Drops call-log rows past the retention period (run from a periodic job)."""
    return db.execute(delete(ApiCallLog).where(ApiCallLog.at < utcnow() - older_than)).rowcount or 0


# --- FastAPI glue: the dependency and the call-logging route class --------------------------------
FUNCTION_STACK = "fastapi_function_astack"  # where FastAPI keeps the exits of function-scoped dependencies
DENIED = "Bạn không có quyền thực hiện chức năng này."  # the wording of web.deps.requires()


@dataclass
class CallInfo:
    key_id: str = ""
    organization_id: str | None = None
    outcome: str = ""


def _call_info(request: Request) -> CallInfo:
    info = getattr(request.state, "knowledge_call", None)
    if info is None:
        info = CallInfo(key_id=(request.headers.get(HEADER_KEY) or "")[:40])
        request.state.knowledge_call = info
    return info


def signed_or_bearer(permission: str):
    """Dependency of the knowledge API: a signed partner request (KB-01) whose key holds
    ``permission`` as a scope, or else a bearer token / console session holding it as a role."""

    async def dep(request: Request, db: DbDep) -> Principal:
        info = _call_info(request)
        if not is_signed(request.headers):
            try:
                principal = await api_principal(request, db)
            except NotAuthenticated:
                info.outcome = "unauthenticated"
                raise
            info.organization_id, info.outcome = principal.organization_id, "bearer"
            if not principal.has(permission):
                raise Forbidden(DENIED)
            return principal
        body = await request.body()

        def verify() -> tuple[ApiKey, Principal]:
            with request.app.state.database.session() as s:
                return verify_signed(s, request.headers, request.method, request.url.path,
                                     request.url.query, body, ip=client_ip(request))

        try:
            key, principal = await run_in_threadpool(verify)
        except SignatureRefused as e:
            info.outcome, info.organization_id = e.outcome, e.organization_id
            raise
        info.key_id, info.organization_id, info.outcome = key.key_id, key.organization_id, "ok"
        if not principal.has(permission):
            info.outcome = "forbidden_scope"
            raise Forbidden(f"Khóa API không có quyền '{permission}'.")
        return principal

    dep.ketnoi_permission = permission  # type: ignore[attr-defined]
    # The permission matrix reads the declaring factory off __qualname__; this is requires() plus
    # signatures, so it declares itself as such.
    dep.__qualname__ = "requires.<locals>.signed_or_bearer"
    return Depends(dep)


def _status_of(exc: BaseException) -> int:
    if isinstance(exc, DomainError):
        return exc.status
    if isinstance(exc, RequestValidationError):
        return 422
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


class LoggedRoute(APIRoute):
    """Writes one ApiCallLog row per call of a knowledge API route, accepted or refused, in a
    transaction of its own so that the row stays even when the request's own work is rolled back."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def logged(request: Request):
            started = time.monotonic()
            status = 500
            outer = request.scope.get(FUNCTION_STACK)
            try:
                if is_signed(request.headers):
                    await _read_body(request)
                # The route's function-scoped dependencies (the DB session) exit inside this stack,
                # so the request's transaction is settled before the log row is written.
                async with AsyncExitStack() as stack:
                    request.scope[FUNCTION_STACK] = stack
                    response = await handler(request)
                status = response.status_code
                return response
            except BaseException as e:
                status = _status_of(e)
                raise
            finally:
                request.scope[FUNCTION_STACK] = outer
                info = _call_info(request)
                outcome = info.outcome or ("ok" if status < 400 else "error")
                if outcome == "ok" and status >= 400:
                    outcome = "error"
                row = {"key_id": info.key_id, "organization_id": info.organization_id, "method": request.method,
                       "path": request.url.path, "status": status, "outcome": outcome, "ip": client_ip(request),
                       "duration_ms": round((time.monotonic() - started) * 1000)}
                try:
                    await run_in_threadpool(_write_log, request.app.state.database, row)
                except Exception:
                    log.exception("could not write the API call log")

        return logged


async def _read_body(request: Request) -> None:
    """Reads a signed request's body once, before any form parsing, so that it can be hashed; a
    declared length past the upload limit is refused before anything is read."""
    from ketnoi.settings import get_settings

    limit = (get_settings().attachment_max_mb + 1) * 1024 * 1024
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"Dữ liệu gửi lên vượt quá {limit // (1024 * 1024)} MB.")
    await request.body()


def _write_log(database, row: dict[str, Any]) -> None:
    with database.session() as s:
        log_call(s, **row)
