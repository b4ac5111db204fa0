"""Idempotent create/update/delete requests (VC-11) after the IETF draft "The Idempotency-Key HTTP
Header Field" (draft-ietf-httpapi-idempotency-key-header-06):

* the client sends ``Idempotency-Key`` (an sf-string, section 2; a bare token is accepted too);
* the first request with a key runs and its response (status and body) is stored with a fingerprint
  of the request (method, path, payload) — in the same transaction as the request's own changes;
* the same key with the same request replays the stored response (``Idempotent-Replayed: true``);
* the same key with a different request is refused with 422 (section 2.7);
* the same key while the first request still runs is refused with 409 (section 2.7);
* keys expire after 24 hours (section 2.3) and are purged as new keys arrive (and by ``purge_expired``).

A request that fails releases its key (nothing of it was committed), so the client may retry. A key
held by a request that died without answering is taken over once ``LOCK`` has passed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketnoi.core.errors import Conflict, DomainError, ValidationFailed
from ketnoi.core.models import IdempotencyKey
from ketnoi.db.base import utcnow

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
TTL = timedelta(hours=24)
LOCK = timedelta(seconds=60)  # a request still "processing" after this is considered dead
MAX_KEY = 255
_KEY_RE = re.compile(r"^[\x21-\x7e][\x20-\x7e]*$")


class BadKey(DomainError):
    status = 400
    title = "Idempotency-Key không hợp lệ"


class KeyInFlight(Conflict):
    """409: the first request with this key has not answered yet."""


class KeyReused(ValidationFailed):
    """422: the key was first used for another request."""


@dataclass
class Stored:
    status: int
    body: str | None


def parse_key(raw: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header value; None when absent. A quoted sf-string
    (RFC 8941 section 3.3.3) is unquoted."""
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not value:
        raise BadKey(f"{HEADER} rỗng; hãy gửi một chuỗi duy nhất cho mỗi yêu cầu (ví dụ UUID).",
                     [{"field": HEADER, "message": "Giá trị rỗng."}])
    if len(value) > MAX_KEY or not _KEY_RE.match(value):
        raise BadKey(f"{HEADER} phải dài 1–{MAX_KEY} ký tự ASCII in được.",
                     [{"field": HEADER, "message": "Giá trị không hợp lệ."}])
    return value


def fingerprint(method: str, path: str, payload: Any) -> str:
    """SHA-256 over the method, path and the payload as canonical JSON (key order does not matter)."""
    doc = {"m": method.upper(), "p": path, "b": jsonable_encoder(payload)}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def purge_expired(db: Session, now: datetime | None = None) -> int:
    """Deletes expired keys; returns how many."""
    res = db.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < (now or utcnow())))
    return res.rowcount or 0


def _load(db: Session, scope: str, key: str) -> IdempotencyKey | None:
    return db.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
                     .execution_options(populate_existing=True))


def claim(db: Session, scope: str, key: str, method: str, path: str, fp: str, *,
          now: datetime | None = None) -> Stored | None:
    """Takes the key for this request and commits (None: run the request), or returns the stored
    response to replay. Raises KeyReused (422) or KeyInFlight (409)."""
    now = now or utcnow()
    purge_expired(db, now)
    row = _load(db, scope, key)
    if row is None:
        try:
            with db.begin_nested():
                db.add(IdempotencyKey(scope=scope, key=key, method=method.upper(), path=path[:300], fingerprint=fp,
                                      state="processing", created_at=now, locked_until=now + LOCK,
                                      expires_at=now + TTL))
            db.commit()
            return None
        except IntegrityError:  # taken at the same moment by another request
            row = _load(db, scope, key)
            if row is None:
                raise KeyInFlight("Yêu cầu cùng Idempotency-Key đang được xử lý; hãy thử lại sau giây lát.") from None
    if row.fingerprint != fp or row.method != method.upper() or row.path != path[:300]:
        raise KeyReused(f"{HEADER} này đã được dùng cho một yêu cầu khác (khác nội dung hoặc địa chỉ); "
                        "hãy dùng khóa mới cho yêu cầu mới.", [{"field": HEADER, "message": "Khóa đã dùng."}])
    if row.state == "done":
        return Stored(row.response_status or 200, row.response_body)
    if row.locked_until > now:
        raise KeyInFlight("Yêu cầu cùng Idempotency-Key đang được xử lý; hãy thử lại sau giây lát.")
    taken = db.execute(update(IdempotencyKey).where(
        IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.state == "processing",
        IdempotencyKey.locked_until <= now).values(locked_until=now + LOCK))
    if taken.rowcount != 1:
        db.rollback()
        raise KeyInFlight("Yêu cầu cùng Idempotency-Key đang được xử lý; hãy thử lại sau giây lát.")
    db.commit()
    return None


def complete(db: Session, scope: str, key: str, status: int, body: str | None) -> None:
    """Stores the response in the request's own transaction (committed with its changes)."""
    db.execute(update(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
               .values(state="done", response_status=status, response_body=body))


def release(db: Session, scope: str, key: str) -> None:
    """The request failed: its changes are rolled back and the key is free again."""
    db.rollback()
    db.execute(delete(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key,
                                            IdempotencyKey.state == "processing"))
    db.commit()


def _response(status: int, body: str | None, replayed: bool = False) -> Response:
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    if status == 204 or body is None:
        return Response(status_code=status, headers=headers)
    return Response(content=body.encode(), status_code=status, media_type="application/json", headers=headers)


def run(request: Request, db: Session, scope: str, payload: Any, handler: Callable[[], Any], *,
        status_code: int = 200, out: type[BaseModel] | None = None) -> Response:
    """Runs ``handler`` once per ``Idempotency-Key`` of ``scope`` and answers its result as JSON
    (validated through ``out`` when given; no body for 204)."""

    def encode(result: Any) -> str | None:
        if status_code == 204:
            return None
        data = out.model_validate(result).model_dump(mode="json") if out is not None else jsonable_encoder(result)
        return json.dumps(data, ensure_ascii=False)

    key = parse_key(request.headers.get(HEADER))
    if key is None:
        return _response(status_code, encode(handler()))
    path = request.url.path
    stored = claim(db, scope, key, request.method, path, fingerprint(request.method, path, payload))
    if stored is not None:
        return _response(stored.status, stored.body, replayed=True)
    try:
        body = encode(handler())
        complete(db, scope, key, status_code, body)
    except BaseException:
        release(db, scope, key)
        raise
    return _response(status_code, body)


def idempotency_doc() -> dict[str, Any]:
    """OpenAPI of the optional ``Idempotency-Key`` header (read by ``run``, not by FastAPI,
    so that a bad key is its 400 problem)."""
    return {"parameters": [{
        "name": HEADER, "in": "header", "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
        "description": "Khóa chống trùng (tùy chọn, ví dụ một UUID): gửi lại cùng khóa và cùng nội dung trong 24 giờ "
                       "thì nhận lại đúng kết quả lần đầu (header Idempotent-Replayed: true) mà không tạo bản ghi "
                       "mới; cùng khóa với nội dung khác → 422; lần gửi đầu còn đang xử lý → 409."}]}
