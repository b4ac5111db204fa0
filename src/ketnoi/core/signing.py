"""The HMAC request-signing scheme shared by the partner APIs (KB-01 knowledge API, VC-01 video calls):
headers, canonical request, signature, and the checks that need no database (docs/KNOWLEDGE_API.md).

    canonical = METHOD "\\n" PATH "\\n" QUERY "\\n" TIMESTAMP "\\n" NONCE "\\n" BODY_SHA256
    signature = hex(HMAC-SHA256(secret as ASCII, canonical))

PATH is the percent-encoded path (RFC 3986 unreserved characters and "/" kept); QUERY is every
``name=value`` pair, percent-encoded the same way, sorted, joined with "&"; BODY_SHA256 is the hex
SHA-256 of the raw body (of b"" when there is none).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, quote

from ketnoi.core.errors import NotAuthenticated

HEADER_KEY = "X-Ketnoi-Key"
HEADER_TIMESTAMP = "X-Ketnoi-Timestamp"
HEADER_NONCE = "X-Ketnoi-Nonce"
HEADER_BODY = "X-Ketnoi-Content-SHA256"
HEADER_SIGNATURE = "X-Ketnoi-Signature"
SIGNED_HEADERS = (HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_BODY, HEADER_SIGNATURE)

NONCE_RE = re.compile(r"^[A-Za-z0-9._~\-]{8,100}$")
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_path(path: str) -> str:
    """``path`` is the decoded URL path; it is encoded again so both sides agree on one spelling."""
    return quote(path or "/", safe="/")


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query or "", keep_blank_values=True)
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(pairs))


def canonical_request(method: str, path: str, query: str, timestamp: str, nonce: str, body_hash: str) -> str:
    return "\n".join([method.upper(), canonical_path(path), canonical_query(query), timestamp, nonce, body_hash])


def sign(secret: str, canonical: str) -> str:
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def signed_headers(key_id: str, secret: str, method: str, path: str, query: str = "", body: bytes = b"", *,
                   timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """Headers a client adds to one request (``knowledge.client.KnowledgeClient``, the tests)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    digest = body_sha256(body)
    signature = sign(secret, canonical_request(method, path, query, ts, nonce, digest))
    return {HEADER_KEY: key_id, HEADER_TIMESTAMP: ts, HEADER_NONCE: nonce, HEADER_BODY: digest,
            HEADER_SIGNATURE: signature}


class SignatureRefused(NotAuthenticated):
    """A signed request that is refused; ``outcome`` is the call-log code."""

    title = "Chữ ký không hợp lệ"

    def __init__(self, outcome: str, detail: str):
        super().__init__(detail)
        self.outcome = outcome
        self.organization_id: str | None = None  # of the key, when it was found


def is_signed(headers) -> bool:
    return any(headers.get(h) for h in SIGNED_HEADERS)


def check_signed_request(headers, method: str, path: str, query: str, body: bytes, now: float, skew: int,
                         find_secret: Callable[[str], str]) -> tuple[str, str]:
    """Checks everything that needs no database write; returns (key_id, nonce).

    ``skew`` is how many seconds the timestamp may be off the server clock. ``find_secret(key_id)``
    returns the key's secret or raises SignatureRefused (unknown, revoked, expired key). Raises
    SignatureRefused with a Vietnamese message for every refusal."""
    values = {h: (headers.get(h) or "").strip() for h in SIGNED_HEADERS}
    missing = [h for h, v in values.items() if not v]
    if missing:
        raise SignatureRefused("missing_headers", "Yêu cầu ký thiếu tiêu đề: " + ", ".join(missing) + ".")
    key_id, ts, nonce = values[HEADER_KEY], values[HEADER_TIMESTAMP], values[HEADER_NONCE]
    if not KEY_ID_RE.match(key_id):
        raise SignatureRefused("unknown_key", "Khóa API không tồn tại.")
    secret = find_secret(key_id)
    if not ts.isdigit() or len(ts) > 12:
        raise SignatureRefused("bad_timestamp", f"{HEADER_TIMESTAMP} phải là số giây Unix (UTC).")
    if abs(now - int(ts)) > skew:
        raise SignatureRefused("stale", f"Yêu cầu quá hạn hoặc lệch giờ quá {skew} giây so với máy chủ; "
                                        "hãy đồng bộ đồng hồ và ký lại.")
    if not NONCE_RE.match(nonce):
        raise SignatureRefused("bad_nonce", f"{HEADER_NONCE} phải dài 8–100 ký tự chữ, số hoặc . _ ~ -.")
    digest = body_sha256(body)
    if not hmac.compare_digest(values[HEADER_BODY].lower(), digest):
        raise SignatureRefused("bad_body_hash", f"{HEADER_BODY} không khớp với nội dung gửi lên.")
    expected = sign(secret, canonical_request(method, path, query, ts, nonce, digest))
    if not hmac.compare_digest(values[HEADER_SIGNATURE].lower(), expected):
        raise SignatureRefused("bad_signature", "Chữ ký không đúng.")
    return key_id, nonce
