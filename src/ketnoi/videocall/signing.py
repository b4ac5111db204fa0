"""Authentication of everything that starts or touches a call (VC-01, 06, 13).

* Partner requests are HMAC-signed with the scheme of the partner API (docs/KNOWLEDGE_API.md, the same
  headers and canonical request: method, path, query, timestamp, nonce, body SHA-256); the partner's
  secret is derived from the server key and a per-partner salt. Stale, replayed (nonce kept until it
  can no longer be fresh) and tampered requests are refused with 401 and logged (VcAuthFailure).
* A call may instead be started with a short-lived JWT (HS256, audience ``ketnoi-videocall``,
  single-use ``jti``) that a partner backend or a logged-in user obtained for one caller.
* Each participant of a call gets a token and a secret derived from its salt, bound to the call; every
  signalling message carries an HMAC-SHA256 over its envelope (docs/VIDEOCALL.md):
      ketnoi-vc-1 \\n call \\n from \\n seq \\n ts \\n nonce \\n type \\n body
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketnoi.core.errors import NotAuthenticated
from ketnoi.core.signing import (  # noqa: F401  (re-exported for the video-call API, SDK and tests)
    HEADER_KEY,
    NONCE_RE,
    SignatureRefused,
    body_sha256,
    check_signed_request,
    is_signed,
    signed_headers,
)
from ketnoi.db.base import utcnow
from ketnoi.settings import get_settings
from ketnoi.videocall.models import VcAuthFailure, VcNonce, VcParticipant, VcPartner

log = logging.getLogger("ketnoi.security")
JWT_AUDIENCE = "ketnoi-videocall"
JWT_ISSUER = "ketnoi"
ENVELOPE = "ketnoi-vc-1"
MESSAGE_SKEW = 120  # seconds a signalling message's timestamp may be off


def _server_key() -> str:
    return get_settings().effective_secret_key()


def derive(purpose: str, ident: str, salt: str, length: int = 64) -> str:
    msg = f"ketnoi-videocall:{purpose}:{ident}:{salt}".encode()
    return hmac.new(_server_key().encode(), msg, hashlib.sha256).hexdigest()[:length]


# --- partner keys ---------------------------------------------------------------------------------
def new_partner_key() -> tuple[str, str]:
    return "vc_" + secrets.token_hex(8), secrets.token_hex(16)


def partner_secret(p: VcPartner) -> str:
    return derive("partner", p.key_id, p.salt)


def remember_nonce(db: Session, scope: str, nonce: str, ttl: timedelta) -> bool:
    """True the first time (scope, nonce) is seen within ``ttl``; the row is flushed at once."""
    now = utcnow()
    db.execute(delete(VcNonce).where(VcNonce.expires_at < now))
    try:
        with db.begin_nested():
            db.add(VcNonce(scope=scope[:60], nonce=nonce[:100], expires_at=now + ttl))
    except IntegrityError:
        return False
    return True


def verify_partner(db: Session, headers, method: str, path: str, query: str, body: bytes, *,
                   now: float | None = None) -> VcPartner:
    """The partner of a signed request, its nonce consumed; SignatureRefused otherwise."""
    now = time.time() if now is None else now
    skew = get_settings().videocall_max_skew_seconds
    found: dict[str, VcPartner] = {}

    def find_secret(key_id: str) -> str:
        partner = db.scalar(select(VcPartner).where(VcPartner.key_id == key_id))
        if partner is None:
            raise SignatureRefused("unknown_key", "Khóa API không tồn tại.")
        found["p"] = partner
        if not partner.is_active:
            raise SignatureRefused("revoked_key", "Khóa API đã bị thu hồi.")
        return partner_secret(partner)

    try:
        key_id, nonce = check_signed_request(headers, method, path, query, body, now, skew, find_secret)
    except SignatureRefused as e:
        e.organization_id = found["p"].organization_id if "p" in found else None
        raise
    partner = found["p"]
    if not remember_nonce(db, "p:" + key_id, nonce, timedelta(seconds=2 * skew)):
        e = SignatureRefused("replay", "Yêu cầu đã được gửi trước đó (nonce đã dùng); hãy ký lại với nonce mới.")
        e.organization_id = partner.organization_id
        raise e
    partner.last_used_at = utcnow()
    return partner


def log_failure(db: Session, *, channel: str, outcome: str, detail: str, organization_id: str | None = None,
                key_id: str = "", call_id: str | None = None, ip: str = "", path: str = "") -> None:
    db.add(VcAuthFailure(organization_id=organization_id, at=utcnow(), channel=channel, key_id=key_id[:60],
                         call_id=call_id, outcome=outcome[:30], detail=detail[:1000], ip=ip[:64], path=path[:300]))
    log.warning("videocall %s refused: %s key=%s call=%s ip=%s %s", channel, outcome, key_id, call_id, ip, detail)


# --- call tokens (JWT) ----------------------------------------------------------------------------
def _jwt_key() -> str:
    return derive("jwt", "hs256", "v1")


def issue_call_token(organization_id: str, claims: dict[str, Any], *, partner_id: str | None = None,
                     user_id: str | None = None, now: datetime | None = None) -> tuple[str, datetime]:
    now = now or utcnow()
    exp = now + timedelta(seconds=get_settings().videocall_call_token_seconds)
    payload = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": int(now.timestamp()), "exp": int(exp.timestamp()),
               "jti": secrets.token_hex(16), "org": organization_id, "pid": partner_id, "uid": user_id,
               "call": claims}
    return jwt.encode(payload, _jwt_key(), algorithm="HS256"), exp


def verify_call_token(db: Session, token: str) -> dict[str, Any]:
    """The claims of a valid, unused call token (its jti is consumed); SignatureRefused otherwise."""
    try:
        payload = jwt.decode(token, _jwt_key(), algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER,
                             options={"require": ["exp", "iat", "jti", "aud", "iss"]}, leeway=5)
    except jwt.ExpiredSignatureError:
        raise SignatureRefused("stale", "Mã gọi (JWT) đã hết hạn; hãy xin mã mới.") from None
    except jwt.InvalidTokenError:
        raise SignatureRefused("bad_signature", "Mã gọi (JWT) không hợp lệ.") from None
    jti = str(payload.get("jti", ""))
    if not NONCE_RE.match(jti):
        raise SignatureRefused("bad_nonce", "Mã gọi (JWT) không hợp lệ.")
    ttl = timedelta(seconds=get_settings().videocall_call_token_seconds + 60)
    if not remember_nonce(db, "jwt", jti, ttl):
        raise SignatureRefused("replay", "Mã gọi (JWT) đã được dùng; mỗi mã chỉ dùng một lần.")
    return payload


# --- participants ---------------------------------------------------------------------------------
def participant_token(p: VcParticipant) -> str:
    return derive("token", p.id, p.salt, 40)


def participant_secret(p: VcParticipant) -> str:
    return derive("secret", p.id, p.salt)


def janus_token(p: VcParticipant) -> str:
    """The participant's token for Janus: stored there for the call and in the room's allowed list."""
    return derive("janus", p.id, p.salt, 40)


def room_secret(call_id: str) -> str:
    return derive("room", call_id, "v1", 40)


def check_participant_token(p: VcParticipant | None, token: str, now: datetime | None = None) -> VcParticipant:
    now = now or utcnow()
    if p is None or not token or not hmac.compare_digest(participant_token(p), token):
        raise NotAuthenticated("Mã tham gia cuộc gọi không đúng.")
    if p.revoked_at is not None or p.expires_at <= now:
        raise NotAuthenticated("Mã tham gia cuộc gọi đã hết hiệu lực.")
    return p


def envelope(call_id: str, sender: str, seq: int, ts: int, nonce: str, type_: str, body: str) -> str:
    return "\n".join([ENVELOPE, call_id, sender, str(seq), str(ts), nonce, type_, body])


def sign_message(secret: str, call_id: str, sender: str, seq: int, type_: str, body: str, *,
                 ts: int | None = None, nonce: str | None = None) -> dict[str, Any]:
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or secrets.token_hex(12)
    sig = hmac.new(secret.encode(), envelope(call_id, sender, seq, ts, nonce, type_, body).encode(),
                   hashlib.sha256).hexdigest()
    return {"v": 1, "type": type_, "call": call_id, "from": sender, "seq": seq, "ts": ts, "nonce": nonce,
            "body": body, "sig": sig}


class MessageRefused(Exception):
    def __init__(self, outcome: str, detail: str):
        super().__init__(detail)
        self.outcome, self.detail = outcome, detail


def check_message(msg: Any, secret: str, call_id: str, sender: str, last_seq: int, now: float | None = None) -> int:
    """Checks one signalling message from ``sender``; returns its seq. Raises MessageRefused."""
    now = time.time() if now is None else now
    if not isinstance(msg, dict):
        raise MessageRefused("malformed", "Gói tin không đúng định dạng.")
    try:
        type_, seq, ts = str(msg["type"]), int(msg["seq"]), int(msg["ts"])
        nonce, body, sig = str(msg["nonce"]), str(msg["body"]), str(msg["sig"]).lower()
        call, frm = str(msg["call"]), str(msg["from"])
    except (KeyError, TypeError, ValueError):
        raise MessageRefused("malformed", "Gói tin thiếu trường hoặc sai kiểu.") from None
    if call != call_id or frm != sender:
        raise MessageRefused("wrong_call", "Gói tin không thuộc cuộc gọi hoặc người tham gia này.")
    expected = hmac.new(secret.encode(), envelope(call, frm, seq, ts, nonce, type_, body).encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig, expected):
        raise MessageRefused("bad_signature", "Chữ ký gói tin không đúng.")
    if abs(now - ts) > MESSAGE_SKEW:
        raise MessageRefused("stale", "Gói tin quá hạn hoặc lệch giờ.")
    if seq <= last_seq:
        raise MessageRefused("replay", "Gói tin lặp lại (số thứ tự đã dùng).")
    if not NONCE_RE.match(nonce):
        raise MessageRefused("bad_nonce", "Nonce không hợp lệ.")
    return seq
